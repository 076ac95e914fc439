/* SPDX-License-Identifier: LGPL-3.0-or-later */
/* fake_lustreapi.h — test hooks of the fake liblustreapi (see its .c). */
#ifndef LOAFRE_FAKE_LUSTREAPI_H
#define LOAFRE_FAKE_LUSTREAPI_H

/* Forgets the fixtures and counters: the next call re-reads the
 * LOAFRE_FAKE_LLAPI_* environment. Streams must be closed first. */
void fake_llapi_reset(void);
/* Makes the GROW records visible (the MDT wrote them). */
void fake_llapi_grow(void);

#endif
