/* imap.h: the IMAP session: one connection of one account that logs in,
 * resolves the configured folders, fetches what is new into the Maildir,
 * and only then marks or deletes on the server (doc/DESIGN.md promise 1). */
#ifndef MAILFETCHD_IMAP_H
#define MAILFETCHD_IMAP_H

#include <stdint.h>

#include <event2/dns.h>
#include <event2/event.h>

#include "config.h"
#include "fetch.h"
#include "state.h"
#include "tls.h"

/* Seconds an IDLE session waits for the server's "+" to IDLE and for the
 * OK to DONE before it declares the connection dead. */
#define IMAP_IDLE_WAIT		30
/* The same after a suspend (imap_session_check). */
#define IMAP_CHECK_WAIT		10
/* Bound on imap_session_stop: DONE, LOGOUT, the close. */
#define IMAP_STOP_WAIT		5

struct hook;
struct hook_files;
struct imap_session;

/* What a finished session did. */
struct imap_result {
	int		 status;	/* enum fetch_exit */
	unsigned long	 messages;	/* delivered */
	uint64_t	 bytes;		/* delivered, as written */
	uint64_t	 downloaded;	/* the message bytes as received from
					 * the server (BODY[] literals / RETR
					 * answers, CRLF line ends), delivered
					 * or not: the daily budget. A journal
					 * recovery downloads nothing */
	unsigned int	 folders_ok;
	unsigned int	 folders_failed;
	int		 hint;		/* enum schedule_hint: the server's
					 * word on when to come back */
	int		 no_idle;	/* IMAP_MODE_IDLE: the server has no
					 * IDLE capability; poll instead */
	int		 idled;		/* IMAP_MODE_IDLE: reached IDLE at
					 * least once (a good connection) */
	int		 login_sent;	/* a LOGIN or AUTHENTICATE went out:
					 * the server counts a login (a
					 * refused connection costs none) */
	int		 reauth;	/* the login failed for want of a new
					 * authorisation ("re-authorisation
					 * needed", secret.c, oauth2.c) */
	int		 folder_missing; /* a configured folder is not on
					 * the server (by name or by role):
					 * logged as that, not as a protocol
					 * error, when it is an IDLE one */
	unsigned long	 mda_refused;	/* messages the delivery agent
					 * refused (not 75): kept on the
					 * server; fetch.c makes it exit 8 */
	unsigned long	 mda_tempfail;	/* and those it asked to have
					 * again later (75, LMTP 4xx) */
	unsigned long	 mda_held;	/* messages it refused before,
					 * held back until their retry time
					 * (mda_hold_is): not fetched */
	long long	 mda_held_until; /* the earliest of those times
					 * (Unix time); 0: none held */
};

typedef void (*imap_done_cb)(struct imap_session *, void *);
/* IMAP_MODE_IDLE: a round of deliveries is durable (called with the done
 * callback's argument, when msgs > 0), or a round downloaded bytes and
 * failed (msgs 0). bytes: those of the msgs, also of messages a journal
 * recovery moved into place; downloaded: from the server by this round,
 * delivered or not (the daily budget). */
typedef void (*imap_delivered_cb)(struct imap_session *, void *,
		    unsigned long msgs, uint64_t bytes, uint64_t downloaded);

/* IMAP_MODE_IDLE: asked (with the done callback's argument) before each
 * round of fetching; 0 leaves the new mail on the server and the session
 * in IDLE until imap_session_check() (the daily budget is used up). */
typedef int (*imap_may_fetch_cb)(struct imap_session *, void *);

enum imap_mode {
	IMAP_MODE_ONCE = 0,	/* every folder once, then LOGOUT */
	IMAP_MODE_IDLE,		/* one folder, then IDLE until stopped */
};

/* How a session runs; NULL means IMAP_MODE_ONCE with nothing skipped.
 * The strings are copied. */
struct imap_options {
	enum imap_mode	 mode;
	const char	*idle_folder;	/* IDLE: the configured remote name
					 * (exact, not a pattern) */
	const char *const *skip_folders; /* ONCE: configured remote names
					 * left out (held by IDLE sessions) */
	size_t		 nskip;
	imap_delivered_cb delivered;	/* IDLE: may be NULL */
	imap_may_fetch_cb may_fetch;	/* IDLE: may be NULL (always) */
	struct tls_ctx	*tls;		/* shared context for ac->ca_file,
					 * borrowed (must outlive the
					 * session); NULL: the connection
					 * makes its own */
};

/* A session for the account; ac and st are borrowed and must outlive it
 * (st is the account's locked state). done is called once, from the event
 * loop, when the session has ended; the owner may free the session there.
 * An IDLE session ends only on a failure (the connection, the server, the
 * folder), when the server has no IDLE (result.no_idle), or after
 * imap_session_stop(). */
struct imap_session *imap_session_new(struct event_base *,
		    struct evdns_base *, const struct account_conf *,
		    struct state *, const struct imap_options *, imap_done_cb,
		    void *);
/* Starts connecting. */
void		 imap_session_start(struct imap_session *);
/* The daily budget (fetch_budget_cb, fetch.h), asked before each batch
 * of bodies of IMAP_MODE_ONCE (IDLE rounds ask may_fetch); arg is the
 * callback's. */
void		 imap_session_budget(struct imap_session *, fetch_budget_cb,
		    void *arg);
/* Ends the session politely within IMAP_STOP_WAIT seconds: an IDLE is
 * left with DONE, a fetch in progress finishes its batch, then LOGOUT;
 * done is called as usual. */
void		 imap_session_stop(struct imap_session *);
/* At the end of a stop's grace: when a delivery agent (or LMTP
 * transaction) runs, the session ends once it is over, its outcome
 * recorded and no other message handed over, and the longest that may
 * take is returned (seconds, mda_stop_wait); 0 when none runs. */
unsigned int	 imap_session_agent_wait(struct imap_session *);
/* After a suspend or a clock jump, or when may_fetch allows again: an
 * IDLE session leaves IDLE (DONE), which must be answered within
 * IMAP_CHECK_WAIT seconds, checks for new mail and re-enters IDLE; a dead
 * connection fails fast (EXIT_NETWORK). A no-op in other states (they
 * have their timeouts running). */
void		 imap_session_check(struct imap_session *);
/* Whether the session still waits for its secret (a password_command,
 * an OAuth2 refresh): it has not connected, and has nothing to finish. */
int		 imap_session_awaiting_secret(const struct imap_session *);
/* Whether the session sits in IDLE now (for status lines). */
int		 imap_session_idling(const struct imap_session *);
const struct imap_result *imap_session_result(const struct imap_session *);
/* The new files the session made durable so far (with the folder
 * names, for the new-mail hook, hook.h); the owner may take them
 * (hook_new_mail, hook_files_move). */
struct hook_files *imap_session_files(struct imap_session *);
/* Hands each batch's new files, once durable and before the state save
 * that prunes their journal entries, to hook_owe (hook.h) instead of
 * keeping them to the end. */
void		 imap_session_hook(struct imap_session *, struct hook *);
/* The message bytes received from the server so far (result.downloaded
 * and the folder in progress), delivered or not: the daily budget of a
 * poll aborted before its end; of an IDLE session, its round under way
 * (the others were reported to delivered_cb). */
uint64_t	 imap_session_downloaded(const struct imap_session *);
/* For a progress display: messages delivered so far (staged ones
 * included), the messages known to be coming, and the bytes written. */
void		 imap_session_progress(const struct imap_session *,
		    unsigned long *done, unsigned long *total, uint64_t *bytes);
/* NULL is a no-op. Aborts a running session: staged but unsynced messages
 * are discarded, so nothing half-done stays in the Maildir. */
void		 imap_session_free(struct imap_session *);

#endif
