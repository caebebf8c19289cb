/* test_schedule.c: poll jitter, provider minimum, backoff, server delays,
 * the daily budget and its persisted form, connection caps and the choice
 * of the next due account. Time is a plain variable: nothing sleeps. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "compat.h"
#include "outcome.h"
#include "schedule.h"

#define SEC	1000ULL
#define MIN	(60 * SEC)
#define HOUR	(60 * MIN)
#define T0	(1000 * HOUR)	/* an arbitrary monotonic start */

/* A generator returning a fixed value, to reach the ends of a range. */
static uint64_t
fixed_random(void *arg)
{
	return (*(uint64_t *)arg);
}

static struct schedule_account *
add_account(struct schedule *s, const char *name, unsigned int interval,
    unsigned int min, uint64_t now)
{
	struct schedule_policy	 p;
	struct schedule_account	*a;
	char			*warning;

	memset(&p, 0, sizeof p);
	p.poll_interval = interval;
	p.min_interval = min;
	a = schedule_account_add(s, name, &p, NULL, now, &warning);
	assert_non_null(a);
	free(warning);
	return (a);
}

/* Adds an account polled every 10 minutes with a connection cap (0: none). */
static struct schedule_account *
add_capped(struct schedule *s, const char *name, unsigned int cap)
{
	struct schedule_policy	 p;
	struct schedule_account	*a;

	memset(&p, 0, sizeof p);
	p.poll_interval = 600;
	p.max_conns = cap;
	a = schedule_account_add(s, name, &p, NULL, T0, NULL);
	assert_non_null(a);
	return (a);
}

/* Asks for a poll's connection. */
static enum schedule_conn
get_poll(struct schedule_account *a, const char *host, char **cause)
{
	return (schedule_conn_acquire(a, host, SCHEDULE_CONN_POLL, cause));
}

/* Asks for an IDLE connection. */
static enum schedule_conn
get_idle(struct schedule_account *a, const char *host, char **cause)
{
	return (schedule_conn_acquire(a, host, SCHEDULE_CONN_IDLE, cause));
}

/* Gives a poll's connection back. */
static void
put_poll(struct schedule_account *a, const char *host)
{
	schedule_conn_release(a, host, SCHEDULE_CONN_POLL);
}

/* Gives an IDLE connection back. */
static void
put_idle(struct schedule_account *a, const char *host)
{
	schedule_conn_release(a, host, SCHEDULE_CONN_IDLE);
}

/* One attempt at now with the given exit; returns the delay to the next. */
static uint64_t
attempt(struct schedule_account *a, uint64_t now, int exit, uint64_t bytes)
{
	struct schedule_outcome	 o;
	uint64_t		 due;
	char			*msg;

	memset(&o, 0, sizeof o);
	o.exit = exit;
	o.bytes = bytes;
	assert_int_equal(schedule_begin(a, now, NULL), 0);
	due = schedule_done(a, now, &o, &msg);
	free(msg);
	assert_true(due >= now);
	return (due - now);
}

static void
test_poll_jitter(void **state)
{
	struct schedule		*s;
	struct schedule_account	*a, *b, *c;
	uint64_t		 d, lo = UINT64_MAX, hi = 0, r;
	int			 i;

	(void)state;
	s = schedule_new(NULL, 42);
	a = add_account(s, "a", 600, 0, T0);	/* jitter 30 s, not 60 */
	b = add_account(s, "b", 120, 0, T0);	/* jitter 10%: 12 s */
	c = add_account(s, "c", 600, 600, T0);	/* never under 600 */
	for (i = 0; i < 5000; i++) {
		d = attempt(a, T0, EXIT_NOTHING_NEW, 0);
		assert_in_range(d, 570 * SEC, 630 * SEC);
		if (d < lo)
			lo = d;
		if (d > hi)
			hi = d;
		assert_in_range(attempt(b, T0, EXIT_NEW_MAIL, 0), 108 * SEC,
		    132 * SEC);
		assert_in_range(attempt(c, T0, EXIT_NOTHING_NEW, 0),
		    600 * SEC, 630 * SEC);
	}
	/* The draws really spread over the range. */
	assert_true(lo < 575 * SEC);
	assert_true(hi > 625 * SEC);

	/* The ends are reachable exactly. */
	r = 0;
	schedule_set_random(s, fixed_random, &r);
	assert_int_equal(attempt(a, T0, EXIT_NOTHING_NEW, 0), 570 * SEC);
	r = 60 * SEC;
	assert_int_equal(attempt(a, T0, EXIT_NOTHING_NEW, 0), 630 * SEC);
	/* At the provider minimum the jitter spreads above it, rather than
	 * piling half the draws onto the minimum itself. */
	r = 15 * SEC;
	assert_int_equal(attempt(c, T0, EXIT_NOTHING_NEW, 0), 615 * SEC);
	schedule_free(s);
}

static void
test_provider_minimum(void **state)
{
	struct schedule		*s;
	struct schedule_account	*a;
	struct schedule_policy	 p;
	struct schedule_status	 st;
	char			*warning;
	uint64_t		 r = 0;

	(void)state;
	s = schedule_new(NULL, 1);
	schedule_set_random(s, fixed_random, &r);
	memset(&p, 0, sizeof p);
	p.poll_interval = 60;
	p.min_interval = 600;
	a = schedule_account_add(s, "gmail", &p, NULL, T0, &warning);
	assert_non_null(a);
	assert_non_null(warning);
	assert_non_null(strstr(warning, "gmail"));
	assert_non_null(strstr(warning, "60s"));
	assert_non_null(strstr(warning, "using 600s"));
	free(warning);
	schedule_account_status(a, T0, &st);
	assert_int_equal(st.interval, 600);
	assert_int_equal(attempt(a, T0, EXIT_NOTHING_NEW, 0), 600 * SEC);
	/* Failures too wait the provider's minimum. */
	assert_int_equal(attempt(a, T0, EXIT_NETWORK, 0), 600 * SEC);

	/* Overridden: kept, with a warning that says so. */
	p.override_min = 1;
	schedule_account_set_policy(a, &p, T0, &warning);
	assert_non_null(warning);
	assert_non_null(strstr(warning, "kept"));
	free(warning);
	schedule_account_status(a, T0, &st);
	assert_int_equal(st.interval, 60);
	assert_int_equal(attempt(a, T0, EXIT_NOTHING_NEW, 0), 54 * SEC);

	/* At or above the minimum: no warning. */
	p.override_min = 0;
	p.poll_interval = 900;
	schedule_account_set_policy(a, &p, T0, &warning);
	assert_null(warning);
	assert_null(schedule_account_add(s, "gmail", &p, NULL, T0, &warning));
	schedule_free(s);
}

static void
test_backoff(void **state)
{
	static const unsigned int want[] = { 1, 2, 4, 8, 16, 32, 60, 60, 60 };
	struct schedule		*s;
	struct schedule_account	*a;
	struct schedule_status	 st;
	uint64_t		 base, d, r = 0;
	size_t			 i;
	int			 round;

	(void)state;
	s = schedule_new(NULL, 7);
	a = add_account(s, "a", 300, 0, T0);
	for (round = 0; round < 2; round++) {
		for (i = 0; i < nitems(want); i++) {
			base = want[i] * MIN;
			d = attempt(a, T0, i % 2 ? EXIT_PROTOCOL : EXIT_NETWORK,
			    0);
			assert_in_range(d, base - base / 10, base + base / 10);
			schedule_account_status(a, T0, &st);
			assert_int_equal(st.state, SCHEDULE_BACKOFF);
			assert_int_equal(st.failures, i + 1);
		}
		/* Success resets: a normal poll, then 1 min again. */
		d = attempt(a, T0, EXIT_NEW_MAIL, 100);
		assert_in_range(d, 270 * SEC, 330 * SEC);
		schedule_account_status(a, T0, &st);
		assert_int_equal(st.state, SCHEDULE_IDLE);
		assert_int_equal(st.failures, 0);
		assert_int_equal(st.last_exit, EXIT_NEW_MAIL);
		assert_int_equal(st.last_error, i % 2 ? EXIT_NETWORK :
		    EXIT_PROTOCOL);
	}
	/* The jitter's low end, exactly. */
	schedule_set_random(s, fixed_random, &r);
	assert_int_equal(attempt(a, T0, EXIT_LOCAL, 0), 54 * SEC);
	assert_int_equal(attempt(a, T0, EXIT_PARTIAL, 0), 108 * SEC);
	schedule_free(s);
}

static void
test_auth_backoff(void **state)
{
	static const unsigned int want[] = { 30, 60, 120, 240, 480, 720, 720 };
	struct schedule		*s;
	struct schedule_account	*a;
	struct schedule_outcome	 o;
	uint64_t		 base, d;
	size_t			 i;
	char			*msg;

	(void)state;
	s = schedule_new(NULL, 9);
	a = add_account(s, "work", 300, 0, T0);
	memset(&o, 0, sizeof o);
	o.exit = EXIT_AUTH;
	for (i = 0; i < nitems(want); i++) {
		base = want[i] * MIN;
		assert_int_equal(schedule_begin(a, T0, NULL), 0);
		d = schedule_done(a, T0, &o, &msg) - T0;
		assert_in_range(d, base - base / 10, base + base / 10);
		assert_non_null(msg);
		assert_non_null(strstr(msg, "account work: authentication "
		    "failed"));
		assert_non_null(strstr(msg, "lock the account"));
		free(msg);
	}
	/* A success then a temporary failure: back to the short backoff. */
	attempt(a, T0, EXIT_NOTHING_NEW, 0);
	assert_in_range(attempt(a, T0, EXIT_NETWORK, 0), 54 * SEC, 66 * SEC);
	schedule_free(s);
}

static void
test_server_delay(void **state)
{
	struct schedule		*s;
	struct schedule_account	*a, *b;
	struct schedule_outcome	 o;
	struct schedule_status	 st;
	char			*msg;

	(void)state;
	s = schedule_new(NULL, 3);
	a = add_account(s, "pop", 60, 0, T0);
	memset(&o, 0, sizeof o);

	/* LOGIN-DELAY 900 after a good session: a minimum, not a failure. */
	o.exit = EXIT_NEW_MAIL;
	o.hint = SCHEDULE_HINT_LOGIN_DELAY;
	o.retry_after = 900;
	schedule_begin(a, T0, NULL);
	assert_int_equal(schedule_done(a, T0, &o, &msg), T0 + 900 * SEC);
	assert_null(msg);
	schedule_account_status(a, T0, &st);
	assert_int_equal(st.failures, 0);

	/* [IN-USE] without a number: a failure, at least 5 min. */
	o.exit = EXIT_PROTOCOL;
	o.hint = SCHEDULE_HINT_IN_USE;
	o.retry_after = 0;
	schedule_begin(a, T0, NULL);
	assert_int_equal(schedule_done(a, T0, &o, &msg), T0 + 5 * MIN);
	free(msg);

	/* [UNAVAILABLE] with a longer explicit delay. */
	o.hint = SCHEDULE_HINT_UNAVAILABLE;
	o.retry_after = 7200;
	schedule_begin(a, T0, NULL);
	assert_int_equal(schedule_done(a, T0, &o, &msg), T0 + 7200 * SEC);
	free(msg);
	schedule_account_status(a, T0, &st);
	assert_int_equal(st.state, SCHEDULE_BACKOFF);
	assert_int_equal(st.failures, 2);

	/* A backoff already longer than the request wins. */
	b = add_account(s, "b", 60, 0, T0);
	o.exit = EXIT_AUTH;
	o.hint = SCHEDULE_HINT_LOGIN_DELAY;
	o.retry_after = 60;
	schedule_begin(b, T0, NULL);
	assert_true(schedule_done(b, T0, &o, &msg) >= T0 + 27 * MIN);
	free(msg);
	schedule_free(s);
}

/* A login refused for being busy, as the IMAP session reports it (a
 * refused login, EXIT_AUTH, with the hint): the busy wait and the cap,
 * not the backoff of a wrong password, and the log says when. */
static void
test_busy_login(void **state)
{
	struct schedule		*s;
	struct schedule_account	*a;
	struct schedule_outcome	 o;
	struct schedule_status	 st;
	char			*msg;

	(void)state;
	s = schedule_new(NULL, 3);
	a = add_account(s, "a", 60, 0, T0);
	memset(&o, 0, sizeof o);
	o.exit = EXIT_AUTH;
	o.hint = SCHEDULE_HINT_TOO_MANY_CONNS;
	schedule_begin(a, T0, NULL);
	assert_int_equal(schedule_done(a, T0, &o, &msg), T0 + 5 * MIN);
	assert_non_null(strstr(msg, "using at most 1 from now on"));
	assert_non_null(strstr(msg, "; backing off, next try in 5m"));
	assert_null(strstr(msg, "authentication failed"));
	free(msg);
	schedule_account_status(a, T0, &st);
	assert_int_equal(st.state, SCHEDULE_BACKOFF);
	assert_int_equal(st.failures, 1);
	assert_int_equal(st.max_conns, 1);

	/* IMAP [INUSE] at login: the same wait, nothing logged. */
	o.hint = SCHEDULE_HINT_IN_USE;
	schedule_begin(a, T0, NULL);
	assert_int_equal(schedule_done(a, T0, &o, &msg), T0 + 5 * MIN);
	assert_null(msg);

	/* A plain refusal is still a wrong password. */
	o.hint = SCHEDULE_HINT_NONE;
	schedule_begin(a, T0, NULL);
	assert_true(schedule_done(a, T0, &o, &msg) >= T0 + 27 * MIN);
	assert_non_null(strstr(msg, "authentication failed"));
	free(msg);
	schedule_free(s);
}

/* A reload retries a refused login or a stopped account at once, and
 * only those: not a temporary failure, not a busy server. */
static void
test_retry_on_reload(void **state)
{
	struct schedule		*s;
	struct schedule_account	*a;
	struct schedule_outcome	 o;
	struct schedule_status	 st;
	char			*msg;

	(void)state;
	s = schedule_new(NULL, 3);
	a = add_account(s, "a", 60, 0, T0);
	memset(&o, 0, sizeof o);

	/* Nothing to retry while all is well. */
	assert_int_equal(schedule_account_retry(a, T0), 0);

	/* A wrong password: 30 minutes, then a reload makes it due now. */
	o.exit = EXIT_AUTH;
	schedule_begin(a, T0, NULL);
	assert_true(schedule_done(a, T0, &o, &msg) >= T0 + 27 * MIN);
	free(msg);
	assert_int_equal(schedule_account_retry(a, T0 + MIN), 1);
	schedule_account_status(a, T0 + MIN, &st);
	assert_int_equal(st.state, SCHEDULE_IDLE);
	assert_int_equal(st.failures, 0);
	assert_int_equal(schedule_next_due(s), T0 + MIN);
	/* Once only: a second reload has nothing left to retry. */
	assert_int_equal(schedule_account_retry(a, T0 + MIN), 0);

	/* A busy server is not a refusal: its wait stands. */
	o.hint = SCHEDULE_HINT_TOO_MANY_CONNS;
	schedule_begin(a, T0 + MIN, NULL);
	schedule_done(a, T0 + MIN, &o, &msg);
	free(msg);
	assert_int_equal(schedule_account_retry(a, T0 + 2 * MIN), 0);

	/* Nor is a network failure. */
	o.exit = EXIT_NETWORK;
	o.hint = SCHEDULE_HINT_NONE;
	schedule_begin(a, T0 + 10 * MIN, NULL);
	schedule_done(a, T0 + 10 * MIN, &o, &msg);
	free(msg);
	assert_int_equal(schedule_account_retry(a, T0 + 11 * MIN), 0);

	/* A configuration error stops the account; a reload restarts it. */
	o.exit = EXIT_CONFIG;
	schedule_begin(a, T0 + 20 * MIN, NULL);
	schedule_done(a, T0 + 20 * MIN, &o, &msg);
	free(msg);
	schedule_account_status(a, T0 + 20 * MIN, &st);
	assert_int_equal(st.state, SCHEDULE_STOPPED);
	assert_int_equal(schedule_account_retry(a, T0 + 30 * MIN), 1);
	schedule_account_status(a, T0 + 30 * MIN, &st);
	assert_int_equal(st.state, SCHEDULE_IDLE);
	schedule_free(s);
}

/* A fetch now waits for a refused login's backoff, a wait the server
 * asked for (a delay it named, a busy refusal), the provider minimum and
 * a stop; not for a network backoff. */
static void
test_fetch_allowed(void **state)
{
	struct schedule		*s;
	struct schedule_account	*a, *b;
	struct schedule_outcome	 o;
	uint64_t		 at;
	char			*why, *msg;

	(void)state;
	s = schedule_new(NULL, 5);
	a = add_account(s, "a", 900, 600, T0);	/* a 10-minute minimum */
	b = add_account(s, "b", 60, 0, T0);
	memset(&o, 0, sizeof o);

	/* Never polled: now. */
	assert_int_equal(schedule_fetch_allowed(a, T0, &why), T0);
	assert_null(why);

	/* Within the provider minimum since the last poll. */
	attempt(a, T0, EXIT_NOTHING_NEW, 0);
	at = schedule_fetch_allowed(a, T0 + 3 * MIN, &why);
	assert_int_equal(at, T0 + 10 * MIN);
	assert_non_null(strstr(why, "minimum interval"));
	free(why);
	assert_int_equal(schedule_fetch_allowed(a, T0 + 10 * MIN, &why),
	    T0 + 10 * MIN);
	assert_null(why);

	/* A network failure's backoff does not hold a fetch now back. */
	attempt(b, T0, EXIT_NETWORK, 0);
	assert_int_equal(schedule_fetch_allowed(b, T0 + SEC, &why), T0 + SEC);
	assert_null(why);

	/* A refused login's does, until a reload. */
	at = T0 + 2 * MIN + attempt(b, T0 + 2 * MIN, EXIT_AUTH, 0);
	assert_int_equal(schedule_fetch_allowed(b, T0 + 3 * MIN, &why), at);
	assert_non_null(strstr(why, "login was refused"));
	free(why);
	schedule_account_retry(b, T0 + 4 * MIN);
	assert_int_equal(schedule_fetch_allowed(b, T0 + 4 * MIN, &why),
	    T0 + 4 * MIN);
	assert_null(why);

	/* A delay the server named (LOGIN-DELAY 900), even on success. */
	o.exit = EXIT_NOTHING_NEW;
	o.retry_after = 900;
	schedule_begin(b, T0 + 5 * MIN, NULL);
	schedule_done(b, T0 + 5 * MIN, &o, &msg);
	free(msg);
	assert_int_equal(schedule_fetch_allowed(b, T0 + 6 * MIN, &why),
	    T0 + 20 * MIN);
	assert_non_null(strstr(why, "server asked"));
	free(why);

	/* A login refused as busy ([UNAVAILABLE]): the server asked to
	 * wait, the fetch now waits too, and says so. */
	memset(&o, 0, sizeof o);
	o.exit = EXIT_NETWORK;
	o.hint = SCHEDULE_HINT_UNAVAILABLE;
	schedule_begin(b, T0 + 21 * MIN, NULL);
	at = schedule_done(b, T0 + 21 * MIN, &o, &msg);
	free(msg);
	assert_true(at >= T0 + 26 * MIN);
	assert_int_equal(schedule_fetch_allowed(b, T0 + 22 * MIN, &why), at);
	assert_non_null(strstr(why, "refused the login as busy "
	    "([UNAVAILABLE]) 1m ago"));
	free(why);
	/* A success ends it. */
	schedule_begin(b, at, NULL);
	o.exit = EXIT_NOTHING_NEW;
	o.hint = SCHEDULE_HINT_NONE;
	schedule_done(b, at, &o, &msg);
	free(msg);
	assert_int_equal(schedule_fetch_allowed(b, at + SEC, &why), at + SEC);
	assert_null(why);

	/* A stop: not before a reload. */
	attempt(b, T0 + 30 * MIN, EXIT_CONFIG, 0);
	assert_int_equal(schedule_fetch_allowed(b, T0 + 31 * MIN, &why),
	    SCHEDULE_NEVER);
	assert_non_null(strstr(why, "configuration error"));
	free(why);
	schedule_free(s);
}

static void
test_stop_until_reload(void **state)
{
	struct schedule		*s;
	struct schedule_account	*a;
	struct schedule_policy	 p;
	struct schedule_outcome	 o;
	char			*msg;

	(void)state;
	s = schedule_new(NULL, 3);
	a = add_account(s, "a", 300, 0, T0);
	memset(&o, 0, sizeof o);
	o.exit = EXIT_CONFIG;
	schedule_begin(a, T0, NULL);
	assert_int_equal(schedule_done(a, T0, &o, &msg), SCHEDULE_NEVER);
	assert_non_null(strstr(msg, "reloaded"));
	free(msg);
	assert_int_equal(schedule_next_due(s), SCHEDULE_NEVER);
	memset(&p, 0, sizeof p);
	p.poll_interval = 300;
	schedule_account_set_policy(a, &p, T0 + MIN, NULL);
	assert_int_equal(schedule_next_due(s), T0 + MIN);
	schedule_free(s);
}

/* An account with a daily budget of budget bytes. */
static struct schedule_account *
add_budget_account(struct schedule *s, const char *name, uint64_t budget)
{
	struct schedule_policy	 p;

	memset(&p, 0, sizeof p);
	p.poll_interval = 600;
	p.daily_budget = budget;
	return (schedule_account_add(s, name, &p, NULL, T0, NULL));
}

static void
test_budget(void **state)
{
	struct schedule		*s;
	struct schedule_account	*a;
	struct schedule_outcome	 o;
	struct schedule_status	 st;
	struct schedule_policy	 p;
	uint64_t		 due;
	char			*msg;

	(void)state;
	s = schedule_new(NULL, 5);
	a = add_budget_account(s, "a", 1000);
	assert_int_equal(schedule_budget_left(a, T0), 1000);
	attempt(a, T0, EXIT_NEW_MAIL, 400);
	attempt(a, T0 + 2 * HOUR, EXIT_NEW_MAIL, 400);
	assert_int_equal(schedule_budget_used(a, T0 + 2 * HOUR), 800);
	assert_int_equal(schedule_budget_left(a, T0 + 2 * HOUR), 200);
	assert_int_equal(schedule_budget_resume(a, T0 + 2 * HOUR),
	    T0 + 2 * HOUR);
	/* A poll in progress that downloaded 150 bytes, not yet counted,
	 * may fetch 50 more; one that downloaded more, nothing. */
	assert_int_equal(schedule_budget_room(a, T0 + 2 * HOUR, 150), 50);
	assert_int_equal(schedule_budget_room(a, T0 + 2 * HOUR, 200), 0);
	assert_int_equal(schedule_budget_room(a, T0 + 2 * HOUR, 900), 0);

	/* Over the budget: paused until the first 400 bytes leave. */
	memset(&o, 0, sizeof o);
	o.exit = EXIT_NEW_MAIL;
	o.bytes = 300;
	assert_int_equal(schedule_begin(a, T0 + 3 * HOUR, NULL), 0);
	due = schedule_done(a, T0 + 3 * HOUR, &o, &msg);
	assert_int_equal(due, T0 + 24 * HOUR);
	assert_non_null(msg);
	assert_non_null(strstr(msg, "budget"));
	assert_non_null(strstr(msg, "resuming in 21h"));
	free(msg);
	schedule_account_status(a, T0 + 3 * HOUR, &st);
	assert_int_equal(st.state, SCHEDULE_PAUSED);
	assert_int_equal(st.next_due_ms, T0 + 24 * HOUR);
	assert_int_equal(st.bytes_24h, 1100);
	assert_int_equal(schedule_next_due(s), T0 + 24 * HOUR);

	/* Asking early (--once, fetch-now) is refused with the time. */
	assert_int_equal(schedule_begin(a, T0 + 23 * HOUR, &msg), -1);
	assert_non_null(strstr(msg, "resuming in 1h"));
	free(msg);
	assert_int_equal(schedule_budget_left(a, T0 + 24 * HOUR - 1), 0);

	/* The window slides: 700 bytes left in it, fetching resumes. */
	assert_int_equal(schedule_budget_used(a, T0 + 24 * HOUR), 700);
	assert_int_equal(schedule_begin(a, T0 + 24 * HOUR, &msg), 0);
	assert_null(msg);

	/* A reload raising the budget ends a pause at once. */
	attempt(a, T0 + 24 * HOUR, EXIT_NEW_MAIL, 900);
	assert_int_equal(schedule_next_due(s), T0 + 27 * HOUR);
	memset(&p, 0, sizeof p);
	p.poll_interval = 600;
	p.daily_budget = 5000;
	schedule_account_set_policy(a, &p, T0 + 25 * HOUR, NULL);
	assert_int_equal(schedule_next_due(s), T0 + 25 * HOUR);
	schedule_free(s);
}

static void
test_budget_resume_several(void **state)
{
	struct schedule		*s;
	struct schedule_account	*a, *b;

	(void)state;
	s = schedule_new(NULL, 5);
	a = add_budget_account(s, "a", 1000);
	schedule_budget_add(a, T0, 600);
	schedule_budget_add(a, T0 + 2 * HOUR, 600);
	schedule_budget_add(a, T0 + 4 * HOUR, 600);
	/* Two slots must leave before usage is under 1000. */
	assert_int_equal(schedule_budget_resume(a, T0 + 5 * HOUR),
	    T0 + 26 * HOUR);

	/* Exactly at the budget is still paused: "below" it is needed. */
	b = add_budget_account(s, "exact", 1000);
	schedule_budget_add(b, T0, 100);
	schedule_budget_add(b, T0 + 2 * HOUR, 500);
	schedule_budget_add(b, T0 + 4 * HOUR, 500);
	assert_int_equal(schedule_budget_resume(b, T0 + 5 * HOUR),
	    T0 + 26 * HOUR);
	assert_int_equal(schedule_budget_left(b, T0 + 24 * HOUR), 0);
	assert_int_equal(schedule_budget_left(b, T0 + 26 * HOUR), 500);

	/* Bytes within an hour share a slot that expires with the newest:
	 * never earlier than the truth. Memory stays bounded. */
	b = add_budget_account(s, "b", 0);
	schedule_budget_add(b, T0, 100);
	schedule_budget_add(b, T0 + 30 * MIN, 100);
	assert_int_equal(schedule_budget_used(b, T0 + 24 * HOUR + 1), 200);
	assert_int_equal(schedule_budget_used(b, T0 + 24 * HOUR + 30 * MIN),
	    0);
	assert_int_equal(schedule_budget_left(b, T0), UINT64_MAX);
	schedule_free(s);
}

static void
test_budget_persist(void **state)
{
	struct schedule		*s;
	struct schedule_account	*a, *b;
	char			*text, *again, *cause;
	const int64_t		 wall = 1700000000;
	uint64_t		 boot = 5 * SEC;
	uint64_t		 m;

	(void)state;
	s = schedule_new(NULL, 5);
	a = add_budget_account(s, "a", 1000);
	b = add_budget_account(s, "b", 1000);
	text = schedule_budget_format(a, T0, wall);
	assert_string_equal(text, "");
	free(text);

	schedule_budget_add(a, T0, 600);
	schedule_budget_add(a, T0 + 2 * HOUR, 300);
	schedule_budget_add(a, T0 + 4 * HOUR + 500, 200);
	text = schedule_budget_format(a, T0 + 5 * HOUR, wall);
	assert_string_equal(text, "1699982000:600,1699989200:300,"
	    "1699996401:200");

	/* Restart an hour later, 5 s after boot: the monotonic clock is
	 * younger than the history. */
	assert_int_equal(schedule_budget_parse(b, text, boot, wall + 3600,
	    &cause), 0);
	assert_int_equal(schedule_budget_used(b, boot), 1100);
	/* The first slot leaves 24 h after it was taken: in 18 h. */
	assert_int_equal(schedule_budget_resume(b, boot), boot + 18 * HOUR);
	again = schedule_budget_format(b, boot, wall + 3600);
	assert_string_equal(again, text);
	free(again);
	free(text);

	/* Too old entries are dropped, future ones count as now. */
	assert_int_equal(schedule_budget_parse(b, "1600000000:5,1699990000:7,"
	    "1800000000:9", boot, wall, &cause), 0);
	assert_int_equal(schedule_budget_used(b, boot), 16);
	text = schedule_budget_format(b, boot, wall);
	assert_string_equal(text, "1699990000:7,1700000000:9");
	free(text);

	/* Many entries merge into hour slots: bounded memory. */
	text = NULL;
	for (m = 0; m < 1440; m++) {
		again = text;
		if (asprintf(&text, "%s%s%lld:1", again == NULL ? "" : again,
		    again == NULL ? "" : ",",
		    (long long)(wall - 86399 + (int64_t)m * 60)) == -1)
			fail();
		free(again);
	}
	assert_int_equal(schedule_budget_parse(b, text, boot, wall, &cause),
	    0);
	free(text);
	assert_int_equal(schedule_budget_used(b, boot), 1440);
	text = schedule_budget_format(b, boot, wall);
	assert_true(strlen(text) < 26 * 20);
	free(text);
	schedule_free(s);
}

static void
test_budget_parse_bad(void **state)
{
	static const char *bad[] = {
		"abc", "1", "1:", ":5", "1:2,", "1:2,,3:4", "1:2x", "-1:2",
		" 1:2", "1:2 ", "1:-2", "2:1,1:1", "1:2;3:4", "1:2:3",
		"99999999999999999999:1", "1:99999999999999999999",
		"9223372036854775808:1",
	};
	struct schedule		*s;
	struct schedule_account	*a;
	char			*cause;
	size_t			 i;

	(void)state;
	s = schedule_new(NULL, 5);
	a = add_budget_account(s, "a", 1000);
	schedule_budget_add(a, T0, 123);
	for (i = 0; i < nitems(bad); i++) {
		cause = NULL;
		assert_int_equal(schedule_budget_parse(a, bad[i], T0,
		    1700000000, &cause), -1);
		assert_non_null(cause);
		assert_non_null(strstr(cause, "budget history"));
		free(cause);
		/* Unchanged on error. */
		assert_int_equal(schedule_budget_used(a, T0), 123);
	}
	schedule_free(s);
}

static void
test_conn_caps(void **state)
{
	struct schedule_limits	 limits = { 3, 2 };
	struct schedule		*s;
	struct schedule_account	*a, *b;
	struct schedule_status	 st;
	char			*cause;

	(void)state;
	assert_int_equal(schedule_account_cap(15, 0), 10);
	assert_int_equal(schedule_account_cap(15, 12), 12);
	assert_int_equal(schedule_account_cap(0, 0), 0);
	assert_int_equal(schedule_account_cap(1, 0), 1);
	assert_int_equal(schedule_account_cap(2, 0), 1);
	assert_int_equal(schedule_account_cap(3, 0), 2);

	s = schedule_new(&limits, 5);
	a = add_capped(s, "a", 2);
	b = add_capped(s, "b", 0);

	assert_int_equal(get_poll(a, "h1", &cause),
	    SCHEDULE_CONN_GRANTED);
	assert_null(cause);
	assert_int_equal(get_poll(a, "h1", NULL),
	    SCHEDULE_CONN_GRANTED);
	/* The account's cap, reported once. */
	assert_int_equal(get_poll(a, "h2", &cause),
	    SCHEDULE_CONN_DENIED_FIRST);
	assert_non_null(strstr(cause, "the account's limit of 2"));
	free(cause);
	assert_int_equal(get_poll(a, "h2", &cause),
	    SCHEDULE_CONN_DENIED);
	free(cause);
	/* The per-host cap: h1 holds 2 already. */
	assert_int_equal(get_poll(b, "h1", &cause),
	    SCHEDULE_CONN_DENIED_FIRST);
	assert_non_null(strstr(cause, "per-host limit of 2"));
	free(cause);
	assert_int_equal(get_poll(b, "h2", NULL),
	    SCHEDULE_CONN_GRANTED);
	/* The global cap: 3 held. */
	assert_int_equal(get_poll(b, "h3", &cause),
	    SCHEDULE_CONN_DENIED_FIRST);
	assert_non_null(strstr(cause, "global limit of 3"));
	free(cause);
	assert_int_equal(get_poll(b, "h3", NULL),
	    SCHEDULE_CONN_DENIED);

	/* Releasing frees both the host and the global slot. */
	put_poll(a, "h1");
	put_poll(a, "nowhere");	/* not held: ignored */
	put_poll(b, "h1");		/* not b's: ignored */
	schedule_account_status(a, T0, &st);
	assert_int_equal(st.conns, 1);
	assert_int_equal(get_poll(b, "h1", NULL),
	    SCHEDULE_CONN_GRANTED);
	assert_int_equal(get_poll(b, "h3", NULL),
	    SCHEDULE_CONN_DENIED);

	/* Removing an account gives its connections back. */
	schedule_account_remove(b);
	assert_int_equal(get_poll(a, "h1", NULL),
	    SCHEDULE_CONN_GRANTED);
	schedule_account_status(a, T0, &st);
	assert_int_equal(st.conns, 2);
	schedule_free(s);
}

static void
test_conn_alert(void **state)
{
	struct schedule_policy	 p;
	struct schedule		*s;
	struct schedule_account	*a, *b;
	struct schedule_outcome	 o;
	struct schedule_status	 st;
	uint64_t		 due;
	char			*msg;
	int			 i;

	(void)state;
	s = schedule_new(NULL, 5);
	memset(&p, 0, sizeof p);
	p.poll_interval = 600;
	p.max_conns = 3;
	a = schedule_account_add(s, "a", &p, NULL, T0, NULL);
	for (i = 0; i < 3; i++)
		assert_int_equal(get_poll(a, "imap.example", NULL),
		    SCHEDULE_CONN_GRANTED);
	assert_int_equal(get_poll(a, "imap.example", NULL),
	    SCHEDULE_CONN_DENIED_FIRST);

	memset(&o, 0, sizeof o);
	o.exit = EXIT_PROTOCOL;
	o.hint = SCHEDULE_HINT_TOO_MANY_CONNS;
	schedule_begin(a, T0, NULL);
	due = schedule_done(a, T0, &o, &msg);
	assert_non_null(strstr(msg, "too many simultaneous connections"));
	assert_non_null(strstr(msg, "at most 2"));
	free(msg);
	assert_true(due >= T0 + 5 * MIN);
	schedule_account_status(a, T0, &st);
	assert_int_equal(st.max_conns, 2);
	assert_int_equal(st.state, SCHEDULE_BACKOFF);
	/* The lowered cap is reported afresh. */
	put_poll(a, "imap.example");
	assert_int_equal(get_poll(a, "imap.example", NULL),
	    SCHEDULE_CONN_DENIED_FIRST);

	/* Down to 1, never 0 (which would mean no cap at all). */
	for (i = 0; i < 3; i++) {
		free(schedule_conn_too_many(a, T0));
		schedule_account_status(a, T0, &st);
		assert_int_equal(st.max_conns, 1);
	}
	assert_int_equal(st.failures, 4);
	assert_true(st.next_due_ms >= T0 + 5 * MIN);

	/* Reload restores the configured cap. */
	schedule_account_set_policy(a, &p, T0, NULL);
	schedule_account_status(a, T0, &st);
	assert_int_equal(st.max_conns, 3);

	/* No cap configured: one below what it held. */
	p.max_conns = 0;
	b = schedule_account_add(s, "b", &p, NULL, T0, NULL);
	for (i = 0; i < 4; i++)
		get_poll(b, "imap.example", NULL);
	free(schedule_conn_too_many(b, T0));
	schedule_account_status(b, T0, &st);
	assert_int_equal(st.max_conns, 3);
	schedule_free(s);
}

/* IDLE takes at most all but one slot of each cap; a poll gets the one
 * left; each kind's first denial is reported once. */
static void
test_conn_idle_reserve(void **state)
{
	struct schedule_limits	 limits = { 0, 2 };
	struct schedule		*s;
	struct schedule_account	*a, *b;
	struct schedule_status	 st;
	char			*cause;

	(void)state;
	s = schedule_new(&limits, 5);
	a = add_capped(s, "a", 3);
	b = add_capped(s, "b", 0);

	/* The account's cap of 3: two IDLE, not three. */
	assert_int_equal(get_idle(a, "h1", NULL), SCHEDULE_CONN_GRANTED);
	assert_int_equal(get_idle(a, "h2", NULL), SCHEDULE_CONN_GRANTED);
	assert_int_equal(get_idle(a, "h3", &cause),
	    SCHEDULE_CONN_DENIED_FIRST);
	assert_string_equal(cause, "account a: no new IDLE connection to h3: "
	    "the account's limit of 3 connections keeps one free for polls");
	free(cause);
	assert_int_equal(get_idle(a, "h3", NULL), SCHEDULE_CONN_DENIED);
	/* The slot left is the poll's; its own denial is new to the log. */
	assert_int_equal(get_poll(a, "h3", NULL), SCHEDULE_CONN_GRANTED);
	assert_int_equal(get_poll(a, "h3", &cause),
	    SCHEDULE_CONN_DENIED_FIRST);
	assert_non_null(strstr(cause, "account's limit of 3 connections "
	    "reached"));
	free(cause);
	/* Full: IDLE is refused as "reached" now, still not first. */
	assert_int_equal(get_idle(a, "h3", &cause), SCHEDULE_CONN_DENIED);
	assert_non_null(strstr(cause, "limit of 3 connections reached"));
	free(cause);
	schedule_account_status(a, T0, &st);
	assert_int_equal(st.conns, 3);
	assert_int_equal(st.idle_conns, 2);

	/* The per-host cap of 2: a's IDLE on h1 leaves b no IDLE there,
	 * but a poll. */
	assert_int_equal(get_idle(b, "h1", &cause),
	    SCHEDULE_CONN_DENIED_FIRST);
	assert_non_null(strstr(cause, "per-host limit of 2 connections keeps "
	    "one free for polls"));
	free(cause);
	assert_int_equal(get_poll(b, "h1", NULL), SCHEDULE_CONN_GRANTED);
	assert_int_equal(get_poll(b, "h1", NULL), SCHEDULE_CONN_DENIED_FIRST);
	/* Once that poll ends, the next poll gets the slot, IDLE never. */
	put_poll(b, "h1");
	assert_int_equal(get_idle(b, "h1", NULL), SCHEDULE_CONN_DENIED);
	assert_int_equal(get_poll(b, "h1", NULL), SCHEDULE_CONN_GRANTED);
	put_poll(b, "h1");

	/* Release accounting: a kind not held is ignored. */
	put_poll(a, "h1");		/* h1 holds a's IDLE only */
	put_idle(a, "h3");		/* h3 holds a's poll only */
	put_idle(b, "h1");		/* not b's */
	schedule_account_status(a, T0, &st);
	assert_int_equal(st.conns, 3);
	assert_int_equal(st.idle_conns, 2);
	assert_int_equal(get_idle(b, "h1", NULL), SCHEDULE_CONN_DENIED);
	put_idle(a, "h1");
	schedule_account_status(a, T0, &st);
	assert_int_equal(st.conns, 2);
	assert_int_equal(st.idle_conns, 1);
	assert_int_equal(get_idle(b, "h1", NULL), SCHEDULE_CONN_GRANTED);
	put_poll(a, "h3");
	schedule_account_status(a, T0, &st);
	assert_int_equal(st.conns, 1);
	assert_int_equal(st.idle_conns, 1);

	/* Removing b gives its IDLE connection back to the host. */
	schedule_account_remove(b);
	assert_int_equal(get_idle(a, "h1", NULL), SCHEDULE_CONN_GRANTED);
	schedule_free(s);
}

/* A cap of 1 (any level) leaves IDLE nothing, a poll everything. */
static void
test_conn_idle_cap_one(void **state)
{
	struct schedule_limits	 limits = { 1, 0 };
	struct schedule_policy	 p;
	struct schedule		*s;
	struct schedule_account	*a;
	char			*cause;

	(void)state;
	s = schedule_new(&limits, 5);
	memset(&p, 0, sizeof p);
	p.poll_interval = 600;
	a = schedule_account_add(s, "a", &p, NULL, T0, NULL);
	assert_int_equal(get_idle(a, "h", &cause), SCHEDULE_CONN_DENIED_FIRST);
	assert_string_equal(cause, "account a: no new IDLE connection to h: "
	    "the global limit of 1 connection keeps it free for polls");
	free(cause);
	assert_int_equal(get_poll(a, "h", NULL), SCHEDULE_CONN_GRANTED);

	limits.max_conns = 0;
	limits.max_conns_host = 1;
	schedule_set_limits(s, &limits);
	put_poll(a, "h");
	assert_int_equal(get_idle(a, "h", &cause), SCHEDULE_CONN_DENIED_FIRST);
	assert_non_null(strstr(cause, "per-host limit of 1 connection keeps "
	    "it free"));
	free(cause);
	/* Every host has that limit; the denial was reported already. */
	assert_int_equal(get_idle(a, "other", NULL), SCHEDULE_CONN_DENIED);
	assert_int_equal(get_poll(a, "other", NULL), SCHEDULE_CONN_GRANTED);

	schedule_set_limits(s, NULL);
	p.max_conns = 1;
	schedule_account_set_policy(a, &p, T0, NULL);
	assert_int_equal(get_idle(a, "h", NULL), SCHEDULE_CONN_DENIED_FIRST);
	schedule_free(s);
}

/* Random acquires and releases of both kinds over three accounts and two
 * hosts, against a model: IDLE never holds the last slot of a capped
 * level, nothing exceeds a cap, and a poll is granted whenever no other
 * poll holds a slot it needs. */
static void
test_conn_idle_model(void **state)
{
	struct schedule_limits	 limits = { 5, 3 };
	struct schedule		*s;
	struct schedule_account	*acct[3];
	static const char	*hosts[2] = { "h0", "h1" };
	static const unsigned int caps[3] = { 0, 2, 1 };
	/* held[account][host][kind] */
	unsigned int		 held[3][2][2], n, idle, pn, hn[2], hi[2];
	unsigned int		 an[3], ai[3], hp[2], ap[3];
	uint64_t		 x = 42;
	enum schedule_conn	 rc;
	int			 i, k, h, kind, fits, step, grants = 0;

	(void)state;
	s = schedule_new(&limits, 5);
	for (i = 0; i < 3; i++)
		acct[i] = add_capped(s, i == 0 ? "a0" : i == 1 ? "a1" : "a2",
		    caps[i]);
	memset(held, 0, sizeof held);
	for (step = 0; step < 20000; step++) {
		x = x * 6364136223846793005ULL + 1442695040888963407ULL;
		i = (int)((x >> 33) % 3);
		h = (int)((x >> 40) % 2);
		kind = (int)((x >> 45) % 2);
		/* Totals at each level, from the model. */
		n = idle = pn = 0;
		memset(hn, 0, sizeof hn);
		memset(hi, 0, sizeof hi);
		memset(hp, 0, sizeof hp);
		memset(an, 0, sizeof an);
		memset(ai, 0, sizeof ai);
		memset(ap, 0, sizeof ap);
		for (k = 0; k < 6; k++) {
			unsigned int p0 = held[k / 2][k % 2][0];
			unsigned int i0 = held[k / 2][k % 2][1];

			n += p0 + i0;
			idle += i0;
			pn += p0;
			hn[k % 2] += p0 + i0;
			hi[k % 2] += i0;
			hp[k % 2] += p0;
			an[k / 2] += p0 + i0;
			ai[k / 2] += i0;
			ap[k / 2] += p0;
		}
		/* The invariants. */
		assert_true(n <= limits.max_conns);
		assert_true(idle < limits.max_conns);
		for (k = 0; k < 2; k++) {
			assert_true(hn[k] <= limits.max_conns_host);
			assert_true(hi[k] < limits.max_conns_host);
		}
		for (k = 0; k < 3; k++) {
			if (caps[k] == 0)
				continue;
			assert_true(an[k] <= caps[k]);
			assert_true(ai[k] < caps[k]);
		}
		if ((x >> 50) % 3 == 0) {
			/* Release one of that kind, if held. */
			schedule_conn_release(acct[i], hosts[h],
			    (enum schedule_conn_kind)kind);
			if (held[i][h][kind] > 0)
				held[i][h][kind]--;
			continue;
		}
		if (kind == SCHEDULE_CONN_POLL && pn == 0)
			fits = 1;	/* no poll anywhere: must be granted */
		else if (kind == SCHEDULE_CONN_POLL && hp[h] == 0 &&
		    ap[i] == 0 && n < limits.max_conns)
			fits = 1;	/* h and i free of polls: the same */
		else {
			fits = n < limits.max_conns &&
			    hn[h] < limits.max_conns_host &&
			    (caps[i] == 0 || an[i] < caps[i]);
			if (kind == SCHEDULE_CONN_IDLE)
				fits = fits && idle + 1 < limits.max_conns &&
				    hi[h] + 1 < limits.max_conns_host &&
				    (caps[i] == 0 || ai[i] + 1 < caps[i]);
		}
		/* The side-effect-free check agrees with the grant. */
		assert_int_equal(schedule_conn_fits(acct[i], hosts[h],
		    (enum schedule_conn_kind)kind), fits);
		rc = schedule_conn_acquire(acct[i], hosts[h],
		    (enum schedule_conn_kind)kind, NULL);
		assert_int_equal(rc == SCHEDULE_CONN_GRANTED, fits);
		if (rc == SCHEDULE_CONN_GRANTED) {
			held[i][h][kind]++;
			grants++;
		}
	}
	assert_true(grants > 1000);
	schedule_free(s);
}

/* A lowered cap ([ALERT], reload) below the IDLE connections held: the
 * scheduler points out each one to give up until they fit again. */
static void
test_conn_idle_lowered(void **state)
{
	struct schedule_limits	 limits = { 0, 4 };
	struct schedule_policy	 p;
	struct schedule		*s;
	struct schedule_account	*a, *b;
	struct schedule_status	 st;
	int			 i;

	(void)state;
	s = schedule_new(&limits, 5);
	a = add_capped(s, "a", 4);
	b = add_capped(s, "b", 0);
	for (i = 0; i < 3; i++)
		assert_int_equal(get_idle(a, "h", NULL), SCHEDULE_CONN_GRANTED);
	assert_int_equal(get_idle(b, "other", NULL), SCHEDULE_CONN_GRANTED);
	assert_false(schedule_conn_idle_over(a, "h"));
	assert_false(schedule_conn_idle_over(b, "other"));

	/* [ALERT]: the account's cap 4 -> 3 leaves IDLE 2 of the 3. */
	free(schedule_conn_too_many(a, T0));
	assert_true(schedule_conn_idle_over(a, "h"));
	assert_false(schedule_conn_idle_over(a, "other"));	/* none there */
	assert_false(schedule_conn_idle_over(b, "other"));
	/* Given up: it logs out as a poll's connection, IDLE fits again. */
	schedule_conn_demote(a, "h");
	assert_false(schedule_conn_idle_over(a, "h"));
	schedule_account_status(a, T0, &st);
	assert_int_equal(st.conns, 3);
	assert_int_equal(st.idle_conns, 2);
	/* While it logs out, the cap is full: no poll, no IDLE. */
	assert_int_equal(get_poll(a, "h", NULL), SCHEDULE_CONN_DENIED_FIRST);
	put_poll(a, "h");
	assert_int_equal(get_poll(a, "h", NULL), SCHEDULE_CONN_GRANTED);
	assert_int_equal(get_idle(a, "h", NULL), SCHEDULE_CONN_DENIED_FIRST);
	put_poll(a, "h");

	/* Down to 1: no IDLE at all. */
	free(schedule_conn_too_many(a, T0));
	free(schedule_conn_too_many(a, T0));
	schedule_account_status(a, T0, &st);
	assert_int_equal(st.max_conns, 1);
	for (i = 0; i < 2; i++) {
		assert_true(schedule_conn_idle_over(a, "h"));
		schedule_conn_demote(a, "h");
		put_poll(a, "h");
	}
	assert_false(schedule_conn_idle_over(a, "h"));
	schedule_account_status(a, T0, &st);
	assert_int_equal(st.conns, 0);
	assert_int_equal(get_poll(a, "h", NULL), SCHEDULE_CONN_GRANTED);
	schedule_conn_demote(a, "h");	/* no IDLE held: ignored */
	schedule_account_status(a, T0, &st);
	assert_int_equal(st.conns, 1);
	put_poll(a, "h");

	/* A reload lowering the per-host cap: only that host's IDLE. */
	memset(&p, 0, sizeof p);
	p.poll_interval = 600;
	schedule_account_set_policy(a, &p, T0, NULL);	/* no account cap */
	for (i = 0; i < 3; i++)
		assert_int_equal(get_idle(a, "h", NULL), SCHEDULE_CONN_GRANTED);
	limits.max_conns_host = 3;
	schedule_set_limits(s, &limits);
	assert_true(schedule_conn_idle_over(a, "h"));
	assert_false(schedule_conn_idle_over(b, "other"));
	schedule_conn_demote(a, "h");
	assert_false(schedule_conn_idle_over(a, "h"));
	/* And the global one: 2 IDLE on h, 1 on other, limit 3. */
	limits.max_conns = 3;
	schedule_set_limits(s, &limits);
	assert_true(schedule_conn_idle_over(a, "h"));
	assert_true(schedule_conn_idle_over(b, "other"));
	schedule_conn_demote(b, "other");
	assert_false(schedule_conn_idle_over(a, "h"));
	schedule_free(s);
}

/* One attempt from begin_ms to end_ms, which made no connection when
 * no_conn; returns the next due time. */
static uint64_t
attempt_at(struct schedule_account *a, uint64_t begin_ms, uint64_t end_ms,
    int exit, int no_conn)
{
	struct schedule_outcome	 o;
	uint64_t		 due;
	char			*msg;

	memset(&o, 0, sizeof o);
	o.exit = exit;
	o.no_conn = no_conn;
	assert_int_equal(schedule_begin(a, begin_ms, NULL), 0);
	due = schedule_done(a, end_ms, &o, &msg);
	free(msg);
	return (due);
}

/* A folder left to the polls is polled soon: at once, or at the provider
 * minimum after the last poll that reached the server; after the poll in
 * progress; never earlier than a backoff, a pause or a stop allow. */
static void
test_poll_soon(void **state)
{
	struct schedule_policy	 p;
	struct schedule		*s;
	struct schedule_account	*a, *g;
	struct schedule_outcome	 o;
	struct schedule_status	 st;
	uint64_t		 r = 0, due;

	(void)state;
	s = schedule_new(NULL, 9);
	schedule_set_random(s, fixed_random, &r);
	/* No provider minimum: now. */
	a = add_account(s, "a", 3600, 0, T0);
	assert_int_equal(schedule_poll_soon(a, T0), T0);	/* due anyway */
	due = attempt_at(a, T0, T0 + 5 * SEC, EXIT_NOTHING_NEW, 0);
	assert_true(due >= T0 + 50 * MIN);
	assert_int_equal(schedule_poll_soon(a, T0 + 20 * SEC), T0 + 20 * SEC);
	assert_int_equal(schedule_next_due(s), T0 + 20 * SEC);
	/* Never later than it already was. */
	assert_int_equal(schedule_poll_soon(a, T0 + 30 * SEC), T0 + 20 * SEC);

	/* A provider minimum of 10 min: counted from the last poll's end. */
	g = add_account(s, "g", 3600, 600, T0);
	due = attempt_at(g, T0, T0 + 5 * SEC, EXIT_NEW_MAIL, 0);
	assert_true(due >= T0 + 50 * MIN);
	assert_int_equal(schedule_poll_soon(g, T0 + 60 * SEC),
	    T0 + 605 * SEC);
	/* An attempt that made no connection (every folder IDLE) is no
	 * poll of the server: the minimum still counts from the last one. */
	due = attempt_at(g, T0 + 605 * SEC, T0 + 605 * SEC, EXIT_NOTHING_NEW,
	    1);
	assert_true(due >= T0 + 605 * SEC + 50 * MIN);
	assert_int_equal(schedule_poll_soon(g, T0 + 700 * SEC),
	    T0 + 700 * SEC);
	due = attempt_at(g, T0 + 700 * SEC, T0 + 701 * SEC, EXIT_NOTHING_NEW,
	    0);
	assert_int_equal(schedule_poll_soon(g, T0 + 1000 * SEC),
	    T0 + 1301 * SEC);
	assert_int_equal(schedule_poll_soon(g, T0 + 2000 * SEC),
	    T0 + 1301 * SEC);

	/* During a poll (which left the folder out): the next one follows
	 * as soon as the minimum allows, once. */
	assert_int_equal(schedule_begin(g, T0 + 2000 * SEC, NULL), 0);
	assert_int_equal(schedule_poll_soon(g, T0 + 2001 * SEC),
	    SCHEDULE_NEVER);
	memset(&o, 0, sizeof o);
	o.exit = EXIT_NEW_MAIL;
	assert_int_equal(schedule_done(g, T0 + 2010 * SEC, &o, NULL),
	    T0 + 2610 * SEC);
	due = attempt_at(g, T0 + 2610 * SEC, T0 + 2611 * SEC, EXIT_NEW_MAIL,
	    0);
	assert_true(due >= T0 + 2611 * SEC + 50 * MIN);
	/* Without a minimum: right after. */
	assert_int_equal(schedule_begin(a, T0 + 100 * SEC, NULL), 0);
	schedule_poll_soon(a, T0 + 101 * SEC);
	assert_int_equal(schedule_done(a, T0 + 110 * SEC, &o, NULL),
	    T0 + 110 * SEC);

	/* A failed poll backs off as usual, and forgets the request (the
	 * poll after the backoff takes the folder). */
	assert_int_equal(schedule_begin(a, T0 + 200 * SEC, NULL), 0);
	schedule_poll_soon(a, T0 + 201 * SEC);
	o.exit = EXIT_NETWORK;
	due = schedule_done(a, T0 + 210 * SEC, &o, NULL);
	assert_true(due >= T0 + 210 * SEC + 54 * SEC);
	assert_int_equal(schedule_poll_soon(a, T0 + 220 * SEC), due);
	schedule_account_status(a, T0 + 220 * SEC, &st);
	assert_int_equal(st.state, SCHEDULE_BACKOFF);
	assert_int_equal(st.next_due_ms, due);
	o.exit = EXIT_NOTHING_NEW;
	due = attempt_at(a, due, due + SEC, EXIT_NOTHING_NEW, 0);
	assert_true(due >= T0 + 50 * MIN);

	/* A stop waits for the reload; a pause for the budget. */
	o.exit = EXIT_CONFIG;
	assert_int_equal(schedule_begin(a, T0 + HOUR, NULL), 0);
	schedule_done(a, T0 + HOUR, &o, NULL);
	assert_int_equal(schedule_poll_soon(a, T0 + HOUR), SCHEDULE_NEVER);
	memset(&p, 0, sizeof p);
	p.poll_interval = 3600;
	p.daily_budget = 1000;
	schedule_account_set_policy(a, &p, T0 + HOUR, NULL);
	assert_int_equal(schedule_begin(a, T0 + HOUR, NULL), 0);
	o.exit = EXIT_NEW_MAIL;
	o.bytes = 5000;
	due = schedule_done(a, T0 + HOUR, &o, NULL);
	schedule_account_status(a, T0 + HOUR, &st);
	assert_int_equal(st.state, SCHEDULE_PAUSED);
	assert_int_equal(schedule_poll_soon(a, T0 + HOUR + SEC), due);
	assert_true(due >= T0 + HOUR + 23 * HOUR);
	schedule_free(s);
}

/* A reload gives back the cap [ALERT]s lowered, even to an account it
 * leaves as it was; the lowered cap's denials are reported afresh. */
static void
test_conn_reset_cap(void **state)
{
	struct schedule_policy	 p;
	struct schedule		*s;
	struct schedule_account	*a, *b;
	struct schedule_status	 st;
	char			*msg;
	int			 i;

	(void)state;
	s = schedule_new(NULL, 3);
	a = add_capped(s, "a", 3);
	assert_int_equal(schedule_account_reset_cap(a), 0);
	msg = schedule_conn_too_many(a, T0);
	assert_non_null(strstr(msg, "at most 2 from now on (until reload)"));
	free(msg);
	free(schedule_conn_too_many(a, T0));
	schedule_account_status(a, T0, &st);
	assert_int_equal(st.max_conns, 1);
	assert_int_equal(get_poll(a, "h", NULL), SCHEDULE_CONN_GRANTED);
	assert_int_equal(get_poll(a, "h", NULL), SCHEDULE_CONN_DENIED_FIRST);
	assert_int_equal(get_poll(a, "h", NULL), SCHEDULE_CONN_DENIED);
	assert_false(schedule_conn_fits(a, "h", SCHEDULE_CONN_POLL));

	assert_int_equal(schedule_account_reset_cap(a), 1);
	schedule_account_status(a, T0, &st);
	assert_int_equal(st.max_conns, 3);
	assert_int_equal(st.conns, 1);		/* held ones are kept */
	assert_int_equal(schedule_account_reset_cap(a), 0);
	assert_true(schedule_conn_fits(a, "h", SCHEDULE_CONN_IDLE));
	assert_int_equal(get_idle(a, "h", NULL), SCHEDULE_CONN_GRANTED);
	assert_int_equal(get_idle(a, "h", NULL), SCHEDULE_CONN_GRANTED);
	assert_int_equal(get_poll(a, "h", NULL), SCHEDULE_CONN_DENIED_FIRST);
	/* The backoff the [ALERT] set keeps its time. */
	schedule_account_status(a, T0, &st);
	assert_int_equal(st.state, SCHEDULE_BACKOFF);
	assert_true(st.next_due_ms >= T0 + 5 * MIN);

	/* No cap configured: back to none. */
	memset(&p, 0, sizeof p);
	p.poll_interval = 600;
	b = schedule_account_add(s, "b", &p, NULL, T0, NULL);
	for (i = 0; i < 3; i++)
		get_poll(b, "h", NULL);
	free(schedule_conn_too_many(b, T0));
	schedule_account_status(b, T0, &st);
	assert_int_equal(st.max_conns, 2);
	assert_int_equal(schedule_account_reset_cap(b), 1);
	schedule_account_status(b, T0, &st);
	assert_int_equal(st.max_conns, 0);
	assert_int_equal(get_poll(b, "h", NULL), SCHEDULE_CONN_GRANTED);
	schedule_free(s);
}

/* An IDLE refused because polls filled a cap fits again once a poll
 * ends; the check records no denial (the caller asks it on every release
 * and only then acquires, so nothing is refused or logged in between). */
static void
test_conn_fits_after_poll(void **state)
{
	struct schedule_limits	 limits = { 0, 3 };
	struct schedule		*s;
	struct schedule_account	*a, *b;

	(void)state;
	s = schedule_new(&limits, 4);
	a = add_capped(s, "a", 0);
	b = add_capped(s, "b", 0);
	assert_int_equal(get_idle(a, "h", NULL), SCHEDULE_CONN_GRANTED);
	assert_int_equal(get_poll(a, "h", NULL), SCHEDULE_CONN_GRANTED);
	assert_int_equal(get_poll(b, "h", NULL), SCHEDULE_CONN_GRANTED);
	/* Polls fill the host: b's IDLE does not fit, a poll neither. */
	assert_false(schedule_conn_fits(b, "h", SCHEDULE_CONN_IDLE));
	assert_false(schedule_conn_fits(b, "h", SCHEDULE_CONN_POLL));
	assert_false(schedule_conn_fits(b, "h", SCHEDULE_CONN_IDLE));
	/* Asking recorded nothing: the first real denial is still first. */
	assert_int_equal(get_idle(b, "h", NULL), SCHEDULE_CONN_DENIED_FIRST);
	assert_int_equal(get_idle(b, "h", NULL), SCHEDULE_CONN_DENIED);
	/* Another host is not this one's business. */
	assert_true(schedule_conn_fits(b, "other", SCHEDULE_CONN_IDLE));
	/* A poll ends: room for IDLE (2 of 3, one left for the polls). */
	put_poll(a, "h");
	assert_true(schedule_conn_fits(b, "h", SCHEDULE_CONN_IDLE));
	assert_int_equal(get_idle(b, "h", NULL), SCHEDULE_CONN_GRANTED);
	/* The next poll ending leaves no room for a third IDLE. */
	put_poll(b, "h");
	assert_false(schedule_conn_fits(a, "h", SCHEDULE_CONN_IDLE));
	assert_true(schedule_conn_fits(a, "h", SCHEDULE_CONN_POLL));
	schedule_free(s);
}

static void
test_next_due(void **state)
{
	struct schedule		*s;
	struct schedule_account	*a, *b, *c, *out[3];
	uint64_t		 da, db, dc, r = 0;

	(void)state;
	s = schedule_new(NULL, 11);
	assert_int_equal(schedule_next_due(s), SCHEDULE_NEVER);
	assert_int_equal(schedule_due(s, T0, out, 3), 0);
	a = add_account(s, "a", 600, 0, T0);
	b = add_account(s, "b", 600, 0, T0);
	c = add_account(s, "c", 600, 0, T0);
	assert_int_equal(schedule_next_due(s), T0);
	assert_int_equal(schedule_due(s, T0, out, 3), 3);

	/* Running accounts are nobody's next timer. */
	assert_int_equal(schedule_begin(a, T0, NULL), 0);
	assert_int_equal(schedule_begin(b, T0, NULL), 0);
	assert_int_equal(schedule_begin(c, T0, NULL), 0);
	assert_int_equal(schedule_next_due(s), SCHEDULE_NEVER);
	assert_int_equal(schedule_due(s, T0, out, 3), 0);

	schedule_set_random(s, fixed_random, &r);
	da = attempt(a, T0, EXIT_NEW_MAIL, 0) + T0;	/* 570 s */
	dc = attempt(c, T0, EXIT_AUTH, 0) + T0;		/* 27 min */
	db = attempt(b, T0, EXIT_NETWORK, 0) + T0;	/* 54 s */
	assert_true(db < da && da < dc);
	assert_int_equal(schedule_next_due(s), db);
	assert_int_equal(schedule_due(s, db - 1, out, 3), 0);
	assert_int_equal(schedule_due(s, db, out, 3), 1);
	assert_ptr_equal(out[0], b);

	/* Everything due: earliest first, and a short array gets the
	 * earliest while the count says how many. */
	assert_int_equal(schedule_due(s, dc, out, 3), 3);
	assert_ptr_equal(out[0], b);
	assert_ptr_equal(out[1], a);
	assert_ptr_equal(out[2], c);
	out[1] = NULL;
	assert_int_equal(schedule_due(s, dc, out, 1), 3);
	assert_ptr_equal(out[0], b);
	assert_null(out[1]);
	assert_ptr_equal(schedule_account_find(s, "c"), c);
	assert_null(schedule_account_find(s, "d"));
	schedule_free(s);
}

static void
test_status(void **state)
{
	struct schedule		*s;
	struct schedule_account	*a;
	char			*line;
	uint64_t		 r = 0;

	(void)state;
	s = schedule_new(NULL, 11);
	schedule_set_random(s, fixed_random, &r);
	a = add_account(s, "work", 600, 0, T0);
	line = schedule_status_line(a, T0);
	assert_string_equal(line, "work: waiting, next poll now, interval 600s, "
	    "0 failures, last error none, 0 bytes in 24h, connections 0/-");
	free(line);
	attempt(a, T0, EXIT_NETWORK, 2048);
	line = schedule_status_line(a, T0 + SEC);
	assert_string_equal(line, "work: backing off, next poll in 53s, "
	    "interval 600s, 1 failure, last error network, 2048 bytes in "
	    "24h, connections 0/-");
	free(line);

	line = schedule_format_duration(0);
	assert_string_equal(line, "0s");
	free(line);
	line = schedule_format_duration(1);
	assert_string_equal(line, "1s");
	free(line);
	line = schedule_format_duration(3723 * SEC);
	assert_string_equal(line, "1h 2m 3s");
	free(line);
	line = schedule_format_duration(HOUR);
	assert_string_equal(line, "1h");
	free(line);
	assert_string_equal(schedule_state_name(SCHEDULE_PAUSED),
	    "paused (daily budget)");
	schedule_free(s);
	schedule_free(NULL);
}

/* A suspend is how far CLOCK_BOOTTIME ran ahead of CLOCK_MONOTONIC between
 * two checks; small gaps and gaps the other way are not one. */
static void
test_suspended(void **state)
{
	struct schedule_clocks	then = { T0, T0 + 7 * HOUR }, now;

	(void)state;
	/* 15 s of both clocks: no suspend. */
	now.mono_ms = then.mono_ms + 15 * SEC;
	now.boot_ms = then.boot_ms + 15 * SEC;
	assert_int_equal(schedule_suspended(&then, &now), 0);
	/* A 10-minute suspend: the monotonic clock stood still. */
	now.boot_ms = then.boot_ms + 15 * SEC + 10 * MIN;
	assert_int_equal(schedule_suspended(&then, &now), 10 * MIN);
	/* Resumed right after the previous check. */
	now.mono_ms = then.mono_ms;
	now.boot_ms = then.boot_ms + 10 * MIN;
	assert_int_equal(schedule_suspended(&then, &now), 10 * MIN);
	/* The threshold: just below is noise, at it is a suspend. */
	now.mono_ms = then.mono_ms + 15 * SEC;
	now.boot_ms = then.boot_ms + 15 * SEC + SCHEDULE_JUMP_MS - 1;
	assert_int_equal(schedule_suspended(&then, &now), 0);
	now.boot_ms++;
	assert_int_equal(schedule_suspended(&then, &now), SCHEDULE_JUMP_MS);
	/* Read in turn, the boot clock may lag by a millisecond: that is
	 * not a suspend of 2^64 - 1 ms. */
	now.boot_ms = then.boot_ms + 15 * SEC - 1;
	assert_int_equal(schedule_suspended(&then, &now), 0);
	now.boot_ms = then.boot_ms + 15 * SEC - 10 * MIN;
	assert_int_equal(schedule_suspended(&then, &now), 0);
	/* A clock going back is not trusted either way. */
	now.mono_ms = then.mono_ms - 1;
	now.boot_ms = then.boot_ms + HOUR;
	assert_int_equal(schedule_suspended(&then, &now), 0);
	now.mono_ms = then.mono_ms + SEC;
	now.boot_ms = then.boot_ms - HOUR;
	assert_int_equal(schedule_suspended(&then, &now), 0);
	/* Two suspends in a row, each measured from the last check. */
	now.mono_ms = then.mono_ms + 15 * SEC;
	now.boot_ms = then.boot_ms + 15 * SEC + HOUR;
	assert_int_equal(schedule_suspended(&then, &now), HOUR);
	then = now;
	now.mono_ms += 15 * SEC;
	now.boot_ms += 15 * SEC + 6 * SEC;
	assert_int_equal(schedule_suspended(&then, &now), 6 * SEC);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_poll_jitter),
		cmocka_unit_test(test_provider_minimum),
		cmocka_unit_test(test_backoff),
		cmocka_unit_test(test_auth_backoff),
		cmocka_unit_test(test_server_delay),
		cmocka_unit_test(test_busy_login),
		cmocka_unit_test(test_retry_on_reload),
		cmocka_unit_test(test_stop_until_reload),
		cmocka_unit_test(test_budget),
		cmocka_unit_test(test_budget_resume_several),
		cmocka_unit_test(test_budget_persist),
		cmocka_unit_test(test_budget_parse_bad),
		cmocka_unit_test(test_conn_caps),
		cmocka_unit_test(test_conn_alert),
		cmocka_unit_test(test_conn_idle_reserve),
		cmocka_unit_test(test_conn_idle_cap_one),
		cmocka_unit_test(test_conn_idle_model),
		cmocka_unit_test(test_conn_idle_lowered),
		cmocka_unit_test(test_poll_soon),
		cmocka_unit_test(test_conn_reset_cap),
		cmocka_unit_test(test_conn_fits_after_poll),
		cmocka_unit_test(test_next_due),
		cmocka_unit_test(test_fetch_allowed),
		cmocka_unit_test(test_status),
		cmocka_unit_test(test_suspended),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
