/* SPDX-License-Identifier: LGPL-3.0-or-later */
/* journal.c — being written. */
#include "util.h"
