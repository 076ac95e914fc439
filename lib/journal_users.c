/* SPDX-License-Identifier: LGPL-3.0-or-later */
/* journal_users.c — being written. */
#include "util.h"
