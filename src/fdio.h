/* fdio.h: writing a whole buffer to a file descriptor; a directory's
 * fsync. */
#ifndef MAILFETCHD_FDIO_H
#define MAILFETCHD_FDIO_H

#include <stddef.h>

/* Writes all len bytes, through short writes and EINTR. 0, or -1 with
 * errno set (EIO when a write makes no progress). */
int	fdio_write_all(int fd, const void *buf, size_t len);
/* fsyncs the directory dir, so that a rename into it survives a power
 * cut. 0, or -1 with errno set. */
int	fdio_fsync_dir(const char *dir);

#endif
