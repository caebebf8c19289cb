/* privsep.c: one worker process per owner when running as root (see
 * privsep.h). The root process only prepares the owners' state
 * directories (inside the admin's state_dir, never in a path an owner
 * controls), forks, waits and supervises; everything that touches the
 * network, a Maildir or an account's state runs in a worker with the
 * owner's uid, gid and supplementary groups, which cannot become root
 * again (checked before any work). */
#include "privsep.h"

#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "daemon.h"
#include "outcome.h"
#include "log.h"
#include "mda.h"
#include "metrics.h"
#include "notify.h"
#include "secret.h"
#include "xmalloc.h"

/* A worker that dies is started again after 1, 2, 4 ... seconds, at most
 * this many; a worker that lived this long starts again at once. */
#define PRIVSEP_BACKOFF_MAX	300
#define PRIVSEP_STABLE_MS	60000
/* After SIGTERM, workers get the daemon's grace and this much more
 * before SIGKILL. */
#define PRIVSEP_KILL_SLACK	5

/* One owner's worker (or the accounts without owner, run as root). */
struct privsep_worker {
	char		*owner;		/* NULL: accounts without owner */
	uid_t		 uid;
	gid_t		 gid;
	char		*home;
	pid_t		 pid;		/* 0: not running */
	int		 status;	/* privsep_run: exit status, -1 */
	int		 gone;		/* daemon: removed by a reload */
	int		 restart;	/* daemon: changed by a reload */
	unsigned int	 fails;		/* daemon: deaths in a row */
	uint64_t	 started;	/* ms, monotonic */
	uint64_t	 due;		/* ms: (re)start then; 0: not waiting */
	pid_t		 prev;		/* daemon: the worker a reload stopped
					 * for this start; 0: none */
	uint64_t	 stopped;	/* ms: reported stopped then; 0: not */
};

struct privsep_set {
	struct privsep_worker	*w;
	size_t			 n;
};

/* privsep_run's worker body: the callback and the owner's names. */
struct privsep_job {
	privsep_worker_cb	  cb;
	const char *const	 *names;
	size_t			  n;
	void			 *arg;
};

/* The supervising daemon. */
struct privsep_daemon {
	const char		*path;
	struct config		*conf;
	int			 verbosity;
	struct privsep_set	 set;
	int			 stopping;
	int			 killed;	/* SIGKILL sent */
	uint64_t		 deadline;	/* ms: SIGKILL then */
	uint64_t		 watchdog;	/* ms between pings; 0: none */
	uint64_t		 metrics_due;	/* ms: write metrics_file then */
	char			*metrics_error;	/* its last write's, or NULL */
};

/* Set in a worker: privsep_load filters for its owner. */
static int		 privsep_in_worker;
static char		*privsep_owner;
static pid_t		 privsep_prev = -1;	/* privsep_replaced */
/* The daemon logs its workers' starts at info, --once at debug. */
static int		 privsep_supervising;
/* The signal mask before the supervisor blocked its signals. */
static sigset_t		 privsep_oldmask;

/* Milliseconds of the monotonic clock. */
static uint64_t
privsep_now(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000);
}

/* Whether two owners (NULL: none) are the same. */
static int
privsep_same_owner(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return (a == b);
	return (strcmp(a, b) == 0);
}

/* The name of a worker in messages. */
static const char *
privsep_name(const struct privsep_worker *w)
{
	return (w->owner != NULL ? w->owner : "(accounts without owner, as "
	    "root)");
}

/* The worker of owner in set, or NULL. */
static struct privsep_worker *
privsep_find(struct privsep_set *set, const char *owner)
{
	size_t	i;

	for (i = 0; i < set->n; i++) {
		if (privsep_same_owner(set->w[i].owner, owner))
			return (&set->w[i]);
	}
	return (NULL);
}

/* Adds the worker (not running) of owner (NULL: accounts without owner)
 * to set. */
static struct privsep_worker *
privsep_add(struct privsep_set *set, const char *owner, uid_t uid, gid_t gid,
    const char *home)
{
	struct privsep_worker	*w;

	set->w = xreallocarray(set->w, set->n + 1, sizeof *set->w);
	w = &set->w[set->n++];
	memset(w, 0, sizeof *w);
	w->status = -1;
	if (owner == NULL)
		return (w);
	w->owner = xstrdup(owner);
	w->uid = uid;
	w->gid = gid;
	if (home != NULL)
		w->home = xstrdup(home);
	return (w);
}

/* Frees one worker's strings. */
static void
privsep_worker_clear(struct privsep_worker *w)
{
	free(w->owner);
	free(w->home);
}

/* Removes set->w[i]; pointers into the set are invalid afterwards. */
static void
privsep_remove_at(struct privsep_set *set, size_t i)
{
	privsep_worker_clear(&set->w[i]);
	memmove(&set->w[i], &set->w[i + 1], (set->n - i - 1) *
	    sizeof *set->w);
	set->n--;
}

/* One worker per owner of the configuration, in the order of the file. */
static void
privsep_set_build(const struct config *conf, struct privsep_set *set)
{

	const struct account_conf	*ac;
	size_t				 i;

	memset(set, 0, sizeof *set);
	for (i = 0; i < conf->naccounts; i++) {
		ac = &conf->accounts[i];
		if (privsep_find(set, ac->owner) == NULL)
			privsep_add(set, ac->owner, ac->owner_uid,
			    ac->owner_gid, ac->owner_home);
	}
}

/* Frees a set's contents. */
static void
privsep_set_clear(struct privsep_set *set)
{
	size_t	i;

	for (i = 0; i < set->n; i++)
		privsep_worker_clear(&set->w[i]);
	free(set->w);
	memset(set, 0, sizeof *set);
}

int
privsep_needed(const struct config *conf)
{
	size_t	i;

	if (geteuid() != 0)
		return (0);
	for (i = 0; i < conf->naccounts; i++) {
		if (conf->accounts[i].owner != NULL)
			return (1);
	}
	return (0);
}

/* Appends a line to *cause. */
static void
privsep_append(char **cause, char *line)
{
	char	*s;

	if (*cause == NULL) {
		*cause = line;
		return;
	}
	xasprintf(&s, "%s\n%s", *cause, line);
	free(*cause);
	free(line);
	*cause = s;
}

int
privsep_check(const struct config *conf, char **cause)
{
	const struct account_conf	*ac;
	size_t				 i;
	int				 owners = 0;
	char				*line;

	*cause = NULL;
	for (i = 0; i < conf->naccounts; i++)
		owners |= conf->accounts[i].owner != NULL;
	for (i = 0; i < conf->naccounts; i++) {
		ac = &conf->accounts[i];
		if (ac->owner != NULL && ac->owner_uid == (uid_t)-1) {
			xasprintf(&line, "%s:%d: account '%s': owner '%s' is "
			    "not a local user (any more)", ac->file, ac->line,
			    ac->name, ac->owner);
			privsep_append(cause, line);
		} else if (ac->owner == NULL && owners && !conf->allow_root) {
			xasprintf(&line, "%s:%d: account '%s' has no owner: "
			    "running as root, its Maildir and state would be "
			    "written as root (set owner = \"USER\" in the "
			    "account, or allow_root = yes to run it as root, "
			    "which is discouraged)", ac->file, ac->line,
			    ac->name);
			privsep_append(cause, line);
		}
	}
	return (*cause == NULL ? 0 : -1);
}

/* mkdir -p for the admin's state_dir (0700 like state.c would). */
static int
privsep_mkdirs(const char *dir, char **cause)
{
	char	*copy, *p;
	int	 rc = 0, last;

	copy = xstrdup(dir);
	for (p = copy + 1; rc == 0; p++) {
		if (*p != '/' && *p != '\0')
			continue;
		last = *p == '\0';
		*p = '\0';
		if (mkdir(copy, 0700) == -1 && errno != EEXIST) {
			xasprintf(cause, "state directory %s: %s", copy,
			    strerror(errno));
			rc = -1;
		}
		if (last)
			break;
		*p = '/';
	}
	free(copy);
	return (rc);
}

/* A directory on the way to the owners' state directories: root's, and
 * writable by nobody else (or an owner could swap what root chowns);
 * searchable by all, so that each owner reaches its own. */
static int
privsep_check_dir(int fd, const char *path, char **cause)
{
	struct stat	sb;

	if (fstat(fd, &sb) == -1) {
		xasprintf(cause, "%s: %s", path, strerror(errno));
		return (-1);
	}
	if (sb.st_uid != 0 || (sb.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
		xasprintf(cause, "%s must belong to root and not be writable "
		    "by group or others (it holds the owners' state "
		    "directories)", path);
		return (-1);
	}
	if ((sb.st_mode & (S_IXGRP | S_IXOTH)) == (S_IXGRP | S_IXOTH))
		return (0);
	if (fchmod(fd, (sb.st_mode & 07777) | S_IXGRP | S_IXOTH) == -1) {
		xasprintf(cause, "%s: chmod: %s", path, strerror(errno));
		return (-1);
	}
	log_msg(LOG_LVL_INFO, NULL, "%s: made searchable (mode %04o, not "
	    "listable) so that owners reach their state directories", path,
	    (unsigned int)((sb.st_mode & 07777) | S_IXGRP | S_IXOTH));
	return (0);
}

/* Opens dir/name as a directory, creating it with mode if missing; never
 * through a symbolic link. */
static int
privsep_open_dir(int dfd, const char *dir, const char *name, mode_t mode,
    char **cause)
{
	int	fd;

	if (mkdirat(dfd, name, mode) == -1 && errno != EEXIST) {
		xasprintf(cause, "%s/%s: %s", dir, name, strerror(errno));
		return (-1);
	}
	fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd == -1)
		xasprintf(cause, "%s/%s: %s%s", dir, name, strerror(errno),
		    errno == ELOOP || errno == ENOTDIR ? " (not a directory, "
		    "or a symbolic link)" : "");
	return (fd);
}

/* As root, before the fork: state_dir/owner/USER exists, is a directory
 * of the owner, mode 0700. Only state_dir (the admin's) is written. */
static int
privsep_prepare(const struct config *conf, const struct privsep_worker *w,
    char **cause)
{
	char	*odir = NULL;
	int	 dfd = -1, odfd = -1, ufd = -1, rc = -1;

	if (w->owner == NULL)
		return (0);
	if (privsep_mkdirs(conf->state_dir, cause) != 0)
		return (-1);
	dfd = open(conf->state_dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
	    O_CLOEXEC);
	if (dfd == -1) {
		xasprintf(cause, "state directory %s: %s", conf->state_dir,
		    strerror(errno));
		goto out;
	}
	if (privsep_check_dir(dfd, conf->state_dir, cause) != 0)
		goto out;
	xasprintf(&odir, "%s/owner", conf->state_dir);
	if ((odfd = privsep_open_dir(dfd, conf->state_dir, "owner", 0711,
	    cause)) == -1 || privsep_check_dir(odfd, odir, cause) != 0)
		goto out;
	if ((ufd = privsep_open_dir(odfd, odir, w->owner, 0700, cause)) == -1)
		goto out;
	if (fchown(ufd, w->uid, w->gid) == -1 || fchmod(ufd, 0700) == -1) {
		xasprintf(cause, "%s/%s: %s", odir, w->owner, strerror(errno));
		goto out;
	}
	rc = 0;
out:
	if (ufd != -1)
		close(ufd);
	if (odfd != -1)
		close(odfd);
	if (dfd != -1)
		close(dfd);
	free(odir);
	return (rc);
}

/* In the worker: becomes the owner for good. */
static int
privsep_drop(const struct privsep_worker *w, char **cause)
{
	if (w->uid == 0 || w->uid == (uid_t)-1) {
		xasprintf(cause, "owner %s: no usable uid", w->owner);
		return (-1);
	}
	if (initgroups(w->owner, w->gid) == -1) {
		xasprintf(cause, "initgroups(%s): %s", w->owner,
		    strerror(errno));
		return (-1);
	}
	if (setresgid(w->gid, w->gid, w->gid) == -1 ||
	    setresuid(w->uid, w->uid, w->uid) == -1) {
		xasprintf(cause, "cannot become %s (uid %lu, gid %lu): %s",
		    w->owner, (unsigned long)w->uid, (unsigned long)w->gid,
		    strerror(errno));
		return (-1);
	}
	/* The proof that there is no way back, before any work. */
	if (setuid(0) != -1 || setgid(0) != -1 || geteuid() != w->uid ||
	    getegid() != w->gid) {
		xasprintf(cause, "after switching to %s (uid %lu), root could "
		    "be regained: refusing to run", w->owner,
		    (unsigned long)w->uid);
		return (-1);
	}
	/* Changing ids cleared these: set them again. */
	(void)prctl(PR_SET_PDEATHSIG, SIGTERM);
	secret_harden_process();
	if (w->home == NULL || chdir(w->home) == -1) {
		if (chdir("/") == -1) {
			xasprintf(cause, "chdir /: %s", strerror(errno));
			return (-1);
		}
	}
	return (0);
}

/* In the worker, right after the fork: default signals, no service
 * manager notifications (the supervisor speaks for all), the owner's
 * identity. Exits on failure. */
static void
privsep_enter(const struct privsep_worker *w)
{
	char	*cause;

	signal(SIGHUP, SIG_DFL);
	signal(SIGTERM, SIG_DFL);
	signal(SIGINT, SIG_DFL);
	signal(SIGCHLD, SIG_DFL);
	/* Job control (^Z) stops the root process only; a worker
	 * stopped past a grace is one its owner stopped (privsep_wait). */
	signal(SIGTSTP, SIG_IGN);
	signal(SIGTTIN, SIG_IGN);
	signal(SIGTTOU, SIG_IGN);
	sigprocmask(SIG_SETMASK, &privsep_oldmask, NULL);
	unsetenv("NOTIFY_SOCKET");
	unsetenv("WATCHDOG_USEC");
	unsetenv("WATCHDOG_PID");
	privsep_in_worker = 1;
	privsep_owner = w->owner;
	if (privsep_supervising)
		privsep_prev = w->prev;
	if (w->owner == NULL) {
		(void)prctl(PR_SET_PDEATHSIG, SIGTERM);
		return;
	}
	if (privsep_drop(w, &cause) != 0) {
		log_msg(LOG_LVL_ERROR, NULL, "worker of %s: %s", w->owner,
		    cause);
		free(cause);
		_exit(EXIT_LOCAL);
	}
}

int
privsep_dropped(void)
{
	return (privsep_in_worker && privsep_owner != NULL);
}

pid_t
privsep_replaced(void)
{
	return (privsep_prev);
}

/* Prepares and forks the worker w, which runs body on its own copy of
 * conf filtered for its owner and exits with what body returns. -1 when
 * it could not start (logged). */
static int
privsep_spawn(const struct config *conf, struct privsep_worker *w,
    int (*body)(struct config *, void *), void *arg)
{
	struct config	*mine;
	enum log_level	 level;
	char		*cause;
	pid_t		 pid;

	if (privsep_prepare(conf, w, &cause) != 0) {
		log_msg(LOG_LVL_ERROR, NULL, "%s; not starting the worker of %s",
		    cause, privsep_name(w));
		free(cause);
		return (-1);
	}
	fflush(NULL);
	if ((pid = fork()) == -1) {
		log_msg(LOG_LVL_ERROR, NULL, "worker of %s: fork: %s",
		    privsep_name(w), strerror(errno));
		return (-1);
	}
	if (pid == 0) {
		privsep_enter(w);
		/* The child's memory is its own copy: it may cut it down. */
		mine = (struct config *)conf;
		config_filter_owner(mine, w->owner);
		exit(body(mine, arg));
	}
	w->pid = pid;
	w->started = privsep_now();
	w->due = 0;
	level = privsep_supervising ? LOG_LVL_INFO : LOG_LVL_DEBUG;
	if (w->owner != NULL)
		log_msg(level, NULL, "worker of %s started (pid %ld, "
		    "uid %lu, gid %lu)", w->owner, (long)pid,
		    (unsigned long)w->uid, (unsigned long)w->gid);
	else
		log_msg(level, NULL, "worker of %s started (pid %ld)",
		    privsep_name(w), (long)pid);
	return (0);
}

/* A worker's wait status as an exit status (a death by signal counts as
 * a local failure). */
static int
privsep_exit_status(int ws)
{
	return (WIFEXITED(ws) ? WEXITSTATUS(ws) : EXIT_LOCAL);
}

/* How a worker ended, for a message; the caller frees it. */
static char *
privsep_how(int ws)
{
	char	*s;

	if (WIFSIGNALED(ws))
		xasprintf(&s, "killed by signal %d (%s)", WTERMSIG(ws),
		    strsignal(WTERMSIG(ws)));
	else
		xasprintf(&s, "%s, exit status %d",
		    outcome_name(WEXITSTATUS(ws)), WEXITSTATUS(ws));
	return (s);
}

/* The worker with this pid, or NULL. */
static struct privsep_worker *
privsep_by_pid(struct privsep_set *set, pid_t pid)
{
	size_t	i;

	for (i = 0; i < set->n; i++) {
		if (set->w[i].pid == pid)
			return (&set->w[i]);
	}
	return (NULL);
}

/* A worker stopped (SIGSTOP) for longer than PRIVSEP_STOP_GRACE ms: its
 * owner did it (the same uid may), and it would hold root's run, a cron
 * job's --once, for ever: it is killed instead, and its accounts count as
 * not fetched (review r25 04). Within the grace it may be a stop of the
 * whole process group that is continued (kill -STOP then -CONT of the job:
 * review r29 07). */
#define PRIVSEP_STOP_GRACE	5000

static void
privsep_stopped_kill(struct privsep_set *set, uint64_t now)
{
	struct privsep_worker	*w;
	size_t			 i;

	for (i = 0; i < set->n; i++) {
		w = &set->w[i];
		if (w->pid == 0 || w->stopped == 0 ||
		    now - w->stopped < PRIVSEP_STOP_GRACE)
			continue;
		log_msg(LOG_LVL_ERROR, NULL, "worker of %s (pid %ld) was "
		    "stopped for %d s: killed, so that it cannot hold this "
		    "run; its accounts are not fetched", privsep_name(w),
		    (long)w->pid, PRIVSEP_STOP_GRACE / 1000);
		kill(w->pid, SIGKILL);
		w->stopped = 0;
	}
}

/* Whether a worker of set is stopped now. */
static int
privsep_any_stopped(const struct privsep_set *set)
{
	size_t	i;

	for (i = 0; i < set->n; i++) {
		if (set->w[i].pid != 0 && set->w[i].stopped != 0)
			return (1);
	}
	return (0);
}

/* Waits for one worker of set (pid, or any when -1); 0 when none is
 * left. While one is stopped, it looks every 100 ms whether it was
 * continued, or stopped past the grace. */
static int
privsep_wait(struct privsep_set *set, pid_t which)
{
	struct privsep_worker	*w;
	pid_t			 pid;
	int			 ws, flags;

	for (;;) {
		flags = WUNTRACED | WCONTINUED;
		if (privsep_any_stopped(set))
			flags |= WNOHANG;
		pid = waitpid(which, &ws, flags);
		if (pid == -1 && errno == EINTR)
			continue;
		if (pid == -1)
			return (0);
		if (pid == 0) {
			privsep_stopped_kill(set, privsep_now());
			usleep(100 * 1000);
			continue;
		}
		if ((w = privsep_by_pid(set, pid)) == NULL)
			continue;
		if (WIFSTOPPED(ws) || WIFCONTINUED(ws)) {
			w->stopped = WIFSTOPPED(ws) ? privsep_now() : 0;
			continue;
		}
		if (WIFSIGNALED(ws))
			log_msg(LOG_LVL_ERROR, NULL, "worker of %s (pid %ld) "
			    "was killed by signal %d", privsep_name(w),
			    (long)pid, WTERMSIG(ws));
		w->status = privsep_exit_status(ws);
		w->pid = 0;
		return (1);
	}
}

/* privsep_run's worker body. */
static int
privsep_run_body(struct config *conf, void *arg)
{
	struct privsep_job	*job = arg;
	int			 rc;

	rc = job->cb(conf, job->names, job->n, job->arg);
	config_free(conf);
	return (rc);
}

int
privsep_run(const struct config *conf, const char *const *names, size_t n,
    int flags, privsep_worker_cb cb, void *arg)
{
	const struct account_conf	*ac;
	struct privsep_set		 set;
	struct privsep_worker		*w;
	struct privsep_job		 job;
	const char			**mine;
	size_t				 i, j;
	int				 rc = -1;

	for (i = 0; i < n; i++) {
		if (config_find_account(conf, names[i]) == NULL) {
			log_msg(LOG_LVL_ERROR, NULL, "%s: no account \"%s\"",
			    conf->path, names[i]);
			return (EXIT_CONFIG);
		}
	}
	sigprocmask(SIG_SETMASK, NULL, &privsep_oldmask);
	privsep_set_build(conf, &set);
	mine = xreallocarray(NULL, n + 1, sizeof *mine);
	for (i = 0; i < set.n; i++) {
		w = &set.w[i];
		memset(&job, 0, sizeof job);
		for (j = 0; j < n; j++) {
			ac = config_find_account(conf, names[j]);
			if (privsep_same_owner(ac->owner, w->owner))
				mine[job.n++] = names[j];
		}
		if (n > 0 && job.n == 0)
			continue;
		job.cb = cb;
		job.names = mine;
		job.arg = arg;
		if (privsep_spawn(conf, w, privsep_run_body, &job) != 0)
			w->status = EXIT_LOCAL;
		else if (flags & PRIVSEP_SEQUENTIAL)
			privsep_wait(&set, w->pid);
	}
	while (privsep_wait(&set, -1))
		/* nothing */;
	for (i = 0; i < set.n; i++) {
		if ((w = &set.w[i])->status == -1)
			continue;
		if (rc == -1)
			rc = w->status;
		else if (flags & PRIVSEP_WORST)
			rc = w->status > rc ? w->status : rc;
		else
			rc = outcome_merge(rc, w->status);
	}
	free(mine);
	privsep_set_clear(&set);
	if (rc == -1) {
		log_msg(LOG_LVL_ERROR, NULL, "%s: no account configured",
		    conf->path);
		rc = EXIT_CONFIG;
	}
	return (rc);
}

/* config_load for the daemon's reload (daemon_run's loader): in a
 * worker, the configuration is filtered to the worker's owner, so that a
 * SIGHUP sent to a worker itself never gives it other owners' accounts. */
static struct config *
privsep_load(const char *path, char **cause)
{
	struct config	*conf;

	if ((conf = config_load(path, cause)) == NULL)
		return (NULL);
	if (privsep_in_worker)
		config_filter_owner(conf, privsep_owner);
	return (conf);
}

/*
 * The supervisor.
 */

/* The daemon worker's body. */
static int
privsep_daemon_body(struct config *conf, void *arg)
{
	struct privsep_daemon	*pd = arg;

	return (daemon_run(pd->path, privsep_load, conf, pd->verbosity));
}

/* Whether owner's workers would run the same in both configurations. */
static int
privsep_same(const struct config *a, const struct config *b,
    const char *owner)
{
	const struct account_conf	*x, *y;
	size_t				 i, na = 0, nb = 0;

	if (strcmp(a->state_dir, b->state_dir) != 0 ||
	    strcmp(a->control_socket, b->control_socket) != 0 ||
	    a->log_level != b->log_level ||
	    a->max_connections != b->max_connections)
		return (0);
	for (i = 0; i < b->naccounts; i++)
		nb += privsep_same_owner(b->accounts[i].owner, owner);
	for (i = 0; i < a->naccounts; i++) {
		x = &a->accounts[i];
		if (!privsep_same_owner(x->owner, owner))
			continue;
		na++;
		/* Its hooks too: the worker learns them only by a restart
		 * (its own reload would read other owners' password files,
		 * which it cannot). */
		if ((y = config_find_account(b, x->name)) == NULL ||
		    !config_account_equal(x, y) ||
		    !config_account_hooks_equal(x, y))
			return (0);
	}
	return (na == nb);
}

/* Workers running. */
static size_t
privsep_running(const struct privsep_set *set)
{
	size_t	i, n = 0;

	for (i = 0; i < set->n; i++)
		n += set->w[i].pid != 0;
	return (n);
}

/* The STATUS= line. */
static void
privsep_daemon_status(struct privsep_daemon *pd)
{
	notify_status("supervising %zu of %zu owner worker%s",
	    privsep_running(&pd->set), pd->set.n, pd->set.n == 1 ? "" : "s");
}

/* Starts the workers that are due. */
static void
privsep_daemon_start(struct privsep_daemon *pd)
{
	struct privsep_worker	*w;
	uint64_t		 now = privsep_now();
	unsigned int		 delay;
	size_t			 i;

	for (i = 0; i < pd->set.n; i++) {
		w = &pd->set.w[i];
		if (w->pid != 0 || w->gone || w->due == 0 || w->due > now)
			continue;
		if (privsep_spawn(pd->conf, w, privsep_daemon_body, pd) == 0)
			continue;
		delay = w->fails < 8 ? 1U << w->fails : PRIVSEP_BACKOFF_MAX;
		if (delay > PRIVSEP_BACKOFF_MAX)
			delay = PRIVSEP_BACKOFF_MAX;
		w->fails++;
		w->due = now + delay * 1000ULL;
	}
}

/* A worker ended: forget it, start it again at once (a reload changed
 * it) or after a backoff (it died). */
static void
privsep_daemon_ended(struct privsep_daemon *pd, struct privsep_worker *w,
    int ws)
{
	uint64_t	now = privsep_now();
	unsigned int	delay;
	char		*how;

	/* Only a worker a reload stopped hands its counts on. */
	w->prev = w->restart ? w->pid : 0;
	w->pid = 0;
	if (pd->stopping || w->gone) {
		log_msg(LOG_LVL_INFO, NULL, "worker of %s stopped",
		    privsep_name(w));
		if (w->gone)
			privsep_remove_at(&pd->set, (size_t)(w - pd->set.w));
		return;
	}
	if (w->restart) {
		w->restart = 0;
		w->fails = 0;
		w->due = now;
		log_msg(LOG_LVL_INFO, NULL, "worker of %s stopped; starting it "
		    "with the new configuration", privsep_name(w));
		return;
	}
	if (now - w->started >= PRIVSEP_STABLE_MS)
		w->fails = 0;
	delay = w->fails < 8 ? 1U << w->fails : PRIVSEP_BACKOFF_MAX;
	if (delay > PRIVSEP_BACKOFF_MAX)
		delay = PRIVSEP_BACKOFF_MAX;
	w->fails++;
	w->due = now + delay * 1000ULL;
	how = privsep_how(ws);
	log_msg(LOG_LVL_ERROR, NULL, "worker of %s ended unexpectedly (%s); "
	    "starting it again in %u s", privsep_name(w), how, delay);
	free(how);
}

/* Reaps every worker that ended. */
static void
privsep_daemon_reap(struct privsep_daemon *pd)
{
	struct privsep_worker	*w;
	pid_t			 pid;
	int			 ws;

	while ((pid = waitpid(-1, &ws, WNOHANG)) > 0) {
		if ((w = privsep_by_pid(&pd->set, pid)) != NULL)
			privsep_daemon_ended(pd, w, ws);
	}
}

/* SIGHUP: re-reads the configuration; workers of removed owners stop,
 * those of changed owners restart, new owners get one. Workers whose
 * accounts did not change keep running untouched. */
static void
privsep_daemon_reload(struct privsep_daemon *pd)
{
	struct privsep_set	 set;
	struct privsep_worker	*w, *nw;
	struct config		*conf;
	char			*cause;
	size_t			 i, added = 0, changed = 0, removed = 0;

	notify_reloading();
	log_msg(LOG_LVL_INFO, NULL, "reloading %s", pd->path);
	if ((conf = config_load(pd->path, &cause)) == NULL ||
	    privsep_check(conf, &cause) != 0) {
		log_msg(LOG_LVL_ERROR, NULL, "reload failed, keeping the "
		    "running configuration: %s", cause);
		free(cause);
		config_free(conf);
		notify_ready();
		return;
	}
	config_log_warnings(conf);
	log_set_level(daemon_log_level(conf->log_level, pd->verbosity));
	privsep_set_build(conf, &set);
	for (i = 0; i < pd->set.n; i++) {
		w = &pd->set.w[i];
		if ((nw = privsep_find(&set, w->owner)) == NULL) {
			w->gone = 1;
			removed++;
		} else if (w->uid != nw->uid || w->gid != nw->gid ||
		    !privsep_same(pd->conf, conf, w->owner)) {
			w->uid = nw->uid;
			w->gid = nw->gid;
			free(w->home);
			w->home = nw->home != NULL ? xstrdup(nw->home) : NULL;
			w->restart = 1;
			changed++;
		} else
			continue;
		if (w->pid != 0)
			kill(w->pid, SIGTERM);
		else if (w->gone)
			privsep_remove_at(&pd->set, i--);
		else {
			w->restart = 0;
			w->fails = 0;
			w->due = privsep_now();
		}
	}
	for (i = 0; i < set.n; i++) {
		if (privsep_find(&pd->set, set.w[i].owner) != NULL)
			continue;
		nw = privsep_add(&pd->set, set.w[i].owner, set.w[i].uid,
		    set.w[i].gid, set.w[i].home);
		nw->due = privsep_now();
		added++;
	}
	privsep_set_clear(&set);
	config_free(pd->conf);
	pd->conf = conf;
	log_msg(LOG_LVL_INFO, NULL, "%s reloaded: %zu owner%s added, %zu "
	    "removed, %zu changed", pd->path, added, added == 1 ? "" : "s",
	    removed, changed);
	privsep_daemon_start(pd);
	privsep_daemon_status(pd);
	notify_ready();
}

/* The longest a worker's stop may wait for its delivery agents after
 * its grace (daemon.c: daemon_grace_cb). */
static unsigned int
privsep_agent_wait(const struct config *conf)
{
	unsigned int	w, max = 0;
	size_t		i;

	for (i = 0; i < conf->naccounts; i++) {
		if ((w = mda_stop_wait(&conf->accounts[i])) > max)
			max = w;
	}
	return (max);
}

/* SIGTERM/SIGINT: every worker stops; SIGKILL for those that outstay
 * their grace (and the wait for their delivery agents). */
static void
privsep_daemon_stop(struct privsep_daemon *pd, int sig)
{
	size_t	i;

	if (pd->stopping)
		return;
	pd->stopping = 1;
	pd->deadline = privsep_now() + (FETCH_STOP_GRACE +
	    privsep_agent_wait(pd->conf) + PRIVSEP_KILL_SLACK) * 1000ULL;
	notify_stopping();
	log_msg(LOG_LVL_INFO, NULL, "%s: stopping %zu worker%s",
	    sig == SIGINT ? "SIGINT" : "SIGTERM", privsep_running(&pd->set),
	    privsep_running(&pd->set) == 1 ? "" : "s");
	for (i = 0; i < pd->set.n; i++) {
		if (pd->set.w[i].pid != 0)
			kill(pd->set.w[i].pid, SIGTERM);
	}
}

/* SIGKILL for every worker still there. */
static void
privsep_daemon_kill(struct privsep_daemon *pd)
{
	size_t	i;

	pd->killed = 1;
	for (i = 0; i < pd->set.n; i++) {
		if (pd->set.w[i].pid == 0)
			continue;
		log_msg(LOG_LVL_ERROR, NULL, "worker of %s (pid %ld) did not "
		    "stop in time: killing it", privsep_name(&pd->set.w[i]),
		    (long)pd->set.w[i].pid);
		kill(pd->set.w[i].pid, SIGKILL);
	}
}

/* The control socket of a worker's daemon (config_filter_owner). */
static char *
privsep_socket(const struct config *conf, const struct privsep_worker *w)
{
	if (w->owner == NULL)
		return (xstrdup(conf->control_socket));
	return (config_owner_socket(conf, w->owner));
}

/* Whether SIGTERM or SIGINT waits (blocked until sigtimedwait). */
static int
privsep_stop_pending(void)
{
	sigset_t	set;

	return (sigpending(&set) == 0 && (sigismember(&set, SIGTERM) == 1 ||
	    sigismember(&set, SIGINT) == 1));
}

/* Writes metrics_file from the workers' daemons, every
 * METRICS_SUPERVISOR_INTERVAL seconds: the supervisor writes it, not the
 * workers, as it alone sees every owner's accounts (one file for all),
 * and the file's directory (node_exporter's) is the admin's, where no
 * owner's process needs to write. A failed write is logged when its
 * cause changes. */
static void
privsep_daemon_metrics(struct privsep_daemon *pd)
{
	struct metrics_lines	 l = { NULL, 0 };
	struct privsep_worker	*w;
	const char		*path = pd->conf->metrics_file;
	char			*sock, *cause, *text;
	uint64_t		 now = privsep_now();
	size_t			 i;

	if (path == NULL || pd->stopping || now < pd->metrics_due)
		return;
	pd->metrics_due = now + METRICS_SUPERVISOR_INTERVAL * 1000ULL;
	for (i = 0; i < pd->set.n; i++) {
		w = &pd->set.w[i];
		if (w->pid == 0)
			continue;
		/* Each owner's answer may take METRICS_ASK_TIMEOUT: a stop
		 * asked for meanwhile ends the round. */
		if (privsep_stop_pending()) {
			metrics_lines_clear(&l);
			return;
		}
		sock = privsep_socket(pd->conf, w);
		if (metrics_ask(sock, pd->conf, w->owner, w->pid,
		    w->owner != NULL ? w->uid : 0, &l, &cause) != 0) {
			log_msg(errno == EPERM ? LOG_LVL_WARNING :
			    LOG_LVL_DEBUG, NULL, "metrics of %s: %s",
			    privsep_name(w), cause);
			free(cause);
		}
		free(sock);
	}
	text = metrics_render(&l, (int64_t)time(NULL));
	metrics_lines_clear(&l);
	cause = NULL;
	if (metrics_write(path, text, &cause) != 0 &&
	    (pd->metrics_error == NULL ||
	    strcmp(pd->metrics_error, cause) != 0))
		log_msg(LOG_LVL_WARNING, NULL, "%s", cause);
	free(pd->metrics_error);
	pd->metrics_error = cause;
	free(text);
}

/* How long the supervisor may sleep: until the next due start, the next
 * watchdog ping or one second, whichever is first. */
static void
privsep_daemon_timeout(struct privsep_daemon *pd, struct timespec *ts)
{
	uint64_t	now = privsep_now(), ms = 1000;
	size_t		i;

	/* Half the watchdog period, as the daemon's loop does. */
	if (pd->watchdog != 0 && pd->watchdog < ms)
		ms = pd->watchdog;
	for (i = 0; i < pd->set.n; i++) {
		if (pd->set.w[i].due == 0 || pd->set.w[i].pid != 0)
			continue;
		if (pd->set.w[i].due <= now)
			ms = 0;
		else if (pd->set.w[i].due - now < ms)
			ms = pd->set.w[i].due - now;
	}
	ts->tv_sec = (time_t)(ms / 1000);
	ts->tv_nsec = (long)(ms % 1000) * 1000000;
}

int
privsep_daemon(const char *path, struct config *conf, int verbosity)
{
	struct privsep_daemon	 pd;
	struct timespec		 ts;
	sigset_t		 sigs;
	size_t			 i;
	int			 sig;

	memset(&pd, 0, sizeof pd);
	privsep_supervising = 1;
	pd.path = path;
	pd.conf = conf;
	pd.verbosity = verbosity;
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGHUP);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGCHLD);
	sigprocmask(SIG_BLOCK, &sigs, &privsep_oldmask);
	/* Half the watchdog period in ms, rounded up: 0 only without one. */
	pd.watchdog = (notify_watchdog_usec() + 1999) / 2000;

	privsep_set_build(conf, &pd.set);
	for (i = 0; i < pd.set.n; i++)
		pd.set.w[i].due = privsep_now();
	log_msg(LOG_LVL_INFO, NULL, "mailfetchd %s started as root: one "
	    "worker per owner (%zu) from %s", PACKAGE_VERSION, pd.set.n,
	    conf->path);
	privsep_daemon_start(&pd);
	privsep_daemon_status(&pd);
	notify_ready();
	for (;;) {
		privsep_daemon_reap(&pd);
		if (pd.stopping && privsep_running(&pd.set) == 0)
			break;
		if (pd.stopping && !pd.killed && privsep_now() >= pd.deadline)
			privsep_daemon_kill(&pd);
		if (!pd.stopping)
			privsep_daemon_start(&pd);
		privsep_daemon_metrics(&pd);
		if (pd.watchdog != 0)
			notify_watchdog();
		privsep_daemon_timeout(&pd, &ts);
		sig = sigtimedwait(&sigs, NULL, &ts);
		if (sig == SIGHUP && !pd.stopping)
			privsep_daemon_reload(&pd);
		else if (sig == SIGTERM || sig == SIGINT)
			privsep_daemon_stop(&pd, sig);
	}
	sigprocmask(SIG_SETMASK, &privsep_oldmask, NULL);
	privsep_set_clear(&pd.set);
	free(pd.metrics_error);
	config_free(pd.conf);
	log_msg(LOG_LVL_INFO, NULL, "stopped");
	return (0);
}
