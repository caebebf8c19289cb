/* notify.h: the service manager's view of the daemon (sd_notify). The only
 * module that talks to libsystemd's notify API; no-ops without libsystemd. */
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

#endif
