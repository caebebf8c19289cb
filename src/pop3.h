/* pop3.h: the POP3 session: one connection of one account that logs in,
 * lists the maildrop by UIDL, fetches what the state does not know into the
 * Maildir, and only then deletes on the server (doc/DESIGN.md promise 1). */
#ifndef MAILFETCHD_POP3_H
#define MAILFETCHD_POP3_H

#include <stdint.h>

#include <event2/dns.h>
#include <event2/event.h>

#include "config.h"
#include "fetch.h"
#include "state.h"

struct hook;
struct hook_files;
struct pop3_session;

/* What a finished session did. */
struct pop3_result {
	int		 status;	/* enum fetch_exit */
	unsigned long	 messages;	/* delivered */
	uint64_t	 bytes;		/* delivered, as written */
	uint64_t	 downloaded;	/* the message bytes as received from
					 * the server (BODY[] literals / RETR
					 * answers, CRLF line ends), delivered
					 * or not: the daily budget. A journal
					 * recovery downloads nothing */
	unsigned long	 skipped;	/* passed over: too large, over the budget, a liar */
	unsigned long	 deleted;	/* DELE acknowledged, QUIT +OK */
	unsigned int	 login_delay;	/* CAPA LOGIN-DELAY seconds, 0: none;
					 * the scheduler polls no more often */
	int		 reauth;	/* OAuth2 grant refused: the user must
					 * run --oauth2-setup */
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

typedef void (*pop3_done_cb)(struct pop3_session *, void *);

/* A session for the account; ac and st are borrowed and must outlive it
 * (st is the account's locked state). done is called once, from the event
 * loop, when the session has ended; the owner may free the session there. */
struct pop3_session *pop3_session_new(struct event_base *,
		    struct evdns_base *, const struct account_conf *,
		    struct state *, pop3_done_cb, void *);
/* Starts connecting. */
void		 pop3_session_start(struct pop3_session *);
/* The daily budget (fetch_budget_cb, fetch.h), asked before each batch
 * of RETRs; arg is the callback's. */
void		 pop3_session_budget(struct pop3_session *, fetch_budget_cb,
		    void *arg);
const struct pop3_result *pop3_session_result(const struct pop3_session *);
/* The new files the session made durable so far, for the new-mail hook
 * (hook.h); the owner may take them. */
struct hook_files *pop3_session_files(struct pop3_session *);
/* Hands each batch's new files to hook_owe (hook.h), as IMAP does
 * (imap_session_hook). */
void		 pop3_session_hook(struct pop3_session *, struct hook *);
/* The message bytes received from the server so far (result.downloaded),
 * RETRs of owed DELEs' checks included: the daily budget of a session
 * aborted before its end. */
uint64_t	 pop3_session_downloaded(const struct pop3_session *);
/* Whether the session still waits for its secret (a password_command,
 * an OAuth2 refresh): it has not connected, and has nothing to finish. */
int		 pop3_session_awaiting_secret(const struct pop3_session *);
/* For a progress display: messages delivered so far, the messages to be
 * fetched this session, and the bytes written. */
void		 pop3_session_progress(const struct pop3_session *,
		    unsigned long *done, unsigned long *total, uint64_t *bytes);
/* NULL is a no-op. Aborts a running session: staged but unsynced messages
 * are discarded, and the server, never sent QUIT, keeps every message. */
void		 pop3_session_free(struct pop3_session *);
/* As imap_session_agent_wait. */
unsigned int	 pop3_session_agent_wait(struct pop3_session *);

#endif
