/* schedule.c: per-account due times, backoff, jitter, the daily download
 * budget and connection caps. Pure: the caller supplies the time and, if
 * it wants, the randomness.
 *
 * Times in memory are monotonic milliseconds (int64_t inside, so that
 * budget history restored from the state file may lie before the
 * monotonic clock's zero, e.g. shortly after boot). Only the persisted
 * budget history uses wall-clock seconds; see schedule_budget_format. */
#include "schedule.h"

#include <sys/types.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "outcome.h"
#include "xmalloc.h"

#define SEC			1000ULL
#define MIN			(60 * SEC)
#define HOUR			(60 * MIN)

#define DEFAULT_INTERVAL	300		/* seconds, if none at all */
#define POLL_JITTER_MAX		(30 * SEC)	/* and at most 10% */
#define BACKOFF_TEMP_START	(1 * MIN)
#define BACKOFF_TEMP_CAP	(1 * HOUR)
#define BACKOFF_AUTH_START	(30 * MIN)
#define BACKOFF_AUTH_CAP	(12 * HOUR)
/* [UNAVAILABLE] or [IN-USE] without a number: the other client or the
 * server's trouble rarely clears in under a few minutes. */
#define BUSY_DELAY		(5 * MIN)

/* Budget history: bytes are grouped in slots of at most an hour, each
 * expiring 24 h after its newest byte, so at most 25 slots are alive. */
#define BUDGET_GRAIN		((int64_t)HOUR)
#define BUDGET_SLOTS		32

/* Why a connection was refused: bits of schedule_account.denied, shifted
 * by DENY_IDLE_SHIFT for IDLE connections (their denial is logged apart:
 * the folder is polled, where a poll waits). */
#define DENY_GLOBAL		0x1
#define DENY_HOST		0x2
#define DENY_ACCOUNT		0x4
#define DENY_IDLE_SHIFT		3

enum schedule_class {
	CLASS_OK = 0,
	CLASS_TEMP,	/* retry with backoff */
	CLASS_AUTH,	/* retry much later */
	CLASS_STOP,	/* not until the configuration changes */
};

/* Connections held at one level of the caps: all of them, and how many
 * of those are IDLE connections. */
struct conncount {
	unsigned int	 n;
	unsigned int	 idle;
};

struct hostcount {
	char		*host;
	struct conncount c;
};

struct hostcounts {
	struct hostcount *v;
	size_t		 n;
};

struct budget_slot {
	int64_t		 first;	/* oldest byte: decides merging */
	int64_t		 last;	/* newest byte: decides expiry */
	uint64_t	 bytes;
};

struct schedule_account {
	struct schedule	*sched;
	char		*name;
	void		*arg;

	struct schedule_policy policy;
	uint64_t	 interval_ms;	/* effective */
	uint64_t	 floor_ms;	/* no poll earlier than this after the
					 * last one: the provider minimum */

	enum schedule_state state;
	uint64_t	 next_due;
	uint64_t	 last_conn;	/* end of the last poll that reached
					 * the server, or of a failed IDLE
					 * login; see have_conn */
	int		 have_conn;
	int		 soon;		/* the poll in progress left out a
					 * folder: the next one comes soon */
	unsigned int	 failures;
	uint64_t	 server_until;	/* no login before: the delay the
					 * server named (LOGIN-DELAY n) */
	int		 last_exit;
	int		 last_error;
	int		 refused;	/* the last outcome: a refused login or
					 * a configuration error */
	enum schedule_hint wait_hint;	/* the last outcome: the server
					 * asked to wait (busy, LOGIN-DELAY);
					 * NONE: it did not */
	uint64_t	 wait_since;	/* ... when it did */

	struct budget_slot slots[BUDGET_SLOTS];
	size_t		 nslots;

	unsigned int	 cap;		/* current, after [ALERT]s */
	struct conncount conns;
	struct hostcounts hosts;
	int		 denied;	/* DENY_* already reported */
};

struct schedule {
	struct schedule_limits limits;
	uint64_t	 rng;
	schedule_random_fn rand_fn;
	void		*rand_arg;

	struct schedule_account **accounts;
	size_t		 naccounts;

	struct conncount conns;
	struct hostcounts hosts;
};

/* "waiting", not "idle": --status prints IMAP IDLE next to it. */
static const char *schedule_state_names[SCHEDULE_STATE_MAX] = {
	"waiting",
	"polling",
	"backing off",
	"paused (daily budget)",
	"stopped (until reload)",
};

/* Appends a formatted sentence to *msg (when msg is not NULL), joined with
 * "; " so that one attempt yields one log line. */
static void printflike(2, 3)
msg_add(char **msg, const char *fmt, ...)
{
	va_list	 ap;
	char	*part, *joined;

	if (msg == NULL)
		return;
	va_start(ap, fmt);
	if (vasprintf(&part, fmt, ap) == -1)
		abort();
	va_end(ap);
	if (*msg == NULL) {
		*msg = part;
		return;
	}
	xasprintf(&joined, "%s; %s", *msg, part);
	free(*msg);
	free(part);
	*msg = joined;
}

/* splitmix64: small, fast, good enough for jitter. */
static uint64_t
rand_builtin(uint64_t *x)
{
	uint64_t	z;

	z = (*x += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return (z ^ (z >> 31));
}

/* A uniform draw in [lo, hi]. */
static uint64_t
rand_between(struct schedule *s, uint64_t lo, uint64_t hi)
{
	uint64_t	r;

	if (hi <= lo)
		return (lo);
	if (s->rand_fn != NULL)
		r = s->rand_fn(s->rand_arg);
	else
		r = rand_builtin(&s->rng);
	if (hi - lo == UINT64_MAX)
		return (r);
	return (lo + r % (hi - lo + 1));
}

/* Saturating addition for due times. */
static uint64_t
add_ms(uint64_t a, uint64_t b)
{
	if (a > SCHEDULE_NEVER - b)
		return (SCHEDULE_NEVER);
	return (a + b);
}

static uint64_t
max_u64(uint64_t a, uint64_t b)
{
	return (a > b ? a : b);
}

/* The index of host in hc, or -1. */
static ssize_t
hosts_find(const struct hostcounts *hc, const char *host)
{
	size_t	i;

	for (i = 0; i < hc->n; i++) {
		if (strcmp(hc->v[i].host, host) == 0)
			return ((ssize_t)i);
	}
	return (-1);
}

/* The connections hc counts for host. */
static struct conncount
hosts_get(const struct hostcounts *hc, const char *host)
{
	struct conncount	none = { 0, 0 };
	ssize_t			i;

	i = hosts_find(hc, host);
	return (i == -1 ? none : hc->v[i].c);
}

/* Adds c to c0. */
static void
count_add(struct conncount *c0, const struct conncount *c)
{
	c0->n += c->n;
	c0->idle += c->idle;
}

/* Takes c from c0, never below zero. */
static void
count_sub(struct conncount *c0, const struct conncount *c)
{
	c0->n -= c->n < c0->n ? c->n : c0->n;
	c0->idle -= c->idle < c0->idle ? c->idle : c0->idle;
}

/* Adds c to host's connections. */
static void
hosts_add(struct hostcounts *hc, const char *host, const struct conncount *c)
{
	ssize_t	i;

	i = hosts_find(hc, host);
	if (i != -1) {
		count_add(&hc->v[i].c, c);
		return;
	}
	hc->v = xreallocarray(hc->v, hc->n + 1, sizeof *hc->v);
	hc->v[hc->n].host = xstrdup(host);
	hc->v[hc->n].c = *c;
	hc->n++;
}

/* Takes c from host's connections, dropping the host at zero so the table
 * stays as small as the hosts in use. */
static void
hosts_sub(struct hostcounts *hc, const char *host, const struct conncount *c)
{
	ssize_t	i;

	i = hosts_find(hc, host);
	if (i == -1)
		return;
	count_sub(&hc->v[i].c, c);
	if (hc->v[i].c.n == 0) {
		free(hc->v[i].host);
		hc->v[i] = hc->v[hc->n - 1];
		hc->n--;
	}
}

/* Frees a host table. */
static void
hosts_clear(struct hostcounts *hc)
{
	size_t	i;

	for (i = 0; i < hc->n; i++)
		free(hc->v[i].host);
	free(hc->v);
	hc->v = NULL;
	hc->n = 0;
}

struct schedule *
schedule_new(const struct schedule_limits *limits, uint64_t seed)
{
	struct schedule	*s;

	s = xcalloc(1, sizeof *s);
	if (limits != NULL)
		s->limits = *limits;
	s->rng = seed;
	return (s);
}

void
schedule_free(struct schedule *s)
{
	if (s == NULL)
		return;
	while (s->naccounts > 0)
		schedule_account_remove(s->accounts[s->naccounts - 1]);
	free(s->accounts);
	hosts_clear(&s->hosts);
	free(s);
}

void
schedule_set_limits(struct schedule *s, const struct schedule_limits *limits)
{
	size_t	i;

	memset(&s->limits, 0, sizeof s->limits);
	if (limits != NULL)
		s->limits = *limits;
	for (i = 0; i < s->naccounts; i++)
		s->accounts[i]->denied = 0;
}

void
schedule_set_random(struct schedule *s, schedule_random_fn fn, void *arg)
{
	s->rand_fn = fn;
	s->rand_arg = arg;
}

unsigned int
schedule_account_cap(unsigned int provider_limit, unsigned int configured)
{
	unsigned int	reserve;

	if (configured != 0)
		return (configured);
	if (provider_limit == 0)
		return (0);
	reserve = (provider_limit + 2) / 3;
	if (reserve >= provider_limit)
		return (1);
	return (provider_limit - reserve);
}

/* Applies a policy: the effective interval, the floor and the cap. */
static void
account_apply_policy(struct schedule_account *a,
    const struct schedule_policy *p, char **warning)
{
	unsigned int	interval;

	a->policy = *p;
	interval = p->poll_interval;
	if (interval == 0)
		interval = p->min_interval != 0 ? p->min_interval :
		    DEFAULT_INTERVAL;
	if (interval < p->min_interval) {
		if (p->override_min) {
			msg_add(warning, "account %s: poll_interval %us is "
			    "below the provider's minimum of %us; kept as "
			    "overridden, the provider may block the account",
			    a->name, interval, p->min_interval);
		} else {
			msg_add(warning, "account %s: poll_interval %us is "
			    "below the provider's minimum of %us; using %us",
			    a->name, interval, p->min_interval,
			    p->min_interval);
			interval = p->min_interval;
		}
	}
	a->interval_ms = interval * SEC;
	a->floor_ms = p->override_min ? 0 : p->min_interval * SEC;
	a->cap = p->max_conns;
	a->denied = 0;
}

struct schedule_account *
schedule_account_add(struct schedule *s, const char *name,
    const struct schedule_policy *p, void *arg, uint64_t now_ms,
    char **warning)
{
	struct schedule_account	*a;

	if (warning != NULL)
		*warning = NULL;
	if (schedule_account_find(s, name) != NULL)
		return (NULL);
	a = xcalloc(1, sizeof *a);
	a->sched = s;
	a->name = xstrdup(name);
	a->arg = arg;
	a->last_exit = -1;
	a->last_error = -1;
	a->state = SCHEDULE_IDLE;
	a->next_due = now_ms;
	account_apply_policy(a, p, warning);

	s->accounts = xreallocarray(s->accounts, s->naccounts + 1,
	    sizeof *s->accounts);
	s->accounts[s->naccounts++] = a;
	return (a);
}

void
schedule_account_set_policy(struct schedule_account *a,
    const struct schedule_policy *p, uint64_t now_ms, char **warning)
{
	uint64_t	due;

	if (warning != NULL)
		*warning = NULL;
	account_apply_policy(a, p, warning);
	switch (a->state) {
	case SCHEDULE_STOPPED:
		a->state = SCHEDULE_IDLE;
		a->failures = 0;
		a->next_due = now_ms;
		break;
	case SCHEDULE_IDLE:
		due = add_ms(now_ms, a->interval_ms);
		if (due < a->next_due)
			a->next_due = due;
		break;
	case SCHEDULE_PAUSED:
		/* A larger budget (or none) ends the pause at once. */
		if (schedule_budget_left(a, now_ms) != 0) {
			a->state = SCHEDULE_IDLE;
			a->next_due = now_ms;
		}
		break;
	default:
		/* A backoff is the server's business, not the
		 * configuration's: it keeps its time. */
		break;
	}
}

void
schedule_account_remove(struct schedule_account *a)
{
	struct schedule	*s;
	size_t		 i;

	if (a == NULL)
		return;
	s = a->sched;
	for (i = 0; i < a->hosts.n; i++)
		hosts_sub(&s->hosts, a->hosts.v[i].host, &a->hosts.v[i].c);
	count_sub(&s->conns, &a->conns);
	for (i = 0; i < s->naccounts; i++) {
		if (s->accounts[i] == a) {
			memmove(&s->accounts[i], &s->accounts[i + 1],
			    (s->naccounts - i - 1) * sizeof *s->accounts);
			s->naccounts--;
			break;
		}
	}
	hosts_clear(&a->hosts);
	free(a->name);
	free(a);
}

struct schedule_account *
schedule_account_find(struct schedule *s, const char *name)
{
	size_t	i;

	for (i = 0; i < s->naccounts; i++) {
		if (strcmp(s->accounts[i]->name, name) == 0)
			return (s->accounts[i]);
	}
	return (NULL);
}

const char *
schedule_account_name(const struct schedule_account *a)
{
	return (a->name);
}

void *
schedule_account_arg(const struct schedule_account *a)
{
	return (a->arg);
}

/* Whether the account waits for a due time (rather than running or being
 * stopped). */
static int
account_waiting(const struct schedule_account *a)
{
	return (a->state != SCHEDULE_POLLING && a->state != SCHEDULE_STOPPED);
}

uint64_t
schedule_next_due(const struct schedule *s)
{
	uint64_t	due = SCHEDULE_NEVER;
	size_t		i;

	for (i = 0; i < s->naccounts; i++) {
		if (account_waiting(s->accounts[i]) &&
		    s->accounts[i]->next_due < due)
			due = s->accounts[i]->next_due;
	}
	return (due);
}

size_t
schedule_due(const struct schedule *s, uint64_t now_ms,
    struct schedule_account **out, size_t max)
{
	struct schedule_account	*a;
	size_t			 i, j, n = 0, kept;

	for (i = 0; i < s->naccounts; i++) {
		a = s->accounts[i];
		if (!account_waiting(a) || a->next_due > now_ms)
			continue;
		/* Insertion in due order, keeping the earliest max. */
		kept = n < max ? n : max;
		for (j = kept; j > 0 && out[j - 1]->next_due > a->next_due;
		    j--) {
			if (j < max)
				out[j] = out[j - 1];
		}
		if (j < max)
			out[j] = a;
		n++;
	}
	return (n);
}

/* Drops budget slots that have left the window. */
static void
budget_prune(struct schedule_account *a, int64_t now)
{
	size_t	i = 0;

	while (i < a->nslots && a->slots[i].last + (int64_t)SCHEDULE_WINDOW_MS
	    <= now)
		i++;
	if (i == 0)
		return;
	memmove(a->slots, a->slots + i, (a->nslots - i) * sizeof *a->slots);
	a->nslots -= i;
}

/* Records bytes at time t, at or after every slot's time. */
static void
budget_record(struct schedule_account *a, int64_t t, uint64_t bytes)
{
	struct budget_slot	*last;

	budget_prune(a, t);
	if (a->nslots > 0) {
		last = &a->slots[a->nslots - 1];
		/* Merge into the newest slot within its hour; a full table
		 * (only after a clock oddity) merges too, to stay bounded. */
		if (t - last->first < BUDGET_GRAIN ||
		    a->nslots == BUDGET_SLOTS) {
			if (t > last->last)
				last->last = t;
			last->bytes = last->bytes > UINT64_MAX - bytes ?
			    UINT64_MAX : last->bytes + bytes;
			return;
		}
	}
	a->slots[a->nslots].first = t;
	a->slots[a->nslots].last = t;
	a->slots[a->nslots].bytes = bytes;
	a->nslots++;
}

void
schedule_budget_add(struct schedule_account *a, uint64_t now_ms,
    uint64_t bytes)
{
	if (bytes == 0)
		return;
	budget_record(a, (int64_t)now_ms, bytes);
}

uint64_t
schedule_budget_used(const struct schedule_account *a, uint64_t now_ms)
{
	uint64_t	used = 0;
	size_t		i;

	for (i = 0; i < a->nslots; i++) {
		if (a->slots[i].last + (int64_t)SCHEDULE_WINDOW_MS <=
		    (int64_t)now_ms)
			continue;
		if (used > UINT64_MAX - a->slots[i].bytes)
			return (UINT64_MAX);
		used += a->slots[i].bytes;
	}
	return (used);
}

uint64_t
schedule_budget_left(const struct schedule_account *a, uint64_t now_ms)
{
	uint64_t	used;

	if (a->policy.daily_budget == 0)
		return (UINT64_MAX);
	used = schedule_budget_used(a, now_ms);
	if (used >= a->policy.daily_budget)
		return (0);
	return (a->policy.daily_budget - used);
}

uint64_t
schedule_budget_room(const struct schedule_account *a, uint64_t now_ms,
    uint64_t pending)
{
	uint64_t	left = schedule_budget_left(a, now_ms);

	if (left == UINT64_MAX)
		return (left);
	return (left > pending ? left - pending : 0);
}

uint64_t
schedule_budget_resume(const struct schedule_account *a, uint64_t now_ms)
{
	uint64_t	used;
	int64_t		expiry;
	size_t		i;

	if (schedule_budget_left(a, now_ms) != 0)
		return (now_ms);
	used = schedule_budget_used(a, now_ms);
	for (i = 0; i < a->nslots; i++) {
		expiry = a->slots[i].last + (int64_t)SCHEDULE_WINDOW_MS;
		if (expiry <= (int64_t)now_ms)
			continue;
		used -= a->slots[i].bytes;
		if (used < a->policy.daily_budget)
			return ((uint64_t)expiry);
	}
	return (now_ms);	/* not reached: the last slot empties it */
}

/* "2.5 MB" style sizes for messages. */
static char *
format_bytes(uint64_t n)
{
	char	*s;

	if (n >= 1000000)
		xasprintf(&s, "%.1f MB", (double)n / 1e6);
	else
		xasprintf(&s, "%llu bytes", (unsigned long long)n);
	return (s);
}

/* Pauses the account when the budget is used up; adds why to msg. Returns
 * the resume time (now when not paused). */
static uint64_t
budget_check(struct schedule_account *a, uint64_t now_ms, char **msg)
{
	uint64_t	 resume;
	char		*used, *budget, *in;

	if (schedule_budget_left(a, now_ms) != 0)
		return (now_ms);
	resume = schedule_budget_resume(a, now_ms);
	used = format_bytes(schedule_budget_used(a, now_ms));
	budget = format_bytes(a->policy.daily_budget);
	in = schedule_format_duration(resume - now_ms);
	msg_add(msg, "account %s: daily download budget of %s reached (%s in "
	    "the last 24 h); paused, resuming in %s", a->name, budget, used,
	    in);
	free(used);
	free(budget);
	free(in);
	return (resume);
}

int
schedule_begin(struct schedule_account *a, uint64_t now_ms, char **cause)
{
	uint64_t	resume;

	if (cause != NULL)
		*cause = NULL;
	budget_prune(a, (int64_t)now_ms);
	resume = budget_check(a, now_ms, cause);
	if (resume > now_ms) {
		a->state = SCHEDULE_PAUSED;
		a->next_due = resume;
		return (-1);
	}
	a->state = SCHEDULE_POLLING;
	return (0);
}

int
schedule_hint_busy(int hint)
{
	switch (hint) {
	case SCHEDULE_HINT_UNAVAILABLE:
	case SCHEDULE_HINT_IN_USE:
	case SCHEDULE_HINT_TOO_MANY_CONNS:
		return (1);
	default:
		return (0);
	}
}

/* How the scheduler treats an outcome. */
static enum schedule_class
schedule_classify(const struct schedule_outcome *o)
{
	switch (o->exit) {
	case EXIT_AUTH:
		/* A login refused for being busy (Gmail's "[ALERT] Too
		 * many simultaneous connections") says nothing about the
		 * password: the busy wait, not the 30 minutes of a refusal
		 * that would lock the account. */
		return (schedule_hint_busy(o->hint) ? CLASS_TEMP : CLASS_AUTH);
	case EXIT_CONFIG:
	case EXIT_UNSUPPORTED:
		return (CLASS_STOP);
	case EXIT_NEW_MAIL:
	case EXIT_NOTHING_NEW:
		break;
	default:
		return (CLASS_TEMP);
	}
	/* The server turned us away, whatever the session made of it. */
	return (schedule_hint_busy(o->hint) ? CLASS_TEMP : CLASS_OK);
}

/* Whether an outcome of class c leaves the account refused: the login or
 * the configuration has to change. */
static int
class_refused(enum schedule_class c)
{
	return (c == CLASS_AUTH || c == CLASS_STOP);
}

int
schedule_exit_refused(int exit, int hint)
{
	struct schedule_outcome	o;

	memset(&o, 0, sizeof o);
	o.exit = exit;
	o.hint = (enum schedule_hint)hint;
	return (class_refused(schedule_classify(&o)));
}

/* The earliest a poll asked for soon may start: now, unless the provider
 * minimum since the last poll that reached the server says to wait. */
static uint64_t
soon_due(const struct schedule_account *a, uint64_t now_ms)
{
	if (!a->have_conn)
		return (now_ms);
	return (max_u64(now_ms, add_ms(a->last_conn, a->floor_ms)));
}

/* The next poll's delay: the interval, jittered by up to 10% or 30 s
 * either way so that accounts drift apart, never under the floor. */
static uint64_t
delay_poll(struct schedule_account *a)
{
	uint64_t	j, lo, hi;

	j = a->interval_ms / 10;
	if (j > POLL_JITTER_MAX)
		j = POLL_JITTER_MAX;
	lo = max_u64(a->interval_ms - j, a->floor_ms);
	hi = max_u64(a->interval_ms + j, a->floor_ms);
	return (rand_between(a->sched, lo, hi));
}

/* The delay after the n-th consecutive failure: start doubling up to cap,
 * then +-10% so that accounts failing together (an outage) come back
 * apart. */
static uint64_t
delay_backoff(struct schedule_account *a, uint64_t start, uint64_t cap)
{
	uint64_t	base = start;
	unsigned int	i;

	for (i = 1; i < a->failures && base < cap; i++)
		base *= 2;
	if (base > cap)
		base = cap;
	return (rand_between(a->sched, base - base / 10, base + base / 10));
}

/* Lowers the cap after an [ALERT]: by one, not below 1; an account without
 * a cap gets one below what it held. Returns the message. */
static char *
cap_lower(struct schedule_account *a)
{
	char	*msg;

	if (a->cap == 0)
		a->cap = a->conns.n > 2 ? a->conns.n - 1 : 1;
	else if (a->cap > 1)
		a->cap--;
	a->denied &= ~(DENY_ACCOUNT | DENY_ACCOUNT << DENY_IDLE_SHIFT);
	xasprintf(&msg, "account %s: the server reports too many simultaneous "
	    "connections; using at most %u from now on (until reload)",
	    a->name, a->cap);
	return (msg);
}

/* Says that authentication failed and when the next attempt is. */
static void
auth_message(struct schedule_account *a, uint64_t delay, char **msg)
{
	char	*in;

	in = schedule_format_duration(delay);
	msg_add(msg, "account %s: authentication failed (%u time%s in a row); "
	    "next attempt in %s, backing off up to 12h so that the provider "
	    "does not lock the account: check the password or token",
	    a->name, a->failures, a->failures == 1 ? "" : "s", in);
	free(in);
}

/* Says when the next attempt is, after a message that is not about a
 * failed poll (the daemon then logs only the message). */
static void
backoff_message(uint64_t delay, char **msg)
{
	char	*in;

	in = schedule_format_duration(delay);
	msg_add(msg, "backing off, next try in %s", in);
	free(in);
}

/* The least delay the server asked for. */
static uint64_t
server_delay(const struct schedule_outcome *o)
{
	uint64_t	d = (uint64_t)o->retry_after * SEC;

	if (d == 0 && schedule_hint_busy(o->hint))
		d = BUSY_DELAY;
	return (d);
}

uint64_t
schedule_done(struct schedule_account *a, uint64_t now_ms,
    const struct schedule_outcome *o, char **msg)
{
	enum schedule_class	 c;
	uint64_t		 delay, resume;
	char			*m;
	int			 soon;

	if (msg != NULL)
		*msg = NULL;
	soon = a->soon;
	a->soon = 0;
	if (!o->no_conn) {
		a->last_conn = now_ms;
		a->have_conn = 1;
	}
	schedule_budget_add(a, now_ms, o->bytes);
	a->server_until = o->retry_after == 0 ? 0 :
	    add_ms(now_ms, (uint64_t)o->retry_after * SEC);
	if (o->hint == SCHEDULE_HINT_TOO_MANY_CONNS) {
		m = cap_lower(a);
		msg_add(msg, "%s", m);
		free(m);
	}
	c = schedule_classify(o);
	a->last_exit = o->exit;
	a->refused = class_refused(c);
	a->wait_hint = server_delay(o) == 0 ? SCHEDULE_HINT_NONE :
	    o->hint != SCHEDULE_HINT_NONE ? o->hint : SCHEDULE_HINT_LOGIN_DELAY;
	a->wait_since = now_ms;
	if (c == CLASS_OK) {
		a->failures = 0;
		a->state = SCHEDULE_IDLE;
		/* A folder left out of this poll is to be polled soon:
		 * as soon as the provider minimum (below) allows. */
		delay = soon ? 0 : delay_poll(a);
	} else {
		a->last_error = o->exit;
		a->failures++;
		a->state = SCHEDULE_BACKOFF;
		if (c == CLASS_STOP) {
			a->state = SCHEDULE_STOPPED;
			a->next_due = SCHEDULE_NEVER;
			msg_add(msg, "account %s: %s error; not retried until "
			    "the configuration is reloaded", a->name,
			    outcome_word(o->exit));
			return (a->next_due);
		}
		if (c == CLASS_AUTH)
			delay = delay_backoff(a, BACKOFF_AUTH_START,
			    BACKOFF_AUTH_CAP);
		else
			delay = delay_backoff(a, BACKOFF_TEMP_START,
			    BACKOFF_TEMP_CAP);
	}
	delay = max_u64(delay, a->floor_ms);
	delay = max_u64(delay, server_delay(o));
	if (c == CLASS_AUTH)
		auth_message(a, delay, msg);
	else if (o->hint == SCHEDULE_HINT_TOO_MANY_CONNS)
		backoff_message(delay, msg);
	a->next_due = add_ms(now_ms, delay);

	resume = budget_check(a, now_ms, msg);
	if (resume > a->next_due) {
		a->state = SCHEDULE_PAUSED;
		a->next_due = resume;
	}
	return (a->next_due);
}

uint64_t
schedule_poll_soon(struct schedule_account *a, uint64_t now_ms)
{
	uint64_t	due;

	switch (a->state) {
	case SCHEDULE_POLLING:
		a->soon = 1;
		return (SCHEDULE_NEVER);
	case SCHEDULE_IDLE:
		due = soon_due(a, now_ms);
		if (due < a->next_due)
			a->next_due = due;
		return (a->next_due);
	default:
		/* A backoff is the server's business, a pause the
		 * budget's, a stop the configuration's: they keep their
		 * time, and the folder is polled then. */
		return (account_waiting(a) ? a->next_due : SCHEDULE_NEVER);
	}
}

char *
schedule_budget_format(const struct schedule_account *a, uint64_t now_ms,
    int64_t now_wall)
{
	char	*out, *next;
	int64_t	 age, wall;
	size_t	 i;

	out = xstrdup("");
	for (i = 0; i < a->nslots; i++) {
		age = (int64_t)now_ms - a->slots[i].last;
		if (age >= (int64_t)SCHEDULE_WINDOW_MS)
			continue;
		if (age < 0)
			age = 0;
		wall = now_wall - age / (int64_t)SEC;
		xasprintf(&next, "%s%s%lld:%llu", out, *out != '\0' ? "," : "",
		    (long long)wall, (unsigned long long)a->slots[i].bytes);
		free(out);
		out = next;
	}
	return (out);
}

/* Parses a decimal number up to max; NULL on error, else the end. */
static const char *
parse_number(const char *p, uint64_t max, uint64_t *v)
{
	uint64_t	n = 0;

	if (*p < '0' || *p > '9')
		return (NULL);
	for (; *p >= '0' && *p <= '9'; p++) {
		if (n > (max - (uint64_t)(*p - '0')) / 10)
			return (NULL);
		n = n * 10 + (uint64_t)(*p - '0');
	}
	*v = n;
	return (p);
}

/* Parses "EPOCH:BYTES,..." into slots (ascending times); -1 with *cause. */
static int
budget_parse_into(struct schedule_account *tmp, const char *text,
    uint64_t now_ms, int64_t now_wall, char **cause)
{
	const char	*p = text;
	uint64_t	 wall, bytes;
	int64_t		 prev = -1, t;
	size_t		 n;

	for (n = 1; *p != '\0'; n++) {
		if ((p = parse_number(p, INT64_MAX, &wall)) == NULL ||
		    *p++ != ':' ||
		    (p = parse_number(p, UINT64_MAX, &bytes)) == NULL ||
		    (*p != ',' && *p != '\0') ||
		    (*p == ',' && *++p == '\0')) {
			xasprintf(cause, "budget history: entry %zu: expected "
			    "EPOCH:BYTES", n);
			return (-1);
		}
		if ((int64_t)wall < prev) {
			xasprintf(cause, "budget history: entry %zu: times "
			    "out of order", n);
			return (-1);
		}
		prev = (int64_t)wall;
		if ((int64_t)wall > now_wall)
			wall = (uint64_t)now_wall;
		if (now_wall - (int64_t)wall >=
		    (int64_t)(SCHEDULE_WINDOW_MS / SEC))
			continue;
		t = (int64_t)now_ms - (now_wall - (int64_t)wall) *
		    (int64_t)SEC;
		if (bytes != 0)
			budget_record(tmp, t, bytes);
	}
	return (0);
}

int
schedule_budget_parse(struct schedule_account *a, const char *text,
    uint64_t now_ms, int64_t now_wall, char **cause)
{
	struct schedule_account	tmp;

	memset(&tmp, 0, sizeof tmp);
	if (budget_parse_into(&tmp, text, now_ms, now_wall, cause) != 0)
		return (-1);
	memcpy(a->slots, tmp.slots, sizeof a->slots);
	a->nslots = tmp.nslots;
	return (0);
}

/* Whether one more connection of kind fits a cap of limit (0: none) over
 * the connections c: IDLE ones may take all but one of its slots. */
static int
conn_fits(const struct conncount *c, unsigned int limit,
    enum schedule_conn_kind kind)
{
	if (limit == 0)
		return (1);
	if (c->n >= limit)
		return (0);
	return (kind != SCHEDULE_CONN_IDLE || c->idle + 1 < limit);
}

/* Which cap a new connection would break, as a DENY_* bit (0 if none),
 * with that cap's limit and the connections it counts. */
static int
conn_check(const struct schedule_account *a, const char *host,
    enum schedule_conn_kind kind, unsigned int *limit,
    struct conncount *held)
{
	const struct schedule	*s = a->sched;

	*limit = s->limits.max_conns;
	*held = s->conns;
	if (!conn_fits(held, *limit, kind))
		return (DENY_GLOBAL);
	*limit = s->limits.max_conns_host;
	*held = hosts_get(&s->hosts, host);
	if (!conn_fits(held, *limit, kind))
		return (DENY_HOST);
	*limit = a->cap;
	*held = a->conns;
	if (!conn_fits(held, *limit, kind))
		return (DENY_ACCOUNT);
	return (0);
}

/* Counts c more (add) or fewer connections of a to host, at every level. */
static void
conn_count(struct schedule_account *a, const char *host,
    const struct conncount *c, int add)
{
	struct schedule	*s = a->sched;

	if (add) {
		hosts_add(&a->hosts, host, c);
		hosts_add(&s->hosts, host, c);
		count_add(&a->conns, c);
		count_add(&s->conns, c);
		return;
	}
	hosts_sub(&a->hosts, host, c);
	hosts_sub(&s->hosts, host, c);
	count_sub(&a->conns, c);
	count_sub(&s->conns, c);
}

/* Says which cap refused a connection of kind, and how. */
static char *
conn_denial(const struct schedule_account *a, const char *host,
    enum schedule_conn_kind kind, int deny, unsigned int limit,
    const struct conncount *held)
{
	const char	*level, *why;
	char		*cause;

	level = deny == DENY_GLOBAL ? "the global" :
	    deny == DENY_HOST ? "the per-host" : "the account's";
	if (held->n >= limit)
		why = "reached";
	else if (limit == 1)
		why = "keeps it free for polls";
	else
		why = "keeps one free for polls";
	xasprintf(&cause, "account %s: no new %sconnection to %s: %s limit "
	    "of %u connection%s %s", a->name,
	    kind == SCHEDULE_CONN_IDLE ? "IDLE " : "", host, level, limit,
	    limit == 1 ? "" : "s", why);
	return (cause);
}

enum schedule_conn
schedule_conn_acquire(struct schedule_account *a, const char *host,
    enum schedule_conn_kind kind, char **cause)
{
	struct conncount	 one = { 1, kind == SCHEDULE_CONN_IDLE }, held;
	unsigned int		 limit;
	int			 deny, bit, first;

	if (cause != NULL)
		*cause = NULL;
	deny = conn_check(a, host, kind, &limit, &held);
	if (deny == 0) {
		conn_count(a, host, &one, 1);
		return (SCHEDULE_CONN_GRANTED);
	}
	bit = kind == SCHEDULE_CONN_IDLE ? deny << DENY_IDLE_SHIFT : deny;
	first = (a->denied & bit) == 0;
	a->denied |= bit;
	if (cause != NULL)
		*cause = conn_denial(a, host, kind, deny, limit, &held);
	return (first ? SCHEDULE_CONN_DENIED_FIRST : SCHEDULE_CONN_DENIED);
}

int
schedule_conn_fits(const struct schedule_account *a, const char *host,
    enum schedule_conn_kind kind)
{
	struct conncount	held;
	unsigned int		limit;

	return (conn_check(a, host, kind, &limit, &held) == 0);
}

void
schedule_conn_release(struct schedule_account *a, const char *host,
    enum schedule_conn_kind kind)
{
	struct conncount	one = { 1, kind == SCHEDULE_CONN_IDLE }, held;

	held = hosts_get(&a->hosts, host);
	if (kind == SCHEDULE_CONN_IDLE ? held.idle == 0 : held.n == held.idle)
		return;		/* not held: a caller's slip, not a count */
	conn_count(a, host, &one, 0);
}

void
schedule_conn_demote(struct schedule_account *a, const char *host)
{
	struct conncount	idle = { 0, 1 };

	if (hosts_get(&a->hosts, host).idle == 0)
		return;
	conn_count(a, host, &idle, 0);
}

/* Whether IDLE connections hold more than all but one slot of a cap. */
static int
idle_over(const struct conncount *c, unsigned int limit)
{
	return (limit != 0 && c->idle >= limit);
}

int
schedule_conn_idle_over(const struct schedule_account *a, const char *host)
{
	const struct schedule	*s = a->sched;
	struct conncount	 c;

	if (hosts_get(&a->hosts, host).idle == 0)
		return (0);
	c = hosts_get(&s->hosts, host);
	return (idle_over(&s->conns, s->limits.max_conns) ||
	    idle_over(&c, s->limits.max_conns_host) ||
	    idle_over(&a->conns, a->cap));
}

int
schedule_account_reset_cap(struct schedule_account *a)
{
	if (a->cap == a->policy.max_conns)
		return (0);
	a->cap = a->policy.max_conns;
	a->denied &= ~(DENY_ACCOUNT | DENY_ACCOUNT << DENY_IDLE_SHIFT);
	return (1);
}

int
schedule_account_retry(struct schedule_account *a, uint64_t now_ms)
{
	if (!a->refused || (a->state != SCHEDULE_STOPPED &&
	    a->state != SCHEDULE_BACKOFF))
		return (0);
	a->refused = 0;
	a->failures = 0;
	a->state = SCHEDULE_IDLE;
	a->next_due = now_ms;
	return (1);
}

/* Raises *at to t with its reason. */
static void
fetch_wait(uint64_t *at, const char **reason, uint64_t t, const char *why)
{
	if (t <= *at)
		return;
	*at = t;
	*reason = why;
}

void
schedule_idle_login(struct schedule_account *a, uint64_t now_ms)
{
	a->last_conn = max_u64(a->last_conn, now_ms);
	a->have_conn = 1;
}

void
schedule_idle_error(struct schedule_account *a, int exit)
{
	a->last_error = exit;
}

void
schedule_server_wait(enum schedule_hint hint, uint64_t ago_ms, char *buf,
    size_t len)
{
	const char	*what;
	char		*ago;

	switch (hint) {
	case SCHEDULE_HINT_UNAVAILABLE:
		what = "refused the login as busy ([UNAVAILABLE])";
		break;
	case SCHEDULE_HINT_IN_USE:
		what = "refused the login: another session holds the mailbox "
		    "([IN-USE])";
		break;
	case SCHEDULE_HINT_TOO_MANY_CONNS:
		what = "refused the login: too many simultaneous connections "
		    "([ALERT])";
		break;
	case SCHEDULE_HINT_LOGIN_DELAY:
		what = "asked to wait before the next login ([LOGIN-DELAY])";
		break;
	default:
		what = "asked to wait before the next login";
		break;
	}
	ago = schedule_format_duration(ago_ms);
	snprintf(buf, len, "the server %s %s ago", what, ago);
	free(ago);
}

uint64_t
schedule_fetch_allowed(const struct schedule_account *a, uint64_t now_ms,
    char **why)
{
	const char	*reason = NULL;
	uint64_t	 at = now_ms;
	char		 server[160];

	*why = NULL;
	if (a->state == SCHEDULE_STOPPED) {
		xasprintf(why, "stopped after a %s error",
		    outcome_word(a->last_error));
		return (SCHEDULE_NEVER);
	}
	if (a->state == SCHEDULE_BACKOFF && a->refused)
		fetch_wait(&at, &reason, a->next_due, "the login was refused; "
		    "backing off so that the provider does not lock the "
		    "account");
	/* The server's own word: a busy server asked us to wait. */
	schedule_server_wait(a->wait_hint, now_ms > a->wait_since ?
	    now_ms - a->wait_since : 0, server, sizeof server);
	if (a->state == SCHEDULE_BACKOFF && a->wait_hint != SCHEDULE_HINT_NONE)
		fetch_wait(&at, &reason, a->next_due, server);
	fetch_wait(&at, &reason, a->server_until, server);
	if (a->have_conn)
		fetch_wait(&at, &reason, add_ms(a->last_conn, a->floor_ms),
		    "the provider's minimum interval between polls has not "
		    "passed");
	if (reason != NULL)
		*why = xstrdup(reason);
	return (at);
}

char *
schedule_conn_too_many(struct schedule_account *a, uint64_t now_ms)
{
	uint64_t	 delay;
	char		*msg;

	msg = cap_lower(a);
	a->failures++;
	a->last_error = EXIT_PROTOCOL;
	delay = delay_backoff(a, BACKOFF_TEMP_START, BACKOFF_TEMP_CAP);
	delay = max_u64(max_u64(delay, a->floor_ms), BUSY_DELAY);
	if (a->state == SCHEDULE_STOPPED)
		return (msg);
	if (a->state != SCHEDULE_POLLING)
		a->state = SCHEDULE_BACKOFF;
	a->next_due = max_u64(a->next_due, add_ms(now_ms, delay));
	return (msg);
}

void
schedule_account_status(const struct schedule_account *a, uint64_t now_ms,
    struct schedule_status *st)
{
	memset(st, 0, sizeof *st);
	st->state = a->state;
	st->next_due_ms = account_waiting(a) ? a->next_due : SCHEDULE_NEVER;
	st->failures = a->failures;
	st->last_exit = a->last_exit;
	st->last_error = a->last_error;
	st->bytes_24h = schedule_budget_used(a, now_ms);
	st->conns = a->conns.n;
	st->idle_conns = a->conns.idle;
	st->max_conns = a->cap;
	st->interval = (unsigned int)(a->interval_ms / SEC);
}

char *
schedule_status_line(const struct schedule_account *a, uint64_t now_ms)
{
	struct schedule_status	 st;
	char			*next, *line, cap[16];

	schedule_account_status(a, now_ms, &st);
	if (st.next_due_ms == SCHEDULE_NEVER)
		next = xstrdup("-");
	else if (st.next_due_ms <= now_ms)
		next = xstrdup("now");
	else {
		line = schedule_format_duration(st.next_due_ms - now_ms);
		xasprintf(&next, "in %s", line);
		free(line);
	}
	if (st.max_conns == 0)
		snprintf(cap, sizeof cap, "-");
	else
		snprintf(cap, sizeof cap, "%u", st.max_conns);
	xasprintf(&line, "%s: %s, next poll %s, interval %us, %u failure%s, "
	    "last error %s, %llu bytes in 24h, connections %u/%s", a->name,
	    schedule_state_name(st.state), next, st.interval, st.failures,
	    st.failures == 1 ? "" : "s",
	    st.last_error == -1 ? "none" : outcome_word(st.last_error),
	    (unsigned long long)st.bytes_24h, st.conns, cap);
	free(next);
	return (line);
}

const char *
schedule_state_name(enum schedule_state state)
{
	if ((unsigned int)state >= SCHEDULE_STATE_MAX)
		return ("unknown");
	return (schedule_state_names[state]);
}

char *
schedule_format_duration(uint64_t ms)
{
	uint64_t	 secs = ms / SEC + (ms % SEC != 0);
	unsigned long long h, m, sec;
	char		 buf[64];
	size_t		 len = 0;

	h = secs / 3600;
	m = secs / 60 % 60;
	sec = secs % 60;
	buf[0] = '\0';
	if (h != 0)
		len += snprintf(buf + len, sizeof buf - len, "%lluh", h);
	if (m != 0)
		len += snprintf(buf + len, sizeof buf - len, "%s%llum",
		    len != 0 ? " " : "", m);
	if (sec != 0 || len == 0)
		snprintf(buf + len, sizeof buf - len, "%s%llus",
		    len != 0 ? " " : "", sec);
	return (xstrdup(buf));
}

uint64_t
schedule_suspended(const struct schedule_clocks *then,
    const struct schedule_clocks *now)
{
	uint64_t	boot, mono;

	/* Neither clock goes back; a reading that does is not trusted. */
	if (now->boot_ms < then->boot_ms || now->mono_ms < then->mono_ms)
		return (0);
	boot = now->boot_ms - then->boot_ms;
	mono = now->mono_ms - then->mono_ms;
	/* Read in turn, the clocks may disagree by a few milliseconds either
	 * way: unsigned arithmetic must not turn -1 into a long suspend. */
	if (boot <= mono || boot - mono < SCHEDULE_JUMP_MS)
		return (0);
	return (boot - mono);
}
