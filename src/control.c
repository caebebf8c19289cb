/* control.c: the daemon's control socket (see control.h for the
 * protocol), and the blocking client side of --status and --once.
 *
 * Server: an evconnlistener on a unix socket; one bufferevent per client,
 * at most one command in flight per client. The daemon answers through
 * request ids rather than client pointers, so a client that goes away
 * while its fetch runs leaves nothing dangling in the daemon. */
#include "control.h"

#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/listener.h>

#include "config.h"
#include "fdio.h"
#include "log.h"
#include "xmalloc.h"


struct control_client {
	struct control			*ctl;
	struct bufferevent		*bev;
	uid_t				 uid;
	pid_t				 pid;
	uint64_t			 id;	/* request in flight; 0: none */
	/* The whole next command within CONTROL_TIMEOUT: the bufferevent's
	 * read timeout is reset by each byte (review r20 09). */
	struct event			*deadline;
	int				 dispatching;
	int				 fetching; /* "# busy" due meanwhile */
	int				 closing; /* free once output drained */
	TAILQ_ENTRY(control_client)	 entry;
};
TAILQ_HEAD(control_clients, control_client);

struct control {
	struct event_base		*base;
	char				*path;
	struct evconnlistener		*listener;
	const struct control_ops	*ops;
	void				*arg;
	struct control_clients		 clients;
	unsigned int			 nclients;
	uint64_t			 next_id;
	dev_t				 dev;	/* the socket file we made */
	ino_t				 ino;
};

static void	control_client_process(struct control_client *);

/* Fills a sockaddr_un; -1 with *cause if the path does not fit. */
static int
control_addr(const char *path, struct sockaddr_un *sun, char **cause)
{
	memset(sun, 0, sizeof *sun);
	sun->sun_family = AF_UNIX;
	if (strlen(path) >= sizeof sun->sun_path) {
		xasprintf(cause, "control socket %s: path too long (at most "
		    "%zu bytes)", path, sizeof sun->sun_path - 1);
		errno = ENAMETOOLONG;
		return (-1);
	}
	memcpy(sun->sun_path, path, strlen(path));
	return (0);
}

/* Connects to path; tv, when not NULL, bounds the connect (a listener
 * that never accepts fills its backlog) and every send. */
static int
control_connect_bounded(const char *path, const struct timeval *tv,
    char **cause)
{
	struct sockaddr_un	sun;
	int			fd, saved;

	if (control_addr(path, &sun, cause) != 0)
		return (-1);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1) {
		saved = errno;
		xasprintf(cause, "socket: %s", strerror(errno));
		errno = saved;
		return (-1);
	}
	if (tv != NULL)
		(void)setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, tv, sizeof *tv);
	if (connect(fd, (struct sockaddr *)&sun, sizeof sun) == -1) {
		saved = errno;
		xasprintf(cause, "cannot connect to %s: %s", path,
		    strerror(errno));
		close(fd);
		errno = saved;
		return (-1);
	}
	return (fd);
}

int
control_connect(const char *path, char **cause)
{
	return (control_connect_bounded(path, NULL, cause));
}

/* Connects to the configuration's daemon: its control socket, and the
 * system unit's when the configuration leaves the path to the default
 * and this shell is not the unit (see control.h). -1 with *cause (caller
 * frees) when nothing answers. */
int
control_connect_daemon(const struct config *conf, char **cause)
{
	char	*why, *sys;
	int	 fd;

	if ((fd = control_connect(conf->control_socket, cause)) != -1)
		return (fd);
	/* An instance of mailfetchd@.service names its socket after its
	 * shard (shard.h). */
	if (conf->shard_count > 0)
		xasprintf(&sys, "%s.%u-of-%u", CONTROL_SYSTEM_PATH,
		    conf->shard_index, conf->shard_count);
	else
		sys = xstrdup(CONTROL_SYSTEM_PATH);
	if (!conf->control_socket_default ||
	    getenv("RUNTIME_DIRECTORY") != NULL ||
	    strcmp(conf->state_dir, CONFIG_DEFAULT_STATE_DIR) != 0 ||
	    strcmp(conf->control_socket, sys) == 0)
		fd = -1;
	else if ((fd = control_connect(sys, &why)) != -1)
		free(*cause);
	else
		free(why);
	free(sys);
	return (fd);
}

/* Bounds on reading one answer (control_read_answer). */
struct control_bounds {
	int		 line_timeout;	/* s to wait for each read; 0: none */
	uint64_t	 deadline;	/* ms, CLOCK_MONOTONIC, for the whole
					 * answer; 0: none */
	size_t		 max_bytes;	/* 0: no cap */
	size_t		 max_lines;	/* 0: no cap */
	size_t		 lines;		/* seen so far */
	control_line_cb	 cb;
	void		*arg;
};

/* Milliseconds of the monotonic clock. */
static uint64_t
control_now(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000);
}

/* Waits for fd to be readable, within the bounds: each read's timeout
 * and what is left of the whole answer's. */
static int
control_wait(int fd, const struct control_bounds *b)
{
	struct pollfd	pfd = { fd, POLLIN, 0 };
	uint64_t	now;
	int		n, ms;

	do {
		ms = b->line_timeout > 0 ? b->line_timeout * 1000 : -1;
		if (b->deadline != 0) {
			now = control_now();
			if (now >= b->deadline) {
				errno = ETIMEDOUT;
				return (-1);
			}
			if (ms == -1 || b->deadline - now < (uint64_t)ms)
				ms = (int)(b->deadline - now);
		}
		n = poll(&pfd, 1, ms);
	} while (n == -1 && errno == EINTR);
	if (n == 0)
		errno = ETIMEDOUT;
	return (n > 0 ? 0 : -1);
}

/* Hands each complete line of buf[0..*len) to the callback and keeps the
 * rest; returns 1 when the final "." was seen, -1 on an overlong line or
 * past the line cap. */
static int
control_split(char *buf, size_t *len, struct control_bounds *b)
{
	char	*lf;
	size_t	 used;

	while ((lf = memchr(buf, '\n', *len)) != NULL) {
		*lf = '\0';
		if (lf > buf && lf[-1] == '\r')
			lf[-1] = '\0';
		used = (size_t)(lf - buf) + 1;
		if (strcmp(buf, ".") == 0)
			return (1);
		if (b->max_lines != 0 && ++b->lines > b->max_lines)
			return (-1);
		b->cb(buf, b->arg);
		memmove(buf, buf + used, *len - used);
		*len -= used;
	}
	return (*len >= CONTROL_ANSWER_MAX - 1 ? -1 : 0);
}

/* Reads an answer into *buf (grown as a line needs, up to
 * CONTROL_ANSWER_MAX), handing each line to the callback, within the
 * bounds. */
static int
control_read_answer(int fd, struct control_bounds *b, char **buf,
    size_t *len, size_t *size, char **cause)
{
	size_t	total = 0;
	ssize_t	n;
	int	rc;

	for (;;) {
		if (control_wait(fd, b) != 0) {
			xasprintf(cause, "no answer from the daemon: %s",
			    strerror(errno));
			return (-1);
		}
		if (*len + 1 >= *size && *size < CONTROL_ANSWER_MAX) {
			*size *= 2;
			*buf = xreallocarray(*buf, *size, 1);
		}
		n = read(fd, *buf + *len, *size - 1 - *len);
		if (n == -1 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n <= 0) {
			xasprintf(cause, "the daemon closed the connection%s%s",
			    n == 0 ? "" : ": ", n == 0 ? "" : strerror(errno));
			return (-1);
		}
		*len += (size_t)n;
		total += (size_t)n;
		if (b->max_bytes != 0 && total > b->max_bytes) {
			xasprintf(cause, "answer longer than %zu bytes",
			    b->max_bytes);
			return (-1);
		}
		if ((rc = control_split(*buf, len, b)) == 1)
			return (0);
		if (rc == -1) {
			if (b->max_lines != 0 && b->lines > b->max_lines)
				xasprintf(cause, "answer of more than %zu "
				    "lines", b->max_lines);
			else
				xasprintf(cause, "answer line from the daemon "
				    "too long");
			return (-1);
		}
	}
}

/* The command could not be sent: the daemon may have said why before it
 * hung up ("error too many clients"), which is what the user needs, not
 * "Broken pipe" (review r20 09). */
static void
control_send_failed(int fd, char **cause)
{
	char	buf[256], *safe;
	int	saved = errno;
	ssize_t	n;

	n = recv(fd, buf, sizeof buf - 1, MSG_DONTWAIT);
	if (n > 6 && strncmp(buf, "error ", 6) == 0) {
		buf[n] = '\0';
		buf[strcspn(buf, "\r\n")] = '\0';
		safe = log_escape_controls(buf, 0);
		xasprintf(cause, "the daemon refused the connection: %s",
		    safe);
		free(safe);
	} else
		xasprintf(cause, "cannot send to the daemon: %s",
		    strerror(saved));
}

/* Sends command and reads its answer within b. */
static int
control_exchange(int fd, const char *command, struct control_bounds *b,
    char **cause)
{
	char	*buf, *line;
	size_t	 len = 0, size = 4096;
	int	 rc;

	xasprintf(&line, "%s\n", command);
	rc = fdio_write_all(fd, line, strlen(line));
	free(line);
	if (rc != 0) {
		control_send_failed(fd, cause);
		return (-1);
	}
	buf = xmalloc(size);
	rc = control_read_answer(fd, b, &buf, &len, &size, cause);
	free(buf);
	return (rc);
}

int
control_command(int fd, const char *command, int timeout,
    control_line_cb cb, void *arg, char **cause)
{
	struct control_bounds	b;

	memset(&b, 0, sizeof b);
	b.line_timeout = timeout;
	b.cb = cb;
	b.arg = arg;
	return (control_exchange(fd, command, &b, cause));
}

int
control_command_bounded(int fd, const char *command, int total_ms,
    size_t max_bytes, size_t max_lines, control_line_cb cb, void *arg,
    char **cause)
{
	struct control_bounds	b;

	memset(&b, 0, sizeof b);
	b.deadline = control_now() + (uint64_t)total_ms;
	b.max_bytes = max_bytes;
	b.max_lines = max_lines;
	b.cb = cb;
	b.arg = arg;
	return (control_exchange(fd, command, &b, cause));
}

/* Connects to path within total_ms and fills cred with the listener's
 * SO_PEERCRED. */
static int
control_connect_cred(const char *path, int total_ms, struct ucred *cred,
    char **cause)
{
	struct timeval	tv = { total_ms / 1000, (total_ms % 1000) * 1000 };
	socklen_t	len = sizeof *cred;
	int		fd;

	if ((fd = control_connect_bounded(path, &tv, cause)) == -1)
		return (-1);
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, cred, &len) == -1) {
		xasprintf(cause, "%s: SO_PEERCRED: %s", path, strerror(errno));
		close(fd);
		return (-1);
	}
	return (fd);
}

int
control_connect_peer(const char *path, int total_ms, pid_t pid, uid_t uid,
    char **cause)
{
	struct ucred	cred;
	int		fd;

	if ((fd = control_connect_cred(path, total_ms, &cred, cause)) == -1)
		return (-1);
	if (cred.pid != pid || cred.uid != uid) {
		xasprintf(cause, "%s: the listener there is pid %ld uid %lu, "
		    "not the daemon (pid %ld uid %lu): not asked", path,
		    (long)cred.pid, (unsigned long)cred.uid, (long)pid,
		    (unsigned long)uid);
		close(fd);
		errno = EPERM;
		return (-1);
	}
	return (fd);
}

/* The first number of a /proc/PID/status line "KEY:\tN..." (-1 if there
 * is none), or with name its text. */
static long
control_proc_field(pid_t pid, const char *key, char *name, size_t size)
{
	char		 path[64], *line = NULL;
	const char	*val;
	size_t		 cap = 0, len = strlen(key);
	long		 v = -1;
	FILE		*f;

	snprintf(path, sizeof path, "/proc/%ld/status", (long)pid);
	if ((f = fopen(path, "re")) == NULL)
		return (-1);
	while (getline(&line, &cap, f) != -1) {
		if (strncmp(line, key, len) != 0 || line[len] != ':')
			continue;
		val = line + len + 1 + strspn(line + len + 1, " \t");
		if (name != NULL) {
			/* An owner's process names itself: no control
			 * bytes into root's log. */
			snprintf(name, size, "%.*s", (int)strcspn(val, "\n"),
			    val);
			for (; *name != '\0'; name++)
				if ((unsigned char)*name < 0x20 ||
				    (unsigned char)*name >= 0x7f)
					*name = '?';
		} else
			v = strtol(val, NULL, 10);
		break;
	}
	free(line);
	fclose(f);
	return (v);
}

/* Whether pid's parent is a process of root's running this program (its
 * name the same as ours): root's privsep supervisor (or root's --once)
 * forks the owners' workers and no owner can make a child of its. */
static int
control_parent_is_root(pid_t pid, char *why, size_t size)
{
	char	self[64] = "", name[64] = "";
	long	ppid, uid;

	ppid = control_proc_field(pid, "PPid", NULL, 0);
	if (ppid <= 0) {
		snprintf(why, size, "pid %ld has no parent", (long)pid);
		return (0);
	}
	uid = control_proc_field((pid_t)ppid, "Uid", NULL, 0);
	(void)control_proc_field((pid_t)ppid, "Name", name, sizeof name);
	(void)control_proc_field(getpid(), "Name", self, sizeof self);
	if (uid != 0 || *self == '\0' || strcmp(name, self) != 0) {
		snprintf(why, size, "pid %ld, child of pid %ld (uid %ld, %s), "
		    "not of root's %s", (long)pid, ppid, uid, *name == '\0' ?
		    "gone" : name, self);
		return (0);
	}
	return (1);
}

int
control_connect_supervised(const char *path, int total_ms, uid_t uid,
    char **cause)
{
	struct ucred	cred;
	char		why[256];
	int		fd;

	if ((fd = control_connect_cred(path, total_ms, &cred, cause)) == -1)
		return (-1);
	if (uid != (uid_t)-1 && cred.uid != uid)
		snprintf(why, sizeof why, "uid %lu, not %lu",
		    (unsigned long)cred.uid, (unsigned long)uid);
	else if (control_parent_is_root(cred.pid, why, sizeof why))
		return (fd);
	xasprintf(cause, "%s: the listener there is not a daemon worker of "
	    "root's (%s): not asked", path, why);
	close(fd);
	errno = EPERM;
	return (-1);
}

/* The client of request id, NULL if gone. */
static struct control_client *
control_find(struct control *ctl, uint64_t id)
{
	struct control_client	*c;

	if (ctl == NULL || id == 0)
		return (NULL);
	TAILQ_FOREACH(c, &ctl->clients, entry) {
		if (c->id == id)
			return (c);
	}
	return (NULL);
}

/* Starts the time the client has to send its next whole command. */
static void
control_client_arm(struct control_client *c)
{
	struct timeval	tv = { CONTROL_TIMEOUT, 0 };

	evtimer_add(c->deadline, &tv);
}

/* While a fetch is answered, the deadline timer says "# busy" every
 * CONTROL_KEEPALIVE seconds (control_deadline_cb). */
static void
control_client_keepalive(struct control_client *c)
{
	struct timeval	tv = { CONTROL_KEEPALIVE, 0 };

	evtimer_add(c->deadline, &tv);
}

/* Frees a client and closes its connection. */
static void
control_client_free(struct control_client *c)
{
	if (c == NULL)
		return;
	TAILQ_REMOVE(&c->ctl->clients, c, entry);
	c->ctl->nclients--;
	if (c->deadline != NULL)
		event_free(c->deadline);
	bufferevent_free(c->bev);
	free(c);
}

/* Closes the client once what was written to it is sent. */
static void
control_client_close(struct control_client *c)
{
	c->closing = 1;
	c->id = 0;
	bufferevent_disable(c->bev, EV_READ);
	if (evbuffer_get_length(bufferevent_get_output(c->bev)) == 0)
		control_client_free(c);
}

/* Appends one line, control characters replaced: the daemon's text may
 * carry a server's words. */
static void
control_client_line(struct control_client *c, const char *text)
{
	struct evbuffer	*out = bufferevent_get_output(c->bev);
	char		*copy, *p;

	copy = xstrdup(text);
	for (p = copy; *p != '\0'; p++) {
		if (iscntrl((unsigned char)*p))
			*p = '?';
	}
	evbuffer_add_printf(out, "%s\n", copy);
	free(copy);
}

/* Answers an error, ends it, and hangs up. */
static void
control_client_fail(struct control_client *c, const char *why)
{
	log_msg(LOG_LVL_DEBUG, NULL, "control: client pid %ld: %s",
	    (long)c->pid, why);
	control_client_line(c, why);
	control_client_line(c, ".");
	control_client_close(c);
}

void
control_reply(struct control *ctl, uint64_t id, const char *fmt, ...)
{
	struct control_client	*c;
	va_list			 ap;
	char			*line;

	if ((c = control_find(ctl, id)) == NULL)
		return;
	va_start(ap, fmt);
	if (vasprintf(&line, fmt, ap) == -1)
		fatalx("vasprintf failed");
	va_end(ap);
	control_client_line(c, line);
	free(line);
}

void
control_end(struct control *ctl, uint64_t id)
{
	struct control_client	*c;
	struct timeval		 tv = { CONTROL_TIMEOUT, 0 };

	if ((c = control_find(ctl, id)) == NULL)
		return;
	control_client_line(c, ".");
	c->id = 0;
	c->fetching = 0;
	bufferevent_set_timeouts(c->bev, &tv, &tv);
	if (c->closing)
		return;
	control_client_arm(c);
	/* A command sent before this answer ended is waiting; it is read
	 * once this answer is sent (control_client_process). */
	if (!c->dispatching)
		control_client_process(c);
}

/* Splits a command line into words (single spaces or tabs). */
static size_t
control_words(char *line, char **words, size_t max)
{
	size_t	 n = 0;
	char	*w;

	while ((w = strsep(&line, " \t")) != NULL) {
		if (*w == '\0')
			continue;
		if (n == max)
			return (max + 1);
		words[n++] = w;
	}
	return (n);
}

/* Runs one command line. */
static void
control_dispatch(struct control_client *c, char *line)
{
	struct control	*ctl = c->ctl;
	char		*w[CONTROL_ARGS_MAX + 1];
	size_t		 n;

	n = control_words(line, w, nitems(w));
	if (n == 0 || n > nitems(w)) {
		control_client_fail(c, n == 0 ? "error empty command" :
		    "error too many arguments");
		return;
	}
	if (strcmp(w[0], "status") == 0 && n == 1) {
		c->id = ++ctl->next_id;
		ctl->ops->status(ctl, c->id, ctl->arg);
	} else if (strcmp(w[0], "metrics") == 0 && n == 1) {
		c->id = ++ctl->next_id;
		ctl->ops->metrics(ctl, c->id, ctl->arg);
	} else if (strcmp(w[0], "status-json") == 0) {
		c->id = ++ctl->next_id;
		ctl->ops->status_json(ctl, c->id, (const char *const *)w + 1,
		    n - 1, ctl->arg);
	} else if (strcmp(w[0], "fetch") == 0) {
		if (c->uid != 0 && c->uid != geteuid()) {
			log_msg(LOG_LVL_NOTICE, NULL, "control: fetch refused "
			    "to uid %lu (pid %ld)", (unsigned long)c->uid,
			    (long)c->pid);
			control_client_fail(c, "error permission denied: fetch "
			    "is for root and the daemon's user only");
			return;
		}
		c->id = ++ctl->next_id;
		/* fetch can wait for whole polls: no timeout meanwhile, and
		 * "# busy" lines tell the asker the daemon is alive. */
		bufferevent_set_timeouts(c->bev, NULL, NULL);
		c->fetching = 1;
		ctl->ops->fetch(ctl, c->id, (const char *const *)w + 1, n - 1,
		    ctl->arg);
	} else
		control_client_fail(c, "error unknown command (status, "
		    "status-json [ACCOUNT...], metrics, fetch [ACCOUNT...])");
}

/* Whether a command line is printable text. */
static int
control_printable(const char *line, size_t len)
{
	size_t	i;

	for (i = 0; i < len; i++) {
		if (line[i] != '\t' && (iscntrl((unsigned char)line[i]) ||
		    (unsigned char)line[i] >= 0x7f))
			return (0);
	}
	return (1);
}

/* Reads and runs commands while none is in flight and the last answer is
 * sent: a client that pipelines commands but reads slowly would otherwise
 * queue answers without end in the daemon (review r16 05); unread, its
 * commands wait in the socket (the input stops at CONTROL_LINE_MAX), and
 * the write timeout drops a client that takes nothing. */
static void
control_client_process(struct control_client *c)
{
	struct evbuffer	*in = bufferevent_get_input(c->bev);
	struct evbuffer	*out = bufferevent_get_output(c->bev);
	char		*line;
	size_t		 len;

	while (c->id == 0 && !c->closing && evbuffer_get_length(out) == 0) {
		line = evbuffer_readln(in, &len, EVBUFFER_EOL_LF);
		if (line == NULL) {
			if (evbuffer_get_length(in) >= CONTROL_LINE_MAX)
				control_client_fail(c, "error line too long");
			return;
		}
		if (len > 0 && line[len - 1] == '\r')
			line[--len] = '\0';
		if (len >= CONTROL_LINE_MAX)
			control_client_fail(c, "error line too long");
		else if (!control_printable(line, len))
			control_client_fail(c, "error not a command");
		else {
			c->dispatching = 1;
			control_dispatch(c, line);
			c->dispatching = 0;
			if (c->id != 0)
				event_del(c->deadline);
			if (c->id != 0 && c->fetching)
				control_client_keepalive(c);
		}
		free(line);
	}
}

/* Input from a client. */
static void
control_read_cb(struct bufferevent *bev, void *arg)
{
	(void)bev;
	control_client_process(arg);
}

/* Output sent: a closing client goes now; another's next command (one
 * may wait in the input) is read. */
static void
control_write_cb(struct bufferevent *bev, void *arg)
{
	struct control_client	*c = arg;

	if (evbuffer_get_length(bufferevent_get_output(bev)) != 0)
		return;
	if (c->closing)
		control_client_free(c);
	else
		control_client_process(c);
}

/* EOF, error or timeout. A client that half-closed after its command still
 * gets the answer. */
static void
control_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct control_client	*c = arg;

	(void)bev;
	if (what & BEV_EVENT_TIMEOUT)
		log_msg(LOG_LVL_DEBUG, NULL, "control: client pid %ld timed "
		    "out", (long)c->pid);
	if ((what & BEV_EVENT_EOF) && !(what & BEV_EVENT_ERROR) &&
	    (c->id != 0 ||
	    evbuffer_get_length(bufferevent_get_output(c->bev)) > 0)) {
		c->closing = 1;
		bufferevent_disable(c->bev, EV_READ);
		return;
	}
	control_client_free(c);
}

/* The time to send a command ran out: dropped, unless an answer is still
 * being taken (the write timeout watches that; the time starts again). */
static void
control_deadline_cb(evutil_socket_t fd, short what, void *arg)
{
	struct control_client	*c = arg;
	char			 why[64];

	(void)fd;
	(void)what;
	if (c->id != 0 && c->fetching && !c->closing) {
		control_client_line(c, "# busy");
		control_client_keepalive(c);
		return;
	}
	if (c->id != 0 || c->closing)
		return;
	if (evbuffer_get_length(bufferevent_get_output(c->bev)) > 0) {
		control_client_arm(c);
		return;
	}
	snprintf(why, sizeof why, "error no whole command within %d seconds",
	    CONTROL_TIMEOUT);
	control_client_fail(c, why);
}

/* A new connection: note who it is, within the client cap. */
static void
control_accept_cb(struct evconnlistener *l, evutil_socket_t fd,
    struct sockaddr *sa, int salen, void *arg)
{
	static const char	 busy[] = "error too many clients\n.\n";
	struct control		*ctl = arg;
	struct control_client	*c;
	struct ucred		 cred;
	socklen_t		 len = sizeof cred;
	struct timeval		 tv = { CONTROL_TIMEOUT, 0 };

	(void)l;
	(void)sa;
	(void)salen;
	if (ctl->nclients >= CONTROL_CLIENTS_MAX ||
	    getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == -1) {
		/* Best effort on a fresh socket: the buffer has room. */
		if (ctl->nclients >= CONTROL_CLIENTS_MAX &&
		    write(fd, busy, sizeof busy - 1) == -1)
			log_msg(LOG_LVL_DEBUG, NULL, "control: write: %s",
			    strerror(errno));
		close(fd);
		return;
	}
	c = xcalloc(1, sizeof *c);
	c->ctl = ctl;
	c->uid = cred.uid;
	c->pid = cred.pid;
	c->bev = bufferevent_socket_new(ctl->base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (c->bev == NULL) {
		close(fd);
		free(c);
		return;
	}
	TAILQ_INSERT_TAIL(&ctl->clients, c, entry);
	ctl->nclients++;
	bufferevent_setcb(c->bev, control_read_cb, control_write_cb,
	    control_event_cb, c);
	/* Reading stops at the cap: a long line cannot grow the buffer. */
	bufferevent_setwatermark(c->bev, EV_READ, 0, CONTROL_LINE_MAX);
	bufferevent_set_timeouts(c->bev, &tv, &tv);
	c->deadline = evtimer_new(ctl->base, control_deadline_cb, c);
	if (c->deadline == NULL)
		fatalx("evtimer_new failed");
	control_client_arm(c);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
}

/* The directory of the socket must be one only we (or root) can change,
 * so no one else can swap the socket file; it is created (0700) when it
 * is missing. */
static int
control_check_dir(const char *path, char **cause)
{
	struct stat	 sb;
	char		*copy, *dir;
	int		 rc = -1;

	copy = xstrdup(path);
	dir = dirname(copy);
	if (mkdir(dir, 0700) == -1 && errno != EEXIST)
		xasprintf(cause, "control socket directory %s: %s", dir,
		    strerror(errno));
	else if (stat(dir, &sb) == -1)
		xasprintf(cause, "control socket directory %s: %s", dir,
		    strerror(errno));
	else if (!S_ISDIR(sb.st_mode))
		xasprintf(cause, "control socket directory %s: not a "
		    "directory", dir);
	else if ((sb.st_uid != geteuid() && sb.st_uid != 0) ||
	    (sb.st_mode & (S_IWGRP | S_IWOTH)) != 0)
		xasprintf(cause, "control socket directory %s must belong to "
		    "uid %lu (or root) and not be writable by group or others "
		    "(set control_socket to a path in such a directory)", dir,
		    (unsigned long)geteuid());
	else
		rc = 0;
	free(copy);
	return (rc);
}

/* Removes a socket file left by a daemon that is gone; refuses to touch
 * anything else. */
static int
control_clear_stale(const char *path, char **cause)
{
	struct stat	 sb;
	char		*why;
	int		 fd;

	if (lstat(path, &sb) == -1) {
		if (errno == ENOENT)
			return (0);
		xasprintf(cause, "control socket %s: %s", path,
		    strerror(errno));
		return (-1);
	}
	if (!S_ISSOCK(sb.st_mode)) {
		xasprintf(cause, "control socket %s: exists and is not a "
		    "socket; remove it or set control_socket", path);
		return (-1);
	}
	if ((fd = control_connect(path, &why)) != -1) {
		close(fd);
		xasprintf(cause, "control socket %s: another mailfetchd "
		    "answers on it", path);
		return (-1);
	}
	if (errno != ECONNREFUSED) {
		xasprintf(cause, "control socket %s: %s", path, why);
		free(why);
		return (-1);
	}
	free(why);
	if (unlink(path) == -1 && errno != ENOENT) {
		xasprintf(cause, "control socket %s: cannot remove the stale "
		    "socket: %s", path, strerror(errno));
		return (-1);
	}
	log_msg(LOG_LVL_INFO, NULL, "control: removed the stale socket %s",
	    path);
	return (0);
}

/* Creates, binds (mode 0600) and records the socket file. */
static int
control_bind(struct control *ctl, char **cause)
{
	struct sockaddr_un	sun;
	struct stat		sb;
	mode_t			old;
	int			fd, rc;

	if (control_addr(ctl->path, &sun, cause) != 0)
		return (-1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1) {
		xasprintf(cause, "control socket: socket: %s", strerror(errno));
		return (-1);
	}
	/* The mode is set at bind: no window with a wider one. */
	old = umask(0177);
	rc = bind(fd, (struct sockaddr *)&sun, sizeof sun);
	umask(old);
	if (rc == -1 || stat(ctl->path, &sb) == -1) {
		xasprintf(cause, "control socket %s: bind: %s", ctl->path,
		    strerror(errno));
		close(fd);
		return (-1);
	}
	ctl->dev = sb.st_dev;
	ctl->ino = sb.st_ino;
	return (fd);
}

struct control *
control_new(struct event_base *base, const char *path,
    const struct control_ops *ops, void *arg, char **cause)
{
	struct control	*ctl;
	int		 fd;

	if (control_check_dir(path, cause) != 0 ||
	    control_clear_stale(path, cause) != 0)
		return (NULL);
	ctl = xcalloc(1, sizeof *ctl);
	ctl->base = base;
	ctl->path = xstrdup(path);
	ctl->ops = ops;
	ctl->arg = arg;
	TAILQ_INIT(&ctl->clients);
	if ((fd = control_bind(ctl, cause)) == -1) {
		free(ctl->path);
		free(ctl);
		return (NULL);
	}
	ctl->listener = evconnlistener_new(base, control_accept_cb, ctl,
	    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, CONTROL_CLIENTS_MAX,
	    fd);
	if (ctl->listener == NULL) {
		xasprintf(cause, "control socket %s: listen: %s", path,
		    strerror(errno));
		close(fd);
		control_free(ctl);
		return (NULL);
	}
	return (ctl);
}

const char *
control_path(const struct control *ctl)
{
	return (ctl->path);
}

void
control_free(struct control *ctl)
{
	struct control_client	*c;
	struct stat		 sb;

	if (ctl == NULL)
		return;
	/* The last answers (the daemon is stopping) get one try to leave:
	 * the loop that would send them has ended. */
	TAILQ_FOREACH(c, &ctl->clients, entry)
		evbuffer_write(bufferevent_get_output(c->bev),
		    bufferevent_getfd(c->bev));
	while (!TAILQ_EMPTY(&ctl->clients))
		control_client_free(TAILQ_FIRST(&ctl->clients));
	if (ctl->listener != NULL)
		evconnlistener_free(ctl->listener);
	/* Only our own socket: a newer daemon may have replaced it. */
	if (ctl->ino != 0 && lstat(ctl->path, &sb) == 0 &&
	    sb.st_dev == ctl->dev && sb.st_ino == ctl->ino)
		unlink(ctl->path);
	free(ctl->path);
	free(ctl);
}
