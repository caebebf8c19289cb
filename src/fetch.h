/* fetch.h: one fetch of a set of accounts (--once), and the exit status a
 * script can act on. */
#ifndef MAILFETCHD_FETCH_H
#define MAILFETCHD_FETCH_H

#include <stddef.h>

#include "config.h"

/* Exit statuses of `mailfetchd --once`, documented in mailfetchd(8). The
 * first two follow fetchmail, so `mailfetchd --once && notmuch new` runs
 * only when mail arrived. Worse outcomes have higher precedence when
 * accounts end differently (see fetch_merge). */
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
};

/* Fetches the named accounts (all when n == 0) once. Unknown names are a
 * configuration error. Returns an enum fetch_exit. */
int	fetch_once(const struct config *, const char *const *names, size_t n);
/* Combines two accounts' outcomes into the one the process exits with. */
int	fetch_merge(int, int);
const char *fetch_exit_name(int);

#endif
