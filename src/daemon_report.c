/* daemon_report.c: the daemon's state as data (status.h) for the control
 * socket's `status-json` and `metrics`, and the metrics file (metrics.h):
 * the model of each account filled from the loop's structs, and the
 * counts since the start that only these outputs use (fetched totals,
 * failures by class, the last failure). Part of the daemon: it shares
 * daemon_p.h with daemon.c and daemon_idle.c.
 *
 * The metrics file is written every METRICS_INTERVAL seconds and after
 * each poll and IDLE delivery, by the daemon that runs the accounts; as
 * root with owners, by the supervisor instead (privsep.c), which asks
 * each worker's daemon for its `metrics`: one file for every owner,
 * written as root into a directory no owner need be able to write. */
#include "daemon_p.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "control.h"
#include "hook.h"
#include "imap.h"
#include "json.h"
#include "metrics.h"
#include "schedule.h"
#include "xmalloc.h"

/* The wall-clock second a scheduler time stands for. */
static int64_t
daemon_report_wall(uint64_t due, uint64_t now)
{
	int64_t	t = (int64_t)time(NULL);

	if (due == SCHEDULE_NEVER)
		return (0);
	return (due > now ? t + (int64_t)((due - now + 999) / 1000) : t);
}

void
daemon_report_count(struct daemon_account *a, unsigned long messages,
    uint64_t bytes)
{
	a->total_msgs += messages;
	a->total_bytes += bytes;
}

void
daemon_report_failure(struct daemon_account *a, int exit, const char *text)
{
	if (!status_is_failure(exit))
		return;
	a->failures_by_class[exit]++;
	a->last_failure = (int64_t)time(NULL);
	a->last_failure_exit = exit;
	free(a->last_failure_text);
	a->last_failure_text = xstrdup(text != NULL ? text :
	    outcome_name(exit));
}

/* The account's one-word state (status.h). */
static enum status_state
daemon_report_state(const struct daemon_account *a,
    const struct schedule_status *ss)
{
	if (a->reauth)
		return (STATUS_REAUTH);
	if (a->fs != NULL)
		return (STATUS_POLLING);
	if (a->queued)
		return (STATUS_WAITING_CONN);
	switch (ss->state) {
	case SCHEDULE_BACKOFF:
		return (STATUS_BACKOFF);
	case SCHEDULE_PAUSED:
		return (STATUS_BUDGET);
	case SCHEDULE_STOPPED:
		return (STATUS_STOPPED);
	default:
		break;
	}
	if (a->budget_paused)
		return (STATUS_BUDGET);
	return (daemon_account_all_idle(a) ? STATUS_PUSH : STATUS_WAITING);
}

/* One configured folder: polled, or how its IDLE session is. */
static void
daemon_report_folder(const struct daemon_account *a,
    const struct folder_conf *fc, uint64_t now, struct status_folder *f)
{
	const struct daemon_idle	*di;

	f->name = xstrdup(fc->remote);
	f->idle = fc->idle;
	di = daemon_idle_of(a, fc->remote);
	if (di == NULL || di->polled)
		f->state = STATUS_FOLDER_POLLED;
	else if (di->s != NULL && imap_session_idling(di->s))
		f->state = STATUS_FOLDER_IDLING;
	else if (di->s != NULL)
		f->state = STATUS_FOLDER_CONNECTING;
	else {
		f->state = STATUS_FOLDER_RETRY;
		f->retry_at = di->retry_at != 0 ?
		    daemon_report_wall(di->retry_at, now) : 0;
	}
	f->failures = di != NULL ? di->failures : 0;
}

static void
daemon_report_folders(const struct daemon_account *a, uint64_t now,
    struct status_account *m)
{
	size_t	i;

	if (a->ac->proto != PROTO_IMAP)
		return;
	m->folders = xcalloc(a->ac->nfolders, sizeof *m->folders);
	m->nfolders = a->ac->nfolders;
	for (i = 0; i < a->ac->nfolders; i++)
		daemon_report_folder(a, &a->ac->folders[i], now,
		    &m->folders[i]);
}

/* When the account polls next (0: no poll planned) and, in a backoff or
 * with the budget used up, until when. */
static void
daemon_report_times(const struct daemon_account *a,
    const struct schedule_status *ss, uint64_t now, struct status_account *m)
{
	if (m->state != STATUS_POLLING && m->state != STATUS_WAITING_CONN &&
	    m->state != STATUS_PUSH)
		m->next_poll = daemon_report_wall(ss->next_due_ms, now);
	if (m->state == STATUS_BACKOFF)
		m->backoff_until = m->next_poll;
	if (ss->state == SCHEDULE_PAUSED || a->budget_paused)
		m->budget_resume = daemon_report_wall(
		    schedule_budget_resume(a->sa, now), now);
}

/* The account's last hook run (hook_last), if any. */
static void
daemon_report_hook(const struct daemon_account *a, struct status_account *m)
{
	struct hook_result	 hr;

	if (hook_last(a->d->hook, a->ac->name, &hr) != 0)
		return;
	m->hook_which = hr.which;
	m->hook_time = (int64_t)hr.when;
	m->hook_ok = hr.ok;
	m->hook_text = xstrdup(hr.text != NULL ? hr.text : "");
}

void
daemon_report_account(const struct daemon_account *a, uint64_t now,
    struct status_account *m)
{
	struct schedule_status	 ss;
	int			 idling, today = a->day == daemon_today();

	memset(m, 0, sizeof *m);
	schedule_account_status(a->sa, now, &ss);
	m->name = xstrdup(a->ac->name);
	m->owner = a->ac->owner != NULL ? xstrdup(a->ac->owner) : NULL;
	m->protocol = a->ac->proto == PROTO_IMAP ? "imap" : "pop3";
	m->host = xstrdup(a->ac->host);
	m->state = daemon_report_state(a, &ss);
	m->failures = ss.failures;
	m->failing = daemon_account_idle_failing(a, &idling) ||
	    ss.failures > 0 || ss.state == SCHEDULE_STOPPED || a->reauth;
	/* An IDLE session in IDLE works now (as the text status says). */
	m->last_success = idling ? (int64_t)time(NULL) : a->last_success;
	m->last_failure = a->last_failure;
	m->last_failure_exit = a->last_failure_exit;
	m->last_failure_text = a->last_failure_text != NULL ?
	    xstrdup(a->last_failure_text) : NULL;
	daemon_report_hook(a, m);
	daemon_report_times(a, &ss, now, m);
	m->interval = ss.interval;
	m->conns = daemon_account_conns(a);
	m->idle_conns = (unsigned int)daemon_idling(a->d, a);
	m->max_conns = ss.max_conns;
	m->budget_limit = a->ac->daily_limit;
	m->budget_used = ss.bytes_24h;
	m->messages = a->total_msgs;
	m->bytes = a->total_bytes;
	m->messages_today = today ? a->msgs_today : 0;
	m->bytes_today = today ? a->bytes_today : 0;
	m->refused_messages = a->held;
	m->refused_since = (int64_t)a->held_since;
	m->held_back = a->held_back;
	m->held_until = a->held_until;
	memcpy(m->failures_by_class, a->failures_by_class,
	    sizeof m->failures_by_class);
	daemon_report_folders(a, now, m);
}

void
daemon_report_daemon(const struct daemon *d, struct status_daemon *m)
{
	memset(m, 0, sizeof *m);
	m->pid = getpid();
	m->started = d->started;
	m->config = xstrdup(d->dc->conf->path);
	m->control_socket = d->ctl != NULL ? xstrdup(control_path(d->ctl)) :
	    NULL;
	m->shard_index = d->dc->conf->shard_index;
	m->shard_count = d->dc->conf->shard_count;
	m->stopping = d->stopping;
	m->reload_error = d->reload_error != NULL ?
	    xstrdup(d->reload_error) : NULL;
	m->last_fetch = d->last_fetch;
	m->resumed = d->resumed;
	m->suspended = (d->suspended_ms + 500) / 1000;
}

/* Sends one record line: "KIND JSON". */
static void
daemon_report_send(struct control *ctl, uint64_t id, const char *kind,
    struct json *j)
{
	control_reply(ctl, id, "%s %s", kind, json_text(j, NULL));
	json_free(j);
}

static void
daemon_report_send_account(struct control *ctl, uint64_t id,
    const struct daemon_account *a, uint64_t now)
{
	struct status_account	 m;
	struct json		*j = json_new();

	daemon_report_account(a, now, &m);
	status_account_json(j, &m);
	status_account_clear(&m);
	daemon_report_send(ctl, id, "account", j);
}

/* The control socket's `status-json [NAME...]` (control.h). */
void
daemon_control_status_json(struct control *ctl, uint64_t id,
    const char *const *names, size_t n, void *arg)
{
	struct daemon		*d = arg;
	struct status_daemon	 dm;
	struct json		*j = json_new();
	uint64_t		 now = daemon_now();
	size_t			 i, k;

	daemon_report_daemon(d, &dm);
	status_daemon_json(j, &dm);
	status_daemon_clear(&dm);
	daemon_report_send(ctl, id, "daemon", j);
	for (i = 0; i < (n > 0 ? n : d->naccts); i++) {
		if (n == 0) {
			daemon_report_send_account(ctl, id, d->accts[i], now);
			continue;
		}
		for (k = 0; k < d->naccts; k++) {
			if (strcmp(d->accts[k]->ac->name, names[i]) == 0)
				break;
		}
		if (k == d->naccts)
			control_reply(ctl, id, "unknown %s", names[i]);
		else
			daemon_report_send_account(ctl, id, d->accts[k], now);
	}
	control_end(ctl, id);
}

/* The sample lines of every account of the daemon. */
static void
daemon_report_samples(struct daemon *d, struct metrics_lines *l)
{
	struct status_account	 m;
	uint64_t		 now = daemon_now();
	size_t			 i;

	for (i = 0; i < d->naccts; i++) {
		daemon_report_account(d->accts[i], now, &m);
		metrics_samples(l, &m);
		status_account_clear(&m);
	}
}

/* The control socket's `metrics`: the sample lines (control.h). */
void
daemon_control_metrics(struct control *ctl, uint64_t id, void *arg)
{
	struct metrics_lines	 l = { NULL, 0 };
	size_t			 i;

	daemon_report_samples(arg, &l);
	for (i = 0; i < l.n; i++)
		control_reply(ctl, id, "%s", l.v[i]);
	metrics_lines_clear(&l);
	control_end(ctl, id);
}

/* Writes metrics_file, if configured. A failure is logged when it
 * differs from the last one (not every minute), and its end too. */
void
daemon_report_metrics(struct daemon *d)
{
	struct metrics_lines	 l = { NULL, 0 };
	const char		*path = d->dc->conf->metrics_file;
	char			*text, *cause = NULL;

	if (path == NULL)
		return;
	daemon_report_samples(d, &l);
	text = metrics_render(&l, (int64_t)time(NULL));
	metrics_lines_clear(&l);
	if (metrics_write(path, text, &cause) != 0) {
		if (d->metrics_error == NULL ||
		    strcmp(d->metrics_error, cause) != 0)
			log_msg(LOG_LVL_WARNING, NULL, "%s", cause);
		free(d->metrics_error);
		d->metrics_error = cause;
	} else if (d->metrics_error != NULL) {
		log_msg(LOG_LVL_INFO, NULL, "metrics_file %s written again",
		    path);
		free(d->metrics_error);
		d->metrics_error = NULL;
	}
	free(text);
}

static void
daemon_report_metrics_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	daemon_report_metrics(arg);
}

void
daemon_report_start(struct daemon *d)
{
	struct timeval	tv = { METRICS_INTERVAL, 0 };

	d->ev_metrics = event_new(d->base, -1, EV_PERSIST,
	    daemon_report_metrics_cb, d);
	event_add(d->ev_metrics, &tv);
	daemon_report_metrics(d);
}

void
daemon_report_stop(struct daemon *d)
{
	if (d->ev_metrics != NULL)
		event_free(d->ev_metrics);
	d->ev_metrics = NULL;
	free(d->metrics_error);
	d->metrics_error = NULL;
}
