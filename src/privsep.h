/* privsep.h: running as root for several local users. When mailfetchd
 * starts as root and accounts name an owner (owner = "USER"), nothing is
 * fetched by the root process: each owner gets a forked worker that drops
 * to the owner's uid, gid and supplementary groups and runs the normal
 * code (fetch_once, daemon_run, ...) on a copy of the configuration that
 * holds only that owner's accounts, with state_dir/owner/USER as its state
 * directory (created by root, 0700, owned by the user) and control socket.
 * Every path an owner controls (the Maildir, the state) is thus written
 * with the owner's rights only. Accounts without an owner run as root in
 * a worker of their own, only when allowed (allow_root = yes). */
#ifndef MAILFETCHD_PRIVSEP_H
#define MAILFETCHD_PRIVSEP_H

#include <stddef.h>

#include "config.h"

/* What a worker runs once it has the owner's identity: conf is the
 * worker's copy filtered for its owner (freed when cb returns), names the
 * requested accounts that belong to the owner (none: all of them).
 * Returns the worker's exit status (enum fetch_exit). */
typedef int	(*privsep_worker_cb)(struct config *conf,
		    const char *const *names, size_t n, void *arg);

/* privsep_run flags. */
#define PRIVSEP_SEQUENTIAL	0x1	/* one worker at a time (output that
					 * must not interleave) */
#define PRIVSEP_WORST		0x2	/* merge exit statuses by taking the
					 * highest, not with outcome_merge */

/* Whether this process must hand its work to privsep: it runs as root
 * (effective uid 0) and at least one account has an owner. */
int		 privsep_needed(const struct config *);
/* The configuration may run as root: every owner still resolves, and
 * accounts without an owner (which would write as root) are there only
 * with allow_root = yes. -1 and *cause ("FILE:LINE: ..." lines, caller
 * frees) otherwise. */
int		 privsep_check(const struct config *, char **cause);
/* Runs cb in one worker per owner (and one as root for the accounts
 * without owner, when allowed) holding at least one of the names (all
 * owners when n == 0), concurrently unless PRIVSEP_SEQUENTIAL, and waits
 * for them. An unknown name is a configuration error, reported before
 * any worker starts. Returns the merged exit status. */
int		 privsep_run(const struct config *, const char *const *names,
		    size_t n, int flags, privsep_worker_cb, void *arg);
/* The daemon as root: one daemon_run worker per owner, supervised. It
 * forwards nothing but stops: SIGTERM/SIGINT stops every worker (and
 * returns once they are gone, at most FETCH_STOP_GRACE, the longest
 * mda_stop_wait of the accounts and a few seconds later); SIGHUP re-reads path and starts, stops or restarts the
 * workers whose accounts were added, removed or changed; a worker that
 * dies unexpectedly is restarted with a backoff. Takes ownership of conf.
 * Returns the process exit status. */
int		 privsep_daemon(const char *path, struct config *conf,
		    int verbosity);
/* In a worker that became an owner (not root, nor a process that never
 * changed identity): the commands it runs get a clean environment, the
 * owner's, not the one root started mailfetchd with (secret.c). */
int		 privsep_dropped(void);
/* In a daemon worker of the supervisor: 0 for a first start or a start
 * after a death, else the pid of the worker a reload stopped for this
 * one (its counts are handed over: daemon.c); -1 outside such a worker. */
pid_t		 privsep_replaced(void);

#endif
