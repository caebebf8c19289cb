/* main.c: the command line; picks --check-config, --status, --once or the
 * daemon, and turns the outcome into the exit status documented in
 * mailfetchd(8). --once asks a running daemon first (control.h), so that
 * it never fights the daemon for the account locks. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "control.h"
#include "daemon.h"
#include "diagnose.h"
#include "oauth2.h"
#include "fetch.h"
#include "log.h"
#include "privsep.h"
#include "provider.h"
#include "secret.h"
#include "shard.h"
#include "status_cli.h"
#include "xmalloc.h"

enum main_mode {
	MODE_DAEMON,
	MODE_ONCE,
	MODE_CHECK,
	MODE_STATUS,
	MODE_DIAGNOSE,
	MODE_OAUTH2_SETUP,
};

/* What a delegated --once learns from the daemon. */
struct main_fetch {
	const struct config *conf;	/* its accounts only are taken */
	int		 rc;		/* merged; -1: no account yet */
	const char	**unknown;	/* accounts the daemon does not run */
	size_t		 nunknown;
	int		 refused;
};

struct main_opts {
	const char	*config_path;
	enum main_mode	 mode;
	const char	**accounts;
	size_t		 naccounts;
	int		 verbosity;	/* -v adds one, -q takes one */
	int		 json;		/* --status --json */
	const char	*oauth2_account; /* --oauth2-setup */
};

static const struct option main_longopts[] = {
	{ "config",		required_argument,	NULL, 'c' },
	{ "once",		no_argument,		NULL, 'o' },
	{ "account",		required_argument,	NULL, 'a' },
	{ "check-config",	no_argument,		NULL, 'n' },
	{ "status",		optional_argument,	NULL, 's' },
	{ "json",		no_argument,		NULL, 'j' },
	{ "diagnose",		optional_argument,	NULL, 'D' },
	{ "providers",		no_argument,		NULL, 'P' },
	{ "oauth2-setup",	required_argument,	NULL, 'O' },
	{ "shard",		required_argument,	NULL, 'S' },
	{ "verbose",		no_argument,		NULL, 'v' },
	{ "quiet",		no_argument,		NULL, 'q' },
	{ "version",		no_argument,		NULL, 'V' },
	{ "help",		no_argument,		NULL, 'h' },
	{ NULL,			0,			NULL, 0 },
};

static void
main_usage(FILE *f)
{
	fprintf(f,
"usage: mailfetchd [-c FILE] [-v | -q] [--once [--account NAME]...]\n"
"       mailfetchd [-c FILE] --check-config\n"
"       mailfetchd [-c FILE] --status [--json] [ACCOUNT...]\n"
"       mailfetchd [-c FILE] --diagnose [ACCOUNT]\n"
"       mailfetchd [-c FILE] --oauth2-setup ACCOUNT\n"
"       mailfetchd --providers\n"
"       (each form but --providers also with --shard K/N)\n"
"       mailfetchd --version | --help\n"
"\n"
"Without --once or --check-config: the daemon, in the foreground (SIGHUP\n"
"reloads the configuration, SIGTERM stops).\n"
"\n"
"  -c, --config FILE     configuration file (default %s)\n"
"      --once            fetch every account (or each --account) once, then exit;\n"
"                        a running daemon is asked to do it (control socket)\n"
"      --account NAME    with --once: only this account (repeatable)\n"
"  -n, --check-config    validate the configuration, print it with secrets\n"
"                        redacted, and exit\n"
"      --status [ACCOUNT...]  print the running daemon's state of each account\n"
"                        (or of each ACCOUNT); exit 0, 2 for an account it does\n"
"                        not run, 4 if no daemon answers\n"
"      --json            with --status: one JSON document (doc/status.schema.json)\n"
"      --diagnose [ACCOUNT]  check each account (or ACCOUNT, or each --account)\n"
"                        step by step: DNS, TCP, TLS, capabilities, login,\n"
"                        folders; exit 0 when a fetch would work\n"
"      --providers       list the provider presets (provider = NAME) and exit\n"
"      --oauth2-setup ACCOUNT  first OAuth2 grant of an account with an oauth2\n"
"                        section; stores its refresh token in the state dir\n"
"      --shard K/N       this instance is K of N (1 <= K <= N): only the accounts\n"
"                        that hash to it (overrides shard = in the file)\n"
"  -v, --verbose         more log output (repeat for debug)\n"
"  -q, --quiet           only warnings and errors\n"
"  -V, --version         print the version and exit\n"
"  -h, --help            print this help and exit\n"
"\n"
"Exit status with --once: 0 new mail, 1 nothing new, 2 configuration error,\n"
"3 authentication, 4 network/TLS, 5 server protocol, 6 account locked,\n"
"7 partial failure, 8 local delivery error, 9 not supported yet.\n"
"See mailfetchd(8) and mailfetchd.conf(5).\n", CONFIG_DEFAULT_PATH);
}

/* How loud an account's answer is: a refusal for now (a backoff, the
 * provider's minimum interval) is no failure of this run. */
static enum log_level
main_fetch_level(int status)
{
	if (status == EXIT_NEW_MAIL || status == EXIT_NOTHING_NEW)
		return (LOG_LVL_INFO);
	return (status == EXIT_DEFERRED ? LOG_LVL_NOTICE : LOG_LVL_ERROR);
}

/* One line of a fetch answer, logged as --once logs an account's end. */
static void
main_fetch_line(const char *line, void *arg)
{
	struct main_fetch	*mf = arg;
	char			 name[128], text[256], *safe;
	unsigned long		 msgs;
	unsigned long long	 bytes;
	int			 status;

	/* Only the accounts asked about (of this owner's, in a worker),
	 * the daemon's text escaped: under privsep the answer comes from a
	 * socket in a directory the owner controls (review r20 12). */
	if (line[0] == '#')
		return;		/* "# busy": the daemon is alive */
	if (sscanf(line, "%127s %d %lu %llu %255[^\n]", name, &status, &msgs,
	    &bytes, text) == 5 && config_find_account(mf->conf, name) != NULL) {
		safe = log_escape_controls(text, 0);
		if (status == EXIT_NEW_MAIL)
			log_msg(LOG_LVL_INFO, &(struct log_ctx){ name, NULL, 0 },
			    "fetched %lu message%s (%llu bytes) by the running "
			    "daemon", msgs, msgs == 1 ? "" : "s", bytes);
		else
			log_msg(main_fetch_level(status),
			    &(struct log_ctx){ name, NULL, 0 },
			    "%s (by the running daemon)", safe);
		free(safe);
		mf->rc = mf->rc == -1 ? status : outcome_merge(mf->rc, status);
	} else if (sscanf(line, "%127s unknown", name) == 1 &&
	    strncmp(line, "error ", 6) != 0 &&
	    config_find_account(mf->conf, name) != NULL) {
		mf->unknown = xreallocarray(mf->unknown, mf->nunknown + 1,
		    sizeof *mf->unknown);
		mf->unknown[mf->nunknown++] = xstrdup(name);
	} else {
		safe = log_escape_controls(line, 0);
		log_msg(LOG_LVL_ERROR, NULL, "the running daemon says: %s",
		    safe);
		free(safe);
		mf->refused = 1;
	}
}

/* Sends "fetch NAME..." in as few commands as fit a line. */
static int
main_fetch_send(int fd, const char *const *names, size_t n,
    struct main_fetch *mf, char **cause)
{
	char	 cmd[CONTROL_LINE_MAX];
	size_t	 i = 0, len;

	while (i < n) {
		len = (size_t)snprintf(cmd, sizeof cmd, "fetch");
		/* Names are at most 64 bytes (mailfetchd.conf(5)). */
		while (i < n && len + 1 + strlen(names[i]) < sizeof cmd - 2)
			len += (size_t)snprintf(cmd + len, sizeof cmd - len,
			    " %s", names[i++]);
		/* Bounded: a daemon alive says "# busy" meanwhile; a hung
		 * or stopped one (an owner's worker) must not hold a cron
		 * job for ever (review r24 10). */
		if (control_command(fd, cmd, CONTROL_FETCH_SILENCE,
		    main_fetch_line, mf, cause) != 0)
			return (-1);
	}
	return (0);
}

/* The daemon to ask, -1 if none. In an owner's worker the socket is in a
 * directory the owner controls, and what listens there may be the
 * owner's own program: only a worker of root's supervisor is asked, and
 * never without a bound on the connect (review r20 12). */
static int
main_connect(const struct config *conf)
{
	char	*cause;
	int	 fd;

	if (privsep_dropped())
		fd = control_connect_supervised(conf->control_socket,
		    CONTROL_TIMEOUT * 1000, geteuid(), &cause);
	else
		fd = control_connect_daemon(conf, &cause);
	if (fd != -1)
		return (fd);
	if (errno == EPERM)
		log_msg(LOG_LVL_WARNING, NULL, "%s; fetching here", cause);
	free(cause);
	return (-1);
}

/* --once with a daemon running: asks it to fetch, waits for its answer.
 * Returns -1 when no daemon answers (fetch locally), else the exit
 * status; accounts the daemon does not run are fetched here. */
static int
main_delegate(const struct config *conf, const char **names, size_t n)
{
	struct main_fetch	 mf = { conf, -1, NULL, 0, 0 };
	const char		**all = NULL;
	char			*cause;
	size_t			 i;
	int			 fd, rc;

	for (i = 0; i < n; i++) {
		if (config_find_account(conf, names[i]) == NULL)
			return (-1);	/* fetch_once reports it */
	}
	if (conf->naccounts == 0 || (fd = main_connect(conf)) == -1)
		return (-1);
	if (n == 0) {
		all = xreallocarray(NULL, conf->naccounts, sizeof *all);
		for (i = 0; i < conf->naccounts; i++)
			all[i] = conf->accounts[i].name;
		names = all;
		n = conf->naccounts;
	}
	log_msg(LOG_LVL_INFO, NULL, "a daemon runs (%s): asking it to fetch",
	    conf->control_socket);
	rc = main_fetch_send(fd, names, n, &mf, &cause);
	close(fd);
	free(all);
	if (rc != 0) {
		log_msg(LOG_LVL_ERROR, NULL, "the running daemon did not "
		    "answer: %s", cause);
		free(cause);
		mf.refused = 1;
	}
	if (mf.nunknown > 0) {
		rc = fetch_once(conf, mf.unknown, mf.nunknown);
		mf.rc = mf.rc == -1 ? rc : outcome_merge(mf.rc, rc);
	}
	for (i = 0; i < mf.nunknown; i++)
		free((char *)mf.unknown[i]);
	free(mf.unknown);
	/* The accounts are the daemon's, and it would not fetch them. */
	if (mf.refused)
		mf.rc = mf.rc == -1 ? EXIT_LOCKED : outcome_merge(mf.rc,
		    EXIT_LOCKED);
	return (mf.rc == -1 ? EXIT_LOCKED : mf.rc);
}

/* --once in an owner's worker (privsep.h): that owner's daemon first, as
 * without privsep, then the rest here. */
static int
main_once_worker(struct config *conf, const char *const *names, size_t n,
    void *arg)
{
	int	rc;

	(void)arg;
	rc = main_delegate(conf, (const char **)names, n);
	if (rc == -1)
		rc = fetch_once(conf, names, n);
	return (rc);
}

/* --diagnose in an owner's worker: with the owner's files and rights. */
static int
main_diagnose_worker(struct config *conf, const char *const *names,
    size_t n, void *arg)
{
	(void)arg;
	return (diagnose_run(conf, names, n, stdout));
}

/* --oauth2-setup in the owner's worker: the token file is the owner's. */
static int
main_oauth2_worker(struct config *conf, const char *const *names,
    size_t n, void *arg)
{
	(void)n;
	(void)arg;
	return (oauth2_setup_account(conf, names[0], stdout));
}

/* Root with accounts that have an owner: every mode but --check-config
 * runs in the owners' workers. Takes ownership of conf. */
static int
main_privsep(const struct main_opts *opts, struct config *conf)
{
	const char	*one[1];
	int		 rc;

	switch (opts->mode) {
	case MODE_STATUS:
		rc = status_cli_privsep(conf, opts->accounts, opts->naccounts,
		    opts->json);
		break;
	case MODE_DIAGNOSE:
		rc = privsep_run(conf, opts->accounts, opts->naccounts,
		    PRIVSEP_SEQUENTIAL, main_diagnose_worker, NULL);
		break;
	case MODE_OAUTH2_SETUP:
		one[0] = opts->oauth2_account;
		rc = privsep_run(conf, one, 1, PRIVSEP_SEQUENTIAL,
		    main_oauth2_worker, NULL);
		break;
	case MODE_ONCE:
		rc = privsep_run(conf, opts->accounts, opts->naccounts, 0,
		    main_once_worker, NULL);
		log_msg(main_fetch_level(rc), NULL, "finished: %s (exit "
		    "status %d)", outcome_name(rc), rc);
		break;
	default:
		return (privsep_daemon(opts->config_path, conf,
		    opts->verbosity));
	}
	config_free(conf);
	return (rc);
}

/* Adds an account name of --account, --diagnose or --status. */
static void
main_add_account(struct main_opts *opts, const char *name)
{
	opts->accounts = xreallocarray(opts->accounts, opts->naccounts + 1,
	    sizeof *opts->accounts);
	opts->accounts[opts->naccounts++] = name;
}

/* A name given twice to --account or --diagnose counts once: the account
 * is fetched (checked) once, in one budget (review r14 01). --status
 * answers every name it was given, as asked. */
static void
main_dedupe_accounts(struct main_opts *opts)
{
	size_t	i, j, o = 0;

	for (i = 0; i < opts->naccounts; i++) {
		for (j = 0; j < o; j++)
			if (strcmp(opts->accounts[j], opts->accounts[i]) == 0)
				break;
		if (j == o)
			opts->accounts[o++] = opts->accounts[i];
	}
	opts->naccounts = o;
}

/* The optional account of --diagnose and --status: "--status NAME" as
 * well as "--status=NAME". */
static void
main_optional_account(struct main_opts *opts, int argc, char **argv)
{
	if (optarg == NULL && optind < argc && argv[optind][0] != '-')
		optarg = argv[optind++];
	if (optarg != NULL)
		main_add_account(opts, optarg);
}

/* --shard K/N: checked here for a clear usage error, then handed to every
 * config_load (reloads and privsep workers too) through the environment
 * (shard.h). */
static void
main_shard_arg(const char *arg)
{
	struct shard	 sh;
	char		*cause;

	if (shard_parse(arg, &sh, &cause) != 0) {
		fprintf(stderr, "mailfetchd: --shard: %s\n", cause);
		free(cause);
		exit(EXIT_CONFIG);
	}
	if (setenv(SHARD_ENV, arg, 1) != 0) {
		fprintf(stderr, "mailfetchd: --shard: %s\n", strerror(errno));
		exit(EXIT_LOCAL);
	}
}

/* An --account (or --status, --diagnose) name another instance owns: a
 * clear refusal, not a fetch behind that instance's back (it may be
 * fetching it now; the lock would refuse it anyway). */
static int
main_shard_refuse(const struct config *conf, const struct main_opts *opts)
{
	unsigned int	owner;
	size_t		i;
	int		bad = 0;

	for (i = 0; i < opts->naccounts; i++) {
		if ((owner = shard_other_owner(conf, opts->accounts[i])) == 0)
			continue;
		fprintf(stderr, "mailfetchd: account \"%s\" belongs to shard "
		    "%u/%u, not to this instance (%u/%u); run it there, or "
		    "with --shard %u/%u\n", opts->accounts[i], owner,
		    conf->shard_count, conf->shard_index, conf->shard_count,
		    owner, conf->shard_count);
		bad = 1;
	}
	/* Said plainly, not as "no account configured": more instances
	 * than accounts, or a wrong N. */
	if (conf->shard_count > 0 && conf->naccounts == 0 &&
	    (opts->mode == MODE_DAEMON || opts->mode == MODE_ONCE)) {
		fprintf(stderr, "mailfetchd: %s: shard %u/%u owns none of the "
		    "%zu account%s in it\n", conf->path, conf->shard_index,
		    conf->shard_count, conf->nshard_others,
		    conf->nshard_others == 1 ? "" : "s");
		bad = 1;
	}
	return (bad);
}

/* --status (text) of a sharded instance: its share first. */
static void
main_shard_status(const struct config *conf, const struct main_opts *opts)
{
	char	line[128];

	if (conf->shard_count == 0 || opts->mode != MODE_STATUS || opts->json)
		return;
	shard_describe(conf, line, sizeof line);
	printf("%s\n", line);
}

/* Parses argv into opts; exits with EXIT_CONFIG on a usage error. */
static void
main_parse_args(int argc, char **argv, struct main_opts *opts)
{
	int	ch;

	while ((ch = getopt_long(argc, argv, "c:nvqVh", main_longopts,
	    NULL)) != -1) {
		switch (ch) {
		case 'c':
			opts->config_path = optarg;
			break;
		case 'o':
			if (opts->mode != MODE_CHECK)
				opts->mode = MODE_ONCE;
			break;
		case 'a':
			main_add_account(opts, optarg);
			break;
		case 'n':
			opts->mode = MODE_CHECK;
			break;
		case 's':
			if (opts->mode != MODE_CHECK)
				opts->mode = MODE_STATUS;
			main_optional_account(opts, argc, argv);
			break;
		case 'j':
			opts->json = 1;
			break;
		case 'D':
			opts->mode = MODE_DIAGNOSE;
			main_optional_account(opts, argc, argv);
			break;
		case 'v':
			opts->verbosity++;
			break;
		case 'q':
			opts->verbosity--;
			break;
		case 'O':
			opts->mode = MODE_OAUTH2_SETUP;
			opts->oauth2_account = optarg;
			break;
		case 'S':
			main_shard_arg(optarg);
			break;
		case 'P':
			provider_print_list(stdout);
			exit(fflush(stdout) == 0 ? 0 : EXIT_LOCAL);
		case 'V':
			printf("mailfetchd %s\n", PACKAGE_VERSION);
			exit(0);
		case 'h':
			main_usage(stdout);
			exit(0);
		default:
			main_usage(stderr);
			exit(EXIT_CONFIG);
		}
	}
	/* "--status --json NAME": names after the options too. */
	while (opts->mode == MODE_STATUS && optind < argc)
		main_add_account(opts, argv[optind++]);
	if (opts->mode != MODE_STATUS)
		main_dedupe_accounts(opts);
	if (optind != argc) {
		fprintf(stderr, "mailfetchd: unexpected argument '%s'\n",
		    argv[optind]);
		main_usage(stderr);
		exit(EXIT_CONFIG);
	}
	if (opts->naccounts > 0 && opts->mode != MODE_ONCE &&
	    opts->mode != MODE_DIAGNOSE && opts->mode != MODE_STATUS) {
		fprintf(stderr, "mailfetchd: --account needs --once, "
		    "--diagnose or --status\n");
		exit(EXIT_CONFIG);
	}
	if (opts->json && opts->mode != MODE_STATUS) {
		fprintf(stderr, "mailfetchd: --json needs --status\n");
		exit(EXIT_CONFIG);
	}
}

int
main(int argc, char **argv)
{
	struct main_opts	 opts = { CONFIG_DEFAULT_PATH, MODE_DAEMON,
				     NULL, 0, 0, 0, NULL };
	struct config		*conf;
	char			*cause;
	int			 rc;

	signal(SIGPIPE, SIG_IGN);
	/* No core dump, no ptrace by others of our uid: we hold passwords. */
	secret_harden_process();
	log_init(daemon_log_level(LOG_LVL_INFO, 0));
	main_parse_args(argc, argv, &opts);

	if ((conf = config_load(opts.config_path, &cause)) == NULL) {
		fprintf(stderr, "%s\n", cause);
		free(cause);
		/* --status needs the socket only (review r16). */
		rc = opts.mode == MODE_STATUS ? status_cli_unparsed(
		    opts.config_path, opts.accounts, opts.naccounts,
		    opts.json) : EXIT_CONFIG;
		free(opts.accounts);
		return (rc);
	}
	log_set_level(daemon_log_level(conf->log_level, opts.verbosity));
	config_log_warnings(conf);
	if (main_shard_refuse(conf, &opts)) {
		config_free(conf);
		free(opts.accounts);
		return (EXIT_CONFIG);
	}
	main_shard_status(conf, &opts);
	/* As root, no account may write where a user could have put a
	 * link, unless the admin said so (mailfetchd.conf(5), owner). */
	if (geteuid() == 0 && privsep_check(conf, &cause) != 0) {
		fprintf(stderr, "%s\n", cause);
		free(cause);
		config_free(conf);
		free(opts.accounts);
		return (EXIT_CONFIG);
	}
	if (opts.mode != MODE_CHECK && privsep_needed(conf)) {
		rc = main_privsep(&opts, conf);
		free(opts.accounts);
		return (rc);
	}

	switch (opts.mode) {
	case MODE_CHECK:
		config_print(stdout, conf);
		rc = fflush(stdout) == 0 ? 0 : EXIT_LOCAL;
		break;
	case MODE_STATUS:
		rc = status_cli(conf, opts.accounts, opts.naccounts, opts.json);
		break;
	case MODE_DIAGNOSE:
		rc = diagnose_run(conf, opts.accounts, opts.naccounts, stdout);
		break;
	case MODE_OAUTH2_SETUP:
		rc = oauth2_setup_account(conf, opts.oauth2_account, stdout);
		break;
	case MODE_ONCE:
		rc = main_delegate(conf, opts.accounts, opts.naccounts);
		if (rc == -1)
			rc = fetch_once(conf, opts.accounts, opts.naccounts);
		log_msg(main_fetch_level(rc), NULL, "finished: %s (exit "
		    "status %d)", outcome_name(rc), rc);
		break;
	default:
		/* The daemon owns (and replaces, on reload) the config. */
		rc = daemon_run(opts.config_path, config_load, conf,
		    opts.verbosity);
		free(opts.accounts);
		return (rc);
	}
	config_free(conf);
	free(opts.accounts);
	return (rc);
}
