/* metrics.c: the metrics file (see metrics.h).
 *
 * Names follow Prometheus' conventions: the mailfetchd_ prefix, the unit
 * in the name (_bytes, _seconds), _total for counters; every sample has
 * the account label first. Counters start at 0 for every account (and
 * every failure class), so that rate() works from the first scrape. */
#include "metrics.h"

#include <sys/stat.h>

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "compat.h"
#include "config.h"
#include "control.h"
#include "fdio.h"
#include "log.h"
#include "xmalloc.h"

struct metrics_family {
	const char	*name;
	const char	*type;
	const char	*help;
};

static const struct metrics_family metrics_families[] = {
	{ "mailfetchd_account_up", "gauge",
	    "1 unless the account's last poll or IDLE session failed, or it "
	    "is stopped or needs re-authorisation." },
	{ "mailfetchd_account_state", "gauge",
	    "1 for the account's current state (mailfetchd(8), STATUS JSON), "
	    "0 for the others." },
	{ "mailfetchd_messages_fetched_total", "counter",
	    "Messages delivered since the daemon started." },
	{ "mailfetchd_fetched_bytes_total", "counter",
	    "Bytes delivered (as written to the Maildir) since the daemon "
	    "started." },
	{ "mailfetchd_failures_total", "counter",
	    "Failed polls and IDLE sessions since the daemon started, by "
	    "class (the exit status' word)." },
	{ "mailfetchd_consecutive_failures", "gauge",
	    "Polls failed in a row." },
	{ "mailfetchd_last_success_timestamp_seconds", "gauge",
	    "When the last poll succeeded (now while a folder is in IDLE); "
	    "absent before the first." },
	{ "mailfetchd_next_poll_timestamp_seconds", "gauge",
	    "When the account polls next; absent while none is planned." },
	{ "mailfetchd_connections", "gauge",
	    "Connections open: the poll's and the IDLE sessions'." },
	{ "mailfetchd_idle_connections", "gauge",
	    "IDLE connections waiting for the server's push." },
	{ "mailfetchd_budget_used_bytes", "gauge",
	    "Bytes downloaded in the last 24 hours (daily_limit counts them)." },
	{ "mailfetchd_budget_limit_bytes", "gauge",
	    "The daily download budget (daily_limit); absent without one." },
	{ "mailfetchd_metrics_generated_timestamp_seconds", "gauge",
	    "When this file was written." },
};

#define METRICS_GENERATED	(nitems(metrics_families) - 1)

void
metrics_lines_add(struct metrics_lines *l, const char *line)
{
	l->v = xreallocarray(l->v, l->n + 1, sizeof *l->v);
	l->v[l->n++] = xstrdup(line);
}

void
metrics_lines_clear(struct metrics_lines *l)
{
	size_t	i;

	for (i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

char *
metrics_escape(const char *s)
{
	char	*out = xmalloc(strlen(s) * 2 + 1), *p = out;

	for (; *s != '\0'; s++) {
		if (*s == '\\' || *s == '"' || *s == '\n') {
			*p++ = '\\';
			*p++ = *s == '\n' ? 'n' : *s;
		} else
			*p++ = *s;
	}
	*p = '\0';
	return (out);
}

/* One sample: family{account="NAME"[,extra]} value. */
static void
metrics_sample(struct metrics_lines *l, const char *family,
    const char *account, const char *extra, uint64_t value)
{
	char	*line;

	xasprintf(&line, "%s{account=\"%s\"%s} %" PRIu64, family, account,
	    extra != NULL ? extra : "", value);
	metrics_lines_add(l, line);
	free(line);
}

/* The state gauge: one sample per state, the current one 1. */
static void
metrics_states(struct metrics_lines *l, const struct status_account *a,
    const char *account)
{
	char	*label, *value;
	int	 s;

	for (s = 0; s < STATUS_STATE_MAX; s++) {
		value = metrics_escape(status_state_name(s));
		xasprintf(&label, ",state=\"%s\"", value);
		metrics_sample(l, "mailfetchd_account_state", account, label,
		    (enum status_state)s == a->state);
		free(label);
		free(value);
	}
}

static void
metrics_failures(struct metrics_lines *l, const struct status_account *a,
    const char *account)
{
	char	*label, *value;
	int	 c;

	for (c = 0; c < STATUS_CLASSES; c++) {
		if (!status_is_failure(c))
			continue;
		value = metrics_escape(outcome_word(c));
		xasprintf(&label, ",class=\"%s\"", value);
		metrics_sample(l, "mailfetchd_failures_total", account, label,
		    a->failures_by_class[c]);
		free(label);
		free(value);
	}
}

void
metrics_samples(struct metrics_lines *l, const struct status_account *a)
{
	char	*account = metrics_escape(a->name);

	metrics_sample(l, "mailfetchd_account_up", account, NULL, !a->failing);
	metrics_states(l, a, account);
	metrics_sample(l, "mailfetchd_messages_fetched_total", account, NULL,
	    a->messages);
	metrics_sample(l, "mailfetchd_fetched_bytes_total", account, NULL,
	    a->bytes);
	metrics_failures(l, a, account);
	metrics_sample(l, "mailfetchd_consecutive_failures", account, NULL,
	    a->failures);
	if (a->last_success != 0)
		metrics_sample(l, "mailfetchd_last_success_timestamp_seconds",
		    account, NULL, (uint64_t)a->last_success);
	if (a->next_poll != 0)
		metrics_sample(l, "mailfetchd_next_poll_timestamp_seconds",
		    account, NULL, (uint64_t)a->next_poll);
	metrics_sample(l, "mailfetchd_connections", account, NULL, a->conns);
	metrics_sample(l, "mailfetchd_idle_connections", account, NULL,
	    a->idle_conns);
	metrics_sample(l, "mailfetchd_budget_used_bytes", account, NULL,
	    a->budget_used);
	if (a->budget_limit != 0)
		metrics_sample(l, "mailfetchd_budget_limit_bytes", account,
		    NULL, a->budget_limit);
	free(account);
}

/* The family a sample line belongs to, -1 if none. */
static int
metrics_family_of(const char *line)
{
	size_t	i, len;

	for (i = 0; i < METRICS_GENERATED; i++) {
		len = strlen(metrics_families[i].name);
		if (strncmp(line, metrics_families[i].name, len) == 0 &&
		    line[len] == '{')
			return ((int)i);
	}
	return (-1);
}

int
metrics_sample_valid(const char *line, const char *account)
{
	char		*want, *esc;
	const char	*p;
	int		 f, ok;

	if ((f = metrics_family_of(line)) == -1)
		return (0);
	esc = metrics_escape(account);
	xasprintf(&want, "{account=\"%s\"", esc);
	p = line + strlen(metrics_families[f].name);
	ok = strncmp(p, want, strlen(want)) == 0 &&
	    (p[strlen(want)] == '}' || p[strlen(want)] == ',');
	/* One line; the value: digits after the labels, nothing else. */
	for (p = line; ok && *p != '\0'; p++) {
		if (iscntrl((unsigned char)*p))
			ok = 0;
	}
	if (ok && ((p = strrchr(line, ' ')) == NULL || p[-1] != '}' ||
	    p[1] == '\0' || strspn(p + 1, "0123456789") != strlen(p + 1)))
		ok = 0;
	free(want);
	free(esc);
	return (ok);
}

/* Appends s to *text. */
static void
metrics_append(char **text, size_t *len, const char *s)
{
	size_t	n = strlen(s);

	*text = xreallocarray(*text, *len + n + 1, 1);
	memcpy(*text + *len, s, n + 1);
	*len += n;
}

/* HELP and TYPE of family f. */
static void
metrics_header(char **text, size_t *len, size_t f)
{
	char	*head;

	xasprintf(&head, "# HELP %s %s\n# TYPE %s %s\n",
	    metrics_families[f].name, metrics_families[f].help,
	    metrics_families[f].name, metrics_families[f].type);
	metrics_append(text, len, head);
	free(head);
}

char *
metrics_render(const struct metrics_lines *l, int64_t now)
{
	char	*text = xstrdup(""), *gen;
	size_t	 len = 0, f, i;
	int	 seen;

	for (f = 0; f < METRICS_GENERATED; f++) {
		seen = 0;
		for (i = 0; i < l->n; i++) {
			if (metrics_family_of(l->v[i]) != (int)f)
				continue;
			if (!seen++)
				metrics_header(&text, &len, f);
			metrics_append(&text, &len, l->v[i]);
			metrics_append(&text, &len, "\n");
		}
	}
	metrics_header(&text, &len, METRICS_GENERATED);
	xasprintf(&gen, "%s %" PRId64 "\n",
	    metrics_families[METRICS_GENERATED].name, now);
	metrics_append(&text, &len, gen);
	free(gen);
	return (text);
}

/* Writes text to a new temporary file beside path; its name in *tmp. */
static int
metrics_write_tmp(const char *path, const char *text, char **tmp,
    char **cause)
{
	int	fd, rc;

	xasprintf(tmp, "%s.tmp.XXXXXX", path);
	if ((fd = mkstemp(*tmp)) == -1) {
		xasprintf(cause, "metrics_file %s: cannot create a temporary "
		    "file beside it: %s", path, strerror(errno));
		free(*tmp);
		*tmp = NULL;
		return (-1);
	}
	/* mkstemp makes it 0600: the collector's user must read it. */
	rc = fchmod(fd, 0644) == 0 ? fdio_write_all(fd, text, strlen(text)) :
	    -1;
	if (rc != 0 || close(fd) != 0) {
		xasprintf(cause, "metrics_file %s: cannot write %s: %s", path,
		    *tmp, strerror(errno));
		if (rc != 0)
			close(fd);
		return (-1);
	}
	return (0);
}

int
metrics_write(const char *path, const char *text, char **cause)
{
	char	*tmp = NULL;
	int	 rc = -1;

	if (metrics_write_tmp(path, text, &tmp, cause) != 0) {
		if (tmp != NULL)
			unlink(tmp);
	} else if (rename(tmp, path) != 0) {
		xasprintf(cause, "metrics_file %s: cannot rename %s over it: "
		    "%s", path, tmp, strerror(errno));
		unlink(tmp);
	} else
		rc = 0;
	free(tmp);
	return (rc);
}

/* What metrics_ask keeps of a daemon's answer. */
struct metrics_ask {
	const struct config	*conf;
	const char		*owner;
	struct metrics_lines	*out;
	size_t			 dropped;
};

/* One line of a `metrics` answer: kept if it is a sample of one of the
 * owner's accounts (a worker speaks for its own accounts only). */
static void
metrics_ask_line(const char *line, void *arg)
{
	struct metrics_ask		*ma = arg;
	const struct account_conf	*ac;
	size_t				 i;

	for (i = 0; i < ma->conf->naccounts; i++) {
		ac = &ma->conf->accounts[i];
		if ((ac->owner == NULL) != (ma->owner == NULL) ||
		    (ac->owner != NULL && strcmp(ac->owner, ma->owner) != 0))
			continue;
		if (metrics_sample_valid(line, ac->name)) {
			metrics_lines_add(ma->out, line);
			return;
		}
	}
	ma->dropped++;
}

int
metrics_ask(const char *socket, const struct config *conf,
    const char *owner, struct metrics_lines *out, char **cause)
{
	struct metrics_ask	 ma = { conf, owner, out, 0 };
	char			*why;
	int			 fd, rc;

	if ((fd = control_connect(socket, cause)) == -1)
		return (-1);
	rc = control_command(fd, "metrics", METRICS_ASK_TIMEOUT,
	    metrics_ask_line, &ma, &why);
	close(fd);
	if (rc != 0) {
		xasprintf(cause, "%s: %s", socket, why);
		free(why);
		return (-1);
	}
	if (ma.dropped > 0)
		log_msg(LOG_LVL_WARNING, NULL, "metrics from %s: %zu line%s "
		    "not of its owner's accounts ignored", socket, ma.dropped,
		    ma.dropped == 1 ? "" : "s");
	return (0);
}
