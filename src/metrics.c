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
	{ "mailfetchd_refused_messages", "gauge",
	    "Messages the delivery agent refused or deferred in the last poll "
	    "that handed any over; they stay on the server." },
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
	/* Grown by doubling (the room is the power of two at or above n):
	 * one more each line copied the array at every line, quadratic in
	 * a hostile owner's answer (and ~40 s of system time for 100,000
	 * lines under ASan, whose realloc always moves). */
	if ((l->n & (l->n - 1)) == 0)
		l->v = xreallocarray(l->v, l->n == 0 ? 1 : l->n * 2,
		    sizeof *l->v);
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
	metrics_sample(l, "mailfetchd_refused_messages", account, NULL,
	    a->refused_messages);
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

/* The second label of family f ("state", "class"), NULL if it has none;
 * its values are the label indexes 0 to *nvalues - 1 (metrics_label). */
static const char *
metrics_label_name(size_t f, int *nvalues)
{
	if (strcmp(metrics_families[f].name, "mailfetchd_account_state") == 0) {
		*nvalues = STATUS_STATE_MAX;
		return ("state");
	}
	if (strcmp(metrics_families[f].name, "mailfetchd_failures_total") ==
	    0) {
		*nvalues = STATUS_CLASSES;
		return ("class");
	}
	*nvalues = 0;
	return (NULL);
}

/* The value of label index i of family f, NULL if there is none. */
static const char *
metrics_label(size_t f, int i)
{
	int	n;

	if (metrics_label_name(f, &n) == NULL || i < 0 || i >= n)
		return (NULL);
	if (n == STATUS_STATE_MAX && strcmp(metrics_families[f].name,
	    "mailfetchd_account_state") == 0)
		return (status_state_name(i));
	return (status_is_failure(i) ? outcome_word(i) : NULL);
}

/* Reads name="value" at *p (value unescaped into a new string, at most
 * METRICS_LINE_MAX bytes); moves *p past it. NULL if it is not that. */
static char *
metrics_parse_label(const char **p, const char *name)
{
	const char	*s = *p;
	char		*v;
	size_t		 n = 0;

	if (strncmp(s, name, strlen(name)) != 0 || s[strlen(name)] != '=' ||
	    s[strlen(name) + 1] != '"')
		return (NULL);
	s += strlen(name) + 2;
	v = xmalloc(METRICS_LINE_MAX);
	for (; *s != '"'; s++) {
		if (*s == '\0' || n == METRICS_LINE_MAX - 1 ||
		    iscntrl((unsigned char)*s))
			break;
		if (*s == '\\') {
			s++;
			if (*s != '\\' && *s != '"' && *s != 'n')
				break;
			v[n++] = *s == 'n' ? '\n' : *s;
		} else
			v[n++] = *s;
	}
	if (*s != '"') {
		free(v);
		return (NULL);
	}
	v[n] = '\0';
	*p = s + 1;
	return (v);
}

/* The index of value v among family f's label values, -1 if none. */
static int
metrics_label_index(size_t f, const char *v)
{
	const char	*name;
	int		 i, n;

	(void)metrics_label_name(f, &n);
	for (i = 0; i < n; i++) {
		if ((name = metrics_label(f, i)) != NULL &&
		    strcmp(name, v) == 0)
			return (i);
	}
	return (-1);
}

/* The labels of family f after its '{': account, then the family's own
 * label if it has one, then '}'. */
static int
metrics_parse_labels(const char **p, size_t f, struct metrics_parsed *mp)
{
	const char	*label;
	char		*v;
	int		 n;

	if ((mp->account = metrics_parse_label(p, "account")) == NULL)
		return (-1);
	mp->label = -1;
	if ((label = metrics_label_name(f, &n)) != NULL) {
		if (**p != ',')
			return (-1);
		(*p)++;
		if ((v = metrics_parse_label(p, label)) == NULL)
			return (-1);
		mp->label = metrics_label_index(f, v);
		free(v);
		if (mp->label == -1)
			return (-1);
	}
	if (**p != '}')
		return (-1);
	(*p)++;
	return (0);
}

/* The value: 1 to 20 digits, then the end of the line. */
static int
metrics_parse_value(const char *p, uint64_t *value)
{
	char	*end;

	if (strspn(p, "0123456789") != strlen(p) || *p == '\0' ||
	    strlen(p) > 20)
		return (-1);
	errno = 0;
	*value = strtoull(p, &end, 10);
	return (errno != 0 || *end != '\0' ? -1 : 0);
}

int
metrics_sample_parse(const char *line, struct metrics_parsed *mp)
{
	const char	*p;
	int		 f;

	memset(mp, 0, sizeof *mp);
	if (strlen(line) >= METRICS_LINE_MAX ||
	    (f = metrics_family_of(line)) == -1)
		return (-1);
	mp->family = (size_t)f;
	p = line + strlen(metrics_families[f].name) + 1;
	if (metrics_parse_labels(&p, mp->family, mp) != 0 || *p++ != ' ' ||
	    metrics_parse_value(p, &mp->value) != 0) {
		free(mp->account);
		mp->account = NULL;
		return (-1);
	}
	return (0);
}

void
metrics_sample_render(struct metrics_lines *l, const struct metrics_parsed *mp,
    const char *account)
{
	char	*esc, *value, *label = NULL;
	int	 n;

	esc = metrics_escape(account);
	if (mp->label != -1) {
		value = metrics_escape(metrics_label(mp->family, mp->label));
		xasprintf(&label, ",%s=\"%s\"",
		    metrics_label_name(mp->family, &n), value);
		free(value);
	}
	metrics_sample(l, metrics_families[mp->family].name, esc, label,
	    mp->value);
	free(label);
	free(esc);
}

/* A growing text, doubled as it grows: appending stays linear. */
struct metrics_text {
	char	*s;
	size_t	 len;
	size_t	 size;
};

/* Appends s to t. */
static void
metrics_append(struct metrics_text *t, const char *s)
{
	size_t	n = strlen(s);

	while (t->len + n + 1 > t->size) {
		t->size = t->size == 0 ? 4096 : t->size * 2;
		t->s = xreallocarray(t->s, t->size, 1);
	}
	memcpy(t->s + t->len, s, n + 1);
	t->len += n;
}

/* HELP and TYPE of family f. */
static void
metrics_header(struct metrics_text *t, size_t f)
{
	char	*head;

	xasprintf(&head, "# HELP %s %s\n# TYPE %s %s\n",
	    metrics_families[f].name, metrics_families[f].help,
	    metrics_families[f].name, metrics_families[f].type);
	metrics_append(t, head);
	free(head);
}

char *
metrics_render(const struct metrics_lines *l, int64_t now)
{
	struct metrics_text	 t = { NULL, 0, 0 };
	char			*gen;
	int			*family;
	size_t			 f, i;
	int			 seen;

	/* Each line's family once: the passes below are linear. */
	family = xreallocarray(NULL, l->n + 1, sizeof *family);
	for (i = 0; i < l->n; i++)
		family[i] = metrics_family_of(l->v[i]);
	metrics_append(&t, "");
	for (f = 0; f < METRICS_GENERATED; f++) {
		seen = 0;
		for (i = 0; i < l->n; i++) {
			if (family[i] != (int)f)
				continue;
			if (!seen++)
				metrics_header(&t, f);
			metrics_append(&t, l->v[i]);
			metrics_append(&t, "\n");
		}
	}
	free(family);
	metrics_header(&t, METRICS_GENERATED);
	xasprintf(&gen, "%s %" PRId64 "\n",
	    metrics_families[METRICS_GENERATED].name, now);
	metrics_append(&t, gen);
	free(gen);
	return (t.s);
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
	unsigned char		*seen;	/* account x family x label */
	size_t			 dropped;
	char			*first;	/* the first line dropped */
};

/* Label slots per family in the seen map: the most values a family's
 * second label has (and one for none). */
#define METRICS_LABEL_SLOTS \
	((STATUS_STATE_MAX > STATUS_CLASSES ? STATUS_STATE_MAX : \
	    STATUS_CLASSES) + 1)

/* The owner's account of a sample, by index in conf; -1 if none. */
static ssize_t
metrics_ask_account(const struct metrics_ask *ma, const char *name)
{
	const struct account_conf	*ac;
	size_t				 i;

	for (i = 0; i < ma->conf->naccounts; i++) {
		ac = &ma->conf->accounts[i];
		if (strcmp(ac->name, name) != 0)
			continue;
		if ((ac->owner == NULL) != (ma->owner == NULL) ||
		    (ac->owner != NULL && strcmp(ac->owner, ma->owner) != 0))
			return (-1);
		return ((ssize_t)i);
	}
	return (-1);
}

/* Whether the series of mp (of account i) was seen before; notes it. */
static int
metrics_ask_dup(struct metrics_ask *ma, size_t i,
    const struct metrics_parsed *mp)
{
	size_t	k;

	k = (i * nitems(metrics_families) + mp->family) * METRICS_LABEL_SLOTS +
	    (size_t)(mp->label + 1);
	if (ma->seen[k])
		return (1);
	ma->seen[k] = 1;
	return (0);
}

/* One line of a `metrics` answer: a worker's daemon speaks for its
 * owner's accounts only, and what root writes into the one file that
 * every owner shares is never its text: each line is parsed (a known
 * family, its labels, a number), must be of one of the owner's accounts
 * and a series not seen yet, and is written again by us. */
static void
metrics_ask_line(const char *line, void *arg)
{
	struct metrics_ask	*ma = arg;
	struct metrics_parsed	 mp;
	ssize_t			 i = -1;

	if (metrics_sample_parse(line, &mp) == 0 &&
	    (i = metrics_ask_account(ma, mp.account)) != -1 &&
	    !metrics_ask_dup(ma, (size_t)i, &mp))
		metrics_sample_render(ma->out, &mp,
		    ma->conf->accounts[i].name);
	else {
		if (ma->dropped++ == 0)
			ma->first = log_sanitize(line, strlen(line), 80);
	}
	free(mp.account);
}

/* The bound on lines in an owner's answer: each of its accounts gives at
 * most METRICS_ACCOUNT_SAMPLES samples, each shorter than
 * METRICS_LINE_MAX bytes; 0 when it has none. */
static size_t
metrics_ask_max_lines(const struct config *conf, const char *owner)
{
	size_t	i, n = 0;

	for (i = 0; i < conf->naccounts; i++) {
		if ((conf->accounts[i].owner == NULL) == (owner == NULL) &&
		    (owner == NULL ||
		    strcmp(conf->accounts[i].owner, owner) == 0))
			n++;
	}
	return (n * METRICS_ACCOUNT_SAMPLES);
}

int
metrics_ask(const char *socket, const struct config *conf,
    const char *owner, pid_t pid, uid_t uid, struct metrics_lines *out,
    char **cause)
{
	struct metrics_ask	 ma = { conf, owner, out, NULL, 0, NULL };
	char			*why;
	size_t			 max;
	int			 fd, rc;

	if ((max = metrics_ask_max_lines(conf, owner)) == 0)
		return (0);
	if ((fd = control_connect_peer(socket, METRICS_ASK_TIMEOUT * 1000,
	    pid, uid, cause)) == -1)
		return (-1);
	ma.seen = xcalloc(conf->naccounts * nitems(metrics_families),
	    METRICS_LABEL_SLOTS);
	/* One deadline for the whole answer, not for each read. */
	rc = control_command_bounded(fd, "metrics", METRICS_ASK_TIMEOUT * 1000,
	    max * METRICS_LINE_MAX, max, metrics_ask_line, &ma, &why);
	close(fd);
	free(ma.seen);
	if (ma.dropped > 0)
		log_msg(LOG_LVL_WARNING, NULL, "metrics from %s: %zu line%s "
		    "not samples of its owner's accounts (or repeated) "
		    "ignored, the first: %s", socket, ma.dropped,
		    ma.dropped == 1 ? "" : "s", ma.first);
	free(ma.first);
	if (rc != 0) {
		xasprintf(cause, "%s: %s", socket, why);
		free(why);
		return (-1);
	}
	return (0);
}
