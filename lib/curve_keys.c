/* SPDX-License-Identifier: LGPL-3.0-or-later */
/*
 * curve_keys.c — CurveZMQ key files (include/loafre/curve.h, lib/curve_keys.h).
 *
 * Keys are written as ZeroMQ writes them: Z85 (ZeroMQ RFC 32), 40
 * characters of the alphabet
 *     0-9 a-z A-Z . - : + = ^ ! / * ? & < > ( ) [ ] { } @ % $ #
 * for 32 bytes. Only canonical encodings are accepted (a key decodes and
 * re-encodes to the same text).
 *
 * Common to both files: UTF-8/ASCII text, lines end with LF (a CR before
 * it is ignored), at most 1024 bytes per line; NUL and other control
 * characters except TAB are errors. Blanks (space, TAB) around items are
 * ignored. An empty line, or one whose first non-blank character is `#`,
 * is a comment. Errors name the line ("PATH:LINE: reason").
 *
 * 1. Key file (`loafre keygen NAME` writes NAME.key and NAME.pub):
 *
 *        # any comment
 *        public-key = <40 Z85 characters>
 *        secret-key = <40 Z85 characters>     (NAME.key only)
 *
 *    public-key is required, secret-key optional, each at most once, no
 *    other field; nothing may follow the key on its line. The secret key
 *    must derive the public key (zmq_curve_public). NAME.key is created
 *    with mode 0600 and, like an ssh private key, is refused when group or
 *    others have any access to it; NAME.pub has mode 0644. At most 64 KiB.
 *
 * 2. Allowed client keys file ([broker] curve_allowed_keys):
 *
 *        # clients allowed on the broker's tcp:// endpoints
 *        <40 Z85 characters>                  one public key per line
 *        <40 Z85 characters>  indexer-3       optionally a label after blanks
 *        <40 Z85 characters>  # alice         (a leading `#` of it is dropped)
 *
 *    The label (what follows the key and its blanks, without a leading `#`
 *    and the blanks after it) names the client in the broker's log; it is
 *    the ZAP User-Id of its connections (the Z85 key when there is none).
 *    At most 100000 keys (32 MiB); a key listed twice is an error. Refused
 *    when writable by group or others (like ssh's authorized_keys).
 *
 * The lookup structure is an array sorted by binary key, searched with
 * bsearch.
 */
#include "curve_keys.h"
#include "zmq_load.h" /* <zmq.h>, libzmq loaded on first use */

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>


#include "util.h"

static const char z85_alphabet[] =
	"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#";

struct allowed_ent {
	uint8_t key[LOAFRE__CURVE_KEY_BYTES];
	uint32_t line;  /* line of the allowed-keys file */
	uint32_t label; /* offset of its NUL-terminated label in the pool */
};

struct loafre__curve_allowed {
	struct allowed_ent *e; /* sorted by key */
	size_t n, cap;
	char *pool;            /* labels, NUL-terminated, back to back */
	size_t pool_len, pool_cap;
};

static void set_err(char *err, size_t errlen, const char *name, unsigned line,
		    const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static void set_err(char *err, size_t errlen, const char *name, unsigned line,
		    const char *fmt, ...)
{
	va_list ap;
	int n;

	if (!err || errlen == 0)
		return;
	if (line)
		n = snprintf(err, errlen, "%s:%u: ", name, line);
	else
		n = snprintf(err, errlen, "%s: ", name);
	if (n < 0 || (size_t)n >= errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(err + n, errlen - (size_t)n, fmt, ap);
	va_end(ap);
}

static bool is_blank(char c)
{
	return c == ' ' || c == '\t';
}

int loafre__curve_z85_key(const char *s, uint8_t ret[LOAFRE__CURVE_KEY_BYTES])
{
	char txt[LOAFRE_CURVE_KEY_BUF], back[LOAFRE_CURVE_KEY_BUF];
	uint8_t bin[LOAFRE__CURVE_KEY_BYTES];

	for (size_t i = 0; i < LOAFRE_CURVE_KEY_LEN; i++) {
		if (!s[i] || !strchr(z85_alphabet, s[i]))
			return -EINVAL;
		txt[i] = s[i];
	}
	txt[LOAFRE_CURVE_KEY_LEN] = '\0';
	if (!zmq_z85_decode(bin, txt) || !zmq_z85_encode(back, bin, sizeof(bin)) ||
	    memcmp(back, txt, LOAFRE_CURVE_KEY_LEN) != 0)
		return -EINVAL;
	memcpy(ret, bin, sizeof(bin));
	return 0;
}

/* ---- lines ------------------------------------------------------------------ */

struct line_iter {
	const char *p, *end;
	unsigned line;
};

/* The next line, trimmed of blanks (and a CR before the LF): 1 with
 * [*ret_s, *ret_s + *ret_n), 0 at the end, -EINVAL (message set). */
static int next_line(struct line_iter *it, const char *name, const char **ret_s,
		     size_t *ret_n, char *err, size_t errlen)
{
	const char *s, *e, *nl;

	if (it->p >= it->end)
		return 0;
	it->line++;
	s = it->p;
	nl = memchr(s, '\n', (size_t)(it->end - s));
	e = nl ? nl : it->end;
	it->p = nl ? nl + 1 : it->end;
	if ((size_t)(e - s) > LOAFRE__CURVE_LINE_MAX) {
		set_err(err, errlen, name, it->line, "line too long (at most %d bytes)",
			LOAFRE__CURVE_LINE_MAX);
		return -EINVAL;
	}
	if (e > s && e[-1] == '\r')
		e--;
	for (const char *q = s; q < e; q++) {
		unsigned char ch = (unsigned char)*q;
		if ((ch < 0x20 && ch != '\t') || ch == 0x7f) {
			set_err(err, errlen, name, it->line, "%s byte 0x%02x in line",
				ch ? "control" : "NUL", ch);
			return -EINVAL;
		}
	}
	while (s < e && is_blank(*s))
		s++;
	while (e > s && is_blank(e[-1]))
		e--;
	*ret_s = s;
	*ret_n = (size_t)(e - s);
	return 1;
}

/* ---- key files -------------------------------------------------------------- */

int loafre__curve_keyfile_parse(const char *name, const char *buf, size_t len,
				char ret_public[LOAFRE_CURVE_KEY_BUF],
				char ret_secret[LOAFRE_CURVE_KEY_BUF], char *err, size_t errlen)
{
	struct line_iter it = { .p = buf, .end = buf + len };
	char pub[LOAFRE_CURVE_KEY_BUF] = "", sec[LOAFRE_CURVE_KEY_BUF] = "";
	char derived[LOAFRE_CURVE_KEY_BUF];
	unsigned pub_line = 0, sec_line = 0;
	const char *s;
	size_t n;
	int r;

	while ((r = next_line(&it, name, &s, &n, err, errlen)) == 1) {
		const char *p = s, *end = s + n, *v;
		size_t fl;
		uint8_t bin[LOAFRE__CURVE_KEY_BYTES];
		bool is_pub;

		if (n == 0 || s[0] == '#')
			continue;
		while (p < end && ((*p >= 'a' && *p <= 'z') || *p == '-'))
			p++;
		fl = (size_t)(p - s);
		while (p < end && is_blank(*p))
			p++;
		if (fl == 0 || p == end || *p != '=') {
			set_err(err, errlen, name, it.line,
				"expected 'public-key = KEY', 'secret-key = KEY' or a # comment");
			r = -EINVAL;
			goto out;
		}
		if (fl == 10 && memcmp(s, "public-key", 10) == 0)
			is_pub = true;
		else if (fl == 10 && memcmp(s, "secret-key", 10) == 0)
			is_pub = false;
		else {
			set_err(err, errlen, name, it.line,
				"unknown field '%.*s' (expected public-key or secret-key)", (int)fl,
				s);
			r = -EINVAL;
			goto out;
		}
		if (is_pub ? pub_line : sec_line) {
			set_err(err, errlen, name, it.line, "duplicate %.*s (first on line %u)",
				(int)fl, s, is_pub ? pub_line : sec_line);
			r = -EINVAL;
			goto out;
		}
		p++;
		while (p < end && is_blank(*p))
			p++;
		v = p;
		if ((size_t)(end - v) != LOAFRE_CURVE_KEY_LEN ||
		    loafre__curve_z85_key(v, bin) < 0) {
			set_err(err, errlen, name, it.line,
				"%.*s must be %d Z85 characters (as loafre keygen writes it)", (int)fl,
				s, LOAFRE_CURVE_KEY_LEN);
			r = -EINVAL;
			goto out;
		}
		memcpy(is_pub ? pub : sec, v, LOAFRE_CURVE_KEY_LEN);
		(is_pub ? pub : sec)[LOAFRE_CURVE_KEY_LEN] = '\0';
		*(is_pub ? &pub_line : &sec_line) = it.line;
		explicit_bzero(bin, sizeof(bin));
	}
	if (r < 0)
		goto out;
	if (!pub_line) {
		set_err(err, errlen, name, 0, "no public-key line (not a loafre key file?)");
		r = -EINVAL;
		goto out;
	}
	if (sec_line) {
		if (zmq_curve_public(derived, sec) < 0) {
			r = errno == ENOTSUP ? -ENOTSUP : -EINVAL;
			set_err(err, errlen, name, sec_line,
				r == -ENOTSUP ? "this libzmq has no CURVE support"
					      : "cannot derive the public key of secret-key");
			goto out;
		}
		if (memcmp(derived, pub, LOAFRE_CURVE_KEY_LEN) != 0) {
			set_err(err, errlen, name, sec_line,
				"secret-key does not belong to public-key (line %u)", pub_line);
			r = -EINVAL;
			goto out;
		}
	}
	memcpy(ret_public, pub, sizeof(pub));
	memcpy(ret_secret, sec, sizeof(sec));
	r = 0;
out:
	explicit_bzero(sec, sizeof(sec));
	return r;
}

/* Reads a whole small regular file (at most max bytes) into a malloc'ed
 * buffer; writes its mode. Messages name the file. */
static int read_small(const char *path, size_t max, char **ret_buf, size_t *ret_len,
		      mode_t *ret_mode, char *err, size_t errlen)
{
	struct stat st;
	char *buf = NULL;
	size_t len = 0;
	int fd, r;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		r = -errno;
		set_err(err, errlen, path, 0, "cannot open: %s", strerror(-r));
		return r;
	}
	if (fstat(fd, &st) < 0) {
		r = -errno;
		set_err(err, errlen, path, 0, "cannot stat: %s", strerror(-r));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		set_err(err, errlen, path, 0, "not a regular file");
		r = -EINVAL;
		goto out;
	}
	if ((uint64_t)st.st_size > max) {
		set_err(err, errlen, path, 0, "too large (over %zu bytes)", max);
		r = -EFBIG;
		goto out;
	}
	buf = malloc(max + 1);
	if (!buf) {
		set_err(err, errlen, path, 0, "out of memory");
		r = -ENOMEM;
		goto out;
	}
	for (;;) {
		ssize_t n = read(fd, buf + len, max + 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = -errno;
			set_err(err, errlen, path, 0, "read error: %s", strerror(-r));
			goto out;
		}
		if (n == 0)
			break;
		len += (size_t)n;
		if (len > max) {
			set_err(err, errlen, path, 0, "too large (over %zu bytes)", max);
			r = -EFBIG;
			goto out;
		}
	}
	buf[len] = '\0';
	*ret_buf = buf;
	*ret_len = len;
	*ret_mode = st.st_mode;
	buf = NULL;
	r = 0;
out:
	if (buf) {
		explicit_bzero(buf, len);
		free(buf);
	}
	close(fd);
	return r;
}

int loafre_curve_keyfile_load(const char *path, char ret_public[LOAFRE_CURVE_KEY_BUF],
			      char ret_secret[LOAFRE_CURVE_KEY_BUF], char *err, size_t errlen)
{
	char pub[LOAFRE_CURVE_KEY_BUF], sec[LOAFRE_CURVE_KEY_BUF];
	char *buf = NULL;
	size_t len = 0;
	mode_t mode;
	int r;

	if (err && errlen)
		err[0] = '\0';
	if (!path || !ret_public) {
		set_err(err, errlen, path ? path : "(null)", 0, "no key file or output given");
		return -EINVAL;
	}
	r = read_small(path, LOAFRE__CURVE_KEYFILE_MAX, &buf, &len, &mode, err, errlen);
	if (r < 0)
		return r;
	r = loafre__curve_keyfile_parse(path, buf, len, pub, sec, err, errlen);
	if (r < 0)
		goto out;
	if (sec[0] && (mode & 077)) {
		set_err(err, errlen, path, 0,
			"holds a secret key but is accessible to group or others (mode %04o): "
			"chmod 600 it",
			(unsigned)(mode & 07777));
		r = -EPERM;
		goto out;
	}
	if (ret_secret && !sec[0]) {
		set_err(err, errlen, path, 0,
			"holds no secret-key (a .pub file? this needs the .key file)");
		r = -ENOKEY;
		goto out;
	}
	memcpy(ret_public, pub, sizeof(pub));
	if (ret_secret)
		memcpy(ret_secret, sec, sizeof(sec));
	r = 0;
out:
	explicit_bzero(sec, sizeof(sec));
	explicit_bzero(buf, len);
	free(buf);
	return r;
}

/* Creates path exclusively with exactly `mode` and writes text to it. */
static int write_new(const char *path, mode_t mode, const char *text, bool *ret_created,
		     char *err, size_t errlen)
{
	int fd, r;

	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY, mode);
	if (fd < 0) {
		r = -errno;
		if (r == -EEXIST)
			set_err(err, errlen, path, 0, "already exists (not overwritten)");
		else
			set_err(err, errlen, path, 0, "cannot create: %s", strerror(-r));
		return r;
	}
	*ret_created = true;
	if (fchmod(fd, mode) < 0 || loafre__write_all(fd, text, strlen(text)) < 0 ||
	    fsync(fd) < 0) {
		r = -errno;
		set_err(err, errlen, path, 0, "cannot write: %s", strerror(-r));
		close(fd);
		return r;
	}
	if (close(fd) < 0) {
		r = -errno;
		set_err(err, errlen, path, 0, "cannot write: %s", strerror(-r));
		return r;
	}
	return 0;
}

int loafre_curve_keygen(const char *name, char *err, size_t errlen)
{
	char pub[LOAFRE_CURVE_KEY_BUF], sec[LOAFRE_CURVE_KEY_BUF];
	char *keypath = NULL, *pubpath = NULL, *keytext = NULL, *pubtext = NULL;
	bool key_made = false, pub_made = false;
	int r;

	if (err && errlen)
		err[0] = '\0';
	if (!name || !*name) {
		set_err(err, errlen, "keygen", 0, "no key name given");
		return -EINVAL;
	}
	if (asprintf(&keypath, "%s.key", name) < 0) {
		keypath = NULL;
		r = -ENOMEM;
		goto nomem;
	}
	if (asprintf(&pubpath, "%s.pub", name) < 0) {
		pubpath = NULL;
		r = -ENOMEM;
		goto nomem;
	}
	if (zmq_curve_keypair(pub, sec) < 0) {
		r = errno == ENOTSUP ? -ENOTSUP : -EIO;
		set_err(err, errlen, keypath, 0, "cannot make a key pair: %s",
			r == -ENOTSUP ? "this libzmq has no CURVE support" : zmq_strerror(errno));
		goto out;
	}
	if (asprintf(&keytext,
		     "# loafre CurveZMQ key pair (loafre keygen; format: lib/curve_keys.c).\n"
		     "# SECRET: whoever holds this file can connect as its owner (or, for a\n"
		     "# broker, impersonate it). Keep it mode 0600; give out %s only.\n"
		     "public-key = %s\n"
		     "secret-key = %s\n",
		     pubpath, pub, sec) < 0) {
		keytext = NULL;
		r = -ENOMEM;
		goto nomem;
	}
	if (asprintf(&pubtext,
		     "# loafre CurveZMQ public key (loafre keygen; its pair: %s).\n"
		     "# A broker's: clients name this file ([client] curve_server_key,\n"
		     "# --server-key). A client's: add the key below, alone on a line, to\n"
		     "# the broker's [broker] curve_allowed_keys file.\n"
		     "public-key = %s\n",
		     keypath, pub) < 0) {
		pubtext = NULL;
		r = -ENOMEM;
		goto nomem;
	}
	/* Refuse before writing anything if either exists. */
	if (access(pubpath, F_OK) == 0) {
		set_err(err, errlen, pubpath, 0, "already exists (not overwritten)");
		r = -EEXIST;
		goto out;
	}
	r = write_new(keypath, 0600, keytext, &key_made, err, errlen);
	if (r == 0)
		r = write_new(pubpath, 0644, pubtext, &pub_made, err, errlen);
	goto out;
nomem:
	set_err(err, errlen, name, 0, "out of memory");
out:
	if (r < 0) {
		if (pub_made)
			unlink(pubpath);
		if (key_made)
			unlink(keypath);
	}
	explicit_bzero(sec, sizeof(sec));
	if (keytext) {
		explicit_bzero(keytext, strlen(keytext));
		free(keytext);
	}
	free(pubtext);
	free(keypath);
	free(pubpath);
	return r;
}

/* ---- allowed keys ----------------------------------------------------------- */

static int ent_cmp(const void *a, const void *b)
{
	const struct allowed_ent *x = a, *y = b;
	int c = memcmp(x->key, y->key, sizeof(x->key));

	if (c)
		return c;
	return x->line < y->line ? -1 : x->line > y->line;
}

static int key_cmp(const void *k, const void *e)
{
	return memcmp(k, ((const struct allowed_ent *)e)->key, LOAFRE__CURVE_KEY_BYTES);
}

void loafre__curve_allowed_free(struct loafre__curve_allowed *a)
{
	if (!a)
		return;
	free(a->e);
	free(a->pool);
	free(a);
}

size_t loafre__curve_allowed_count(const struct loafre__curve_allowed *a)
{
	return a ? a->n : 0;
}

const char *loafre__curve_allowed_find(const struct loafre__curve_allowed *a,
				       const uint8_t key[LOAFRE__CURVE_KEY_BYTES])
{
	const struct allowed_ent *e;

	if (!a || a->n == 0)
		return NULL;
	e = bsearch(key, a->e, a->n, sizeof(*a->e), key_cmp);
	return e ? a->pool + e->label : NULL;
}

static int pool_add(struct loafre__curve_allowed *a, const char *s, size_t n, uint32_t *ret)
{
	if (a->pool_len + n + 1 > a->pool_cap) {
		size_t nc = a->pool_cap ? a->pool_cap : 4096;
		char *p;
		while (nc < a->pool_len + n + 1)
			nc *= 2;
		p = realloc(a->pool, nc);
		if (!p)
			return -ENOMEM;
		a->pool = p;
		a->pool_cap = nc;
	}
	*ret = (uint32_t)a->pool_len;
	memcpy(a->pool + a->pool_len, s, n);
	a->pool[a->pool_len + n] = '\0';
	a->pool_len += n + 1;
	return 0;
}

int loafre__curve_allowed_parse(const char *name, const char *buf, size_t len,
				struct loafre__curve_allowed **ret, char *err, size_t errlen)
{
	struct line_iter it = { .p = buf, .end = buf + len };
	struct loafre__curve_allowed *a;
	const char *s;
	size_t n;
	int r;

	if (len > LOAFRE__CURVE_ALLOWED_FILE_MAX) {
		set_err(err, errlen, name, 0, "too large (over %d bytes)",
			LOAFRE__CURVE_ALLOWED_FILE_MAX);
		return -EFBIG;
	}
	a = calloc(1, sizeof(*a));
	if (!a) {
		set_err(err, errlen, name, 0, "out of memory");
		return -ENOMEM;
	}
	/* The empty label at offset 0. */
	r = pool_add(a, "", 0, &(uint32_t){ 0 });
	if (r < 0)
		goto nomem;
	while ((r = next_line(&it, name, &s, &n, err, errlen)) == 1) {
		const char *end = s + n, *lab;
		struct allowed_ent *e;
		size_t kl = 0;

		if (n == 0 || s[0] == '#')
			continue;
		while (kl < n && !is_blank(s[kl]))
			kl++;
		if (a->n == LOAFRE__CURVE_ALLOWED_MAX) {
			set_err(err, errlen, name, it.line, "more than %d keys",
				LOAFRE__CURVE_ALLOWED_MAX);
			r = -E2BIG;
			goto out;
		}
		if (a->n == a->cap) {
			size_t nc = a->cap ? a->cap * 2 : 64;
			e = realloc(a->e, nc * sizeof(*e));
			if (!e)
				goto nomem;
			a->e = e;
			a->cap = nc;
		}
		e = &a->e[a->n];
		if (kl != LOAFRE_CURVE_KEY_LEN || loafre__curve_z85_key(s, e->key) < 0) {
			if (kl == 10 && memcmp(s, "public-key", 10) == 0)
				set_err(err, errlen, name, it.line,
					"write the key alone (the value of a .pub file's public-key line), not 'public-key = KEY'");
			else
				set_err(err, errlen, name, it.line,
					"not a public key: expected %d Z85 characters, then optionally blanks and a label",
					LOAFRE_CURVE_KEY_LEN);
			r = -EINVAL;
			goto out;
		}
		lab = s + kl;
		while (lab < end && is_blank(*lab))
			lab++;
		if (lab < end && *lab == '#') {
			lab++;
			while (lab < end && is_blank(*lab))
				lab++;
		}
		e->line = it.line;
		e->label = 0;
		if (lab < end && pool_add(a, lab, (size_t)(end - lab), &e->label) < 0)
			goto nomem;
		a->n++;
	}
	if (r < 0)
		goto out;
	if (a->n > 1) {
		qsort(a->e, a->n, sizeof(*a->e), ent_cmp);
		for (size_t i = 1; i < a->n; i++) {
			if (memcmp(a->e[i - 1].key, a->e[i].key, LOAFRE__CURVE_KEY_BYTES) == 0) {
				set_err(err, errlen, name, a->e[i].line,
					"key already listed on line %u", a->e[i - 1].line);
				r = -EINVAL;
				goto out;
			}
		}
	}
	*ret = a;
	return 0;
nomem:
	set_err(err, errlen, name, it.line, "out of memory");
	r = -ENOMEM;
out:
	loafre__curve_allowed_free(a);
	return r;
}

int loafre__curve_allowed_load(const char *path, struct loafre__curve_allowed **ret,
			       char *err, size_t errlen)
{
	char *buf = NULL;
	size_t len = 0;
	mode_t mode;
	int r;

	if (err && errlen)
		err[0] = '\0';
	r = read_small(path, LOAFRE__CURVE_ALLOWED_FILE_MAX, &buf, &len, &mode, err, errlen);
	if (r < 0)
		return r;
	if (mode & 022) {
		set_err(err, errlen, path, 0,
			"writable by group or others (mode %04o): anyone could add a key; chmod go-w it",
			(unsigned)(mode & 07777));
		r = -EPERM;
		goto out;
	}
	r = loafre__curve_allowed_parse(path, buf, len, ret, err, errlen);
out:
	free(buf);
	return r;
}
