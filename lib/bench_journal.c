/* SPDX-License-Identifier: LGPL-3.0-or-later */
/* bench_journal.c — being written. */
#include "bench.h"
