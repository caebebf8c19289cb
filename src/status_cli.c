/* status_cli.c: --status, the client side (see status_cli.h).
 *
 * A daemon answers `status-json` with one record per line ("daemon
 * JSON", "account JSON", "unknown NAME"); they are gathered here and the
 * document made once, so that privsep's workers (one per owner, each
 * asking its owner's daemon) can hand their records to the parent: the
 * workers print the record lines to a temporary file that is their
 * stdout, and the parent reads them back. */
#include "status_cli.h"

#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "control.h"
#include "json.h"
#include "log.h"
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
	/* Records are checked against it (status_cli_account_ok). */
	const struct config	 *conf;
	int			  strict; /* another user's answer: records of
					 * conf's accounts only */
	size_t			  refused;
	char			 *first_refused;
	/* Text: the names asked for (none: all), each line's match. */
	const char *const	 *names;
	size_t			  n;
	int			 *matched;
	size_t			  seen;		/* lines of answer seen */
	/* In an owner's worker: an ask that failed with nothing seen is
	 * tried again until then (ms, CLOCK_MONOTONIC; 0: never), the
	 * owner's worker may be restarting after a reload (review r20 13). */
	uint64_t		  retry_until;
};

/* What root hands each owner's worker. */
struct status_cli_job {
	int		json;
	uint64_t	retry_until;	/* shared by all the owners */
};

/* How long root's --status waits, in all, for owners' workers that a
 * reload is restarting (their socket is gone meanwhile). */
#define STATUS_CLI_RESTART_MS	3000

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
	free(sa->first_refused);
	free(sa->matched);
}

/* The start of conf's record of account ac: {"name":NAME,"owner":OWNER
 * as status_account_json writes it. Caller frees. */
static char *
status_cli_prefix(const struct account_conf *ac)
{
	struct json	*j = json_new();

	json_object_begin(j);
	json_key(j, "name");
	json_string(j, ac->name);
	json_key(j, "owner");
	json_string(j, ac->owner);
	return (json_finish(j));
}

/* Whether rec is the record of an account of the configuration, with its
 * owner, and the first for it. The daemon answering may not be who it
 * seems: as root, each owner's daemon is asked at a socket in a directory
 * the owner controls, so what comes back is checked (here in the owner's
 * worker, whose configuration holds the owner's accounts only, and again
 * by root when it reads the workers' records back) and never pasted
 * unparsed into root's document (review r16 06). */
static int
status_cli_account_ok(const struct status_cli_answer *sa, const char *rec)
{
	const struct account_conf	*ac;
	const char			*end;
	char				*name, *prefix;
	size_t				 i, len;
	int				 ok;

	if (!json_valid_object(rec))
		return (0);
	if (!sa->strict)
		return (1);
	if (strncmp(rec, "{\"name\":\"", 9) != 0 ||
	    (end = strchr(rec + 9, '"')) == NULL)
		return (0);
	name = xstrndup(rec + 9, (size_t)(end - rec - 9));
	ac = config_find_account(sa->conf, name);
	free(name);
	if (ac == NULL)
		return (0);
	prefix = status_cli_prefix(ac);
	len = strlen(prefix);
	ok = strncmp(rec, prefix, len) == 0 && rec[len] == ',';
	for (i = 0; ok && i < sa->naccounts; i++) {
		if (strncmp(sa->accounts[i], prefix, len) == 0 &&
		    sa->accounts[i][len] == ',')
			ok = 0;
	}
	free(prefix);
	return (ok);
}

/* A record that did not pass: counted, the first kept for the message. */
static void
status_cli_refuse(struct status_cli_answer *sa, const char *line)
{
	if (sa->refused++ == 0)
		sa->first_refused = log_sanitize(line, strlen(line), 100);
}

/* One record line (of the daemon, or read back from a worker). */
static void
status_cli_record(const char *line, void *arg)
{
	struct status_cli_answer	*sa = arg;

	sa->seen++;
	if (strncmp(line, "daemon ", 7) == 0 &&
	    strncmp(line + 7, "{\"pid\":", 7) == 0 &&
	    json_valid_object(line + 7))
		status_cli_add(&sa->daemons, &sa->ndaemons, line + 7);
	else if (strncmp(line, "account ", 8) == 0 &&
	    status_cli_account_ok(sa, line + 8))
		status_cli_add(&sa->accounts, &sa->naccounts, line + 8);
	else if (strncmp(line, "unknown ", 8) == 0 &&
	    (!sa->strict || config_find_account(sa->conf, line + 8) != NULL))
		status_cli_add(&sa->unknown, &sa->nunknown, line + 8);
	else if (strncmp(line, "error ", 6) == 0) {
		if (sa->error == NULL)
			sa->error = log_sanitize(line, strlen(line), 200);
	} else
		status_cli_refuse(sa, line);
}

/* Prints a text line, control bytes escaped: it may come from another
 * user's listener (see status_cli_account_ok), to root's terminal. */
static void
status_cli_print(const char *line)
{
	char	*copy;

	/* Another owner's daemon may have written it: C1 controls too
	 * (iscntrl() passes them in the C locale). */
	copy = log_escape_controls(line, 0);
	printf("%s\n", copy);
	free(copy);
}

/* One text line "NAME: ...": printed when asked for. */
static void
status_cli_text(const char *line, void *arg)
{
	struct status_cli_answer	*sa = arg;
	const char			*colon;
	char				*name;
	size_t				 i, len;
	int				 ours;

	sa->seen++;
	/* "error too many clients" is no account's line (review r20 09). */
	if (strncmp(line, "error ", 6) == 0) {
		if (sa->error == NULL)
			sa->error = log_sanitize(line, strlen(line), 200);
		return;
	}
	/* In an owner's worker: only lines of the owner's accounts. */
	if (sa->strict && (colon = strchr(line, ':')) != NULL) {
		name = xstrndup(line, (size_t)(colon - line));
		ours = config_find_account(sa->conf, name) != NULL;
		free(name);
	} else
		ours = !sa->strict;
	if (!ours) {
		status_cli_refuse(sa, line);
		return;
	}
	if (sa->n == 0) {
		status_cli_print(line);
		return;
	}
	for (i = 0; i < sa->n; i++) {
		len = strlen(sa->names[i]);
		if (strncmp(line, sa->names[i], len) == 0 &&
		    line[len] == ':') {
			sa->matched[i] = 1;
			status_cli_print(line);
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
	size_t	 next = 0, ndaemons, first = sa->ndaemons;
	int	 rc;

	do {
		ndaemons = sa->ndaemons;
		cmd = status_cli_command(names, n, &next, json);
		/* The whole answer within CONTROL_TIMEOUT and, from another
		 * user's listener, at most a few lines per account of the
		 * owner's: one that drips or floods holds no one (as root:
		 * every owner's). */
		rc = control_command_bounded(fd, cmd, CONTROL_TIMEOUT * 1000,
		    0, sa->strict ? 2 * (sa->conf->naccounts + n) + 16 : 0,
		    json ? status_cli_record : status_cli_text, sa, cause);
		free(cmd);
		/* (Another daemon asked before on sa keeps its own.) */
		while (ndaemons > first && sa->ndaemons > ndaemons)
			free(sa->daemons[--sa->ndaemons]);
	} while (rc == 0 && next < n);
	return (rc);
}

/* Records or lines refused: said, and EXIT_NO_DAEMON (the answer was not
 * the daemon's, or not all of it). */
static int
status_cli_refused(const char *where, const struct status_cli_answer *sa)
{
	if (sa->refused == 0)
		return (0);
	fprintf(stderr, "mailfetchd: %zu line%s of the answer from %s refused "
	    "(not a valid record%s); the first: %s\n", sa->refused,
	    sa->refused == 1 ? "" : "s", where, sa->strict ? " of an account "
	    "of its owner's, or a second one" : "", sa->first_refused);
	return (EXIT_NO_DAEMON);
}

/* Milliseconds of the monotonic clock (the same in every process). */
static uint64_t
status_cli_now(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000);
}

/* Whether an ask that failed may be tried again (sa->retry_until): its
 * daemon said nothing yet. Waits a little first. */
static int
status_cli_retry(const struct status_cli_answer *sa)
{
	if (sa->seen > 0 || status_cli_now() >= sa->retry_until)
		return (0);
	usleep(100 * 1000);
	return (1);
}

/* The answer is in sa: its refusal or refused lines said. 0, or
 * EXIT_NO_DAEMON. */
static int
status_cli_answered(const char *where, struct status_cli_answer *sa)
{
	if (sa->error != NULL) {
		fprintf(stderr, "mailfetchd: the daemon refused the status: "
		    "%s\n", sa->error);
		return (EXIT_NO_DAEMON);
	}
	return (status_cli_refused(where, sa));
}

/* Connected, or said why not. */
static int
status_cli_connected(int fd, char *cause)
{
	if (fd == -1) {
		fprintf(stderr, "mailfetchd: no daemon answers (%s)\n", cause);
		free(cause);
	}
	return (fd != -1);
}

/* Asks the daemon connected on fd (closed here), at where. 0, or
 * EXIT_NO_DAEMON (said). */
static int
status_cli_ask_on(int fd, const char *where, const char *const *names,
    size_t n, int json, struct status_cli_answer *sa)
{
	char	*cause;
	int	 rc;

	rc = status_cli_send(fd, names, n, json, sa, &cause);
	close(fd);
	if (rc != 0) {
		fprintf(stderr, "mailfetchd: %s\n", cause);
		free(cause);
		return (EXIT_NO_DAEMON);
	}
	return (status_cli_answered(where, sa));
}

/* Connects to the configuration's daemon. In an owner's worker the
 * socket is in a directory the owner controls: only a worker of root's
 * supervisor is asked, the connect bounded (a listener that never
 * accepts, its backlog full, held root's --status for ever). */
static int
status_cli_connect(const struct config *conf, char **cause)
{
	if (privsep_dropped())
		return (control_connect_supervised(conf->control_socket,
		    CONTROL_TIMEOUT * 1000, geteuid(), cause));
	return (control_connect_daemon(conf, cause));
}

/* Asks the configuration's daemon (again while sa->retry_until lets:
 * status_cli_retry). 0, or EXIT_NO_DAEMON (said). */
static int
status_cli_ask(const struct config *conf, const char *const *names,
    size_t n, int json, struct status_cli_answer *sa)
{
	char	*cause = NULL;
	int	 fd, rc = -1;

	for (;;) {
		if ((fd = status_cli_connect(conf, &cause)) != -1) {
			rc = status_cli_send(fd, names, n, json, sa, &cause);
			close(fd);
			if (rc == 0)
				return (status_cli_answered(
				    conf->control_socket, sa));
		}
		/* Not the daemon (EPERM): no use asking again. */
		if ((fd == -1 && errno == EPERM) || !status_cli_retry(sa))
			break;
		free(cause);
	}
	if (fd == -1)
		fprintf(stderr, "mailfetchd: no daemon answers (%s)\n", cause);
	else
		fprintf(stderr, "mailfetchd: %s\n", cause);
	free(cause);
	return (EXIT_NO_DAEMON);
}

/* The owners' daemons' sockets found under state_dir/owner. */
struct status_cli_sockets {
	char	**paths;
	uid_t	 *uids;	/* the owner of each directory */
	size_t	  n;
};

/* Whether name is an owner's daemon's socket name (config_owner_socket):
 * "control", or "control.K-of-N" of a shard instance. */
static int
status_cli_socket_name(const char *name)
{
	unsigned int	k, n;
	char		tail;

	return (strcmp(name, CONTROL_NAME) == 0 || sscanf(name, CONTROL_NAME
	    ".%u-of-%u%c", &k, &n, &tail) == 2);
}

/* Adds the sockets (lstat: no symlink) of one owner's directory. */
static void
status_cli_owner_dir(const char *dir, struct status_cli_sockets *ss)
{
	struct dirent	*de;
	struct stat	 sb;
	char		*path;
	DIR		*d;

	if ((d = opendir(dir)) == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		if (!status_cli_socket_name(de->d_name))
			continue;
		xasprintf(&path, "%s/%s", dir, de->d_name);
		if (lstat(path, &sb) == 0 && S_ISSOCK(sb.st_mode)) {
			ss->paths = xreallocarray(ss->paths, ss->n + 1,
			    sizeof *ss->paths);
			ss->uids = xreallocarray(ss->uids, ss->n + 1,
			    sizeof *ss->uids);
			ss->uids[ss->n] = sb.st_uid;
			ss->paths[ss->n++] = path;
		} else
			free(path);
	}
	closedir(d);
}

/* As root, the sockets of the owners' daemons: under privsep the
 * supervisor has none, each owner's worker listens in
 * state_dir/owner/USER (privsep.h). The owners are not known without
 * the configuration: the directories say them. */
static void
status_cli_owner_sockets(const char *state_dir, struct status_cli_sockets *ss)
{
	struct dirent	*de;
	char		*top, *dir;
	DIR		*d;

	memset(ss, 0, sizeof *ss);
	if (geteuid() != 0)
		return;
	xasprintf(&top, "%s/owner", state_dir);
	if ((d = opendir(top)) != NULL) {
		while ((de = readdir(d)) != NULL) {
			if (de->d_name[0] == '.')
				continue;
			xasprintf(&dir, "%s/%s", top, de->d_name);
			status_cli_owner_dir(dir, ss);
			free(dir);
		}
		closedir(d);
	}
	free(top);
}

/* Asks each owner's daemon (and the configuration's, when a socket is
 * there), each in a directory its owner controls: only a worker of
 * root's supervisor is asked (control_connect_supervised), each answer
 * bounded and its text escaped (review r20 08). The worst status. */
static int
status_cli_ask_owners(const struct config *conf,
    const struct status_cli_sockets *ss, const char *const *names, size_t n,
    int json, struct status_cli_answer *sa)
{
	struct stat	 sb;
	char		*cause = NULL;
	size_t		 i;
	int		 fd, rc = 0, one;

	if (lstat(conf->control_socket, &sb) == 0 && S_ISSOCK(sb.st_mode))
		rc = status_cli_ask(conf, names, n, json, sa);
	for (i = 0; i < ss->n; i++) {
		fd = control_connect_supervised(ss->paths[i],
		    CONTROL_TIMEOUT * 1000, ss->uids[i], &cause);
		one = status_cli_connected(fd, cause) ? status_cli_ask_on(fd,
		    ss->paths[i], names, n, json, sa) : EXIT_NO_DAEMON;
		if (one > rc)
			rc = one;
	}
	return (rc);
}

static void
status_cli_sockets_free(struct status_cli_sockets *ss)
{
	status_cli_free_list(ss->paths, ss->n);
	free(ss->uids);
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

static int	status_cli_ask_all(const struct config *,
		    const struct status_cli_sockets *, const char *const *,
		    size_t, int, const struct status_cli_job *);

/* --status; in an owner's worker with root's job, strict
 * (status_cli_answer). */
static int
status_cli_run(const struct config *conf, const char *const *names,
    size_t n, int json, const struct status_cli_job *job)
{
	if (status_cli_check(conf, names, n) != 0)
		return (EXIT_CONFIG);
	return (status_cli_ask_all(conf, NULL, names, n, json, job));
}

/* status_cli_run once the names are checked (or cannot be: the
 * configuration does not parse; owners: the owners' daemons found). */
static int
status_cli_ask_all(const struct config *conf,
    const struct status_cli_sockets *owners, const char *const *names,
    size_t n, int json, const struct status_cli_job *job)
{
	struct status_cli_answer	sa;
	int				rc, unknown;

	memset(&sa, 0, sizeof sa);
	sa.conf = conf;
	sa.strict = job != NULL;
	sa.retry_until = job != NULL ? job->retry_until : 0;
	sa.names = names;
	sa.n = json ? 0 : n;
	sa.matched = xcalloc(n + 1, sizeof *sa.matched);
	if (owners != NULL && owners->n > 0)
		rc = status_cli_ask_owners(conf, owners, names, n, json, &sa);
	else
		rc = status_cli_ask(conf, names, n, json, &sa);
	unknown = rc == 0 ? status_cli_unknown(conf, &sa) : 0;
	if (json && rc == 0)
		status_cli_document(&sa);
	status_cli_answer_free(&sa);
	return (status_cli_exit(rc, unknown));
}

int
status_cli(const struct config *conf, const char *const *names, size_t n,
    int json)
{
	return (status_cli_run(conf, names, n, json, NULL));
}

/* In an owner's worker: the text lines as they are, or the records for
 * the parent (the worker's stdout is its file). */
static int
status_cli_worker(struct config *conf, const char *const *names, size_t n,
    void *arg)
{
	struct status_cli_answer	 sa;
	const struct status_cli_job	*job = arg;
	size_t				 i;
	int				 rc;

	if (!job->json)
		return (status_cli_run(conf, names, n, 0, job));
	memset(&sa, 0, sizeof sa);
	sa.conf = conf;
	sa.strict = 1;
	sa.retry_until = job->retry_until;
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
    size_t n, FILE *f, struct status_cli_job *job, int *rc)
{
	int	saved;

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
	    status_cli_worker, job);
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
	struct status_cli_job		 job;
	FILE				*f;
	int				 rc, unknown;

	if (status_cli_check(conf, names, n) != 0)
		return (EXIT_CONFIG);
	job.json = json;
	job.retry_until = status_cli_now() + STATUS_CLI_RESTART_MS;
	if (!json)
		return (privsep_run(conf, names, n, PRIVSEP_SEQUENTIAL |
		    PRIVSEP_WORST, status_cli_worker, &job));
	if ((f = tmpfile()) == NULL) {
		fprintf(stderr, "mailfetchd: --status --json: temporary "
		    "file: %s\n", strerror(errno));
		return (EXIT_LOCAL);
	}
	if (status_cli_gather(conf, names, n, f, &job, &rc) != 0) {
		fclose(f);
		return (EXIT_LOCAL);
	}
	memset(&sa, 0, sizeof sa);
	sa.conf = conf;
	sa.strict = 1;
	status_cli_read(f, &sa);
	fclose(f);
	if (status_cli_refused("the owners' workers", &sa) > rc)
		rc = EXIT_NO_DAEMON;
	unknown = status_cli_unknown(conf, &sa);
	status_cli_document(&sa);
	status_cli_answer_free(&sa);
	return (status_cli_exit(rc, unknown));
}

/* The value of a top-level `key = "VALUE"` line of the file f, as
 * mailfetchd.conf(5) writes it (no escapes); NULL if there is none. */
static char *
status_cli_scan(FILE *f, const char *key)
{
	char	*line = NULL, *p, *end, *value = NULL;
	size_t	 size = 0, len = strlen(key);

	rewind(f);
	while (value == NULL && getline(&line, &size, f) != -1) {
		p = line + strspn(line, " \t");
		if (strncmp(p, key, len) != 0)
			continue;
		p += len;
		p += strspn(p, " \t");
		if (*p++ != '=')
			continue;
		p += strspn(p, " \t");
		if (*p++ != '"' || (end = strchr(p, '"')) == NULL ||
		    memchr(p, '\\', (size_t)(end - p)) != NULL)
			continue;
		value = xstrndup(p, (size_t)(end - p));
	}
	free(line);
	return (value);
}

int
status_cli_unparsed(const char *path, const char *const *names, size_t n,
    int json)
{
	struct config			 conf;
	struct status_cli_sockets	 owners;
	FILE				*f;
	const char			*rt = getenv("RUNTIME_DIRECTORY");
	int				 rc;

	memset(&conf, 0, sizeof conf);
	conf.path = (char *)path;
	if ((f = fopen(path, "r")) != NULL) {
		conf.state_dir = status_cli_scan(f, "state_dir");
		conf.control_socket = status_cli_scan(f, "control_socket");
		fclose(f);
	}
	if (conf.state_dir == NULL)
		conf.state_dir = xstrdup(CONFIG_DEFAULT_STATE_DIR);
	if (conf.control_socket == NULL) {
		/* As config.c makes the default. */
		conf.control_socket_default = 1;
		if (rt != NULL && *rt == '/')
			xasprintf(&conf.control_socket, "%.*s/" CONTROL_NAME,
			    (int)strcspn(rt, ":"), rt);
		else
			xasprintf(&conf.control_socket, "%s/" CONTROL_NAME,
			    conf.state_dir);
	}
	status_cli_owner_sockets(conf.state_dir, &owners);
	if (owners.n > 0)
		fprintf(stderr, "mailfetchd: %s does not parse; asking the "
		    "owners' daemons under %s/owner (and the daemon at %s if "
		    "a socket is there)\n", path, conf.state_dir,
		    conf.control_socket);
	else
		fprintf(stderr, "mailfetchd: %s does not parse; asking the "
		    "daemon at %s (the control_socket it names, or the "
		    "default)\n", path, conf.control_socket);
	rc = status_cli_ask_all(&conf, &owners, names, n, json, NULL);
	status_cli_sockets_free(&owners);
	free(conf.state_dir);
	free(conf.control_socket);
	return (rc);
}
