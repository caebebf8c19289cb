/* daemon_idle.c: the daemon's supervision of IMAP IDLE sessions.
 *
 * It owns the account's IDLE folders (struct daemon_idle, in d->idles):
 * their sessions, connections, reconnections and backoff, the folders
 * they hold back from the polls, a fetch now's reconnections, and the
 * TLS contexts lent to their sessions (struct daemon_tls, in d->tlss).
 * Kept apart from the loop (daemon.c), which calls in here when an
 * account starts, stops or is reloaded, when a poll's connection is
 * released and on a fetch now, so that each file holds one concern; the
 * two share their structs through daemon_p.h.
 *
 * IMAP IDLE: one session per IDLE folder (imap.h, IMAP_MODE_IDLE), each on
 * a connection within the caps, of which IDLE may take all but one (the
 * polls' slot, schedule.h); the account's polls leave those folders out.
 * A folder that gets no connection, or whose server has no IDLE, is
 * polled instead (logged once), as is one whose connection a lowered cap
 * takes back (daemon_idle_trim); its account polls soon, not up to
 * poll_interval later (daemon_idle_poll_soon). One polled for want of
 * room takes IDLE again when a poll's end leaves room for it
 * (daemon_idle_resume), or after a reload (daemon_idle_retry_capped).
 */
#include "daemon_p.h"

#include <sys/random.h>

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include "fetch.h"
#include "hook.h"
#include "imap.h"
#include "schedule.h"
#include "tls.h"
#include "xmalloc.h"

/* Why an IDLE folder is polled instead (daemon_idle.polled). */
#define DAEMON_POLLED_CAP	1	/* no room within the caps; IDLE is
					 * tried again when a poll's
					 * connection leaves room, and after
					 * a reload */
#define DAEMON_POLLED_NO_IDLE	2	/* the server does not offer IDLE */

/* IDLE reconnects: soon after a good connection dropped (servers end IDLE
 * sessions, and restart), else 1 min doubling to 1 h, with jitter; 5 min
 * more when the server was busy, as the polls wait. A connection that
 * failed before any login (refused, reset: the server restarting) cost
 * the provider nothing: it is retried from 1 s, doubling, up to
 * DAEMON_IDLE_QUICK_TRIES times (about a minute in all), so that push
 * is back within seconds of a restart; then the backoff takes over. */
#define DAEMON_IDLE_RETRY_MS	2000
#define DAEMON_IDLE_QUICK_MS	1000
#define DAEMON_IDLE_QUICK_TRIES	6
/* A connection that reached IDLE but ended within this time proves little:
 * a server, proxy or NAT that drops every connection right after "+
 * idling" would otherwise get a login, SELECT and FETCH every few seconds
 * for ever. One such drop gets the quick retry (a restart soon after
 * connecting); the next in a row gets the backoff, and no less than the
 * provider's minimum interval between polls, as a poll's login would. */
#define DAEMON_IDLE_SHORT_MS	(2 * 60 * 1000)
#define DAEMON_IDLE_BACKOFF_MIN	60
#define DAEMON_IDLE_BACKOFF_MAX	3600
#define DAEMON_IDLE_BUSY_MS	(5 * 60 * 1000)
/* IDLE folders starting together (the daemon's start, a reload adding
 * many) connect this many milliseconds apart: a thousand TLS handshakes
 * at once would make the memory peak (and the server's load) for
 * nothing, since the server logs them in one by one anyway. */
#define DAEMON_IDLE_SPACING_MS	10

static void	daemon_idle_start(struct daemon_idle *);

/* The folders the account's IDLE sessions hold (the polls skip them);
 * returns how many, *names (caller frees the array only). A folder whose
 * IDLE is being given up stays held until its session has ended, so that
 * a poll never fetches it alongside. */
size_t
daemon_idle_held(const struct daemon_account *a, const char ***names)
{
	struct daemon	*d = a->d;
	size_t		 i, n = 0;

	*names = NULL;
	for (i = 0; i < d->nidles; i++) {
		if (d->idles[i]->a != a ||
		    (d->idles[i]->polled && d->idles[i]->s == NULL))
			continue;
		*names = xreallocarray(*names, n + 1, sizeof **names);
		(*names)[n++] = d->idles[i]->folder;
	}
	return (n);
}

/* IDLE sessions running (stopping ones too). */
size_t
daemon_idle_running(struct daemon *d)
{
	size_t	i, n = 0;

	for (i = 0; i < d->nidles; i++) {
		if (d->idles[i]->s != NULL)
			n++;
	}
	return (n);
}

/* Gives the IDLE folder's connection back. */
static void
daemon_idle_release(struct daemon_idle *di)
{
	if (!di->conn)
		return;
	di->conn = 0;
	if (di->a == NULL)
		return;
	schedule_conn_release(di->a->sa, di->a->ac->host, di->kind);
	daemon_start_queued(di->d);
}

/* The IDLE folder is the polls' now: its account polls soon rather than
 * up to poll_interval later, within the provider minimum and a backoff
 * (schedule_poll_soon). A poll waiting for a connection takes the folder
 * anyway when it starts. */
static void
daemon_idle_poll_soon(struct daemon_idle *di)
{
	struct daemon_account	*a = di->a;
	uint64_t		 now, due;
	char			*in;

	if (a == NULL || a->queued || a->d->stopping)
		return;
	now = daemon_now();
	due = schedule_poll_soon(a->sa, now);
	if (due != SCHEDULE_NEVER) {
		in = daemon_until(due, now);
		log_msg(LOG_LVL_DEBUG, &(struct log_ctx){ a->ac->name,
		    di->folder, 0 }, "next poll in %s", in);
		free(in);
	} else if (a->fs != NULL)
		log_msg(LOG_LVL_DEBUG, &(struct log_ctx){ a->ac->name,
		    di->folder, 0 }, "polled soon after the poll in progress");
	daemon_arm(a->d);
}

/* The shared TLS context for an account's ca_file, lent to one more
 * session (daemon_tls_return gives it back); NULL when the account has
 * no TLS or the context cannot be made (the session then makes its own,
 * and reports why it fails). */
static struct daemon_tls *
daemon_tls_lend(struct daemon *d, const struct account_conf *ac)
{
	struct daemon_tls	*t;
	struct tls_ctx		*tls;
	char			*cause;
	size_t			 i;

	if (ac->tls == TLS_NONE)
		return (NULL);
	for (i = 0; i < d->ntlss; i++) {
		t = d->tlss[i];
		if (t->retired)
			continue;
		if (t->ca_file == NULL ? ac->ca_file != NULL :
		    ac->ca_file == NULL || strcmp(t->ca_file, ac->ca_file) != 0)
			continue;
		t->users++;
		return (t);
	}
	if ((tls = tls_ctx_new(ac->ca_file, &cause)) == NULL) {
		free(cause);
		return (NULL);
	}
	t = xcalloc(1, sizeof *t);
	t->ca_file = ac->ca_file != NULL ? xstrdup(ac->ca_file) : NULL;
	t->tls = tls;
	t->users = 1;
	d->tlss = xreallocarray(d->tlss, d->ntlss + 1, sizeof *d->tlss);
	d->tlss[d->ntlss++] = t;
	return (t);
}

/* Frees the retired contexts no session borrows any more. */
static void
daemon_tls_sweep(struct daemon *d)
{
	struct daemon_tls	*t;
	size_t			 i = 0;

	while (i < d->ntlss) {
		t = d->tlss[i];
		if (!t->retired || t->users > 0) {
			i++;
			continue;
		}
		tls_ctx_free(t->tls);
		free(t->ca_file);
		free(t);
		memmove(d->tlss + i, d->tlss + i + 1,
		    (d->ntlss - i - 1) * sizeof *d->tlss);
		d->ntlss--;
	}
}

/* A session ended: gives its context back (NULL: it had none). */
static void
daemon_tls_return(struct daemon *d, struct daemon_tls *t)
{
	if (t == NULL)
		return;
	t->users--;
	daemon_tls_sweep(d);
}

/* A reload: new sessions get new contexts (the files may have changed);
 * the old ones go with their last session. The count is logged for the
 * tests (daemon_reload_tls.sh), which check that it stays flat. */
void
daemon_tls_retire(struct daemon *d)
{
	size_t	i;

	for (i = 0; i < d->ntlss; i++)
		d->tlss[i]->retired = 1;
	daemon_tls_sweep(d);
	log_msg(LOG_LVL_DEBUG, NULL, "TLS contexts still in use: %zu",
	    d->ntlss);
}

/* An IDLE session is over: frees it and what it borrowed. */
static void
daemon_idle_end(struct daemon_idle *di)
{
	imap_session_free(di->s);
	di->s = NULL;
	daemon_tls_return(di->d, di->tls);
	di->tls = NULL;
}

/* Forgets an IDLE folder, aborting its session. */
void
daemon_idle_free(struct daemon_idle *di)
{
	struct daemon	*d = di->d;
	size_t		 i;

	for (i = 0; i < d->nidles; i++) {
		if (d->idles[i] == di) {
			memmove(d->idles + i, d->idles + i + 1,
			    (d->nidles - i - 1) * sizeof *d->idles);
			d->nidles--;
			break;
		}
	}
	daemon_idle_end(di);
	if (di->conn && di->a != NULL)
		schedule_conn_release(di->a->sa, di->a->ac->host, di->kind);
	event_free(di->ev_retry);
	daemon_conf_unref(di->dc);
	free(di->folder);
	free(di);
}

/* 64 random bits for the jitter. */
static uint64_t
daemon_random(void)
{
	uint64_t	r;

	if (getrandom(&r, sizeof r, 0) != sizeof r)
		r = (uint64_t)time(NULL) * 6364136223846793005ULL;
	return (r);
}

/* Whether an IDLE session ended before it sent any login (the
 * connection was refused or reset, the name did not resolve): a retry
 * soon costs the provider nothing. Only a few times in a row
 * (DAEMON_IDLE_QUICK_TRIES): a server that stays down, or a certificate
 * that does not verify, gets the backoff. */
static int
daemon_idle_quick(const struct daemon_idle *di, const struct imap_result *r)
{
	return (!r->idled && !r->login_sent && r->status == EXIT_NETWORK &&
	    di->quick < DAEMON_IDLE_QUICK_TRIES);
}

/* The backoff after a failed IDLE session, in milliseconds. */
static uint64_t
daemon_idle_backoff(struct daemon_idle *di, const struct imap_result *r)
{
	uint64_t	base;
	unsigned int	shift;
	int		busy;

	shift = di->failures < 7 ? di->failures : 6;
	di->failures++;
	base = (uint64_t)DAEMON_IDLE_BACKOFF_MIN << shift;
	busy = schedule_hint_busy(r->hint);
	/* Never hammer a login; but one refused for being busy ("[ALERT]
	 * Too many simultaneous connections") is no wrong password. */
	if (r->status == EXIT_AUTH && !busy)
		base = DAEMON_IDLE_BACKOFF_MAX;
	if (base > DAEMON_IDLE_BACKOFF_MAX)
		base = DAEMON_IDLE_BACKOFF_MAX;
	/* 75% to 125% of the base. */
	return (base * 750 + daemon_random() % (base * 500 + 1) +
	    (busy ? DAEMON_IDLE_BUSY_MS : 0));
}

/* After a session that cost the provider a login and failed: it ended
 * after the login but before IDLE, or reached IDLE but ended soon
 * (DAEMON_IDLE_SHORT_MS) for the second time in a row. The backoff, at
 * least the provider's minimum interval, as a poll's login would wait;
 * a fetch now waits for it too (held). A login refused for being busy
 * keeps the plain backoff (with the server's 5 minutes), which a fetch
 * now leaves as it is too (di->busy). */
static uint64_t
daemon_idle_after_login(struct daemon_idle *di, const struct imap_result *r)
{
	uint64_t	ms = daemon_idle_backoff(di, r);
	uint64_t	min = (uint64_t)di->ac->min_poll_interval * 1000;

	if (schedule_hint_busy(r->hint))
		return (ms);
	di->held = 1;
	return (ms > min ? ms : min);
}

/* When to reconnect after an IDLE session ended, in milliseconds; *note
 * (may be NULL) is set for the log when the retry is not the usual one:
 * quick before any login, or backing off after short connections. */
static uint64_t
daemon_idle_delay(struct daemon_idle *di, const struct imap_result *r,
    const char **note)
{
	uint64_t	base;
	int		lived;

	if (note != NULL)
		*note = NULL;
	di->held = 0;
	if (r->login_sent || r->idled)
		di->quick = 0;
	if (r->idled) {
		lived = daemon_clock(CLOCK_MONOTONIC) - di->started >=
		    DAEMON_IDLE_SHORT_MS;
		if (!lived && di->failures > 0) {
			if (note != NULL)
				*note = "again soon after reaching IDLE";
			return (daemon_idle_after_login(di, r));
		}
		/* It worked: a restart or a dropped connection, worth one
		 * quick try (then the backoff). A short one is remembered
		 * as a failure, for the next. */
		di->failures = lived ? 0 : 1;
		return (DAEMON_IDLE_RETRY_MS + daemon_random() %
		    DAEMON_IDLE_RETRY_MS);
	}
	if (daemon_idle_quick(di, r)) {
		if (note != NULL)
			*note = "before login";
		/* 1 s doubling, plus up to half of it (folders that lost
		 * their connections together do not come back together). */
		base = (uint64_t)DAEMON_IDLE_QUICK_MS << di->quick++;
		return (base + daemon_random() % (base / 2 + 1));
	}
	/* A refused login has its own (long) backoff, and waits for a
	 * reload rather than a fetch now (di->refused). */
	if (r->login_sent && !di->refused)
		return (daemon_idle_after_login(di, r));
	return (daemon_idle_backoff(di, r));
}

/* How loud the end of an IDLE session is: info for what a server restart
 * looks like (a working connection ends, the next ones are refused before
 * login), a warning otherwise (a failed login, short connections again). */
static enum log_level
daemon_idle_level(const struct imap_result *r, const char *note)
{
	if (r->idled)
		return (note == NULL ? LOG_LVL_INFO : LOG_LVL_WARNING);
	return (note != NULL ? LOG_LVL_INFO : LOG_LVL_WARNING);
}

/* The messages the delivery agent refused or deferred in the round: a
 * warning, --status (as a poll's, daemon_account_done) and the metrics'
 * failure count. A round whose hand-overs were all taken clears what
 * --status holds back. */
static void
daemon_idle_refused(struct daemon_idle *di, const struct imap_result *r,
    unsigned long msgs)
{
	struct daemon_account	*a = di->a;
	unsigned long		 round, hard;

	/* The session's counts grow over its rounds. */
	round = r->mda_refused + r->mda_tempfail - di->agent_seen;
	hard = r->mda_refused - di->agent_hard_seen;
	di->agent_seen = r->mda_refused + r->mda_tempfail;
	di->agent_hard_seen = r->mda_refused;
	daemon_account_held(a, round, msgs);
	if (round == 0)
		return;
	log_msg(LOG_LVL_WARNING, &(struct log_ctx){ a->ac->name, di->folder,
	    0 }, "IDLE: fetched %lu message%s; %lu refused by the delivery "
	    "agent stay on the server", msgs, msgs == 1 ? "" : "s", round);
	if (hard > 0) {
		schedule_idle_error(a->sa, EXIT_LOCAL);
		daemon_report_failure(a, EXIT_LOCAL, NULL);
	}
}

/* Deliveries of an IDLE session (or a failed round's downloads, msgs
 * 0): the budget (what was downloaded, as daemon_account_done) and the
 * daily counts. */
static void
daemon_idle_delivered(struct imap_session *s, void *arg,
    unsigned long msgs, uint64_t bytes, uint64_t downloaded)
{
	struct daemon_idle	*di = arg;
	struct daemon_account	*a = di->a;
	struct fetch_result	 r;

	if (a == NULL)
		return;
	schedule_budget_add(a->sa, daemon_now(), downloaded);
	daemon_idle_refused(di, imap_session_result(s), msgs);
	if (msgs > 0) {
		memset(&r, 0, sizeof r);
		r.status = EXIT_NEW_MAIL;
		r.messages = msgs;
		r.bytes = bytes;
		daemon_account_count(a, &r);
		a->d->last_fetch = time(NULL);
	}
	daemon_account_save(a);
	/* The round's files are durable, its state saved. */
	hook_new_mail(a->d->hook, a->ac, imap_session_files(s));
	daemon_status(a->d);
	daemon_report_metrics(a->d);
}

/* Before an IDLE session fetches: only within the daily budget. */
static int
daemon_idle_may_fetch(struct imap_session *s, void *arg)
{
	struct daemon_idle	*di = arg;
	struct daemon_account	*a = di->a;
	uint64_t		 now = daemon_now();

	(void)s;
	if (a == NULL)
		return (1);
	if (schedule_budget_left(a->sa, now) > 0) {
		if (a->budget_paused) {
			a->budget_paused = 0;
			evtimer_del(a->ev_budget);
		}
		return (1);
	}
	daemon_budget_pause(a, now);
	return (0);
}

/* Retries an IDLE folder after its backoff. */
static void
daemon_idle_retry_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	daemon_idle_start(arg);
}

/* Whether an IDLE folder waits to reconnect (its retry timer). */
static int
daemon_idle_waiting(const struct daemon_idle *di)
{
	return (di->a != NULL && di->s == NULL && !di->polled &&
	    evtimer_pending(di->ev_retry, NULL));
}

/* An IDLE folder waiting to reconnect does so now (a resume, a reload,
 * a fetch now). Returns 1 if it was waiting. */
int
daemon_idle_retry_now(struct daemon_idle *di)
{
	if (!daemon_idle_waiting(di))
		return (0);
	evtimer_del(di->ev_retry);
	daemon_idle_start(di);
	return (1);
}

/* A cap was lowered ([ALERT], reload): IDLE connections beyond what it
 * leaves IDLE (all but one slot) are given up, newest first, so that the
 * polls never wait on them. Each ends politely (DONE, LOGOUT) and counts
 * as a poll's connection until closed; its folder is polled from then on
 * (soon, once the session has ended), and takes IDLE again when there is
 * room. */
void
daemon_idle_trim(struct daemon *d)
{
	struct daemon_idle	*di;
	size_t			 i;

	for (i = d->nidles; i-- > 0;) {
		di = d->idles[i];
		if (di->a == NULL || !di->conn || di->kind != SCHEDULE_CONN_IDLE)
			continue;
		if (!schedule_conn_idle_over(di->a->sa, di->a->ac->host))
			continue;
		log_msg(LOG_LVL_INFO, &(struct log_ctx){ di->ac->name,
		    di->folder, 0 }, "a lowered connection cap leaves this "
		    "IDLE connection no room; polling this folder instead of "
		    "IDLE");
		schedule_conn_demote(di->a->sa, di->a->ac->host);
		di->kind = SCHEDULE_CONN_POLL;
		di->polled = DAEMON_POLLED_CAP;
		di->capped = 1;
		di->capped_info = 1;
		evtimer_del(di->ev_retry);
		imap_session_stop(di->s);
	}
}

/* The server refused an IDLE login with "[ALERT] Too many simultaneous
 * connections": the account's cap goes down as for a poll, and IDLE
 * connections beyond it are given up. */
static void
daemon_idle_too_many(struct daemon_idle *di)
{
	struct daemon_account	*a = di->a;
	char			*msg;

	msg = schedule_conn_too_many(a->sa, daemon_now());
	log_msg(LOG_LVL_WARNING, &(struct log_ctx){ a->ac->name, NULL, 0 },
	    "%s", msg);
	free(msg);
	daemon_idle_release(di);
	daemon_idle_trim(a->d);
	daemon_arm(a->d);
}

/* What --status says of the account after an IDLE session: a session
 * that reached IDLE was a success (until now), one that failed before
 * is the account's last error, as a poll's would be. */
static void
daemon_idle_outcome(struct daemon_idle *di, const struct imap_result *r)
{
	di->failing = !r->idled && !r->no_idle &&
	    r->status != EXIT_NEW_MAIL && r->status != EXIT_NOTHING_NEW;
	if (r->idled)
		di->a->last_success = time(NULL);
	else if (di->failing) {
		schedule_idle_error(di->a->sa, r->status);
		daemon_report_failure(di->a, r->status, NULL);
	}
}

/* An IDLE session ended (never on its own when all is well): reconnect
 * with backoff, or leave the folder to the polls. */
static void
daemon_idle_done(struct imap_session *s, void *arg)
{
	struct daemon_idle		*di = arg;
	struct daemon			*d = di->d;
	const struct imap_result	*r = imap_session_result(s);
	struct log_ctx			 ctx = { di->ac->name, di->folder, 0 };
	struct timeval			 tv;
	uint64_t			 ms;
	char				*in, *text = NULL;
	const char			*note;

	if (di->a == NULL || d->stopping) {
		daemon_idle_free(di);
		daemon_maybe_exit(d);
		return;
	}
	/* Reaching IDLE proves the login works. */
	daemon_account_reauth(di->a, r->idled ? EXIT_NOTHING_NEW : r->status,
	    r->reauth);
	daemon_idle_outcome(di, r);
	di->agent_seen = 0;	/* the next session counts anew */
	di->agent_hard_seen = 0;
	/* As for a poll (daemon_account_done): a grant to renew is a
	 * configuration error. */
	di->refused = !r->idled && schedule_exit_refused(r->reauth ?
	    EXIT_CONFIG : r->status, r->hint);
	di->busy = !r->idled && schedule_hint_busy(r->hint) ?
	    (enum schedule_hint)r->hint : SCHEDULE_HINT_NONE;
	di->busy_at = daemon_now();
	if (r->hint == SCHEDULE_HINT_TOO_MANY_CONNS)
		daemon_idle_too_many(di);
	if (r->no_idle) {
		log_msg(LOG_LVL_INFO, &ctx, "the server does not offer IDLE; "
		    "polling this folder instead");
		di->polled = DAEMON_POLLED_NO_IDLE;
	} else if (!di->polled) {
		ms = daemon_idle_delay(di, r, &note);
		in = schedule_format_duration(ms);
		if (r->folder_missing && !r->idled)
			log_msg(LOG_LVL_WARNING, &ctx, "IDLE: the folder is not "
			    "on the server (see the error above); trying again "
			    "in %s", in);
		else {
			xasprintf(&text, "IDLE connection ended (%s%s%s); "
			    "reconnecting in %s", outcome_name(r->status),
			    note != NULL ? ", " : "", note != NULL ? note : "",
			    in);
			log_msg(daemon_idle_level(r, note), &ctx, "%s", text);
		}
		free(in);
		tv.tv_sec = ms / 1000;
		tv.tv_usec = (ms % 1000) * 1000;
		evtimer_add(di->ev_retry, &tv);
		di->retry_at = daemon_now() + ms;
		/* The provider counted that login: the account's next
		 * one (a poll asked for soon, a fetch now) waits too. */
		if (di->held)
			schedule_idle_login(di->a->sa, daemon_now());
	}
	/* MAILFETCHD_MESSAGE: the line just logged, as a poll's. */
	if (r->idled || !schedule_hint_busy(r->hint))
		hook_fetch_ended(d->hook, di->ac, r->idled ?
		    EXIT_NOTHING_NEW : r->status, r->reauth && !r->idled, 0,
		    text);
	free(text);
	daemon_idle_end(di);
	daemon_conf_unref(di->dc);
	di->dc = NULL;
	/* The session's configuration may have been the last reference
	 * to a reloaded one: the account's from now on. */
	di->ac = di->a->ac;
	daemon_idle_release(di);
	if (di->polled)
		daemon_idle_poll_soon(di);
	daemon_status(d);
}

/* Connects an IDLE folder: a connection within the caps (else it is
 * polled), the lock, the Maildir, then the session. */
static void
daemon_idle_start(struct daemon_idle *di)
{
	struct daemon_account	*a = di->a;
	struct log_ctx		 ctx = { di->ac->name, di->folder, 0 };
	struct imap_options	 o;
	struct imap_result	 fail;
	enum schedule_conn	 rc;
	struct timeval		 tv;
	char			*cause = NULL;
	int			 status;

	if (a == NULL || a->d->stopping || di->s != NULL || di->polled)
		return;
	rc = schedule_conn_acquire(a->sa, a->ac->host, SCHEDULE_CONN_IDLE,
	    &cause);
	if (rc != SCHEDULE_CONN_GRANTED) {
		log_msg(rc == SCHEDULE_CONN_DENIED_FIRST ? LOG_LVL_INFO :
		    LOG_LVL_DEBUG, &ctx, "%s; polling this folder instead of "
		    "IDLE", cause != NULL ? cause : "connection cap reached");
		free(cause);
		di->polled = DAEMON_POLLED_CAP;
		/* Any fallback logged at INFO gets its return there too. */
		if (rc == SCHEDULE_CONN_DENIED_FIRST)
			di->capped_info = 1;
		di->capped = 1;
		daemon_idle_poll_soon(di);
		return;
	}
	free(cause);
	if (di->capped) {
		log_msg(di->capped_info ? LOG_LVL_INFO : LOG_LVL_DEBUG, &ctx,
		    "a connection is free for IDLE again; IDLE instead of "
		    "polling this folder");
		di->capped = 0;
		di->capped_info = 0;
	}
	di->conn = 1;
	di->kind = SCHEDULE_CONN_IDLE;
	if (daemon_account_lock(a, &status) != 0 ||
	    fetch_prepare_maildirs(a->dc->conf, a->ac, a->st) != 0) {
		daemon_idle_release(di);
		memset(&fail, 0, sizeof fail);
		fail.status = EXIT_LOCAL;
		tv.tv_sec = daemon_idle_delay(di, &fail, NULL) / 1000;
		tv.tv_usec = 0;
		evtimer_add(di->ev_retry, &tv);
		return;
	}
	memset(&o, 0, sizeof o);
	o.mode = IMAP_MODE_IDLE;
	o.idle_folder = di->folder;
	o.delivered = daemon_idle_delivered;
	o.may_fetch = daemon_idle_may_fetch;
	di->started = daemon_clock(CLOCK_MONOTONIC);
	di->tls = daemon_tls_lend(a->d, a->ac);
	o.tls = di->tls != NULL ? di->tls->tls : NULL;
	di->dc = a->dc;
	di->dc->refs++;
	di->ac = a->ac;
	log_msg(LOG_LVL_DEBUG, &ctx, "IDLE: connecting to %s", a->ac->host);
	di->s = imap_session_new(a->d->base, a->d->dns, a->ac, a->st, &o,
	    daemon_idle_done, di);
	imap_session_hook(di->s, a->d->hook);
	imap_session_start(di->s);
}

/* Starts a new IDLE folder in the next free slot (DAEMON_IDLE_SPACING_MS
 * after the previous one), through its retry timer. */
static void
daemon_idle_start_spaced(struct daemon_idle *di)
{
	struct daemon	*d = di->d;
	struct timeval	 tv;
	uint64_t	 now = daemon_clock(CLOCK_MONOTONIC), wait;

	if (d->idle_next <= now) {
		d->idle_next = now + DAEMON_IDLE_SPACING_MS;
		daemon_idle_start(di);
		return;
	}
	wait = d->idle_next - now;
	d->idle_next += DAEMON_IDLE_SPACING_MS;
	tv.tv_sec = wait / 1000;
	tv.tv_usec = (wait % 1000) * 1000;
	evtimer_add(di->ev_retry, &tv);
}

/* Whether a folder polled for want of room may try IDLE again: not while
 * its account's poll runs, which may be fetching it (that poll's end
 * tries again, daemon_idle_resume). */
static int
daemon_idle_capped(const struct daemon_idle *di)
{
	return (di->a != NULL && di->polled == DAEMON_POLLED_CAP &&
	    di->s == NULL && di->a->fs == NULL && !di->d->stopping);
}

/* After a reload that may have made room: folders polled for want of it
 * try IDLE again (a denial is logged again, once). */
void
daemon_idle_retry_capped(struct daemon *d)
{
	struct daemon_idle	*di;
	size_t			 i;

	for (i = 0; i < d->nidles; i++) {
		di = d->idles[i];
		if (!daemon_idle_capped(di))
			continue;
		di->polled = 0;
		daemon_idle_start_spaced(di);
	}
}

/* A poll's connection was released: folders polled for want of room take
 * IDLE again where it now fits at every level. Only then: a try that
 * could be refused would flip the folder back and forth (and the log
 * with it) while polls and IDLE contend for the same slots. Polls
 * waiting for a connection were served first (daemon_start_queued). */
void
daemon_idle_resume(struct daemon *d)
{
	struct daemon_idle	*di;
	size_t			 i;

	for (i = 0; i < d->nidles; i++) {
		di = d->idles[i];
		if (!daemon_idle_capped(di) ||
		    !schedule_conn_fits(di->a->sa, di->a->ac->host,
		    SCHEDULE_CONN_IDLE))
			continue;
		di->polled = 0;
		evtimer_del(di->ev_retry);
		daemon_idle_start(di);
	}
}

/* Starts the account's IDLE folders (exact names; patterns are polled). */
void
daemon_account_start_idle(struct daemon_account *a)
{
	struct daemon			*d = a->d;
	const struct folder_conf	*fc;
	struct daemon_idle		*di;
	size_t				 i;

	if (a->ac->proto != PROTO_IMAP || d->stopping)
		return;
	for (i = 0; i < a->ac->nfolders; i++) {
		fc = &a->ac->folders[i];
		if (!fc->idle)
			continue;
		if (fc->is_pattern) {
			log_msg(LOG_LVL_INFO, &(struct log_ctx){ a->ac->name,
			    fc->remote, 0 }, "IDLE needs an exact folder "
			    "name, not a pattern; polling these folders");
			continue;
		}
		di = xcalloc(1, sizeof *di);
		di->d = d;
		di->a = a;
		di->ac = a->ac;
		di->folder = xstrdup(fc->remote);
		di->ev_retry = evtimer_new(d->base, daemon_idle_retry_cb, di);
		d->idles = xreallocarray(d->idles, d->nidles + 1,
		    sizeof *d->idles);
		d->idles[d->nidles++] = di;
		daemon_idle_start_spaced(di);
	}
}

/* The account is going (reload, or the end): IDLE sessions in IDLE say
 * goodbye on their own (DONE, LOGOUT), detached from it; others are
 * aborted like a poll, since the account's state goes with it, and what
 * their round under way downloaded counts in the budget all the same
 * (review r14 07). */
void
daemon_account_stop_idle(struct daemon_account *a)
{
	struct daemon		*d = a->d;
	struct daemon_idle	*di;
	size_t			 i;

	for (i = d->nidles; i-- > 0;) {
		di = d->idles[i];
		if (di->a != a)
			continue;
		if (di->s == NULL || d->stopping ||
		    !imap_session_idling(di->s)) {
			if (di->s != NULL)
				schedule_budget_add(a->sa, daemon_now(),
				    imap_session_downloaded(di->s));
			daemon_idle_free(di);
			continue;
		}
		if (di->conn)
			schedule_conn_release(a->sa, a->ac->host, di->kind);
		di->conn = 0;
		di->a = NULL;
		evtimer_del(di->ev_retry);
		imap_session_stop(di->s);
	}
}

/* The account's IDLE folders without a session (waiting to retry, for
 * room, or polled) hold no configuration of their own: their ac is the
 * account's, moved with it, since the old one is freed with its last
 * reference (the timers, the resume, a fetch now use it later). Those
 * with a session keep theirs (di->dc) until it ends. */
void
daemon_idle_rebind(struct daemon_account *a)
{
	struct daemon	*d = a->d;
	size_t		 i;

	for (i = 0; i < d->nidles; i++) {
		if (d->idles[i]->a == a && d->idles[i]->dc == NULL)
			d->idles[i]->ac = a->ac;
	}
}

/* Whether an IDLE session of the account holds the configured folder. */
const struct daemon_idle *
daemon_idle_of(const struct daemon_account *a, const char *folder)
{
	struct daemon	*d = a->d;
	size_t		 i;

	for (i = 0; i < d->nidles; i++) {
		if (d->idles[i]->a == a && !d->idles[i]->polled &&
		    strcmp(d->idles[i]->folder, folder) == 0)
			return (d->idles[i]);
	}
	return (NULL);
}

/* Why a fetch now leaves an IDLE folder to its backoff (di->held or
 * di->busy), into buf. */
void
daemon_idle_held_why(const struct daemon_idle *di, uint64_t now, char *buf,
    size_t len)
{
	if (di->busy != SCHEDULE_HINT_NONE)
		schedule_server_wait(di->busy, now > di->busy_at ?
		    now - di->busy_at : 0, buf, len);
	else
		snprintf(buf, len, "the IDLE connection failed after its "
		    "login; backing off so that the provider's limits are "
		    "kept");
}

/* Logs that a fetch now leaves an IDLE folder to its backoff. */
static void
daemon_fetch_idle_held(const struct daemon_idle *di)
{
	uint64_t	 now = daemon_now();
	char		*in, why[192];

	daemon_idle_held_why(di, now, why, sizeof why);
	in = schedule_format_duration(di->retry_at > now ?
	    di->retry_at - now : 0);
	log_msg(LOG_LVL_INFO, &(struct log_ctx){ di->ac->name, di->folder,
	    0 }, "not reconnecting IDLE now: %s; reconnecting in %s, as "
	    "planned", why, in);
	free(in);
}

/* A fetch now reconnects the account's IDLE folders that wait to (the
 * user wants the mail now) before its poll, which then takes any that
 * found no room within the caps; the answer, which does not wait for
 * IDLE, says which connect (answer_note). Like the poll it asks for, the
 * try ignores the backoff after a network error, not a refused login,
 * nor one after a login that failed (di->held: each such try is one more
 * login, the storm the backoff stops), nor a login the server refused as
 * busy (di->busy: the server asked to wait; daemon_fetch_deferred then
 * refuses the whole fetch now); it keeps the failures (another failure
 * backs off as long as the last). */
void
daemon_fetch_idle(struct daemon_account *a)
{
	struct daemon		*d = a->d;
	struct daemon_idle	*di;
	const char		*first = NULL;
	size_t			 i, n = 0;

	for (i = 0; i < d->nidles; i++) {
		di = d->idles[i];
		if (di->a != a || !daemon_idle_waiting(di))
			continue;
		/* A refused login waits for a reload, which retries it at
		 * once: another try would be one more refusal. */
		if (di->refused) {
			log_msg(LOG_LVL_INFO, &(struct log_ctx){ a->ac->name,
			    di->folder, 0 }, "not reconnecting IDLE now: its "
			    "last login was refused (a reload retries it)");
			continue;
		}
		if (di->held || di->busy != SCHEDULE_HINT_NONE) {
			daemon_fetch_idle_held(di);
			continue;
		}
		log_msg(LOG_LVL_INFO, &(struct log_ctx){ a->ac->name,
		    di->folder, 0 }, "reconnecting IDLE now, as asked on the "
		    "control socket");
		/* One that found no room is polled, by this fetch's poll. */
		if (daemon_idle_retry_now(di) && di->s != NULL && n++ == 0)
			first = di->folder;
	}
	if (n == 0)
		return;
	free(a->answer_note);
	/* A count, not the names, and a bounded name: the answer line is
	 * (CONTROL_ANSWER_MAX). */
	if (n == 1)
		xasprintf(&a->answer_note, "reconnecting IDLE now on %.200s",
		    first);
	else
		xasprintf(&a->answer_note, "reconnecting IDLE now on %zu "
		    "folders", n);
}

/* The account's IDLE folder whose login the server refused as busy and
 * that reconnects first (NULL: none). The server asked to wait: a fetch
 * now makes no login for the account until then, IDLE or poll (each
 * would be one more login at a server that said it is busy). */
const struct daemon_idle *
daemon_fetch_idle_busy(const struct daemon_account *a)
{
	const struct daemon_idle	*di, *first = NULL;
	size_t				 i;

	for (i = 0; i < a->d->nidles; i++) {
		di = a->d->idles[i];
		if (di->a != a || !daemon_idle_waiting(di) ||
		    di->busy == SCHEDULE_HINT_NONE)
			continue;
		if (first == NULL || di->retry_at < first->retry_at)
			first = di;
	}
	return (first);
}

/* Whether a fetch now has nothing it may do for the account: every
 * folder is an IDLE folder waiting after a refused login or held after
 * a failed one, which a fetch now leaves alone (daemon_fetch_idle).
 * *at is then the earliest planned reconnection of a held one
 * (SCHEDULE_NEVER: all refused). */
int
daemon_fetch_idle_blocked(const struct daemon_account *a, uint64_t *at)
{
	const struct daemon_idle	*di;
	size_t				 i;

	*at = SCHEDULE_NEVER;
	if (!daemon_account_all_idle(a))
		return (0);
	for (i = 0; i < a->ac->nfolders; i++) {
		di = daemon_idle_of(a, a->ac->folders[i].remote);
		if (di == NULL || !daemon_idle_waiting(di) ||
		    (!di->refused && !di->held))
			return (0);
		if (!di->refused && di->retry_at < *at)
			*at = di->retry_at;
	}
	return (1);
}
