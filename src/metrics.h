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

#include "status.h"

/* Seconds between writes by the daemon (also after each fetch), and by
 * the privsep supervisor (only then: it does not see the fetches). */
#define METRICS_INTERVAL		60
#define METRICS_SUPERVISOR_INTERVAL	15
/* Seconds the supervisor waits for a worker's answer. */
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
/* Whether a line is a sample of a known family, of the given account
 * (its first label, account="NAME"): what the supervisor takes from a
 * worker, which may speak only for its own accounts. */
int		 metrics_sample_valid(const char *line, const char *account);
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
 * (NULL: the accounts without owner); other lines are dropped (logged).
 * -1 with *cause (caller frees) when the daemon does not answer. */
int		 metrics_ask(const char *socket, const struct config *conf,
		    const char *owner, struct metrics_lines *, char **cause);

#endif
