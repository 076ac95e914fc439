/* SPDX-License-Identifier: LGPL-3.0-or-later */
/*
 * fuzz_broker_proto.c — libFuzzer target for the broker wire protocol
 * (lib/broker_proto.h).
 *
 * Input: byte 0 is the frame count (1..4, modulo), then each frame as a
 * 16-bit little-endian length followed by its bytes (short input: the
 * rest). A message that decodes must encode to the same frames; its HELLO
 * options, if they parse, must format and parse back to the same options;
 * RECS records and WELCOME lists are iterated to the end; a RECS paths
 * frame (4 frames: corpus recs_paths) is iterated too and must hold one
 * valid entry per record, and re-encoding its entries must give its bytes
 * back. The whole input is also parsed as HELLO options.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "broker_proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_hello(const char *s, size_t len)
{
	static struct loafre__bp_hello h, h2;
	static char buf[2 * LOAFRE__BP_HELLO_MAX];
	char err[256];
	int n;

	err[0] = '\0';
	if (loafre__bp_hello_parse(s, len, &h, err, sizeof(err)) < 0) {
		if (!err[0])
			abort();
		return;
	}
	n = loafre__bp_hello_format(&h, buf, sizeof(buf));
	if (n < 0)
		abort();
	if (loafre__bp_hello_parse(buf, (size_t)n, &h2, NULL, 0) < 0 ||
	    memcmp(&h, &h2, sizeof(h)) != 0)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct loafre__bp_frame f[LOAFRE__BP_MAX_FRAMES], g[LOAFRE__BP_MAX_FRAMES];
	uint8_t scratch[LOAFRE__BP_SCRATCH];
	struct loafre__bp_msg m;
	char err[256];
	size_t n, off = 1;

	if (size > LOAFRE__BP_HELLO_MAX + 64)
		return 0;
	check_hello((const char *)data, size);
	if (size == 0)
		return 0;
	n = (size_t)data[0] % LOAFRE__BP_MAX_FRAMES + 1;
	for (size_t i = 0; i < n; i++) {
		size_t l = 0;
		if (off + 2 <= size) {
			l = (size_t)data[off] | (size_t)data[off + 1] << 8;
			off += 2;
		}
		if (l > size - off)
			l = size - off;
		f[i].data = data + off;
		f[i].len = l;
		off += l;
	}
	err[0] = '\0';
	if (loafre__bp_decode(f, n, &m, err, sizeof(err)) < 0) {
		if (!err[0])
			abort();
		return 0;
	}
	int k = loafre__bp_encode(&m, g, scratch);
	if (k != (int)n)
		abort();
	for (size_t i = 0; i < n; i++)
		if (g[i].len != f[i].len || (f[i].len && memcmp(g[i].data, f[i].data, f[i].len)))
			abort();
	if (m.cmd == LOAFRE__BP_HELLO) {
		check_hello(m.text, m.text_len);
	} else if (m.cmd == LOAFRE__BP_RECS) {
		struct loafre_rec r;
		size_t o = 0, last = 0;
		int rr;
		size_t nrec = 0;
		while ((rr = loafre__bp_recs_next(m.payload, m.payload_len, &o, &r, NULL, NULL)) == 1) {
			if (o <= last || o > m.payload_len)
				abort();
			last = o;
			nrec++;
		}
		if (m.paths) {
			static uint8_t re[LOAFRE__BP_HELLO_MAX + 64];
			struct loafre__bp_rec_paths e;
			size_t po = 0, np = 0, rl = 0;

			if (rr != 0 || nrec != m.n_paths)
				abort(); /* decode counted them */
			while ((rr = loafre__bp_paths_next(m.paths, m.paths_len, &po, &e)) == 1) {
				if ((e.path && e.path[0] != '/') || (e.spath && e.spath[0] != '/') ||
				    e.path_err > 0 || e.spath_err > 0 ||
				    loafre__bp_paths_put(re, sizeof(re), &rl, &e) < 0)
					abort();
				np++;
			}
			if (rr != 0 || np != m.n_paths || rl != m.paths_len ||
			    memcmp(re, m.paths, rl) != 0)
				abort();
		}
	} else if (m.cmd == LOAFRE__BP_WELCOME) {
		char name[LOAFRE__BP_MDT_NAME_MAX + 1];
		uint32_t id;
		size_t o = 0;
		while (loafre__bp_mdts_next(m.text, m.text_len, &o, name, &id) == 1)
			if (o > m.text_len)
				abort();
	}
	return 0;
}
