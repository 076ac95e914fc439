/* SPDX-License-Identifier: LGPL-3.0-or-later */
/*
 * read_journal.c — a minimal libloafre consumer: prints an emulated MDT's
 * changelog in `lfs changelog` format, following new records with -f.
 *
 *   cc read_journal.c $(pkg-config --cflags --libs loafre) -o read_journal
 *   ./read_journal [-f] JOURNAL_DIR MDT [STARTREC]
 *
 * It uses only the public API (include/loafre/) and links the shared
 * library, as any third-party consumer would.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <loafre/loafre.h>

int main(int argc, char **argv)
{
	struct loafre_journal *j = NULL;
	struct loafre_journal_reader *r = NULL;
	char line[LOAFRE_TEXT_LINE_MAX];
	int follow = 0, argi = 1, rc, status = 1;
	unsigned long long start = 0;

	if (argc > 1 && strcmp(argv[1], "-f") == 0) {
		follow = 1;
		argi++;
	}
	if (argc - argi < 2 || argc - argi > 3) {
		fprintf(stderr, "usage: %s [-f] JOURNAL_DIR MDT [STARTREC]\n", argv[0]);
		return 2;
	}
	if (argc - argi == 3)
		start = strtoull(argv[argi + 2], NULL, 10);

	rc = loafre_journal_open(argv[argi], argv[argi + 1], 0, NULL, &j);
	if (rc < 0) {
		fprintf(stderr, "cannot open journal '%s': %s\n", argv[argi], strerror(-rc));
		goto out;
	}
	rc = loafre_journal_reader_open(j, start, &r);
	if (rc < 0) {
		fprintf(stderr, "cannot read journal '%s': %s\n", argv[argi], strerror(-rc));
		goto out;
	}
	for (;;) {
		struct loafre_rec rec;
		int n;

		rc = loafre_journal_reader_next(r, &rec, NULL, NULL);
		if (rc == -EAGAIN) {
			if (!follow)
				break;
			fflush(stdout);
			rc = loafre_journal_reader_wait(r, -1);
			if (rc < 0 && rc != -EINTR)
				break;
			continue;
		}
		if (rc < 0) {
			fprintf(stderr, "cannot read journal '%s': %s\n", argv[argi], strerror(-rc));
			goto out;
		}
		n = loafre_text_format(&rec, line, sizeof(line));
		if (n > 0)
			fwrite(line, 1, (size_t)n, stdout);
	}
	status = 0;
out:
	loafre_journal_reader_close(r);
	loafre_journal_close(j);
	return status;
}
