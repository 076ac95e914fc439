/* SPDX-License-Identifier: LGPL-3.0-or-later */
/* text.c — being written. */
#include "util.h"
