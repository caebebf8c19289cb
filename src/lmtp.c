/* lmtp.c: one message over LMTP (see lmtp.h).
 *
 * One state enum with a names table; lmtp_reply() decides on each
 * complete reply (the last line of a multi-line one). The body is fed
 * from the file as the socket drains: the write callback fires when the
 * output falls below LMTP_LOWAT, and each feed stops past LMTP_HIWAT,
 * so memory stays bounded whatever the message's size. A reply line
 * longer than LMTP_LINE_MAX ends the dialogue: a server has no reason to
 * send one. */
#include "lmtp.h"

#include <sys/socket.h>

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/util.h>

#include "compat.h"
#include "log.h"
#include "xmalloc.h"

#define LMTP_LINE_MAX	4096
#define LMTP_CHUNK	16384
#define LMTP_LOWAT	65536
#define LMTP_HIWAT	262144

enum lmtp_state {
	LMTP_S_CONNECT,
	LMTP_S_GREETING,
	LMTP_S_LHLO,
	LMTP_S_MAIL,
	LMTP_S_RCPT,
	LMTP_S_DATA,
	LMTP_S_BODY,
	LMTP_S_DOT,
};

static const char *const lmtp_state_names[] = {
	[LMTP_S_CONNECT] = "connect",
	[LMTP_S_GREETING] = "greeting",
	[LMTP_S_LHLO] = "LHLO",
	[LMTP_S_MAIL] = "MAIL FROM",
	[LMTP_S_RCPT] = "RCPT TO",
	[LMTP_S_DATA] = "DATA",
	[LMTP_S_BODY] = "message data",
	[LMTP_S_DOT] = "end of data",
};

struct lmtp_job {
	char			*target;
	char			*sender;
	char			*rcpt;
	unsigned int		 timeout;
	enum lmtp_state		 state;
	struct bufferevent	*bev;
	struct event		*ev_timeout;
	int			 msgfd;
	int			 bol;		/* the body is at a line start */
	int			 eightbit;	/* LHLO offered 8BITMIME */
	char			*head;		/* X-Mailfetchd-Id line; NULL */
	mda_done_cb		 cb;
	void			*arg;
};

/* A reply line: its code, and whether more lines follow. -1: not one. */
static int
lmtp_code(const char *line, int *more)
{
	if (strlen(line) < 3 || line[0] < '2' || line[0] > '5' ||
	    line[1] < '0' || line[1] > '9' || line[2] < '0' || line[2] > '9' ||
	    (line[3] != '\0' && line[3] != ' ' && line[3] != '-'))
		return (-1);
	*more = line[3] == '-';
	return ((line[0] - '0') * 100 + (line[1] - '0') * 10 + line[2] - '0');
}

/* The end: cb with the result, then the job freed. */
static void
lmtp_end(struct lmtp_job *j, enum mda_result res, const char *fmt, ...)
{
	va_list	 ap;
	char	*how = NULL, *text = NULL;

	if (fmt != NULL) {
		va_start(ap, fmt);
		if (vasprintf(&how, fmt, ap) == -1)
			fatalx("lmtp_end: out of memory");
		va_end(ap);
		xasprintf(&text, "LMTP %s: %s", j->target, how);
		free(how);
	}
	j->cb(res, text, j->arg);
	free(text);
	lmtp_job_free(j);
}

/* Sends a command line and enters the state waiting for its reply. */
static void printflike(3, 4)
lmtp_send(struct lmtp_job *j, enum lmtp_state next, const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	(void)evbuffer_add_vprintf(bufferevent_get_output(j->bev), fmt, ap);
	va_end(ap);
	(void)bufferevent_write(j->bev, "\r\n", 2);
	j->state = next;
}

/* The message's LF line ends as CRLF, a '.' at a line start doubled. */
static void
lmtp_encode(struct lmtp_job *j, struct evbuffer *out, const char *p,
    size_t len)
{
	size_t	i, from = 0;

	for (i = 0; i < len; i++) {
		if (j->bol && p[i] == '.') {
			evbuffer_add(out, p + from, i - from);
			evbuffer_add(out, ".", 1);
			from = i;
		}
		j->bol = p[i] == '\n';
		if (p[i] == '\n') {
			evbuffer_add(out, p + from, i - from);
			evbuffer_add(out, "\r\n", 2);
			from = i + 1;
		}
	}
	evbuffer_add(out, p + from, len - from);
}

/* More of the message into the output, up to LMTP_HIWAT; at its end,
 * the final dot. 0, or -1 when the job ended. */
static int
lmtp_feed(struct lmtp_job *j)
{
	struct evbuffer	*out = bufferevent_get_output(j->bev);
	char		 buf[LMTP_CHUNK];
	ssize_t		 n;

	while (evbuffer_get_length(out) < LMTP_HIWAT) {
		n = read(j->msgfd, buf, sizeof buf);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			/* The data so far must not be taken as the whole. */
			lmtp_end(j, MDA_BROKEN, "cannot read the staged message: "
			    "%s", strerror(errno));
			return (-1);
		}
		if (n == 0) {
			if (!j->bol)
				evbuffer_add(out, "\r\n", 2);
			evbuffer_add(out, ".\r\n", 3);
			j->state = LMTP_S_DOT;
			return (0);
		}
		lmtp_encode(j, out, buf, (size_t)n);
	}
	return (0);
}

/* A reply other than the one the state wants. */
static void
lmtp_refused(struct lmtp_job *j, int code, const char *line)
{
	char	*e = log_sanitize(line, strlen(line), 512);

	lmtp_end(j, code >= 400 && code < 500 ? MDA_TEMPFAIL : MDA_FAILED,
	    "%s refused: %s", lmtp_state_names[j->state], e);
	free(e);
}

/* Whether a reply came before the command it would answer had left:
 * the output still holds it (or the message data and its final dot).
 * Each command waits for its reply, so a server that answers what it
 * has not read is out of step: taking its reply as the answer to the
 * command (a stale 250 as the answer to the final dot) could count a
 * refused message as taken. */
static int
lmtp_early(struct lmtp_job *j)
{
	return (j->state != LMTP_S_GREETING &&
	    evbuffer_get_length(bufferevent_get_output(j->bev)) > 0);
}

/* One complete reply (line: its last line) in the current state: 0, or
 * -1 when the job ended. */
static int
lmtp_reply(struct lmtp_job *j, int code, const char *line)
{
	int	ok = code / 100 == 2;

	if (j->state == LMTP_S_DATA)
		ok = code == 354;
	if (j->state != LMTP_S_BODY && lmtp_early(j)) {
		lmtp_end(j, MDA_BROKEN, "a reply before the %s was sent "
		    "(the server is out of step)", lmtp_state_names[j->state]);
		return (-1);
	}
	if (!ok) {
		lmtp_refused(j, code, line);
		return (-1);
	}
	switch (j->state) {
	case LMTP_S_GREETING:
		lmtp_send(j, LMTP_S_LHLO, "LHLO %s", "mailfetchd");
		break;
	case LMTP_S_LHLO:
		lmtp_send(j, LMTP_S_MAIL, "MAIL FROM:<%s>%s", j->sender,
		    j->eightbit ? " BODY=8BITMIME" : "");
		break;
	case LMTP_S_MAIL:
		lmtp_send(j, LMTP_S_RCPT, "RCPT TO:<%s>", j->rcpt);
		break;
	case LMTP_S_RCPT:
		lmtp_send(j, LMTP_S_DATA, "DATA");
		break;
	case LMTP_S_DATA:
		j->state = LMTP_S_BODY;
		if (j->head != NULL)
			(void)bufferevent_write(j->bev, j->head,
			    strlen(j->head));
		return (lmtp_feed(j));
	case LMTP_S_DOT:
		lmtp_end(j, MDA_DELIVERED, NULL);
		return (-1);
	default:
		lmtp_end(j, MDA_BROKEN, "a reply during the %s",
		    lmtp_state_names[j->state]);
		return (-1);
	}
	return (0);
}

/* Reads one complete line: 0 when read (the job goes on), 1 when there
 * is none yet, -1 when the job ended. */
static int
lmtp_read_line(struct lmtp_job *j, struct evbuffer *in)
{
	char	*line;
	size_t	 len;
	int	 code, more = 0, rc = 0;

	if ((line = evbuffer_readln(in, &len, EVBUFFER_EOL_CRLF)) == NULL) {
		if (evbuffer_get_length(in) <= LMTP_LINE_MAX)
			return (1);
		lmtp_end(j, MDA_BROKEN, "a reply line longer than %d bytes",
		    LMTP_LINE_MAX);
		return (-1);
	}
	if ((code = lmtp_code(line, &more)) == -1) {
		lmtp_refused(j, 0, line);
		free(line);
		return (-1);
	}
	/* A bare code ("250") is a whole reply: nothing past its NUL. */
	if (j->state == LMTP_S_LHLO && len >= 12 &&
	    strncasecmp(line + 4, "8BITMIME", 8) == 0)
		j->eightbit = 1;
	if (!more)
		rc = lmtp_reply(j, code, line);
	free(line);
	return (rc);
}

static void
lmtp_read_cb(struct bufferevent *bev, void *arg)
{
	struct evbuffer	*in = bufferevent_get_input(bev);

	/* Every complete line, in order, while the job lasts: a reply left
	 * in the buffer would be taken as the answer to a later command. */
	while (lmtp_read_line(arg, in) == 0)
		;
}

static void
lmtp_write_cb(struct bufferevent *bev, void *arg)
{
	struct lmtp_job	*j = arg;

	(void)bev;
	if (j->state == LMTP_S_BODY)
		(void)lmtp_feed(j);
}

static void
lmtp_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct lmtp_job	*j = arg;
	int		 e = EVUTIL_SOCKET_ERROR();

	(void)bev;
	if (what & BEV_EVENT_CONNECTED) {
		j->state = LMTP_S_GREETING;
		return;
	}
	lmtp_end(j, MDA_BROKEN, "%s during the %s", (what & BEV_EVENT_EOF) ?
	    "connection closed" : evutil_socket_error_to_string(e),
	    lmtp_state_names[j->state]);
}

static void
lmtp_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
	struct lmtp_job	*j = arg;

	(void)fd;
	(void)what;
	lmtp_end(j, MDA_BROKEN, "timed out after %u seconds during the %s",
	    j->timeout, lmtp_state_names[j->state]);
}

struct lmtp_job *
lmtp_start(struct event_base *base, const char *target, const char *sender,
    const char *rcpt, const char *id, unsigned int timeout, int fd,
    mda_done_cb cb, void *arg, char **cause)
{
	struct sockaddr_storage	 ss;
	struct lmtp_job		*j;
	struct timeval		 tv = { timeout, 0 };
	int			 len;

	if (lmtp_target_parse(target, &ss, &len, cause) != 0) {
		close(fd);
		return (NULL);
	}
	j = xcalloc(1, sizeof *j);
	j->target = xstrdup(target);
	j->sender = xstrdup(sender);
	j->rcpt = xstrdup(rcpt);
	j->timeout = timeout;
	j->msgfd = fd;
	j->bol = 1;
	j->cb = cb;
	j->arg = arg;
	if (id != NULL)
		xasprintf(&j->head, "X-Mailfetchd-Id: %s\r\n", id);
	j->bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
	j->ev_timeout = evtimer_new(base, lmtp_timeout_cb, j);
	if (j->bev == NULL || j->ev_timeout == NULL)
		fatalx("lmtp_start: cannot create events");
	bufferevent_setcb(j->bev, lmtp_read_cb, lmtp_write_cb, lmtp_event_cb,
	    j);
	bufferevent_setwatermark(j->bev, EV_WRITE, LMTP_LOWAT, 0);
	bufferevent_enable(j->bev, EV_READ | EV_WRITE);
	evtimer_add(j->ev_timeout, &tv);
	if (bufferevent_socket_connect(j->bev, (struct sockaddr *)&ss, len)
	    != 0) {
		xasprintf(cause, "LMTP %s: cannot connect: %s", target,
		    strerror(errno));
		lmtp_job_free(j);
		return (NULL);
	}
	return (j);
}

void
lmtp_job_free(struct lmtp_job *j)
{
	if (j == NULL)
		return;
	/* Closed without QUIT: the transaction is over, and a server
	 * takes a close as the end of the session. */
	if (j->bev != NULL)
		bufferevent_free(j->bev);
	if (j->ev_timeout != NULL)
		event_free(j->ev_timeout);
	if (j->msgfd != -1)
		close(j->msgfd);
	free(j->head);
	free(j->rcpt);
	free(j->sender);
	free(j->target);
	free(j);
}
