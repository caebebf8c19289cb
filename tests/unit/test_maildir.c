/* test_maildir.c: the maildir module on real directories: unique names,
 * tmp -> new|cur, abort, stage + sync (and its rollback), Maildir++
 * folders, tmp/ cleaning, refused layouts, and real EROFS / ENOSPC from
 * small tmpfs mounts (root only; skipped, not passed, without the right). */
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <regex.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "maildir.h"

struct fixture {
	char	dir[64];	/* fresh mkdtemp directory */
	char	root[PATH_MAX];	/* <dir>/Maildir */
	int	mounted;	/* a tmpfs is mounted on root */
};

/* Makes a fresh temp directory for one test. */
static int
setup(void **state)
{
	struct fixture	*f;

	f = calloc(1, sizeof *f);
	if (f == NULL)
		return (-1);
	snprintf(f->dir, sizeof f->dir, "/tmp/mfd-test-maildir.XXXXXX");
	if (mkdtemp(f->dir) == NULL)
		return (-1);
	snprintf(f->root, sizeof f->root, "%s/Maildir", f->dir);
	*state = f;
	return (0);
}

static int
rm_entry(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
	(void)sb;
	(void)ftw;
	if (type == FTW_DP)
		return (rmdir(path));
	return (unlink(path));
}

/* Unmounts what the test mounted and removes the temp directory. */
static int
teardown(void **state)
{
	struct fixture	*f = *state;

	if (f->mounted)
		umount2(f->root, MNT_DETACH);
	nftw(f->dir, rm_entry, 16, FTW_DEPTH|FTW_PHYS);
	free(f);
	return (0);
}

/* Mounts a tmpfs of the given size on f->root; skips the test when the
 * kernel says we may not. */
static void
mount_tmpfs(struct fixture *f, const char *opts)
{
	assert_int_equal(mkdir(f->root, 0700), 0);
	if (mount("tmpfs", f->root, "tmpfs", 0, opts) != 0) {
		print_message("# mount tmpfs: %s\n", strerror(errno));
		skip();
	}
	f->mounted = 1;
}

/* Formats a path into buf (PATH_MAX bytes); a truncated path fails the
 * test. */
static char * __attribute__((__format__(__printf__, 2, 3)))
pathf(char *buf, const char *fmt, ...)
{
	va_list	ap;
	int	n;

	va_start(ap, fmt);
	n = vsnprintf(buf, PATH_MAX, fmt, ap);
	va_end(ap);
	assert_true(n >= 0 && n < PATH_MAX);
	return (buf);
}

/* Number of entries in dir, "." and ".." aside. */
static int
count_entries(const char *dir)
{
	DIR		*dirp;
	struct dirent	*de;
	int		 n = 0;

	dirp = opendir(dir);
	assert_non_null(dirp);
	while ((de = readdir(dirp)) != NULL) {
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
			n++;
	}
	closedir(dirp);
	return (n);
}

/* Entries of <root>/<sub>. */
static int
count_sub(const char *root, const char *sub)
{
	char	path[PATH_MAX];

	pathf(path, "%s/%s", root, sub);
	return (count_entries(path));
}

/* Reads a whole file; *len gets its size. Caller frees. */
static char *
slurp(const char *path, size_t *len)
{
	struct stat	 sb;
	char		*buf;
	int		 fd;

	fd = open(path, O_RDONLY);
	assert_true(fd != -1);
	assert_int_equal(fstat(fd, &sb), 0);
	buf = malloc(sb.st_size + 1);
	assert_non_null(buf);
	assert_int_equal(read(fd, buf, sb.st_size), sb.st_size);
	close(fd);
	*len = sb.st_size;
	return (buf);
}

/* The mode bits of path. */
static mode_t
mode_of(const char *path)
{
	struct stat	sb;

	assert_int_equal(lstat(path, &sb), 0);
	return (sb.st_mode);
}

/* Delivers one message with commit; returns the final name. */
static char *
deliver(struct maildir *md, const void *buf, size_t len, const char *flags)
{
	struct maildir_delivery	*d;
	char			*cause = NULL, *name = NULL;

	d = maildir_deliver_begin(md, &cause);
	assert_non_null(d);
	assert_int_equal(maildir_deliver_write(d, buf, len, &cause), 0);
	assert_int_equal(maildir_deliver_commit(d, flags, &name, &cause), 0);
	assert_null(cause);
	return (name);
}

static int
cmp_str(const void *a, const void *b)
{
	return (strcmp(*(char *const *)a, *(char *const *)b));
}

/* A root with missing parents is created, every level mode 0700. */
static void
test_open_creates(void **state)
{
	struct fixture	*f = *state;
	struct maildir	*md;
	char		 root[PATH_MAX], path[PATH_MAX], *cause = NULL;
	const char	*subs[] = { "tmp", "new", "cur" };
	size_t		 i;

	pathf(root, "%s/a/b/Maildir/", f->dir);
	md = maildir_open(root, NULL, &cause);
	assert_null(cause);
	assert_non_null(md);
	assert_string_equal(maildir_path(md), root);
	for (i = 0; i < 3; i++) {
		pathf(path, "%s%s", root, subs[i]);
		assert_int_equal(mode_of(path) & 07777, 0700);
		assert_true(S_ISDIR(mode_of(path)));
	}
	pathf(path, "%s/a", f->dir);
	assert_int_equal(mode_of(path) & 07777, 0700);
	pathf(path, "%s/a/b", f->dir);
	assert_int_equal(mode_of(path) & 07777, 0700);
	maildir_close(md);

	/* Opening again finds everything in place. */
	md = maildir_open(root, "INBOX", &cause);
	assert_non_null(md);
	assert_string_equal(maildir_path(md), root);
	maildir_close(md);
	maildir_close(NULL);
}

/* tmp -> new: byte-exact content (NUL, 8-bit, CRLF), spec name, 0600, tmp/
 * empty afterwards. */
static void
test_deliver_new(void **state)
{
	struct fixture		*f = *state;
	struct maildir		*md;
	struct maildir_delivery	*d;
	unsigned char		 body[4096];
	char			*cause = NULL, *name = NULL, *got, path[PATH_MAX];
	char			 suffix[64];
	size_t			 i, len;
	regex_t			 re;

	for (i = 0; i < sizeof body; i++)
		body[i] = (unsigned char)(i * 7 + (i >> 8));
	body[0] = '\0';
	body[1] = 0xff;
	body[2] = '\r';
	body[3] = '\n';
	md = maildir_open(f->root, NULL, &cause);
	assert_non_null(md);
	d = maildir_deliver_begin(md, &cause);
	assert_non_null(d);
	assert_int_equal(count_sub(f->root, "tmp"), 1);
	assert_int_equal(maildir_deliver_write(d, body, 1, &cause), 0);
	assert_int_equal(maildir_deliver_write(d, body + 1, 0, &cause), 0);
	assert_int_equal(maildir_deliver_write(d, body + 1, sizeof body - 1,
	    &cause), 0);
	assert_int_equal(maildir_delivery_size(d), sizeof body);
	assert_int_equal(count_sub(f->root, "new"), 0);
	assert_int_equal(maildir_deliver_commit(d, "", &name, &cause), 0);
	assert_null(cause);
	assert_non_null(name);

	assert_int_equal(regcomp(&re, "^[0-9]+\\.M[0-9]{6}P[0-9]+Q[0-9]+"
	    "R[0-9a-f]{16}\\.[^/:]+,S=[0-9]+$", REG_EXTENDED|REG_NOSUB), 0);
	assert_int_equal(regexec(&re, name, 0, NULL, 0), 0);
	regfree(&re);
	snprintf(suffix, sizeof suffix, "P%ldQ", (long)getpid());
	assert_non_null(strstr(name, suffix));
	snprintf(suffix, sizeof suffix, ",S=%zu", sizeof body);
	assert_string_equal(name + strlen(name) - strlen(suffix), suffix);

	pathf(path, "%s/new/%s", f->root, name);
	got = slurp(path, &len);
	assert_int_equal(len, sizeof body);
	assert_memory_equal(got, body, sizeof body);
	assert_int_equal(mode_of(path) & 07777, 0600);
	assert_int_equal(count_sub(f->root, "new"), 1);
	assert_int_equal(count_sub(f->root, "tmp"), 0);
	assert_int_equal(count_sub(f->root, "cur"), 0);
	free(got);
	free(name);
	maildir_close(md);
}

/* Flags go to cur/ with ":2,<flags>", sorted and deduplicated; bad flags
 * are refused and leave nothing behind. */
static void
test_deliver_cur_flags(void **state)
{
	struct fixture		*f = *state;
	struct maildir		*md;
	struct maildir_delivery	*d;
	char			*cause = NULL, *name, path[PATH_MAX];

	md = maildir_open(f->root, NULL, &cause);
	assert_non_null(md);
	name = deliver(md, "x", 1, "S");
	assert_string_equal(name + strlen(name) - strlen(",S=1:2,S"),
	    ",S=1:2,S");
	pathf(path, "%s/cur/%s", f->root, name);
	assert_true(S_ISREG(mode_of(path)));
	free(name);
	name = deliver(md, "yy", 2, "SFaS");
	assert_string_equal(name + strlen(name) - strlen(",S=2:2,FSa"),
	    ",S=2:2,FSa");
	free(name);
	assert_int_equal(count_sub(f->root, "cur"), 2);
	assert_int_equal(count_sub(f->root, "new"), 0);

	d = maildir_deliver_begin(md, &cause);
	assert_non_null(d);
	assert_int_equal(maildir_deliver_write(d, "z", 1, &cause), 0);
	assert_int_equal(maildir_deliver_commit(d, "S:2", &name, &cause), -1);
	assert_non_null(cause);
	assert_non_null(strstr(cause, "flags"));
	free(cause);
	assert_int_equal(count_sub(f->root, "cur"), 2);
	assert_int_equal(count_sub(f->root, "new"), 0);
	assert_int_equal(count_sub(f->root, "tmp"), 0);
	maildir_close(md);
}

/* Abort removes the tmp/ file; nothing appears anywhere. */
static void
test_abort(void **state)
{
	struct fixture		*f = *state;
	struct maildir		*md;
	struct maildir_delivery	*d;
	char			*cause = NULL;

	md = maildir_open(f->root, NULL, &cause);
	assert_non_null(md);
	d = maildir_deliver_begin(md, &cause);
	assert_non_null(d);
	assert_int_equal(maildir_deliver_write(d, "partial", 7, &cause), 0);
	assert_int_equal(count_sub(f->root, "tmp"), 1);
	maildir_deliver_abort(d);
	maildir_deliver_abort(NULL);
	assert_int_equal(count_sub(f->root, "tmp"), 0);
	assert_int_equal(count_sub(f->root, "new"), 0);
	assert_int_equal(count_sub(f->root, "cur"), 0);
	maildir_close(md);
}

#define UNIQUE_N	20000

/* 20,000 deliveries in a tight loop: 20,000 distinct names and files. On
 * a tmpfs when we may mount one (40,000 fsyncs on a disk take a while),
 * else on the disk. */
static void
test_unique_fast(void **state)
{
	struct fixture	*f = *state;
	struct maildir	*md;
	char		**names, *cause = NULL;
	size_t		 i;

	assert_int_equal(mkdir(f->root, 0700), 0);
	if (mount("tmpfs", f->root, "tmpfs", 0, "size=16m") == 0)
		f->mounted = 1;
	names = calloc(UNIQUE_N, sizeof *names);
	assert_non_null(names);
	md = maildir_open(f->root, NULL, &cause);
	assert_non_null(md);
	for (i = 0; i < UNIQUE_N; i++)
		names[i] = deliver(md, "", 0, NULL);
	qsort(names, UNIQUE_N, sizeof *names, cmp_str);
	for (i = 1; i < UNIQUE_N; i++)
		assert_string_not_equal(names[i - 1], names[i]);
	assert_int_equal(count_sub(f->root, "new"), UNIQUE_N);
	assert_int_equal(count_sub(f->root, "tmp"), 0);
	for (i = 0; i < UNIQUE_N; i++)
		free(names[i]);
	free(names);
	maildir_close(md);
}

/* Open fds of this process. */
static int
count_fds(void)
{
	return (count_entries("/proc/self/fd"));
}

#define STAGE_N	150

/* stage keeps messages invisible and holds at most 64 fds; sync makes them
 * all visible in new/ and cur/ with their exact content. */
static void
test_stage_sync(void **state)
{
	struct fixture		*f = *state;
	struct maildir		*md;
	struct maildir_delivery	*d;
	char			*cause = NULL, *name, body[64], path[PATH_MAX];
	char			*got;
	size_t			 len;
	int			 i, fds0, fds_max = 0;

	md = maildir_open(f->root, NULL, &cause);
	assert_non_null(md);
	assert_int_equal(maildir_sync(md, &cause), 0);	/* empty batch */
	fds0 = count_fds();
	for (i = 0; i < STAGE_N; i++) {
		d = maildir_deliver_begin(md, &cause);
		assert_non_null(d);
		len = snprintf(body, sizeof body, "message %d\n", i);
		assert_int_equal(maildir_deliver_write(d, body, len, &cause),
		    0);
		assert_int_equal(maildir_deliver_stage(d, i % 3 == 0 ? "S" :
		    NULL, &name, &cause), 0);
		free(name);
		if (count_fds() - fds0 > fds_max)
			fds_max = count_fds() - fds0;
	}
	assert_true(fds_max <= 64);
	assert_true(fds_max >= 1);
	assert_int_equal(count_sub(f->root, "new"), 0);
	assert_int_equal(count_sub(f->root, "cur"), 0);
	assert_int_equal(count_sub(f->root, "tmp"), STAGE_N);

	assert_int_equal(maildir_sync(md, &cause), 0);
	assert_null(cause);
	assert_int_equal(count_fds(), fds0);
	assert_int_equal(count_sub(f->root, "tmp"), 0);
	assert_int_equal(count_sub(f->root, "cur"), STAGE_N / 3);
	assert_int_equal(count_sub(f->root, "new"), STAGE_N - STAGE_N / 3);

	/* The name returned by stage is the one that appears. */
	d = maildir_deliver_begin(md, &cause);
	assert_non_null(d);
	assert_int_equal(maildir_deliver_write(d, "last\n", 5, &cause), 0);
	assert_int_equal(maildir_deliver_stage(d, NULL, &name, &cause), 0);
	assert_int_equal(maildir_sync(md, &cause), 0);
	pathf(path, "%s/new/%s", f->root, name);
	got = slurp(path, &len);
	assert_int_equal(len, 5);
	assert_memory_equal(got, "last\n", 5);
	free(got);
	free(name);
	maildir_close(md);
}

/* A batch that fails in sync is rolled back entirely: the message already
 * renamed into cur/ is removed again, tmp/ is emptied. */
static void
test_stage_sync_rollback(void **state)
{
	struct fixture		*f = *state;
	struct maildir		*md;
	struct maildir_delivery	*d;
	char			*cause = NULL, path[PATH_MAX];
	const char		*flags[] = { "S", NULL, "S" };
	size_t			 i;

	md = maildir_open(f->root, NULL, &cause);
	assert_non_null(md);
	for (i = 0; i < 3; i++) {
		d = maildir_deliver_begin(md, &cause);
		assert_non_null(d);
		assert_int_equal(maildir_deliver_write(d, "abc", 3, &cause), 0);
		assert_int_equal(maildir_deliver_stage(d, flags[i], NULL,
		    &cause), 0);
	}
	/* new/ vanishes under us: the rename into it fails with ENOENT
	 * after the first message went to cur/. */
	pathf(path, "%s/new", f->root);
	assert_int_equal(rmdir(path), 0);
	assert_int_equal(maildir_sync(md, &cause), -1);
	assert_non_null(cause);
	assert_non_null(strstr(cause, path));
	assert_non_null(strstr(cause, "No such file or directory"));
	free(cause);
	assert_int_equal(count_sub(f->root, "cur"), 0);
	assert_int_equal(count_sub(f->root, "tmp"), 0);
	assert_int_equal(maildir_sync(md, &cause), 0);	/* batch is gone */
	maildir_close(md);
}

/* Closing with staged, unsynced messages discards them. */
static void
test_close_discards_staged(void **state)
{
	struct fixture		*f = *state;
	struct maildir		*md;
	struct maildir_delivery	*d;
	char			*cause = NULL;

	md = maildir_open(f->root, NULL, &cause);
	assert_non_null(md);
	d = maildir_deliver_begin(md, &cause);
	assert_non_null(d);
	assert_int_equal(maildir_deliver_write(d, "abc", 3, &cause), 0);
	assert_int_equal(maildir_deliver_stage(d, NULL, NULL, &cause), 0);
	assert_int_equal(count_sub(f->root, "tmp"), 1);
	maildir_close(md);
	assert_int_equal(count_sub(f->root, "tmp"), 0);
	assert_int_equal(count_sub(f->root, "new"), 0);
}

/* Maildir++ folders: "A/B" is .A.B with a maildirfolder marker, all 0700;
 * '.' and '%' inside a name are encoded. */
static void
test_subfolder(void **state)
{
	struct fixture	*f = *state;
	struct maildir	*md;
	char		 path[PATH_MAX], exp[PATH_MAX], *cause = NULL, *name;
	struct stat	 sb;

	md = maildir_open(f->root, "A/B", &cause);
	assert_null(cause);
	assert_non_null(md);
	pathf(exp, "%s/.A.B", f->root);
	assert_string_equal(maildir_path(md), exp);
	assert_int_equal(mode_of(exp) & 07777, 0700);
	pathf(path, "%s/maildirfolder", exp);
	assert_int_equal(lstat(path, &sb), 0);
	assert_true(S_ISREG(sb.st_mode));
	assert_int_equal(sb.st_size, 0);
	pathf(path, "%s/cur", exp);
	assert_int_equal(mode_of(path) & 07777, 0700);
	pathf(path, "%s/tmp", f->root);
	assert_int_equal(mode_of(path) & 07777, 0700);

	name = deliver(md, "hello", 5, NULL);
	pathf(path, "%s/new/%s", exp, name);
	assert_int_equal(lstat(path, &sb), 0);
	free(name);
	maildir_close(md);
	assert_int_equal(count_sub(f->root, "new"), 0);

	md = maildir_open(f->root, "lists.dev/50%/.hidden", &cause);
	assert_non_null(md);
	pathf(exp, "%s/.lists%%2Edev.50%%25.%%2Ehidden",
	    f->root);
	assert_string_equal(maildir_path(md), exp);
	assert_true(S_ISDIR(mode_of(exp)));
	maildir_close(md);

	md = maildir_open(f->root, "", &cause);
	assert_non_null(md);
	assert_string_equal(maildir_path(md), f->root);
	maildir_close(md);
}

/* Folder names that cannot map to one Maildir++ directory are refused, and
 * nothing is created for them. */
static void
test_invalid_folders(void **state)
{
	struct fixture	*f = *state;
	struct maildir	*md;
	char		*cause;
	const char	*bad[] = { "/A", "A/", "A//B", ".", "..", "A/./B",
	    "A/../B", "A\tB", "A\nB", "Del\177", "\033[1m" };
	size_t		 i;

	for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		cause = NULL;
		md = maildir_open(f->root, bad[i], &cause);
		assert_null(md);
		assert_non_null(cause);
		assert_non_null(strstr(cause, "folder \""));
		/* The name is shown escaped, never raw control bytes. */
		assert_null(strchr(cause, '\033'));
		assert_null(strchr(cause, '\n'));
		free(cause);
	}
	/* Checked before anything is created: not even the root exists. */
	assert_int_equal(access(f->root, F_OK), -1);
}

/* Sets path's atime and mtime to now - age. */
static void
age_file(const char *path, time_t age)
{
	struct timespec	ts[2];

	ts[0].tv_sec = ts[1].tv_sec = time(NULL) - age;
	ts[0].tv_nsec = ts[1].tv_nsec = 0;
	assert_int_equal(utimensat(AT_FDCWD, path, ts, 0), 0);
}

/* Creates an empty file. */
static void
touch(const char *path)
{
	int	fd;

	fd = open(path, O_WRONLY|O_CREAT|O_EXCL, 0600);
	assert_true(fd != -1);
	close(fd);
}

/* maildir_tmp_stale then maildir_tmp_remove, as fetch.c runs them. */
static int
clean_tmp_owned(struct maildir *md, time_t max_age, const char *owner,
    const char *const *keep, size_t nkeep, char **cause)
{
	char	**names;
	size_t	  n;
	int	  r;

	if (maildir_tmp_stale(md, max_age, &owner, owner != NULL, &names, &n,
	    cause) != 0)
		return (-1);
	r = maildir_tmp_remove(md, names, n, keep, nkeep, cause);
	maildir_names_free(names, n);
	return (r);
}

static int
clean_tmp(struct maildir *md, time_t max_age, const char *const *keep,
    size_t nkeep, char **cause)
{
	return (clean_tmp_owned(md, max_age, NULL, keep, nkeep, cause));
}

/* clean_tmp removes old regular files only: not fresh ones, not
 * directories, not our own delivery in progress. */
static void
test_clean_tmp(void **state)
{
	struct fixture		*f = *state;
	struct maildir		*md;
	struct maildir_delivery	*d;
	char			*cause = NULL, path[PATH_MAX], *name;
	DIR			*dirp;
	struct dirent		*de;
	const time_t		 h36 = 36 * 3600;

	md = maildir_open(f->root, NULL, &cause);
	assert_non_null(md);
	pathf(path, "%s/tmp/old1", f->root);
	touch(path);
	age_file(path, h36 + 3600);
	pathf(path, "%s/tmp/old2", f->root);
	touch(path);
	age_file(path, 30 * 24 * 3600);
	pathf(path, "%s/tmp/fresh", f->root);
	touch(path);
	age_file(path, h36 - 3600);
	pathf(path, "%s/tmp/olddir", f->root);
	assert_int_equal(mkdir(path, 0700), 0);
	age_file(path, 30 * 24 * 3600);

	/* Our own delivery in progress, even if its mtime looks old. */
	d = maildir_deliver_begin(md, &cause);
	assert_non_null(d);
	pathf(path, "%s/tmp", f->root);
	dirp = opendir(path);
	assert_non_null(dirp);
	while ((de = readdir(dirp)) != NULL) {
		if (strchr(de->d_name, '.') != NULL && de->d_name[0] != '.') {
			pathf(path, "%s/tmp/%s", f->root,
			    de->d_name);
			age_file(path, 30 * 24 * 3600);
		}
	}
	closedir(dirp);

	assert_int_equal(clean_tmp(md, h36, NULL, 0, &cause), 2);
	assert_null(cause);
	assert_int_equal(count_sub(f->root, "tmp"), 3);
	pathf(path, "%s/tmp/fresh", f->root);
	assert_int_equal(access(path, F_OK), 0);
	pathf(path, "%s/tmp/old1", f->root);
	assert_int_equal(access(path, F_OK), -1);
	assert_int_equal(clean_tmp(md, h36, NULL, 0, &cause), 0);

	assert_int_equal(maildir_deliver_write(d, "ok", 2, &cause), 0);
	assert_int_equal(maildir_deliver_commit(d, NULL, &name, &cause), 0);
	free(name);
	assert_int_equal(count_sub(f->root, "new"), 1);
	maildir_close(md);
}

/* clean_tmp never removes a file the intent journal names, whatever its
 * age: it is a complete message waiting for maildir_recover. */
static void
test_clean_tmp_journaled(void **state)
{
	struct fixture		*f = *state;
	struct maildir		*md;
	char			*cause = NULL, path[PATH_MAX];
	const char		*keep[] = { "1.M1P1Q1Rab.h,S=3:2,S",
	    "2.M2P2Q2Rcd.h,S=9" };

	md = maildir_open(f->root, NULL, &cause);
	assert_non_null(md);
	pathf(path, "%s/tmp/1.M1P1Q1Rab.h", f->root);
	touch(path);
	age_file(path, 30 * 24 * 3600);
	pathf(path, "%s/tmp/3.M3P3Q3Ref.h", f->root);
	touch(path);
	age_file(path, 30 * 24 * 3600);
	assert_int_equal(clean_tmp(md, 36 * 3600, keep, 2, &cause), 1);
	assert_null(cause);
	pathf(path, "%s/tmp/1.M1P1Q1Rab.h", f->root);
	assert_int_equal(access(path, F_OK), 0);
	pathf(path, "%s/tmp/3.M3P3Q3Ref.h", f->root);
	assert_int_equal(access(path, F_OK), -1);
	maildir_close(md);
}

/* Leaves a fresh tmp/ file as a killed delivery of account acct (state
 * directory "/var/lib/x") would: a dead pid, acct's owner tag or, for
 * NULL, none. */
static void
orphan_file(const char *root, const char *acct, char *name, size_t size)
{
	char	host[256], tag[MAILDIR_OWNER_LEN + 1], path[PATH_MAX];
	pid_t	pid;

	assert_int_equal(gethostname(host, sizeof host), 0);
	assert_null(strpbrk(host, "/:"));
	pid = fork();
	assert_true(pid != -1);
	if (pid == 0)
		_exit(0);
	assert_int_equal(waitpid(pid, NULL, 0), pid);	/* now dead */
	if (acct != NULL)
		maildir_owner_tag("/var/lib/x", acct, tag);
	snprintf(name, size, "%lld.M000001P%ldQ1R0123456789abcdef%s%s.%s",
	    (long long)time(NULL), (long)pid, acct != NULL ? "O" : "",
	    acct != NULL ? tag : "", host);
	pathf(path, "%s/tmp/%s", root, name);
	touch(path);
}

/* A dead process's fresh tmp/ file goes at once only when it carries the
 * owner tag of an account whose journal the cleaner reads: one of
 * another configuration (other journals) never goes, one without a tag
 * keeps the 36-hour rule. */
static void
test_clean_tmp_owner(void **state)
{
	struct fixture	*f = *state;
	struct maildir	*md;
	char		*cause = NULL, path[PATH_MAX], tag[MAILDIR_OWNER_LEN + 1];
	char		 ours[512], theirs[512], untagged[512], kept[512];
	const char	*keep[1];

	md = maildir_open(f->root, NULL, &cause);
	assert_non_null(md);
	orphan_file(f->root, "a", ours, sizeof ours);
	orphan_file(f->root, "b", theirs, sizeof theirs);
	orphan_file(f->root, NULL, untagged, sizeof untagged);
	orphan_file(f->root, "a", kept, sizeof kept);
	keep[0] = kept;
	maildir_owner_tag("/var/lib/x", "a", tag);
	assert_int_equal(clean_tmp_owned(md, 36 * 3600, tag, keep, 1, &cause),
	    1);
	assert_null(cause);
	pathf(path, "%s/tmp/%s", f->root, ours);
	assert_int_equal(access(path, F_OK), -1);
	pathf(path, "%s/tmp/%s", f->root, theirs);
	assert_int_equal(access(path, F_OK), 0);
	pathf(path, "%s/tmp/%s", f->root, untagged);
	assert_int_equal(access(path, F_OK), 0);
	pathf(path, "%s/tmp/%s", f->root, kept);
	assert_int_equal(access(path, F_OK), 0);
	/* Without the owners (another configuration's view): none. */
	orphan_file(f->root, "a", ours, sizeof ours);
	assert_int_equal(clean_tmp(md, 36 * 3600, NULL, 0, &cause), 0);
	maildir_close(md);
}

/* Past the 36 hours, a tmp/ file with another configuration's owner tag
 * stays (its journal, which the cleaner does not read, may name it: its
 * account may be down for days); one with an owner's tag, not journaled,
 * and an untagged one go. Without the owners, no tagged file goes. */
/* Whether root's tmp/ holds name. */
static int
tmp_has(const char *root, const char *name)
{
	char	path[PATH_MAX];

	pathf(path, "%s/tmp/%s", root, name);
	return (access(path, F_OK) == 0);
}

static void
test_clean_tmp_foreign_aged(void **state)
{
	struct fixture	*f = *state;
	struct maildir	*md;
	char		*cause = NULL, path[PATH_MAX], tag[MAILDIR_OWNER_LEN + 1];
	char		 ours[512], theirs[512], untagged[512];
	char		*aged[] = { ours, theirs, untagged };
	size_t		 i;

	md = maildir_open(f->root, NULL, &cause);
	assert_non_null(md);
	orphan_file(f->root, "a", ours, sizeof ours);
	orphan_file(f->root, "b", theirs, sizeof theirs);
	orphan_file(f->root, NULL, untagged, sizeof untagged);
	for (i = 0; i < 3; i++) {
		pathf(path, "%s/tmp/%s", f->root, aged[i]);
		age_file(path, 40 * 3600);
	}
	/* Another configuration's view (no owners): its old file stays. */
	assert_int_equal(clean_tmp(md, 36 * 3600, NULL, 0, &cause), 1);
	assert_null(cause);
	assert_true(tmp_has(f->root, ours));
	assert_false(tmp_has(f->root, untagged));
	maildir_owner_tag("/var/lib/x", "a", tag);
	assert_int_equal(clean_tmp_owned(md, 36 * 3600, tag, NULL, 0, &cause),
	    1);
	assert_null(cause);
	assert_false(tmp_has(f->root, ours));
	assert_true(tmp_has(f->root, theirs));
	maildir_close(md);
}

/* The owner tag tells state directories and accounts apart, and is what
 * maildir_open_owned puts in the names of its deliveries. */
static void
test_owner_tag(void **state)
{
	struct fixture		*f = *state;
	struct maildir		*md;
	struct maildir_delivery	*d;
	char			*cause = NULL, *name, a[MAILDIR_OWNER_LEN + 1];
	char			 b[MAILDIR_OWNER_LEN + 1], want[64];

	maildir_owner_tag("/s1", "acct", a);
	maildir_owner_tag("/s2", "acct", b);
	assert_int_equal(strlen(a), MAILDIR_OWNER_LEN);
	assert_string_not_equal(a, b);
	maildir_owner_tag("/s", "1acct", b);
	maildir_owner_tag("/s1", "acct", want);
	assert_string_not_equal(b, want);	/* not a plain concatenation */
	md = maildir_open_owned(f->root, NULL, "/s1", "acct", &cause);
	assert_non_null(md);
	d = maildir_deliver_begin(md, &cause);
	assert_non_null(d);
	assert_int_equal(maildir_deliver_commit(d, NULL, &name, &cause), 0);
	snprintf(want, sizeof want, "O%s.", a);
	assert_non_null(strstr(name, want));
	free(name);
	maildir_close(md);
}

/* Stages n messages ("abc"), flags[i] each, keeping their final names. */
static void
stage_n(struct maildir *md, size_t n, const char **flags, char **names)
{
	struct maildir_delivery	*d;
	char			*cause = NULL;
	size_t			 i;

	for (i = 0; i < n; i++) {
		d = maildir_deliver_begin(md, &cause);
		assert_non_null(d);
		assert_int_equal(maildir_deliver_write(d, "abc", 3, &cause), 0);
		assert_int_equal(maildir_deliver_stage(d, flags[i], &names[i],
		    &cause), 0);
	}
}

/* Once prepared (journaled), a batch whose sync fails is left as a crash
 * leaves it, and maildir_recover finishes it: nothing lost, nothing
 * doubled. */
static void
test_prepared_sync_failure(void **state)
{
	struct fixture		*f = *state;
	struct maildir		*md;
	char			*cause = NULL, path[PATH_MAX], *names[3];
	const char		*flags[] = { "S", NULL, "S" };
	struct maildir_found	 found[3];
	size_t			 i;

	md = maildir_open(f->root, NULL, &cause);
	assert_non_null(md);
	stage_n(md, 3, flags, names);
	assert_int_equal(maildir_sync_prepare(md, &cause), 0);
	pathf(path, "%s/new", f->root);
	assert_int_equal(rmdir(path), 0);
	assert_int_equal(maildir_sync(md, &cause), -1);
	free(cause);
	cause = NULL;
	assert_int_equal(count_sub(f->root, "cur"), 1);
	assert_int_equal(count_sub(f->root, "tmp"), 2);
	maildir_close(md);
	assert_int_equal(count_sub(f->root, "tmp"), 2);

	md = maildir_open(f->root, NULL, &cause);	/* new/ made again */
	assert_non_null(md);
	assert_int_equal(maildir_recover(md, (const char **)names, 3, found,
	    &cause), 0);
	assert_null(cause);
	assert_int_equal(found[0].moved, 0);
	assert_int_equal(found[0].where, MAILDIR_IN_CUR);
	assert_string_equal(found[0].name, names[0]);
	assert_int_equal(found[1].moved, 1);
	assert_int_equal(found[1].where, MAILDIR_IN_NEW);
	assert_int_equal(found[2].moved, 1);
	assert_int_equal(found[2].where, MAILDIR_IN_CUR);
	maildir_found_clear(found, 3);
	assert_int_equal(count_sub(f->root, "new"), 1);
	assert_int_equal(count_sub(f->root, "cur"), 2);
	assert_int_equal(count_sub(f->root, "tmp"), 0);
	for (i = 0; i < 3; i++)
		free(names[i]);
	maildir_close(md);
}

/* Recovery looks for a file absent from tmp/ where a reader may have put
 * it: a message moved new/ -> cur/ with flags is found there by its unique
 * name (with one scan of cur/), and opens; a deleted one is found nowhere;
 * neither is moved or brought back. */
static void
test_recover_after_reader(void **state)
{
	struct fixture		*f = *state;
	struct maildir		*md;
	char			*cause = NULL, from[PATH_MAX], to[PATH_MAX];
	char			*names[3], want[PATH_MAX];
	const char		*flags[] = { NULL, NULL, NULL };
	struct maildir_found	 found[3];
	int			 fd;

	md = maildir_open(f->root, NULL, &cause);
	assert_non_null(md);
	stage_n(md, 3, flags, names);
	assert_int_equal(maildir_sync_prepare(md, &cause), 0);
	assert_int_equal(maildir_sync(md, &cause), 0);
	pathf(from, "%s/new/%s", f->root, names[0]);
	pathf(to, "%s/cur/%s:2,S", f->root, names[0]);
	assert_int_equal(rename(from, to), 0);
	pathf(from, "%s/new/%s", f->root, names[1]);
	assert_int_equal(unlink(from), 0);
	assert_int_equal(maildir_recover(md, (const char **)names, 3, found,
	    &cause), 0);
	assert_null(cause);
	assert_int_equal(found[0].where, MAILDIR_IN_CUR);
	pathf(want, "%s:2,S", names[0]);
	assert_string_equal(found[0].name, want);
	assert_int_equal(found[1].where, MAILDIR_GONE);
	assert_null(found[1].name);
	assert_int_equal(found[2].where, MAILDIR_IN_NEW);
	assert_int_equal(found[2].moved, 0);
	fd = maildir_open_found(md, &found[0]);
	assert_true(fd != -1);
	close(fd);
	assert_int_equal(maildir_open_found(md, &found[1]), -1);
	assert_int_equal(errno, ENOENT);
	maildir_found_clear(found, 3);
	assert_int_equal(count_sub(f->root, "new"), 1);
	assert_int_equal(count_sub(f->root, "cur"), 1);
	assert_int_equal(count_sub(f->root, "tmp"), 0);
	free(names[0]);
	free(names[1]);
	free(names[2]);
	maildir_close(md);
}

/* Killed between link() and unlink() of the fallback: the tmp/ name is a
 * second link of the published file; recovery only removes it, even when
 * a reader has renamed the published one since. */
static void
test_recover_linked(void **state)
{
	struct fixture		*f = *state;
	struct maildir		*md;
	char			*cause = NULL, tmp[PATH_MAX], cur[PATH_MAX];
	const char		*final = "5.M5P5Q5R55.h,S=0";
	struct maildir_found	 found;

	md = maildir_open(f->root, NULL, &cause);
	assert_non_null(md);
	pathf(tmp, "%s/tmp/5.M5P5Q5R55.h", f->root);
	touch(tmp);
	pathf(cur, "%s/cur/5.M5P5Q5R55.h,S=0:2,S", f->root);
	assert_int_equal(link(tmp, cur), 0);
	assert_int_equal(maildir_recover(md, &final, 1, &found, &cause), 0);
	assert_null(cause);
	assert_int_equal(found.where, MAILDIR_IN_CUR);
	assert_string_equal(found.name, "5.M5P5Q5R55.h,S=0:2,S");
	maildir_found_clear(&found, 1);
	assert_int_equal(access(tmp, F_OK), -1);
	assert_int_equal(count_sub(f->root, "new"), 0);
	assert_int_equal(count_sub(f->root, "cur"), 1);
	maildir_close(md);
}

/* A symbolic link in place of new/ or tmp/ is refused, naming it. */
static void
test_symlink_refused(void **state)
{
	struct fixture	*f = *state;
	struct maildir	*md;
	char		 path[PATH_MAX], target[PATH_MAX], *cause = NULL;
	const char	*subs[] = { "new", "tmp" };
	size_t		 i;

	pathf(target, "%s/elsewhere", f->dir);
	assert_int_equal(mkdir(target, 0700), 0);
	for (i = 0; i < 2; i++) {
		md = maildir_open(f->root, NULL, &cause);
		assert_non_null(md);
		maildir_close(md);
		pathf(path, "%s/%s", f->root, subs[i]);
		assert_int_equal(rmdir(path), 0);
		assert_int_equal(symlink(target, path), 0);
		md = maildir_open(f->root, NULL, &cause);
		assert_null(md);
		assert_non_null(cause);
		assert_non_null(strstr(cause, path));
		assert_non_null(strstr(cause, "symbolic link"));
		free(cause);
		cause = NULL;
		assert_int_equal(unlink(path), 0);
	}
	assert_int_equal(count_entries(target), 0);
}

/* A root (or a parent of it) that is a regular file: the error names it. */
static void
test_root_is_file(void **state)
{
	struct fixture	*f = *state;
	struct maildir	*md;
	char		 path[PATH_MAX], *cause = NULL;

	touch(f->root);
	md = maildir_open(f->root, NULL, &cause);
	assert_null(md);
	assert_non_null(cause);
	assert_non_null(strstr(cause, f->root));
	assert_non_null(strstr(cause, "Not a directory"));
	free(cause);
	cause = NULL;

	pathf(path, "%s/sub/Maildir", f->root);
	md = maildir_open(path, NULL, &cause);
	assert_null(md);
	assert_non_null(cause);
	assert_non_null(strstr(cause, f->root));
	assert_non_null(strstr(cause, "Not a directory"));
	free(cause);
}

/* An unwritable tmp/ fails begin with the path and the system error:
 * EROFS from a read-only tmpfs as root (root ignores modes), EACCES from
 * chmod 0500 otherwise. */
static void
test_unwritable(void **state)
{
	struct fixture	*f = *state;
	struct maildir	*md;
	char		 path[PATH_MAX], *cause = NULL;
	const char	*want;

	if (geteuid() == 0) {
		mount_tmpfs(f, "size=1m");
		want = "Read-only file system";
	} else
		want = "Permission denied";
	md = maildir_open(f->root, NULL, &cause);
	assert_non_null(md);
	pathf(path, "%s/tmp", f->root);
	if (geteuid() == 0)
		assert_int_equal(mount("tmpfs", f->root, "tmpfs",
		    MS_REMOUNT|MS_RDONLY, NULL), 0);
	else
		assert_int_equal(chmod(path, 0500), 0);
	assert_null(maildir_deliver_begin(md, &cause));
	assert_non_null(cause);
	assert_non_null(strstr(cause, path));
	assert_non_null(strstr(cause, want));
	free(cause);
	cause = NULL;
	maildir_close(md);

	/* A folder that does not exist yet cannot be created either. */
	assert_null(maildir_open(f->root, "Sub", &cause));
	assert_non_null(cause);
	pathf(path, "%s/.Sub", f->root);
	assert_non_null(strstr(cause, path));
	assert_non_null(strstr(cause, want));
	free(cause);
}

/* Writes up to 1 MB; returns the result of the failing write, with its
 * cause, or 0 if all fit. */
static int
write_mb(struct maildir_delivery *d, char **cause)
{
	static char	chunk[8192];
	int		i;

	memset(chunk, 'x', sizeof chunk);
	for (i = 0; i < 128; i++) {
		if (maildir_deliver_write(d, chunk, sizeof chunk, cause) != 0)
			return (-1);
	}
	return (0);
}

/* A full disk: the write fails with the path and ENOSPC, abort leaves
 * nothing, commit after the error refuses and cleans up, and the Maildir
 * works again once space is free. */
static void
test_enospc(void **state)
{
	struct fixture		*f = *state;
	struct maildir		*md;
	struct maildir_delivery	*d;
	char			 path[PATH_MAX], *cause = NULL, *name;

	if (geteuid() != 0)
		skip();
	mount_tmpfs(f, "size=64k");
	md = maildir_open(f->root, NULL, &cause);
	assert_non_null(md);

	d = maildir_deliver_begin(md, &cause);
	assert_non_null(d);
	assert_int_equal(write_mb(d, &cause), -1);
	pathf(path, "%s/tmp/", f->root);
	assert_non_null(strstr(cause, path));
	assert_non_null(strstr(cause, "No space left on device"));
	free(cause);
	cause = NULL;
	/* Only abort is left. */
	assert_int_equal(maildir_deliver_write(d, "x", 1, &cause), -1);
	free(cause);
	cause = NULL;
	maildir_deliver_abort(d);
	assert_int_equal(count_sub(f->root, "tmp"), 0);
	assert_int_equal(count_sub(f->root, "new"), 0);

	d = maildir_deliver_begin(md, &cause);
	assert_non_null(d);
	assert_int_equal(write_mb(d, &cause), -1);
	free(cause);
	cause = NULL;
	assert_int_equal(maildir_deliver_commit(d, NULL, &name, &cause), -1);
	assert_non_null(cause);
	free(cause);
	assert_int_equal(count_sub(f->root, "tmp"), 0);
	assert_int_equal(count_sub(f->root, "new"), 0);

	name = deliver(md, "fits\n", 5, NULL);
	assert_non_null(name);
	free(name);
	assert_int_equal(count_sub(f->root, "new"), 1);
	maildir_close(md);
}

/* A full disk met through small, buffered writes: the error shows at a
 * later write or at stage, the batch is rolled back, nothing is left. */
static void
test_enospc_small_writes(void **state)
{
	struct fixture		*f = *state;
	struct maildir		*md;
	struct maildir_delivery	*d;
	char			 chunk[3000], *cause = NULL;
	int			 i, rc = 0;

	if (geteuid() != 0)
		skip();
	mount_tmpfs(f, "size=64k");
	md = maildir_open(f->root, NULL, &cause);
	assert_non_null(md);
	memset(chunk, 'x', sizeof chunk);
	d = maildir_deliver_begin(md, &cause);
	assert_non_null(d);
	for (i = 0; i < 200 && rc == 0; i++)	/* 600 KB into 64 KB */
		rc = maildir_deliver_write(d, chunk, sizeof chunk, &cause);
	if (rc == 0)
		rc = maildir_deliver_stage(d, NULL, NULL, &cause);
	else
		maildir_deliver_abort(d);
	assert_int_equal(rc, -1);
	assert_non_null(strstr(cause, "No space left on device"));
	free(cause);
	cause = NULL;
	assert_int_equal(maildir_sync(md, &cause), 0);
	assert_int_equal(count_sub(f->root, "tmp"), 0);
	assert_int_equal(count_sub(f->root, "new"), 0);
	maildir_close(md);
}

/* The host part escapes '/' and ':' (needs a UTS namespace: root). */
static void
test_host_escaped(void **state)
{
	struct fixture	*f = *state;
	struct maildir	*md;
	char		*cause = NULL, *name;
	const char	*host = "mx/1:a";
	const char	*want = ".mx\\0571\\072a,S=1";

	if (unshare(CLONE_NEWUTS) != 0 ||
	    sethostname(host, strlen(host)) != 0) {
		print_message("# unshare/sethostname: %s\n", strerror(errno));
		skip();
	}
	md = maildir_open(f->root, NULL, &cause);
	assert_non_null(md);
	name = deliver(md, "x", 1, NULL);
	assert_string_equal(name + strlen(name) - strlen(want), want);
	free(name);
	maildir_close(md);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_open_creates, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_deliver_new, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_deliver_cur_flags, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_abort, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unique_fast, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_stage_sync, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_stage_sync_rollback, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_close_discards_staged,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_subfolder, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_invalid_folders, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_clean_tmp, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_clean_tmp_owner, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_clean_tmp_foreign_aged,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_owner_tag, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_clean_tmp_journaled, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_prepared_sync_failure,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_recover_after_reader,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_recover_linked, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_symlink_refused, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_root_is_file, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_unwritable, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_enospc, setup, teardown),
		cmocka_unit_test_setup_teardown(test_enospc_small_writes, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_host_escaped, setup,
		    teardown),
	};

	return (cmocka_run_group_tests_name("maildir", tests, NULL, NULL));
}
