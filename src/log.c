/* log.c: plain stderr lines, or structured journal entries when stderr is
 * journald's stream. Every line passes through the secret filter and every
 * server-supplied string through log_sanitize() before it gets here. */
#include "log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "notify.h"
#include "xmalloc.h"

#define LOG_MAX_SECRETS	32
#define LOG_REDACTED	"********"

static enum log_level	 log_level = LOG_LVL_INFO;
static int		 log_journal;	/* stderr is journald's stream */
static char		*log_secrets[LOG_MAX_SECRETS];
static void		(*log_line_hook)(void);

static const char *log_level_names[] = {
	"error", "warning", "notice", "info", "debug",
};

/* True when $JOURNAL_STREAM names the device:inode of our stderr, as
 * systemd.exec(5) recommends before switching to the native protocol. */
static int
log_stderr_is_journal(void)
{
	const char		*env;
	struct stat		 sb;
	unsigned long long	 dev, ino;

	if ((env = getenv("JOURNAL_STREAM")) == NULL)
		return (0);
	if (sscanf(env, "%llu:%llu", &dev, &ino) != 2)
		return (0);
	if (fstat(STDERR_FILENO, &sb) != 0)
		return (0);
	return ((unsigned long long)sb.st_dev == dev &&
	    (unsigned long long)sb.st_ino == ino);
}

/* Sets the level and picks the backend. */
void
log_init(enum log_level level)
{
	log_level = level;
#ifdef HAVE_SYSTEMD
	log_journal = log_stderr_is_journal();
#else
	(void)log_stderr_is_journal;
	log_journal = 0;
#endif
}

void
log_set_level(enum log_level level)
{
	log_level = level;
}

enum log_level
log_get_level(void)
{
	return (log_level);
}

void
log_set_line_hook(void (*hook)(void))
{
	log_line_hook = hook;
}

void
log_force_stderr(int on)
{
	if (on)
		log_journal = 0;
}

int
log_level_from_name(const char *name)
{
	size_t	i;

	for (i = 0; i < nitems(log_level_names); i++) {
		if (strcmp(name, log_level_names[i]) == 0)
			return ((int)i);
	}
	if (strcmp(name, "warn") == 0)
		return (LOG_LVL_WARNING);
	return (-1);
}

const char *
log_level_name(enum log_level level)
{
	if ((size_t)level >= nitems(log_level_names))
		return ("unknown");
	return (log_level_names[level]);
}

/* Registers a secret to redact; empty strings are ignored (they would
 * match everywhere). */
void
log_add_secret(const char *secret)
{
	size_t	i;

	if (secret == NULL || *secret == '\0')
		return;
	for (i = 0; i < LOG_MAX_SECRETS; i++) {
		if (log_secrets[i] != NULL && strcmp(log_secrets[i], secret) == 0)
			return;
	}
	for (i = 0; i < LOG_MAX_SECRETS; i++) {
		if (log_secrets[i] == NULL) {
			log_secrets[i] = xstrdup(secret);
			return;
		}
	}
	/* Full: drop the oldest, so the newest secret is always covered. */
	xfree_secret(log_secrets[0]);
	memmove(log_secrets, log_secrets + 1,
	    (LOG_MAX_SECRETS - 1) * sizeof *log_secrets);
	log_secrets[LOG_MAX_SECRETS - 1] = xstrdup(secret);
}

void
log_clear_secrets(void)
{
	size_t	i;

	for (i = 0; i < LOG_MAX_SECRETS; i++) {
		xfree_secret(log_secrets[i]);
		log_secrets[i] = NULL;
	}
}

/* Replaces every registered secret in msg; takes ownership of msg and
 * returns the (possibly new) string, wiping any copy it drops. */
static char *
log_redact(char *msg)
{
	size_t	 i, slen, rlen = strlen(LOG_REDACTED);
	char	*hit, *out;

	for (i = 0; i < LOG_MAX_SECRETS; i++) {
		if (log_secrets[i] == NULL)
			continue;
		slen = strlen(log_secrets[i]);
		while ((hit = strstr(msg, log_secrets[i])) != NULL) {
			out = xmalloc(strlen(msg) - slen + rlen + 1);
			memcpy(out, msg, hit - msg);
			memcpy(out + (hit - msg), LOG_REDACTED, rlen);
			strcpy(out + (hit - msg) + rlen, hit + slen);
			OPENSSL_cleanse(msg, strlen(msg));
			free(msg);
			msg = out;
		}
	}
	return (msg);
}

/* log_escape()'s flags. */
enum {
	LOG_ESC_BACKSLASH = 1,	/* a backslash is doubled */
	LOG_ESC_UTF8 = 2	/* well-formed UTF-8 text stays as it is */
};

/* The length of the UTF-8 character at p that a terminal shows as text,
 * or 0: an ill-formed sequence (overlong, a surrogate, past U+10FFFF, cut
 * short) or a C1 control (U+0080..U+009F: CSI, OSC... act as ESC [ and
 * ESC ] do). */
static size_t
log_utf8_text(const unsigned char *p, size_t left)
{
	size_t		n, i;
	uint32_t	c;

	if (p[0] >= 0xc2 && p[0] <= 0xdf)
		n = 2, c = p[0] & 0x1f;
	else if (p[0] >= 0xe0 && p[0] <= 0xef)
		n = 3, c = p[0] & 0x0f;
	else if (p[0] >= 0xf0 && p[0] <= 0xf4)
		n = 4, c = p[0] & 0x07;
	else
		return (0);
	if (n > left)
		return (0);
	for (i = 1; i < n; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return (0);
		c = (c << 6) | (p[i] & 0x3f);
	}
	if (c < 0xa0 || (n == 3 && c < 0x800) || (n == 4 && c < 0x10000) ||
	    (c >= 0xd800 && c <= 0xdfff) || c > 0x10ffff)
		return (0);
	return (n);
}

/* The one escaper behind log_escape_controls() and log_sanitize(): bytes
 * outside printable ASCII become \ooo (so no server text forges a line or
 * a terminal escape), except well-formed UTF-8 text when LOG_ESC_UTF8 is
 * set; a backslash is doubled when LOG_ESC_BACKSLASH is set, so an escape
 * in the output cannot be confused with one in the input. Input past max
 * bytes is cut and marked "...". */
static char *
log_escape(const unsigned char *p, size_t len, size_t max, int flags)
{
	size_t	 i, n, cut = len < max ? len : max;
	char	*out, *o;

	out = o = xmalloc(cut * 4 + 4);
	for (i = 0; i < cut; i++) {
		if (p[i] == '\\' && (flags & LOG_ESC_BACKSLASH)) {
			*o++ = '\\';
			*o++ = '\\';
		} else if (p[i] >= 0x20 && p[i] < 0x7f)
			*o++ = (char)p[i];
		else if (p[i] >= 0x80 && (flags & LOG_ESC_UTF8) &&
		    (n = log_utf8_text(p + i, cut - i)) > 0) {
			memcpy(o, p + i, n);
			o += n;
			i += n - 1;
		} else
			o += sprintf(o, "\\%03o", p[i]);
	}
	if (len > max) {
		memcpy(o, "...", 3);
		o += 3;
	}
	*o = '\0';
	return (out);
}

char *
log_escape_controls(const char *s, int backslash)
{
	return (log_escape((const unsigned char *)s, strlen(s), SIZE_MAX,
	    LOG_ESC_UTF8 | (backslash ? LOG_ESC_BACKSLASH : 0)));
}

/* Writes one plain line: "time level: account=A folder=F uid=U: msg". */
static void
log_emit_stderr(enum log_level level, const struct log_ctx *ctx,
    const char *msg)
{
	char		 when[32];
	struct tm	 tm;
	time_t		 now;
	char		 prefix[512] = "", *folder;
	size_t		 n = 0;

	now = time(NULL);
	localtime_r(&now, &tm);
	strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S", &tm);
	if (ctx != NULL && ctx->account != NULL)
		n += snprintf(prefix + n, sizeof prefix - n, "account=%s ",
		    ctx->account);
	if (ctx != NULL && ctx->folder != NULL && n < sizeof prefix) {
		/* A server's name: no line end may forge a line. A
		 * backslash stays as it is: a role ('\Junk') reads, and
		 * is found, as configured. */
		folder = log_escape_controls(ctx->folder, 0);
		n += snprintf(prefix + n, sizeof prefix - n, "folder=%s ",
		    folder);
		free(folder);
	}
	if (ctx != NULL && ctx->uid != 0 && n < sizeof prefix)
		n += snprintf(prefix + n, sizeof prefix - n, "uid=%llu ",
		    (unsigned long long)ctx->uid);
	if (n > 0 && n < sizeof prefix)
		prefix[n - 1] = ':', prefix[n++] = ' ', prefix[n] = '\0';
	if (log_line_hook != NULL)
		log_line_hook();
	fprintf(stderr, "%s %s: %s%s\n", when, log_level_names[level], prefix,
	    msg);
	fflush(stderr);
}

/* One journal entry (notify.c speaks the journal's protocol). */
static int
log_emit_journal(enum log_level level, const struct log_ctx *ctx,
    const char *msg)
{
	if (ctx == NULL)
		return (notify_journal(level, msg, NULL, NULL, 0));
	return (notify_journal(level, msg, ctx->account, ctx->folder,
	    ctx->uid));
}

static void printflike(4, 0)
log_vmsg(enum log_level level, const struct log_ctx *ctx, const char *errstr,
    const char *fmt, va_list ap)
{
	char	*msg, *full;

	if (level > log_level)
		return;
	if (vasprintf(&msg, fmt, ap) == -1)
		return;
	if (errstr != NULL) {
		xasprintf(&full, "%s: %s", msg, errstr);
		free(msg);
		msg = full;
	}
	msg = log_redact(msg);
	/* If journald cannot take the entry, the line still goes out. */
	if (!log_journal || log_emit_journal(level, ctx, msg) < 0)
		log_emit_stderr(level, ctx, msg);
	OPENSSL_cleanse(msg, strlen(msg));
	free(msg);
}

void
log_msg(enum log_level level, const struct log_ctx *ctx, const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	log_vmsg(level, ctx, NULL, fmt, ap);
	va_end(ap);
}

void
log_warn(const char *fmt, ...)
{
	va_list	 ap;
	int	 saved = errno;

	va_start(ap, fmt);
	log_vmsg(LOG_LVL_WARNING, NULL, strerror(saved), fmt, ap);
	va_end(ap);
	errno = saved;
}

void
log_warnx(const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	log_vmsg(LOG_LVL_WARNING, NULL, NULL, fmt, ap);
	va_end(ap);
}

void
log_notice(const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	log_vmsg(LOG_LVL_NOTICE, NULL, NULL, fmt, ap);
	va_end(ap);
}

void
log_info(const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	log_vmsg(LOG_LVL_INFO, NULL, NULL, fmt, ap);
	va_end(ap);
}

void
log_debug(const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	log_vmsg(LOG_LVL_DEBUG, NULL, NULL, fmt, ap);
	va_end(ap);
}

void
fatal(const char *fmt, ...)
{
	va_list	 ap;
	int	 saved = errno;

	va_start(ap, fmt);
	log_vmsg(LOG_LVL_ERROR, NULL, strerror(saved), fmt, ap);
	va_end(ap);
	exit(1);
}

void
fatalx(const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	log_vmsg(LOG_LVL_ERROR, NULL, NULL, fmt, ap);
	va_end(ap);
	exit(1);
}

/* Escapes control and non-ASCII bytes as \ooo so that server text cannot
 * forge log lines or terminal escapes; input is cut after max bytes. */
char *
log_sanitize(const void *buf, size_t len, size_t max)
{
	return (log_escape(buf, len, max, LOG_ESC_BACKSLASH));
}
