/* SPDX-License-Identifier: LGPL-3.0-or-later */
/*
 * rec_equal.h — assert_rec_equal for the unit tests of the record codec
 * and the text line (test_record.c, test_text.c): every field of two
 * struct loafre_rec the same (names by their bytes). Include after
 * <cmocka.h> and loafre/record.h.
 */
#ifndef LOAFRE_TEST_REC_EQUAL_H
#define LOAFRE_TEST_REC_EQUAL_H

static void assert_rec_equal(const struct loafre_rec *a, const struct loafre_rec *b)
{
	assert_int_equal(a->index, b->index);
	assert_int_equal(a->prev, b->prev);
	assert_int_equal(a->time, b->time);
	assert_int_equal(a->type, b->type);
	assert_int_equal(a->flags, b->flags);
	assert_true(loafre_fid_equal(&a->tfid, &b->tfid));
	assert_true(loafre_fid_equal(&a->pfid, &b->pfid));
	assert_true(loafre_fid_equal(&a->sfid, &b->sfid));
	assert_true(loafre_fid_equal(&a->spfid, &b->spfid));
	assert_string_equal(a->jobid, b->jobid);
	assert_int_equal(a->extra_flags, b->extra_flags);
	assert_int_equal(a->uid, b->uid);
	assert_int_equal(a->gid, b->gid);
	assert_int_equal(a->nid, b->nid);
	assert_int_equal(a->openflags, b->openflags);
	assert_string_equal(a->xattr, b->xattr);
	assert_int_equal(a->namelen, b->namelen);
	if (a->namelen)
		assert_memory_equal(a->name, b->name, a->namelen);
	assert_int_equal(a->sname != NULL, b->sname != NULL);
	assert_int_equal(a->snamelen, b->snamelen);
	if (a->snamelen)
		assert_memory_equal(a->sname, b->sname, a->snamelen);
}

#endif
