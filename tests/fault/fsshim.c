/* fsshim.c: an LD_PRELOAD shim for tests/fault/fsfallback.sh that makes a
 * file system look like one mailfetchd must still deliver to safely.
 * MFD_FSSHIM is a comma list of:
 *	norename2	renameat2() with flags fails EINVAL, as on a file
 *			system without RENAME_NOREPLACE (older NFS, FUSE)
 *	linkeexist	linkat() makes the link, then fails EEXIST, as NFS
 *			does when the reply is lost and the retransmitted
 *			request finds the target
 *	nolink		linkat() fails EPERM, as on vfat (for a run where no
 *			vfat can be mounted)
 *	readerrace	the first renameat() of new/X to cur/... is raced by a
 *			mail reader: new/X is moved to cur/X:2, just before
 *			(mutt opening the folder; review r26 04)
 *	fsynceio	fsync() and fdatasync() fail EIO while the file
 *			MFD_FSSHIM_EIO_IF exists, on a file or directory
 *			under MFD_FSSHIM_EIO_UNDER (a disk failing mid-run)
 * Each call it changes is appended to the file MFD_FSSHIM_LOG, one word a
 * line, so that the test can check the shim was in the way. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int
fsshim_has(const char *word)
{
	const char	*env = getenv("MFD_FSSHIM"), *p;
	size_t		 len = strlen(word);

	for (p = env; p != NULL && *p != '\0'; p += strcspn(p, ",")) {
		p += *p == ',';
		if (strncmp(p, word, len) == 0 && (p[len] == ',' ||
		    p[len] == '\0'))
			return (1);
	}
	return (0);
}

static void
fsshim_log(const char *word)
{
	const char	*path = getenv("MFD_FSSHIM_LOG");
	int		 saved = errno, fd;

	if (path != NULL && (fd = open(path, O_WRONLY|O_APPEND|O_CREAT|
	    O_CLOEXEC, 0600)) != -1) {
		(void)write(fd, word, strlen(word));
		(void)write(fd, "\n", 1);
		close(fd);
	}
	errno = saved;
}

int
renameat2(int ofd, const char *old, int nfd, const char *new,
    unsigned int flags)
{
	static int	(*real)(int, const char *, int, const char *,
			    unsigned int);

	if (flags != 0 && fsshim_has("norename2")) {
		fsshim_log("norename2");
		errno = EINVAL;
		return (-1);
	}
	if (real == NULL)
		*(void **)&real = dlsym(RTLD_NEXT, "renameat2");
	return (real(ofd, old, nfd, new, flags));
}

int
linkat(int ofd, const char *old, int nfd, const char *new, int flags)
{
	static int	(*real)(int, const char *, int, const char *, int);
	int		 rv;

	if (fsshim_has("nolink")) {
		fsshim_log("nolink");
		errno = EPERM;
		return (-1);
	}
	if (real == NULL)
		*(void **)&real = dlsym(RTLD_NEXT, "linkat");
	rv = real(ofd, old, nfd, new, flags);
	if (rv == 0 && fsshim_has("linkeexist")) {
		fsshim_log("linkeexist");
		errno = EEXIST;
		return (-1);
	}
	if (rv == 0)
		fsshim_log("link");
	return (rv);
}

int
renameat(int ofd, const char *old, int nfd, const char *new)
{
	static int	(*real)(int, const char *, int, const char *);
	static int	 raced;
	char		 reader[4096];

	if (real == NULL)
		*(void **)&real = dlsym(RTLD_NEXT, "renameat");
	if (!raced && fsshim_has("readerrace") &&
	    strncmp(old, "new/", 4) == 0 && strncmp(new, "cur/", 4) == 0) {
		raced = 1;
		snprintf(reader, sizeof reader, "cur/%s:2,", old + 4);
		if (real(ofd, old, nfd, reader) == 0)
			fsshim_log("readerrace");
	}
	return (real(ofd, old, nfd, new));
}

/* fsynceio: whether this call on fd fails. */
static int
fsshim_eio(int fd)
{
	const char	*path = getenv("MFD_FSSHIM_EIO_IF");
	const char	*under = getenv("MFD_FSSHIM_EIO_UNDER");
	char		 link[64], where[4096];
	ssize_t		 n;

	if (!fsshim_has("fsynceio") || path == NULL || under == NULL ||
	    access(path, F_OK) != 0)
		return (0);
	snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
	if ((n = readlink(link, where, sizeof where - 1)) == -1)
		return (0);
	where[n] = '\0';
	if (strncmp(where, under, strlen(under)) != 0)
		return (0);
	fsshim_log("fsynceio");
	errno = EIO;
	return (1);
}

int
fsync(int fd)
{
	static int	(*real)(int);

	if (fsshim_eio(fd))
		return (-1);
	if (real == NULL)
		*(void **)&real = dlsym(RTLD_NEXT, "fsync");
	return (real(fd));
}

int
fdatasync(int fd)
{
	static int	(*real)(int);

	if (fsshim_eio(fd))
		return (-1);
	if (real == NULL)
		*(void **)&real = dlsym(RTLD_NEXT, "fdatasync");
	return (real(fd));
}
