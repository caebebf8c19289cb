/* status_cli.c: --status, the client side (see status_cli.h).
 *
 * A daemon answers `status-json` with one record per line ("daemon
 * JSON", "account JSON", "unknown NAME"); they are gathered here and the
 * document made once, so that privsep's workers (one per owner, each
 * asking its owner's daemon) can hand their records to the parent: the
 * workers print the record lines to a temporary file that is their
 * stdout, and the parent reads them back. */
#include "status_cli.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "control.h"
#include "privsep.h"
#include "status.h"
#include "xmalloc.h"

/* What the daemons answered. */
struct status_cli_answer {
	char			**daemons;
	size_t			  ndaemons;
	char			**accounts;
	size_t			  naccounts;
	char			**unknown;
	size_t			  nunknown;
	char			 *error;	/* the first "error" line */
	/* Text: the names asked for (none: all), each line's match. */
	const char *const	 *names;
	size_t			  n;
	int			 *matched;
};

static void
status_cli_add(char ***list, size_t *n, const char *s)
{
	*list = xreallocarray(*list, *n + 1, sizeof **list);
	(*list)[(*n)++] = xstrdup(s);
}

static void
status_cli_free_list(char **list, size_t n)
{
	size_t	i;

	for (i = 0; i < n; i++)
		free(list[i]);
	free(list);
}

static void
status_cli_answer_free(struct status_cli_answer *sa)
{
	status_cli_free_list(sa->daemons, sa->ndaemons);
	status_cli_free_list(sa->accounts, sa->naccounts);
	status_cli_free_list(sa->unknown, sa->nunknown);
	free(sa->error);
	free(sa->matched);
}

/* One record line (of the daemon, or read back from a worker). */
static void
status_cli_record(const char *line, void *arg)
{
	struct status_cli_answer	*sa = arg;

	if (strncmp(line, "daemon ", 7) == 0)
		status_cli_add(&sa->daemons, &sa->ndaemons, line + 7);
	else if (strncmp(line, "account ", 8) == 0)
		status_cli_add(&sa->accounts, &sa->naccounts, line + 8);
	else if (strncmp(line, "unknown ", 8) == 0)
		status_cli_add(&sa->unknown, &sa->nunknown, line + 8);
	else if (sa->error == NULL)
		sa->error = xstrdup(line);
}

/* One text line "NAME: ...": printed when asked for. */
static void
status_cli_text(const char *line, void *arg)
{
	struct status_cli_answer	*sa = arg;
	size_t				 i, len;

	if (sa->n == 0) {
		printf("%s\n", line);
		return;
	}
	for (i = 0; i < sa->n; i++) {
		len = strlen(sa->names[i]);
		if (strncmp(line, sa->names[i], len) == 0 &&
		    line[len] == ':') {
			sa->matched[i] = 1;
			printf("%s\n", line);
		}
	}
}

/* The next command: "status", or "status-json NAME..." with as many of
 * the names from *next on as fit a command (CONTROL_LINE_MAX bytes,
 * CONTROL_ARGS_MAX names; names are at most 64 bytes,
 * mailfetchd.conf(5)); *next moves past them. */
static char *
status_cli_command(const char *const *names, size_t n, size_t *next,
    int json)
{
	char	*cmd, *tmp;
	size_t	 first;

	if (!json) {
		*next = n;
		return (xstrdup("status"));
	}
	cmd = xstrdup("status-json");
	first = *next;
	/* At least one name each time: the loop always ends. */
	while (*next < n && (*next == first ||
	    (*next - first < CONTROL_ARGS_MAX && strlen(cmd) + 1 +
	    strlen(names[*next]) < CONTROL_LINE_MAX - 2))) {
		xasprintf(&tmp, "%s %s", cmd, names[(*next)++]);
		free(cmd);
		cmd = tmp;
	}
	return (cmd);
}

/* Sends the commands on fd: more than one when the names do not fit one
 * line (each answer repeats the daemon's record: one is kept). */
static int
status_cli_send(int fd, const char *const *names, size_t n, int json,
    struct status_cli_answer *sa, char **cause)
{
	char	*cmd;
	size_t	 next = 0, ndaemons;
	int	 rc;

	do {
		ndaemons = sa->ndaemons;
		cmd = status_cli_command(names, n, &next, json);
		rc = control_command(fd, cmd, CONTROL_TIMEOUT, json ?
		    status_cli_record : status_cli_text, sa, cause);
		free(cmd);
		while (ndaemons > 0 && sa->ndaemons > ndaemons)
			free(sa->daemons[--sa->ndaemons]);
	} while (rc == 0 && next < n);
	return (rc);
}

/* Asks the configuration's daemon. 0, or EXIT_NO_DAEMON (said). */
static int
status_cli_ask(const struct config *conf, const char *const *names,
    size_t n, int json, struct status_cli_answer *sa)
{
	char	*cause;
	int	 fd, rc;

	if ((fd = control_connect_daemon(conf, &cause)) == -1) {
		fprintf(stderr, "mailfetchd: no daemon answers (%s)\n", cause);
		free(cause);
		return (EXIT_NO_DAEMON);
	}
	rc = status_cli_send(fd, names, n, json, sa, &cause);
	close(fd);
	if (rc != 0) {
		fprintf(stderr, "mailfetchd: %s\n", cause);
		free(cause);
		return (EXIT_NO_DAEMON);
	}
	if (sa->error != NULL) {
		fprintf(stderr, "mailfetchd: the daemon refused the status: "
		    "%s\n", sa->error);
		return (EXIT_NO_DAEMON);
	}
	return (0);
}

/* Names asked for that no answer had: an error (EXIT_CONFIG). */
static int
status_cli_unknown(const struct config *conf, struct status_cli_answer *sa)
{
	size_t	i;

	for (i = 0; i < sa->n && sa->matched != NULL; i++) {
		if (!sa->matched[i])
			status_cli_add(&sa->unknown, &sa->nunknown,
			    sa->names[i]);
	}
	for (i = 0; i < sa->nunknown; i++)
		fprintf(stderr, "mailfetchd: the running daemon does not run "
		    "account %s (is it in %s since the last reload?)\n",
		    sa->unknown[i], conf->path);
	return (sa->nunknown > 0 ? EXIT_CONFIG : 0);
}

/* Prints the JSON document of what was gathered. */
static void
status_cli_document(const struct status_cli_answer *sa)
{
	char	*doc;

	doc = status_document((int64_t)time(NULL),
	    (const char *const *)sa->daemons, sa->ndaemons,
	    (const char *const *)sa->accounts, sa->naccounts);
	printf("%s\n", doc);
	free(doc);
}

/* The exit status: the worst of the parts, stdout's failure last. */
static int
status_cli_exit(int rc, int unknown)
{
	if (unknown > rc)
		rc = unknown;
	if (fflush(stdout) != 0 || ferror(stdout))
		rc = EXIT_LOCAL;
	return (rc);
}

/* Every name must be an account of the configuration. */
static int
status_cli_check(const struct config *conf, const char *const *names,
    size_t n)
{
	size_t	i;
	int	rc = 0;

	for (i = 0; i < n; i++) {
		if (config_find_account(conf, names[i]) != NULL)
			continue;
		fprintf(stderr, "mailfetchd: %s: no account %s\n", conf->path,
		    names[i]);
		rc = EXIT_CONFIG;
	}
	return (rc);
}

int
status_cli(const struct config *conf, const char *const *names, size_t n,
    int json)
{
	struct status_cli_answer	sa;
	int				rc, unknown;

	if (status_cli_check(conf, names, n) != 0)
		return (EXIT_CONFIG);
	memset(&sa, 0, sizeof sa);
	sa.names = names;
	sa.n = json ? 0 : n;
	sa.matched = xcalloc(n + 1, sizeof *sa.matched);
	rc = status_cli_ask(conf, names, n, json, &sa);
	unknown = rc == 0 ? status_cli_unknown(conf, &sa) : 0;
	if (json && rc == 0)
		status_cli_document(&sa);
	status_cli_answer_free(&sa);
	return (status_cli_exit(rc, unknown));
}

/* In an owner's worker: the text lines as they are, or the records for
 * the parent (the worker's stdout is its file). */
static int
status_cli_worker(struct config *conf, const char *const *names, size_t n,
    void *arg)
{
	struct status_cli_answer	sa;
	const int			*json = arg;
	size_t				i;
	int				rc;

	if (!*json)
		return (status_cli(conf, names, n, 0));
	memset(&sa, 0, sizeof sa);
	rc = status_cli_ask(conf, names, n, 1, &sa);
	for (i = 0; rc == 0 && i < sa.ndaemons; i++)
		printf("daemon %s\n", sa.daemons[i]);
	for (i = 0; rc == 0 && i < sa.naccounts; i++)
		printf("account %s\n", sa.accounts[i]);
	for (i = 0; rc == 0 && i < sa.nunknown; i++)
		printf("unknown %s\n", sa.unknown[i]);
	status_cli_answer_free(&sa);
	return (status_cli_exit(rc, 0));
}

/* Reads the workers' record lines back from f. */
static void
status_cli_read(FILE *f, struct status_cli_answer *sa)
{
	char	*line = NULL;
	size_t	 size = 0;
	ssize_t	 len;

	rewind(f);
	while ((len = getline(&line, &size, f)) != -1) {
		if (len > 0 && line[len - 1] == '\n')
			line[len - 1] = '\0';
		status_cli_record(line, sa);
	}
	free(line);
}

/* Runs the workers with stdout on a temporary file; -1 if it cannot be
 * made (said). */
static int
status_cli_gather(const struct config *conf, const char *const *names,
    size_t n, FILE *f, int *rc)
{
	int	json = 1, saved;

	fflush(stdout);
	if ((saved = dup(STDOUT_FILENO)) == -1 ||
	    dup2(fileno(f), STDOUT_FILENO) == -1) {
		fprintf(stderr, "mailfetchd: --status --json: %s\n",
		    strerror(errno));
		if (saved != -1)
			close(saved);
		return (-1);
	}
	*rc = privsep_run(conf, names, n, PRIVSEP_SEQUENTIAL | PRIVSEP_WORST,
	    status_cli_worker, &json);
	fflush(stdout);
	dup2(saved, STDOUT_FILENO);
	close(saved);
	return (0);
}

int
status_cli_privsep(const struct config *conf, const char *const *names,
    size_t n, int json)
{
	struct status_cli_answer	 sa;
	FILE				*f;
	int				 rc, unknown;

	if (status_cli_check(conf, names, n) != 0)
		return (EXIT_CONFIG);
	if (!json)
		return (privsep_run(conf, names, n, PRIVSEP_SEQUENTIAL |
		    PRIVSEP_WORST, status_cli_worker, &json));
	if ((f = tmpfile()) == NULL) {
		fprintf(stderr, "mailfetchd: --status --json: temporary "
		    "file: %s\n", strerror(errno));
		return (EXIT_LOCAL);
	}
	if (status_cli_gather(conf, names, n, f, &rc) != 0) {
		fclose(f);
		return (EXIT_LOCAL);
	}
	memset(&sa, 0, sizeof sa);
	status_cli_read(f, &sa);
	fclose(f);
	unknown = status_cli_unknown(conf, &sa);
	status_cli_document(&sa);
	status_cli_answer_free(&sa);
	return (status_cli_exit(rc, unknown));
}
