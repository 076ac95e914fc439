/* SPDX-License-Identifier: LGPL-3.0-or-later */
/*
 * cmd_changelog.c — the changelog commands, with lfs/lctl's output and
 * messages (docs/lustre-facts.md §1, §3, §4).
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "json.h"
#include "cli.h"

/* ---- changelog -------------------------------------------------------- */

static volatile sig_atomic_t stop_signal;

static void on_stop(int sig)
{
	stop_signal = sig;
}

/* Writes buf; returns 0, or -errno (-EPIPE when the reader went away). */
static int out_write(const char *buf, size_t len)
{
	if (fwrite(buf, 1, len, stdout) != len)
		return -(errno ? errno : EIO);
	return 0;
}

/* True when stdout is a pipe or socket whose reader has gone. */
static bool out_closed(void)
{
	struct pollfd p = { .fd = STDOUT_FILENO, .events = 0 };

	return poll(&p, 1, 0) == 1 && (p.revents & (POLLERR | POLLHUP | POLLNVAL));
}

static int out_flush(void)
{
	if (fflush(stdout) != 0)
		return -(errno ? errno : EIO);
	return 0;
}

int cmd_changelog(struct cli *c)
{
	struct loafre_journal *j = NULL;
	struct loafre_journal_reader *rd = NULL;
	bool follow = false, json = false;
	uint64_t startrec = 0, endrec = 0;
	char line[LOAFRE_TEXT_LINE_MAX * 6];
	int r, ret = CLI_FAIL;

	for (size_t i = 0; i < c->n_opts; i++) {
		if (c->opts[i].opt == 'f')
			follow = true;
		else if (c->opts[i].opt == 'J')
			json = true;
	}
	if (c->n_args >= 2 && !cli_parse_recno(c->args[1], &startrec)) {
		fprintf(stderr, "loafre changelog: bad startrec\n");
		return CLI_USAGE;
	}
	if (c->n_args >= 3 && !cli_parse_recno(c->args[2], &endrec)) {
		fprintf(stderr, "loafre changelog: bad endrec\n");
		return CLI_USAGE;
	}
	if (cli_open_journal(c, 0, &j) != CLI_OK)
		return CLI_FAIL;

	/* Output errors are handled where they happen (EPIPE ends quietly). */
	signal(SIGPIPE, SIG_IGN);
	if (follow) {
		struct sigaction sa = { .sa_handler = on_stop }; /* no SA_RESTART */
		sigemptyset(&sa.sa_mask);
		sigaction(SIGINT, &sa, NULL);
		sigaction(SIGTERM, &sa, NULL);
	}

	r = loafre_journal_reader_open(j, startrec, &rd);
	if (r < 0) {
		fprintf(stderr, "loafre changelog: cannot start changelog: %s\n", strerror(-r));
		goto out;
	}
	for (;;) {
		struct loafre_rec rec;
		int n;

		if (stop_signal) {
			ret = CLI_OK;
			break;
		}
		r = loafre_journal_reader_next(rd, &rec, NULL, NULL);
		if (r == -EAGAIN) {
			if (!follow) {
				ret = CLI_OK;
				break;
			}
			r = out_flush();
			if (r < 0)
				goto write_error;
			/* A bounded wait so a signal between the check above
			 * and the wait is seen within a second. */
			r = loafre_journal_reader_wait(rd, 1000);
			if (r == 0 && out_closed()) {
				ret = CLI_OK;
				break;
			}
			if (r < 0 && r != -EINTR) {
				fprintf(stderr, "loafre changelog: cannot access changelog: %s\n",
					strerror(-r));
				break;
			}
			if (r > 0) {
				r = loafre_journal_reader_rearm(rd);
				if (r < 0) {
					fprintf(stderr,
						"loafre changelog: cannot access changelog: %s\n",
						strerror(-r));
					break;
				}
			}
			continue;
		}
		if (r < 0) {
			fprintf(stderr, "loafre changelog: cannot access changelog: %s\n",
				strerror(-r));
			break;
		}
		if (rec.index < startrec)
			continue;
		if (endrec != 0 && rec.index > endrec) {
			ret = CLI_OK;
			break;
		}
		n = json ? loafre_json_format(&rec, line, sizeof(line))
			 : loafre_text_format(&rec, line, sizeof(line));
		if (n < 0) {
			fprintf(stderr, "loafre changelog: cannot format record %llu: %s\n",
				(unsigned long long)rec.index, strerror(-n));
			break;
		}
		r = out_write(line, (size_t)n);
		if (r < 0)
			goto write_error;
		if (endrec != 0 && rec.index == endrec) {
			ret = CLI_OK;
			break;
		}
	}
	if (ret == CLI_OK) {
		r = out_flush();
		if (r < 0)
			goto write_error;
	}
	goto out;

write_error:
	if (r == -EPIPE) {
		ret = CLI_OK;
	} else {
		fprintf(stderr, "loafre changelog: cannot write output: %s\n", strerror(-r));
		ret = CLI_FAIL;
	}
out:
	loafre_journal_reader_close(rd);
	loafre_journal_close(j);
	/* Nothing more may reach a closed pipe at exit. */
	if (ret == CLI_OK && follow)
		fclose(stdout);
	return ret;
}

/* ---- changelog_clear ------------------------------------------------- */

int cmd_changelog_clear(struct cli *c)
{
	struct loafre_journal *j = NULL;
	const char *id = c->args[1];
	uint64_t endrec;
	int r;

	if (!cli_parse_recno(c->args[2], &endrec)) {
		fprintf(stderr, "changelog_clear: bad endrec '%s'\n", c->args[2]);
		return CLI_USAGE;
	}
	if (cli_open_journal(c, 0, &j) != CLI_OK)
		return CLI_FAIL;
	r = loafre_journal_clear(j, id, endrec);
	loafre_journal_close(j);
	if (r == -EINVAL) {
		fprintf(stderr, "changelog_clear: record out of range: %llu\n",
			(unsigned long long)endrec);
	} else if (r == -ENOENT) {
		fprintf(stderr, "changelog_clear: no changelog user: %s\n", id);
	} else if (r < 0) {
		fprintf(stderr, "changelog_clear error: %s\n", strerror(-r));
	}
	return r < 0 ? CLI_FAIL : CLI_OK;
}

/* ---- changelog_register ------------------------------------------------ */

int cmd_changelog_register(struct cli *c)
{
	struct loafre_journal *j = NULL;
	const char *name = NULL, *mask_s = NULL;
	bool name_only = false;
	uint32_t mask;
	char id[LOAFRE_CL_USER_ID_MAX];
	int r;

	for (size_t i = 0; i < c->n_opts; i++) {
		switch (c->opts[i].opt) {
		case 'm': mask_s = c->opts[i].arg; break;
		case 'u': name = c->opts[i].arg; break;
		case 'n': name_only = true; break;
		}
	}
	/* lctl: a relative mask applies to Lustre's default mask. */
	if (mask_s && loafre_cl_mask_parse(mask_s, loafre_cl_mask_default(), &mask) < 0) {
		fprintf(stderr, "error: changelog_register: invalid mask '%s' "
				"(mask usage: [+|-]<all|type> ...)\n", mask_s);
		return CLI_USAGE;
	}
	if (cli_open_journal(c, LOAFRE_JOURNAL_CREATE, &j) != CLI_OK)
		return CLI_FAIL;
	r = loafre_journal_register(j, name, mask_s ? &mask : NULL, id, sizeof(id));
	loafre_journal_close(j);
	if (r < 0) {
		if (r == -EEXIST)
			fprintf(stderr, "error: changelog_register: User exists\n");
		else if (r == -EINVAL && name)
			fprintf(stderr, "error: changelog_register: %s: invalid user name '%s' "
					"(a letter, then letters, digits, _ or -)\n",
				strerror(EINVAL), name);
		else if (r == -ENAMETOOLONG && name)
			fprintf(stderr, "error: changelog_register: %s: user name '%s' is longer "
					"than 15 characters\n",
				strerror(ENAMETOOLONG), name);
		else
			fprintf(stderr, "error: changelog_register: %s\n", strerror(-r));
		return CLI_FAIL;
	}
	if (name_only)
		printf("%s\n", id);
	else
		printf("%s: Registered changelog userid '%s'\n", c->mdt, id);
	return CLI_OK;
}

/* ---- changelog_deregister ---------------------------------------------- */

/* lctl: atoi, then sscanf "cl%d"; <= 0 is an error. */
static int parse_user_id(const char *s)
{
	int id = atoi(s);

	if (id <= 0 && sscanf(s, "cl%d", &id) != 1)
		id = 0;
	return id;
}

int cmd_changelog_deregister(struct cli *c)
{
	struct loafre_journal *j = NULL;
	struct loafre_cl_user *users = NULL;
	const char *name = NULL;
	size_t n = 0;
	char idbuf[32];
	int id = 0, r, ret = CLI_FAIL;

	for (size_t i = 0; i < c->n_opts; i++)
		if (c->opts[i].opt == 'u')
			name = c->opts[i].arg;
	if ((name != NULL) == (c->n_args == 2)) {
		fprintf(stderr, "loafre changelog_deregister: give either ID or -u NAME\n");
		return CLI_USAGE;
	}
	if (!name) {
		id = parse_user_id(c->args[1]);
		if (id <= 0) {
			fprintf(stderr, "error: %s: expect <ID> or cl<ID>[-name] got '%s'\n",
				strerror(EINVAL), c->args[1]);
			return CLI_USAGE;
		}
	}
	if (cli_open_journal(c, 0, &j) != CLI_OK)
		return CLI_FAIL;
	if (name) {
		/* The message names the number: find it first. */
		r = loafre_journal_users(j, &users, &n);
		if (r < 0) {
			fprintf(stderr, "error: changelog_deregister: %s\n", strerror(-r));
			goto out;
		}
		for (size_t i = 0; i < n; i++) {
			const char *dash = strchr(users[i].id, '-');
			if (dash && strcmp(dash + 1, name) == 0)
				id = (int)users[i].num;
		}
		if (id <= 0) {
			fprintf(stderr, "error: changelog_deregister: User not found\n");
			goto out;
		}
	}
	snprintf(idbuf, sizeof(idbuf), "cl%d", id);
	r = loafre_journal_deregister(j, idbuf);
	if (r == -ENOENT) {
		fprintf(stderr, "error: changelog_deregister: User not found\n");
		goto out;
	}
	if (r < 0) {
		fprintf(stderr, "error: changelog_deregister: %s\n", strerror(-r));
		goto out;
	}
	printf("%s: Deregistered changelog user #%u\n", c->mdt, (unsigned)id);
	ret = CLI_OK;
out:
	free(users);
	loafre_journal_close(j);
	return ret;
}

/* ---- changelog_users --------------------------------------------------- */

static void json_string(FILE *out, const char *s)
{
	(void)loafre__json_fquote(out, s); /* a write error shows at fflush */
}

static int users_json(struct loafre_journal *j, time_t now)
{
	struct loafre_journal_info info;
	struct loafre_cl_user *users = NULL;
	size_t n = 0;
	char mask[512];
	int r;

	r = loafre_journal_info(j, &info);
	if (r >= 0)
		r = loafre_journal_users(j, &users, &n);
	if (r < 0)
		return r;
	printf("{\"current_index\":%llu,\"users\":[", (unsigned long long)info.last_index);
	for (size_t i = 0; i < n; i++) {
		const struct loafre_cl_user *u = &users[i];
		printf("%s{\"id\":", i ? "," : "");
		json_string(stdout, u->id);
		printf(",\"num\":%u,\"index\":%llu,\"idle\":%lld", u->num,
		       (unsigned long long)u->cleared,
		       (long long)((uint64_t)now >= u->last_time ? (uint64_t)now - u->last_time : 0));
		if (u->has_mask && loafre_cl_mask_format(u->mask, ',', mask, sizeof(mask)) >= 0) {
			printf(",\"mask\":");
			json_string(stdout, mask);
		}
		printf("}");
	}
	printf("]}\n");
	free(users);
	return 0;
}

int cmd_changelog_users(struct cli *c)
{
	struct loafre_journal *j = NULL;
	bool json = false;
	int r;

	for (size_t i = 0; i < c->n_opts; i++)
		if (c->opts[i].opt == 'J')
			json = true;
	if (cli_open_journal(c, 0, &j) != CLI_OK)
		return CLI_FAIL;
	r = json ? users_json(j, time(NULL)) : loafre_journal_users_print(j, stdout, time(NULL));
	loafre_journal_close(j);
	if (r < 0) {
		fprintf(stderr, "loafre changelog_users: cannot read users of %s: %s\n", c->mdt,
			strerror(-r));
		return CLI_FAIL;
	}
	if (fflush(stdout) != 0) {
		fprintf(stderr, "loafre changelog_users: cannot write output: %s\n", strerror(errno));
		return CLI_FAIL;
	}
	return CLI_OK;
}

/* ---- changelog_import -------------------------------------------------- */

/* Reads all of stdin into a NUL-terminated buffer. */
static int read_stdin(char **ret_buf, size_t *ret_len)
{
	size_t cap = 1 << 16, len = 0;
	char *buf = malloc(cap);

	if (!buf)
		return -ENOMEM;
	for (;;) {
		ssize_t n;
		if (cap - len < 4096 + 1) {
			char *nb = realloc(buf, cap * 2);
			if (!nb) {
				free(buf);
				return -ENOMEM;
			}
			buf = nb;
			cap *= 2;
		}
		n = read(STDIN_FILENO, buf + len, cap - len - 1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			n = -errno;
			free(buf);
			return (int)n;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	buf[len] = '\0';
	*ret_buf = buf;
	*ret_len = len;
	return 0;
}

struct import_rec {
	struct loafre_rec rec;
	size_t line;
};

int cmd_changelog_import(struct cli *c)
{
	struct loafre_journal *j = NULL;
	struct loafre_journal_info info;
	struct import_rec *recs = NULL;
	size_t n = 0, cap = 0, lineno = 0, masked = 0, len = 0, ll;
	bool renumber = false;
	char *buf = NULL, *p, *end;
	uint64_t prev = 0, last = 0;
	int r, ret = CLI_FAIL;

	for (size_t i = 0; i < c->n_opts; i++)
		if (c->opts[i].opt == 'R')
			renumber = true;
	if (isatty(STDIN_FILENO)) {
		fprintf(stderr, "changelog_import: standard input is a terminal; "
				"redirect a capture file: loafre changelog_import %s < FILE\n",
			c->mdt);
		return CLI_USAGE;
	}
	r = read_stdin(&buf, &len);
	if (r < 0) {
		fprintf(stderr, "changelog_import: cannot read standard input: %s\n", strerror(-r));
		return CLI_FAIL;
	}

	/* 1. Parse every line before touching the journal. */
	for (p = buf, end = buf + len; p < end; p += ll + 1) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *why = NULL;
		struct loafre_rec rec;

		ll = nl ? (size_t)(nl - p) : (size_t)(end - p);
		lineno++;
		if (ll == 0)
			continue;
		if (memchr(p, '\0', ll)) {
			fprintf(stderr, "changelog_import: line %zu: NUL byte in line\n", lineno);
			goto out;
		}
		r = loafre_text_parse(p, ll, &rec, &why);
		if (r < 0) {
			fprintf(stderr, "changelog_import: line %zu: %s\n", lineno,
				why ? why : strerror(-r));
			goto out;
		}
		if (!renumber && rec.index == 0) {
			fprintf(stderr, "changelog_import: line %zu: record index 0 "
					"(indices start at 1; use --renumber)\n", lineno);
			goto out;
		}
		if (!renumber && n > 0 && rec.index <= prev) {
			fprintf(stderr, "changelog_import: line %zu: index %llu does not increase "
					"(previous %llu; use --renumber)\n",
				lineno, (unsigned long long)rec.index, (unsigned long long)prev);
			goto out;
		}
		prev = rec.index;
		if (renumber)
			rec.index = 0;
		if (n == cap) {
			size_t ncap = cap ? cap * 2 : 256;
			struct import_rec *nr = realloc(recs, ncap * sizeof(*nr));
			if (!nr) {
				fprintf(stderr, "changelog_import: out of memory\n");
				goto out;
			}
			recs = nr;
			cap = ncap;
		}
		recs[n].rec = rec;
		recs[n].line = lineno;
		n++;
	}

	/* 2. Queue them all, then commit once. Closing without a commit
	 * discards the queue, so an error leaves the journal untouched. */
	if (cli_open_journal(c, LOAFRE_JOURNAL_CREATE | LOAFRE_JOURNAL_WRITE, &j) != CLI_OK)
		goto out;
	r = loafre_journal_info(j, &info);
	if (r < 0) {
		fprintf(stderr, "changelog_import: cannot read journal '%s': %s\n", c->journal_dir,
			strerror(-r));
		goto out;
	}
	if (!renumber && n > 0 && recs[0].rec.index <= info.last_index) {
		fprintf(stderr, "changelog_import: line %zu: index %llu is not above the journal's "
				"current index %llu (use --renumber)\n",
			recs[0].line, (unsigned long long)recs[0].rec.index,
			(unsigned long long)info.last_index);
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		r = loafre_journal_append(j, &recs[i].rec);
		if (r < 0) {
			fprintf(stderr, "changelog_import: line %zu: cannot store record: %s\n",
				recs[i].line, strerror(-r));
			goto out;
		}
		if (r == 1)
			masked++;
	}
	r = loafre_journal_commit(j, &last);
	if (r == -ERANGE) {
		fprintf(stderr, "changelog_import: line %zu: index %llu is not above the journal's "
				"current index (records were added meanwhile; use --renumber)\n",
			n ? recs[0].line : 0, n ? (unsigned long long)recs[0].rec.index : 0ull);
		goto out;
	}
	if (r < 0) {
		fprintf(stderr, "changelog_import: cannot commit to journal '%s': %s\n",
			c->journal_dir, strerror(-r));
		goto out;
	}
	if (masked)
		fprintf(stderr, "changelog_import: %zu records outside changelog_mask skipped\n",
			masked);
	ret = CLI_OK;
out:
	loafre_journal_close(j);
	free(recs);
	free(buf);
	return ret;
}
