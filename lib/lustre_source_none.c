/* SPDX-License-Identifier: LGPL-3.0-or-later */
/*
 * lustre_source_none.c — the Lustre source of a build without liblustreapi
 * (meson feature `lustre` disabled or the library not found): every call
 * fails with -EOPNOTSUPP, loafre__lustre_available() is false, so loafred
 * can say "built without Lustre support" for a `type = lustre` filesystem.
 */
#include <errno.h>
#include <string.h>

#include "lustre_source.h"

bool loafre__lustre_available(void)
{
	return false;
}

int loafre__lustre_src_open(const char *mdt, const char *user, struct loafre_journal *j,
			    struct loafre__lustre_src **ret_src)
{
	return -EOPNOTSUPP;
}

void loafre__lustre_src_close(struct loafre__lustre_src *s)
{
}

int loafre__lustre_src_fd(const struct loafre__lustre_src *s)
{
	return -1;
}

int loafre__lustre_src_read(struct loafre__lustre_src *s, size_t max)
{
	return -EOPNOTSUPP;
}

int loafre__lustre_src_committed(struct loafre__lustre_src *s, uint64_t last, bool force)
{
	return -EOPNOTSUPP;
}

int loafre__lustre_fid2path(const char *device, const struct loafre_fid *fid, char *ret_path,
			    size_t cap)
{
	return -EOPNOTSUPP;
}

void loafre__lustre_src_get_stats(const struct loafre__lustre_src *s,
				  struct loafre__lustre_src_stats *ret)
{
	memset(ret, 0, sizeof(*ret));
}
