/* secret.c: reading passwords and tokens. Every buffer that held a secret
 * is wiped before it is freed. */
#include "secret.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdint.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/queue.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <sys/time.h>

#include <event2/event.h>
#include <openssl/crypto.h>

#include "cmdline.h"
#include "outcome.h"
#include "log.h"
#include "oauth2.h"
#include "privsep.h"
#include "xmalloc.h"

/* A secret buffer's mapping starts with this header; the caller's bytes
 * follow it. */
struct secret_region {
	size_t	 maplen;
	char	 pad[16 - sizeof(size_t)];
};

/* Returns size bytes (zeroed) for a secret, in pages of their own that a
 * core dump leaves out (MADV_DONTDUMP) and that are locked in memory
 * where the limit allows (not swapped out). Aborts when out of memory,
 * like xmalloc. Free with secret_free(). */
void *
secret_alloc(size_t size)
{
	struct secret_region	*r;
	size_t			 page, maplen;
	void			*m;

	page = (size_t)sysconf(_SC_PAGESIZE);
	if (size > SIZE_MAX - sizeof *r - page)
		fatalx("secret_alloc: %zu bytes is too much", size);
	maplen = (size + sizeof *r + page - 1) / page * page;
	m = mmap(NULL, maplen, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (m == MAP_FAILED)
		fatal("secret_alloc: mmap %zu bytes", maplen);
	/* Both are best effort: the page stays usable without them. */
	(void)madvise(m, maplen, MADV_DONTDUMP);
	(void)mlock(m, maplen);
	r = m;
	r->maplen = maplen;
	return (r + 1);
}

/* Wipes and unmaps a buffer from secret_alloc(); NULL is a no-op. */
void
secret_free(void *p)
{
	struct secret_region	*r;
	size_t			 maplen;

	if (p == NULL)
		return;
	r = (struct secret_region *)p - 1;
	maplen = r->maplen;
	OPENSSL_cleanse(r, maplen);
	(void)munlock(r, maplen);
	munmap(r, maplen);
}

/* Keeps secrets out of core dumps and away from other processes of the
 * same user: no core file (RLIMIT_CORE 0) and not dumpable, which also
 * refuses ptrace and /proc/PID/mem to anyone but root. Failures are
 * logged, not fatal: they only lose a layer of defence. */
void
secret_harden_process(void)
{
	struct rlimit	 rl = { 0, 0 };

	if (setrlimit(RLIMIT_CORE, &rl) == -1)
		log_warn("setrlimit(RLIMIT_CORE)");
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) == -1)
		log_warn("prctl(PR_SET_DUMPABLE)");
}

/* Takes the first line of buf (len bytes read; buf has room for a NUL at
 * buf[len]) and returns a fresh copy, or NULL with *cause. A NUL byte in
 * the first line is refused: it would silently cut the secret short. */
static char *
secret_first_line(char *buf, size_t len, const char *what, char **cause)
{
	size_t	 n;
	char	*s;

	for (n = 0; n < len && buf[n] != '\r' && buf[n] != '\n'; n++) {
		if (buf[n] == '\0') {
			xasprintf(cause, "%s: the first line contains a NUL "
			    "byte", what);
			return (NULL);
		}
	}
	if (n == 0) {
		xasprintf(cause, "%s: the first line is empty", what);
		return (NULL);
	}
	s = xstrndup(buf, n);
	log_add_secret(s);
	return (s);
}

/* Reads the first line of a file that only its owner (us) can read. */
char *
secret_from_file(const char *path, char **cause)
{
	struct stat	 sb;
	char		*buf, *s = NULL;
	ssize_t		 n;
	size_t		 len = 0;
	int		 fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) == -1) {
		xasprintf(cause, "password_file %s: %s", path, strerror(errno));
		return (NULL);
	}
	if (fstat(fd, &sb) == -1 || !S_ISREG(sb.st_mode)) {
		xasprintf(cause, "password_file %s: not a regular file", path);
		close(fd);
		return (NULL);
	}
	if ((sb.st_mode & 077) != 0) {
		xasprintf(cause, "password_file %s: mode %03o lets others read "
		    "or change it; run: chmod 600 %s", path,
		    (unsigned)(sb.st_mode & 0777), path);
		close(fd);
		return (NULL);
	}
	if (sb.st_uid != geteuid()) {
		xasprintf(cause, "password_file %s: owned by uid %u, not by "
		    "the user mailfetchd runs as (uid %u)", path,
		    (unsigned)sb.st_uid, (unsigned)geteuid());
		close(fd);
		return (NULL);
	}
	buf = secret_alloc(SECRET_MAX + 1);
	while (len < SECRET_MAX &&
	    (n = read(fd, buf + len, SECRET_MAX - len)) != 0) {
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			xasprintf(cause, "password_file %s: %s", path,
			    strerror(errno));
			goto out;
		}
		len += n;
	}
	s = secret_first_line(buf, len, path, cause);
out:
	secret_free(buf);
	close(fd);
	return (s);
}

/*
 * Commands and OAuth2 refreshes in a child process, watched from the event
 * loop: the child's stdout is a non-blocking pipe with a read event on it,
 * a timer bounds the whole run (SECRET_COMMAND_TIMEOUT), and the child is
 * reaped with waitpid(WNOHANG), polled every SECRET_REAP_POLL_MS from the
 * start (SIGCHLD is left to its current owner: privsep's
 * supervisor reaps its workers with waitpid(-1), and a worker's children
 * are not its business). The synchronous secret_from_command runs the
 * same job on a private event base.
 */

/* How often the child's exit is looked for: its end, not EOF on its
 * stdout, ends the read (secret_job_poll). */
#define SECRET_REAP_POLL_MS	20
/* How long an OAuth2 refresh child may run: the refresh is one POST,
 * OAUTH2_HTTP_TIMEOUT per phase (connect, TLS, answer). */
#define SECRET_OAUTH2_TIMEOUT	(4 * OAUTH2_HTTP_TIMEOUT)
/* The OAuth2 child's answer pipe, right above stdio. */
#define SECRET_OAUTH2_FD	3

enum secret_job_kind {
	SECRET_JOB_COMMAND,	/* password_command, token_command */
	SECRET_JOB_OAUTH2,	/* oauth2_token in a child (a refresh's) */
	SECRET_JOB_WAIT,	/* a session's wait for a secret_refresh */
	SECRET_JOB_READY,	/* no child: the result is known already */
};

struct secret_refresh;

struct secret_job {
	enum secret_job_kind		 kind;
	const char			*what;		/* for messages */
	char				*name;		/* argv[0]; account */
	char				*token_file;	/* SECRET_JOB_OAUTH2 */
	struct secret_refresh		*refresh;	/* SECRET_JOB_WAIT */
	TAILQ_ENTRY(secret_job)		 wentry;	/* in its waiters */
	unsigned int			 timeout;	/* seconds */
	pid_t				 pid;		/* 0: none or reaped */
	int				 fd;		/* -1: closed */
	int				 wstatus;
	int				 timed_out;
	char				*buf;		/* secret_alloc'd */
	size_t				 len;
	struct timeval			 started;
	struct event			*ev_read;
	struct event			*ev_timer;
	struct event			*ev_done;
	char				*secret;	/* the result */
	char				*cause;
	int				 status;
	secret_job_cb			 cb;
	void				*arg;
};

static void	secret_job_read_cb(evutil_socket_t, short, void *);
static void	secret_job_timer_cb(evutil_socket_t, short, void *);
static void	secret_job_done_cb(evutil_socket_t, short, void *);
static __dead void secret_oauth2_child(const struct account_conf *, int);
static void	secret_oauth2_result(struct secret_job *);

/*
 * A command runs under a supervisor: the forked child, which never execs.
 * PR_SET_PDEATHSIG alone covers only the direct child, and what a
 * password_command starts (gpg, a pinentry, a sleep) would run on after a
 * kill -9 of the daemon. Linux has no "kill my descendants", and the
 * daemon may not own a cgroup to kill; so the supervisor:
 *  - gets SIGTERM when the daemon dies (PR_SET_PDEATHSIG) or times the
 *    command out (secret_job_reap), the only two ways it is asked to end
 *    the command early;
 *  - is a child subreaper (PR_SET_CHILD_SUBREAPER): a descendant whose
 *    parent ended, even one that left the process group (setsid, a
 *    daemonising agent), becomes its child instead of init's, so it can
 *    still find and kill it (secret_kill_tree);
 *  - runs the command in a process group of its own (the command's pid),
 *    not the supervisor's, so that killing that group never kills the
 *    supervisor before it has done the rest;
 *  - when the command exits, kills what it left in its session: its
 *    group, and every descendant still in the session (a job-control
 *    group, "set -m; helper &", or any setpgid'd helper); such a
 *    leftover is part of the command's run, and one still holding stdout
 *    would keep the daemon from ever seeing EOF. A descendant that
 *    started a session of its own with setsid (an agent that daemonises,
 *    gpg-agent) is left to run, as it would be from a shell: killing it
 *    would lose its passphrase cache at each poll. That is a judgement
 *    call, documented in mailfetchd.conf(5); the daemon does not wait for
 *    such an agent's EOF on stdout either (secret_job_poll). Then the
 *    supervisor exits with the command's status, or by its signal, for
 *    the daemon's messages.
 * The supervisor holds none of the daemon's descriptors (only stdio and
 * the two pipes, closed once the command is started: EOF on stdout is the
 * command's alone), and the command has PR_SET_PDEATHSIG SIGKILL too, in
 * case the supervisor itself is killed.
 */

/* Bounds the supervisor's killing (secret_kill_tree): a descendant stuck
 * in an uninterruptible wait must not hold the daemon's waitpid. */
#define SECRET_KILL_SECONDS	2

/* Closes every fd from 3 up but keep1 and keep2 (keep1 < keep2; either
 * may be below 3): close_range around them, or one by one from
 * /proc/self/fd where the kernel has no close_range (before 5.9). */
static int
secret_close_except(int keep1, int keep2, int keep3)
{
	struct dirent	*de;
	DIR		*d;
	int		 fd, lo = 3, keep[3] = { keep1, keep2, keep3 }, i, j, t;

	for (i = 0; i < 3; i++) {	/* ascending */
		for (j = i + 1; j < 3; j++) {
			if (keep[j] < keep[i])
				t = keep[i], keep[i] = keep[j], keep[j] = t;
		}
	}
	for (i = 0; i < 3; i++) {
		if (keep[i] < lo)
			continue;
		if (keep[i] > lo && close_range(lo, keep[i] - 1, 0) != 0)
			break;
		lo = keep[i] + 1;
	}
	if (i == 3 && close_range(lo, ~0U, 0) == 0)
		return (0);
	if ((d = opendir("/proc/self/fd")) == NULL)
		return (-1);
	while ((de = readdir(d)) != NULL) {
		fd = atoi(de->d_name);
		if (fd >= 3 && fd != keep1 && fd != keep2 && fd != keep3 &&
		    fd != dirfd(d))
			close(fd);
	}
	closedir(d);
	return (0);
}

/* In the command's process: its own group, death with the supervisor,
 * the daemon's signal mask back, stdout to the pipe, exec. An exec
 * failure goes to errfd (close-on-exec: EOF on success). */
static __dead void
secret_exec(char **argv, int outfd, int errfd, pid_t parent,
    const sigset_t *mask)
{
	int	 e;

	setpgid(0, 0);
	if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) == -1)
		e = errno;
	else if (getppid() != parent)
		e = ESRCH;
	else if (sigprocmask(SIG_SETMASK, mask, NULL) == -1 ||
	    dup2(outfd, STDOUT_FILENO) == -1)
		e = errno;
	else {
		execvp(argv[0], argv);
		e = errno;
	}
	if (write(errfd, &e, sizeof e) == -1)
		_exit(127);
	_exit(127);
}

/* The parent pid and the session of process pid, from /proc/N/stat
 * ("pid (comm) S ppid pgrp session ..."; comm may hold spaces and ')').
 * -1 when it is gone or unreadable. */
static int
secret_proc_stat(int pid, long *ppid, long *sid)
{
	FILE	*f;
	char	 path[64], buf[512], *p;
	size_t	 n;

	snprintf(path, sizeof path, "/proc/%d/stat", pid);
	if ((f = fopen(path, "re")) == NULL)
		return (-1);
	n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = '\0';
	if ((p = strrchr(buf, ')')) == NULL ||
	    sscanf(p + 1, " %*c %ld %*d %ld", ppid, sid) != 2)
		return (-1);
	return (0);
}

/* A process of a /proc scan. */
struct secret_proc {
	long	pid;
	long	ppid;
	long	sid;
	int	mine;	/* 0: not known yet, 1: a descendant, 2: not one */
};

static int
secret_proc_cmp(const void *a, const void *b)
{
	const struct secret_proc	*x = a, *y = b;

	return (x->pid < y->pid ? -1 : x->pid > y->pid);
}

/* Every process /proc shows, sorted by pid (caller frees), *n of them;
 * NULL when /proc cannot be read. */
static struct secret_proc *
secret_proc_scan(size_t *n)
{
	struct secret_proc	*p = NULL;
	struct dirent		*de;
	DIR			*d;
	size_t			 cap = 0;
	long			 ppid, sid;
	int			 pid;

	*n = 0;
	if ((d = opendir("/proc")) == NULL)
		return (NULL);
	while ((de = readdir(d)) != NULL) {
		if ((pid = atoi(de->d_name)) <= 0 ||
		    secret_proc_stat(pid, &ppid, &sid) != 0)
			continue;
		if (*n == cap) {
			cap = cap == 0 ? 256 : cap * 2;
			p = xreallocarray(p, cap, sizeof *p);
		}
		p[(*n)++] = (struct secret_proc){ pid, ppid, sid, 0 };
	}
	closedir(d);
	if (p != NULL)
		qsort(p, *n, sizeof *p, secret_proc_cmp);
	return (p);
}

/* Whether p[i] descends from self: its parent chain walked up to self,
 * init or a process already known, and what is found kept for every
 * process on the way (each is walked once: a deep chain costs n). */
static int
secret_proc_mine(struct secret_proc *p, size_t n, size_t i, long self,
    size_t *path)
{
	struct secret_proc	 key, *up;
	size_t			 len = 0, j;
	int			 mine = 2;

	while (p[i].mine == 0 && len < n) {
		path[len++] = i;
		if (p[i].ppid == self) {
			mine = 1;
			break;
		}
		key.pid = p[i].ppid;
		if ((up = bsearch(&key, p, n, sizeof *p,
		    secret_proc_cmp)) == NULL)
			break;
		i = (size_t)(up - p);
	}
	if (len == 0 || (p[i].mine != 0 && mine != 1))
		mine = p[i].mine != 0 ? p[i].mine : 2;
	for (j = 0; j < len; j++)
		p[path[j]].mine = mine;
	return (mine == 1);
}

/* Kills every descendant of this process in session sid, or in any
 * session when any is set (a zombie is found too, until reaped), and
 * returns how many: the whole tree at once, however deep and however
 * many process groups or sessions it made, from one scan of /proc (a
 * child that one forks meanwhile becomes ours when its parent dies: the
 * subreaper; the next call finds it). sid 0 is a real answer, not
 * "any": in a PID namespace whose session leader lies outside it (a
 * container's or a CI sandbox's runner), getsid() and /proc give 0 for
 * that session, and a process that left it with setsid still has its
 * own, visible, id. */
static int
secret_kill_children(long sid, int any)
{
	struct secret_proc	*p;
	size_t			 n, i, *path;
	long			 self = (long)getpid();
	int			 found = 0;

	if ((p = secret_proc_scan(&n)) == NULL)
		return (0);
	path = xreallocarray(NULL, n + 1, sizeof *path);
	for (i = 0; i < n; i++) {
		if (p[i].pid != self &&
		    secret_proc_mine(p, n, i, self, path) &&
		    (any || p[i].sid == sid)) {
			kill((pid_t)p[i].pid, SIGKILL);
			found++;
		}
	}
	free(path);
	free(p);
	return (found);
}

/* Reaps what has ended among our children, waiting for one first. -1
 * when there is no child left. */
static int
secret_reap_some(void)
{
	if (waitpid(-1, NULL, 0) == -1 && errno == ECHILD)
		return (-1);
	while (waitpid(-1, NULL, WNOHANG) > 0)
		;
	return (0);
}

/* Kills the command's group, then every descendant still there (each
 * becomes our child when its parent dies: the subreaper), reaping them
 * until none is left. */
static void
secret_kill_tree(pid_t cmd)
{
	alarm(SECRET_KILL_SECONDS);	/* SIGALRM's default: we end */
	kill(-cmd, SIGKILL);
	for (;;) {
		secret_kill_children(0, 1);
		if (secret_reap_some() != 0)
			return;
	}
}

/* After the command's own end: kills its descendants still in its
 * session (ours: the command only made a group of its own), reaping
 * them, until none is left; each becomes our child when its parent dies
 * (the subreaper), and a process never returns into a session it left,
 * so one that called setsid, and all it starts, is never found. */
static void
secret_kill_session(void)
{
	long	sid = (long)getsid(0);

	alarm(SECRET_KILL_SECONDS);	/* SIGALRM's default: we end */
	while (secret_kill_children(sid, 0) > 0) {
		if (secret_reap_some() != 0)
			break;
	}
	alarm(0);
}

/* Ends the supervisor as the command ended: its exit status, or its
 * signal (without a core file). */
static __dead void
secret_exit_as(int ws)
{
	struct rlimit	rl = { 0, 0 };
	sigset_t	set;

	if (WIFSIGNALED(ws)) {
		(void)setrlimit(RLIMIT_CORE, &rl);
		signal(WTERMSIG(ws), SIG_DFL);
		sigemptyset(&set);
		sigaddset(&set, WTERMSIG(ws));
		sigprocmask(SIG_UNBLOCK, &set, NULL);
		raise(WTERMSIG(ws));
	}
	_exit(WIFEXITED(ws) ? WEXITSTATUS(ws) : 127);
}

/* Reaps the children that ended (reparented descendants) but the
 * command, which is only looked at (WNOWAIT): its pid, and so its
 * process group, stays reserved until its leftovers are killed. 1 when
 * the command ended, with *ws. */
static int
secret_reap_ended(pid_t cmd, int *ws)
{
	siginfo_t	si;

	for (;;) {
		memset(&si, 0, sizeof si);
		if (waitid(P_ALL, 0, &si, WEXITED|WNOHANG|WNOWAIT) == -1 ||
		    si.si_pid == 0)
			return (0);
		if (si.si_pid == cmd)
			break;
		waitpid(si.si_pid, NULL, 0);
	}
	kill(-cmd, SIGKILL);
	while (waitpid(cmd, ws, 0) == -1 && errno == EINTR)
		;
	secret_kill_session();
	return (1);
}

/* The supervisor's loop: the command's end, or SIGTERM (the daemon
 * died, or timed the command out; SIGHUP and SIGINT alike). */
static __dead void
secret_supervise(pid_t cmd, const sigset_t *set, int holdfd)
{
	siginfo_t	si;
	int		ws;

	for (;;) {
		if (sigwaitinfo(set, &si) == -1)
			continue;
		if (si.si_signo == SIGUSR1) {	/* secret_cmd_release */
			if (holdfd != -1)
				close(holdfd);
			holdfd = -1;
			continue;
		}
		/* Killed with holdfd still open: the command never saw its
		 * input end, so it cannot take a cut message for whole. */
		if (si.si_signo != SIGCHLD) {
			secret_kill_tree(cmd);
			_exit(128 + SIGKILL);
		}
		if (secret_reap_ended(cmd, &ws))
			secret_exit_as(ws);
	}
}

/* In the forked child, the supervisor (above). The daemon's pid (parent,
 * taken before the fork) tells a daemon already gone before prctl.
 * Errors before the exec go to errfd, as the exec's own. */
static __dead void
secret_child(char **argv, int outfd, int errfd, int holdfd, pid_t parent)
{
	sigset_t	 set, old;
	pid_t		 cmd, self = getpid();
	int		 e;

	setpgid(0, 0);
	/* The daemon's handlers (libevent's, writing to a socket pair the
	 * daemon reads) must not run here: the signals they catch are
	 * blocked and taken by secret_supervise. */
	signal(SIGCHLD, SIG_DFL);	/* never auto-reaped */
	signal(SIGALRM, SIG_DFL);
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGCHLD);
	sigaddset(&set, SIGUSR1);
	sigprocmask(SIG_BLOCK, &set, &old);
	if (prctl(PR_SET_PDEATHSIG, SIGTERM, 0, 0, 0) == -1 ||
	    prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == -1)
		e = errno;
	else if (getppid() != parent)
		e = ESRCH;
	else if (secret_close_except(outfd, errfd, holdfd) != 0)
		e = errno;
	else if ((cmd = fork()) == -1)
		e = errno;
	else if (cmd == 0)
		secret_exec(argv, outfd, errfd, self, &old);
	else {
		setpgid(cmd, cmd);	/* before any kill(-cmd) */
		close(outfd);
		close(errfd);
		secret_supervise(cmd, &set, holdfd);
	}
	if (write(errfd, &e, sizeof e) == -1)
		_exit(127);
	_exit(127);
}

/* Ends the child (when kill_it) and waits for it: a command's supervisor
 * is asked to kill the command's whole tree (SIGTERM; it ends within
 * SECRET_KILL_SECONDS), an OAuth2 child is killed with its group. */
static void
secret_job_reap(struct secret_job *j, int kill_it)
{
	if (j->pid <= 0)
		return;
	if (kill_it && j->kind == SECRET_JOB_COMMAND) {
		secret_cmd_kill(j->pid, &j->wstatus);
		j->pid = 0;
		return;
	}
	if (kill_it) {
		kill(-j->pid, SIGKILL);
		kill(j->pid, SIGKILL);
	}
	while (waitpid(j->pid, &j->wstatus, 0) == -1 && errno == EINTR)
		;
	j->pid = 0;
}

static struct secret_job *
secret_job_new(struct event_base *base, enum secret_job_kind kind,
    const char *what, unsigned int timeout, secret_job_cb cb, void *arg)
{
	struct secret_job	*j;

	j = xcalloc(1, sizeof *j);
	j->kind = kind;
	j->what = what;
	j->timeout = timeout;
	j->fd = -1;
	j->status = EXIT_CONFIG;
	j->cb = cb;
	j->arg = arg;
	j->ev_timer = evtimer_new(base, secret_job_timer_cb, j);
	j->ev_done = event_new(base, -1, 0, secret_job_done_cb, j);
	if (j->ev_timer == NULL || j->ev_done == NULL)
		fatalx("secret_job_new: cannot create events");
	return (j);
}

/* Hands the result to the owner from the loop, never from inside the
 * call that started the job. */
static void
secret_job_finish(struct secret_job *j)
{
	evtimer_del(j->ev_timer);
	if (j->ev_read != NULL)
		event_del(j->ev_read);
	if (j->fd != -1) {
		close(j->fd);
		j->fd = -1;
	}
	event_active(j->ev_done, EV_TIMEOUT, 1);
}

/* Whether an environment string is kept in an owner's command: the
 * locale and the time zone, which say how to show things, not who runs. */
static int
secret_env_kept(const char *s)
{
	return (strncmp(s, "LANG=", 5) == 0 || strncmp(s, "LC_", 3) == 0 ||
	    strncmp(s, "TZ=", 3) == 0);
}

/* In the forked child of a privsep worker (the owner's uid, but root's
 * environment, inherited from the daemon root started): the environment
 * is replaced by the owner's own, so that nothing of root's reaches a
 * process the owner can read (/proc/PID/environ), and per-user tools
 * find the owner's home: PATH, HOME, USER, LOGNAME, SHELL from the
 * passwd entry, and the locale and time zone. */
static void
secret_env_owner(void)
{
	extern char	**environ;
	struct passwd	 *pw = getpwuid(getuid());
	char		**kept = NULL;
	size_t		  i, n = 0;

	for (i = 0; environ != NULL && environ[i] != NULL; i++) {
		if (!secret_env_kept(environ[i]))
			continue;
		kept = xreallocarray(kept, n + 1, sizeof *kept);
		kept[n++] = xstrdup(environ[i]);
	}
	if (clearenv() != 0 ||
	    setenv("PATH", "/usr/local/bin:/usr/bin:/bin", 1) != 0)
		_exit(127);
	for (i = 0; i < n; i++) {
		if (putenv(kept[i]) != 0)
			_exit(127);
	}
	if (pw != NULL && (setenv("HOME", pw->pw_dir, 1) != 0 ||
	    setenv("USER", pw->pw_name, 1) != 0 ||
	    setenv("LOGNAME", pw->pw_name, 1) != 0 ||
	    setenv("SHELL", pw->pw_shell, 1) != 0))
		_exit(127);
}

/* In the forked child, before the supervisor: the command's stdin and
 * environment (the owner's under privsep), and the variables added to
 * it. */
static void
secret_cmd_setup(const struct secret_cmd *c)
{
	size_t	i;

	if (c->infd != -1 && c->infd != STDIN_FILENO &&
	    dup2(c->infd, STDIN_FILENO) == -1)
		_exit(127);
	if (c->errfd != -1 && c->errfd != STDERR_FILENO &&
	    dup2(c->errfd, STDERR_FILENO) == -1)
		_exit(127);
	if (privsep_dropped())
		secret_env_owner();
	for (i = 0; c->env != NULL && c->env[i] != NULL; i++) {
		if (putenv(c->env[i]) != 0)
			_exit(127);
	}
}

/* See secret.h. The exec's failure comes back on an error pipe
 * (close-on-exec: EOF on success), so it is known here. */
pid_t
secret_cmd_spawn(const struct secret_cmd *c, const char *what, char **cause)
{
	int	 ep[2], e;
	ssize_t	 n;
	pid_t	 pid, parent = getpid();

	if (pipe2(ep, O_CLOEXEC) == -1) {
		xasprintf(cause, "%s: pipe: %s", what, strerror(errno));
		return (-1);
	}
	if ((pid = fork()) == -1) {
		xasprintf(cause, "%s: fork: %s", what, strerror(errno));
		close(ep[0]);
		close(ep[1]);
		return (-1);
	}
	if (pid == 0) {
		secret_cmd_setup(c);
		secret_child(c->argv, c->outfd, ep[1], c->holdfd, parent);
	}
	/* Also here, so the group exists before any kill(-pid). */
	setpgid(pid, pid);
	close(ep[1]);
	/* Returns at once: exec either happened (EOF) or failed. */
	while ((n = read(ep[0], &e, sizeof e)) == -1 && errno == EINTR)
		;
	close(ep[0]);
	if (n == (ssize_t)sizeof e) {
		while (waitpid(pid, NULL, 0) == -1 && errno == EINTR)
			;
		xasprintf(cause, "%s: cannot run '%s': %s", what,
		    c->argv[0], strerror(e));
		return (-1);
	}
	return (pid);
}

void
secret_cmd_abort(pid_t pid)
{
	kill(pid, SIGTERM);
}

void
secret_cmd_release(pid_t pid)
{
	kill(pid, SIGUSR1);
}

long
secret_cmd_elapsed_ms(const struct timespec *started)
{
	struct timespec	now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return ((now.tv_sec - started->tv_sec) * 1000 + (now.tv_nsec -
	    started->tv_nsec) / 1000000);
}

void
secret_cmd_escalate(pid_t pid, const struct timespec *started,
    long timeout_ms, long kill_ms, int *killing, long *killed_ms)
{
	long	ms = secret_cmd_elapsed_ms(started);

	if (*killing == 0 && ms >= timeout_ms) {
		secret_cmd_abort(pid);
		*killing = 1;
		*killed_ms = ms;
	} else if (*killing == 1 && ms - *killed_ms >= kill_ms) {
		/* The supervisor did not end it in time: it and all it
		 * started, at once. */
		kill(-pid, SIGKILL);
		kill(pid, SIGKILL);
		*killing = 2;
	}
}

void
secret_cmd_kill(pid_t pid, int *wstatus)
{
	int	ws;

	kill(pid, SIGTERM);
	while (waitpid(pid, &ws, 0) == -1 && errno == EINTR)
		;
	if (wstatus != NULL)
		*wstatus = ws;
}

/* Starts the child with stdout to a non-blocking pipe: 0, or -1 and
 * j->cause. An exec failure is known here (secret_cmd_spawn). oauth2_ac
 * non-NULL: the child runs secret_oauth2_child instead of argv. */
static int
secret_job_spawn(struct secret_job *j, char **argv,
    const struct account_conf *oauth2_ac)
{
	struct secret_cmd	 c;
	int			 p[2];

	if (pipe2(p, O_CLOEXEC) == -1) {
		xasprintf(&j->cause, "%s: pipe: %s", j->what, strerror(errno));
		return (-1);
	}
	if (oauth2_ac == NULL) {
		memset(&c, 0, sizeof c);
		c.argv = argv;
		c.infd = -1;
		c.holdfd = -1;
		c.outfd = p[1];
		c.errfd = -1;
		j->pid = secret_cmd_spawn(&c, j->what, &j->cause);
	} else if ((j->pid = fork()) == 0)
		secret_oauth2_child(oauth2_ac, p[1]);
	else if (j->pid == -1)
		xasprintf(&j->cause, "%s: fork: %s", j->what, strerror(errno));
	else
		setpgid(j->pid, j->pid);
	close(p[1]);
	if (j->pid == -1) {
		j->pid = 0;
		close(p[0]);
		return (-1);
	}
	j->fd = p[0];
	return (0);
}

/* Watches the child's stdout and its exit, within the job's time
 * limit. */
static void
secret_job_watch(struct secret_job *j, struct event_base *base)
{
	struct timeval	tv = { 0, SECRET_REAP_POLL_MS * 1000 };

	if (fcntl(j->fd, F_SETFL, O_NONBLOCK) == -1)
		log_warn("%s: fcntl O_NONBLOCK", j->what);
	j->buf = secret_alloc(SECRET_MAX + 1);
	gettimeofday(&j->started, NULL);
	j->ev_read = event_new(base, j->fd, EV_READ | EV_PERSIST,
	    secret_job_read_cb, j);
	if (j->ev_read == NULL)
		fatalx("secret_job_watch: cannot create events");
	event_add(j->ev_read, NULL);
	evtimer_add(j->ev_timer, &tv);
}

char *
secret_cmd_how(int ws, int timed_out, unsigned int timeout)
{
	char	*s;

	if (timed_out)
		xasprintf(&s, "timed out after %u seconds and was killed",
		    timeout);
	else if (WIFEXITED(ws) && WEXITSTATUS(ws) == 0)
		return (NULL);
	else if (WIFEXITED(ws))
		xasprintf(&s, "exited with status %d", WEXITSTATUS(ws));
	else
		xasprintf(&s, "was killed by signal %d", WTERMSIG(ws));
	return (s);
}

/* A command's result, from what it wrote and how it ended. */
static void
secret_job_command_result(struct secret_job *j)
{
	char	*how;

	how = secret_cmd_how(j->wstatus, j->timed_out, j->timeout);
	if (how != NULL) {
		xasprintf(&j->cause, "%s '%s' %s", j->what, j->name, how);
		free(how);
	} else
		j->secret = secret_first_line(j->buf, j->len, j->what,
		    &j->cause);
}

/* The child ended (or was killed): the result, then the owner. */
static void
secret_job_complete(struct secret_job *j)
{
	if (j->kind == SECRET_JOB_OAUTH2)
		secret_oauth2_result(j);
	else
		secret_job_command_result(j);
	secret_free(j->buf);
	j->buf = NULL;
	secret_job_finish(j);
}

/* Past the time limit: the whole process group goes. */
static void
secret_job_expired(struct secret_job *j)
{
	j->timed_out = 1;
	secret_job_reap(j, 1);
	secret_job_complete(j);
}

/* Reads what the child's stdout holds now, up to SECRET_MAX: 1 at EOF,
 * an error or the cap, 0 when the rest is still to come. */
static int
secret_job_drain(struct secret_job *j)
{
	ssize_t	 n;

	while (j->len < SECRET_MAX) {
		n = read(j->fd, j->buf + j->len, SECRET_MAX - j->len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && errno == EAGAIN)
			return (0);
		if (n <= 0)
			break;
		j->len += n;
	}
	return (1);
}

/* The child's exit status, if it is gone yet; then what its stdout
 * holds is all the command wrote (a command's supervisor exits after
 * it), and EOF is not waited for: a descendant that left the command's
 * session (a daemonising agent, see secret_kill_session) may hold stdout
 * open for as long as it runs. */
static void
secret_job_poll(struct secret_job *j)
{
	struct timeval	now, used, tv = { 0, SECRET_REAP_POLL_MS * 1000 };
	pid_t		pid;

	while ((pid = waitpid(j->pid, &j->wstatus, WNOHANG)) == -1 &&
	    errno == EINTR)
		;
	if (pid == j->pid || pid == -1) {
		j->pid = 0;
		if (j->fd != -1)
			(void)secret_job_drain(j);
		secret_job_complete(j);
		return;
	}
	gettimeofday(&now, NULL);
	timersub(&now, &j->started, &used);
	if (used.tv_sec >= (time_t)j->timeout) {
		secret_job_expired(j);
		return;
	}
	evtimer_add(j->ev_timer, &tv);
}

/* The child's stdout: read what is there; at EOF or the size cap, wait
 * for its exit. */
static void
secret_job_read_cb(evutil_socket_t fd, short what, void *arg)
{
	struct secret_job	*j = arg;

	(void)fd;
	(void)what;
	if (!secret_job_drain(j))
		return;
	event_del(j->ev_read);
	close(j->fd);
	j->fd = -1;
	evtimer_del(j->ev_timer);
	secret_job_poll(j);
}

/* The next look for the exit (and the time limit). */
static void
secret_job_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct secret_job	*j = arg;

	(void)fd;
	(void)what;
	secret_job_poll(j);
}

/* Delivers the result; the owner takes the secret and the cause. */
static void
secret_job_done_cb(evutil_socket_t fd, short what, void *arg)
{
	struct secret_job	*j = arg;
	char			*secret = j->secret, *cause = j->cause;

	(void)fd;
	(void)what;
	j->secret = NULL;
	j->cause = NULL;
	j->cb(secret, j->status, cause, j->arg);
}

/* A password_command or token_command job. */
static struct secret_job *
secret_job_command(struct event_base *base, const char *what,
    const char *command, unsigned int timeout, secret_job_cb cb, void *arg)
{
	struct secret_job	*j;
	char			**argv, *why;

	j = secret_job_new(base, SECRET_JOB_COMMAND, what, timeout, cb, arg);
	if (cmdline_split(command, &argv, &why) != 0) {
		xasprintf(&j->cause, "%s: %s", what, why);
		free(why);
		secret_job_finish(j);
		return (j);
	}
	j->name = xstrdup(argv[0]);
	if (secret_job_spawn(j, argv, NULL) != 0)
		secret_job_finish(j);
	else
		secret_job_watch(j, base);
	cmdline_free(argv);
	return (j);
}

/* Writes all of buf to fd; -1 on failure. */
static int
secret_write_all(int fd, const char *buf, size_t len)
{
	ssize_t	n;

	while (len > 0) {
		if ((n = write(fd, buf, len)) == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			return (-1);
		buf += n;
		len -= n;
	}
	return (0);
}

/* Closes every fd from lowfd up: close_range, or one by one from
 * /proc/self/fd where the kernel has no close_range (before 5.9). */
static int
secret_close_from(int lowfd)
{
	struct dirent	*de;
	DIR		*d;
	int		 fd;

	if (close_range((unsigned int)lowfd, ~0U, 0) == 0)
		return (0);
	if ((d = opendir("/proc/self/fd")) == NULL)
		return (-1);
	while ((de = readdir(d)) != NULL) {
		fd = atoi(de->d_name);
		if (fd >= lowfd && fd != dirfd(d))
			close(fd);
	}
	closedir(d);
	return (0);
}

/* In the OAuth2 child (a fork without exec): keeps stdio and the answer
 * pipe, moved to SECRET_OAUTH2_FD, and closes everything else it got from
 * the daemon. The flock'd lock files of all accounts, the control socket
 * and the IDLE connections would otherwise stay open as long as the
 * refresh runs, and after a kill -9 of the daemon keep every account
 * locked against a new one. The journal's socket goes too: log lines go
 * to stderr (the journal's stream under systemd). The answer fd, or -1. */
static int
secret_oauth2_child_fds(int outfd)
{
	if (outfd != SECRET_OAUTH2_FD &&
	    dup2(outfd, SECRET_OAUTH2_FD) == -1)
		return (-1);
	if (secret_close_from(SECRET_OAUTH2_FD + 1) != 0)
		return (-1);
	log_force_stderr(1);
	return (SECRET_OAUTH2_FD);
}

/* In the OAuth2 child: the blocking refresh (oauth2_token, its own event
 * base and sockets), its answer on outfd: "T<expiry>\n<token>" or
 * "A<cause>" (re-authorisation needed) or "N<cause>". Exits without
 * running the parent's atexit handlers or flushing its stdio. */
static __dead void
secret_oauth2_child(const struct account_conf *ac, int outfd)
{
	char	*tok, *cause = NULL, *out;
	time_t	 exp = 0;
	int	 reauth, rc;

	if ((outfd = secret_oauth2_child_fds(outfd)) == -1)
		_exit(1);
	setpgid(0, 0);
	/* The daemon's handlers (libevent's, writing to a socket pair the
	 * parent reads) must not take this process's signals for its own.
	 * Ignored, not the default: systemd's stop sends SIGTERM to every
	 * process of the service, and a refresh killed after the endpoint
	 * rotated the refresh token loses the new one (see secret_refresh).
	 * SIGALRM bounds the run once the daemon is no longer there to. */
	signal(SIGTERM, SIG_IGN);
	signal(SIGINT, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	signal(SIGALRM, SIG_DFL);
	alarm(SECRET_OAUTH2_TIMEOUT);
	if ((tok = oauth2_token(ac, &reauth, &cause)) != NULL) {
		xfree_secret(oauth2_token_cached(ac, &exp));
		xasprintf(&out, "T%lld\n%s", (long long)exp, tok);
		xfree_secret(tok);
	} else
		xasprintf(&out, "%c%s", reauth ? 'A' : 'N', cause);
	rc = secret_write_all(outfd, out, strlen(out));
	xfree_secret(out);
	_exit(rc == 0 ? 0 : 1);
}

/* The OAuth2 child's answer, into the job and the access token cache. */
static void
secret_oauth2_result(struct secret_job *j)
{
	const char	*name = j->name;
	char		*nl, *end;
	long long	 exp;

	j->status = EXIT_NETWORK;
	j->buf[j->len] = '\0';
	if (j->timed_out) {
		xasprintf(&j->cause, "account %s: token refresh: no answer "
		    "within %u seconds", name, j->timeout);
		return;
	}
	if (!WIFEXITED(j->wstatus) || WEXITSTATUS(j->wstatus) != 0 ||
	    j->len < 1) {
		xasprintf(&j->cause, "account %s: token refresh: the refresh "
		    "process failed", name);
		return;
	}
	if (j->buf[0] != 'T') {
		if (j->buf[0] == 'A')
			j->status = EXIT_AUTH;
		j->cause = xstrdup(j->buf + 1);
		return;
	}
	exp = strtoll(j->buf + 1, &end, 10);
	if ((nl = strchr(j->buf, '\n')) == NULL || end != nl) {
		xasprintf(&j->cause, "account %s: token refresh: a garbled "
		    "answer from the refresh process", name);
		return;
	}
	if ((j->secret = secret_first_line(nl + 1, j->len - (nl + 1 - j->buf),
	    "OAuth2 access token", &j->cause)) != NULL)
		oauth2_cache_put(j->token_file, j->secret,
		    (time_t)exp);
}

/*
 * OAuth2 refreshes in flight, one per token store. The sessions of an
 * account (one per IDLE folder) want a token at the same moment; with an
 * endpoint that rotates refresh tokens (Microsoft) only the first refresh
 * with a given refresh token succeeds, the others are refused
 * invalid_grant: "re-authorisation needed". So the first session's job
 * starts the refresh child, and every job of the same token store (and
 * event base) waits for that refresh's answer instead of starting its
 * own. The list is module-wide, like the access token cache it fills
 * (oauth2.c): the sessions sharing a token store have no common owner.
 *
 * A refresh is never killed because its jobs went (a stop, a reload that
 * changed the account): the endpoint may have rotated the refresh token
 * already, and a child killed before it saves the new one (oauth2_took,
 * before it answers on the pipe) leaves a revoked one in the token file:
 * the next start would need --oauth2-setup. It runs to its end, bounded
 * by its HTTP timeouts (and SECRET_OAUTH2_TIMEOUT): while the daemon runs
 * the loop reaps it and its answer fills the cache; when the daemon
 * exits first it finishes as an orphan (init reaps it).
 */
struct secret_refresh {
	struct event_base		*base;
	pid_t				 owner;		/* the forking process */
	struct secret_job		*job;		/* the child's */
	TAILQ_HEAD(, secret_job)	 waiters;
	LIST_ENTRY(secret_refresh)	 entry;
};

static LIST_HEAD(, secret_refresh) secret_refreshes =
    LIST_HEAD_INITIALIZER(secret_refreshes);

/* The refresh in flight for token_file on base, or NULL. A copy of the
 * list inherited through fork() is not this process's: owner. */
static struct secret_refresh *
secret_refresh_find(struct event_base *base, const char *token_file)
{
	struct secret_refresh	*r;

	LIST_FOREACH(r, &secret_refreshes, entry) {
		if (r->base == base && r->owner == getpid() &&
		    strcmp(r->job->token_file, token_file) == 0)
			return (r);
	}
	return (NULL);
}

/* Frees a refresh once answered (its child reaped). */
static void
secret_refresh_free(struct secret_refresh *r)
{
	LIST_REMOVE(r, entry);
	secret_job_free(r->job);
	free(r);
}

/* The refresh's answer (its job's callback): a copy to every waiting job,
 * each delivered through the loop by its own secret_job_finish. */
static void
secret_refresh_done(char *secret, int status, char *cause, void *arg)
{
	struct secret_refresh	*r = arg;
	struct secret_job	*w;

	if (TAILQ_EMPTY(&r->waiters) && cause != NULL)
		log_warnx("%s", cause);
	while ((w = TAILQ_FIRST(&r->waiters)) != NULL) {
		TAILQ_REMOVE(&r->waiters, w, wentry);
		w->refresh = NULL;
		w->status = status;
		w->secret = secret != NULL ? xstrdup(secret) : NULL;
		w->cause = cause != NULL ? xstrdup(cause) : NULL;
		secret_job_finish(w);
	}
	secret_refresh_free(r);
	xfree_secret(secret);
	free(cause);
}

/* Starts a refresh child for the account's token store. A failure to
 * start comes through the loop as the refresh's answer. */
static struct secret_refresh *
secret_refresh_start(struct event_base *base, const struct account_conf *ac)
{
	struct secret_refresh	*r;
	struct secret_job	*j;

	r = xcalloc(1, sizeof *r);
	r->base = base;
	r->owner = getpid();
	TAILQ_INIT(&r->waiters);
	j = secret_job_new(base, SECRET_JOB_OAUTH2, "oauth2",
	    SECRET_OAUTH2_TIMEOUT, secret_refresh_done, r);
	j->name = xstrdup(ac->name);
	j->token_file = xstrdup(ac->oauth2->token_file);
	r->job = j;
	if (secret_job_spawn(j, NULL, ac) != 0) {
		j->status = EXIT_NETWORK;
		secret_job_finish(j);
	} else
		secret_job_watch(j, base);
	LIST_INSERT_HEAD(&secret_refreshes, r, entry);
	return (r);
}

/* An OAuth2 job: the cached token if valid, else the answer of the
 * refresh in flight for the account's token store, started if none. */
static struct secret_job *
secret_job_oauth2(struct event_base *base, const struct account_conf *ac,
    secret_job_cb cb, void *arg)
{
	struct secret_job	*j;
	struct secret_refresh	*r;
	time_t			 exp;

	j = secret_job_new(base, SECRET_JOB_WAIT, "oauth2",
	    SECRET_OAUTH2_TIMEOUT, cb, arg);
	j->status = EXIT_NETWORK;
	if ((j->secret = oauth2_token_cached(ac, &exp)) != NULL) {
		secret_job_finish(j);
		return (j);
	}
	if (ac->oauth2->token_file == NULL) {
		xasprintf(&j->cause, "account %s has no OAuth2 token file",
		    ac->name);
		secret_job_finish(j);
		return (j);
	}
	if ((r = secret_refresh_find(base, ac->oauth2->token_file)) != NULL)
		log_debug("account %s: waiting for the token refresh under "
		    "way", ac->name);
	else
		r = secret_refresh_start(base, ac);
	j->refresh = r;
	TAILQ_INSERT_TAIL(&r->waiters, j, wentry);
	return (j);
}

int
secret_needs_job(const struct account_conf *ac)
{
	return (ac->password_file == NULL && (ac->password_command != NULL ||
	    ac->token_command != NULL || ac->oauth2 != NULL));
}

struct secret_job *
secret_job_start(struct event_base *base, const struct account_conf *ac,
    secret_job_cb cb, void *arg)
{
	struct secret_job	*j;

	if (ac->password_command != NULL)
		return (secret_job_command(base, "password_command",
		    ac->password_command, SECRET_COMMAND_TIMEOUT, cb, arg));
	if (ac->token_command != NULL)
		return (secret_job_command(base, "token_command",
		    ac->token_command, SECRET_COMMAND_TIMEOUT, cb, arg));
	if (ac->oauth2 != NULL)
		return (secret_job_oauth2(base, ac, cb, arg));
	j = secret_job_new(base, SECRET_JOB_READY, "secret", 0, cb, arg);
	j->secret = secret_get_status(ac, &j->status, &j->cause);
	secret_job_finish(j);
	return (j);
}

void
secret_job_free(struct secret_job *j)
{
	if (j == NULL)
		return;
	/* The refresh runs on without this job, even with no job left:
	 * see secret_refresh. */
	if (j->refresh != NULL)
		TAILQ_REMOVE(&j->refresh->waiters, j, wentry);
	secret_job_reap(j, 1);
	if (j->fd != -1)
		close(j->fd);
	if (j->ev_read != NULL)
		event_free(j->ev_read);
	event_free(j->ev_timer);
	event_free(j->ev_done);
	secret_free(j->buf);
	xfree_secret(j->secret);
	free(j->cause);
	free(j->name);
	free(j->token_file);
	free(j);
}

/* The result of a synchronous run. */
struct secret_sync {
	char	*secret;
	char	*cause;
};

static void
secret_sync_cb(char *secret, int status, char *cause, void *arg)
{
	struct secret_sync	*r = arg;

	(void)status;
	r->secret = secret;
	r->cause = cause;
}

/* Runs the command, split by cmdline_split() and exec'd without a shell;
 * the first line of its stdout is the secret. Its stderr is inherited:
 * it goes to our stderr or the journal as-is, never through the log.
 * what is the option name, for messages ("password_command"). The job
 * runs on a private event base: this blocks. */
char *
secret_from_command(const char *what, const char *command,
    unsigned int timeout, char **cause)
{
	struct event_base	*base;
	struct secret_job	*j;
	struct secret_sync	 r = { NULL, NULL };

	if ((base = event_base_new()) == NULL)
		fatalx("secret_from_command: cannot create an event base");
	j = secret_job_command(base, what, command, timeout, secret_sync_cb,
	    &r);
	event_base_dispatch(base);
	secret_job_free(j);
	event_base_free(base);
	if (r.secret == NULL)
		*cause = r.cause != NULL ? r.cause :
		    xstrdup("the command gave no answer");
	return (r.secret);
}

char *
secret_get(const struct account_conf *ac, char **cause)
{
	int	status;

	return (secret_get_status(ac, &status, cause));
}

/* As secret_get, and on failure *status says what kind it was (an enum
 * fetch_exit): EXIT_AUTH when the OAuth2 provider refused the refresh
 * token (re-authorisation needed: stop, do not retry), EXIT_NETWORK when
 * its token endpoint could not be asked (retry later), EXIT_CONFIG for a
 * password file or command that does not work. */
char *
secret_get_status(const struct account_conf *ac, int *status, char **cause)
{
	char	*s;
	int	 reauth;

	*status = EXIT_CONFIG;
	if (ac->password_file != NULL)
		return (secret_from_file(ac->password_file, cause));
	if (ac->password_command != NULL)
		return (secret_from_command("password_command",
		    ac->password_command, SECRET_COMMAND_TIMEOUT, cause));
	if (ac->token_command != NULL)
		return (secret_from_command("token_command",
		    ac->token_command, SECRET_COMMAND_TIMEOUT, cause));
	if (ac->oauth2 != NULL) {
		/* Synchronous: a refresh blocks the caller for up to a few
		 * OAUTH2_HTTP_TIMEOUTs, once an hour (sessions use
		 * secret_job_start: a child refreshes). */
		if ((s = oauth2_token(ac, &reauth, cause)) == NULL)
			*status = reauth ? EXIT_AUTH : EXIT_NETWORK;
		return (s);
	}
	xasprintf(cause, "account %s has no password_file, password_command "
	    "or token_command", ac->name);
	return (NULL);
}
