/* fdio.c: full writes, one loop for every module that writes files. */
#include "fdio.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

int
fdio_write_all(int fd, const void *buf, size_t len)
{
	const char	*p = buf;
	ssize_t		 n;

	while (len > 0) {
		n = write(fd, p, len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n == 0)
				errno = EIO;
			return (-1);
		}
		p += n;
		len -= (size_t)n;
	}
	return (0);
}

int
fdio_fsync_dir(const char *dir)
{
	int	fd, rc, saved;

	if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		return (-1);
	while ((rc = fsync(fd)) == -1 && errno == EINTR)
		;
	saved = errno;
	close(fd);
	errno = saved;
	return (rc);
}
