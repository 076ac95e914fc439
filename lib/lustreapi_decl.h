/* SPDX-License-Identifier: LGPL-3.0-or-later */
/*
 * lustreapi_decl.h — loafre's own declarations of the few liblustreapi
 * functions and constants lib/lustre_source.c uses (internal).
 *
 * No Lustre header is needed to build loafre: these are written from the
 * documented API (docs/lustre-facts.md §9) and match the C ABI of
 * liblustreapi.so (enums are passed as int). The same declarations serve
 * the real library and the tests' fake one (tests/fake_lustreapi).
 *
 * `struct changelog_rec` stays incomplete: a record pointer returned by
 * llapi_changelog_recv is read as bytes in loafre's binary layout
 * (loafre/record.h), whose size is loafre_rec_offset(cr_flags,
 * cr_extra_flags) + cr_namelen and never exceeds LOAFRE__LLAPI_CR_MAXSIZE
 * (the real library allocates every record with that size).
 */
#ifndef LOAFRE_LUSTREAPI_DECL_H
#define LOAFRE_LUSTREAPI_DECL_H

struct changelog_rec;

/* llapi_changelog_start flags. */
enum changelog_send_flag {
	CHANGELOG_FLAG_FOLLOW = 0x01,      /* keep the stream open for new records */
	CHANGELOG_FLAG_JOBID = 0x04,       /* deliver the jobid extension */
	CHANGELOG_FLAG_EXTRA_FLAGS = 0x08, /* deliver the extra-flags extension */
};

/* llapi_changelog_set_xflags flags. */
enum changelog_send_extra_flag {
	CHANGELOG_EXTRA_FLAG_UIDGID = 0x01, /* uid, gid */
	CHANGELOG_EXTRA_FLAG_NID = 0x02,    /* client NID */
	CHANGELOG_EXTRA_FLAG_OMODE = 0x04,  /* open mode */
	CHANGELOG_EXTRA_FLAG_XATTR = 0x08,  /* xattr name */
};

/* Lustre's CR_MAXSIZE: the largest record llapi hands out. */
#define LOAFRE__LLAPI_CR_MAXSIZE 952

/* All return 0 or a negative errno unless noted. */
int llapi_changelog_start(void **priv, enum changelog_send_flag flags, const char *mdtname,
			  long long startrec);
int llapi_changelog_set_xflags(void *priv, enum changelog_send_extra_flag extra_flags);
/* 0 with *rech set (free it with llapi_changelog_free), 1 at EOF, or -errno. */
int llapi_changelog_recv(void *priv, struct changelog_rec **rech);
int llapi_changelog_free(struct changelog_rec **rech);
/* 1 while records already read from the kernel wait in llapi's buffer (the
 * next recv will not read the descriptor), else 0. */
int llapi_changelog_in_buf(void *priv);
/* The descriptor to poll, or -errno. */
int llapi_changelog_get_fd(void *priv);
int llapi_changelog_fini(void **priv);
int llapi_changelog_clear(const char *mdtname, const char *idstr, long long endrec);
/* device: fsname or client mount point; fidstr "[0x..:0x..:0x..]"; writes the
 * path relative to the mount root into path[0..pathlen). */
int llapi_fid2path(const char *device, const char *fidstr, char *path, int pathlen,
		   long long *recno, int *linkno);

#endif
