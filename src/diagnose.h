/* diagnose.h: `mailfetchd --diagnose`: checks one account (or each) step
 * by step the way a fetch would use it (configuration, DNS, TCP, TLS,
 * greeting and capabilities, the secret, authentication, folders or the
 * POP3 maildrop, logout) and prints one "[ ok ]" or "[FAIL]" line per step,
 * with the likely cause and the fix under a failure. Never prints the
 * secret, nor the commands that carry it. */
#ifndef MAILFETCHD_DIAGNOSE_H
#define MAILFETCHD_DIAGNOSE_H

#include <stddef.h>
#include <stdio.h>

#include "config.h"

/* Diagnoses the named accounts (every account when n == 0), in order,
 * printing to out. Each account stops at the first failure that blocks the
 * next steps. Returns 0 when everything a fetch needs works for every
 * account, else the enum fetch_exit of the first failed step (of the first
 * account that failed); EXIT_CONFIG for an unknown account name. */
int	diagnose_run(const struct config *, const char *const *names,
	    size_t n, FILE *out);

#endif
