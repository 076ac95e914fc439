/* SPDX-License-Identifier: LGPL-3.0-or-later */
/*
 * pg_fixture.c — a private PostgreSQL server for tests (pg_fixture.h).
 */
#include "pg_fixture.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>

#define PORT "5432"

static bool is_exec(const char *dir, const char *name)
{
	char p[512];

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	return access(p, X_OK) == 0;
}

/* The directory holding initdb and postgres. */
static int find_bindir(char *buf, size_t cap)
{
	const char *env = getenv("LOAFRE_PG_BINDIR");
	FILE *fp;
	DIR *d;
	struct dirent *de;
	int best = -1;

	if (env && *env) {
		snprintf(buf, cap, "%s", env);
		return is_exec(buf, "initdb") && is_exec(buf, "postgres") ? 0 : -ENOENT;
	}
	fp = popen("pg_config --bindir 2>/dev/null", "r");
	if (fp) {
		if (fgets(buf, (int)cap, fp)) {
			buf[strcspn(buf, "\n")] = '\0';
			if (is_exec(buf, "initdb") && is_exec(buf, "postgres")) {
				pclose(fp);
				return 0;
			}
		}
		pclose(fp);
	}
	d = opendir("/usr/lib/postgresql");
	if (!d)
		return -ENOENT;
	while ((de = readdir(d))) {
		char dir[300];
		int v = atoi(de->d_name);

		snprintf(dir, sizeof(dir), "/usr/lib/postgresql/%.200s/bin", de->d_name);
		if (v > best && strlen(dir) < cap && is_exec(dir, "initdb") && is_exec(dir, "postgres")) {
			best = v;
			memcpy(buf, dir, strlen(dir) + 1);
		}
	}
	closedir(d);
	return best >= 0 ? 0 : -ENOENT;
}

/* In a child: become the server's user (when root), send output to log. */
static void child_prepare(const struct passwd *pw, const char *log)
{
	int fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);

	if (fd >= 0) {
		dup2(fd, 1);
		dup2(fd, 2);
	}
	if (pw && (setgroups(0, NULL) < 0 || setgid(pw->pw_gid) < 0 || setuid(pw->pw_uid) < 0))
		_exit(126);
}

static int run_wait(const struct passwd *pw, const char *log, char *const argv[])
{
	int st;
	pid_t pid = fork();

	if (pid < 0)
		return -errno;
	if (pid == 0) {
		child_prepare(pw, log);
		execv(argv[0], argv);
		_exit(127);
	}
	if (waitpid(pid, &st, 0) < 0)
		return -errno;
	return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -EIO;
}

static void log_tail(const char *log, char *err, size_t errlen)
{
	char line[512] = "", last[512] = "";
	FILE *fp = fopen(log, "re");

	while (fp && fgets(line, sizeof(line), fp))
		if (line[0] != '\n')
			snprintf(last, sizeof(last), "%s", line);
	if (fp)
		fclose(fp);
	last[strcspn(last, "\n")] = '\0';
	snprintf(err + strlen(err), errlen - strlen(err), ": %s", last);
}

int pgfx_start(struct pgfx *f, char *err, size_t errlen)
{
	char bin[256], path[600], data[128], log[128], sockopt[96];
	const struct passwd *pw = NULL;
	struct timespec ts = {0, 50 * 1000 * 1000};
	pid_t parent = getpid();
	int r;

	memset(f, 0, sizeof(*f));
	err[0] = '\0';
	if (find_bindir(bin, sizeof(bin)) < 0) {
		snprintf(err, errlen, "PostgreSQL server binaries not found (install postgresql, or set"
			 " LOAFRE_PG_BINDIR)");
		return -ENOENT;
	}
	if (geteuid() == 0) {
		pw = getpwnam("postgres");
		if (!pw) {
			snprintf(err, errlen, "running as root and no 'postgres' user to run the server");
			return -ENOENT;
		}
	}
	snprintf(f->dir, sizeof(f->dir), "/tmp/loafre-pg-XXXXXX");
	if (!mkdtemp(f->dir)) {
		r = -errno;
		snprintf(err, errlen, "mkdtemp: %s", strerror(errno));
		f->dir[0] = '\0';
		return r;
	}
	if (pw && chown(f->dir, pw->pw_uid, pw->pw_gid) < 0) {
		r = -errno;
		snprintf(err, errlen, "chown %s: %s", f->dir, strerror(errno));
		goto fail;
	}
	snprintf(data, sizeof(data), "%s/data", f->dir);
	snprintf(log, sizeof(log), "%s/server.log", f->dir);
	snprintf(path, sizeof(path), "%s/initdb", bin);
	{
		char *argv[] = {path, "-D", data, "-A", "trust", "-U", "postgres", "-E", "UTF8",
				"--locale=C", "--no-sync", NULL};

		r = run_wait(pw, log, argv);
	}
	if (r < 0) {
		snprintf(err, errlen, "initdb failed");
		log_tail(log, err, errlen);
		goto fail;
	}
	snprintf(path, sizeof(path), "%s/postgres", bin);
	snprintf(sockopt, sizeof(sockopt), "unix_socket_directories=%s", f->dir);
	f->pid = fork();
	if (f->pid < 0) {
		r = -errno;
		f->pid = 0;
		goto fail;
	}
	if (f->pid == 0) {
		char *argv[64] = {path, "-D", data, "-p", PORT, "-c", sockopt, "-c",
				  "listen_addresses=", "-c", "fsync=off", "-c", "synchronous_commit=off",
				  "-c", "full_page_writes=off", "-c", "max_connections=40", NULL};
		char *extra = getenv("LOAFRE_PG_SETTINGS") ? strdup(getenv("LOAFRE_PG_SETTINGS")) : NULL;
		int n = 17;

		/* "name=value name=value": more settings (benchmarks) */
		for (char *sv, *t = extra ? strtok_r(extra, " ", &sv) : NULL; t && n < 61;
		     t = strtok_r(NULL, " ", &sv)) {
			argv[n++] = "-c";
			argv[n++] = t;
		}
		argv[n] = NULL;
		child_prepare(pw, log);
		/* after the credentials change, which clears it */
		prctl(PR_SET_PDEATHSIG, SIGQUIT);
		if (getppid() != parent)
			_exit(0);
		execv(argv[0], argv);
		_exit(127);
	}
	snprintf(f->conninfo, sizeof(f->conninfo), "host=%s port=" PORT " dbname=loafre user=postgres",
		 f->dir);
	{
		char ping[160];
		int st;

		snprintf(ping, sizeof(ping), "host=%s port=" PORT " dbname=postgres user=postgres", f->dir);
		for (int i = 0;; i++) {
			if (PQping(ping) == PQPING_OK)
				break;
			bool died = waitpid(f->pid, &st, WNOHANG) == f->pid;

			if (died || i > 600) {
				if (died)
					f->pid = 0;
				snprintf(err, errlen, "the PostgreSQL server did not start");
				log_tail(log, err, errlen);
				r = -EIO;
				goto fail;
			}
			nanosleep(&ts, NULL);
		}
		{
			PGconn *c = PQconnectdb(ping);
			PGresult *res = PQstatus(c) == CONNECTION_OK ? PQexec(c, "CREATE DATABASE loafre")
								       : NULL;

			r = res && PQresultStatus(res) == PGRES_COMMAND_OK ? 0 : -EIO;
			if (r < 0)
				snprintf(err, errlen, "CREATE DATABASE: %s", PQerrorMessage(c));
			PQclear(res);
			PQfinish(c);
			if (r < 0)
				goto fail;
		}
	}
	return 0;
fail:
	pgfx_stop(f);
	return r;
}

static int rm_cb(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(p);
}

void pgfx_stop(struct pgfx *f)
{
	if (f->pid > 0) {
		int st;

		kill(f->pid, SIGINT); /* fast shutdown */
		for (int i = 0; i < 200; i++) {
			struct timespec ts = {0, 50 * 1000 * 1000};

			if (waitpid(f->pid, &st, WNOHANG) == f->pid) {
				f->pid = 0;
				break;
			}
			nanosleep(&ts, NULL);
		}
		if (f->pid > 0) {
			kill(f->pid, SIGKILL);
			waitpid(f->pid, &st, 0);
			f->pid = 0;
		}
	}
	if (f->dir[0])
		nftw(f->dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
	f->dir[0] = '\0';
}

static void notice_ignore(void *arg, const char *message)
{
	(void)arg;
	(void)message;
}

int pgfx_sql(const struct pgfx *f, const char *sql, char *err, size_t errlen)
{
	PGconn *c = PQconnectdb(f->conninfo);
	PGresult *res;

	PQsetNoticeProcessor(c, notice_ignore, NULL);
	res = PQstatus(c) == CONNECTION_OK ? PQexec(c, sql) : NULL;
	ExecStatusType st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
	int r = st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK ? 0 : -EIO;

	if (r < 0)
		snprintf(err, errlen, "%s", PQerrorMessage(c));
	PQclear(res);
	PQfinish(c);
	return r;
}
