/* main.c: the command line; picks --check-config, --once or the daemon, and
 * turns the outcome into the exit status documented in mailfetchd(8). */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "daemon.h"
#include "fetch.h"
#include "log.h"
#include "provider.h"
#include "xmalloc.h"

enum main_mode {
	MODE_DAEMON,
	MODE_ONCE,
	MODE_CHECK,
};

struct main_opts {
	const char	*config_path;
	enum main_mode	 mode;
	const char	**accounts;
	size_t		 naccounts;
	int		 verbosity;	/* -v adds one, -q takes one */
};

static const struct option main_longopts[] = {
	{ "config",		required_argument,	NULL, 'c' },
	{ "once",		no_argument,		NULL, 'o' },
	{ "account",		required_argument,	NULL, 'a' },
	{ "check-config",	no_argument,		NULL, 'n' },
	{ "providers",		no_argument,		NULL, 'P' },
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
"       mailfetchd --providers\n"
"       mailfetchd --version | --help\n"
"\n"
"Without --once or --check-config: the daemon, in the foreground (SIGHUP\n"
"reloads the configuration, SIGTERM stops).\n"
"\n"
"  -c, --config FILE     configuration file (default %s)\n"
"      --once            fetch every account (or each --account) once, then exit\n"
"      --account NAME    with --once: only this account (repeatable)\n"
"  -n, --check-config    validate the configuration, print it with secrets\n"
"                        redacted, and exit\n"
"      --providers       list the provider presets (provider = NAME) and exit\n"
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
			opts->accounts = xreallocarray(opts->accounts,
			    opts->naccounts + 1, sizeof *opts->accounts);
			opts->accounts[opts->naccounts++] = optarg;
			break;
		case 'n':
			opts->mode = MODE_CHECK;
			break;
		case 'v':
			opts->verbosity++;
			break;
		case 'q':
			opts->verbosity--;
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
	if (optind != argc) {
		fprintf(stderr, "mailfetchd: unexpected argument '%s'\n",
		    argv[optind]);
		main_usage(stderr);
		exit(EXIT_CONFIG);
	}
	if (opts->naccounts > 0 && opts->mode != MODE_ONCE) {
		fprintf(stderr, "mailfetchd: --account needs --once\n");
		exit(EXIT_CONFIG);
	}
}

int
main(int argc, char **argv)
{
	struct main_opts	 opts = { CONFIG_DEFAULT_PATH, MODE_DAEMON,
				     NULL, 0, 0 };
	struct config		*conf;
	char			*cause;
	int			 rc;

	signal(SIGPIPE, SIG_IGN);
	log_init(daemon_log_level(LOG_LVL_INFO, 0));
	main_parse_args(argc, argv, &opts);

	if ((conf = config_load(opts.config_path, &cause)) == NULL) {
		fprintf(stderr, "%s\n", cause);
		free(cause);
		free(opts.accounts);
		return (EXIT_CONFIG);
	}
	log_set_level(daemon_log_level(conf->log_level, opts.verbosity));
	config_log_warnings(conf);

	switch (opts.mode) {
	case MODE_CHECK:
		config_print(stdout, conf);
		rc = fflush(stdout) == 0 ? 0 : EXIT_LOCAL;
		break;
	case MODE_ONCE:
		rc = fetch_once(conf, opts.accounts, opts.naccounts);
		log_msg(rc <= EXIT_NOTHING_NEW ? LOG_LVL_INFO : LOG_LVL_ERROR,
		    NULL, "finished: %s (exit status %d)", fetch_exit_name(rc),
		    rc);
		break;
	default:
		/* The daemon owns (and replaces, on reload) the config. */
		rc = daemon_run(opts.config_path, conf, opts.verbosity);
		free(opts.accounts);
		return (rc);
	}
	config_free(conf);
	free(opts.accounts);
	return (rc);
}
