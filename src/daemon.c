/* daemon.c: the long-running daemon.
 *
 * One event loop for every account. The scheduler (schedule.c) decides
 * when each account polls; one timer is armed at its earliest due time.
 * A due account: schedule_begin (the daily budget), a connection within
 * the caps (schedule_conn_acquire; else it waits for one to be released),
 * its Maildir prepared, one session (fetch.c) over its state, then
 * schedule_done with the outcome and the budget saved in the state.
 *
 * The daemon holds every account's state lock for the account's whole
 * life, so a second daemon refuses to start, and a `mailfetchd --once`
 * alongside it asks it through the control socket (control.h) instead:
 * `fetch` makes the accounts due now and answers as each poll ends; their
 * IDLE folders waiting to reconnect do so at once.
 *
 * Time: the scheduler runs on CLOCK_BOOTTIME, which (unlike
 * CLOCK_MONOTONIC) counts a suspend, so due times that passed while
 * suspended are due at resume; a periodic check compares both clocks to
 * notice the suspend at once and poll every waiting account.
 *
 * Reload (SIGHUP) swaps in a new configuration account by account:
 * untouched accounts keep their session, lock and schedule; a running
 * session keeps the configuration it started with (reference counted)
 * until it ends. */
#include "daemon.h"

#include <sys/random.h>
#include <sys/resource.h>

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/dns.h>
#include <event2/event.h>

#include "control.h"
#include "fault.h"
#include "fetch.h"
#include "imap.h"
#include "notify.h"
#include "schedule.h"
#include "state.h"
#include "tls.h"
#include "xmalloc.h"

#define DAEMON_CLOCK_CHECK	15	/* seconds between clock checks */
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

/* A configuration shared by the accounts (and sessions) made from it. */
struct daemon_conf {
	struct config	*conf;
	unsigned int	 refs;
};

struct daemon;

/* A `fetch` from the control socket, waiting for its accounts' polls. */
struct daemon_req {
	uint64_t	 id;		/* control request */
	size_t		 pending;	/* accounts not answered yet */
};

/* One configured account. */
struct daemon_account {
	struct daemon			*d;
	struct daemon_conf		*dc;	/* holds ac */
	const struct account_conf	*ac;
	struct daemon_conf		*next_dc; /* reload: rebind to this */
	const struct account_conf	*next_ac; /* once the session ends */
	struct schedule_account		*sa;
	struct state			*st;	/* NULL: lock not held */
	struct fetch_session		*fs;	/* a poll in flight */
	int				 queued; /* waiting for a connection */
	int				 conn;	/* holds one (ac->host) */
	struct daemon_req		**waiters; /* fetch requests waiting
						 * for this poll's end */
	size_t				 nwaiters;
	char				*answer_note; /* added to their
						 * answer: IDLE folders a
						 * fetch reconnected */
	time_t				 last_success; /* 0: none yet */
	int				 reauth; /* the last login failed for
						 * want of a new authorisation */
	int				 budget_paused; /* IDLE deliveries wait
						 * for the daily budget */
	struct event			*ev_budget; /* ... until this fires */
	int				 day;	/* of the counts below */
	unsigned long			 msgs_today;
	uint64_t			 bytes_today;
	/* IMAP IDLE: the account's IDLE folders are in d->idles, with
	 * di->a pointing here. */
};

/* One IDLE folder of an account, on its own connection. A reload that
 * removes or changes the account detaches it (a NULL) while its session
 * says goodbye. */
struct daemon_idle {
	struct daemon			*d;
	struct daemon_account		*a;	/* NULL: detached, stopping */
	struct daemon_conf		*dc;	/* holds ac for the session */
	const struct account_conf	*ac;
	char				*folder; /* configured remote name */
	struct imap_session		*s;	/* NULL: waiting to retry */
	struct daemon_tls		*tls;	/* lent to s; NULL: none */
	int				 conn;	/* holds a connection */
	enum schedule_conn_kind		 kind;	/* ... of this kind: IDLE, or
						 * POLL once given up */
	int				 polled; /* DAEMON_POLLED_*: the
						 * account's polls take it */
	int				 capped; /* was polled for want of
						 * room: the return to IDLE
						 * is logged, ... */
	int				 capped_info; /* ... at INFO if the
						 * fallback was */
	unsigned int			 failures;
	unsigned int			 quick;	/* quick retries in a row of
						 * connections without login */
	uint64_t			 started; /* of the session (ms) */
	int				 refused; /* the last login was refused
						 * (a reload retries at once) */
	int				 held;	/* waits after a login that cost
						 * the provider one (a failure
						 * after it, short IDLE again):
						 * a fetch now leaves it until
						 * retry_at */
	uint64_t			 retry_at; /* of ev_retry (daemon_now) */
	enum schedule_hint		 busy;	/* the last login was refused
						 * as busy (schedule_hint_busy):
						 * the server asked to wait, a
						 * fetch now leaves it until
						 * retry_at; NONE: not */
	uint64_t			 busy_at; /* ... then (daemon_now) */
	int				 failing; /* the last session failed
						 * before IDLE (status lines) */
	struct event			*ev_retry;
};

/* A TLS context shared by the IDLE sessions trusting the same ca_file:
 * one certificate store, not one per connection (the system store is
 * large). A reload retires them (the files may have changed): new
 * sessions get a new one, and a retired one is freed when the last
 * session borrowing it ends (users), so that daily reloads keep the
 * memory flat. */
struct daemon_tls {
	char			*ca_file;	/* NULL: the system store */
	struct tls_ctx		*tls;
	unsigned int		 users;		/* IDLE sessions borrowing it */
	int			 retired;
};

struct daemon {
	const char		 *path;
	daemon_load_cb		  load;		/* for a reload */
	int			  verbosity;
	struct daemon_conf	 *dc;		/* the current configuration */
	struct event_base	 *base;
	struct evdns_base	 *dns;
	struct schedule		 *sched;
	struct control		 *ctl;		/* NULL until created */
	struct daemon_account	**accts;
	size_t			  naccts;
	struct daemon_idle	**idles;
	size_t			  nidles;
	struct daemon_tls	**tlss;
	size_t			  ntlss;

	struct event		 *ev_due;
	struct event		 *ev_hup;
	struct event		 *ev_term;
	struct event		 *ev_int;
	struct event		 *ev_watchdog;
	struct event		 *ev_clock;
	struct event		 *ev_grace;
	int			  stopping;

	uint64_t		  idle_next;	/* next IDLE start slot (ms) */
	struct schedule_clocks	  clocks;	/* at the last clock check */

	time_t			  last_fetch;	/* wall time, 0: never */
	char			 *last_status;	/* last STATUS= sent */
	char			 *reload_error;	/* the last reload's, or NULL */
	int			  exit;
};

static void	daemon_arm(struct daemon *);
static void	daemon_start_queued(struct daemon *);
static void	daemon_status(struct daemon *);
static void	daemon_account_start(struct daemon_account *, char **);
static void	daemon_idle_trim(struct daemon *);
static void	daemon_idle_resume(struct daemon *);
static size_t	daemon_idle_running(struct daemon *);

/* The level of a configuration moved by -v and -q. */
enum log_level
daemon_log_level(enum log_level base, int verbosity)
{
	int	level = (int)base + verbosity;

	if (verbosity < 0 && level > LOG_LVL_WARNING)
		level = LOG_LVL_WARNING;
	if (level < LOG_LVL_ERROR)
		level = LOG_LVL_ERROR;
	if (level > LOG_LVL_DEBUG)
		level = LOG_LVL_DEBUG;
	return ((enum log_level)level);
}

/* Milliseconds of a clock. */
static uint64_t
daemon_clock(clockid_t id)
{
	struct timespec	ts;

	clock_gettime(id, &ts);
	return ((uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000);
}

/* The scheduler's now: counts suspended time (see the top). A test may
 * add a simulated suspend (MAILFETCHD_SUSPEND, fault.h). */
static uint64_t
daemon_now(void)
{
	return (daemon_clock(CLOCK_BOOTTIME) + fault_suspend_ms());
}

/* Both clocks, for noticing a suspend. */
static void
daemon_clocks(struct schedule_clocks *c)
{
	c->mono_ms = daemon_clock(CLOCK_MONOTONIC);
	c->boot_ms = daemon_now();
}

/* A duration for log lines, from now to a due time. */
static char *
daemon_until(uint64_t due, uint64_t now)
{
	if (due == SCHEDULE_NEVER)
		return (xstrdup("never (until the configuration is reloaded)"));
	return (schedule_format_duration(due > now ? due - now : 0));
}

/* Wraps a configuration for sharing. */
static struct daemon_conf *
daemon_conf_new(struct config *conf)
{
	struct daemon_conf	*dc;

	dc = xcalloc(1, sizeof *dc);
	dc->conf = conf;
	dc->refs = 1;
	return (dc);
}

/* Drops a reference; the last one frees the configuration. */
static void
daemon_conf_unref(struct daemon_conf *dc)
{
	if (dc == NULL || --dc->refs > 0)
		return;
	config_free(dc->conf);
	free(dc);
}

/* The scheduler's policy for an account. */
static void
daemon_policy(const struct account_conf *ac, struct schedule_policy *p)
{
	memset(p, 0, sizeof *p);
	p->poll_interval = ac->poll_interval;
	p->min_interval = ac->min_poll_interval;
	p->override_min = ac->poll_interval_override;
	p->daily_budget = ac->daily_limit;
	p->max_conns = ac->max_connections;
}

/* Whether a session's end says the account needs the user (a new OAuth2
 * grant); a working login says it no longer does. */
static void
daemon_account_reauth(struct daemon_account *a, int status, int reauth)
{
	if (reauth)
		a->reauth = 1;
	else if (status == EXIT_NEW_MAIL || status == EXIT_NOTHING_NEW ||
	    status == EXIT_PARTIAL)
		a->reauth = 0;
}

/* The scheduler's global limits from a configuration. */
static void
daemon_limits(const struct config *conf, struct schedule_limits *l)
{
	memset(l, 0, sizeof *l);
	l->max_conns = conf->max_connections;
	l->max_conns_host = conf->max_connections_per_host;
}

/* Writes the budget history into the state and saves it. The state only
 * ever holds what is durable in the Maildir (sessions record a message
 * after syncing it), so saving after an aborted session is safe. */
static void
daemon_account_save(struct daemon_account *a)
{
	struct log_ctx	 ctx = { a->ac->name, NULL, 0 };
	char		*text, *cause;

	if (a->st == NULL || a->sa == NULL)
		return;
	text = schedule_budget_format(a->sa, daemon_now(), time(NULL));
	if (state_budget_set(a->st, text) != 0)
		log_msg(LOG_LVL_WARNING, &ctx, "download history too long to "
		    "save; the daily budget restarts from zero after a "
		    "restart");
	free(text);
	if (state_save(a->st, &cause) != 0) {
		log_msg(LOG_LVL_ERROR, &ctx, "%s", cause);
		free(cause);
	}
}

/* Takes the account's lock (if not held) and loads its saved budget. */
static int
daemon_account_lock(struct daemon_account *a, int *status)
{
	struct log_ctx	 ctx = { a->ac->name, NULL, 0 };
	const char	*text;
	char		*cause;

	if (a->st != NULL)
		return (0);
	a->st = fetch_lock(a->dc->conf->state_dir, a->ac, status);
	if (a->st == NULL)
		return (-1);
	if ((text = state_budget_get(a->st)) == NULL)
		return (0);
	if (schedule_budget_parse(a->sa, text, daemon_now(), time(NULL),
	    &cause) != 0) {
		log_msg(LOG_LVL_WARNING, &ctx, "%s: download history ignored: "
		    "%s", state_path(a->st), cause);
		free(cause);
	}
	return (0);
}

/* Gives the account's connection back and lets a waiting one have it. */
static void
daemon_account_release(struct daemon_account *a)
{
	if (!a->conn)
		return;
	schedule_conn_release(a->sa, a->ac->host, SCHEDULE_CONN_POLL);
	a->conn = 0;
	daemon_start_queued(a->d);
	daemon_idle_resume(a->d);
}

/* The account's IDLE folders without a session (waiting to retry, for
 * room, or polled) hold no configuration of their own: their ac is the
 * account's, moved with it, since the old one is freed with its last
 * reference (the timers, the resume, a fetch now use it later). Those
 * with a session keep theirs (di->dc) until it ends. */
static void
daemon_idle_rebind(struct daemon_account *a)
{
	struct daemon	*d = a->d;
	size_t		 i;

	for (i = 0; i < d->nidles; i++) {
		if (d->idles[i]->a == a && d->idles[i]->dc == NULL)
			d->idles[i]->ac = a->ac;
	}
}

/* Moves an account to the configuration a reload gave it, once no
 * session borrows the old one. */
static void
daemon_account_rebind(struct daemon_account *a)
{
	if (a->next_dc == NULL || a->fs != NULL)
		return;
	daemon_conf_unref(a->dc);
	a->dc = a->next_dc;
	a->ac = a->next_ac;
	a->next_dc = NULL;
	a->next_ac = NULL;
	daemon_idle_rebind(a);
}

/* Logs the end of a poll: quiet when nothing happened. */
static void
daemon_log_done(struct daemon_account *a, const struct fetch_result *r,
    uint64_t due, uint64_t now, char *msg)
{
	struct log_ctx	 ctx = { a->ac->name, NULL, 0 };
	char		*in;

	in = daemon_until(due, now);
	if (msg != NULL) {
		log_msg(LOG_LVL_WARNING, &ctx, "%s", msg);
	} else if (r->status == EXIT_NEW_MAIL) {
		log_msg(LOG_LVL_INFO, &ctx, "fetched %lu message%s (%llu "
		    "bytes); next poll in %s", r->messages,
		    r->messages == 1 ? "" : "s",
		    (unsigned long long)r->bytes, in);
	} else if (r->status == EXIT_NOTHING_NEW) {
		log_msg(LOG_LVL_DEBUG, &ctx, "nothing new; next poll in %s",
		    in);
	} else {
		log_msg(LOG_LVL_WARNING, &ctx, "poll failed (%s); backing "
		    "off, next try in %s", outcome_name(r->status), in);
	}
	free(in);
}

/* Drops a request's hold on one account; the last one ends the answer. */
static void
daemon_req_release(struct daemon *d, struct daemon_req *req)
{
	if (--req->pending > 0)
		return;
	control_end(d->ctl, req->id);
	free(req);
}

/* Answers every fetch request waiting for the account. */
static void
daemon_account_answer(struct daemon_account *a, int status,
    unsigned long messages, uint64_t bytes, const char *text)
{
	struct daemon_req	**w = a->waiters;
	size_t			  i, n = a->nwaiters;
	char			 *note = a->answer_note;

	a->waiters = NULL;
	a->nwaiters = 0;
	a->answer_note = NULL;
	for (i = 0; i < n; i++) {
		control_reply(a->d->ctl, w[i]->id, "%s %d %lu %llu %s%s%s",
		    a->ac->name, status, messages, (unsigned long long)bytes,
		    text, note != NULL ? "; " : "", note != NULL ? note : "");
		daemon_req_release(a->d, w[i]);
	}
	free(w);
	free(note);
}

/* Today's date as a number, for the daily counts of --status. */
static int
daemon_today(void)
{
	struct tm	tm;
	time_t		now = time(NULL);

	if (localtime_r(&now, &tm) == NULL)
		return (0);
	return (tm.tm_year * 1000 + tm.tm_yday);
}

/* Counts a successful poll for --status. */
static void
daemon_account_count(struct daemon_account *a, const struct fetch_result *r)
{
	int	today = daemon_today();

	if (r->status != EXIT_NEW_MAIL && r->status != EXIT_NOTHING_NEW &&
	    r->status != EXIT_PARTIAL)
		return;
	if (a->day != today) {
		a->day = today;
		a->msgs_today = 0;
		a->bytes_today = 0;
	}
	a->msgs_today += r->messages;
	a->bytes_today += r->bytes;
	if (r->status != EXIT_PARTIAL)
		a->last_success = time(NULL);
}

/* An attempt ended (session done, or failed before it, no_conn): tell
 * the scheduler, log, save the budget, and re-arm. */
static void
daemon_account_done(struct daemon_account *a, const struct fetch_result *r,
    int no_conn)
{
	struct schedule_outcome	 o;
	uint64_t		 now = daemon_now(), due;
	char			*msg;

	memset(&o, 0, sizeof o);
	/* A refused OAuth2 grant: no retry can help, only the user running
	 * --oauth2-setup; the account waits for a reload, like a config
	 * error, instead of backing off and asking again. */
	o.exit = r->reauth ? EXIT_CONFIG : r->status;
	/* The budget counts what was downloaded from the provider, as it
	 * came (CRLF), when it was (a failed poll's downloads too; a POP3
	 * check's RETRs too), not what was delivered (r->bytes). A journal
	 * recovery downloads nothing: the messages it moves into place count
	 * in the run's figures (the log, --status), not in the budget. The
	 * downloads of a run killed (kill -9) before its end are in no
	 * budget: the budget is saved from a finished session's result
	 * (daemon_account_save), which that run never had; so it errs low
	 * by at most that run's downloads. */
	o.bytes = r->downloaded;
	o.hint = (enum schedule_hint)r->hint;
	o.retry_after = r->retry_after;
	o.no_conn = no_conn;
	due = schedule_done(a->sa, now, &o, &msg);
	daemon_log_done(a, r, due, now, msg);
	if (o.hint == SCHEDULE_HINT_TOO_MANY_CONNS)
		daemon_idle_trim(a->d);
	daemon_account_reauth(a, r->status, r->reauth);
	free(msg);
	if (r->status == EXIT_NEW_MAIL || r->status == EXIT_NOTHING_NEW)
		a->d->last_fetch = time(NULL);
	/* An attempt that made no connection (an all-IDLE account's due
	 * poll, with nothing to poll) is no success to report. */
	if (!no_conn)
		daemon_account_count(a, r);
	daemon_account_answer(a, r->status, r->messages, r->bytes,
	    outcome_name(r->status));
	daemon_account_save(a);
	daemon_account_rebind(a);
	daemon_account_release(a);
	daemon_status(a->d);
	daemon_arm(a->d);
}

/* Ends an attempt that failed before any session started. */
static void
daemon_account_fail(struct daemon_account *a, int status)
{
	struct fetch_result	r;

	memset(&r, 0, sizeof r);
	r.status = status;
	daemon_account_done(a, &r, 1);
}

/* A session ended. */
static void
daemon_session_done(struct fetch_session *fs, const struct fetch_result *r,
    void *arg)
{
	struct daemon_account	*a = arg;
	struct daemon		*d = a->d;
	size_t			 i;

	(void)fs;
	a->fs = NULL;
	daemon_account_done(a, r, 0);
	if (!d->stopping)
		return;
	for (i = 0; i < d->naccts; i++) {
		if (d->accts[i]->fs != NULL)
			return;
	}
	if (daemon_idle_running(d) > 0)
		return;
	event_base_loopexit(d->base, NULL);
}

/*
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

static void	daemon_idle_start(struct daemon_idle *);

/* The folders the account's IDLE sessions hold (the polls skip them);
 * returns how many, *names (caller frees the array only). A folder whose
 * IDLE is being given up stays held until its session has ended, so that
 * a poll never fetches it alongside. */
static size_t
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
static size_t
daemon_idle_running(struct daemon *d)
{
	size_t	i, n = 0;

	for (i = 0; i < d->nidles; i++) {
		if (d->idles[i]->s != NULL)
			n++;
	}
	return (n);
}

/* Ends the loop when stopping and nothing runs any more. */
static void
daemon_maybe_exit(struct daemon *d)
{
	size_t	i;

	if (!d->stopping || daemon_idle_running(d) > 0)
		return;
	for (i = 0; i < d->naccts; i++) {
		if (d->accts[i]->fs != NULL)
			return;
	}
	event_base_loopexit(d->base, NULL);
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
static void
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
static void
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

	(void)s;
	if (a == NULL)
		return;
	schedule_budget_add(a->sa, daemon_now(), downloaded);
	if (msgs > 0) {
		memset(&r, 0, sizeof r);
		r.status = EXIT_NEW_MAIL;
		r.messages = msgs;
		r.bytes = bytes;
		daemon_account_count(a, &r);
		a->d->last_fetch = time(NULL);
	}
	daemon_account_save(a);
	daemon_status(a->d);
}

/* The wall-clock time a scheduler time stands for, as text. */
static void
daemon_wall(uint64_t due, uint64_t now, char *buf, size_t len)
{
	struct tm	tm;
	time_t		t = time(NULL) + (time_t)((due > now ? due - now : 0) /
			    1000);

	if (localtime_r(&t, &tm) == NULL ||
	    strftime(buf, len, "%Y-%m-%d %H:%M", &tm) == 0)
		snprintf(buf, len, "unknown");
}

/* The daily budget of an account with IDLE folders is used up: their
 * new mail waits on the server (logged once) until the window frees up,
 * when a timer wakes them. */
static void
daemon_budget_pause(struct daemon_account *a, uint64_t now)
{
	struct timeval	 tv;
	uint64_t	 resume, ms;
	char		 when[32], *in;

	resume = schedule_budget_resume(a->sa, now);
	ms = resume > now ? resume - now : 0;
	/* A second past the hour slot's end: the budget is free by then. */
	ms += 1000;
	tv.tv_sec = ms / 1000;
	tv.tv_usec = (ms % 1000) * 1000;
	evtimer_add(a->ev_budget, &tv);
	if (a->budget_paused)
		return;
	a->budget_paused = 1;
	daemon_wall(resume, now, when, sizeof when);
	in = schedule_format_duration(ms);
	log_msg(LOG_LVL_NOTICE, &(struct log_ctx){ a->ac->name, NULL, 0 },
	    "daily download budget reached; resuming at %s (in %s); new mail "
	    "stays on the server until then", when, in);
	free(in);
	daemon_status(a->d);
}

/* The budget window may have freed up: the IDLE folders check for the
 * mail that waited. */
static void
daemon_budget_cb(evutil_socket_t fd, short what, void *arg)
{
	struct daemon_account	*a = arg;
	struct daemon		*d = a->d;
	uint64_t		 now = daemon_now();
	size_t			 i;

	(void)fd;
	(void)what;
	if (schedule_budget_left(a->sa, now) == 0) {
		daemon_budget_pause(a, now);
		return;
	}
	a->budget_paused = 0;
	log_msg(LOG_LVL_INFO, &(struct log_ctx){ a->ac->name, NULL, 0 },
	    "daily download budget available again; fetching");
	for (i = 0; i < d->nidles; i++) {
		if (d->idles[i]->a == a && d->idles[i]->s != NULL)
			imap_session_check(d->idles[i]->s);
	}
	daemon_status(d);
}

/* Before each batch of a poll: the budget's room now, less what the
 * poll downloaded so far (counted when it ends, daemon_account_done). */
static uint64_t
daemon_poll_budget(void *arg, uint64_t downloaded)
{
	struct daemon_account	*a = arg;

	return (schedule_budget_room(a->sa, daemon_now(), downloaded));
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
static int
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
static void
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
	else if (di->failing)
		schedule_idle_error(di->a->sa, r->status);
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
	char				*in;
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
		log_msg(daemon_idle_level(r, note), &ctx, "IDLE connection "
		    "ended (%s%s%s); reconnecting in %s",
		    outcome_name(r->status), note != NULL ? ", " : "",
		    note != NULL ? note : "", in);
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
static void
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
static void
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
static void
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
 * aborted like a poll, since the account's state goes with it. */
static void
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

/* Has a connection: prepare the Maildir and start the session, leaving
 * out the folders IDLE sessions hold. */
static void
daemon_account_run(struct daemon_account *a)
{
	struct daemon	*d = a->d;
	const char	**held;
	size_t		 nheld;

	if (fetch_prepare_maildirs(a->dc->conf, a->ac, a->st) != 0) {
		daemon_account_fail(a, EXIT_LOCAL);
		return;
	}
	log_msg(LOG_LVL_DEBUG, &(struct log_ctx){ a->ac->name, NULL, 0 },
	    "polling %s", a->ac->host);
	nheld = daemon_idle_held(a, &held);
	a->fs = fetch_session_start_skip(d->base, d->dns, a->ac, a->st, held,
	    nheld, daemon_session_done, a);
	fetch_session_budget(a->fs, daemon_poll_budget, a);
	free(held);
}

/* Asks for a connection; queues the account when a cap says no. */
static int
daemon_account_connect(struct daemon_account *a)
{
	struct log_ctx		 ctx = { a->ac->name, NULL, 0 };
	enum schedule_conn	 rc;
	char			*cause = NULL;

	rc = schedule_conn_acquire(a->sa, a->ac->host, SCHEDULE_CONN_POLL,
	    &cause);
	if (rc == SCHEDULE_CONN_GRANTED) {
		free(cause);
		a->conn = 1;
		a->queued = 0;
		return (0);
	}
	log_msg(rc == SCHEDULE_CONN_DENIED_FIRST ? LOG_LVL_INFO :
	    LOG_LVL_DEBUG, &ctx, "%s; waiting for a connection to be "
	    "released", cause != NULL ? cause : "connection cap reached");
	free(cause);
	a->queued = 1;
	return (-1);
}

/* Whether IDLE sessions hold every configured folder of the account. */
static int
daemon_account_all_idle(const struct daemon_account *a)
{
	const char	**held;
	size_t		 n;

	n = daemon_idle_held(a, &held);
	free(held);
	return (a->ac->proto == PROTO_IMAP && n > 0 && n == a->ac->nfolders);
}

/* Starts an attempt for a due account (or one polled at once). When the
 * daily budget forbids it and why is not NULL, *why says so (caller
 * frees). */
static void
daemon_account_start(struct daemon_account *a, char **why)
{
	struct log_ctx	 ctx = { a->ac->name, NULL, 0 };
	char		*cause;
	int		 status;

	if (a->d->stopping || a->fs != NULL || a->queued)
		return;
	if (schedule_begin(a->sa, daemon_now(), &cause) != 0) {
		log_msg(LOG_LVL_INFO, &ctx, "%s", cause);
		if (why != NULL)
			*why = cause;
		else
			free(cause);
		daemon_account_save(a);
		daemon_status(a->d);
		return;
	}
	if (daemon_account_lock(a, &status) != 0) {
		daemon_account_fail(a, status);
		return;
	}
	if (daemon_account_all_idle(a)) {
		/* Nothing to poll: no connection for nothing. */
		daemon_account_fail(a, EXIT_NOTHING_NEW);
		return;
	}
	if (daemon_account_connect(a) != 0)
		return;
	daemon_account_run(a);
}

/* A connection was released (or a cap raised): start accounts waiting for
 * one. Each is asked in turn, as the cap that holds one back (its host's,
 * its own) may leave room for the next. */
static void
daemon_start_queued(struct daemon *d)
{
	struct daemon_account	*a;
	size_t			 i;

	for (i = 0; i < d->naccts; i++) {
		a = d->accts[i];
		if (!a->queued || d->stopping)
			continue;
		if (daemon_account_connect(a) == 0)
			daemon_account_run(a);
	}
}

/* The due timer: start every due account, then re-arm. */
static void
daemon_due_cb(evutil_socket_t fd, short what, void *arg)
{
	struct daemon		*d = arg;
	struct schedule_account	*due[32];
	size_t			 n, i, rounds = 0;

	(void)fd;
	(void)what;
	/* Each start leaves the due set (POLLING, PAUSED or a backoff); the
	 * bound only guards against a scheduler that disagrees. */
	while (!d->stopping && rounds++ <= d->naccts &&
	    (n = schedule_due(d->sched, daemon_now(), due, nitems(due))) > 0) {
		if (n > nitems(due))
			n = nitems(due);
		for (i = 0; i < n; i++)
			daemon_account_start(schedule_account_arg(due[i]),
			    NULL);
	}
	daemon_status(d);
	daemon_arm(d);
}

/* Arms the one timer at the scheduler's earliest due time. */
static void
daemon_arm(struct daemon *d)
{
	struct timeval	tv;
	uint64_t	due, now, ms;

	if (d->stopping) {
		event_del(d->ev_due);
		return;
	}
	due = schedule_next_due(d->sched);
	if (due == SCHEDULE_NEVER) {
		event_del(d->ev_due);
		return;
	}
	now = daemon_now();
	ms = due > now ? due - now : 0;
	tv.tv_sec = ms / 1000;
	tv.tv_usec = (ms % 1000) * 1000;
	evtimer_add(d->ev_due, &tv);
}

/* IDLE folders of an account (all when a is NULL) sitting in IDLE now. */
static size_t
daemon_idling(struct daemon *d, const struct daemon_account *a)
{
	size_t	i, n = 0;

	for (i = 0; i < d->nidles; i++) {
		if ((a == NULL || d->idles[i]->a == a) &&
		    d->idles[i]->s != NULL && imap_session_idling(d->idles[i]->s))
			n++;
	}
	return (n);
}

/* Connections open now: polls and IDLE sessions. */
static size_t
daemon_connections(struct daemon *d)
{
	size_t	i, n = 0;

	for (i = 0; i < d->naccts; i++) {
		if (d->accts[i]->fs != NULL)
			n++;
	}
	return (n + daemon_idle_running(d));
}

/* "; re-authorisation needed: a, b" for the accounts that need the user
 * (at most a few named: STATUS= is one short line), or "". Caller frees. */
static char *
daemon_reauth_list(struct daemon *d)
{
	char	*out = xstrdup(""), *tmp;
	size_t	 i, n = 0;

	for (i = 0; i < d->naccts; i++) {
		if (!d->accts[i]->reauth)
			continue;
		if (n++ == 3) {
			xasprintf(&tmp, "%s, ...", out);
			free(out);
			out = tmp;
			continue;
		}
		if (n > 4)
			continue;
		xasprintf(&tmp, "%s%s%s", out, n == 1 ?
		    "; re-authorisation needed: " : ", ", d->accts[i]->ac->name);
		free(out);
		out = tmp;
	}
	return (out);
}

/* A one-line summary for the service manager, sent when it changes. */
static void
daemon_status(struct daemon *d)
{
	struct schedule_status	 ss;
	unsigned int		 n[SCHEDULE_STATE_MAX], errors = 0;
	char			*line, *reauth, when[32] = "never";
	struct tm		 tm;
	size_t			 i;
	uint64_t		 now = daemon_now();

	memset(n, 0, sizeof n);
	for (i = 0; i < d->naccts; i++) {
		schedule_account_status(d->accts[i]->sa, now, &ss);
		n[ss.state]++;
		if (ss.failures > 0 || ss.state == SCHEDULE_STOPPED ||
		    d->accts[i]->reauth)
			errors++;
	}
	if (d->last_fetch != 0 && localtime_r(&d->last_fetch, &tm) != NULL)
		strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S", &tm);
	reauth = daemon_reauth_list(d);
	xasprintf(&line, "%zu account%s: %u polling, %u waiting, %u backing "
	    "off, %u paused, %u stopped; %zu IDLE, %zu connection%s; last "
	    "fetch %s; %u with errors%s%s%s",
	    d->naccts, d->naccts == 1 ? "" : "s", n[SCHEDULE_POLLING],
	    n[SCHEDULE_IDLE], n[SCHEDULE_BACKOFF], n[SCHEDULE_PAUSED],
	    n[SCHEDULE_STOPPED], daemon_idling(d, NULL),
	    daemon_connections(d), daemon_connections(d) == 1 ? "" : "s",
	    when, errors, reauth,
	    d->reload_error != NULL ? "; reload failed: " : "",
	    d->reload_error != NULL ? d->reload_error : "");
	free(reauth);
	if (d->last_status != NULL && strcmp(line, d->last_status) == 0) {
		free(line);
		return;
	}
	notify_status("%s", line);
	free(d->last_status);
	d->last_status = line;
}

/* Adds an account of configuration dc, due now; its lock is taken at
 * once so that a second daemon or a --once learns the account is busy. */
static struct daemon_account *
daemon_account_add(struct daemon *d, struct daemon_conf *dc,
    const struct account_conf *ac)
{
	struct daemon_account	*a;
	struct schedule_policy	 p;
	char			*warning;
	int			 status;

	a = xcalloc(1, sizeof *a);
	a->d = d;
	a->dc = dc;
	dc->refs++;
	a->ac = ac;
	a->ev_budget = evtimer_new(d->base, daemon_budget_cb, a);
	daemon_policy(ac, &p);
	a->sa = schedule_account_add(d->sched, ac->name, &p, a, daemon_now(),
	    &warning);
	if (warning != NULL) {
		log_msg(LOG_LVL_WARNING, &(struct log_ctx){ ac->name, NULL, 0 },
		    "%s", warning);
		free(warning);
	}
	d->accts = xreallocarray(d->accts, d->naccts + 1, sizeof *d->accts);
	d->accts[d->naccts++] = a;
	if (daemon_account_lock(a, &status) != 0 && status == EXIT_LOCKED)
		d->exit = EXIT_LOCKED;
	/* IDLE folders, each within schedule_conn_acquire; after the lock,
	 * which they share with the polls. */
	if (a->st != NULL)
		daemon_account_start_idle(a);
	return (a);
}

/* Stops an account: aborts its session (staged messages are discarded;
 * what it downloaded counts in the budget all the same), saves its
 * budget, releases its lock, and frees it. */
static void
daemon_account_stop(struct daemon_account *a)
{
	if (a->fs != NULL) {
		log_msg(LOG_LVL_NOTICE, &(struct log_ctx){ a->ac->name, NULL,
		    0 }, "aborting the poll in progress; messages not yet "
		    "synced are discarded and fetched again next time");
		schedule_budget_add(a->sa, daemon_now(),
		    fetch_session_downloaded(a->fs));
		fetch_session_free(a->fs);
		a->fs = NULL;
	}
	daemon_account_stop_idle(a);
	if (a->conn) {
		schedule_conn_release(a->sa, a->ac->host, SCHEDULE_CONN_POLL);
		a->conn = 0;
	}
	daemon_account_answer(a, EXIT_LOCKED, 0, 0, a->d->stopping ?
	    "not fetched: the daemon stopped" : "not fetched: the account "
	    "was changed or removed by a reload");
	daemon_account_save(a);
	free(a->answer_note);
	event_free(a->ev_budget);
	state_close(a->st);
	schedule_account_remove(a->sa);
	daemon_conf_unref(a->dc);
	daemon_conf_unref(a->next_dc);
	free(a);
}

/* Finds an account by name, NULL if none. */
static struct daemon_account *
daemon_find(struct daemon *d, const char *name, size_t *idx)
{
	size_t	i;

	for (i = 0; i < d->naccts; i++) {
		if (strcmp(d->accts[i]->ac->name, name) == 0) {
			if (idx != NULL)
				*idx = i;
			return (d->accts[i]);
		}
	}
	return (NULL);
}

/* Removes the i-th account from the list and stops it. */
static void
daemon_remove_at(struct daemon *d, size_t i)
{
	struct daemon_account	*a = d->accts[i];

	memmove(d->accts + i, d->accts + i + 1,
	    (d->naccts - i - 1) * sizeof *d->accts);
	d->naccts--;
	daemon_account_stop(a);
}

/* A reload keeping the account as it was: if its last login was refused
 * or its configuration failed, try again now rather than after the
 * backoff (or never): the user may have fixed the password file or stored
 * a new OAuth2 grant, which the configuration does not show. */
static void
daemon_account_retry(struct daemon_account *a)
{
	struct daemon		*d = a->d;
	struct daemon_idle	*di;
	size_t			 i;
	int			 n = 0;

	n += schedule_account_retry(a->sa, daemon_now());
	for (i = 0; i < d->nidles; i++) {
		di = d->idles[i];
		if (di->a != a || !di->refused)
			continue;
		di->refused = 0;
		di->failures = 0;
		n += daemon_idle_retry_now(di);
	}
	if (n > 0)
		log_msg(LOG_LVL_INFO, &(struct log_ctx){ a->ac->name, NULL, 0 },
		    "the last login was refused; trying again now, after the "
		    "reload");
}

/* Applies a new configuration: removed accounts stop, changed ones
 * restart, new ones start, untouched ones only rebind to it. */
static void
daemon_apply(struct daemon *d, struct daemon_conf *dc)
{
	struct config			*conf = dc->conf;
	const struct account_conf	*ac;
	struct daemon_account		*a;
	struct schedule_limits		 l, old;
	size_t				 i, idx;
	unsigned int			 added = 0, removed = 0, changed = 0;
	unsigned int			 reset = 0;
	int				 same_dir;

	same_dir = strcmp(conf->state_dir, d->dc->conf->state_dir) == 0;
	for (i = d->naccts; i-- > 0;) {
		a = d->accts[i];
		ac = config_find_account(conf, a->ac->name);
		if (ac == NULL)
			removed++;
		else if (!same_dir || !config_account_equal(a->ac, ac))
			changed++;
		else
			continue;
		log_msg(LOG_LVL_INFO, &(struct log_ctx){ a->ac->name, NULL,
		    0 }, "%s by the reload", ac == NULL ? "removed" :
		    "changed");
		daemon_remove_at(d, i);
	}
	daemon_limits(conf, &l);
	daemon_limits(d->dc->conf, &old);
	schedule_set_limits(d->sched, &l);
	for (i = 0; i < conf->naccounts; i++) {
		ac = &conf->accounts[i];
		if ((a = daemon_find(d, ac->name, &idx)) == NULL) {
			if (config_find_account(d->dc->conf, ac->name) == NULL)
				added++;
			daemon_account_add(d, dc, ac);
			continue;
		}
		daemon_conf_unref(a->next_dc);
		a->next_dc = dc;
		a->next_ac = ac;
		dc->refs++;
		daemon_account_rebind(a);
		daemon_account_retry(a);
		/* A cap lowered by [ALERT]s lasts until a reload, this
		 * one too (changed accounts start afresh anyway). */
		if (schedule_account_reset_cap(a->sa)) {
			reset++;
			log_msg(LOG_LVL_INFO, &(struct log_ctx){ ac->name,
			    NULL, 0 }, "the connection cap lowered after the "
			    "server reported too many connections is reset "
			    "by the reload");
		}
	}
	daemon_conf_unref(d->dc);
	d->dc = dc;
	/* The caps may have changed: IDLE gives up what they no longer
	 * leave it; folders polled for want of room try IDLE again when
	 * there may be more (other caps, accounts gone); waiting polls
	 * retry. */
	daemon_idle_trim(d);
	if (removed + changed + reset > 0 || memcmp(&l, &old, sizeof l) != 0)
		daemon_idle_retry_capped(d);
	daemon_start_queued(d);
	log_set_level(daemon_log_level(conf->log_level, d->verbosity));
	log_msg(LOG_LVL_INFO, NULL, "%s reloaded: %u account%s added, %u "
	    "removed, %u changed, %zu unchanged", conf->path, added,
	    added == 1 ? "" : "s", removed, changed,
	    d->naccts - added - changed);
}

/* SIGHUP: re-read the configuration; keep the old one on error. */
static void
daemon_reload(struct daemon *d)
{
	struct config	*conf;
	char		*cause, *p;

	notify_reloading();
	log_msg(LOG_LVL_INFO, NULL, "reloading %s", d->path);
	/* A privsep worker keeps to its owner's accounts. */
	if ((conf = d->load(d->path, &cause)) == NULL) {
		log_msg(LOG_LVL_ERROR, NULL, "reload failed, keeping the "
		    "running configuration: %s", cause);
		/* STATUS= is one line: the first error is enough there. */
		if ((p = strchr(cause, '\n')) != NULL)
			*p = '\0';
		free(d->reload_error);
		d->reload_error = cause;
		daemon_status(d);
		notify_ready();
		return;
	}
	free(d->reload_error);
	d->reload_error = NULL;
	config_log_warnings(conf);
	daemon_tls_retire(d);
	if (strcmp(conf->control_socket, control_path(d->ctl)) != 0)
		log_msg(LOG_LVL_WARNING, NULL, "the control socket stays %s "
		    "until a restart (the configuration now says %s)",
		    control_path(d->ctl), conf->control_socket);
	daemon_apply(d, daemon_conf_new(conf));
	d->exit = 0;
	daemon_status(d);
	notify_ready();
	daemon_arm(d);
}

/* What a stop waits for, by kind: polls finish their batch, IDLE
 * connections only say goodbye (DONE, LOGOUT). */
static void
daemon_stop_log(const char *why, unsigned int polls, unsigned int idles)
{
	char	poll_part[80] = "", idle_part[64] = "";

	if (polls > 0)
		snprintf(poll_part, sizeof poll_part, "; waiting up to %ds "
		    "for %u poll%s in progress", DAEMON_STOP_GRACE, polls,
		    polls == 1 ? "" : "s");
	if (idles > 0)
		snprintf(idle_part, sizeof idle_part, "; closing %u IDLE "
		    "connection%s", idles, idles == 1 ? "" : "s");
	log_msg(LOG_LVL_INFO, NULL, "%s: stopping%s%s", why, poll_part,
	    idle_part);
}

/* At a stop, a poll that has not connected yet (its password_command or
 * OAuth2 refresh still runs) has nothing to finish: it is dropped at
 * once (the command killed), rather than waited for through the grace
 * and then aborted as if messages were at stake. Returns 1 if dropped. */
static int
daemon_stop_unstarted(struct daemon_account *a)
{
	if (a->fs == NULL || !fetch_session_awaiting_secret(a->fs))
		return (0);
	log_msg(LOG_LVL_INFO, &(struct log_ctx){ a->ac->name, NULL, 0 },
	    "the poll had not connected yet (its secret was still being "
	    "obtained); dropped, nothing was fetched");
	fetch_session_free(a->fs);
	a->fs = NULL;
	return (1);
}

/* SIGTERM/SIGINT: no new work; running sessions get DAEMON_STOP_GRACE. */
static void
daemon_stop(struct daemon *d, const char *why)
{
	struct timeval	tv = { DAEMON_STOP_GRACE, 0 };
	unsigned int	polls = 0, idles = 0;
	size_t		i;

	if (d->stopping) {
		log_msg(LOG_LVL_NOTICE, NULL, "%s again: stopping now", why);
		event_base_loopexit(d->base, NULL);
		return;
	}
	d->stopping = 1;
	notify_stopping();
	event_del(d->ev_due);
	for (i = 0; i < d->naccts; i++) {
		d->accts[i]->queued = 0;
		if (!daemon_stop_unstarted(d->accts[i]) &&
		    d->accts[i]->fs != NULL)
			polls++;
	}
	/* IDLE sessions leave IDLE and log out (within IMAP_STOP_WAIT, below
	 * the grace); their done callback ends the loop with the last one. */
	for (i = 0; i < d->nidles; i++) {
		evtimer_del(d->idles[i]->ev_retry);
		if (d->idles[i]->s != NULL) {
			imap_session_stop(d->idles[i]->s);
			idles++;
		}
	}
	if (polls + idles == 0) {
		log_msg(LOG_LVL_INFO, NULL, "%s: stopping", why);
		event_base_loopexit(d->base, NULL);
		return;
	}
	daemon_stop_log(why, polls, idles);
	evtimer_add(d->ev_grace, &tv);
}

/* The grace period is over: what still runs is aborted at exit. */
static void
daemon_grace_cb(evutil_socket_t fd, short what, void *arg)
{
	struct daemon	*d = arg;

	(void)fd;
	(void)what;
	log_msg(LOG_LVL_NOTICE, NULL, "polls still running after %ds; "
	    "aborting them", DAEMON_STOP_GRACE);
	event_base_loopexit(d->base, NULL);
}

/* Signals, from the loop (evsignal: no work in signal context). */
static void
daemon_signal_cb(evutil_socket_t sig, short what, void *arg)
{
	struct daemon	*d = arg;

	(void)what;
	switch (sig) {
	case SIGHUP:
		if (!d->stopping)
			daemon_reload(d);
		break;
	case SIGTERM:
		daemon_stop(d, "SIGTERM");
		break;
	default:
		daemon_stop(d, "SIGINT");
		break;
	}
}

/* Tells systemd's watchdog the loop is alive. */
static void
daemon_watchdog_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	notify_watchdog();
}

/* Notices a suspend (CLOCK_BOOTTIME ran ahead of CLOCK_MONOTONIC) and
 * polls every waiting account at once: the network may have changed, and
 * timers armed on the monotonic clock would fire late. */
static void
daemon_clock_cb(evutil_socket_t fd, short what, void *arg)
{
	struct daemon		*d = arg;
	struct schedule_status	 ss;
	struct schedule_clocks	 now;
	uint64_t		 jump;
	size_t			 i;

	(void)fd;
	(void)what;
	daemon_clocks(&now);
	jump = schedule_suspended(&d->clocks, &now);
	d->clocks = now;
	/* IDLE sessions reach IDLE on their own: STATUS= catches up here
	 * (sent only when it changed). */
	daemon_status(d);
	if (jump == 0 || d->stopping)
		return;
	log_msg(LOG_LVL_INFO, NULL, "resumed after about %llus suspended; "
	    "checking every account now", (unsigned long long)jump / 1000);
	/* IDLE connections: DONE must be answered quickly, or the session
	 * fails and reconnects; a folder waiting to retry retries now. */
	for (i = 0; i < d->nidles; i++) {
		if (d->idles[i]->s != NULL)
			imap_session_check(d->idles[i]->s);
		else
			daemon_idle_retry_now(d->idles[i]);
	}
	for (i = 0; i < d->naccts; i++) {
		schedule_account_status(d->accts[i]->sa, now.boot_ms, &ss);
		if (ss.state == SCHEDULE_IDLE)
			daemon_account_start(d->accts[i], NULL);
	}
	daemon_status(d);
	daemon_arm(d);
}

/* Sends READY=1 from inside the running loop. */
static void
daemon_ready_cb(evutil_socket_t fd, short what, void *arg)
{
	struct daemon	*d = arg;

	(void)fd;
	(void)what;
	notify_ready();
	daemon_status(d);
}

/* The account's state for --status, a word or two. */
static const char *
daemon_account_state(const struct daemon_account *a,
    const struct schedule_status *ss)
{
	if (a->reauth)
		return ("re-authorisation needed");
	if (a->fs != NULL)
		return ("polling");
	if (a->queued)
		return ("waiting for a connection");
	return (schedule_state_name(ss->state));
}

/* Whether an IDLE session of the account holds the configured folder. */
static const struct daemon_idle *
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

/* The account's folders for --status: "idle on INBOX, Work; connecting
 * IDLE on Sent; polling Archive" (IMAP), "" for POP3; caller frees. */
static char *
daemon_account_folders(const struct daemon_account *a)
{
	const struct daemon_idle	*di;
	const char			*name;
	char				*part[4] = { NULL, NULL, NULL, NULL };
	char				*out, *tmp;
	static const char		*label[4] = { "idle on",
					    "connecting IDLE on",
					    "reconnecting IDLE later on",
					    "polling" };
	size_t				 i, k;

	if (a->ac->proto != PROTO_IMAP)
		return (xstrdup(""));
	for (i = 0; i < a->ac->nfolders; i++) {
		name = a->ac->folders[i].remote;
		di = daemon_idle_of(a, name);
		if (di == NULL)
			k = 3;
		else if (di->s != NULL && imap_session_idling(di->s))
			k = 0;
		else if (di->s != NULL)
			k = 1;
		else
			k = 2;
		if (part[k] == NULL)
			xasprintf(&tmp, "%s %s", label[k], name);
		else
			xasprintf(&tmp, "%s, %s", part[k], name);
		free(part[k]);
		part[k] = tmp;
	}
	out = xstrdup("");
	for (k = 0; k < nitems(part); k++) {
		if (part[k] == NULL)
			continue;
		xasprintf(&tmp, "%s; %s", out, part[k]);
		free(out);
		free(part[k]);
		out = tmp;
	}
	return (out);
}

/* For --status: whether an IDLE folder of the account is failing now
 * (its last session failed before IDLE, and none idles since), and
 * whether one idles now (*idling). */
static int
daemon_account_idle_failing(const struct daemon_account *a, int *idling)
{
	const struct daemon_idle	*di;
	size_t				 i;
	int				 failing = 0;

	*idling = 0;
	for (i = 0; i < a->d->nidles; i++) {
		di = a->d->idles[i];
		if (di->a != a || di->polled)
			continue;
		if (di->s != NULL && imap_session_idling(di->s))
			*idling = 1;
		else if (di->failing)
			failing = 1;
	}
	return (failing);
}

/* Connections the account holds: its poll and its IDLE sessions. */
static unsigned int
daemon_account_conns(const struct daemon_account *a)
{
	struct daemon	*d = a->d;
	unsigned int	 n = a->fs != NULL;
	size_t		 i;

	for (i = 0; i < d->nidles; i++) {
		if (d->idles[i]->a == a && d->idles[i]->s != NULL)
			n++;
	}
	return (n);
}

/* One line of the `status` answer (control.h), caller frees. */
static char *
daemon_account_status_line(const struct daemon_account *a, uint64_t now)
{
	struct schedule_status	 ss;
	struct tm		 tm;
	char			 when[32] = "never", *next, *line, err[64];
	char			*folders, budget[96] = "";
	int			 today = a->day == daemon_today();
	int			 failing, idling;
	time_t			 success = a->last_success;

	schedule_account_status(a->sa, now, &ss);
	failing = daemon_account_idle_failing(a, &idling);
	/* An IDLE session in IDLE works now. */
	if (idling)
		success = time(NULL);
	if (success != 0 && localtime_r(&success, &tm) != NULL)
		strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S", &tm);
	if (a->fs != NULL || a->queued)
		next = xstrdup("next poll after this one");
	else if (daemon_account_all_idle(a))
		/* Its due polls have nothing to fetch: no countdown. */
		xasprintf(&next, "no polls: push (IDLE) on %zu folder%s",
		    a->ac->nfolders, a->ac->nfolders == 1 ? "" : "s");
	else if (ss.next_due_ms == SCHEDULE_NEVER)
		next = xstrdup("no next poll until a reload");
	else {
		line = schedule_format_duration(ss.next_due_ms > now ?
		    ss.next_due_ms - now : 0);
		xasprintf(&next, "next poll in %s", line);
		free(line);
	}
	if (ss.last_error == -1)
		snprintf(err, sizeof err, "none");
	else
		snprintf(err, sizeof err, "%s%s", outcome_name(ss.last_error),
		    ss.failures > 0 || failing ? " (now)" :
		    " (recovered since)");
	if (a->budget_paused)
		daemon_wall(schedule_budget_resume(a->sa, now), now, budget,
		    sizeof budget);
	folders = daemon_account_folders(a);
	xasprintf(&line, "%s: %s%s; connections %u; last success %s; %s; "
	    "today %lu message%s, %llu bytes%s%s; last error %s", a->ac->name,
	    daemon_account_state(a, &ss), folders, daemon_account_conns(a),
	    when, next, today ? a->msgs_today : 0,
	    today && a->msgs_today == 1 ? "" : "s",
	    (unsigned long long)(today ? a->bytes_today : 0),
	    a->budget_paused ? "; IDLE mail waits for the daily budget until " :
	    "", budget, err);
	free(folders);
	free(next);
	return (line);
}

/* The control socket's `status`: one line per account. */
static void
daemon_control_status(struct control *ctl, uint64_t id, void *arg)
{
	struct daemon	*d = arg;
	uint64_t	 now = daemon_now();
	char		*line;
	size_t		 i;

	for (i = 0; i < d->naccts; i++) {
		line = daemon_account_status_line(d->accts[i], now);
		control_reply(ctl, id, "%s", line);
		free(line);
	}
	control_end(ctl, id);
}

/* Adds a request to those waiting for the account's poll, once. */
static int
daemon_account_wait(struct daemon_account *a, struct daemon_req *req)
{
	size_t	i;

	for (i = 0; i < a->nwaiters; i++) {
		if (a->waiters[i] == req)
			return (-1);
	}
	a->waiters = xreallocarray(a->waiters, a->nwaiters + 1,
	    sizeof *a->waiters);
	a->waiters[a->nwaiters++] = req;
	req->pending++;
	return (0);
}

/* Why a fetch now leaves an IDLE folder to its backoff (di->held or
 * di->busy), into buf. */
static void
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
static void
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
static const struct daemon_idle *
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
static int
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

/* A fetch now that must wait (schedule_fetch_allowed) is refused with
 * the time it may come, rather than deferred to it: `mailfetchd --once`
 * from a timer or a MUA key must not block for minutes, and a script
 * can tell the refusal (EXIT_DEFERRED) from a failure. Its IDLE folders
 * are left waiting too. Returns 1 when refused (and answered). */
static int
daemon_fetch_deferred(struct daemon_account *a)
{
	const struct daemon_idle *busy;
	uint64_t	 now = daemon_now(), at, idle_at;
	char		*why, *in, *text, when[32], server[192];

	at = schedule_fetch_allowed(a->sa, now, &why);
	if (at <= now && (busy = daemon_fetch_idle_busy(a)) != NULL) {
		/* The server's word on an IDLE login holds for the
		 * account's logins. */
		daemon_idle_held_why(busy, now, server, sizeof server);
		free(why);
		why = xstrdup(server);
		at = busy->retry_at > now ? busy->retry_at : now + 1000;
	}
	if (!daemon_fetch_idle_blocked(a, &idle_at) && at <= now)
		return (0);
	if (at <= now && idle_at != SCHEDULE_NEVER) {
		/* Held IDLE folders only: their planned reconnection. */
		free(why);
		why = xstrdup("the IDLE connection failed after its login; "
		    "backing off so that the provider's limits are kept");
		at = idle_at > now ? idle_at : now + 1000;
	}
	if (at <= now)
		/* Its IDLE logins keep their own backoff: the poll that
		 * would answer has nothing to fetch. */
		text = xstrdup("not fetched: the IDLE login was refused; a "
		    "reload retries it now, else it is retried after its "
		    "backoff");
	else if (at == SCHEDULE_NEVER)
		xasprintf(&text, "not fetched: %s; not before the "
		    "configuration is reloaded", why);
	else {
		in = schedule_format_duration(at - now);
		daemon_wall(at, now, when, sizeof when);
		xasprintf(&text, "not fetched: %s; next attempt allowed in "
		    "%s (at %s)", why, in, when);
		free(in);
	}
	log_msg(LOG_LVL_INFO, &(struct log_ctx){ a->ac->name, NULL, 0 },
	    "fetch now asked on the control socket: %s", text);
	daemon_account_answer(a, EXIT_DEFERRED, 0, 0, text);
	free(text);
	free(why);
	return (1);
}

/* Makes one account poll now for a request; an account already polling
 * (or waiting for a connection) answers at the end of that poll. IDLE
 * folders waiting to reconnect do so at once (daemon_fetch_idle). */
static void
daemon_fetch_account(struct daemon_account *a, struct daemon_req *req)
{
	char	*why = NULL;

	if (daemon_account_wait(a, req) != 0)
		return;
	if (a->fs == NULL && !a->queued && daemon_fetch_deferred(a))
		return;
	daemon_fetch_idle(a);
	if (a->fs != NULL || a->queued)
		return;
	log_msg(LOG_LVL_INFO, &(struct log_ctx){ a->ac->name, NULL, 0 },
	    "polling now, as asked on the control socket");
	daemon_account_start(a, &why);
	/* Ended at once (answered), or running, or waiting: nothing to do. */
	if (a->nwaiters == 0 || a->fs != NULL || a->queued) {
		free(why);
		return;
	}
	/* The daily budget said no: that is not a failure. */
	daemon_account_answer(a, EXIT_NOTHING_NEW, 0, 0, why != NULL ? why :
	    "not polled");
	free(why);
}

/* The control socket's `fetch [NAME...]`. */
static void
daemon_control_fetch(struct control *ctl, uint64_t id,
    const char *const *names, size_t n, void *arg)
{
	struct daemon		*d = arg;
	struct daemon_account	*a;
	struct daemon_req	*req;
	size_t			 i;

	if (d->stopping) {
		control_reply(ctl, id, "error the daemon is stopping");
		control_end(ctl, id);
		return;
	}
	req = xcalloc(1, sizeof *req);
	req->id = id;
	/* Held while starting, so accounts answered at once do not end
	 * the answer before the others are asked. */
	req->pending = 1;
	for (i = 0; i < (n > 0 ? n : d->naccts); i++) {
		a = n > 0 ? daemon_find(d, names[i], NULL) : d->accts[i];
		if (a == NULL)
			control_reply(ctl, id, "%s unknown", names[i]);
		else
			daemon_fetch_account(a, req);
	}
	daemon_req_release(d, req);
	daemon_status(d);
	daemon_arm(d);
}

static const struct control_ops daemon_control_ops = {
	daemon_control_status,
	daemon_control_fetch,
};

/* Raises the soft limit on open files to the hard one: each account
 * holds its lock, and each IDLE folder a socket and the account's msgids
 * log, so a thousand accounts need more than the usual soft 1024
 * (systemd's hard limit is far above; the loop uses epoll, not select). */
static void
daemon_raise_nofile(void)
{
	struct rlimit	rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur >= rl.rlim_max)
		return;
	rl.rlim_cur = rl.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
		log_msg(LOG_LVL_DEBUG, NULL, "cannot raise the open file limit: "
		    "%s", strerror(errno));
}

/* Creates the loop, its events and the scheduler. */
static void
daemon_setup(struct daemon *d)
{
	struct schedule_limits	 l;
	struct timeval		 tv;
	unsigned long long	 usec;
	uint64_t		 seed;

	daemon_raise_nofile();
	if ((d->base = event_base_new()) == NULL)
		fatalx("event_base_new failed");
	d->dns = evdns_base_new(d->base, EVDNS_BASE_INITIALIZE_NAMESERVERS |
	    EVDNS_BASE_DISABLE_WHEN_INACTIVE);
	if (d->dns == NULL)
		fatalx("cannot set up DNS resolution (evdns_base_new)");
	if (getrandom(&seed, sizeof seed, 0) != sizeof seed)
		seed = (uint64_t)time(NULL) ^ (uint64_t)getpid();
	daemon_limits(d->dc->conf, &l);
	d->sched = schedule_new(&l, seed);

	d->ev_due = evtimer_new(d->base, daemon_due_cb, d);
	d->ev_grace = evtimer_new(d->base, daemon_grace_cb, d);
	d->ev_hup = evsignal_new(d->base, SIGHUP, daemon_signal_cb, d);
	d->ev_term = evsignal_new(d->base, SIGTERM, daemon_signal_cb, d);
	d->ev_int = evsignal_new(d->base, SIGINT, daemon_signal_cb, d);
	evsignal_add(d->ev_hup, NULL);
	evsignal_add(d->ev_term, NULL);
	evsignal_add(d->ev_int, NULL);

	daemon_clocks(&d->clocks);
	d->ev_clock = event_new(d->base, -1, EV_PERSIST, daemon_clock_cb, d);
	tv.tv_sec = fault_clock_check(DAEMON_CLOCK_CHECK);
	tv.tv_usec = 0;
	event_add(d->ev_clock, &tv);

	if ((usec = notify_watchdog_usec()) > 0) {
		usec /= 2;
		tv.tv_sec = usec / 1000000;
		tv.tv_usec = usec % 1000000;
		d->ev_watchdog = event_new(d->base, -1, EV_PERSIST,
		    daemon_watchdog_cb, d);
		event_add(d->ev_watchdog, &tv);
	}
}

/* Frees every account (aborting what still runs) and the loop. */
static void
daemon_teardown(struct daemon *d)
{
	while (d->naccts > 0)
		daemon_remove_at(d, d->naccts - 1);
	free(d->accts);
	/* Detached IDLE sessions a reload was still stopping. */
	while (d->nidles > 0)
		daemon_idle_free(d->idles[d->nidles - 1]);
	free(d->idles);
	/* No session is left to borrow a context. */
	daemon_tls_retire(d);
	free(d->tlss);
	control_free(d->ctl);
	schedule_free(d->sched);
	if (d->ev_watchdog != NULL)
		event_free(d->ev_watchdog);
	event_free(d->ev_clock);
	event_free(d->ev_int);
	event_free(d->ev_term);
	event_free(d->ev_hup);
	event_free(d->ev_grace);
	event_free(d->ev_due);
	evdns_base_free(d->dns, 0);
	event_base_free(d->base);
	daemon_conf_unref(d->dc);
	free(d->last_status);
	free(d->reload_error);
}

int
daemon_run(const char *path, daemon_load_cb load, struct config *conf,
    int verbosity)
{
	struct daemon	d;
	struct timeval	now = { 0, 0 };
	size_t		i;
	char		*cause;
	int		rc;

	if (conf->naccounts == 0) {
		log_msg(LOG_LVL_ERROR, NULL, "%s: no account configured",
		    conf->path);
		config_free(conf);
		return (EXIT_CONFIG);
	}
	memset(&d, 0, sizeof d);
	d.path = path;
	d.load = load;
	d.verbosity = verbosity;
	d.dc = daemon_conf_new(conf);
	daemon_setup(&d);
	for (i = 0; i < conf->naccounts; i++)
		daemon_account_add(&d, d.dc, &conf->accounts[i]);
	if (d.exit == EXIT_LOCKED) {
		log_msg(LOG_LVL_ERROR, NULL, "another mailfetchd is fetching "
		    "accounts of %s; not starting a second daemon",
		    conf->state_dir);
		rc = d.exit;
		daemon_teardown(&d);
		return (rc);
	}
	/* Without its socket, a --once would fight the daemon for the locks
	 * again; every reason it fails is for the admin to fix. */
	d.ctl = control_new(d.base, conf->control_socket, &daemon_control_ops,
	    &d, &cause);
	if (d.ctl == NULL) {
		log_msg(LOG_LVL_ERROR, NULL, "%s; not starting", cause);
		free(cause);
		daemon_teardown(&d);
		return (EXIT_LOCAL);
	}
	log_msg(LOG_LVL_INFO, NULL, "mailfetchd %s started: %zu account%s "
	    "from %s; control socket %s", PACKAGE_VERSION, d.naccts,
	    d.naccts == 1 ? "" : "s", conf->path, control_path(d.ctl));
	event_base_once(d.base, -1, EV_TIMEOUT, daemon_ready_cb, &d, &now);
	daemon_arm(&d);
	event_base_dispatch(d.base);
	daemon_teardown(&d);
	log_msg(LOG_LVL_INFO, NULL, "stopped");
	return (0);
}
