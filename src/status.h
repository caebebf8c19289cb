/* status.h: the daemon's state as data, for machines: the model of one
 * account (and of the daemon) that `mailfetchd --status --json` prints
 * and the metrics file (metrics.h) exposes, and its JSON.
 *
 * The daemon fills the model (daemon_report.c); this module owns the
 * vocabulary (state names, failure classes) and the JSON layout, which is
 * versioned (STATUS_SCHEMA_VERSION) and described by
 * doc/status.schema.json and mailfetchd(8): a change that removes or
 * retypes a field raises the version; new fields do not.
 *
 * Times are wall-clock Unix seconds (0 in the model: none, null in
 * JSON). */
#ifndef MAILFETCHD_STATUS_H
#define MAILFETCHD_STATUS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "outcome.h"

#define STATUS_SCHEMA_VERSION	1
/* Failure classes: the exit statuses of outcome.h, by number. */
#define STATUS_CLASSES		(EXIT_DEFERRED + 1)

struct json;

/* What an account is doing, as one word (status_state_name). */
enum status_state {
	STATUS_WAITING = 0,	/* for its next poll */
	STATUS_POLLING,		/* a poll runs */
	STATUS_WAITING_CONN,	/* due, waiting for a connection (caps) */
	STATUS_BACKOFF,		/* waiting after a failure */
	STATUS_BUDGET,		/* the daily download budget is used up */
	STATUS_STOPPED,		/* a configuration error: until a reload */
	STATUS_REAUTH,		/* an OAuth2 grant to renew (--oauth2-setup) */
	STATUS_PUSH,		/* every folder held by IMAP IDLE: no polls */
	STATUS_STATE_MAX
};

/* One configured folder (IMAP), by how it is fetched. */
enum status_folder_state {
	STATUS_FOLDER_POLLED = 0, /* by the account's polls */
	STATUS_FOLDER_IDLING,	/* IDLE: waiting for the server's push */
	STATUS_FOLDER_CONNECTING, /* IDLE: connecting, logging in, catching
				 * up before IDLE */
	STATUS_FOLDER_RETRY,	/* IDLE: waiting to reconnect */
	STATUS_FOLDER_STATE_MAX
};

struct status_folder {
	char			*name;		/* configured remote name */
	int			 idle;		/* configured for IDLE */
	enum status_folder_state state;
	unsigned int		 failures;	/* IDLE sessions failed in a
						 * row */
	int64_t			 retry_at;	/* RETRY: when; 0 unknown */
};

struct status_account {
	char		*name;
	char		*owner;		/* NULL: none */
	const char	*protocol;	/* "imap", "pop3" */
	char		*host;
	enum status_state state;
	unsigned int	 failures;	/* consecutive */
	int64_t		 last_success;
	int64_t		 last_failure;
	int		 last_failure_exit; /* enum fetch_exit; -1: none */
	char		*last_failure_text;
	int		 failing;	/* the last failure is not recovered */
	const char	*hook_which;	/* the last hook run; NULL: none */
	int64_t		 hook_time;	/* it ended then */
	int		 hook_ok;	/* it exited with status 0 */
	char		*hook_text;
	int64_t		 next_poll;	/* 0: none planned (polling, stopped,
					 * push only) */
	int64_t		 backoff_until;	/* BACKOFF: next_poll; else 0 */
	unsigned int	 interval;	/* effective poll interval, s */
	unsigned int	 conns;		/* open: the poll's and IDLE's */
	unsigned int	 idle_conns;	/* of which in IDLE now */
	unsigned int	 max_conns;	/* 0: no cap */
	uint64_t	 budget_limit;	/* bytes per 24 h; 0: none */
	uint64_t	 budget_used;	/* bytes in the last 24 h */
	int64_t		 budget_resume;	/* exhausted until; 0: not */
	uint64_t	 messages;	/* delivered since the daemon started */
	uint64_t	 bytes;
	uint64_t	 messages_today;
	uint64_t	 bytes_today;
	uint64_t	 refused_messages; /* the delivery agent refused or
					 * deferred in the last poll (or
					 * IDLE round) that handed any over */
	int64_t		 refused_since;	/* polls keep some back since; 0 */
	uint64_t	 held_back;	/* of the refused, held back until
					 * their retry time (mda_hold_is) */
	int64_t		 held_until;	/* the first retry; 0: none */
	uint64_t	 failures_by_class[STATUS_CLASSES]; /* since start */
	struct status_folder *folders;
	size_t		 nfolders;
};

struct status_daemon {
	pid_t		 pid;
	int64_t		 started;
	char		*config;
	char		*control_socket;
	unsigned int	 shard_index;	/* shard.h: instance K of N */
	unsigned int	 shard_count;	/* 0: not sharded */
	int		 stopping;
	char		*reload_error;	/* NULL: none */
	int64_t		 last_fetch;
	int64_t		 resumed;	/* after the machine's last suspend */
	uint64_t	 suspended;	/* seconds it lasted */
};

const char	*status_state_name(enum status_state);
const char	*status_folder_state_name(enum status_folder_state);
/* Whether an exit status counts as a failure (a class of its own). */
int		 status_is_failure(int exit);
/* Frees what the model holds (not the struct); NULL is a no-op. */
void		 status_account_clear(struct status_account *);
void		 status_daemon_clear(struct status_daemon *);
/* The JSON object of one account, of one daemon (doc/status.schema.json
 * $defs account, daemon). */
void		 status_account_json(struct json *,
		    const struct status_account *);
void		 status_daemon_json(struct json *, const struct status_daemon *);
/* The whole document from records the daemons sent (each one JSON
 * object, as the two functions above write them), as one line; caller
 * frees. */
char		*status_document(int64_t now, const char *const *daemons,
		    size_t ndaemons, const char *const *accounts,
		    size_t naccounts);

#endif
