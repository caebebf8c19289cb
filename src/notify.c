/* notify.c: the service manager's side: sd_notify and the journal's native
 * protocol, through libsystemd.
 *
 * libsystemd is loaded (dlopen) the first time it is needed, which is only
 * when the process runs under systemd ($NOTIFY_SOCKET or $JOURNAL_STREAM).
 * Run by hand or from cron, mailfetchd never maps it nor its dependencies
 * (libgcrypt, liblzma, libzstd, liblz4, libcap): about 0.8 MB of resident
 * memory, a tenth of a --once fetch's peak. Compiled to no-ops without
 * libsystemd (configure --without-systemd). */
#include "notify.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifdef HAVE_SYSTEMD
#include <dlfcn.h>
#include <syslog.h>
#include <sys/uio.h>
#include <systemd/sd-daemon.h>
#include <systemd/sd-journal.h>

/* The libsystemd entry points we use, resolved at first use. */
static struct {
	int	 tried;
	void	*lib;
	int	(*notify)(int, const char *);
	int	(*watchdog_enabled)(int, uint64_t *);
	int	(*journal_sendv)(const struct iovec *, int);
} notify_sd;

/* Loads libsystemd once; 0 when it is there and complete. */
static int
notify_load(void)
{
	if (!notify_sd.tried) {
		notify_sd.tried = 1;
		notify_sd.lib = dlopen("libsystemd.so.0", RTLD_NOW | RTLD_LOCAL);
		if (notify_sd.lib != NULL) {
			*(void **)&notify_sd.notify = dlsym(notify_sd.lib,
			    "sd_notify");
			*(void **)&notify_sd.watchdog_enabled =
			    dlsym(notify_sd.lib, "sd_watchdog_enabled");
			*(void **)&notify_sd.journal_sendv =
			    dlsym(notify_sd.lib, "sd_journal_sendv");
		}
		if (notify_sd.notify == NULL ||
		    notify_sd.watchdog_enabled == NULL ||
		    notify_sd.journal_sendv == NULL)
			notify_sd.lib = NULL;
	}
	return (notify_sd.lib != NULL ? 0 : -1);
}

/* Sends one notification when systemd is listening. */
static void
notify_send(const char *msg)
{
	if (getenv("NOTIFY_SOCKET") == NULL || notify_load() != 0)
		return;
	notify_sd.notify(0, msg);
}
#endif

void
notify_ready(void)
{
#ifdef HAVE_SYSTEMD
	notify_send("READY=1");
#endif
}

/* RELOADING=1 must carry MONOTONIC_USEC, or Type=notify-reload waits. */
void
notify_reloading(void)
{
#ifdef HAVE_SYSTEMD
	struct timespec	 ts;
	char		 buf[96];

	clock_gettime(CLOCK_MONOTONIC, &ts);
	snprintf(buf, sizeof buf, "RELOADING=1\nMONOTONIC_USEC=%llu",
	    (unsigned long long)ts.tv_sec * 1000000ULL +
	    (unsigned long long)ts.tv_nsec / 1000ULL);
	notify_send(buf);
#endif
}

void
notify_stopping(void)
{
#ifdef HAVE_SYSTEMD
	notify_send("STOPPING=1");
#endif
}

void
notify_status(const char *fmt, ...)
{
#ifdef HAVE_SYSTEMD
	char	 buf[512];
	va_list	 ap;

	memcpy(buf, "STATUS=", 7);
	va_start(ap, fmt);
	vsnprintf(buf + 7, sizeof buf - 7, fmt, ap);
	va_end(ap);
	notify_send(buf);
#else
	(void)fmt;
#endif
}

unsigned long long
notify_watchdog_usec(void)
{
#ifdef HAVE_SYSTEMD
	uint64_t	usec;

	if (getenv("WATCHDOG_USEC") != NULL && notify_load() == 0 &&
	    notify_sd.watchdog_enabled(0, &usec) > 0)
		return (usec);
#endif
	return (0);
}

void
notify_watchdog(void)
{
#ifdef HAVE_SYSTEMD
	notify_send("WATCHDOG=1");
#endif
}

/* One journal entry with MAILFETCHD_* fields for filtering
 * (journalctl MAILFETCHD_ACCOUNT=work); -1 when the journal cannot take it
 * (the caller then writes the line to stderr). */
int
notify_journal(int level, const char *msg, const char *account,
    const char *folder, unsigned long long uid)
{
#ifdef HAVE_SYSTEMD
	static const int	 prio[] = {
		LOG_ERR, LOG_WARNING, LOG_NOTICE, LOG_INFO, LOG_DEBUG,
	};
	char			 p[16], u[48], *m, *a, *f;
	struct iovec		 iov[5];
	int			 rc;

	if (notify_load() != 0 || level < 0 || level > 4)
		return (-1);
	if (asprintf(&m, "MESSAGE=%s", msg) == -1)
		return (-1);
	if (asprintf(&a, "MAILFETCHD_ACCOUNT=%s", account != NULL ?
	    account : "") == -1) {
		free(m);
		return (-1);
	}
	if (asprintf(&f, "MAILFETCHD_FOLDER=%s", folder != NULL ?
	    folder : "") == -1) {
		free(m);
		free(a);
		return (-1);
	}
	snprintf(p, sizeof p, "PRIORITY=%d", prio[level]);
	snprintf(u, sizeof u, "MAILFETCHD_UID=%llu", uid);
	iov[0].iov_base = m;
	iov[1].iov_base = p;
	iov[2].iov_base = a;
	iov[3].iov_base = f;
	iov[4].iov_base = u;
	for (rc = 0; rc < 5; rc++)
		iov[rc].iov_len = strlen(iov[rc].iov_base);
	rc = notify_sd.journal_sendv(iov, 5);
	free(m);
	free(a);
	free(f);
	return (rc < 0 ? -1 : 0);
#else
	(void)level;
	(void)msg;
	(void)account;
	(void)folder;
	(void)uid;
	return (-1);
#endif
}
