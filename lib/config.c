/* SPDX-License-Identifier: LGPL-3.0-or-later */
/* config.c — being written. */
#include "util.h"
