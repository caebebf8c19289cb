/* imap_idle.c: IDLE (RFC 2177): holding a folder open and waking on news.
 * The session and its design: imap.c. */
#include "imap_p.h"

/*
 * IDLE (RFC 2177).
 */

/* Forgets one round's messages; the folder stays selected and open. */
static void
imap_round_reset(struct imap_session *s)
{
	uidset_clear(&s->unseen);
	uidset_clear(&s->batch);
	uidset_clear(&s->answered);
	uidset_clear(&s->delivered);
	uidset_clear(&s->passed);
	uidset_clear(&s->recognised);
	uidset_clear(&s->ambiguous);
	msgids_set_clear(&s->known);
	s->suspect_known = 0;
	uidset_clear(&s->verify);
	imap_staged_clear(s);
	imap_relink_clear(s);
	s->uidv_changed = 0;
	s->suspect_pass = 0;
	s->untouched = 0;
	free(s->msgs);
	s->msgs = NULL;
	s->nmsgs = s->amsgs = s->next_msg = 0;
	s->max_seen_uid = 0;
	s->sized = 0;
	s->unseen_searched = 0;
	s->f_msgs = 0;
	s->f_bytes = 0;
	s->f_down = 0;
	s->budget_stop = 0;
	clock_gettime(CLOCK_MONOTONIC, &s->f_start);
}

/* The timeout for ordinary commands, back after IDLE switched it off. */
void
imap_timeout_restore(struct imap_session *s)
{
	conn_set_timeout(s->conn, s->ac->timeout != 0 ? s->ac->timeout :
	    CONN_DEFAULT_TIMEOUT);
}

/* Opens the IDLE folder's Maildir again for a round (it is closed while
 * idling); -1 when that failed and the folder with it. */
int
imap_idle_reopen(struct imap_session *s)
{
	char	*cause;

	if (s->md != NULL)
		return (0);
	s->md = maildir_open_owned(s->ac->maildir, s->folders[s->cur].local,
	    state_dir(s->st), s->ac->name, &cause);
	if (s->md != NULL)
		return (0);
	imap_folder_fail(s, EXIT_LOCAL, "%s", cause);
	free(cause);
	return (-1);
}

/* Whether the owner forbids fetching now (the daily budget): new mail
 * then waits on the server, the session in IDLE. */
int
imap_idle_blocked(struct imap_session *s)
{
	if (s->mode != IMAP_MODE_IDLE || s->may_fetch_cb == NULL)
		return (0);
	return (!s->may_fetch_cb(s, s->done_arg));
}

/* Leaves IDLE: DONE, whose OK must come within wait seconds. */
void
imap_idle_leave(struct imap_session *s, unsigned int wait)
{
	evtimer_del(s->ev_idle);
	conn_set_idle(s->conn, 0);
	imap_enter(s, IMAP_S_IDLE_DONE);
	log_msg(LOG_LVL_DEBUG, &s->ctx, "> DONE");
	if (conn_write(s->conn, "DONE\r\n", 6) != 0) {
		imap_fail(s, EXIT_NETWORK, "cannot send DONE: %s",
		    conn_error(s->conn));
		return;
	}
	/* IDLE's tagged completion is due now: its answer is paced. */
	s->cmd_open = 1;
	conn_set_timeout(s->conn, wait);
}

/* The server's "+": we are idling. Only our own timer runs now; the
 * connection's would take the server's silence for a dead peer. */
void
imap_idle_started(struct imap_session *s)
{
	struct timeval	tv;

	s->result.idled = 1;
	imap_pace_end(s);
	if (s->stopping || (s->wake && !imap_idle_blocked(s))) {
		imap_idle_leave(s, s->stopping ? IMAP_STOP_WAIT :
		    IMAP_IDLE_WAIT);
		return;
	}
	imap_enter(s, IMAP_S_IDLING);
	conn_set_timeout(s->conn, 0);
	conn_set_idle(s->conn, 1);
	tv.tv_sec = s->ac->idle_interval != 0 ? s->ac->idle_interval : 600;
	tv.tv_usec = 0;
	evtimer_add(s->ev_idle, &tv);
}

/* An IDLE session resolved the trash when it connected; another session
 * of the account (a poll) may have found the \Trash role on another
 * folder since: the account's most recent trash (state_trashed_last).
 * Moving on into the old one would fill a folder that is no longer the
 * trash for as long as the connection lives (review r11 13): the session
 * ends before its next round, and the reconnect resolves the roles
 * again. */
int
imap_idle_trash_stale(struct imap_session *s)
{
	const char	*now;

	if (s->mode != IMAP_MODE_IDLE || s->ac->keep || s->trash_wire == NULL ||
	    (now = state_trashed_last(s->st)) == NULL ||
	    strcasecmp(now, s->trash_wire) == 0)
		return (0);
	imap_log(s, LOG_LVL_NOTICE, "keep = no: the trash is now \"%s\" "
	    "(found by another connection); reconnecting to take the "
	    "server's folder roles again", now);
	return (1);
}

/* New mail is announced (EXISTS, RECENT, a FETCH of a new UID). */
void
imap_idle_wake(struct imap_session *s)
{
	if (s->mode != IMAP_MODE_IDLE || !s->in_loop)
		return;
	s->wake = 1;
	if (s->state == IMAP_S_IDLING && !imap_idle_blocked(s))
		imap_idle_leave(s, IMAP_IDLE_WAIT);
}

/* One round of the IDLE folder is over: report it, then IDLE again (or
 * fetch again at once if more mail was announced meanwhile). */
void
imap_idle_round_done(struct imap_session *s)
{
	uint64_t	downloaded = s->f_down;

	/* Reported here, not again by imap_session_downloaded. */
	s->f_down = 0;
	/* A failed round's downloads count for the budget too, as a
	 * failed poll's do (daemon_account_done). */
	if (s->delivered_cb != NULL && (downloaded > 0 ||
	    (s->f_msgs > 0 && !s->folder_failed)))
		s->delivered_cb(s, s->done_arg, s->folder_failed ? 0 :
		    s->f_msgs, s->f_bytes, downloaded);
	if (s->folder_failed) {
		/* The owner reconnects later; the state is saved. */
		imap_enter(s, IMAP_S_LOGOUT);
		return;
	}
	imap_round_reset(s);
	if (s->stopping || imap_idle_trash_stale(s)) {
		imap_enter(s, IMAP_S_LOGOUT);
		return;
	}
	/* The scratch buffer is only needed while bodies stream in: idle
	 * sessions do not keep it (many accounts, little memory). */
	free(s->scratch);
	s->scratch = NULL;
	if (s->wake && !imap_idle_blocked(s)) {
		imap_pass_begin(s);
		return;
	}
	/* Nor its Maildir's three directory descriptors: reopened for the
	 * next round (a thousand accounts would hold 3000 of them). */
	maildir_close(s->md);
	s->md = NULL;
	s->in_loop = 1;
	imap_enter(s, IMAP_S_IDLE);
}

/* The IDLE interval is over: DONE and IDLE again, well before the server
 * (or a router) drops a silent connection. */
void
imap_idle_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct imap_session	*s = arg;

	(void)fd;
	(void)what;
	if (s->state != IMAP_S_IDLING)
		return;
	log_msg(LOG_LVL_DEBUG, &s->ctx, "re-issuing IDLE");
	imap_idle_leave(s, IMAP_IDLE_WAIT);
	if (s->state == IMAP_S_DONE)
		imap_finish(s);
}

/* A polite stop took too long: close. */
void
imap_stop_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct imap_session	*s = arg;

	(void)fd;
	(void)what;
	if (s->state == IMAP_S_MAX)
		return;
	imap_log(s, LOG_LVL_NOTICE, "no answer from the server within %d s "
	    "of stopping (state %s); closing the connection", IMAP_STOP_WAIT,
	    imap_state_name(s->state));
	s->closing = 1;
	imap_enter(s, IMAP_S_DONE);
	imap_finish(s);
}
