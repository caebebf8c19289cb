/* outcome.h: how a fetch ended, in one vocabulary for every module: the
 * exit statuses of `mailfetchd --once` (documented in mailfetchd(8)),
 * their names for messages, and how two accounts' outcomes combine. Pure:
 * no I/O, no libevent, so that the scheduler and the secret helpers can
 * speak it without the fetch engine (fetch.h). */
#ifndef MAILFETCHD_OUTCOME_H
#define MAILFETCHD_OUTCOME_H

/* The first two follow fetchmail, so `mailfetchd --once && notmuch new`
 * runs only when mail arrived. Worse outcomes have higher precedence when
 * accounts end differently (see outcome_merge). */
enum fetch_exit {
	EXIT_NEW_MAIL = 0,	/* new mail was delivered */
	EXIT_NOTHING_NEW = 1,	/* everything worked, nothing new */
	EXIT_CONFIG = 2,	/* usage or configuration error */
	EXIT_AUTH = 3,		/* authentication refused */
	EXIT_NETWORK = 4,	/* DNS, connect, TLS or timeout */
	EXIT_PROTOCOL = 5,	/* the server broke the protocol or refused */
	EXIT_LOCKED = 6,	/* another mailfetchd holds the account */
	EXIT_PARTIAL = 7,	/* some accounts or folders failed, others not */
	EXIT_LOCAL = 8,		/* Maildir or state could not be written */
	EXIT_UNSUPPORTED = 9,	/* configured feature not built yet */
	EXIT_DEFERRED = 10,	/* a fetch now the running daemon refused
				 * for now: a backoff, a server's delay, a
				 * stop or the provider minimum interval
				 * (its answer says until when) */
};

/* Seconds in-flight sessions get to finish after SIGTERM or SIGINT
 * (the daemon's and --once's) before they are aborted, with the outcome
 * of an aborted fetch (staged messages discarded, nothing partial left).
 * Here, not in daemon.h or fetch.h, so that fetch.c, daemon.c and
 * privsep.c share it without depending on one another. */
#define FETCH_STOP_GRACE	10

/* The outcome as a phrase for a sentence ("network or TLS failure"), and
 * as one word for a status column ("network"); "unknown" out of range. */
const char	*outcome_name(int);
const char	*outcome_word(int);
/* Combines two accounts' outcomes into the one the process exits with. */
int		 outcome_merge(int, int);

#endif
