/* metrics.h: the metrics file (metrics_file in mailfetchd.conf(5)): the
 * status model (status.h) in the Prometheus text exposition format, for
 * node_exporter's textfile collector. No listening socket: the file is
 * replaced atomically (a temporary file in the same directory, renamed
 * over it), mode 0644 so that the collector's user can read it.
 *
 * Two steps, so that the supervisor of privsep.h can merge its workers'
 * accounts: metrics_samples turns accounts into sample lines (also the
 * control socket's `metrics` answer, control.h), metrics_render groups
 * sample lines under their families' HELP and TYPE lines. */
#ifndef MAILFETCHD_METRICS_H
#define MAILFETCHD_METRICS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "status.h"

/* Seconds between writes by the daemon (also after each fetch), and by
 * the privsep supervisor (only then: it does not see the fetches). */
#define METRICS_INTERVAL		60
#define METRICS_SUPERVISOR_INTERVAL	15
/* Seconds the supervisor waits for a worker's whole answer. */
#define METRICS_ASK_TIMEOUT		2

struct config;

/* A growing list of lines. */
struct metrics_lines {
	char	**v;
	size_t	  n;
};

void		 metrics_lines_add(struct metrics_lines *, const char *);
void		 metrics_lines_clear(struct metrics_lines *);

/* Appends the sample lines of an account ("NAME{LABELS} VALUE"). */
void		 metrics_samples(struct metrics_lines *,
		    const struct status_account *);
/* A sample line read back: what privsep's supervisor takes from a
 * worker's daemon, which it does not trust (the socket it asks is in a
 * directory the owner controls). */
struct metrics_parsed {
	size_t		 family;	/* index of a known family */
	char		*account;	/* the account label, unescaped */
	int		 label;		/* the family's own label (state,
					 * class) by index; -1: none */
	uint64_t	 value;
};
/* The longest sample line the daemon writes (family, account name of at
 * most 64 bytes, a state or class, a 20-digit value), with room. */
#define METRICS_LINE_MAX	256
/* The most samples one account has (metrics_samples: one per family, one
 * per state and one per failure class), with room. */
#define METRICS_ACCOUNT_SAMPLES	(STATUS_STATE_MAX + STATUS_CLASSES + 16)
/* Parses FAMILY{account="NAME"[,LABEL="VALUE"]} DIGITS: a known family,
 * the account label first, the family's own label (and only it) with one
 * of its values, a number; nothing else. 0, or -1 (mp->account NULL);
 * the caller frees mp->account. */
int		 metrics_sample_parse(const char *line,
		    struct metrics_parsed *mp);
/* Appends the sample of mp for account, written by us (escaped). */
void		 metrics_sample_render(struct metrics_lines *,
		    const struct metrics_parsed *, const char *account);
/* The exposition text: each known family with samples, its HELP and TYPE
 * lines and its samples, then the time it was made (now, Unix seconds).
 * Caller frees. */
char		*metrics_render(const struct metrics_lines *, int64_t now);
/* A label value escaped for the text format (\\, \", \n); caller frees. */
char		*metrics_escape(const char *);
/* Replaces path with text atomically, mode 0644. -1 with *cause (caller
 * frees). */
int		 metrics_write(const char *path, const char *text, char **cause);

/* The supervisor's side: asks the daemon on socket for its samples
 * (control.h, `metrics`) and appends those of conf's accounts of owner
 * (NULL: the accounts without owner), parsed and written again; other
 * lines and repeated series are dropped (logged once). The listener must
 * be process pid with uid (the worker root started); the whole answer
 * must come within METRICS_ASK_TIMEOUT seconds and hold at most
 * METRICS_ACCOUNT_SAMPLES lines of METRICS_LINE_MAX bytes per account of
 * owner: what is taken is bounded by the configuration, not the peer.
 * -1 with *cause (caller frees) when the daemon does not answer so. */
int		 metrics_ask(const char *socket, const struct config *conf,
		    const char *owner, pid_t pid, uid_t uid,
		    struct metrics_lines *, char **cause);

#endif
