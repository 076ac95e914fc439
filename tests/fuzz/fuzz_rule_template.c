/* SPDX-License-Identifier: LGPL-3.0-or-later */
/*
 * fuzz_rule_template.c — libFuzzer target for the text parsers of
 * replication rules (lib/rule.h): command templates, word splitting,
 * wildcards, durations and numeric id maps.
 *
 * Input: one selector byte, then the text (at most 5000 bytes):
 *   0..9   a command template for action N: a parse that fails gives a
 *          one-line reason; one that succeeds has 1..256 words and expands
 *          (with values holding blanks, quotes and '%') into exactly as
 *          many arguments, none longer than the limit;
 *   16     "PATTERN\0PATH": a wildcard match (must end, either answer);
 *   17     a duration;
 *   18     an id map (digits, ':', ',' and '*' only: no name look-ups);
 *   other  loafre__split_words (same rules as templates, no variables).
 */
#include <assert.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "rule.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* rule.c's compile step looks excludes up in a configuration; this target
 * never compiles rules, so the configuration code is not linked. */
const struct loafre_exclude_config *loafre_config_find_exclude(const struct loafre_config *c,
							       const char *name)
{
	(void)c;
	(void)name;
	return NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text, why[256];
	uint8_t sel;

	if (size < 1 || size > 5001)
		return 0;
	sel = data[0];
	text = malloc(size);
	if (!text)
		return 0;
	memcpy(text, data + 1, size - 1);
	text[size - 1] = '\0';
	why[0] = '\0';
	if (sel < LOAFRE_ACT_N) {
		struct loafre__template *t = NULL;
		int r = loafre__template_parse(text, sel, &t, why, sizeof(why));
		if (r < 0) {
			assert(r == -EINVAL || r == -ENOMEM);
			assert(r == -ENOMEM || (why[0] && !strchr(why, '\n')));
		} else {
			struct loafre__rule_vars v = {{0}};
			char **argv = NULL;
			size_t n = 0, words = loafre__template_words(t);
			assert(words >= 1 && words <= LOAFRE__TEMPLATE_MAX_WORDS);
			for (int i = 0; i < LOAFRE__TV_N; i++)
				v.v[i] = (i & 1) ? "a b \"c\" 'd' %{src} %%" : "";
			if (loafre__rule_expand(t, &v, &argv) == 0) {
				while (argv[n]) {
					assert(strlen(argv[n]) <= LOAFRE__TEMPLATE_MAX_WORD);
					n++;
				}
				assert(n == words);
				loafre__argv_free(argv);
			}
			loafre__template_free(t);
		}
	} else if (sel == 16) {
		const char *path = text + strlen(text) + 1;
		if (path > text + size - 1)
			path = "";
		(void)loafre__glob_match(text, path);
	} else if (sel == 17) {
		uint64_t s;
		if (loafre__parse_duration(text, &s) == 0)
			assert(s <= 100ull * 366 * 86400);
	} else if (sel == 18) {
		struct loafre_idmap m = {0};
		if (strspn(text, "0123456789:,*") == strlen(text) &&
		    loafre__idmap_parse(text, false, &m, why, sizeof(why)) == 0) {
			assert(m.n_pairs <= LOAFRE__IDMAP_MAX_PAIRS);
			for (size_t i = 0; i < m.n_pairs; i++)
				assert(loafre__idmap_map(&m, m.pairs[i].from) == m.pairs[i].to);
			loafre__idmap_clear(&m);
		}
	} else {
		char **w = NULL;
		size_t n = 0;
		if (loafre__split_words(text, &w, &n, why, sizeof(why)) == 0) {
			size_t k = 0;
			while (w[k])
				k++;
			assert(k == n && n >= 1);
			loafre__argv_free(w);
		}
	}
	free(text);
	return 0;
}
