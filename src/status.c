/* status.c: the status model's vocabulary and JSON (see status.h). */
#include "status.h"

#include <stdio.h>
#include <stdlib.h>

#include "compat.h"
#include "json.h"

static const char *status_state_names[STATUS_STATE_MAX] = {
	"waiting",
	"polling",
	"waiting_for_connection",
	"backoff",
	"budget_exhausted",
	"stopped",
	"reauth_needed",
	"push",
};

static const char *status_folder_state_names[STATUS_FOLDER_STATE_MAX] = {
	"polled",
	"idling",
	"connecting",
	"retry_wait",
};

const char *
status_state_name(enum status_state s)
{
	if ((unsigned int)s >= STATUS_STATE_MAX)
		return ("unknown");
	return (status_state_names[s]);
}

const char *
status_folder_state_name(enum status_folder_state s)
{
	if ((unsigned int)s >= STATUS_FOLDER_STATE_MAX)
		return ("unknown");
	return (status_folder_state_names[s]);
}

int
status_is_failure(int exit)
{
	return (exit > EXIT_NOTHING_NEW && exit < STATUS_CLASSES);
}

void
status_account_clear(struct status_account *a)
{
	size_t	i;

	if (a == NULL)
		return;
	for (i = 0; i < a->nfolders; i++)
		free(a->folders[i].name);
	free(a->folders);
	free(a->name);
	free(a->owner);
	free(a->host);
	free(a->last_failure_text);
	free(a->hook_text);
}

void
status_daemon_clear(struct status_daemon *d)
{
	if (d == NULL)
		return;
	free(d->config);
	free(d->control_socket);
	free(d->reload_error);
}

/* A time member: null for none. */
static void
status_time(struct json *j, const char *key, int64_t t)
{
	json_key(j, key);
	if (t == 0)
		json_null(j);
	else
		json_int(j, t);
}

static void
status_key_uint(struct json *j, const char *key, uint64_t v)
{
	json_key(j, key);
	json_uint(j, v);
}

static void
status_key_string(struct json *j, const char *key, const char *v)
{
	json_key(j, key);
	json_string(j, v);
}

/* "last_failure": null, or when, its class and text. */
static void
status_last_failure(struct json *j, const struct status_account *a)
{
	json_key(j, "last_failure");
	if (a->last_failure_exit == -1) {
		json_null(j);
		return;
	}
	json_object_begin(j);
	status_time(j, "time", a->last_failure);
	status_key_string(j, "class", outcome_word(a->last_failure_exit));
	status_key_uint(j, "exit_status", (unsigned)a->last_failure_exit);
	status_key_string(j, "text", a->last_failure_text);
	json_key(j, "current");
	json_bool(j, a->failing);
	json_object_end(j);
}

/* "last_hook": null, or which hook ran last, when it ended and how: a
 * hook's failure changes nothing fetched, so this is its only trace
 * besides the log. */
static void
status_last_hook(struct json *j, const struct status_account *a)
{
	json_key(j, "last_hook");
	if (a->hook_which == NULL) {
		json_null(j);
		return;
	}
	json_object_begin(j);
	status_key_string(j, "hook", a->hook_which);
	status_time(j, "time", a->hook_time);
	json_key(j, "ok");
	json_bool(j, a->hook_ok);
	status_key_string(j, "text", a->hook_text);
	json_object_end(j);
}

static void
status_budget(struct json *j, const struct status_account *a)
{
	json_key(j, "budget");
	json_object_begin(j);
	json_key(j, "limit_bytes");
	if (a->budget_limit == 0)
		json_null(j);
	else
		json_uint(j, a->budget_limit);
	status_key_uint(j, "used_bytes", a->budget_used);
	status_time(j, "exhausted_until", a->budget_resume);
	json_object_end(j);
}

static void
status_connections(struct json *j, const struct status_account *a)
{
	json_key(j, "connections");
	json_object_begin(j);
	status_key_uint(j, "open", a->conns);
	status_key_uint(j, "idle", a->idle_conns);
	json_key(j, "max");
	if (a->max_conns == 0)
		json_null(j);
	else
		json_uint(j, a->max_conns);
	json_object_end(j);
}

/* "fetched" since start, "today", "refused" (by the delivery agent)
 * and the failures by class. */
static void
status_counts(struct json *j, const struct status_account *a)
{
	size_t	i;

	json_key(j, "fetched");
	json_object_begin(j);
	status_key_uint(j, "messages", a->messages);
	status_key_uint(j, "bytes", a->bytes);
	json_object_end(j);
	json_key(j, "today");
	json_object_begin(j);
	status_key_uint(j, "messages", a->messages_today);
	status_key_uint(j, "bytes", a->bytes_today);
	json_object_end(j);
	json_key(j, "refused");
	json_object_begin(j);
	status_key_uint(j, "messages", a->refused_messages);
	status_time(j, "since", a->refused_since);
	status_key_uint(j, "held_back", a->held_back);
	status_time(j, "until", a->held_until);
	json_object_end(j);
	json_key(j, "failures_by_class");
	json_object_begin(j);
	for (i = 0; i < STATUS_CLASSES; i++) {
		if (status_is_failure((int)i) && a->failures_by_class[i] > 0)
			status_key_uint(j, outcome_word((int)i),
			    a->failures_by_class[i]);
	}
	json_object_end(j);
}

static void
status_folders(struct json *j, const struct status_account *a)
{
	const struct status_folder	*f;
	size_t				 i;

	json_key(j, "folders");
	json_array_begin(j);
	for (i = 0; i < a->nfolders; i++) {
		f = &a->folders[i];
		json_object_begin(j);
		status_key_string(j, "name", f->name);
		json_key(j, "idle");
		json_bool(j, f->idle);
		status_key_string(j, "state",
		    status_folder_state_name(f->state));
		status_key_uint(j, "failures", f->failures);
		status_time(j, "retry_at", f->retry_at);
		json_object_end(j);
	}
	json_array_end(j);
}

void
status_account_json(struct json *j, const struct status_account *a)
{
	json_object_begin(j);
	status_key_string(j, "name", a->name);
	status_key_string(j, "owner", a->owner);
	status_key_string(j, "protocol", a->protocol);
	status_key_string(j, "host", a->host);
	status_key_string(j, "state", status_state_name(a->state));
	status_key_uint(j, "consecutive_failures", a->failures);
	status_time(j, "last_success", a->last_success);
	status_last_failure(j, a);
	status_last_hook(j, a);
	status_time(j, "next_poll", a->next_poll);
	status_time(j, "backoff_until", a->backoff_until);
	status_key_uint(j, "poll_interval_seconds", a->interval);
	status_connections(j, a);
	status_budget(j, a);
	status_counts(j, a);
	status_folders(j, a);
	json_object_end(j);
}

/* "shard": "K/N", or null when not sharded. */
static void
status_shard(struct json *j, const struct status_daemon *d)
{
	char	buf[32];

	json_key(j, "shard");
	if (d->shard_count == 0)
		json_null(j);
	else {
		snprintf(buf, sizeof buf, "%u/%u", d->shard_index,
		    d->shard_count);
		json_string(j, buf);
	}
}

void
status_daemon_json(struct json *j, const struct status_daemon *d)
{
	json_object_begin(j);
	status_key_uint(j, "pid", (uint64_t)d->pid);
	status_time(j, "started", d->started);
	status_key_string(j, "config", d->config);
	status_key_string(j, "control_socket", d->control_socket);
	status_shard(j, d);
	json_key(j, "stopping");
	json_bool(j, d->stopping);
	status_key_string(j, "reload_error", d->reload_error);
	status_time(j, "last_fetch", d->last_fetch);
	json_key(j, "last_suspend");
	if (d->resumed == 0)
		json_null(j);
	else {
		json_object_begin(j);
		status_time(j, "resumed", d->resumed);
		status_key_uint(j, "seconds", d->suspended);
		json_object_end(j);
	}
	json_object_end(j);
}

/* "key": [records...]. */
static void
status_records(struct json *j, const char *key, const char *const *recs,
    size_t n)
{
	size_t	i;

	json_key(j, key);
	json_array_begin(j);
	for (i = 0; i < n; i++)
		json_raw(j, recs[i]);
	json_array_end(j);
}

char *
status_document(int64_t now, const char *const *daemons, size_t ndaemons,
    const char *const *accounts, size_t naccounts)
{
	struct json	*j = json_new();

	json_object_begin(j);
	status_key_uint(j, "schema_version", STATUS_SCHEMA_VERSION);
	status_time(j, "generated", now);
	status_records(j, "daemons", daemons, ndaemons);
	status_records(j, "accounts", accounts, naccounts);
	json_object_end(j);
	return (json_finish(j));
}
