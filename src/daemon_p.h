/* daemon_p.h: private to daemon.c, daemon_idle.c and daemon_report.c;
 * nothing else may include it (daemon.h is the public header). The
 * daemon's structs, and the functions one of the files calls in another:
 * daemon.c runs the loop (accounts, scheduler, reload, control, signals,
 * status), daemon_idle.c supervises the IMAP IDLE sessions and the TLS
 * contexts lent to them, daemon_report.c turns the state into data
 * (status.h) for `status-json` and the metrics file. */
#ifndef MAILFETCHD_DAEMON_P_H
#define MAILFETCHD_DAEMON_P_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "daemon.h"
#include "schedule.h"
#include "status.h"

struct control;
struct daemon;
struct evdns_base;
struct event;
struct event_base;
struct fetch_result;
struct fetch_session;
struct hook;
struct imap_session;
struct state;
struct tls_ctx;

/* A configuration shared by the accounts (and sessions) made from it. */
struct daemon_conf {
	struct config	*conf;
	unsigned int	 refs;
};

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
	int				 lock_busy; /* another instance holds
						 * its lock (shard.h); said
						 * once */
	int				 conn;	/* holds one (ac->host) */
	struct daemon_req		**waiters; /* fetch requests waiting
						 * for this poll's end */
	size_t				 nwaiters;
	char				*answer_note; /* added to their
						 * answer: IDLE folders a
						 * fetch reconnected */
	time_t				 last_success; /* 0: none yet */
	unsigned long			 held;	/* messages the delivery agent
						 * refused or deferred in the
						 * last poll that handed any
						 * over (daemon_account_held) */
	time_t				 held_since; /* since when polls
						 * keep some back; 0: none */
	unsigned long			 held_back; /* messages the agent
						 * refused, held back by the
						 * last poll that got so far
						 * (mda_hold_is) */
	long long			 held_until; /* the first retry */
	unsigned long			 held_known; /* of them, refused by
						 * a poll whose agent took
						 * others (it works) */
	int				 reauth; /* the last login failed for
						 * want of a new authorisation */
	int				 budget_paused; /* IDLE deliveries wait
						 * for the daily budget */
	struct event			*ev_budget; /* ... until this fires */
	int				 day;	/* of the counts below */
	unsigned long			 msgs_today;
	uint64_t			 bytes_today;
	/* Since the start, for status-json and metrics (daemon_report.c):
	 * delivered, failures by class, the last failure. */
	uint64_t			 total_msgs;
	uint64_t			 total_bytes;
	uint64_t			 failures_by_class[STATUS_CLASSES];
	int64_t				 last_failure;
	int				 last_failure_exit; /* -1: none */
	char				*last_failure_text;
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
	unsigned long			 agent_seen; /* of the session's
						 * messages the delivery agent
						 * refused or deferred, those
						 * reported already */
	unsigned long			 agent_hard_seen; /* of them,
						 * refused (not 75, 4xx) */
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
	struct hook		 *hook;		/* the user's hooks (hook.h) */
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
	int			  stop_now;	/* a second signal: no grace */
	int			  stop_agents;	/* the grace extended for the
						 * delivery agents running */
	uint64_t		  stop_ms;	/* monotonic, the first one */

	uint64_t		  idle_next;	/* next IDLE start slot (ms) */
	struct schedule_clocks	  clocks;	/* at the last clock check */

	time_t			  last_fetch;	/* wall time, 0: never */
	time_t			  started;	/* wall time */
	time_t			  resumed;	/* after the last suspend; 0 */
	uint64_t		  suspended_ms;	/* ... which lasted this long */
	char			 *last_status;	/* last STATUS= sent */
	char			 *reload_error;	/* the last reload's, or NULL */
	struct event		 *ev_metrics;	/* metrics_file's timer */
	char			 *metrics_error; /* its last write's, or NULL */
	int			  exit;
};
/* daemon.c: the loop's, for the IDLE supervision. */
uint64_t	 daemon_clock(clockid_t id);
uint64_t	 daemon_now(void);
char		*daemon_until(uint64_t due, uint64_t now);
void		 daemon_conf_unref(struct daemon_conf *dc);
void		 daemon_account_reauth(struct daemon_account *a, int status,
		    int reauth);
void		 daemon_account_save(struct daemon_account *a);
int		 daemon_account_lock(struct daemon_account *a, int *status);
void		 daemon_account_held(struct daemon_account *a,
		    unsigned long refused, unsigned long delivered);
void		 daemon_account_count(struct daemon_account *a,
		    const struct fetch_result *r);
int		 daemon_account_all_idle(const struct daemon_account *a);
void		 daemon_maybe_exit(struct daemon *d);
void		 daemon_budget_pause(struct daemon_account *a, uint64_t now);
void		 daemon_start_queued(struct daemon *d);
void		 daemon_arm(struct daemon *d);
void		 daemon_status(struct daemon *d);
int		 daemon_today(void);
size_t		 daemon_idling(struct daemon *d, const struct daemon_account *a);
unsigned int	 daemon_account_conns(const struct daemon_account *a);
int		 daemon_account_idle_failing(const struct daemon_account *a,
		    int *idling);

/* daemon_idle.c: the IDLE supervision's, for the loop. */
size_t		 daemon_idle_held(const struct daemon_account *a,
		    const char ***names);
size_t		 daemon_idle_running(struct daemon *d);
void		 daemon_tls_retire(struct daemon *d);
void		 daemon_idle_free(struct daemon_idle *di);
int		 daemon_idle_retry_now(struct daemon_idle *di);
void		 daemon_idle_trim(struct daemon *d);
void		 daemon_idle_retry_capped(struct daemon *d);
void		 daemon_idle_resume(struct daemon *d);
void		 daemon_account_start_idle(struct daemon_account *a);
void		 daemon_account_stop_idle(struct daemon_account *a);
void		 daemon_idle_rebind(struct daemon_account *a);
const struct daemon_idle *daemon_idle_of(const struct daemon_account *a,
		    const char *folder);
void		 daemon_idle_held_why(const struct daemon_idle *di,
		    uint64_t now, char *buf, size_t len);
void		 daemon_fetch_idle(struct daemon_account *a);
const struct daemon_idle *daemon_fetch_idle_busy(
		    const struct daemon_account *a);
int		 daemon_fetch_idle_blocked(const struct daemon_account *a,
		    uint64_t *at);

/* daemon_report.c: the state as data, and the counts only it uses. */
void		 daemon_report_count(struct daemon_account *a,
		    unsigned long messages, uint64_t bytes);
void		 daemon_report_failure(struct daemon_account *a, int exit,
		    const char *text);
void		 daemon_report_account(const struct daemon_account *a,
		    uint64_t now, struct status_account *m);
void		 daemon_report_daemon(const struct daemon *d,
		    struct status_daemon *m);
void		 daemon_control_status_json(struct control *ctl, uint64_t id,
		    const char *const *names, size_t n, void *arg);
void		 daemon_control_metrics(struct control *ctl, uint64_t id,
		    void *arg);
void		 daemon_report_metrics(struct daemon *d);
void		 daemon_report_start(struct daemon *d);
void		 daemon_report_stop(struct daemon *d);

#endif
