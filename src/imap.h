/* imap.h: the IMAP session: one connection of one account that logs in,
 * resolves the configured folders, fetches what is new into the Maildir,
 * and only then marks or deletes on the server (DESIGN.md promise 1). */
#ifndef MAILFETCHD_IMAP_H
#define MAILFETCHD_IMAP_H

#include <stdint.h>

#include <event2/dns.h>
#include <event2/event.h>

#include "config.h"
#include "state.h"

struct imap_session;

/* What a finished session did. */
struct imap_result {
	int		 status;	/* enum fetch_exit */
	unsigned long	 messages;	/* delivered */
	uint64_t	 bytes;		/* delivered, as written */
	unsigned int	 folders_ok;
	unsigned int	 folders_failed;
	int		 hint;		/* enum schedule_hint: the server's
					 * word on when to come back */
};

typedef void (*imap_done_cb)(struct imap_session *, void *);

/* A session for the account; ac and st are borrowed and must outlive it
 * (st is the account's locked state). done is called once, from the event
 * loop, when the session has ended; the owner may free the session there. */
struct imap_session *imap_session_new(struct event_base *,
		    struct evdns_base *, const struct account_conf *,
		    struct state *, imap_done_cb, void *);
/* Starts connecting. */
void		 imap_session_start(struct imap_session *);
const struct imap_result *imap_session_result(const struct imap_session *);
/* NULL is a no-op. Aborts a running session: staged but unsynced messages
 * are discarded, so nothing half-done stays in the Maildir. */
void		 imap_session_free(struct imap_session *);

#endif
