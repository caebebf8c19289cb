/* daemon.h: the long-running daemon: every account in one event loop,
 * polled on the scheduler's timetable (schedule.h), reloaded on SIGHUP,
 * stopped within a bounded time on SIGTERM/SIGINT, reporting to systemd
 * (notify.h). It never forks: systemd (Type=notify) or the shell keeps it
 * in the foreground. */
#ifndef MAILFETCHD_DAEMON_H
#define MAILFETCHD_DAEMON_H

#include "config.h"
#include "log.h"

/* How a reload reads the configuration again: config_load, or a privsep
 * worker's loader that keeps to its owner's accounts (privsep.c; passed
 * in, so that the daemon does not depend on the supervisor that runs
 * it). */
typedef struct config *(*daemon_load_cb)(const char *path, char **cause);

/* Runs the daemon until SIGTERM or SIGINT. Takes ownership of conf (it is
 * replaced on each successful reload of path by load, and freed);
 * verbosity is the -v/-q count applied over each configuration's
 * log_level. Returns the
 * process exit status: 0 after a clean stop, EXIT_CONFIG when no account
 * is configured, EXIT_LOCKED when another daemon uses the state
 * directory, EXIT_LOCAL when the state directory cannot be used. */
int		 daemon_run(const char *path, daemon_load_cb load,
		    struct config *conf, int verbosity);
/* The log level of a configuration moved by -v (+1 each) and -q (-1;
 * warnings at most), clamped to the known range. */
enum log_level	 daemon_log_level(enum log_level base, int verbosity);

#endif
