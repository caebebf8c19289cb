/* slowfsync.c: an LD_PRELOAD shim for tests/fault/slowdisk.sh that makes
 * the local disk slow: every fsync() and fdatasync() first sleeps
 * MFD_SLOWFSYNC_MS milliseconds (default 100), as on a busy disk. The
 * server is fast; only mailfetchd's own disk work takes long. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdlib.h>
#include <time.h>

static void
slowfsync_nap(void)
{
	const char	*env = getenv("MFD_SLOWFSYNC_MS");
	long		 ms = env != NULL ? atol(env) : 100;
	struct timespec	 ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

int
fsync(int fd)
{
	static int	(*real)(int);

	if (real == NULL)
		real = (int (*)(int))dlsym(RTLD_NEXT, "fsync");
	slowfsync_nap();
	return (real(fd));
}

int
fdatasync(int fd)
{
	static int	(*real)(int);

	if (real == NULL)
		real = (int (*)(int))dlsym(RTLD_NEXT, "fdatasync");
	slowfsync_nap();
	return (real(fd));
}
