/* secret.h: an account's password or OAuth2 access token, from
 * password_file, password_command or token_command. Asked afresh at every
 * connect, so a long-running daemon never holds a stale token. */
#ifndef MAILFETCHD_SECRET_H
#define MAILFETCHD_SECRET_H

#include "config.h"

/* Longest secret accepted (an OAuth2 access token can be a few KB). */
#define SECRET_MAX	16384
/* How long a password_command or token_command may run. */
#define SECRET_COMMAND_TIMEOUT	30

/* Returns the secret (the first line of the file or of the command's
 * standard output, trailing CR/LF removed); the caller frees it with
 * xfree_secret(). The secret is registered with log_add_secret() so it can
 * never reach a log line. NULL and *cause (naming the file or command,
 * never the secret) on error. Commands run through /bin/sh -c and may
 * block for up to SECRET_COMMAND_TIMEOUT seconds. */
char	*secret_get(const struct account_conf *, char **cause);

/* The pieces, for tests: */
char	*secret_from_file(const char *path, char **cause);
char	*secret_from_command(const char *what, const char *command,
	    unsigned int timeout, char **cause);

#endif
