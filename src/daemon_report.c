/* daemon_report.c: the daemon's state as data (status.h) for the control
 * socket's `status-json` and the metrics file (metrics.h): the model of
 * each account filled from the loop's structs, and the counts since the
 * start that only these outputs use (fetched totals, failures by class,
 * the last failure). Part of the daemon: it shares daemon_p.h with
 * daemon.c and daemon_idle.c. */
#include "daemon_p.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "control.h"
#include "imap.h"
#include "json.h"
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
	m->stopping = d->stopping;
	m->reload_error = d->reload_error != NULL ?
	    xstrdup(d->reload_error) : NULL;
	m->last_fetch = d->last_fetch;
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
