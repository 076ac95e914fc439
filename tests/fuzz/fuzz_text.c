/* SPDX-License-Identifier: LGPL-3.0-or-later */
/*
 * fuzz_text.c — libFuzzer target for loafre_text_parse.
 *
 * The input is split at '\n'; each line is parsed. A line that parses must
 * format, and the formatted line must parse again and format to the same
 * bytes (text -> record -> text is a fixed point after one step). The parsed
 * record must also survive the binary encoder/decoder and format the same.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "loafre/record.h"
#include "loafre/text.h"

static void check_line(const char *line, size_t len)
{
	static char out1[LOAFRE_TEXT_LINE_MAX], out2[LOAFRE_TEXT_LINE_MAX];
	static uint8_t bin[LOAFRE_REC_MAX_SIZE];
	struct loafre_rec r, r2, d;
	const char *why = NULL;
	int n1, n2, nb;

	if (loafre_text_parse(line, len, &r, &why) < 0) {
		if (!why)
			abort(); /* every failure names its reason */
		return;
	}
	n1 = loafre_text_format(&r, out1, sizeof(out1));
	if (n1 <= 0)
		abort();
	/* a parsed line formats back to itself (modulo the optional '\n') */
	if (len && line[len - 1] == '\n')
		len--;
	if ((size_t)n1 != len + 1 || memcmp(out1, line, len) != 0)
		abort();
	if (loafre_text_parse(out1, (size_t)n1, &r2, NULL) < 0)
		abort();
	n2 = loafre_text_format(&r2, out2, sizeof(out2));
	if (n2 != n1 || memcmp(out1, out2, (size_t)n1) != 0)
		abort();
	nb = loafre_rec_encode(&r, bin, sizeof(bin));
	if (nb <= 0 || loafre_rec_decode(bin, (size_t)nb, &d, NULL) < 0)
		abort();
	n2 = loafre_text_format(&d, out2, sizeof(out2));
	if (n2 != n1 || memcmp(out1, out2, (size_t)n1) != 0)
		abort();
	(void)loafre_json_format(&r, out2, sizeof(out2));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* Copy each line to its own allocation so ASan sees overreads. */
	const char *p = (const char *)data, *e = p + size;

	while (p < e) {
		const char *nl = memchr(p, '\n', (size_t)(e - p));
		size_t len = nl ? (size_t)(nl - p) + 1 : (size_t)(e - p);
		char *line = malloc(len ? len : 1);

		if (!line)
			return 0;
		memcpy(line, p, len);
		check_line(line, len);
		free(line);
		p += len;
	}
	return 0;
}
