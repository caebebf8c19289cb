/* notify.h: the service manager's view of the daemon (sd_notify) and the
 * journal's native protocol. The only module that uses libsystemd, which it
 * loads only under systemd; no-ops without libsystemd. */
#ifndef MAILFETCHD_NOTIFY_H
#define MAILFETCHD_NOTIFY_H

#include "compat.h"

void	notify_ready(void);
void	notify_reloading(void);
void	notify_stopping(void);
void	notify_status(const char *, ...) printflike(1, 2);
/* Returns the watchdog interval in microseconds, 0 when not enabled. */
unsigned long long notify_watchdog_usec(void);
void	notify_watchdog(void);
/* A structured journal entry (level: enum log_level); -1 when the journal
 * cannot take it. Used by log.c when stderr is journald's stream. */
int	notify_journal(int level, const char *msg, const char *account,
	    const char *folder, unsigned long long uid);

#endif
