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
 * until it ends.
 *
 * The IMAP IDLE sessions, and the TLS contexts lent to them, are
 * supervised in daemon_idle.c; the two files share daemon_p.h. */
#include "daemon_p.h"

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
#include "hook.h"
#include "imap.h"
#include "mda.h"
#include "notify.h"
#include "privsep.h"
#include "schedule.h"
#include "shard.h"
#include "state.h"
#include "xmalloc.h"

#define DAEMON_CLOCK_CHECK	15	/* seconds between clock checks */

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
uint64_t
daemon_clock(clockid_t id)
{
	struct timespec	ts;

	clock_gettime(id, &ts);
	return ((uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000);
}

/* The scheduler's now: counts suspended time (see the top). A test may
 * add a simulated suspend (MAILFETCHD_SUSPEND, fault.h). */
uint64_t
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
char *
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
void
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
void
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
void
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

/* Sharded (shard.h), another instance may hold an account's lock for a
 * while: during a re-shard the old owner runs until it is restarted. That
 * is no failure and no reason to stop: said once, at notice, and tried
 * again at each poll; said again when the lock is ours. */
static struct state *
daemon_lock_state(struct daemon_account *a, int *status)
{
	struct log_ctx	 ctx = { a->ac->name, NULL, 0 };
	struct state	*st;
	char		*cause;
	int		 busy;

	if (a->dc->conf->shard_count == 0)
		return (fetch_lock(a->dc->conf->state_dir, a->ac, status));
	if ((st = state_open(a->dc->conf->state_dir, a->ac->name,
	    &cause)) != NULL) {
		if (a->lock_busy)
			log_msg(LOG_LVL_NOTICE, &ctx, "the other instance "
			    "released the account; fetching it here");
		a->lock_busy = 0;
		return (st);
	}
	busy = errno == EWOULDBLOCK;
	*status = busy ? EXIT_LOCKED : EXIT_LOCAL;
	if (!busy)
		log_msg(LOG_LVL_ERROR, &ctx, "%s", cause);
	else if (!a->lock_busy)
		log_msg(LOG_LVL_NOTICE, &ctx, "%s; skipped (another "
		    "instance, during a re-shard?), tried again at each poll",
		    cause);
	a->lock_busy = busy;
	free(cause);
	return (NULL);
}

/* Takes the account's lock (if not held) and loads its saved budget. */
int
daemon_account_lock(struct daemon_account *a, int *status)
{
	struct log_ctx	 ctx = { a->ac->name, NULL, 0 };
	const char	*text;
	char		*cause;

	if (a->st != NULL)
		return (0);
	a->st = daemon_lock_state(a, status);
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
	} else if (r->refused > 0) {
		log_msg(LOG_LVL_WARNING, &ctx, "fetched %lu message%s; %lu "
		    "refused by the delivery agent stay on the server; next "
		    "poll in %s", r->messages, r->messages == 1 ? "" : "s",
		    r->refused, in);
	} else if (r->agent_refused > 0 && r->messages == 0 &&
	    r->status == EXIT_LOCAL) {
		log_msg(LOG_LVL_WARNING, &ctx, "poll failed (%s): the delivery "
		    "agent took none of the %lu message%s handed over, which "
		    "stay on the server; backing off, next try in %s",
		    outcome_name(r->status), r->agent_refused,
		    r->agent_refused == 1 ? "" : "s", in);
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
int
daemon_today(void)
{
	struct tm	tm;
	time_t		now = time(NULL);

	if (localtime_r(&now, &tm) == NULL)
		return (0);
	return (tm.tm_year * 1000 + tm.tm_yday);
}

/* Counts a successful poll for --status. */
void
daemon_account_count(struct daemon_account *a, const struct fetch_result *r)
{
	int	today = daemon_today();

	if (r->status != EXIT_NEW_MAIL && r->status != EXIT_NOTHING_NEW &&
	    r->status != EXIT_PARTIAL && r->refused == 0)
		return;
	if (a->day != today) {
		a->day = today;
		a->msgs_today = 0;
		a->bytes_today = 0;
	}
	a->msgs_today += r->messages;
	a->bytes_today += r->bytes;
	daemon_report_count(a, r->messages, r->bytes);
	/* A poll that delivered, or had nothing to deliver but what the
	 * agent refused before (daemon_refused_known): the messages it
	 * refuses have their own line in --status. */
	if (r->status != EXIT_PARTIAL)
		a->last_success = time(NULL);
}

/* The messages the delivery agent refused or deferred, for --status:
 * how many the last poll that handed any over kept back, and since when
 * polls keep some back; and how many of them a poll whose agent took
 * others refused (daemon_refused_known). A poll that delivered with
 * none refused clears them; one that handed none over (nothing new, the
 * daily budget cut it short) leaves them: it tells nothing of the
 * agent. */
void
daemon_account_held(struct daemon_account *a, unsigned long refused,
    unsigned long delivered)
{
	if (refused > 0) {
		if (a->held == 0)
			a->held_since = time(NULL);
		a->held = refused;
		if (delivered > 0)
			a->held_known = refused;
	} else if (delivered > 0) {
		a->held = 0;
		a->held_since = 0;
		a->held_known = 0;
	}
}

/* Whether a poll whose agent took none of the messages handed over only
 * handed over (at most as many as) those it refused while it took others
 * (r21 14): messages it refuses again, not an agent that takes nothing.
 * Then no backoff: the account's new mail must not wait for them. */
static int
daemon_refused_known(const struct daemon_account *a,
    const struct fetch_result *r)
{
	return (r->none_taken && !r->reauth && a->held_known > 0 &&
	    r->agent_refused <= a->held_known);
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
	struct fetch_result	 known;

	if (daemon_refused_known(a, r)) {
		known = *r;
		known.refused = r->agent_refused;
		r = &known;
	}
	memset(&o, 0, sizeof o);
	/* A refused OAuth2 grant: no retry can help, only the user running
	 * --oauth2-setup; the account waits for a reload, like a config
	 * error, instead of backing off and asking again. */
	o.exit = r->reauth ? EXIT_CONFIG : r->status;
	/* Messages the agent refused: the account works (the others were
	 * delivered); the failure is the message's, logged and in
	 * --status, no backoff for the account's other mail. */
	if (!r->reauth && r->refused > 0)
		o.exit = r->messages > 0 ? EXIT_NEW_MAIL : EXIT_NOTHING_NEW;
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
	/* Not backed off, but the account's last error for --status. */
	if (r->refused > 0 && status_is_failure(r->status))
		schedule_idle_error(a->sa, r->status);
	daemon_account_held(a, r->agent_refused, r->messages);
	/* A poll cut before its listing tells nothing of them. */
	if (r->held_back > 0 || r->agent_refused > 0 ||
	    !status_is_failure(r->status)) {
		a->held_back = r->held_back;
		a->held_until = r->held_until;
	}
	daemon_log_done(a, r, due, now, msg);
	if (o.hint == SCHEDULE_HINT_TOO_MANY_CONNS)
		daemon_idle_trim(a->d);
	daemon_account_reauth(a, r->status, r->reauth);
	/* The files are durable, the state saved by the session. The hooks
	 * a reload during the poll gave are the ones to run. */
	hook_new_mail(a->d->hook, a->next_ac != NULL ? a->next_ac : a->ac,
	    r->files);
	/* A login refused as busy says nothing about the password. */
	if (!schedule_hint_busy(r->hint))
		hook_fetch_ended(a->d->hook, a->next_ac != NULL ? a->next_ac :
		    a->ac, r->status, r->reauth, due == SCHEDULE_NEVER, msg);
	daemon_report_failure(a, r->status, msg);
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
	daemon_report_metrics(a->d);
	daemon_arm(a->d);
}

/* The account's lock is another instance's (daemon_lock_state): no
 * failure, no backoff, no hook; its next poll tries again. */
static void
daemon_account_skip_busy(struct daemon_account *a)
{
	struct schedule_outcome	 o;
	char			*msg;

	memset(&o, 0, sizeof o);
	o.exit = EXIT_NOTHING_NEW;
	o.no_conn = 1;
	(void)schedule_done(a->sa, daemon_now(), &o, &msg);
	free(msg);
	daemon_account_answer(a, EXIT_LOCKED, 0, 0, "not fetched: another "
	    "instance holds the account's lock");
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

/* Ends the loop when stopping and nothing runs any more. */
void
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
void
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
	fetch_session_hook(a->fs, d->hook);
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
int
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
		if (a->lock_busy)
			daemon_account_skip_busy(a);
		else
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
void
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
void
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
size_t
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
void
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
	a->last_failure_exit = -1;
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
	/* Sharded, a lock held elsewhere is skipped (daemon_lock_state);
	 * else it is a second daemon on the same state: not starting. */
	if (daemon_account_lock(a, &status) != 0 && status == EXIT_LOCKED &&
	    !a->lock_busy)
		d->exit = EXIT_LOCKED;
	/* IDLE folders, each within schedule_conn_acquire; after the lock,
	 * which they share with the polls (each takes it when it connects,
	 * and retries while another instance holds it). */
	if (a->st != NULL || a->lock_busy)
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
	/* What the aborted sessions made durable (hook_owe) runs now; at a
	 * stop it is kept in state_dir for the next start. */
	if (!a->d->stopping)
		hook_fetch_aborted(a->d->hook, a->ac);
	if (a->conn) {
		schedule_conn_release(a->sa, a->ac->host, SCHEDULE_CONN_POLL);
		a->conn = 0;
	}
	daemon_account_answer(a, EXIT_LOCKED, 0, 0, a->d->stopping ?
	    "not fetched: the daemon stopped" : "not fetched: the account "
	    "was changed or removed by a reload");
	daemon_account_save(a);
	free(a->answer_note);
	free(a->last_failure_text);
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

/* The counts of a changed account that its re-created self keeps: the
 * status and the metrics say "since the daemon started" (and "today"),
 * and a Prometheus counter goes down only when the process restarts
 * (review r16 08). */
struct daemon_counts {
	char		*name;
	int		 day;
	unsigned long	 msgs_today;
	uint64_t	 bytes_today;
	uint64_t	 total_msgs;
	uint64_t	 total_bytes;
	uint64_t	 failures_by_class[STATUS_CLASSES];
};

/* Keeps a's counts in *v (grown). */
static void
daemon_counts_take(struct daemon_counts **v, size_t *n,
    const struct daemon_account *a)
{
	struct daemon_counts	*c;

	*v = xreallocarray(*v, *n + 1, sizeof **v);
	c = &(*v)[(*n)++];
	c->name = xstrdup(a->ac->name);
	c->day = a->day;
	c->msgs_today = a->msgs_today;
	c->bytes_today = a->bytes_today;
	c->total_msgs = a->total_msgs;
	c->total_bytes = a->total_bytes;
	memcpy(c->failures_by_class, a->failures_by_class,
	    sizeof c->failures_by_class);
}

/* Gives a the counts kept under its name, if any. */
static void
daemon_counts_give(const struct daemon_counts *v, size_t n,
    struct daemon_account *a)
{
	size_t	i;

	for (i = 0; i < n; i++) {
		if (strcmp(v[i].name, a->ac->name) != 0)
			continue;
		a->day = v[i].day;
		a->msgs_today = v[i].msgs_today;
		a->bytes_today = v[i].bytes_today;
		a->total_msgs = v[i].total_msgs;
		a->total_bytes = v[i].total_bytes;
		memcpy(a->failures_by_class, v[i].failures_by_class,
		    sizeof a->failures_by_class);
		return;
	}
}

static void
daemon_counts_free(struct daemon_counts *v, size_t n)
{
	size_t	i;

	for (i = 0; i < n; i++)
		free(v[i].name);
	free(v);
}

/* Applies a new configuration: removed accounts stop, changed ones
 * restart (keeping their counts), new ones start, untouched ones only
 * rebind to it. */
static void
daemon_apply(struct daemon *d, struct daemon_conf *dc)
{
	struct config			*conf = dc->conf;
	const struct account_conf	*ac;
	struct daemon_account		*a;
	struct schedule_limits		 l, old;
	struct daemon_counts		*carry = NULL;
	size_t				 i, idx, ncarry = 0;
	unsigned int			 added = 0, removed = 0, changed = 0;
	unsigned int			 reset = 0;
	int				 same_dir;

	same_dir = strcmp(conf->state_dir, d->dc->conf->state_dir) == 0;
	for (i = d->naccts; i-- > 0;) {
		a = d->accts[i];
		ac = config_find_account(conf, a->ac->name);
		if (ac == NULL)
			removed++;
		else if (!same_dir || !config_account_equal(a->ac, ac)) {
			changed++;
			daemon_counts_take(&carry, &ncarry, a);
		} else
			continue;
		log_msg(LOG_LVL_INFO, &(struct log_ctx){ a->ac->name, NULL,
		    0 }, "%s by the reload", ac == NULL ? "removed" :
		    "changed");
		daemon_remove_at(d, i);
	}
	/* Before the accounts start again there: what their hooks owe is
	 * kept in the new directory. */
	if (!same_dir)
		hook_state_dir(d->hook, conf->state_dir);
	daemon_limits(conf, &l);
	daemon_limits(d->dc->conf, &old);
	schedule_set_limits(d->sched, &l);
	for (i = 0; i < conf->naccounts; i++) {
		ac = &conf->accounts[i];
		if ((a = daemon_find(d, ac->name, &idx)) == NULL) {
			if (config_find_account(d->dc->conf, ac->name) == NULL)
				added++;
			a = daemon_account_add(d, dc, ac);
			daemon_counts_give(carry, ncarry, a);
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
	daemon_counts_free(carry, ncarry);
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

/* A reload that failed (cause, taken): the running configuration stays,
 * the error is logged and shown in the status. */
static void
daemon_reload_failed(struct daemon *d, char *cause)
{
	char	*p;

	log_msg(LOG_LVL_ERROR, NULL, "reload failed, keeping the running "
	    "configuration: %s", cause);
	/* STATUS= is one line: the first error is enough there. */
	if ((p = strchr(cause, '\n')) != NULL)
		*p = '\0';
	free(d->reload_error);
	d->reload_error = cause;
	daemon_status(d);
	notify_ready();
}

/* A reload cannot change the instance's shard: the control socket is
 * named after it (shard.h) and stays the running one's until a restart,
 * so a daemon reloaded to another shard went on answering --status and
 * --once of its old shard, and kept that shard's real instance from
 * starting (review r17 11). Refusing the whole reload never leaves the
 * shard without its socket, nor a socket with a shard it does not serve.
 * NULL when the shard stays, else why (the caller frees it). */
static char *
daemon_reload_shard(const struct config *old, const struct config *conf)
{
	char	*cause, was[32], now[32];

	if (old->shard_index == conf->shard_index &&
	    old->shard_count == conf->shard_count)
		return (NULL);
	shard_name(old, was, sizeof was);
	shard_name(conf, now, sizeof now);
	xasprintf(&cause, "%s: shard %s, but this daemon runs as shard %s: "
	    "a change of shard needs a restart", conf->path, now, was);
	return (cause);
}

/* SIGHUP: re-read the configuration; keep the old one on error. */
static void
daemon_reload(struct daemon *d)
{
	struct config	*conf;
	char		*cause;

	notify_reloading();
	log_msg(LOG_LVL_INFO, NULL, "reloading %s", d->path);
	/* A privsep worker keeps to its owner's accounts. */
	if ((conf = d->load(d->path, &cause)) == NULL) {
		daemon_reload_failed(d, cause);
		return;
	}
	if ((cause = daemon_reload_shard(d->dc->conf, conf)) != NULL) {
		config_free(conf);
		daemon_reload_failed(d, cause);
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
		    "for %u poll%s in progress", FETCH_STOP_GRACE, polls,
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

/* SIGTERM/SIGINT: no new work; running sessions get FETCH_STOP_GRACE. */
static void
daemon_stop(struct daemon *d, const char *why)
{
	struct timeval	tv = { FETCH_STOP_GRACE, 0 };
	unsigned int	polls = 0, idles = 0;
	size_t		i;

	if (d->stopping) {
		log_msg(LOG_LVL_NOTICE, NULL, "%s again: stopping now", why);
		d->stop_now = 1;
		event_base_loopexit(d->base, NULL);
		return;
	}
	d->stopping = 1;
	d->stop_ms = daemon_clock(CLOCK_MONOTONIC);
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

/* At the grace's end, the sessions with a delivery agent running end
 * once it is over (its outcome recorded: killed, it may have taken the
 * message, handed over again next time). How many, and the longest
 * wait in *secs. */
static unsigned int
daemon_stop_agents(struct daemon *d, unsigned int *secs)
{
	unsigned int	n = 0;
	size_t		i;

	*secs = 0;
	for (i = 0; i < d->naccts; i++)
		if (d->accts[i]->fs != NULL)
			fetch_agent_wait_add(fetch_session_agent_wait(
			    d->accts[i]->fs), &n, secs);
	for (i = 0; i < d->nidles; i++)
		if (d->idles[i]->s != NULL)
			fetch_agent_wait_add(imap_session_agent_wait(
			    d->idles[i]->s), &n, secs);
	return (n);
}

/* The grace period is over: the delivery agents still running get up to
 * their mda_timeout (daemon_stop_agents), once; then what still runs is
 * aborted at exit. */
static void
daemon_grace_cb(evutil_socket_t fd, short what, void *arg)
{
	struct daemon	*d = arg;
	unsigned int	 n, secs;

	(void)fd;
	(void)what;
	if (!d->stop_agents) {
		d->stop_agents = 1;
		n = daemon_stop_agents(d, &secs);
		if (fetch_agent_wait_arm(d->ev_grace, "polls", n, secs))
			return;
	}
	log_msg(LOG_LVL_NOTICE, NULL, "polls still running after %llus; "
	    "aborting them", (unsigned long long)((daemon_clock(
	    CLOCK_MONOTONIC) - d->stop_ms) / 1000));
	d->stop_now = 1;
	event_base_loopexit(d->base, NULL);
}

/* Once the polls are done: the hooks they started (a poll that ended in
 * the grace starts its new_mail_command then) run on for what is left of
 * the grace, each within its hook_timeout; what is still running after
 * it is killed at the teardown, and runs again at the next start. */
static void
daemon_stop_hooks(struct daemon *d)
{
	uint64_t	spent;
	unsigned int	n;

	if (!d->stopping || d->stop_now || (n = hook_running(d->hook)) == 0)
		return;
	spent = daemon_clock(CLOCK_MONOTONIC) - d->stop_ms;
	if (spent >= FETCH_STOP_GRACE * 1000)
		return;
	evtimer_del(d->ev_grace);
	log_msg(LOG_LVL_INFO, NULL, "waiting up to %llus for %u hook%s "
	    "still running", (unsigned long long)(FETCH_STOP_GRACE * 1000 -
	    spent + 999) / 1000, n, n == 1 ? "" : "s");
	(void)hook_wait(d->hook, (long)(FETCH_STOP_GRACE * 1000 - spent));
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
	d->resumed = time(NULL);
	d->suspended_ms = jump;
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
int
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
unsigned int
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

/* "; 2 messages refused by the delivery agent since 2026-12-07
 * 17:29:40" (daemon_account_held), then ", 1 held back until
 * 2026-12-07 17:39:40" (mda_hold_is: not downloaded again before), or ""
 * when none are. */
static void
daemon_account_held_text(const struct daemon_account *a, char *buf,
    size_t len)
{
	char	since[32] = "unknown", until[32];
	size_t	n;

	buf[0] = '\0';
	if (a->held > 0) {
		mda_hold_time(a->held_since, since, sizeof since);
		snprintf(buf, len, "; %lu message%s refused by the delivery "
		    "agent since %s", a->held, a->held == 1 ? "" : "s",
		    since);
	}
	if (a->held_back == 0)
		return;
	mda_hold_time(a->held_until, until, sizeof until);
	n = strlen(buf);
	snprintf(buf + n, len - n, "%s%lu held back until %s",
	    n > 0 ? ", " : "; ", a->held_back, until);
}

/* One line of the `status` answer (control.h), caller frees. */
static char *
daemon_account_status_line(const struct daemon_account *a, uint64_t now)
{
	struct schedule_status	 ss;
	struct tm		 tm;
	char			 when[32] = "never", *next, *line, err[64];
	char			*folders, budget[96] = "", held[160];
	int			 today = a->day == daemon_today();
	int			 failing, idling;
	time_t			 success = a->last_success;

	schedule_account_status(a->sa, now, &ss);
	failing = daemon_account_idle_failing(a, &idling) || a->held > 0;
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
	daemon_account_held_text(a, held, sizeof held);
	xasprintf(&line, "%s: %s%s; connections %u; last success %s; %s; "
	    "today %lu message%s, %llu bytes%s%s%s; last error %s", a->ac->name,
	    daemon_account_state(a, &ss), folders, daemon_account_conns(a),
	    when, next, today ? a->msgs_today : 0,
	    today && a->msgs_today == 1 ? "" : "s",
	    (unsigned long long)(today ? a->bytes_today : 0),
	    a->budget_paused ? "; IDLE mail waits for the daily budget until " :
	    "", budget, held, err);
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
	daemon_control_status_json,
	daemon_control_metrics,
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
	d->hook = hook_new(d->base, d->dc->conf->state_dir);

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
	/* A hook still running is killed (logged): the stop is bounded. */
	hook_free(d->hook);
	daemon_report_stop(d);
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

/* Which share of the accounts this instance fetches (shard.h). */
static void
daemon_log_shard(const struct config *conf)
{
	char	line[128];

	if (conf->shard_count == 0)
		return;
	shard_describe(conf, line, sizeof line);
	log_msg(LOG_LVL_INFO, NULL, "%s (the others' are fetched by the "
	    "other instances)", line);
}

/* A worker of the privsep supervisor that a reload restarts hands its
 * accounts' counts to the new one (review r20 11: a hook-only reload
 * reset "fetched" and "today"): in a file next to its control socket,
 * named as the instance is (a shard's too), holding its pid, which the
 * supervisor gives the new worker (privsep_replaced). Caller frees. */
static char *
daemon_handover_path(const struct daemon *d)
{
	char	*path;

	xasprintf(&path, "%s.counts", d->dc->conf->control_socket);
	return (path);
}

/* Writes the counts, one account a line, its name last. */
static void
daemon_handover_save(const struct daemon *d)
{
	const struct daemon_account	*a;
	char				*path, *tmp;
	size_t				 i, k;
	FILE				*f;

	if (privsep_replaced() == -1)
		return;
	path = daemon_handover_path(d);
	xasprintf(&tmp, "%s.tmp", path);
	if ((f = fopen(tmp, "we")) != NULL) {
		fprintf(f, "mailfetchd-counts %ld\n", (long)getpid());
		for (i = 0; i < d->naccts; i++) {
			a = d->accts[i];
			fprintf(f, "%d %lu %llu %llu %llu", a->day,
			    a->msgs_today, (unsigned long long)a->bytes_today,
			    (unsigned long long)a->total_msgs,
			    (unsigned long long)a->total_bytes);
			for (k = 0; k < STATUS_CLASSES; k++)
				fprintf(f, " %llu", (unsigned long long)
				    a->failures_by_class[k]);
			fprintf(f, " %s\n", a->ac->name);
		}
		if (fclose(f) != 0 || rename(tmp, path) != 0)
			(void)unlink(tmp);
	}
	free(tmp);
	free(path);
}

/* One line of the file into c; -1 if it is not one. */
static int
daemon_handover_line(const char *line, struct daemon_counts *c)
{
	unsigned long long	v[4];
	size_t			k;
	int			used;

	memset(c, 0, sizeof *c);
	if (sscanf(line, "%d %lu %llu %llu %llu%n", &c->day, &c->msgs_today,
	    &v[0], &v[1], &v[2], &used) != 5)
		return (-1);
	c->bytes_today = v[0];
	c->total_msgs = v[1];
	c->total_bytes = v[2];
	for (k = 0; k < STATUS_CLASSES; k++) {
		line += used;
		if (sscanf(line, " %llu%n", &v[3], &used) != 1)
			return (-1);
		c->failures_by_class[k] = v[3];
	}
	line += used;
	if (*line++ != ' ' || *line == '\0')
		return (-1);
	c->name = xstrndup(line, strcspn(line, "\n"));
	return (0);
}

/* The new worker takes the counts its predecessor left, if they are
 * its (the pid); a file left by any other stop is removed. */
static void
daemon_handover_load(struct daemon *d)
{
	struct daemon_counts	*v = NULL, c;
	char			*path, *line = NULL;
	size_t			 n = 0, size = 0, i;
	pid_t			 prev = privsep_replaced();
	long			 pid;
	FILE			*f;

	if (prev == -1)
		return;
	path = daemon_handover_path(d);
	if (prev > 0 && (f = fopen(path, "re")) != NULL) {
		if (fscanf(f, "mailfetchd-counts %ld\n", &pid) == 1 &&
		    pid == (long)prev) {
			while (getline(&line, &size, f) != -1 &&
			    daemon_handover_line(line, &c) == 0) {
				v = xreallocarray(v, n + 1, sizeof *v);
				v[n++] = c;
			}
		}
		fclose(f);
	}
	for (i = 0; i < d->naccts; i++)
		daemon_counts_give(v, n, d->accts[i]);
	daemon_counts_free(v, n);
	free(line);
	(void)unlink(path);
	free(path);
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
	d.started = time(NULL);
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
	daemon_handover_load(&d);
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
	daemon_log_shard(conf);
	event_base_once(d.base, -1, EV_TIMEOUT, daemon_ready_cb, &d, &now);
	daemon_report_start(&d);
	daemon_arm(&d);
	event_base_dispatch(d.base);
	daemon_handover_save(&d);
	daemon_stop_hooks(&d);
	daemon_teardown(&d);
	log_msg(LOG_LVL_INFO, NULL, "stopped");
	return (0);
}
