/* schedule.h: when each account may fetch next, and how many connections it
 * may hold. Pure logic for the daemon's event loop: no timers, no sockets,
 * no sleeping. Every call that needs the time takes now_ms, milliseconds
 * of a monotonic clock (CLOCK_MONOTONIC) chosen by the caller; randomness
 * (jitter) comes from a seeded generator or a function set by the caller,
 * so that tests are deterministic.
 *
 * The daemon's loop: arm one timer at schedule_next_due(); when it fires,
 * take schedule_due() accounts, schedule_begin() each, fetch, and report
 * with schedule_done(); before opening any connection (IDLE ones too) call
 * schedule_conn_acquire(), and schedule_conn_release() after closing it;
 * after a cap was lowered, give up the IDLE connections that
 * schedule_conn_idle_over() points out.
 * Messages returned through char ** are for the caller to log, and free. */
#ifndef MAILFETCHD_SCHEDULE_H
#define MAILFETCHD_SCHEDULE_H

#include <stddef.h>
#include <stdint.h>

#define SCHEDULE_NEVER		UINT64_MAX	/* a due time never reached */
#define SCHEDULE_WINDOW_MS	(24ULL * 3600 * 1000)	/* budget window */

struct schedule;
struct schedule_account;

/* Limits across accounts; 0 means no limit. */
struct schedule_limits {
	unsigned int	 max_conns;	 /* global */
	unsigned int	 max_conns_host; /* per server host name */
};

/* One account's policy, from its configuration and provider preset. */
struct schedule_policy {
	unsigned int	 poll_interval;	/* seconds; 0: min_interval, or 300 */
	unsigned int	 min_interval;	/* provider minimum, seconds; 0: none */
	int		 override_min;	/* poll_interval below the minimum is
					 * kept, on the user's word */
	uint64_t	 daily_budget;	/* bytes per rolling 24 h; 0: none */
	unsigned int	 max_conns;	/* per account; 0: none (see
					 * schedule_account_cap) */
};

enum schedule_state {
	SCHEDULE_IDLE = 0,	/* waiting for the next poll */
	SCHEDULE_POLLING,	/* between schedule_begin and schedule_done */
	SCHEDULE_BACKOFF,	/* waiting after a failure */
	SCHEDULE_PAUSED,	/* daily download budget reached */
	SCHEDULE_STOPPED,	/* needs a configuration change (reload) */
	SCHEDULE_STATE_MAX
};

/* What the server said about when to come back. */
enum schedule_hint {
	SCHEDULE_HINT_NONE = 0,
	SCHEDULE_HINT_UNAVAILABLE,	/* IMAP [UNAVAILABLE] */
	SCHEDULE_HINT_IN_USE,		/* POP3 [IN-USE], IMAP [INUSE] */
	SCHEDULE_HINT_LOGIN_DELAY,	/* POP3 [LOGIN-DELAY] */
	SCHEDULE_HINT_TOO_MANY_CONNS,	/* [ALERT] Too many simultaneous
					 * connections: lowers the cap */
	SCHEDULE_HINT_MAX
};

/* The result of one attempt (schedule_begin .. schedule_done). */
struct schedule_outcome {
	int		 exit;		/* enum fetch_exit */
	uint64_t	 bytes;		/* downloaded, even if it then failed */
	enum schedule_hint hint;
	unsigned int	 retry_after;	/* seconds the server asked to wait
					 * (LOGIN-DELAY n); 0: none */
	int		 no_conn;	/* no connection was made (nothing to
					 * poll, a local error): the provider
					 * minimum does not count from it */
};

/* A snapshot for --status. */
struct schedule_status {
	enum schedule_state state;
	uint64_t	 next_due_ms;	/* SCHEDULE_NEVER: not scheduled */
	unsigned int	 failures;	/* consecutive */
	int		 last_exit;	/* enum fetch_exit; -1: none yet */
	int		 last_error;	/* last failing exit; -1: none */
	uint64_t	 bytes_24h;
	unsigned int	 conns;		/* connections held */
	unsigned int	 idle_conns;	/* of which IDLE connections */
	unsigned int	 max_conns;	/* current cap; 0: none */
	unsigned int	 interval;	/* effective poll interval, seconds */
};

/* Connection requests. A denial names the cap in *cause; it is
 * DENIED_FIRST the first time this account meets that cap (since the cap
 * last changed), so the caller logs the fallback to polling only once. */
enum schedule_conn {
	SCHEDULE_CONN_GRANTED = 0,
	SCHEDULE_CONN_DENIED,
	SCHEDULE_CONN_DENIED_FIRST,
};

/* What a connection is for. An IDLE connection is held for good, so IDLE
 * connections may take at most limit - 1 of each cap that has a limit
 * (global, per host, per account): one slot always stays for the polls
 * (and fetch now), which therefore never wait on IDLE for ever; a cap of
 * 1 leaves IDLE nothing. Each kind's first denial per cap is reported
 * apart (DENIED_FIRST), as the caller logs them differently. */
enum schedule_conn_kind {
	SCHEDULE_CONN_POLL = 0,
	SCHEDULE_CONN_IDLE,
};

typedef uint64_t (*schedule_random_fn)(void *);

/* A new, empty scheduler. seed starts the built-in generator (the daemon
 * passes something random; tests a constant). limits may be NULL. */
struct schedule	*schedule_new(const struct schedule_limits *, uint64_t seed);
/* Frees the scheduler and all its accounts; NULL is a no-op. */
void		 schedule_free(struct schedule *);
void		 schedule_set_limits(struct schedule *,
		    const struct schedule_limits *);
/* Replaces the generator (NULL: back to the built-in one). Each call must
 * return 64 uniformly random bits. */
void		 schedule_set_random(struct schedule *, schedule_random_fn,
		    void *arg);

/* The per-account connection cap to use when the account configures none:
 * the provider's limit minus a third kept for the user's other clients
 * (Gmail 15 -> 10), at least 1; configured wins; 0 when neither is set. */
unsigned int	 schedule_account_cap(unsigned int provider_limit,
		    unsigned int configured);

/* Adds an account (name copied, arg kept for the caller), due at now_ms.
 * When the policy's poll_interval is below its min_interval it is raised
 * (unless override_min) and *warning says so; otherwise *warning is NULL.
 * warning may be NULL. Returns the account, owned by the scheduler. NULL
 * if the name is already there. */
struct schedule_account *schedule_account_add(struct schedule *,
		    const char *name, const struct schedule_policy *,
		    void *arg, uint64_t now_ms, char **warning);
/* Changes the policy (reload): *warning as for add. Resets the cap lowered
 * by [ALERT]s; wakes a STOPPED account, and a PAUSED one whose new budget
 * allows fetching; an account waiting for a poll is brought forward if the
 * new interval is shorter. A backoff keeps its time. */
void		 schedule_account_set_policy(struct schedule_account *,
		    const struct schedule_policy *, uint64_t now_ms,
		    char **warning);
/* Removes and frees an account; connections it still held are given back
 * to the global and per-host counts. NULL is a no-op. */
void		 schedule_account_remove(struct schedule_account *);
struct schedule_account *schedule_account_find(struct schedule *,
		    const char *name);
const char	*schedule_account_name(const struct schedule_account *);
void		*schedule_account_arg(const struct schedule_account *);

/* The earliest due time of all accounts waiting (not POLLING or STOPPED),
 * SCHEDULE_NEVER if none: the one timer the daemon arms. */
uint64_t	 schedule_next_due(const struct schedule *);
/* Stores up to max accounts due at now_ms (earliest first) in out;
 * returns how many are due (may exceed max). */
size_t		 schedule_due(const struct schedule *, uint64_t now_ms,
		    struct schedule_account **out, size_t max);

/* Starts an attempt (fetch now, --once, or a due poll). Returns 0, or -1
 * if the daily budget is used up: the account is then PAUSED until the
 * resume time and *cause (caller frees) says so, with that time. */
int		 schedule_begin(struct schedule_account *, uint64_t now_ms,
		    char **cause);
/* Ends an attempt: counts the bytes and sets the next due time (interval
 * with jitter on success; backoff on failure; at least what the server
 * asked for; the budget's resume time). *msg (may be NULL) is set when
 * something deserves a log line: authentication backoff, a stop until
 * reload, a lowered cap, the budget reached. Returns the next due time. */
uint64_t	 schedule_done(struct schedule_account *, uint64_t now_ms,
		    const struct schedule_outcome *, char **msg);

/* A folder the account's polls did not fetch is theirs now (IDLE found
 * no room within the caps, or is not offered): brings the next poll
 * forward to now_ms, or to the provider minimum after the last poll
 * that reached the server. An attempt in progress (which left the
 * folder out) is followed by the next one that soon (schedule_done). A
 * backoff, a pause or a stop keep their time. Returns the next due
 * time, SCHEDULE_NEVER while polling or stopped. */
uint64_t	 schedule_poll_soon(struct schedule_account *,
		    uint64_t now_ms);

/* An IDLE connection of the account logged in and failed (it ended
 * before IDLE, or soon after): the provider counts that login as it
 * counts a poll's, so the minimum interval since the last connection
 * that reached the server (a fetch now, a poll asked for soon) runs
 * from now_ms. */
void		 schedule_idle_login(struct schedule_account *,
		    uint64_t now_ms);

/* An IDLE connection of the account failed (exit, enum fetch_exit):
 * the account's last error, as a poll's would be (status lines). */
void		 schedule_idle_error(struct schedule_account *, int exit);

/* Counts downloaded bytes outside an attempt (IDLE delivery). */
void		 schedule_budget_add(struct schedule_account *,
		    uint64_t now_ms, uint64_t bytes);
/* Bytes downloaded in the last 24 h (a little more, never less: bytes are
 * grouped in hour slots that expire with their newest byte). */
uint64_t	 schedule_budget_used(const struct schedule_account *,
		    uint64_t now_ms);
/* Bytes that may still be fetched now; UINT64_MAX when no budget. */
uint64_t	 schedule_budget_left(const struct schedule_account *,
		    uint64_t now_ms);
/* What an attempt in progress may still fetch, having downloaded pending
 * bytes not yet counted (schedule_done counts them at its end): the
 * bytes left less pending, 0 at least; UINT64_MAX when no budget. */
uint64_t	 schedule_budget_room(const struct schedule_account *,
		    uint64_t now_ms, uint64_t pending);
/* When usage drops below the budget again: now_ms if it already is. */
uint64_t	 schedule_budget_resume(const struct schedule_account *,
		    uint64_t now_ms);
/* The history as text for the state file: "EPOCH:BYTES,..." oldest
 * first, "" when empty (caller frees). Times are wall-clock seconds,
 * wall = now_wall - (now_ms - t_ms) / 1000 (rounded towards now, so that a
 * round trip never makes bytes expire earlier). */
char		*schedule_budget_format(const struct schedule_account *,
		    uint64_t now_ms, int64_t now_wall);
/* Replaces the history with text from schedule_budget_format, converting
 * back: t_ms = now_ms - (now_wall - wall) * 1000; entries older than 24 h
 * are dropped, entries in the future (the clock went back) count as now.
 * Returns 0, or -1 with *cause (caller frees) and the history unchanged. */
int		 schedule_budget_parse(struct schedule_account *,
		    const char *text, uint64_t now_ms, int64_t now_wall,
		    char **cause);

/* Asks for one more connection of the account to host, of kind. */
enum schedule_conn schedule_conn_acquire(struct schedule_account *,
		    const char *host, enum schedule_conn_kind, char **cause);
/* Whether schedule_conn_acquire would grant a connection of kind now;
 * changes nothing (no denial is recorded). */
int		 schedule_conn_fits(const struct schedule_account *,
		    const char *host, enum schedule_conn_kind);
/* Gives a connection of kind back (one not held is ignored). */
void		 schedule_conn_release(struct schedule_account *,
		    const char *host, enum schedule_conn_kind);
/* Whether the account holds an IDLE connection to host that a lowered
 * cap ([ALERT], reload) no longer leaves room for: IDLE connections fill
 * a whole cap. The caller gives one up and asks again. */
int		 schedule_conn_idle_over(const struct schedule_account *,
		    const char *host);
/* An IDLE connection being given up (it still has to log out) counts as
 * a POLL connection from now on: release it as one once closed. */
void		 schedule_conn_demote(struct schedule_account *,
		    const char *host);
/* Whether the hint says the server turned us away for being busy
 * ([UNAVAILABLE], [IN-USE], too many connections): a wait of at least 5
 * minutes, never the backoff of a wrong password. */
int		 schedule_hint_busy(int hint);
/* Whether a session's exit status and hint say the login was refused or
 * the configuration failed (a wrong password, an expired grant): what a
 * reload retries at once (schedule_account_retry; the daemon's IDLE
 * sessions the same). */
int		 schedule_exit_refused(int exit, int hint);
/* The server said "[ALERT] Too many simultaneous connections": lowers the
 * account's cap by one (not below 1) and backs off. Returns a message to
 * log (caller frees). schedule_done does this for
 * SCHEDULE_HINT_TOO_MANY_CONNS. The caller then gives up the IDLE
 * connections that no longer fit (schedule_conn_idle_over). */
char		*schedule_conn_too_many(struct schedule_account *,
		    uint64_t now_ms);
/* Gives the account back the cap its policy sets, after [ALERT]s lowered
 * it (a reload, even one that leaves the account as it was). Returns 1
 * if the cap was lowered, else 0. */
int		 schedule_account_reset_cap(struct schedule_account *);
/* A reload: an account stopped by a configuration error or backing off
 * after a refused login is due at once, with its failures forgotten (the
 * user may have fixed the password or stored a new OAuth2 grant, which
 * the configuration file does not show). Returns 1 if it was. */
int		 schedule_account_retry(struct schedule_account *,
		    uint64_t now_ms);

/* A fetch now (the user asks: mailfetchd --once, a MUA key): now_ms when
 * it may poll now, else the earliest time it may (SCHEDULE_NEVER: not
 * before a reload) and *why (caller frees) says why. It waits for what
 * would make the try harmful: a stop (a configuration error), the backoff
 * after a refused login (each refusal brings the provider closer to
 * locking the account), the wait a server asked for (a login refused as
 * busy: [UNAVAILABLE], [IN-USE], too many connections; LOGIN-DELAY) and
 * the provider's minimum interval since the last poll that reached the
 * server. Not for the backoff after a network error: the user may have
 * fixed the network, and that wait is our guess. */
uint64_t	 schedule_fetch_allowed(const struct schedule_account *,
		    uint64_t now_ms, char **why);
/* "the server refused the login as busy ([UNAVAILABLE]) 12s ago": why a
 * server-asked wait holds a fetch now back (hint: schedule_hint_busy, or
 * SCHEDULE_HINT_LOGIN_DELAY), into buf. */
void		 schedule_server_wait(enum schedule_hint hint,
		    uint64_t ago_ms, char *buf, size_t len);

void		 schedule_account_status(const struct schedule_account *,
		    uint64_t now_ms, struct schedule_status *);
/* One line for --status, caller frees: "work: backing off, next poll in
 * 53s, interval 600s, 1 failure, last error network, 2048 bytes in 24h,
 * connections 0/10". */
char		*schedule_status_line(const struct schedule_account *,
		    uint64_t now_ms);
const char	*schedule_state_name(enum schedule_state);
/* "1h 2m 3s" for a duration in milliseconds (rounded up to seconds),
 * caller frees. */
char		*schedule_format_duration(uint64_t ms);

/* Two clocks read together, in milliseconds: CLOCK_MONOTONIC stops while
 * the machine is suspended, CLOCK_BOOTTIME does not. */
struct schedule_clocks {
	uint64_t	 mono_ms;
	uint64_t	 boot_ms;
};
/* A smaller gap between the clocks is not a suspend (they are read one
 * after the other, and the process may be descheduled in between). */
#define SCHEDULE_JUMP_MS	5000
/* How long the machine was suspended between two readings (how far
 * CLOCK_BOOTTIME ran ahead of CLOCK_MONOTONIC); 0 below SCHEDULE_JUMP_MS
 * and when the readings disagree the other way. */
uint64_t	 schedule_suspended(const struct schedule_clocks *then,
		    const struct schedule_clocks *now);

#endif
