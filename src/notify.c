/* notify.c: sd_notify wrappers; compiled to no-ops without libsystemd. */
#include "notify.h"

#include <stdarg.h>
#include <stdio.h>
#include <time.h>

#ifdef HAVE_SYSTEMD
#include <systemd/sd-daemon.h>
#endif

void
notify_ready(void)
{
#ifdef HAVE_SYSTEMD
	sd_notify(0, "READY=1");
#endif
}

/* RELOADING=1 must carry MONOTONIC_USEC, or Type=notify-reload waits. */
void
notify_reloading(void)
{
#ifdef HAVE_SYSTEMD
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	sd_notifyf(0, "RELOADING=1\nMONOTONIC_USEC=%llu",
	    (unsigned long long)ts.tv_sec * 1000000ULL +
	    (unsigned long long)ts.tv_nsec / 1000ULL);
#endif
}

void
notify_stopping(void)
{
#ifdef HAVE_SYSTEMD
	sd_notify(0, "STOPPING=1");
#endif
}

void
notify_status(const char *fmt, ...)
{
#ifdef HAVE_SYSTEMD
	char	 buf[512];
	va_list	 ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	sd_notifyf(0, "STATUS=%s", buf);
#else
	(void)fmt;
#endif
}

unsigned long long
notify_watchdog_usec(void)
{
#ifdef HAVE_SYSTEMD
	uint64_t	usec;

	if (sd_watchdog_enabled(0, &usec) > 0)
		return (usec);
#endif
	return (0);
}

void
notify_watchdog(void)
{
#ifdef HAVE_SYSTEMD
	sd_notify(0, "WATCHDOG=1");
#endif
}
