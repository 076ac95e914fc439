/* SPDX-License-Identifier: LGPL-3.0-or-later */
/*
 * loafre/common.h — conventions shared by every public header.
 *
 * Errors: functions return 0 (or a non-negative count) on success and a
 * negative errno on failure; constructors return NULL and set errno.
 * Outputs named ret_* are written only on success. Destructors accept NULL.
 * The library never logs, prints or exits.
 */
#ifndef LOAFRE_COMMON_H
#define LOAFRE_COMMON_H

#if defined(LOAFRE_BUILDING_LIBRARY)
#define LOAFRE_API __attribute__((visibility("default")))
#else
#define LOAFRE_API
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* "MAJOR.MINOR.PATCH" of the library the program runs with. */
LOAFRE_API const char *loafre_version(void);

#ifdef __cplusplus
}
#endif

#endif
