/* mda.c: one message handed to a mail delivery agent (see mda.h).
 *
 * Three things are watched from the loop, none blocks it: the agent's
 * stdin, fed from the staged file through a non-blocking pipe a chunk at
 * a time (an agent that reads slowly or not at all holds no memory); its
 * output (stdout and stderr, one pipe), of which the first
 * MDA_OUTPUT_MAX bytes are kept for the report and the rest read and
 * dropped, so that a chatty agent never blocks on a full pipe; and its
 * exit, looked for with waitpid(WNOHANG) from a timer, not SIGCHLD, for
 * the reason hook.c gives (privsep reaps its workers with waitpid(-1)).
 * Past the timeout the supervisor kills the agent's tree
 * (secret_cmd_abort); one that does not end within MDA_KILL_MS is
 * killed itself.
 *
 * An agent that exits 0 took the message over, even one that did not
 * read all of it (its choice, logged); a staged file that could not be
 * read makes the run a failure whatever the agent said, since it may
 * have taken a truncated message: a duplicate later, never a loss. */
#include "mda.h"

#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <openssl/evp.h>

#include "cmdline.h"
#include "compat.h"
#include "config.h"
#include "lmtp.h"
#include "log.h"
#include "maildir.h"
#include "secret.h"
#include "state.h"
#include "xmalloc.h"

/* How often the agent's exit is looked for. */
#define MDA_POLL_MS	50
/* Once the agent's output ends it is exiting: its exit is looked for
 * every MDA_QUICK_MS for MDA_QUICK_POLLS polls, not MDA_POLL_MS later,
 * which cost 25 ms a message on average and widened the window in which
 * a kill hands a taken message over again (the kill loop showed it). */
#define MDA_QUICK_MS	1
#define MDA_QUICK_POLLS	50
/* After asking the supervisor to kill the agent, how long before it is
 * killed itself. */
#define MDA_KILL_MS	3000
/* The stdin feed's chunk. */
#define MDA_CHUNK	16384
/* Hex digits of mda_id. */
#define MDA_ID_HEX	32
/* Of a header line's start, what mda_content_digest must have in hand
 * to know its field name (the longest is 14 bytes). */
#define MDA_FIELD_PEEK	64

struct mda_job {
	char		*argv0;
	unsigned int	 timeout;	/* seconds */
	pid_t		 pid;
	struct timespec	 started;
	int		 killing;	/* 1: asked, 2: killed */
	long		 killed_ms;
	struct event	*ev_poll;
	int		 quick;		/* polls left at MDA_QUICK_MS */

	int		 msgfd;		/* the staged file */
	int		 infd;		/* the agent's stdin; -1: closed */
	struct event	*ev_in;
	char		 buf[MDA_CHUNK];
	size_t		 off, len;
	int		 unread;	/* the agent closed stdin early */
	char		*read_error;	/* the staged file failed us */

	int		 outfd;		/* its output; -1: closed */
	struct event	*ev_out;
	char		 out[MDA_OUTPUT_MAX + 1];
	size_t		 outlen;
	int		 outcut;	/* more than MDA_OUTPUT_MAX came */

	struct lmtp_job	*lmtp;		/* deliver = lmtp: all there is */

	mda_done_cb	 cb;
	void		*arg;
};

/* The address between v's angle brackets (before end) into out, or "". */
static void
mda_addr(const char *v, const char *end, char *out, size_t outlen)
{
	static const char	 ok[] = "abcdefghijklmnopqrstuvwxyz"
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.!#$%&'*+/=?^_`{|}~@-";
	const char		*close;
	size_t			 n;

	while (v < end && (*v == ' ' || *v == '\t'))
		v++;
	if (v == end || *v != '<' ||
	    (close = memchr(v, '>', (size_t)(end - v))) == NULL)
		return;
	n = (size_t)(close - v - 1);
	if (n == 0 || n >= outlen || strspn(v + 1, ok) < n)
		return;
	memcpy(out, v + 1, n);
	out[n] = '\0';
}

void
mda_return_path(const char *p, size_t len, char *out, size_t outlen)
{
	const char	*end = p + len, *nl;

	out[0] = '\0';
	while (p < end && (nl = memchr(p, '\n', (size_t)(end - p))) != NULL) {
		if (nl == p || (nl == p + 1 && *p == '\r'))
			return;		/* the header section ended */
		if (nl - p > 12 && strncasecmp(p, "Return-Path:", 12) == 0) {
			mda_addr(p + 12, nl, out, outlen);
			return;
		}
		p = nl + 1;
	}
}

char *
mda_id(const char *account, const char *folder, const char *key)
{
	unsigned char	 md[EVP_MAX_MD_SIZE];
	unsigned int	 mdlen = 0, i;
	char		 hex[MDA_ID_HEX + 1], *s;
	EVP_MD_CTX	*ctx;

	if ((ctx = EVP_MD_CTX_new()) == NULL ||
	    EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1)
		fatalx("mda_id: cannot digest");
	/* The NULs keep ("ab", "c") apart from ("a", "bc"). */
	EVP_DigestUpdate(ctx, account, strlen(account) + 1);
	EVP_DigestUpdate(ctx, folder, strlen(folder) + 1);
	EVP_DigestUpdate(ctx, key, strlen(key));
	EVP_DigestFinal_ex(ctx, md, &mdlen);
	EVP_MD_CTX_free(ctx);
	for (i = 0; i < MDA_ID_HEX / 2 && i < mdlen; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	xasprintf(&s, "<%s@mailfetchd>", hex);
	return (s);
}

/* The header fields a mailbox server adds to a message, or rewrites, as
 * it serves it: qpopper and UW ipop3d add "Status: RO" after a RETR (the
 * same message then has another size and content in the next session),
 * c-client and Dovecot keep their mbox bookkeeping in X-Status,
 * X-Keywords, X-UID, X-IMAP, X-IMAPbase and Content-Length, qpopper its
 * UIDs in X-UIDL. */
static const char *const mda_server_fields[] = {
	"Status", "X-Status", "X-Keywords", "X-UID", "X-IMAP", "X-IMAPbase",
	"X-UIDL", "Content-Length",
};

/* What a server writes as the value of each of mda_server_fields (same
 * order), besides blanks and line ends: Status/X-Status flag letters,
 * numbers, an empty X-Keywords (keywords are a user's words), a UIDL. A
 * value with anything else (a sender's "Status: FIRING") is not a
 * server's: mda_content_seen's odd. NULL: any printable ASCII. */
static const char *const mda_server_values[] = {
	"ROADFTU", "ROADFTU", "", "0123456789", "0123456789",
	"0123456789", NULL, "0123456789",
};

/* Of the header line at p (len bytes, its field name whole): 1 + the
 * index of its field in mda_server_fields (the name, perhaps blanks,
 * then ':'), its value's offset in *val; 0 when it is none of them. */
static int
mda_server_field(const char *p, size_t len, size_t *val)
{
	size_t	i, n;

	for (i = 0; i < nitems(mda_server_fields); i++) {
		n = strlen(mda_server_fields[i]);
		if (len <= n || strncasecmp(p, mda_server_fields[i], n) != 0)
			continue;
		while (n < len && (p[n] == ' ' || p[n] == '\t'))
			n++;
		if (n < len && p[n] == ':') {
			*val = n + 1;
			return ((int)i + 1);
		}
	}
	return (0);
}

/* Whether bytes p[0..len-1] of field f's value (f from
 * mda_server_field) are what a server would write. */
static int
mda_server_value(int f, const char *p, size_t len)
{
	const char	*ok = mda_server_values[f - 1];
	size_t		 i;

	for (i = 0; i < len; i++) {
		if (p[i] == ' ' || p[i] == '\t' || p[i] == '\r' ||
		    p[i] == '\n')
			continue;
		if (ok == NULL ? p[i] < 0x21 || p[i] > 0x7e :
		    strchr(ok, p[i]) == NULL)
			return (0);
	}
	return (1);
}

/* mda_content_digest's reading: where it is in the message. */
struct mda_scan {
	EVP_MD_CTX	*ctx;
	int		 bol;		/* at a line's start */
	int		 header;	/* in the header section */
	int		 skip;		/* in a field left out (its
					 * continuation lines too): 1 + its
					 * index in mda_server_fields */
	struct mda_seen	 seen;		/* of the fields left out */
};

/* A piece of field sc->skip's line, left out of the digest: counted,
 * and its value (from val) checked. */
static void
mda_scan_skipped(struct mda_scan *sc, const char *p, size_t len,
    size_t val, int nl)
{
	sc->seen.had = 1;
	sc->seen.bytes += len;
	sc->seen.lines += nl;
	if (!mda_server_value(sc->skip, p + val, len - val) ||
	    sc->seen.bytes > MDA_SEEN_MAX)
		sc->seen.odd = 1;
}

/* One piece of a line (up to and with its LF when nl is set). */
static void
mda_scan_piece(struct mda_scan *sc, const char *p, size_t len, int nl)
{
	size_t	val = 0;

	if (sc->header && sc->bol) {
		if (nl && (len == 1 || (len == 2 && *p == '\r')))
			sc->header = sc->skip = 0;	/* the blank line */
		else if (*p != ' ' && *p != '\t')
			sc->skip = mda_server_field(p, len, &val);
	}
	if (!sc->skip)
		EVP_DigestUpdate(sc->ctx, p, len);
	else
		mda_scan_skipped(sc, p, len, val, nl);
	sc->bol = nl;
}

/* The lines of buf[0..have-1] through mda_scan_piece: how many bytes
 * were taken. Before eof, the start of a header line too short to hold
 * its field name is left for the next read to complete. */
static size_t
mda_scan_buf(struct mda_scan *sc, const char *buf, size_t have, int eof)
{
	const char	*p = buf, *end = buf + have, *nl;
	size_t		 n;

	while (p < end) {
		nl = memchr(p, '\n', (size_t)(end - p));
		if (nl == NULL && !eof && sc->header && sc->bol &&
		    end - p < MDA_FIELD_PEEK)
			break;
		n = nl != NULL ? (size_t)(nl + 1 - p) : (size_t)(end - p);
		mda_scan_piece(sc, p, n, nl != NULL);
		p += n;
	}
	return ((size_t)(p - buf));
}

/* A content digest fed in pieces (mda_content_new): the scan, and the
 * start of a header line too short yet to name its field. */
struct mda_content {
	struct mda_scan	 sc;
	char		 hold[MDA_FIELD_PEEK];
	size_t		 have;
};

struct mda_content *
mda_content_new(void)
{
	struct mda_content	*c = xcalloc(1, sizeof *c);

	if ((c->sc.ctx = EVP_MD_CTX_new()) == NULL)
		fatalx("mda_content_new: cannot digest");
	mda_content_reset(c);
	return (c);
}

void
mda_content_free(struct mda_content *c)
{
	if (c == NULL)
		return;
	EVP_MD_CTX_free(c->sc.ctx);
	free(c);
}

void
mda_content_reset(struct mda_content *c)
{
	if (EVP_DigestInit_ex(c->sc.ctx, EVP_sha256(), NULL) != 1)
		fatalx("mda_content_reset: cannot digest");
	c->sc.bol = c->sc.header = 1;
	c->sc.skip = 0;
	memset(&c->sc.seen, 0, sizeof c->sc.seen);
	c->have = 0;
}

/* The held start of a line is completed from p a byte at a time until
 * the scan takes it (a line end, or MDA_FIELD_PEEK bytes); the rest is
 * scanned in place, its own short line start held. */
void
mda_content_update(struct mda_content *c, const char *p, size_t len)
{
	size_t	used;

	while (c->have > 0 && len > 0) {
		c->hold[c->have++] = *p++;
		len--;
		used = mda_scan_buf(&c->sc, c->hold, c->have, 0);
		memmove(c->hold, c->hold + used, c->have - used);
		c->have -= used;
	}
	if (len == 0)
		return;		/* all of it held, or taken */
	used = mda_scan_buf(&c->sc, p, len, 0);
	memcpy(c->hold, p + used, len - used);
	c->have = len - used;
}

void
mda_content_final(struct mda_content *c, unsigned char *md, size_t mdlen,
    struct mda_seen *seen)
{
	unsigned char	out[EVP_MAX_MD_SIZE];
	unsigned int	n = 0;

	(void)mda_scan_buf(&c->sc, c->hold, c->have, 1);
	if (seen != NULL)
		*seen = c->sc.seen;
	EVP_DigestFinal_ex(c->sc.ctx, out, &n);
	memset(md, 0, mdlen);
	memcpy(md, out, mdlen < n ? mdlen : n);
	mda_content_reset(c);
}

/* Feeds the file fd (pread, from its start) to c and whole: 0, or -1. */
static int
mda_content_read(int fd, struct mda_content *c, EVP_MD_CTX *whole)
{
	char	buf[8192];
	off_t	off = 0;
	ssize_t	n;

	while ((n = pread(fd, buf, sizeof buf, off)) != 0) {
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			return (-1);
		off += n;
		mda_content_update(c, buf, (size_t)n);
		EVP_DigestUpdate(whole, buf, (size_t)n);
	}
	return (0);
}

int
mda_content_digest(int fd, char *hex, size_t hexlen, struct mda_seen *seen)
{
	struct mda_content	*c = mda_content_new();
	EVP_MD_CTX		*whole = EVP_MD_CTX_new();
	unsigned char		 md[MDA_CONTENT_HEX / 2];
	unsigned char		 wmd[EVP_MAX_MD_SIZE];
	unsigned int		 wlen = 0;
	struct mda_seen		 local;
	size_t			 i;
	int			 rc;

	if (whole == NULL || EVP_DigestInit_ex(whole, EVP_sha256(), NULL) != 1)
		fatalx("mda_content_digest: cannot digest");
	if (seen == NULL)
		seen = &local;
	if ((rc = mda_content_read(fd, c, whole)) == 0) {
		mda_content_final(c, md, sizeof md, seen);
		EVP_DigestFinal_ex(whole, wmd, &wlen);
		/* With such a field a server would not write so: the
		 * whole message's. */
		if (seen != &local && seen->odd)
			memcpy(md, wmd, sizeof md);
	}
	mda_content_free(c);
	EVP_MD_CTX_free(whole);
	if (hexlen > 0)
		hex[0] = '\0';
	for (i = 0; rc == 0 && i < sizeof md && 2 * i + 2 < hexlen; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	return (rc);
}

/* Stops watching a pipe and closes it (either of the agent's). */
static void
mda_pipe_close(struct event **ev, int *fd)
{
	if (*ev != NULL)
		event_free(*ev);
	*ev = NULL;
	if (*fd != -1)
		close(*fd);
	*fd = -1;
}

static void
mda_in_close(struct mda_job *j)
{
	mda_pipe_close(&j->ev_in, &j->infd);
}


/* The next chunk of the staged file into buf: 1, 0 at its end, -1 when
 * it cannot be read (j->read_error). */
static int
mda_in_fill(struct mda_job *j)
{
	ssize_t	n;

	while ((n = read(j->msgfd, j->buf, sizeof j->buf)) == -1 &&
	    errno == EINTR)
		;
	if (n == -1) {
		xasprintf(&j->read_error, "cannot read the staged message: %s",
		    strerror(errno));
		return (-1);
	}
	j->off = 0;
	j->len = (size_t)n;
	return (n > 0);
}

/* The agent's stdin can take more. */
static void
mda_in_cb(evutil_socket_t fd, short what, void *arg)
{
	struct mda_job	*j = arg;
	ssize_t		 n;

	(void)fd;
	(void)what;
	if (j->off == j->len && mda_in_fill(j) != 1) {
		/* EOF for the agent; after a read error it is killed:
		 * what it got is not the message. */
		if (j->read_error != NULL && j->killing == 0) {
			secret_cmd_abort(j->pid);
			j->killing = 1;
			j->killed_ms = secret_cmd_elapsed_ms(&j->started);
		}
		mda_in_close(j);
		if (j->read_error == NULL)
			secret_cmd_release(j->pid);
		return;
	}
	n = write(j->infd, j->buf + j->off, j->len - j->off);
	if (n == -1 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n == -1) {
		/* EPIPE: the agent closed its stdin (or exited). */
		j->unread = 1;
		mda_in_close(j);
		secret_cmd_release(j->pid);
		return;
	}
	j->off += (size_t)n;
}

static void
mda_out_close(struct mda_job *j)
{
	mda_pipe_close(&j->ev_out, &j->outfd);
}

/* Reads what the agent wrote: kept up to MDA_OUTPUT_MAX, then dropped. */
static void
mda_out_read(struct mda_job *j)
{
	char	 tmp[4096];
	size_t	 room;
	ssize_t	 n;

	while (j->outfd != -1) {
		n = read(j->outfd, tmp, sizeof tmp);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && errno == EAGAIN)
			return;
		if (n <= 0) {
			mda_out_close(j);
			return;
		}
		room = MDA_OUTPUT_MAX - j->outlen;
		if ((size_t)n > room)
			j->outcut = 1;
		memcpy(j->out + j->outlen, tmp, (size_t)n < room ?
		    (size_t)n : room);
		j->outlen += (size_t)n < room ? (size_t)n : room;
	}
}

static void
mda_out_cb(evutil_socket_t fd, short what, void *arg)
{
	struct mda_job	*j = arg;
	struct timeval	 now = { 0, 0 };

	(void)fd;
	(void)what;
	mda_out_read(j);
	if (j->outfd == -1 && j->quick == 0) {
		j->quick = MDA_QUICK_POLLS;
		evtimer_add(j->ev_poll, &now);
	}
}

/* What the agent said, escaped for one log line ("" when nothing). */
static char *
mda_output_text(struct mda_job *j)
{
	char	*e, *s;

	while (j->outlen > 0 && (j->out[j->outlen - 1] == '\n' ||
	    j->out[j->outlen - 1] == '\r'))
		j->outlen--;
	if (j->outlen == 0)
		return (xstrdup(""));
	e = log_sanitize(j->out, j->outlen, MDA_OUTPUT_MAX);
	xasprintf(&s, "; it said: %s%s", e, j->outcut ? " [...]" : "");
	free(e);
	return (s);
}

/* The agent ended (ws: its wait status): classified, reported. */
static void
mda_end(struct mda_job *j, int ws)
{
	enum mda_result	 res;
	char		*how, *said, *text = NULL;

	mda_out_read(j);
	if (j->infd != -1 && j->read_error == NULL &&
	    (j->off < j->len || mda_in_fill(j) == 1))
		j->unread = 1;	/* it ended with the message not all fed */
	said = mda_output_text(j);
	how = secret_cmd_how(ws, j->killing != 0 && j->read_error == NULL,
	    j->timeout);
	if (j->read_error != NULL) {
		res = MDA_BROKEN;
		xasprintf(&text, "mda_command '%s' was stopped: %s%s",
		    j->argv0, j->read_error, said);
	} else if (how == NULL) {
		res = MDA_DELIVERED;
		if (j->unread)
			xasprintf(&text, "mda_command '%s' exited 0 without "
			    "reading the whole message; counted as "
			    "delivered%s", j->argv0, said);
	} else if (j->killing == 0 && WIFEXITED(ws) &&
	    WEXITSTATUS(ws) == MDA_EX_TEMPFAIL) {
		res = MDA_TEMPFAIL;
		xasprintf(&text, "mda_command '%s' asked to try again later "
		    "(exit status 75, EX_TEMPFAIL)%s", j->argv0, said);
	} else {
		/* Killed, it said nothing of the message. */
		res = j->killing == 0 && WIFEXITED(ws) ? MDA_FAILED :
		    MDA_BROKEN;
		xasprintf(&text, "mda_command '%s' %s%s", j->argv0, how, said);
	}
	free(how);
	free(said);
	j->pid = -1;
	j->cb(res, text, j->arg);
	free(text);
	mda_job_free(j);
}

/* The poll: ended yet, or past the timeout? */
static void
mda_poll_cb(evutil_socket_t fd, short what, void *arg)
{
	struct mda_job	*j = arg;
	struct timeval	 tv = { 0, MDA_POLL_MS * 1000 };
	pid_t		 pid;
	int		 ws = 0;

	(void)fd;
	(void)what;
	while ((pid = waitpid(j->pid, &ws, WNOHANG)) == -1 && errno == EINTR)
		;
	if (pid == j->pid || pid == -1) {
		mda_end(j, ws);
		return;
	}
	secret_cmd_escalate(j->pid, &j->started, (long)j->timeout * 1000,
	    MDA_KILL_MS, &j->killing, &j->killed_ms);
	if (j->quick > 0 && --j->quick > 0)
		tv.tv_usec = MDA_QUICK_MS * 1000;
	evtimer_add(j->ev_poll, &tv);
}

/* The agent's argv: the command split, its placeholders replaced. */
static char **
mda_argv(const char *command, const struct mda_msg *m, char **cause)
{
	const char	*values[] = { m->account, m->folder, m->user,
			    m->sender };
	char		**argv, *why;

	if (cmdline_split(command, &argv, &why) != 0 ||
	    cmdline_expand(argv, MDA_KEYS, values, &why) != 0) {
		xasprintf(cause, "mda_command: %s", why);
		free(why);
		cmdline_free(argv);
		return (NULL);
	}
	return (argv);
}

/* The environment the agent gets besides the daemon's. */
static char **
mda_env(const struct mda_msg *m)
{
	char	**env = xcalloc(3, sizeof *env);

	xasprintf(&env[0], "MAILFETCHD_ACCOUNT=%s", m->account);
	xasprintf(&env[1], "MAILFETCHD_FOLDER=%s", m->folder);
	return (env);
}

/* Starts the agent with stdin and output pipes: 0, or -1 and *cause. */
static int
mda_spawn(struct mda_job *j, char **argv, char **env, char **cause)
{
	struct secret_cmd	c;
	int			in[2], out[2];

	if (pipe2(in, O_CLOEXEC) == -1) {
		xasprintf(cause, "mda_command: pipe: %s", strerror(errno));
		return (-1);
	}
	if (pipe2(out, O_CLOEXEC) == -1) {
		xasprintf(cause, "mda_command: pipe: %s", strerror(errno));
		close(in[0]);
		close(in[1]);
		return (-1);
	}
	memset(&c, 0, sizeof c);
	c.argv = argv;
	c.env = env;
	c.infd = in[0];
	/* Held by the supervisor until the message is written whole
	 * (mda_in_cb): killed mid-message, the agent never sees an end of
	 * input it could take for the message's (the kill loop delivered a
	 * cut message through an agent). */
	c.holdfd = in[1];
	c.outfd = c.errfd = out[1];
	j->pid = secret_cmd_spawn(&c, "mda_command", cause);
	close(in[0]);
	close(out[1]);
	j->infd = in[1];
	j->outfd = out[0];
	if (j->pid == -1)
		return (-1);
	if (fcntl(j->infd, F_SETFL, O_NONBLOCK) == -1 ||
	    fcntl(j->outfd, F_SETFL, O_NONBLOCK) == -1)
		fatal("mda_spawn: fcntl");
	return (0);
}

/* The loop's watch on the agent's stdin, output and exit. */
static void
mda_watch(struct mda_job *j, struct event_base *base)
{
	struct timeval	tv = { 0, MDA_POLL_MS * 1000 };

	j->ev_in = event_new(base, j->infd, EV_WRITE | EV_PERSIST, mda_in_cb,
	    j);
	j->ev_out = event_new(base, j->outfd, EV_READ | EV_PERSIST,
	    mda_out_cb, j);
	j->ev_poll = evtimer_new(base, mda_poll_cb, j);
	if (j->ev_in == NULL || j->ev_out == NULL || j->ev_poll == NULL)
		fatalx("mda_watch: cannot create events");
	clock_gettime(CLOCK_MONOTONIC, &j->started);
	event_add(j->ev_in, NULL);
	event_add(j->ev_out, NULL);
	evtimer_add(j->ev_poll, &tv);
}

struct mda_job *
mda_start(struct event_base *base, const char *command, unsigned int timeout,
    const struct mda_msg *m, int fd, mda_done_cb cb, void *arg, char **cause)
{
	struct mda_job	*j;
	char		**argv, **env;
	int		  rc;

	if ((argv = mda_argv(command, m, cause)) == NULL) {
		close(fd);
		return (NULL);
	}
	j = xcalloc(1, sizeof *j);
	j->argv0 = xstrdup(argv[0]);
	j->timeout = timeout;
	j->msgfd = fd;
	j->infd = j->outfd = -1;
	j->pid = -1;
	j->cb = cb;
	j->arg = arg;
	if (m->id != NULL) {
		/* The header line goes first, then the file. */
		j->len = (size_t)snprintf(j->buf, sizeof j->buf,
		    "X-Mailfetchd-Id: %s\n", m->id);
		if (j->len >= sizeof j->buf)
			fatalx("mda_start: id too long");
	}
	env = mda_env(m);
	rc = mda_spawn(j, argv, env, cause);
	cmdline_free(env);
	cmdline_free(argv);
	if (rc != 0) {
		mda_job_free(j);
		return (NULL);
	}
	mda_watch(j, base);
	return (j);
}

void
mda_job_free(struct mda_job *j)
{
	if (j == NULL)
		return;
	lmtp_job_free(j->lmtp);
	if (j->pid != -1) {
		/* Not ended: killed with all it started. */
		secret_cmd_kill(j->pid, NULL);
	}
	mda_in_close(j);
	mda_out_close(j);
	if (j->ev_poll != NULL)
		event_free(j->ev_poll);
	if (j->msgfd != -1)
		close(j->msgfd);
	free(j->read_error);
	free(j->argv0);
	free(j);
}

void
mda_job_cancel(struct mda_job *j, const struct log_ctx *ctx)
{
	if (j == NULL)
		return;
	if (j->lmtp != NULL)
		log_msg(LOG_LVL_WARNING, ctx, "the session ended during the "
		    "LMTP transaction: dropped; the message stays on the "
		    "server and is handed over again next time (a duplicate "
		    "if the LMTP server took it already)");
	else
		log_msg(LOG_LVL_WARNING, ctx, "the session ended while "
		    "mda_command '%s' ran: killed; the message stays on the "
		    "server and is handed over again next time (a duplicate "
		    "if the agent took it already)", j->argv0);
	mda_job_free(j);
}

/* The LMTP transaction ended: the caller is told as for an agent. */
static void
mda_lmtp_done(enum mda_result res, const char *text, void *arg)
{
	struct mda_job	*j = arg;

	j->lmtp = NULL;		/* it frees itself */
	j->cb(res, text, j->arg);
	mda_job_free(j);
}

/* deliver = lmtp: a job that only holds the LMTP transaction. */
static struct mda_job *
mda_start_lmtp(struct event_base *base, const struct account_conf *ac,
    const struct mda_msg *m, int fd, mda_done_cb cb, void *arg, char **cause)
{
	struct mda_job	*j = xcalloc(1, sizeof *j);

	j->pid = -1;
	j->msgfd = j->infd = j->outfd = -1;
	j->cb = cb;
	j->arg = arg;
	j->lmtp = lmtp_start(base, ac->lmtp, m->sender,
	    ac->lmtp_recipient != NULL ? ac->lmtp_recipient : m->user, m->id,
	    ac->mda_timeout, fd, mda_lmtp_done, j, cause);
	if (j->lmtp == NULL) {
		free(j);
		return (NULL);
	}
	return (j);
}

struct mda_job *
mda_start_staged(struct event_base *base, const struct account_conf *ac,
    int deliver, struct maildir *md, const char *final, const char *folder,
    const char *key, mda_done_cb cb, void *arg, char **cause)
{
	struct mda_msg	 m = { ac->name, folder, ac->owner != NULL ?
			    ac->owner : ac->user, "", NULL };
	struct mda_job	*j;
	char		*id = NULL, head[8192], sender[MDA_SENDER_MAX + 1];
	ssize_t		 n;
	int		 fd;

	if ((fd = maildir_staged_open(md, final)) == -1) {
		xasprintf(cause, "%s/tmp: the staged message: %s",
		    maildir_path(md), strerror(errno));
		return (NULL);
	}
	if (ac->mda_id_header)
		m.id = id = mda_id(ac->name, folder, key);
	/* Where the header starts: Return-Path comes first when there. */
	if ((n = pread(fd, head, sizeof head, 0)) > 0)
		mda_return_path(head, (size_t)n, sender, sizeof sender);
	m.sender = sender;
	if (deliver == DELIVER_LMTP)
		j = mda_start_lmtp(base, ac, &m, fd, cb, arg, cause);
	else
		j = mda_start(base, ac->mda_command, ac->mda_timeout, &m, fd,
		    cb, arg, cause);
	free(id);
	return (j);
}

unsigned int
mda_stop_wait(const struct account_conf *ac)
{
	size_t	i;
	int	agent = ac->deliver != DELIVER_MAILDIR;

	for (i = 0; i < ac->nfolders; i++)
		agent |= ac->folders[i].deliver != DELIVER_MAILDIR;
	if (!agent)
		return (0);
	return (ac->mda_timeout + (MDA_POLL_MS + MDA_KILL_MS) / 1000 + 1);
}

void
mda_log(const struct log_ctx *ctx, enum mda_result res, const char *text,
    long long until)
{
	char	when[32], again[80];

	if (until != 0) {
		mda_hold_time(until, when, sizeof when);
		snprintf(again, sizeof again, "handed over again after %s "
		    "(not downloaded before)", when);
	} else
		snprintf(again, sizeof again, "fetched again next time");
	if (res == MDA_DELIVERED && text != NULL)
		log_msg(LOG_LVL_WARNING, ctx, "%s", text);
	else if (res == MDA_TEMPFAIL)
		log_msg(LOG_LVL_WARNING, ctx, "%s; the message stays on the "
		    "server and is %s", text, again);
	else if (res != MDA_DELIVERED)
		log_msg(LOG_LVL_ERROR, ctx, "%s; the message stays on the "
		    "server and is %s", text, again);
}

long long
mda_hold_note(struct state *st, const struct account_conf *ac,
    const char *folder, const char *key, enum mda_result res)
{
	const struct state_refusal	*r;
	long long			 now;

	if (res == MDA_DELIVERED) {
		state_refused_drop(st, folder, key);
		return (0);
	}
	now = (long long)time(NULL);
	r = state_refused_note(st, folder, key, res != MDA_FAILED,
	    ac->poll_interval, now);
	return (r != NULL && r->until > now ? r->until : 0);
}

int
mda_hold_is(const struct state *st, const char *folder, const char *key,
    long long now, long long *first, unsigned long *n)
{
	const struct state_refusal	*r;

	/* A retry time past the longest hold was set by a clock that ran
	 * ahead since (or written by hand): due now, not held for months
	 * (review r29 01). */
	if (state_refused_count(st) == 0 ||
	    (r = state_refused_get(st, folder, key)) == NULL ||
	    r->until <= now || r->until - now > STATE_REFUSED_CAP)
		return (0);
	(void)mda_hold_count(n, first, r->until);
	return (1);
}

void
mda_hold_log(const struct log_ctx *ctx, unsigned long n, long long first)
{
	char	when[32];

	if (n == 0)
		return;
	mda_hold_time(first, when, sizeof when);
	log_msg(LOG_LVL_NOTICE, ctx, "%lu message%s the delivery agent "
	    "refused held back, not downloaded again until its retry time "
	    "(the first at %s)", n, n == 1 ? "" : "s", when);
}

long long
mda_hold_count(unsigned long *n, long long *first, long long until)
{
	if (until == 0)
		return (0);
	(*n)++;
	if (*first == 0 || until < *first)
		*first = until;
	return (until);
}

void
mda_hold_time(long long when, char *buf, size_t len)
{
	time_t		t = (time_t)when;
	struct tm	tm;

	if (localtime_r(&t, &tm) == NULL ||
	    strftime(buf, len, "%Y-%m-%d %H:%M:%S", &tm) == 0)
		snprintf(buf, len, "%lld", when);
}
