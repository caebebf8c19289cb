/* oauth2.c: OAuth2 tokens for accounts with an oauth2 section: a small
 * strict JSON reader for the token endpoint's answers, the refresh token
 * store, the access token cache and the HTTP grants (RFC 6749, device
 * authorisation RFC 8628, PKCE RFC 7636, loopback redirect RFC 8252). */
#include "oauth2.h"

#include <sys/file.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <netinet/in.h>

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/dns.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include "fdio.h"
#include "outcome.h"
#include "log.h"
#include "tls.h"
#include "xmalloc.h"

#define OAUTH2_STORE_MAX	8192	/* bytes of a stored refresh token */
#define OAUTH2_LOCK_WAIT	OAUTH2_HTTP_TIMEOUT /* s for the refresh lock */
#define OAUTH2_SECRET_MAX	4096	/* bytes of a client secret file */
#define OAUTH2_LOOPBACK_WAIT	300	/* seconds for the browser's redirect */

/* ---- JSON ------------------------------------------------------------ */

/* Where a known member goes. */
struct oauth2_field {
	const char	*name;
	size_t		 soff;		/* offset of a char * member, or */
	size_t		 noff;		/* of a long long one (SIZE_MAX: none) */
};

#define OAUTH2_S(f) { #f, offsetof(struct oauth2_response, f), SIZE_MAX }
#define OAUTH2_N(f) { #f, SIZE_MAX, offsetof(struct oauth2_response, f) }
static const struct oauth2_field oauth2_fields[] = {
	OAUTH2_S(access_token),
	OAUTH2_S(refresh_token),
	OAUTH2_S(token_type),
	OAUTH2_N(expires_in),
	OAUTH2_S(error),
	OAUTH2_S(error_description),
	OAUTH2_S(device_code),
	OAUTH2_S(user_code),
	OAUTH2_S(verification_uri),
	{ "verification_url", offsetof(struct oauth2_response,
	    verification_uri), SIZE_MAX },
	OAUTH2_S(verification_uri_complete),
	OAUTH2_N(interval),
};

/* A cursor over the input. */
struct oauth2_json {
	const char	*p;
	const char	*end;
	const char	*err;
};

/* Skips JSON white space. */
static void
oauth2_json_ws(struct oauth2_json *j)
{
	while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' ||
	    *j->p == '\n' || *j->p == '\r'))
		j->p++;
}

/* Four hex digits at p, or -1. */
static long
oauth2_json_hex4(const char *p, const char *end)
{
	long	v = 0;
	int	i, c;

	if (end - p < 4)
		return (-1);
	for (i = 0; i < 4; i++) {
		c = (unsigned char)p[i];
		v <<= 4;
		if (c >= '0' && c <= '9')
			v |= c - '0';
		else if (c >= 'a' && c <= 'f')
			v |= c - 'a' + 10;
		else if (c >= 'A' && c <= 'F')
			v |= c - 'A' + 10;
		else
			return (-1);
	}
	return (v);
}

/* Appends code point cp as UTF-8 to out (room for 4 bytes assumed). */
static size_t
oauth2_utf8(char *out, unsigned long cp)
{
	if (cp < 0x80) {
		out[0] = (char)cp;
		return (1);
	}
	if (cp < 0x800) {
		out[0] = (char)(0xc0 | (cp >> 6));
		out[1] = (char)(0x80 | (cp & 0x3f));
		return (2);
	}
	if (cp < 0x10000) {
		out[0] = (char)(0xe0 | (cp >> 12));
		out[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		out[2] = (char)(0x80 | (cp & 0x3f));
		return (3);
	}
	out[0] = (char)(0xf0 | (cp >> 18));
	out[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
	out[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
	out[3] = (char)(0x80 | (cp & 0x3f));
	return (4);
}

/* A \u escape after the "\u" at j->p (a surrogate pair takes two):
 * the code point, or -1 with j->err set. */
static long
oauth2_json_uescape(struct oauth2_json *j)
{
	long	hi, lo;

	if ((hi = oauth2_json_hex4(j->p, j->end)) == -1)
		goto bad;
	j->p += 4;
	if (hi >= 0xdc00 && hi <= 0xdfff)
		goto bad;
	if (hi < 0xd800 || hi > 0xdbff)
		return (hi == 0 ? (j->err = "\\u0000 in a string", -1) : hi);
	if (j->end - j->p < 6 || j->p[0] != '\\' || j->p[1] != 'u')
		goto bad;
	if ((lo = oauth2_json_hex4(j->p + 2, j->end)) < 0xdc00 || lo > 0xdfff)
		goto bad;
	j->p += 6;
	return (0x10000 + ((hi - 0xd800) << 10) + (lo - 0xdc00));
bad:
	j->err = "bad \\u escape";
	return (-1);
}

/* A string at j->p (the opening quote); decoded into a new buffer when
 * out is not NULL. 0, or -1 with j->err set. */
static int
oauth2_json_string(struct oauth2_json *j, char **out)
{
	char	*buf = NULL;
	size_t	 n = 0;
	long	 cp;
	int	 c;

	j->p++;
	if (out != NULL)	/* decoding never grows a string */
		buf = xmalloc(j->end - j->p + 1);
	while (j->p < j->end && *j->p != '"') {
		c = (unsigned char)*j->p++;
		if (c < 0x20) {
			j->err = "control character in a string";
			goto fail;
		}
		if (c != '\\') {
			if (buf != NULL)
				buf[n++] = (char)c;
			continue;
		}
		if (j->p == j->end)
			break;
		switch ((c = (unsigned char)*j->p++)) {
		case '"': case '\\': case '/':
			break;
		case 'b': c = '\b'; break;
		case 'f': c = '\f'; break;
		case 'n': c = '\n'; break;
		case 'r': c = '\r'; break;
		case 't': c = '\t'; break;
		case 'u':
			if ((cp = oauth2_json_uescape(j)) == -1)
				goto fail;
			if (buf != NULL)
				n += oauth2_utf8(buf + n, (unsigned long)cp);
			continue;
		default:
			j->err = "bad escape in a string";
			goto fail;
		}
		if (buf != NULL)
			buf[n++] = (char)c;
	}
	if (j->p == j->end) {
		j->err = "unterminated string";
		goto fail;
	}
	j->p++;
	if (buf != NULL) {
		buf[n] = '\0';
		*out = buf;
	}
	return (0);
fail:
	if (buf != NULL) {
		explicit_bzero(buf, n);
		free(buf);
	}
	return (-1);
}

/* A number at j->p (RFC 8259 syntax); its integer part into *v when v is
 * not NULL (fractions are dropped; out of range is an error). */
static int
oauth2_json_number(struct oauth2_json *j, long long *v)
{
	const char	*s = j->p;
	long long	 n = 0;
	int		 neg = 0;

	if (j->p < j->end && *j->p == '-') {
		neg = 1;
		j->p++;
	}
	if (j->p == j->end || *j->p < '0' || *j->p > '9')
		goto bad;
	if (*j->p == '0' && j->end - j->p > 1 && j->p[1] >= '0' &&
	    j->p[1] <= '9')
		goto bad;
	for (; j->p < j->end && *j->p >= '0' && *j->p <= '9'; j->p++) {
		if (n > (LLONG_MAX - 9) / 10) {
			j->err = "number out of range";
			return (-1);
		}
		n = n * 10 + (*j->p - '0');
	}
	if (j->p < j->end && *j->p == '.') {
		j->p++;
		if (j->p == j->end || *j->p < '0' || *j->p > '9')
			goto bad;
		while (j->p < j->end && *j->p >= '0' && *j->p <= '9')
			j->p++;
	}
	if (j->p < j->end && (*j->p == 'e' || *j->p == 'E')) {
		if (v != NULL) {
			j->err = "exponent in an integer field";
			return (-1);
		}
		j->p++;
		if (j->p < j->end && (*j->p == '+' || *j->p == '-'))
			j->p++;
		if (j->p == j->end || *j->p < '0' || *j->p > '9')
			goto bad;
		while (j->p < j->end && *j->p >= '0' && *j->p <= '9')
			j->p++;
	}
	if (v != NULL)
		*v = neg ? -n : n;
	return (0);
bad:
	(void)s;
	j->err = "bad number";
	return (-1);
}

/* A literal (true, false, null) at j->p. */
static int
oauth2_json_literal(struct oauth2_json *j)
{
	static const char	*lits[] = { "true", "false", "null" };
	size_t			 i, len;

	for (i = 0; i < nitems(lits); i++) {
		len = strlen(lits[i]);
		if ((size_t)(j->end - j->p) >= len &&
		    memcmp(j->p, lits[i], len) == 0) {
			j->p += len;
			return (0);
		}
	}
	j->err = "unexpected character";
	return (-1);
}

/* Skips one value of any kind, nested arrays and objects included, with
 * a depth counter instead of recursion (bounded by the input size). */
static int
oauth2_json_skip(struct oauth2_json *j)
{
	size_t	depth = 0;

	for (;;) {
		oauth2_json_ws(j);
		if (j->p == j->end) {
			j->err = "unexpected end";
			return (-1);
		}
		switch (*j->p) {
		case '{': case '[':
			depth++;
			j->p++;
			continue;
		case '}': case ']':
			if (depth == 0) {
				j->err = "unexpected bracket";
				return (-1);
			}
			depth--;
			j->p++;
			break;
		case ',': case ':':
			/* Separators inside a nested value; the syntax there is
			 * checked loosely: it is skipped, not used. */
			if (depth == 0) {
				j->err = "unexpected separator";
				return (-1);
			}
			j->p++;
			continue;
		case '"':
			if (oauth2_json_string(j, NULL) != 0)
				return (-1);
			break;
		case '-': case '0': case '1': case '2': case '3': case '4':
		case '5': case '6': case '7': case '8': case '9':
			if (oauth2_json_number(j, NULL) != 0)
				return (-1);
			break;
		default:
			if (oauth2_json_literal(j) != 0)
				return (-1);
			break;
		}
		if (depth == 0)
			return (0);
	}
}

/* The value of one member: stored when the name is known, else skipped. */
static int
oauth2_json_member(struct oauth2_json *j, const char *name,
    struct oauth2_response *r)
{
	const struct oauth2_field	*f = NULL;
	char				**sp, *s, *end;
	long long			*np;
	size_t				 i;

	for (i = 0; i < nitems(oauth2_fields); i++) {
		if (strcmp(oauth2_fields[i].name, name) == 0)
			f = &oauth2_fields[i];
	}
	if (f == NULL)
		return (oauth2_json_skip(j));
	if (f->soff != SIZE_MAX) {
		sp = (char **)((char *)r + f->soff);
		if (*sp != NULL) {
			j->err = "duplicate member";
			return (-1);
		}
		if (j->p == j->end || *j->p != '"') {
			j->err = "a string was expected";
			return (-1);
		}
		return (oauth2_json_string(j, sp));
	}
	np = (long long *)((char *)r + f->noff);
	if (*np != -1) {
		j->err = "duplicate member";
		return (-1);
	}
	if (j->p < j->end && *j->p == '"') {
		/* Some endpoints send expires_in as a string of digits. */
		if (oauth2_json_string(j, &s) != 0)
			return (-1);
		errno = 0;
		*np = strtoll(s, &end, 10);
		if (*s == '\0' || *end != '\0' || errno != 0 || *np < 0) {
			free(s);
			*np = -1;
			j->err = "a number was expected";
			return (-1);
		}
		free(s);
		return (0);
	}
	if (oauth2_json_number(j, np) != 0)
		return (-1);
	if (*np < 0) {
		j->err = "negative number";
		return (-1);
	}
	return (0);
}

/* The members of the object after its '{'. */
static int
oauth2_json_members(struct oauth2_json *j, struct oauth2_response *r)
{
	char	*name;
	int	 rc;

	oauth2_json_ws(j);
	if (j->p < j->end && *j->p == '}') {
		j->p++;
		return (0);
	}
	for (;;) {
		oauth2_json_ws(j);
		if (j->p == j->end || *j->p != '"') {
			j->err = "a member name was expected";
			return (-1);
		}
		if (oauth2_json_string(j, &name) != 0)
			return (-1);
		oauth2_json_ws(j);
		if (j->p == j->end || *j->p != ':') {
			free(name);
			j->err = "':' was expected";
			return (-1);
		}
		j->p++;
		oauth2_json_ws(j);
		rc = oauth2_json_member(j, name, r);
		free(name);
		if (rc != 0)
			return (-1);
		oauth2_json_ws(j);
		if (j->p < j->end && *j->p == ',') {
			j->p++;
			continue;
		}
		if (j->p < j->end && *j->p == '}') {
			j->p++;
			return (0);
		}
		j->err = "',' or '}' was expected";
		return (-1);
	}
}

/* Empties r without freeing (the parse's starting point). */
static void
oauth2_response_init(struct oauth2_response *r)
{
	memset(r, 0, sizeof *r);
	r->expires_in = -1;
	r->interval = -1;
}

int
oauth2_json_parse(const char *buf, size_t len, struct oauth2_response *r,
    char **cause)
{
	struct oauth2_json	j;

	oauth2_response_init(r);
	if (len > OAUTH2_JSON_MAX) {
		xasprintf(cause, "answer too long (%zu bytes, at most %d)", len,
		    OAUTH2_JSON_MAX);
		return (-1);
	}
	j.p = buf;
	j.end = buf + len;
	j.err = NULL;
	oauth2_json_ws(&j);
	if (j.p == j.end || *j.p != '{') {
		j.err = "not a JSON object";
		goto fail;
	}
	j.p++;
	if (oauth2_json_members(&j, r) != 0)
		goto fail;
	oauth2_json_ws(&j);
	if (j.p != j.end) {
		j.err = "bytes after the object";
		goto fail;
	}
	return (0);
fail:
	xasprintf(cause, "invalid JSON at byte %zu: %s", (size_t)(j.p - buf),
	    j.err);
	oauth2_response_clear(r);
	return (-1);
}

void
oauth2_response_clear(struct oauth2_response *r)
{
	xfree_secret(r->access_token);
	xfree_secret(r->refresh_token);
	free(r->token_type);
	free(r->error);
	free(r->error_description);
	xfree_secret(r->device_code);
	free(r->user_code);
	free(r->verification_uri);
	free(r->verification_uri_complete);
	oauth2_response_init(r);
}

/* ---- the refresh token store ----------------------------------------- */

/* The first line of a small file (a secret: wiped when freed), or NULL and
 * *cause; errno is kept for the caller. */
static char *
oauth2_read_line(const char *path, const char *what, size_t max, char **cause)
{
	char	*buf;
	ssize_t	 n;
	size_t	 len = 0;
	int	 fd, saved;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) == -1) {
		saved = errno;
		xasprintf(cause, "cannot open %s %s: %s", what, path,
		    strerror(errno));
		errno = saved;
		return (NULL);
	}
	buf = xmalloc(max + 1);
	while (len < max) {
		n = read(fd, buf + len, max - len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	saved = errno;
	close(fd);
	if (n == -1 || len == max) {
		if (n == -1)
			xasprintf(cause, "cannot read %s %s: %s", what, path,
			    strerror(saved));
		else
			xasprintf(cause, "%s %s is too long (over %zu bytes)",
			    what, path, max);
		explicit_bzero(buf, len);
		free(buf);
		errno = 0;
		return (NULL);
	}
	buf[len] = '\0';
	buf[strcspn(buf, "\r\n")] = '\0';
	if (*buf == '\0') {
		xasprintf(cause, "%s %s is empty", what, path);
		free(buf);
		errno = 0;
		return (NULL);
	}
	return (buf);
}

/* fsync of the directory holding path, so that a rename in it lasts. */
static int
oauth2_sync_dir(const char *path, char **cause)
{
	char	*copy, *dir;
	int	 fd, rc = 0;

	copy = xstrdup(path);
	dir = dirname(copy);
	if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1 ||
	    fsync(fd) == -1) {
		xasprintf(cause, "cannot fsync directory %s: %s", dir,
		    strerror(errno));
		rc = -1;
	}
	if (fd != -1)
		close(fd);
	free(copy);
	return (rc);
}

int
oauth2_store_save(const char *path, const char *refresh_token, char **cause)
{
	char		*tmp, *line;
	const char	*what;
	size_t		 len;
	int		 fd;

	if (*refresh_token == '\0' ||
	    refresh_token[strcspn(refresh_token, "\r\n")] != '\0') {
		xasprintf(cause, "refusing to store an empty or multi-line "
		    "refresh token in %s", path);
		return (-1);
	}
	xasprintf(&tmp, "%s.tmpXXXXXX", path);
	/* mkstemp creates the file with mode 0600. */
	if ((fd = mkostemp(tmp, O_CLOEXEC)) == -1) {
		xasprintf(cause, "cannot create a temporary file beside %s: %s",
		    path, strerror(errno));
		free(tmp);
		return (-1);
	}
	xasprintf(&line, "%s\n", refresh_token);
	len = strlen(line);
	what = "write";
	if (fdio_write_all(fd, line, len) == -1)
		goto fail;
	xfree_secret(line);
	line = NULL;
	what = "fsync";
	if (fchmod(fd, S_IRUSR | S_IWUSR) == -1 || fsync(fd) == -1)
		goto fail;
	what = "close";
	if (close(fd) == -1) {
		fd = -1;
		goto fail;
	}
	fd = -1;
	what = "rename";
	if (rename(tmp, path) == -1)
		goto fail;
	free(tmp);
	return (oauth2_sync_dir(path, cause));
fail:
	xasprintf(cause, "cannot save the refresh token in %s (%s of %s): %s",
	    path, what, tmp, strerror(errno));
	xfree_secret(line);
	if (fd != -1)
		close(fd);
	unlink(tmp);
	free(tmp);
	return (-1);
}

char *
oauth2_store_load(const char *path, int *missing, char **cause)
{
	struct stat	 sb;
	char		*s;

	*missing = 0;
	if ((s = oauth2_read_line(path, "refresh token file", OAUTH2_STORE_MAX,
	    cause)) == NULL) {
		*missing = errno == ENOENT;
		return (NULL);
	}
	/* Written 0600 by us: anything wider was changed by hand. */
	if (stat(path, &sb) == 0 && (sb.st_mode & (S_IRWXG | S_IRWXO)) != 0) {
		xasprintf(cause, "refresh token file %s has mode %04o: it must "
		    "not be readable or writable by group or others (chmod 600 "
		    "'%s')", path, (unsigned int)(sb.st_mode & 07777), path);
		xfree_secret(s);
		return (NULL);
	}
	log_add_secret(s);
	return (s);
}

/* ---- the access token cache ------------------------------------------ */

struct oauth2_cached {
	char			*token_file;	/* the key */
	char			*access_token;
	time_t			 expires_at;
	struct oauth2_cached	*next;
};
static struct oauth2_cached	*oauth2_cache;
static time_t			(*oauth2_clock)(void);

/* The default clock. */
static time_t
oauth2_time(void)
{
	return (time(NULL));
}

void
oauth2_set_clock(time_t (*fn)(void))
{
	oauth2_clock = fn;
}

/* What the clock says now. */
static time_t
oauth2_now(void)
{
	return (oauth2_clock != NULL ? oauth2_clock() : oauth2_time());
}

int
oauth2_needs_refresh(time_t expires_at, time_t now)
{
	return (now >= expires_at || expires_at - now <= OAUTH2_REFRESH_MARGIN);
}

/* The cache entry of token_file, or NULL. */
static struct oauth2_cached *
oauth2_cache_find(const char *token_file)
{
	struct oauth2_cached	*c;

	for (c = oauth2_cache; c != NULL; c = c->next) {
		if (strcmp(c->token_file, token_file) == 0)
			return (c);
	}
	return (NULL);
}

void
oauth2_cache_put(const char *token_file, const char *access_token,
    time_t expires_at)
{
	struct oauth2_cached	*c;

	if ((c = oauth2_cache_find(token_file)) == NULL) {
		c = xcalloc(1, sizeof *c);
		c->token_file = xstrdup(token_file);
		c->next = oauth2_cache;
		oauth2_cache = c;
	}
	xfree_secret(c->access_token);
	c->access_token = xstrdup(access_token);
	c->expires_at = expires_at;
	log_add_secret(access_token);
}

void
oauth2_cache_clear(void)
{
	struct oauth2_cached	*c;

	while ((c = oauth2_cache) != NULL) {
		oauth2_cache = c->next;
		free(c->token_file);
		xfree_secret(c->access_token);
		free(c);
	}
}

/* ---- HTTP -------------------------------------------------------------- */

/* One request in flight on a private event base. */
struct oauth2_http {
	struct event_base	*base;
	char			*body;		/* the answer */
	size_t			 len;
	int			 status;	/* HTTP status; 0: none */
	enum evhttp_request_error err;
	int			 failed;
};

/* Called by evhttp when the request ends, answered or not. */
static void
oauth2_http_done(struct evhttp_request *req, void *arg)
{
	struct oauth2_http	*h = arg;
	struct evbuffer		*in;
	size_t			 len;

	event_base_loopbreak(h->base);
	if (req == NULL || (h->status = evhttp_request_get_response_code(req))
	    == 0) {
		h->failed = 1;
		return;
	}
	in = evhttp_request_get_input_buffer(req);
	len = evbuffer_get_length(in);
	if (len > OAUTH2_JSON_MAX)
		len = OAUTH2_JSON_MAX + 1;	/* the parser says too long */
	h->body = xmalloc(len + 1);
	h->len = (size_t)evbuffer_copyout(in, h->body, len);
	h->body[h->len] = '\0';
}

/* Called by evhttp before the done callback when the request failed. */
static void
oauth2_http_error(enum evhttp_request_error err, void *arg)
{
	struct oauth2_http	*h = arg;

	h->err = err;
	h->failed = 1;
}

/* Words for an evhttp failure. */
static const char *
oauth2_http_strerror(enum evhttp_request_error err)
{
	switch (err) {
	case EVREQ_HTTP_TIMEOUT:
		return ("timed out");
	case EVREQ_HTTP_EOF:
		return ("connection closed before the answer");
	case EVREQ_HTTP_INVALID_HEADER:
		return ("invalid HTTP answer");
	case EVREQ_HTTP_BUFFER_ERROR:
		return ("connection failed");
	case EVREQ_HTTP_DATA_TOO_LONG:
		return ("answer too long");
	default:
		return ("request failed");
	}
}

/* POSTs a form to an https:// url and parses the JSON answer into r
 * (whatever the HTTP status: errors come as JSON with a 400). 0, or -1
 * and *cause (the URL, the TLS or HTTP failure). */
static int
oauth2_post(const struct oauth2_conf *oc, const char *url, const char *form,
    struct oauth2_response *r, char **cause)
{
	struct oauth2_http		 h;
	struct evhttp_uri		*uri = NULL;
	struct evdns_base		*dns = NULL;
	struct evhttp_connection	*conn = NULL;
	struct evhttp_request		*req;
	struct bufferevent		*bev;
	struct evkeyvalq		*hdr;
	struct tls_ctx			*ctx = NULL;
	SSL				*ssl;
	const char			*host, *path, *query;
	char				*target = NULL, *why, *tlsmsg, *jcause;
	unsigned long			 ossl_err;
	int				 port, rc = -1;

	memset(&h, 0, sizeof h);
	oauth2_response_init(r);
	if ((uri = evhttp_uri_parse(url)) == NULL ||
	    (host = evhttp_uri_get_host(uri)) == NULL ||
	    evhttp_uri_get_scheme(uri) == NULL ||
	    strcasecmp(evhttp_uri_get_scheme(uri), "https") != 0) {
		xasprintf(cause, "invalid https URL %s", url);
		goto out;
	}
	if ((port = evhttp_uri_get_port(uri)) == -1)
		port = 443;
	path = evhttp_uri_get_path(uri);
	query = evhttp_uri_get_query(uri);
	xasprintf(&target, "%s%s%s", path != NULL && *path != '\0' ? path : "/",
	    query != NULL ? "?" : "", query != NULL ? query : "");
	if ((ctx = tls_ctx_new(oc->ca_file, &why)) == NULL) {
		xasprintf(cause, "%s: %s", url, why);
		free(why);
		goto out;
	}
	if ((ssl = tls_ssl_new(ctx, host, NULL, &why)) == NULL) {
		xasprintf(cause, "%s: %s", url, why);
		free(why);
		goto out;
	}
	if ((h.base = event_base_new()) == NULL ||
	    (dns = evdns_base_new(h.base,
	    EVDNS_BASE_INITIALIZE_NAMESERVERS)) == NULL)
		fatalx("oauth2: cannot create an event base");
	bev = bufferevent_openssl_socket_new(h.base, -1, ssl,
	    BUFFEREVENT_SSL_CONNECTING,
	    BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
	if (bev == NULL) {
		xasprintf(cause, "%s: cannot create a TLS bufferevent", url);
		goto out;
	}
	/* libevent 2.1.12 reports a close without close_notify as an error
	 * even after a complete answer. */
	bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
	conn = evhttp_connection_base_bufferevent_new(h.base, dns, bev, host,
	    (unsigned short)port);
	if (conn == NULL)
		fatalx("oauth2: cannot create an HTTP connection");
	evhttp_connection_set_timeout(conn, OAUTH2_HTTP_TIMEOUT);
	evhttp_connection_set_max_body_size(conn, OAUTH2_JSON_MAX);
	evhttp_connection_set_max_headers_size(conn, OAUTH2_JSON_MAX);
	req = evhttp_request_new(oauth2_http_done, &h);
	evhttp_request_set_error_cb(req, oauth2_http_error);
	hdr = evhttp_request_get_output_headers(req);
	evhttp_add_header(hdr, "Host", host);
	evhttp_add_header(hdr, "Content-Type",
	    "application/x-www-form-urlencoded");
	evhttp_add_header(hdr, "Accept", "application/json");
	evhttp_add_header(hdr, "Connection", "close");
	evhttp_add_header(hdr, "User-Agent", PACKAGE_NAME "/" PACKAGE_VERSION);
	evbuffer_add(evhttp_request_get_output_buffer(req), form, strlen(form));
	if (evhttp_make_request(conn, req, EVHTTP_REQ_POST, target) != 0) {
		xasprintf(cause, "%s: cannot send the request", url);
		goto out;
	}
	event_base_dispatch(h.base);
	if (h.failed || h.body == NULL) {
		ossl_err = bufferevent_get_openssl_error(bev);
		if (ossl_err != 0 || SSL_get_verify_result(ssl) != X509_V_OK) {
			tlsmsg = tls_failure(ssl, ossl_err);
			xasprintf(cause, "%s: TLS: %s", url, tlsmsg);
			free(tlsmsg);
		} else
			xasprintf(cause, "%s: %s", url,
			    oauth2_http_strerror(h.err));
		goto out;
	}
	if (oauth2_json_parse(h.body, h.len, r, &jcause) != 0) {
		xasprintf(cause, "%s: HTTP %d with %s", url, h.status, jcause);
		free(jcause);
		goto out;
	}
	if (r->error == NULL && (h.status < 200 || h.status > 299)) {
		xasprintf(cause, "%s: HTTP %d", url, h.status);
		oauth2_response_clear(r);
		goto out;
	}
	rc = 0;
out:
	if (conn != NULL)
		evhttp_connection_free(conn);
	if (dns != NULL)
		evdns_base_free(dns, 0);
	if (h.base != NULL)
		event_base_free(h.base);
	if (h.body != NULL) {
		explicit_bzero(h.body, h.len);
		free(h.body);
	}
	tls_ctx_free(ctx);
	free(target);
	if (uri != NULL)
		evhttp_uri_free(uri);
	return (rc);
}

/* ---- forms, PKCE --------------------------------------------------------- */

char *
oauth2_form(const char *const *pairs)
{
	struct evbuffer	*b;
	char		*v, *out;
	size_t		 len;
	int		 first = 1;

	b = evbuffer_new();
	for (; pairs[0] != NULL; pairs += 2) {
		if (pairs[1] == NULL)
			continue;
		if ((v = evhttp_uriencode(pairs[1], -1, 0)) == NULL)
			fatalx("oauth2: cannot encode a form value");
		evbuffer_add_printf(b, "%s%s=%s", first ? "" : "&", pairs[0], v);
		explicit_bzero(v, strlen(v));
		free(v);
		first = 0;
	}
	len = evbuffer_get_length(b);
	out = xmalloc(len + 1);
	evbuffer_remove(b, out, len);
	out[len] = '\0';
	/* evbuffer chains are freed without a wipe: keep them short-lived. */
	evbuffer_free(b);
	return (out);
}

char *
oauth2_base64url(const unsigned char *in, size_t len)
{
	char	*out, *p;
	size_t	 n;

	out = xmalloc(4 * ((len + 2) / 3) + 1);
	n = (size_t)EVP_EncodeBlock((unsigned char *)out, in, (int)len);
	while (n > 0 && out[n - 1] == '=')
		n--;
	out[n] = '\0';
	for (p = out; *p != '\0'; p++) {
		if (*p == '+')
			*p = '-';
		else if (*p == '/')
			*p = '_';
	}
	return (out);
}

char *
oauth2_pkce_challenge(const char *verifier)
{
	unsigned char	md[SHA256_DIGEST_LENGTH];

	SHA256((const unsigned char *)verifier, strlen(verifier), md);
	return (oauth2_base64url(md, sizeof md));
}

/* len random bytes as base64url (state, PKCE verifier). */
static char *
oauth2_random(size_t len)
{
	unsigned char	buf[64];

	if (len > sizeof buf || RAND_bytes(buf, (int)len) != 1)
		fatalx("oauth2: no random bytes");
	return (oauth2_base64url(buf, len));
}

/* ---- grants ---------------------------------------------------------------- */

/* The client secret (free with xfree_secret), NULL when the client has
 * none; -1 on error. */
static int
oauth2_client_secret(const struct oauth2_conf *oc, char **secret,
    char **cause)
{
	*secret = NULL;
	if (oc->client_secret_file == NULL)
		return (0);
	*secret = oauth2_read_line(oc->client_secret_file,
	    "client_secret_file", OAUTH2_SECRET_MAX, cause);
	if (*secret == NULL)
		return (-1);
	log_add_secret(*secret);
	return (0);
}

/* "error: description" of an error answer, sanitised (server text). */
static char *
oauth2_error_text(const struct oauth2_response *r)
{
	char	*e, *d = NULL, *s;

	e = log_sanitize(r->error, strlen(r->error), 64);
	if (r->error_description != NULL)
		d = log_sanitize(r->error_description,
		    strlen(r->error_description), 300);
	xasprintf(&s, "%s%s%s", e, d != NULL ? ": " : "", d != NULL ? d : "");
	free(e);
	free(d);
	return (s);
}

/* The end of a successful token answer: the access token into the cache,
 * a new refresh token (rotation, or the first grant) into the store. */
static int
oauth2_took(const struct account_conf *ac, const struct oauth2_response *r,
    const char *old_refresh, char **cause)
{
	const struct oauth2_conf	*oc = ac->oauth2;
	long long			 ttl;

	if (r->access_token == NULL || *r->access_token == '\0') {
		xasprintf(cause, "account %s: the token endpoint %s answered "
		    "without an access_token", ac->name, oc->token_url);
		return (-1);
	}
	if (r->token_type != NULL && strcasecmp(r->token_type, "bearer") != 0)
		log_warnx("account %s: token_type is '%s', not Bearer; using "
		    "the token anyway", ac->name, r->token_type);
	if (r->refresh_token != NULL && (old_refresh == NULL ||
	    strcmp(r->refresh_token, old_refresh) != 0)) {
		log_add_secret(r->refresh_token);
		if (oauth2_store_save(oc->token_file, r->refresh_token,
		    cause) != 0)
			return (-1);
	} else if (old_refresh == NULL) {
		xasprintf(cause, "account %s: the token endpoint granted no "
		    "refresh_token (is offline access in the scope, or "
		    "access_type=offline allowed for the client?)", ac->name);
		return (-1);
	}
	ttl = r->expires_in >= 0 ? r->expires_in : OAUTH2_DEFAULT_EXPIRY;
	if (ttl > 365LL * 86400)
		ttl = 365LL * 86400;
	oauth2_cache_put(oc->token_file, r->access_token,
	    oauth2_now() + (time_t)ttl);
	return (0);
}

/* One refresh grant with refresh token rt: 0 and the endpoint's answer
 * in *r (an error answer too), or -1 and *cause. */
static int
oauth2_refresh_post(const struct account_conf *ac, const char *rt,
    const char *secret, struct oauth2_response *r, char **cause)
{
	const struct oauth2_conf	*oc = ac->oauth2;
	char				*form, *why;
	const char			*pairs[9];
	int				 rc;

	pairs[0] = "grant_type"; pairs[1] = "refresh_token";
	pairs[2] = "refresh_token"; pairs[3] = rt;
	pairs[4] = "client_id"; pairs[5] = oc->client_id;
	pairs[6] = "client_secret"; pairs[7] = secret;
	pairs[8] = NULL;
	form = oauth2_form(pairs);
	if ((rc = oauth2_post(oc, oc->token_url, form, r, &why)) != 0) {
		xasprintf(cause, "account %s: token refresh: %s", ac->name, why);
		free(why);
	}
	xfree_secret(form);
	return (rc);
}

/* The refresh token now in the token file if it is not used (the one just
 * refused), else NULL: another process (a refresh left to finish by a
 * stopped daemon, a --once run, a refresh without the lock) may have
 * rotated it meanwhile. */
static char *
oauth2_store_changed(const char *path, const char *used)
{
	char	*rt, *why = NULL;
	int	 missing;

	if ((rt = oauth2_store_load(path, &missing, &why)) == NULL) {
		free(why);
		return (NULL);
	}
	if (strcmp(rt, used) == 0) {
		xfree_secret(rt);
		return (NULL);
	}
	return (rt);
}

/* The refresh token of the store, or NULL and *cause (*reauth when there
 * is none). */
static char *
oauth2_refresh_load(const struct account_conf *ac, int *reauth, char **cause)
{
	const struct oauth2_conf	*oc = ac->oauth2;
	char				*rt, *why;
	int				 missing;

	if ((rt = oauth2_store_load(oc->token_file, &missing, &why)) != NULL)
		return (rt);
	if (missing) {
		*reauth = 1;
		xasprintf(cause, "account %s: no refresh token in %s: "
		    "re-authorisation needed: run mailfetchd --oauth2-setup %s",
		    ac->name, oc->token_file, ac->name);
	} else
		xasprintf(cause, "account %s: %s", ac->name, why);
	free(why);
	return (NULL);
}

/* The cause of a refused refresh (r->error set). */
static void
oauth2_refused(const struct account_conf *ac, const struct oauth2_response *r,
    int *reauth, char **cause)
{
	char	*txt;

	txt = oauth2_error_text(r);
	/* RFC 6749 5.2: the grant is invalid, expired or revoked; asking
	 * again cannot help, only a new grant. */
	if (strcmp(r->error, "invalid_grant") == 0) {
		*reauth = 1;
		xasprintf(cause, "account %s: the refresh token was refused "
		    "(%s): re-authorisation needed: run mailfetchd "
		    "--oauth2-setup %s", ac->name, txt, ac->name);
	} else
		xasprintf(cause, "account %s: token refresh refused by %s: %s",
		    ac->name, ac->oauth2->token_url, txt);
	free(txt);
}

/* The refresh, under the token file's lock: the refresh token is read
 * only now (another process may just have rotated it), and an
 * invalid_grant is final only if the file still holds the refused token;
 * otherwise the new one is tried, once. */
static int
oauth2_refresh_locked(const struct account_conf *ac, int *reauth,
    char **cause)
{
	const struct oauth2_conf	*oc = ac->oauth2;
	struct oauth2_response		 r;
	char				*rt, *secret, *why, *next;
	int				 rc = -1;

	oauth2_response_init(&r);
	if ((rt = oauth2_refresh_load(ac, reauth, cause)) == NULL)
		return (-1);
	if (oauth2_client_secret(oc, &secret, &why) != 0) {
		xasprintf(cause, "account %s: %s", ac->name, why);
		free(why);
		xfree_secret(rt);
		return (-1);
	}
	if (oauth2_refresh_post(ac, rt, secret, &r, cause) != 0)
		goto out;
	if (r.error != NULL && strcmp(r.error, "invalid_grant") == 0 &&
	    (next = oauth2_store_changed(oc->token_file, rt)) != NULL) {
		log_info("account %s: the refresh token was refused, but %s "
		    "holds a new one since: refreshing with it", ac->name,
		    oc->token_file);
		oauth2_response_clear(&r);
		xfree_secret(rt);
		rt = next;
		if (oauth2_refresh_post(ac, rt, secret, &r, cause) != 0)
			goto out;
	}
	if (r.error != NULL) {
		oauth2_refused(ac, &r, reauth, cause);
		goto out;
	}
	rc = oauth2_took(ac, &r, rt, cause);
	if (rc == 0)
		log_info("account %s: OAuth2 access token refreshed",
		    ac->name);
out:
	oauth2_response_clear(&r);
	xfree_secret(secret);
	xfree_secret(rt);
	return (rc);
}

/* Takes the refresh lock of token_file (TOKENFILE.lock, flock'd), so that
 * processes sharing a token file (a refresh child the stopped daemon left
 * to finish and the restarted daemon's, a --once run) refresh one after
 * the other: with an endpoint that rotates refresh tokens, two refreshes
 * with the same one leave one of them refused (invalid_grant). The wait
 * is bounded (OAUTH2_LOCK_WAIT), by polling: flock has no timeout. The
 * lock's fd; -2 when the token file's directory does not exist (no token
 * file, nothing to serialise); or -1 and *cause. */
static int
oauth2_lock(const char *token_file, char **cause)
{
	struct timespec	 start, now, nap = { 0, 50 * 1000 * 1000 };
	char		*path;
	int		 fd, saved;

	xasprintf(&path, "%s.lock", token_file);
	if ((fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW,
	    S_IRUSR | S_IWUSR)) == -1) {
		if (errno == ENOENT) {
			free(path);
			return (-2);
		}
		xasprintf(cause, "cannot open the refresh lock file %s: %s",
		    path, strerror(errno));
		free(path);
		return (-1);
	}
	clock_gettime(CLOCK_MONOTONIC, &start);
	while (flock(fd, LOCK_EX | LOCK_NB) == -1) {
		saved = errno;
		clock_gettime(CLOCK_MONOTONIC, &now);
		if ((saved != EWOULDBLOCK && saved != EINTR) ||
		    now.tv_sec - start.tv_sec >= OAUTH2_LOCK_WAIT) {
			if (saved != EWOULDBLOCK && saved != EINTR)
				xasprintf(cause, "cannot lock %s: %s", path,
				    strerror(saved));
			else
				xasprintf(cause, "another refresh of %s has "
				    "held %s for over %d seconds", token_file,
				    path, OAUTH2_LOCK_WAIT);
			close(fd);
			free(path);
			return (-1);
		}
		nanosleep(&nap, NULL);
	}
	free(path);
	return (fd);
}

/* Refreshes the access token with the stored refresh token, under the
 * token file's lock. */
static int
oauth2_refresh(const struct account_conf *ac, int *reauth, char **cause)
{
	char	*why;
	int	 fd, rc;

	if ((fd = oauth2_lock(ac->oauth2->token_file, &why)) == -1) {
		xasprintf(cause, "account %s: token refresh: %s", ac->name,
		    why);
		free(why);
		return (-1);
	}
	rc = oauth2_refresh_locked(ac, reauth, cause);
	if (fd >= 0)
		close(fd);
	return (rc);
}

char *
oauth2_token_cached(const struct account_conf *ac, time_t *expires_at)
{
	struct oauth2_cached	*c;

	if (ac->oauth2 == NULL || ac->oauth2->token_file == NULL ||
	    (c = oauth2_cache_find(ac->oauth2->token_file)) == NULL ||
	    oauth2_needs_refresh(c->expires_at, oauth2_now()))
		return (NULL);
	*expires_at = c->expires_at;
	return (xstrdup(c->access_token));
}

char *
oauth2_token(const struct account_conf *ac, int *reauth, char **cause)
{
	struct oauth2_cached	*c;

	*reauth = 0;
	if (ac->oauth2 == NULL || ac->oauth2->token_file == NULL) {
		xasprintf(cause, "account %s has no oauth2 section", ac->name);
		return (NULL);
	}
	c = oauth2_cache_find(ac->oauth2->token_file);
	if (c == NULL || oauth2_needs_refresh(c->expires_at, oauth2_now())) {
		if (oauth2_refresh(ac, reauth, cause) != 0)
			return (NULL);
		c = oauth2_cache_find(ac->oauth2->token_file);
	}
	return (xstrdup(c->access_token));
}

/* Sleeps for secs seconds (the device flow's polling interval). */
static void
oauth2_sleep(long long secs)
{
	struct timespec	ts;

	ts.tv_sec = (time_t)secs;
	ts.tv_nsec = 0;
	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

/* RFC 8628: asks for a device code, shows the user where to enter it,
 * polls the token endpoint until the grant, a refusal or the expiry. */
static int
oauth2_device_flow(const struct account_conf *ac, FILE *out, char **cause)
{
	const struct oauth2_conf	*oc = ac->oauth2;
	struct oauth2_response		 d, r;
	char				*secret, *form = NULL, *why, *txt;
	const char			*pairs[11];
	long long			 interval, waited = 0, limit;
	int				 rc = -1;

	oauth2_response_init(&d);
	oauth2_response_init(&r);
	if (oauth2_client_secret(oc, &secret, cause) != 0)
		return (-1);
	pairs[0] = "client_id"; pairs[1] = oc->client_id;
	pairs[2] = "scope"; pairs[3] = oc->scope;
	pairs[4] = "client_secret"; pairs[5] = secret;
	pairs[6] = NULL; pairs[7] = NULL;
	form = oauth2_form(pairs);
	if (oauth2_post(oc, oc->device_url, form, &d, &why) != 0) {
		xasprintf(cause, "device authorisation: %s", why);
		free(why);
		goto out;
	}
	xfree_secret(form);
	form = NULL;
	if (d.error != NULL) {
		txt = oauth2_error_text(&d);
		xasprintf(cause, "device authorisation refused by %s: %s",
		    oc->device_url, txt);
		free(txt);
		goto out;
	}
	if (d.device_code == NULL || d.user_code == NULL ||
	    d.verification_uri == NULL) {
		xasprintf(cause, "%s answered without device_code, user_code or "
		    "verification_uri", oc->device_url);
		goto out;
	}
	interval = d.interval > 0 ? d.interval : 5;
	limit = d.expires_in > 0 && d.expires_in < OAUTH2_SETUP_MAX_WAIT ?
	    d.expires_in : OAUTH2_SETUP_MAX_WAIT;
	fprintf(out, "To authorise mailfetchd for account %s, open\n  %s\n"
	    "and enter the code\n  %s\n", ac->name, d.verification_uri,
	    d.user_code);
	if (d.verification_uri_complete != NULL)
		fprintf(out, "(or open %s)\n", d.verification_uri_complete);
	fprintf(out, "Waiting up to %lld seconds...\n", limit);
	fflush(out);
	pairs[0] = "grant_type";
	pairs[1] = "urn:ietf:params:oauth:grant-type:device_code";
	pairs[2] = "device_code"; pairs[3] = d.device_code;
	pairs[4] = "client_id"; pairs[5] = oc->client_id;
	pairs[6] = "client_secret"; pairs[7] = secret;
	pairs[8] = NULL; pairs[9] = NULL;
	form = oauth2_form(pairs);
	for (;;) {
		if (waited + interval > limit) {
			xasprintf(cause, "the code expired before it was "
			    "entered (run --oauth2-setup again)");
			goto out;
		}
		oauth2_sleep(interval);
		waited += interval;
		oauth2_response_clear(&r);
		if (oauth2_post(oc, oc->token_url, form, &r, &why) != 0) {
			xasprintf(cause, "token request: %s", why);
			free(why);
			goto out;
		}
		if (r.error == NULL)
			break;
		if (strcmp(r.error, "authorization_pending") == 0)
			continue;
		if (strcmp(r.error, "slow_down") == 0) {
			interval += 5;	/* RFC 8628 3.5 */
			continue;
		}
		txt = oauth2_error_text(&r);
		xasprintf(cause, "authorisation %s: %s",
		    strcmp(r.error, "access_denied") == 0 ? "denied" :
		    strcmp(r.error, "expired_token") == 0 ? "expired" :
		    "failed", txt);
		free(txt);
		goto out;
	}
	rc = oauth2_took(ac, &r, NULL, cause);
out:
	oauth2_response_clear(&d);
	oauth2_response_clear(&r);
	xfree_secret(form);
	xfree_secret(secret);
	return (rc);
}

/* What the loopback listener received. */
struct oauth2_loopback {
	struct event_base	*base;
	const char		*state;
	char			*code;
	char			*error;
	int			 done;
};

/* The browser's redirect: GET /?code=...&state=... (or error=...). */
static void
oauth2_loopback_cb(struct evhttp_request *req, void *arg)
{
	struct oauth2_loopback	*lb = arg;
	struct evkeyvalq	 q;
	const char		*query, *code, *state, *err, *msg;
	struct evbuffer		*b;

	TAILQ_INIT(&q);
	query = evhttp_uri_get_query(evhttp_request_get_evhttp_uri(req));
	if (query == NULL || evhttp_parse_query_str(query, &q) != 0) {
		evhttp_send_error(req, HTTP_NOTFOUND, NULL);
		return;
	}
	code = evhttp_find_header(&q, "code");
	state = evhttp_find_header(&q, "state");
	err = evhttp_find_header(&q, "error");
	if (state == NULL || strcmp(state, lb->state) != 0) {
		/* Not the answer to our request (CSRF, or a stray visit). */
		evhttp_clear_headers(&q);
		evhttp_send_error(req, HTTP_BADREQUEST, "state mismatch");
		return;
	}
	if (code != NULL)
		lb->code = xstrdup(code);
	else
		lb->error = xstrdup(err != NULL ? err : "no code");
	evhttp_clear_headers(&q);
	msg = lb->code != NULL ? "mailfetchd received the authorisation; "
	    "you can close this page.\n" : "mailfetchd: the authorisation "
	    "failed; see the terminal.\n";
	b = evbuffer_new();
	evbuffer_add(b, msg, strlen(msg));
	evhttp_add_header(evhttp_request_get_output_headers(req),
	    "Content-Type", "text/plain; charset=utf-8");
	evhttp_send_reply(req, HTTP_OK, "OK", b);
	evbuffer_free(b);
	lb->done = 1;
	event_base_loopexit(lb->base, NULL);
}

/* Listens on 127.0.0.1 (redirect_port, or any free port); *port is the
 * port bound. */
static struct evhttp *
oauth2_listen(struct event_base *base, unsigned int want, unsigned int *port,
    char **cause)
{
	struct evhttp			*http;
	struct evhttp_bound_socket	*bs;
	struct sockaddr_in		 sin;
	socklen_t			 slen = sizeof sin;

	if ((http = evhttp_new(base)) == NULL)
		fatalx("oauth2: cannot create an HTTP listener");
	bs = evhttp_bind_socket_with_handle(http, "127.0.0.1",
	    (unsigned short)want);
	if (bs == NULL || getsockname(evhttp_bound_socket_get_fd(bs),
	    (struct sockaddr *)&sin, &slen) != 0) {
		xasprintf(cause, "cannot listen on 127.0.0.1:%u: %s", want,
		    strerror(errno));
		evhttp_free(http);
		return (NULL);
	}
	*port = ntohs(sin.sin_port);
	return (http);
}

/* RFC 8252 loopback redirect with PKCE: prints the authorisation URL,
 * waits for the browser to come back with the code, exchanges it. */
static int
oauth2_loopback_flow(const struct account_conf *ac, FILE *out, char **cause)
{
	const struct oauth2_conf	*oc = ac->oauth2;
	struct oauth2_loopback		 lb;
	struct oauth2_response		 r;
	struct evhttp			*http = NULL;
	struct timeval			 tv = { OAUTH2_LOOPBACK_WAIT, 0 };
	char				*verifier, *challenge, *state, *redirect;
	char				*q, *secret = NULL, *form = NULL, *why;
	char				*txt;
	const char			*pairs[19];
	unsigned int			 port;
	int				 rc = -1;

	memset(&lb, 0, sizeof lb);
	oauth2_response_init(&r);
	verifier = oauth2_random(32);	/* 43 characters (RFC 7636 4.1) */
	challenge = oauth2_pkce_challenge(verifier);
	state = oauth2_random(16);
	redirect = NULL;
	if ((lb.base = event_base_new()) == NULL)
		fatalx("oauth2: cannot create an event base");
	if ((http = oauth2_listen(lb.base, oc->redirect_port, &port,
	    cause)) == NULL)
		goto out;
	xasprintf(&redirect, "http://127.0.0.1:%u/", port);
	pairs[0] = "response_type"; pairs[1] = "code";
	pairs[2] = "client_id"; pairs[3] = oc->client_id;
	pairs[4] = "redirect_uri"; pairs[5] = redirect;
	pairs[6] = "scope"; pairs[7] = oc->scope;
	pairs[8] = "state"; pairs[9] = state;
	pairs[10] = "code_challenge"; pairs[11] = challenge;
	pairs[12] = "code_challenge_method"; pairs[13] = "S256";
	/* Google grants a refresh token only with access_type=offline, and
	 * again for a client it knows only with prompt=consent. */
	pairs[14] = "access_type";
	pairs[15] = oc->provider == OAUTH2_PROVIDER_GOOGLE ? "offline" : NULL;
	pairs[16] = "prompt";
	pairs[17] = oc->provider == OAUTH2_PROVIDER_GOOGLE ? "consent" : NULL;
	pairs[18] = NULL;
	q = oauth2_form(pairs);
	lb.state = state;
	evhttp_set_gencb(http, oauth2_loopback_cb, &lb);
	fprintf(out, "To authorise mailfetchd for account %s, open this URL "
	    "in a browser on this machine\n(or forward port %u to it):\n\n"
	    "%s%s%s\n\nWaiting up to %d seconds for the redirect to %s ...\n",
	    ac->name, port, oc->auth_url, strchr(oc->auth_url, '?') != NULL ?
	    "&" : "?", q, OAUTH2_LOOPBACK_WAIT, redirect);
	fflush(out);
	free(q);
	event_base_loopexit(lb.base, &tv);
	event_base_dispatch(lb.base);
	if (!lb.done) {
		xasprintf(cause, "no redirect came back within %d seconds",
		    OAUTH2_LOOPBACK_WAIT);
		goto out;
	}
	if (lb.code == NULL) {
		txt = log_sanitize(lb.error, strlen(lb.error), 100);
		xasprintf(cause, "authorisation failed: %s", txt);
		free(txt);
		goto out;
	}
	if (oauth2_client_secret(oc, &secret, cause) != 0)
		goto out;
	pairs[0] = "grant_type"; pairs[1] = "authorization_code";
	pairs[2] = "code"; pairs[3] = lb.code;
	pairs[4] = "redirect_uri"; pairs[5] = redirect;
	pairs[6] = "client_id"; pairs[7] = oc->client_id;
	pairs[8] = "code_verifier"; pairs[9] = verifier;
	pairs[10] = "client_secret"; pairs[11] = secret;
	pairs[12] = NULL;
	form = oauth2_form(pairs);
	if (oauth2_post(oc, oc->token_url, form, &r, &why) != 0) {
		xasprintf(cause, "token request: %s", why);
		free(why);
		goto out;
	}
	if (r.error != NULL) {
		txt = oauth2_error_text(&r);
		xasprintf(cause, "code exchange refused by %s: %s",
		    oc->token_url, txt);
		free(txt);
		goto out;
	}
	rc = oauth2_took(ac, &r, NULL, cause);
out:
	if (http != NULL)
		evhttp_free(http);
	if (lb.base != NULL)
		event_base_free(lb.base);
	oauth2_response_clear(&r);
	xfree_secret(lb.code);
	free(lb.error);
	xfree_secret(form);
	xfree_secret(secret);
	xfree_secret(verifier);
	free(challenge);
	free(state);
	free(redirect);
	return (rc);
}

/* Creates the directory of the token file (the state directory, 0700)
 * when it does not exist yet: setup may run before the first fetch. */
static int
oauth2_mkdir(const char *token_file, char **cause)
{
	char	*copy, *dir;
	int	 rc = 0;

	copy = xstrdup(token_file);
	dir = dirname(copy);
	if (mkdir(dir, S_IRWXU) == -1 && errno != EEXIST) {
		xasprintf(cause, "cannot create %s: %s", dir, strerror(errno));
		rc = -1;
	}
	free(copy);
	return (rc);
}

int
oauth2_setup(const struct account_conf *ac, FILE *out, char **cause)
{
	const struct oauth2_conf	*oc = ac->oauth2;
	struct oauth2_cached		*c;
	char				*why;
	int				 rc;

	if (oc == NULL) {
		xasprintf(cause, "account %s has no oauth2 section (see "
		    "mailfetchd.conf(5))", ac->name);
		return (-1);
	}
	if (oauth2_mkdir(oc->token_file, cause) != 0)
		return (-1);
	if (oc->device_url != NULL)
		rc = oauth2_device_flow(ac, out, &why);
	else
		rc = oauth2_loopback_flow(ac, out, &why);
	if (rc != 0) {
		xasprintf(cause, "account %s: %s", ac->name, why);
		free(why);
		return (-1);
	}
	c = oauth2_cache_find(oc->token_file);
	fprintf(out, "Account %s authorised: refresh token stored in %s "
	    "(mode 0600); the access token is valid for %lld seconds and is "
	    "refreshed automatically.\nA running daemon picks the account up "
	    "at its next reload (systemctl reload mailfetchd).\n", ac->name,
	    oc->token_file, c != NULL ? (long long)(c->expires_at -
	    oauth2_now()) : 0LL);
	return (0);
}

int
oauth2_setup_account(const struct config *conf, const char *name, FILE *out)
{
	const struct account_conf	*ac = NULL;
	char				*cause;
	size_t				 i;

	/* Not config_find_account: keeps config.c out of test_oauth2. */
	for (i = 0; i < conf->naccounts; i++) {
		if (strcmp(conf->accounts[i].name, name) == 0)
			ac = &conf->accounts[i];
	}
	if (ac == NULL) {
		fprintf(stderr, "mailfetchd: no account '%s' in %s\n", name,
		    conf->path);
		return (EXIT_CONFIG);
	}
	if (ac->oauth2 == NULL) {
		fprintf(stderr, "mailfetchd: account %s has no oauth2 section "
		    "(see mailfetchd.conf(5))\n", name);
		return (EXIT_CONFIG);
	}
	if (oauth2_setup(ac, out, &cause) != 0) {
		fprintf(stderr, "mailfetchd: %s\n", cause);
		free(cause);
		return (EXIT_AUTH);
	}
	return (fflush(out) == 0 ? 0 : EXIT_LOCAL);
}
