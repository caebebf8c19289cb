/* fetch.h: one fetch of a set of accounts (--once), and one account's
 * session, shared by --once and the daemon. Its outcomes: outcome.h. */
#ifndef MAILFETCHD_FETCH_H
#define MAILFETCHD_FETCH_H

#include <stddef.h>
#include <stdint.h>

#include <event2/dns.h>
#include <event2/event.h>

#include "config.h"
#include "outcome.h"
#include "state.h"

/* Fetches the named accounts (all when n == 0) once. Unknown names are a
 * configuration error. Returns an enum fetch_exit. */
int	fetch_once(const struct config *, const char *const *names, size_t n);
/* Whether a message (or a part of it) of got bytes is a server lie, the
 * server having listed it as listed bytes (IMAP RFC822.SIZE, POP3 LIST):
 * more than FETCH_LIE_FACTOR x listed + FETCH_LIE_SLACK, which no honest
 * server sends, whatever the limit. Line-end conversion (a size counted
 * with LF, sent with CRLF) can at most double a message, and the slack
 * covers servers whose listed size is a little off (an estimate, a
 * message changed since). Such a message, read at the server's pace, is
 * cut by closing the connection. A listed size of 0 (a broken server
 * that lists none) tells nothing: then only got over limit (0: none) is
 * judged, as it would not be kept anyway. */
#define FETCH_LIE_FACTOR	2
#define FETCH_LIE_SLACK		((uint64_t)1024 * 1024)
int	fetch_size_lie(uint64_t got, uint64_t listed, uint64_t limit);

/*
 * One account's fetch, shared by --once and the daemon: lock the account
 * (fetch_lock), prepare its Maildir (fetch_prepare_maildirs), then run one
 * session of its protocol (fetch_session_start).
 */

struct hook;
struct hook_files;

/* What one session did, in the scheduler's terms. */
struct fetch_result {
	int		 status;	/* enum fetch_exit */
	unsigned long	 messages;	/* delivered */
	uint64_t	 bytes;		/* delivered, as written */
	uint64_t	 downloaded;	/* the message bytes as received from
					 * the server (BODY[] literals / RETR
					 * answers, CRLF line ends), delivered
					 * or not: the daily budget. A journal
					 * recovery downloads nothing */
	int		 hint;		/* enum schedule_hint: what the server
					 * said about coming back */
	unsigned int	 retry_after;	/* seconds the server asked to wait
					 * (POP3 LOGIN-DELAY); 0: none */
	int		 reauth;	/* IMAP: the login needs a new
					 * authorisation (OAuth2 grant) */
	unsigned long	 refused;	/* messages the delivery agent
					 * refused or deferred when others
					 * were delivered and nothing else
					 * failed: one message, not the
					 * account; the schedule goes on as
					 * after a good poll. 0 otherwise */
	unsigned long	 agent_refused;	/* all the messages the agent (or
					 * LMTP server) refused or deferred
					 * (75, 4xx), kept on the server */
	unsigned long	 held_back;	/* messages the agent refused
					 * before, held back until their
					 * retry time (mda_hold_is), and
					 * those it refused now */
	long long	 held_until;	/* the earliest retry (Unix time) */
	int		 none_taken;	/* the agent took none of the
					 * messages handed over, and nothing
					 * else failed (status EXIT_LOCAL) */
	struct hook_files *files;	/* the new files, durable (hook.h);
					 * the session's: the done callback
					 * may take them (hook_new_mail).
					 * NULL: none */
};

struct fetch_session;
/* Called once when the session ends; the session is freed right after it
 * returns, so the owner forgets it there. */
typedef void (*fetch_done_cb)(struct fetch_session *,
		    const struct fetch_result *, void *);

/* Takes the account's lock and loads its state (state_open), logging the
 * error with the account's context on failure: NULL with *status
 * EXIT_LOCKED (another process holds it) or EXIT_LOCAL. */
struct state	*fetch_lock(const char *state_dir,
		    const struct account_conf *, int *status);
/* Creates the Maildir root and every configured (non-pattern) folder and
 * removes their stale tmp/ files, except those an intent journal names:
 * the account's (locked) state st, or the state file of any other
 * account of conf (accounts may share a Maildir); logs and returns -1 on
 * failure. */
int		 fetch_prepare_maildirs(const struct config *,
		    const struct account_conf *, struct state *st);
/* Starts an IMAP or POP3 session for the account; ac and st are borrowed
 * and must outlive the session. */
struct fetch_session *fetch_session_start(struct event_base *,
		    struct evdns_base *, const struct account_conf *,
		    struct state *, fetch_done_cb, void *);
/* The same, leaving out the IMAP folders named in skip (configured remote
 * names, and what a pattern matches of them): the daemon's polls skip the
 * folders its IDLE sessions hold. The names are copied. */
struct fetch_session *fetch_session_start_skip(struct event_base *,
		    struct evdns_base *, const struct account_conf *,
		    struct state *, const char *const *skip, size_t nskip,
		    fetch_done_cb, void *);
/* Hands the session's new files to h batch by batch (hook_owe), so that
 * an abort or a kill -9 loses no new_mail_command run. */
void		 fetch_session_hook(struct fetch_session *, struct hook *);
/* Aborts a running session without calling done: staged messages are
 * discarded (nothing partial in the Maildir), the state keeps only what
 * was made durable. NULL is a no-op. */
void		 fetch_session_free(struct fetch_session *);
/* Whether the session has not connected yet, waiting for its secret (a
 * password_command, an OAuth2 refresh): freeing it loses nothing. */
int		 fetch_session_awaiting_secret(const struct fetch_session *);
/* imap_session_agent_wait or pop3_session_agent_wait. */
unsigned int	 fetch_session_agent_wait(struct fetch_session *);
/* A stop's wait for its delivery agents: secs (one session's wait, 0:
 * none) counted into *n, the longest kept in *max. */
void		 fetch_agent_wait_add(unsigned int secs, unsigned int *n,
		    unsigned int *max);
/* At the end of a stop's grace, with n agents running (the longest to
 * wait secs): logs the wait (what: "polls") and arms grace for it, 1;
 * 0 when n is 0. */
struct event;
int		 fetch_agent_wait_arm(struct event *grace, const char *what,
		    unsigned int n, unsigned int secs);
/* The daily budget, asked before each batch of bodies (IMAP) or of RETRs
 * (POP3) of a poll, with the message bytes the session has downloaded so
 * far: how many more may be downloaded now (UINT64_MAX: no limit).
 * A message listed larger than what is left is not fetched: the session
 * stops fetching, applies what it owes the server for what it delivered,
 * and ends as usual; the rest waits on the server for a later poll. */
typedef uint64_t (*fetch_budget_cb)(void *arg, uint64_t downloaded);
/* Sets the budget callback of a session (none: no limit). */
void		 fetch_session_budget(struct fetch_session *, fetch_budget_cb,
		    void *);
/* Messages delivered so far, messages expected, bytes written. */
void		 fetch_session_progress(const struct fetch_session *,
		    unsigned long *done, unsigned long *total, uint64_t *bytes);
/* The message bytes downloaded so far (fetch_result.downloaded of a
 * session not finished): what a session aborted before its end owes
 * the daily budget. */
uint64_t	 fetch_session_downloaded(const struct fetch_session *);

#endif
