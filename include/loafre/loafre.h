/* SPDX-License-Identifier: LGPL-3.0-or-later */
/* loafre/loafre.h — the whole public API of libloafre. */
#ifndef LOAFRE_LOAFRE_H
#define LOAFRE_LOAFRE_H

#include "loafre/common.h"
#include "loafre/record.h"
#include "loafre/text.h"
#include "loafre/journal.h"
#include "loafre/config.h"

#endif
