/* status_cli.h: `mailfetchd --status [ACCOUNT...] [--json]`, the client
 * side: asks the running daemon(s) over the control socket (control.h:
 * `status`, `status-json`) and prints the text lines, or the JSON
 * document (status.h, doc/status.schema.json) assembled from the
 * daemons' records. As root with owners (privsep.h), each owner's
 * daemon is asked in that owner's worker, and the records of all of them
 * make one document.
 *
 * Exit statuses (mailfetchd(8)): 0; EXIT_CONFIG when a named account is
 * not in the configuration or not run by the daemon; EXIT_NO_DAEMON when
 * a daemon does not answer (the document then holds those that did);
 * EXIT_LOCAL when stdout cannot be written. */
#ifndef MAILFETCHD_STATUS_CLI_H
#define MAILFETCHD_STATUS_CLI_H

#include <stddef.h>

#include "config.h"
#include "outcome.h"

#define EXIT_NO_DAEMON	EXIT_NETWORK

/* In this process (no privsep). */
int		 status_cli(const struct config *, const char *const *names,
		    size_t n, int json);
/* When path does not parse (a failed reload's file: the daemon's
 * reload_error is what one wants to see): warns, and asks the daemon at
 * the control_socket the file names (a top-level line), or the default,
 * without checking the names. */
int		 status_cli_unparsed(const char *path,
		    const char *const *names, size_t n, int json);
/* As root with owners: one worker per owner concerned. */
int		 status_cli_privsep(const struct config *,
		    const char *const *names, size_t n, int json);

#endif
