/* maildir.c: durable Maildir delivery (cr.yp.to/proto/maildir.html, with
 * the Maildir++ folder layout). Knows nothing of protocols.
 *
 * Names. A message is created in tmp/ as
 *	<sec>.M<usec>P<pid>Q<counter>R<16 hex random>[O<16 hex owner>].<host>
 * (host with '/' as \057 and ':' as \072), opened O_EXCL and retried with a
 * fresh name on EEXIST. The owner tag (maildir_open_owned) names the
 * account, and so the intent journal, a delivery belongs to: only with it
 * can a cleaner prove a dead process's tmp/ file is garbage (see
 * maildir_orphan); configurations sharing a Maildir have other journals. Its final name adds ",S=<size>" in new/, or
 * ",S=<size>:2,<flags>" in cur/. It is moved with renameat2(RENAME_NOREPLACE),
 * or link()+unlink() where that is not supported, so an existing file is
 * never overwritten. A link() error is checked against the target (NFS
 * may report EEXIST for a link that happened: the reply was lost and the
 * retransmission found it), and where there are no hard links (vfat,
 * exFAT, some FUSE and SMB mounts: EPERM, EOPNOTSUPP, ENOSYS) the name is
 * checked free and rename() used (maildir_check_rename says why that is
 * safe).
 *
 * Single commit (maildir_deliver_commit):
 *	write all -> fsync(file) -> close() checked -> rename into new|cur
 *	-> fsync(new|cur)
 * The message is visible only after its data is on disk; it is durable when
 * the call returns 0. Any failure removes the message from new|cur and tmp/.
 *
 * Batch (maildir_deliver_stage ... maildir_sync), the protocol that makes a
 * crash at any instant leave nothing incomplete in new/ or cur/:
 *  1. stage: the file stays in tmp/ with its fd open; writeback is started
 *     (sync_file_range, advisory) so the data goes to disk while the next
 *     message is fetched. Nothing is visible yet.
 *  2. When 64 staged files are open, stage fsyncs and closes them (data
 *     durable, still in tmp/, still invisible) to bound the fds we hold.
 *  3. sync: fsync+close every remaining staged file, then rename each into
 *     new|cur, then fsync each dirty directory once.
 * Renames happen only after every file of the batch is fsynced, so a crash
 * before step 3 ends leaves complete files in tmp/ (removed later by
 * maildir_tmp_remove unless an intent journal names them) and at most
 * complete, fsynced files in new|cur. The batch is all or nothing: if any
 * step fails, every message of the batch is removed from new|cur and tmp/
 * and -1 returned, so the caller, which records its state only after
 * maildir_sync returns 0, fetches them again and never keeps a message
 * twice. With an intent journal (maildir_sync_prepare, then the journal,
 * then maildir_sync) a failure after prepare is treated as a crash: the
 * files stay, the journal keeps naming them and maildir_recover finishes
 * the move. "Not in tmp/" is still no proof of "moved into place" (a
 * reader, another program or an administrator may remove files): recovery
 * looks for each such file in new/ and cur/ and reports one found nowhere,
 * for which the caller takes no server action. The
 * gain over commit: one fsync per directory per batch instead of one per
 * message, and file fsyncs that find their data already written
 * (writeback started at stage) and can share a journal commit on ext4 or
 * XFS.
 *
 * Folders. "A/B" is the directory ".A.B" with an empty "maildirfolder"
 * file. Since '.' is the Maildir++ separator, a '.' inside a component is
 * written "%2E" and '%' is written "%25" (reversible). Refused: an empty
 * component (leading, trailing or doubled '/'), "." and "..", and control
 * characters. "INBOX" (any case), "" and NULL are the root Maildir.
 *
 * The root may be a symbolic link (the administrator's choice) and is
 * created with its missing parents, mode 0700. Everything below it that we
 * use (the folder directory, tmp/, new/, cur/) must be a real directory:
 * a symbolic link there is refused, as a rename into it could cross
 * file systems or land somewhere unexpected. */
#include "maildir.h"

#include <sys/queue.h>
#include <sys/random.h>
#include <sys/stat.h>

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "fault.h"
#include "fdio.h"
#include "log.h"
#include "xmalloc.h"

#define MAILDIR_CREATE_TRIES	16	/* fresh names tried on EEXIST */
#define MAILDIR_MAX_OPEN	64	/* staged files kept open at most */
#define MAILDIR_WBUF		(32 * 1024)	/* write buffer of a delivery */
#define MAILDIR_RANDOM_BYTES	8
#define MAILDIR_STALE_MAX	4096	/* stale tmp/ files listed per call:
					 * the rest waits for the next */

enum maildir_sub {
	MAILDIR_TMP = 0,
	MAILDIR_NEW,
	MAILDIR_CUR,
	MAILDIR_NSUB
};
static const char *maildir_sub_names[MAILDIR_NSUB] = { "tmp", "new", "cur" };

struct maildir_delivery {
	struct maildir			*md;
	TAILQ_ENTRY(maildir_delivery)	 entry;		/* in md->deliveries */

	char		*name;		/* unique name in tmp/ */
	int		 fd;		/* -1 once closed */
	size_t		 size;		/* bytes accepted, buffered or not */
	int		 failed;	/* a write failed: only abort left */
	char		*buf;		/* write buffer, MAILDIR_WBUF bytes */
	size_t		 buflen;

	/* Set by stage; the maildir owns the delivery from then on. */
	int		 staged;
	enum maildir_sub dest;
	char		*final;		/* name in new/ or cur/ */
	int		 published;	/* renamed into dest during sync */
};
TAILQ_HEAD(maildir_deliveries, maildir_delivery);

struct maildir {
	char		*path;		/* root, or root/.A.B for a folder */
	int		 fd[MAILDIR_NSUB];	/* tmp/, new/, cur/ */
	char		*host;		/* hostname, escaped for names */

	/* Every delivery begun and not finished: in progress (owned by the
	 * caller) and staged (owned by us, waiting for maildir_sync). */
	struct maildir_deliveries deliveries;
	u_int		 nlive;		/* in progress */
	u_int		 nopen;		/* staged with fd still open */
	int		 prepared;	/* the batch passed maildir_sync_prepare:
					 * its files are the caller's journal's,
					 * never removed by us */
	char		 owner[MAILDIR_OWNER_LEN + 1];	/* O<tag> of our
					 * names (maildir_open_owned); "" none */
};

/* glibc's <sys/queue.h> lacks the _SAFE variant. */
#ifndef TAILQ_FOREACH_SAFE
#define TAILQ_FOREACH_SAFE(var, head, field, tvar)			\
	for ((var) = TAILQ_FIRST(head);					\
	    (var) != NULL && ((tvar) = TAILQ_NEXT(var, field), 1);	\
	    (var) = (tvar))
#endif

static u_long	maildir_counter;	/* Q<n>: unique within the process */

static void	maildir_delivery_free(struct maildir_delivery *);

/* Sets *cause to "<formatted>: <strerror(error)>". */
static void printflike(3, 4)
maildir_error(char **cause, int error, const char *fmt, ...)
{
	va_list	 ap;
	char	*what;

	va_start(ap, fmt);
	if (vasprintf(&what, fmt, ap) == -1)
		abort();
	va_end(ap);
	xasprintf(cause, "%s: %s", what, strerror(error));
	free(what);
}

/* The path of a file in one of tmp/, new/, cur/, for error messages. */
static char *
maildir_file_path(const struct maildir *md, enum maildir_sub sub,
    const char *name)
{
	char	*path;

	xasprintf(&path, "%s/%s/%s", md->path, maildir_sub_names[sub], name);
	return (path);
}

/* Sets *cause for a failed operation on a file in tmp/, new/ or cur/. */
static void
maildir_file_error(char **cause, int error, struct maildir *md,
    enum maildir_sub sub, const char *name, const char *op)
{
	char	*path;

	path = maildir_file_path(md, sub, name);
	maildir_error(cause, error, "%s: %s", path, op);
	free(path);
}

/* fsync() that retries on EINTR; an I/O error is never retried. */
static int
maildir_fsync(int fd)
{
	int	rv;

	do
		rv = fsync(fd);
	while (rv == -1 && errno == EINTR);
	return (rv);
}

/* The host name as the spec wants it in a unique name: '/' and ':' would
 * break the path and the info separator, so they become \057 and \072. */
static char *
maildir_host(void)
{
	char	 host[HOST_NAME_MAX + 1], *out, *o;
	size_t	 i;

	if (gethostname(host, sizeof host) != 0 || host[0] == '\0')
		snprintf(host, sizeof host, "localhost");
	host[sizeof host - 1] = '\0';
	out = o = xmalloc(strlen(host) * 4 + 1);
	for (i = 0; host[i] != '\0'; i++) {
		if (host[i] == '/')
			o = stpcpy(o, "\\057");
		else if (host[i] == ':')
			o = stpcpy(o, "\\072");
		else
			*o++ = host[i];
	}
	*o = '\0';
	return (out);
}

/* A new unique name: time, usec, pid and a process counter make it unique
 * on this host; the random part covers a reused pid after a restart within
 * the same microsecond and clock steps backwards. */
static char *
maildir_unique(struct maildir *md, char **cause)
{
	unsigned char	 rnd[MAILDIR_RANDOM_BYTES];
	char		 hex[MAILDIR_RANDOM_BYTES * 2 + 1], *name;
	struct timespec	 ts;
	ssize_t		 n;
	size_t		 i;

	do
		n = getrandom(rnd, sizeof rnd, 0);
	while (n == -1 && errno == EINTR);
	if (n != (ssize_t)sizeof rnd) {
		maildir_error(cause, n == -1 ? errno : EIO, "getrandom");
		return (NULL);
	}
	for (i = 0; i < sizeof rnd; i++)
		snprintf(hex + i * 2, 3, "%02x", rnd[i]);
	clock_gettime(CLOCK_REALTIME, &ts);
	xasprintf(&name, "%lld.M%06ldP%ldQ%luR%s%s%s.%s", (long long)ts.tv_sec,
	    ts.tv_nsec / 1000, (long)getpid(), ++maildir_counter, hex,
	    *md->owner != '\0' ? "O" : "", md->owner, md->host);
	return (name);
}


/* Opens the directory at path and fsyncs it, so that an entry just created
 * in it survives a crash. */
static int
maildir_fsync_path(const char *path, char **cause)
{
	int	fd;

	if ((fd = open(path, O_RDONLY|O_DIRECTORY|O_CLOEXEC)) == -1) {
		maildir_error(cause, errno, "%s", path);
		return (-1);
	}
	if (maildir_fsync(fd) != 0) {
		maildir_error(cause, errno, "%s: fsync", path);
		close(fd);
		return (-1);
	}
	close(fd);
	return (0);
}

/* Creates one directory of a mkdir -p, mode 0700, and fsyncs its parent;
 * an existing one must be a directory (symbolic links followed: these are
 * the root and its parents, the administrator's choice). */
static int
maildir_mkdir_one(const char *dir, char **cause)
{
	struct stat	 sb;
	const char	*slash;
	char		*parent;
	int		 rv;

	if (mkdir(dir, 0700) != 0) {
		if (errno != EEXIST) {
			maildir_error(cause, errno, "%s: mkdir", dir);
			return (-1);
		}
		if (stat(dir, &sb) != 0) {
			maildir_error(cause, errno, "%s", dir);
			return (-1);
		}
		if (!S_ISDIR(sb.st_mode)) {
			maildir_error(cause, ENOTDIR, "%s", dir);
			return (-1);
		}
		return (0);
	}
	if ((slash = strrchr(dir, '/')) == NULL)
		parent = xstrdup(".");
	else if (slash == dir)
		parent = xstrdup("/");
	else
		parent = xstrndup(dir, slash - dir);
	rv = maildir_fsync_path(parent, cause);
	free(parent);
	return (rv);
}

/* Creates path and its missing parents (mkdir -p), each mode 0700. */
static int
maildir_mkdirs(const char *path, char **cause)
{
	char	*copy;
	size_t	 len, i;
	int	 rv = 0;

	copy = xstrdup(path);
	len = strlen(copy);
	for (i = 1; i <= len && rv == 0; i++) {
		if (copy[i] != '/' && copy[i] != '\0')
			continue;
		if (copy[i - 1] == '/')
			continue;	/* "//" or a trailing '/' */
		copy[i] = '\0';
		rv = maildir_mkdir_one(copy, cause);
		if (i < len)
			copy[i] = '/';
	}
	free(copy);
	return (rv);
}

/* Opens (creating it, mode 0700, if missing) the directory name in the
 * directory dirfd, refusing a symbolic link. path is the full path, for
 * errors. *created says whether the directory was made, so that the caller
 * fsyncs dirfd. */
static int
maildir_open_sub(int dirfd, const char *name, const char *path, int *created,
    char **cause)
{
	struct stat	sb;
	int		fd;

	if (mkdirat(dirfd, name, 0700) == 0)
		*created = 1;
	else if (errno != EEXIST) {
		maildir_error(cause, errno, "%s: mkdir", path);
		return (-1);
	}
	fd = openat(dirfd, name, O_RDONLY|O_DIRECTORY|O_NOFOLLOW|O_CLOEXEC);
	if (fd != -1)
		return (fd);
	if (fstatat(dirfd, name, &sb, AT_SYMLINK_NOFOLLOW) == 0 &&
	    S_ISLNK(sb.st_mode)) {
		xasprintf(cause, "%s: is a symbolic link, refusing to use it "
		    "(it must be a real directory)", path);
		return (-1);
	}
	maildir_error(cause, errno, "%s", path);
	return (-1);
}

/* Appends one folder name component to the Maildir++ directory name,
 * encoding '.' (the Maildir++ separator) and '%' so that the mapping can
 * be reversed. */
static int
maildir_folder_component(const char *folder, const char *c, size_t len,
    char *out, size_t *o, char **cause)
{
	char	*safe;
	size_t	 i;

	if (len == 0 || (len == 1 && c[0] == '.') ||
	    (len == 2 && c[0] == '.' && c[1] == '.')) {
		safe = log_sanitize(folder, strlen(folder), 256);
		xasprintf(cause, "folder \"%s\": empty, \".\" or \"..\" name "
		    "component", safe);
		free(safe);
		return (-1);
	}
	for (i = 0; i < len; i++) {
		if ((unsigned char)c[i] < 0x20 || c[i] == 0x7f) {
			safe = log_sanitize(folder, strlen(folder), 256);
			xasprintf(cause, "folder \"%s\": control character in "
			    "name", safe);
			free(safe);
			return (-1);
		}
		if (c[i] == '.')
			*o += sprintf(out + *o, "%%2E");
		else if (c[i] == '%')
			*o += sprintf(out + *o, "%%25");
		else
			out[(*o)++] = c[i];
	}
	out[*o] = '\0';
	return (0);
}

/* The Maildir++ directory name of folder: "A/B" is ".A.B". */
static char *
maildir_folder_dir(const char *folder, char **cause)
{
	const char	*c, *slash;
	char		*out;
	size_t		 o = 0;

	out = xmalloc(strlen(folder) * 3 + 2);
	c = folder;
	for (;;) {
		out[o++] = '.';
		if ((slash = strchr(c, '/')) == NULL)
			slash = c + strlen(c);
		if (maildir_folder_component(folder, c, slash - c, out, &o,
		    cause) != 0) {
			free(out);
			return (NULL);
		}
		if (*slash == '\0')
			break;
		c = slash + 1;
	}
	return (out);
}

/* Opens the folder's Maildir++ directory dir under the root, creating it
 * with its maildirfolder marker. Returns the directory fd. */
static int
maildir_open_folder(struct maildir *md, int rootfd, const char *dir,
    char **cause)
{
	char	*path;
	int	 fd, mfd, created = 0;

	xasprintf(&path, "%s/%s", md->path, dir);
	free(md->path);
	md->path = path;
	if ((fd = maildir_open_sub(rootfd, dir, path, &created, cause)) == -1)
		return (-1);
	if (created && maildir_fsync(rootfd) != 0) {
		maildir_error(cause, errno, "%s: fsync of parent", path);
		close(fd);
		return (-1);
	}
	mfd = openat(fd, "maildirfolder",
	    O_WRONLY|O_CREAT|O_CLOEXEC|O_NOFOLLOW|O_NOCTTY, 0600);
	if (mfd == -1 || close(mfd) != 0) {
		maildir_error(cause, errno, "%s/maildirfolder", path);
		close(fd);
		return (-1);
	}
	return (fd);
}

/* Opens tmp/, new/ and cur/ in the folder directory dirfd, creating them if
 * needed. */
static int
maildir_open_subs(struct maildir *md, int dirfd, char **cause)
{
	char	*path;
	int	 i, created = 0;

	for (i = 0; i < MAILDIR_NSUB; i++) {
		xasprintf(&path, "%s/%s", md->path, maildir_sub_names[i]);
		md->fd[i] = maildir_open_sub(dirfd, maildir_sub_names[i], path,
		    &created, cause);
		free(path);
		if (md->fd[i] == -1)
			return (-1);
	}
	if (created && maildir_fsync(dirfd) != 0) {
		maildir_error(cause, errno, "%s: fsync", md->path);
		return (-1);
	}
	return (0);
}

/* Opens the Maildir at root, or its Maildir++ folder, creating what is
 * missing. The folder name is checked before anything is created. */
struct maildir *
maildir_open(const char *root, const char *folder, char **cause)
{
	struct maildir	*md;
	char		*dir = NULL;
	int		 rootfd, dirfd, i;

	if (root == NULL || *root == '\0') {
		xasprintf(cause, "empty Maildir path");
		return (NULL);
	}
	if (folder != NULL && *folder != '\0' &&
	    strcasecmp(folder, "INBOX") != 0 &&
	    (dir = maildir_folder_dir(folder, cause)) == NULL)
		return (NULL);
	md = xcalloc(1, sizeof *md);
	for (i = 0; i < MAILDIR_NSUB; i++)
		md->fd[i] = -1;
	TAILQ_INIT(&md->deliveries);
	md->path = xstrdup(root);
	md->host = maildir_host();

	if (maildir_mkdirs(root, cause) != 0)
		goto fail;
	if ((rootfd = open(root, O_RDONLY|O_DIRECTORY|O_CLOEXEC)) == -1) {
		maildir_error(cause, errno, "%s", root);
		goto fail;
	}
	dirfd = rootfd;
	if (dir != NULL) {
		/* The root of Maildir++ folders is itself a Maildir (INBOX). */
		if (maildir_open_subs(md, rootfd, cause) != 0) {
			close(rootfd);
			goto fail;
		}
		for (i = 0; i < MAILDIR_NSUB; i++) {
			close(md->fd[i]);
			md->fd[i] = -1;
		}
		dirfd = maildir_open_folder(md, rootfd, dir, cause);
		close(rootfd);
		if (dirfd == -1)
			goto fail;
	}
	i = maildir_open_subs(md, dirfd, cause);
	close(dirfd);
	if (i != 0)
		goto fail;
	free(dir);
	return (md);

fail:
	free(dir);
	maildir_close(md);
	return (NULL);
}

int
maildir_folder_exists(const char *root, const char *folder, char **cause)
{
	struct stat	 sb;
	char		*dir, *path;
	int		 rc;

	if (folder == NULL || *folder == '\0' || strcasecmp(folder,
	    "INBOX") == 0)
		return (1);
	if ((dir = maildir_folder_dir(folder, cause)) == NULL) {
		free(*cause);
		*cause = NULL;
		return (0);
	}
	xasprintf(&path, "%s/%s", root, dir);
	free(dir);
	if (lstat(path, &sb) == 0)
		rc = 1;
	else if (errno == ENOENT || errno == ENOTDIR)
		rc = 0;
	else {
		maildir_error(cause, errno, "%s", path);
		rc = -1;
	}
	free(path);
	return (rc);
}

/* Closes a Maildir. Staged deliveries not yet synced are discarded
 * (removed from tmp/); deliveries in progress must be finished first. */
void
maildir_close(struct maildir *md)
{
	struct maildir_delivery	*d;
	int			 i;

	if (md == NULL)
		return;
	if (md->nlive != 0)
		fatalx("%s: maildir_close with %u deliveries in progress",
		    md->path, md->nlive);
	while ((d = TAILQ_FIRST(&md->deliveries)) != NULL) {
		if (d->fd != -1)
			close(d->fd);
		d->fd = -1;
		if (!md->prepared)
			unlinkat(md->fd[MAILDIR_TMP], d->name, 0);
		maildir_delivery_free(d);
	}
	for (i = 0; i < MAILDIR_NSUB; i++) {
		if (md->fd[i] != -1)
			close(md->fd[i]);
	}
	free(md->host);
	free(md->path);
	free(md);
}

/* The folder's directory path. */
const char *
maildir_path(const struct maildir *md)
{
	return (md->path);
}

/* True when name in tmp/ belongs to one of our unfinished deliveries. */
static int
maildir_is_ours(struct maildir *md, const char *name)
{
	struct maildir_delivery	*d;

	TAILQ_FOREACH(d, &md->deliveries, entry) {
		if (strcmp(d->name, name) == 0)
			return (1);
	}
	return (0);
}

/* The owner tag of one account's deliveries: a 64-bit FNV-1a hash of its
 * state_dir and name, in hex. Only for telling whose journal can name a
 * file, not against an adversary: a collision between two configurations
 * brings back only the removal the tag exists to prevent. */
void
maildir_owner_tag(const char *state_dir, const char *account,
    char tag[MAILDIR_OWNER_LEN + 1])
{
	const unsigned char	*p;
	uint64_t		 h = 0xcbf29ce484222325ULL;
	int			 i;

	for (i = 0; i < 2; i++) {
		p = (const unsigned char *)(i == 0 ? state_dir : account);
		for (; *p != '\0'; p++)
			h = (h ^ *p) * 0x100000001b3ULL;
		h = (h ^ 0xff) * 0x100000001b3ULL;	/* separator */
	}
	snprintf(tag, MAILDIR_OWNER_LEN + 1, "%016llx", (unsigned long long)h);
}

/* maildir_open for an account's deliveries: their names carry its owner
 * tag. */
struct maildir *
maildir_open_owned(const char *root, const char *folder,
    const char *state_dir, const char *account, char **cause)
{
	struct maildir	*md;

	if ((md = maildir_open(root, folder, cause)) != NULL)
		maildir_owner_tag(state_dir, account, md->owner);
	return (md);
}

/* Whether the unique name carries one of the owner tags: "...O<tag>"
 * ending at end (where ".<host>" starts). */
static int
maildir_owned(const char *name, const char *end, const char *const *owners,
    size_t nowners)
{
	const char	*tag = end - MAILDIR_OWNER_LEN;
	size_t		 i;

	if (end - name < MAILDIR_OWNER_LEN + 1 || tag[-1] != 'O')
		return (0);
	for (i = 0; i < nowners; i++) {
		if (strncmp(tag, owners[i], MAILDIR_OWNER_LEN) == 0)
			return (1);
	}
	return (0);
}

/* Whether the tmp/ entry name was left by a mailfetchd process of this
 * host that no longer runs (a crash or kill -9 mid-delivery) for one of
 * the accounts whose owner tags the caller passes: our unique name
 * ("...P<pid>Q...R<hex>O<tag>.<host>") with a pid that is not ours and
 * does not exist. Such a file is finished by no one but the recovery of
 * that account, if its intent journal names it, and the caller reads
 * exactly those journals and keeps what they name (maildir_tmp_remove):
 * so the rest is proven garbage, and waiting 36 hours for it would let a
 * crash loop fill the disk. A file with another tag (another
 * configuration's, with other journals we do not read, sharing the
 * Maildir) is never removed (maildir_foreign); one without a tag (an
 * older version's, another program's) and the files of live processes
 * keep the age rule. */
static int
maildir_orphan(struct maildir *md, const char *name,
    const char *const *owners, size_t nowners)
{
	const char	*p, *q;
	size_t		 nlen, hlen;
	char		*end;
	long		 pid;

	nlen = strlen(name);
	hlen = strlen(md->host);
	if (nlen <= hlen + 1 || name[nlen - hlen - 1] != '.' ||
	    strcmp(name + nlen - hlen, md->host) != 0 ||
	    !maildir_owned(name, name + nlen - hlen - 1, owners, nowners))
		return (0);
	if ((p = strstr(name, ".M")) == NULL || (p = strchr(p, 'P')) == NULL)
		return (0);
	if ((q = strchr(p, 'Q')) == NULL || strchr(q, 'R') == NULL)
		return (0);
	errno = 0;
	pid = strtol(p + 1, &end, 10);
	if (errno != 0 || end != q || pid <= 1 || pid == (long)getpid())
		return (0);
	return (kill((pid_t)pid, 0) == -1 && errno == ESRCH);
}

/* Whether the tmp/ entry name carries a mailfetchd owner tag whose
 * account is none of owners: "...R<hex>O<tag>.<host>" (any host), with a
 * tag not passed. Such a file may be named by a journal the caller does
 * not read (another configuration's, maybe down for days): only its own
 * configuration may remove it, whatever its age. */
static int
maildir_foreign(const char *name, const char *const *owners, size_t nowners)
{
	const char	*p, *end;
	size_t		 i;

	if ((p = strstr(name, ".M")) == NULL || strchr(p, 'R') == NULL ||
	    (end = strchr(p + 2, '.')) == NULL ||
	    end - p < MAILDIR_OWNER_LEN + 3 ||
	    end[-MAILDIR_OWNER_LEN - 1] != 'O')
		return (0);
	for (i = 0; i < MAILDIR_OWNER_LEN; i++) {
		if (!isxdigit((unsigned char)end[-MAILDIR_OWNER_LEN + (int)i]))
			return (0);
	}
	return (!maildir_owned(name, end, owners, nowners));
}

/* Whether the tmp/ entry name is stale: a regular file whose mtime is
 * more than max_age seconds before now (but never one another
 * configuration's account owns: maildir_foreign), or one of ours left by
 * a dead process. 1 if so, 0 if not, -1 with *cause. */
static int
maildir_stale_one(struct maildir *md, int dfd, const char *name, time_t now,
    time_t max_age, const char *const *owners, size_t nowners, char **cause)
{
	struct stat	sb;

	if (fstatat(dfd, name, &sb, AT_SYMLINK_NOFOLLOW) != 0) {
		if (errno == ENOENT)
			return (0);
		maildir_file_error(cause, errno, md, MAILDIR_TMP, name, "stat");
		return (-1);
	}
	if (!S_ISREG(sb.st_mode) || maildir_foreign(name, owners, nowners))
		return (0);
	return (now - sb.st_mtime > max_age ||
	    maildir_orphan(md, name, owners, nowners));
}

/* The base of a final name: the unique part, before ",S=". */
static size_t
maildir_base_len(const char *final)
{
	const char	*p = strstr(final, ",S=");

	return (p != NULL ? (size_t)(p - final) : strcspn(final, ":"));
}

/* Where a final name goes: cur/ when it carries flags (":2,"). */
static enum maildir_sub
maildir_final_sub(const char *final)
{
	return (strstr(final + maildir_base_len(final), ":2,") != NULL ?
	    MAILDIR_CUR : MAILDIR_NEW);
}

char *
maildir_final_path(const struct maildir *md, const char *final)
{
	return (maildir_file_path(md, maildir_final_sub(final), final));
}

/* Whether the tmp/ entry name is the unique part of one of the journaled
 * final names: such a file is durable and waits for maildir_recover. */
static int
maildir_journaled(const char *name, const char *const *keep, size_t nkeep)
{
	size_t	i, len = strlen(name);

	for (i = 0; i < nkeep; i++) {
		if (maildir_base_len(keep[i]) == len &&
		    strncmp(keep[i], name, len) == 0)
			return (1);
	}
	return (0);
}

/* Lists stale tmp/ files, the leftovers of deliveries interrupted by a
 * crash: any older than max_age (the spec's reader rule, 36 hours) but
 * those of accounts not among the owners (maildir_foreign), and at once
 * those dead processes of the owners' accounts left (maildir_orphan). Only
 * listed: whether an intent journal still names one can be known only
 * now that it is stale (a dead process journals nothing more), so the
 * caller reads the journals after this and before maildir_tmp_remove. */
int
maildir_tmp_stale(struct maildir *md, time_t max_age,
    const char *const *owners, size_t nowners, char ***names, size_t *n,
    char **cause)
{
	DIR		*dirp;
	struct dirent	*de = NULL;
	time_t		 now;
	int		 fd, rv = 0;

	*names = NULL;
	*n = 0;
	/* A fresh open, not a dup: a dup would share the read offset. */
	fd = openat(md->fd[MAILDIR_TMP], ".", O_RDONLY|O_DIRECTORY|O_CLOEXEC);
	if (fd == -1 || (dirp = fdopendir(fd)) == NULL) {
		maildir_error(cause, errno, "%s/tmp", md->path);
		if (fd != -1)
			close(fd);
		return (-1);
	}
	now = time(NULL);
	while (*n < MAILDIR_STALE_MAX) {
		errno = 0;
		if ((de = readdir(dirp)) == NULL)
			break;
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0 ||
		    maildir_is_ours(md, de->d_name))
			continue;
		rv = maildir_stale_one(md, fd, de->d_name, now, max_age,
		    owners, nowners, cause);
		if (rv == -1)
			break;
		if (rv == 1) {
			*names = xreallocarray(*names, *n + 1, sizeof **names);
			(*names)[(*n)++] = xstrdup(de->d_name);
		}
	}
	if (rv != -1 && de == NULL && errno != 0) {
		maildir_error(cause, errno, "%s/tmp: readdir", md->path);
		rv = -1;
	}
	closedir(dirp);
	if (rv == -1) {
		maildir_names_free(*names, *n);
		*names = NULL;
		*n = 0;
	}
	return (rv == -1 ? -1 : 0);
}

/* Removes the listed tmp/ files, but never one the journals name (keep),
 * whatever its age: the message is complete and only it may still hold
 * it (the server copy may be gone). */
int
maildir_tmp_remove(struct maildir *md, char *const *names, size_t n,
    const char *const *keep, size_t nkeep, char **cause)
{
	size_t	i;
	int	removed = 0;

	for (i = 0; i < n; i++) {
		if (strchr(names[i], '/') != NULL ||
		    maildir_journaled(names[i], keep, nkeep))
			continue;
		if (unlinkat(md->fd[MAILDIR_TMP], names[i], 0) == 0) {
			removed++;
			continue;
		}
		if (errno == ENOENT)
			continue;
		maildir_file_error(cause, errno, md, MAILDIR_TMP, names[i],
		    "unlink");
		return (-1);
	}
	return (removed);
}

/* Frees a list of n names. */
void
maildir_names_free(char **names, size_t n)
{
	size_t	i;

	for (i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

/* Starts a message: a new file in tmp/ under a unique name. */
struct maildir_delivery *
maildir_deliver_begin(struct maildir *md, char **cause)
{
	struct maildir_delivery	*d;
	char			*name;
	int			 fd = -1, i;

	for (i = 0; i < MAILDIR_CREATE_TRIES; i++) {
		if ((name = maildir_unique(md, cause)) == NULL)
			return (NULL);
		fd = openat(md->fd[MAILDIR_TMP], name,
		    O_WRONLY|O_CREAT|O_EXCL|O_CLOEXEC|O_NOFOLLOW|O_NOCTTY, 0600);
		if (fd != -1)
			break;
		if (errno != EEXIST || i == MAILDIR_CREATE_TRIES - 1) {
			maildir_file_error(cause, errno, md, MAILDIR_TMP, name,
			    "create");
			free(name);
			return (NULL);
		}
		free(name);
	}
	d = xcalloc(1, sizeof *d);
	d->md = md;
	d->name = name;
	d->fd = fd;
	TAILQ_INSERT_TAIL(&md->deliveries, d, entry);
	md->nlive++;
	return (d);
}

/* Writes len bytes to the file, through short writes and signals. */
static int
maildir_write_all(struct maildir_delivery *d, const char *p, size_t len,
    char **cause)
{
	if (fdio_write_all(d->fd, p, len) == 0)
		return (0);
	d->failed = 1;
	maildir_file_error(cause, errno, d->md, MAILDIR_TMP, d->name, "write");
	return (-1);
}

/* Writes out what the buffer holds. */
static int
maildir_delivery_flush(struct maildir_delivery *d, char **cause)
{
	size_t	len = d->buflen;

	d->buflen = 0;
	if (len == 0)
		return (0);
	return (maildir_write_all(d, d->buf, len, cause));
}

/* Appends bytes to the message. Small pieces (network reads are a few KB)
 * are gathered into MAILDIR_WBUF-sized writes: a tenth of the system
 * calls for a typical fetch. An error may so show at a later write or at
 * stage/commit, never later than that. */
int
maildir_deliver_write(struct maildir_delivery *d, const void *buf, size_t len,
    char **cause)
{
	if (d->failed || d->staged) {
		xasprintf(cause, "%s/tmp/%s: write after %s", d->md->path,
		    d->name, d->failed ? "an error" : "stage");
		return (-1);
	}
	if (d->buf == NULL)
		d->buf = xmalloc(MAILDIR_WBUF);
	if (d->buflen + len > MAILDIR_WBUF &&
	    maildir_delivery_flush(d, cause) != 0)
		return (-1);
	d->size += len;
	if (len >= MAILDIR_WBUF)
		return (maildir_write_all(d, buf, len, cause));
	memcpy(d->buf + d->buflen, buf, len);
	d->buflen += len;
	return (0);
}

/* Bytes written so far. */
size_t
maildir_delivery_size(const struct maildir_delivery *d)
{
	return (d->size);
}

/* Unlinks a delivery from its maildir and frees it; the caller has closed
 * its fd and removed its files as needed. */
static void
maildir_delivery_free(struct maildir_delivery *d)
{
	struct maildir	*md = d->md;

	if (d->staged) {
		if (d->fd != -1)
			md->nopen--;
	} else
		md->nlive--;
	if (d->fd != -1)
		close(d->fd);
	TAILQ_REMOVE(&md->deliveries, d, entry);
	free(d->buf);
	free(d->name);
	free(d->final);
	free(d);
}

/* Removes the message from wherever it is and frees the delivery. */
static void
maildir_delivery_discard(struct maildir_delivery *d)
{
	struct maildir	*md = d->md;

	if (d->fd != -1) {
		if (d->staged)
			md->nopen--;
		close(d->fd);
		d->fd = -1;
	}
	if (d->published)
		unlinkat(md->fd[d->dest], d->final, 0);
	else
		unlinkat(md->fd[MAILDIR_TMP], d->name, 0);
	maildir_delivery_free(d);
}

/* Removes the tmp/ file and frees the delivery. */
void
maildir_deliver_abort(struct maildir_delivery *d)
{
	if (d == NULL)
		return;
	maildir_delivery_discard(d);
}

/* Checks flags and returns them sorted, without duplicates, as the spec
 * wants the info part ("FS", never "SF"). */
static char *
maildir_flags(const char *flags, char **cause)
{
	char		 seen[128], *out, *safe;
	size_t		 i, o = 0;
	unsigned char	 c;

	memset(seen, 0, sizeof seen);
	for (i = 0; flags != NULL && flags[i] != '\0'; i++) {
		c = flags[i];
		if (c >= 128 || !isalpha(c)) {
			safe = log_sanitize(flags, strlen(flags), 64);
			xasprintf(cause, "invalid Maildir flags \"%s\": only "
			    "letters are allowed", safe);
			free(safe);
			return (NULL);
		}
		seen[c] = 1;
	}
	out = xmalloc(sizeof seen + 1);
	for (i = 0; i < sizeof seen; i++) {
		if (seen[i])
			out[o++] = (char)i;
	}
	out[o] = '\0';
	return (out);
}

/* Names the finished message: ",S=<size>" in new/, or with ":2,<flags>" in
 * cur/. */
static int
maildir_name_final(struct maildir_delivery *d, const char *flags,
    char **cause)
{
	char	*sorted;

	if ((sorted = maildir_flags(flags, cause)) == NULL)
		return (-1);
	if (*sorted == '\0') {
		d->dest = MAILDIR_NEW;
		xasprintf(&d->final, "%s,S=%zu", d->name, d->size);
	} else {
		d->dest = MAILDIR_CUR;
		xasprintf(&d->final, "%s,S=%zu:2,%s", d->name, d->size, sorted);
	}
	free(sorted);
	return (0);
}

/* Makes the file's data durable and closes it; close() is checked because
 * NFS and quota errors may surface only there. */
static int
maildir_file_sync(struct maildir_delivery *d, char **cause)
{
	int	fd = d->fd, rv;

	if (maildir_fsync(fd) != 0) {
		maildir_file_error(cause, errno, d->md, MAILDIR_TMP, d->name,
		    "fsync");
		return (-1);
	}
	d->fd = -1;
	if (d->staged)
		d->md->nopen--;
	/* On Linux the fd is gone even after EINTR, and the data is
	 * already on disk: only a real error counts. */
	rv = close(fd);
	if (rv != 0 && errno != EINTR) {
		maildir_file_error(cause, errno, d->md, MAILDIR_TMP, d->name,
		    "close");
		return (-1);
	}
	return (0);
}

/* Sets *cause for a failed move of tmp/name to dest/final. */
static void
maildir_move_error(char **cause, int error, struct maildir *md,
    const char *name, enum maildir_sub dest, const char *final,
    const char *op)
{
	char	*path;

	path = maildir_file_path(md, dest, final);
	maildir_error(cause, error, "%s %s/tmp/%s to %s", op, md->path, name,
	    path);
	free(path);
}

/* Whether dest/final is the very file tmp/name is (the same inode): then
 * a link() that reported an error did happen (NFS: the reply was lost and
 * the retransmitted request found the target, EEXIST). */
static int
maildir_same_file(struct maildir *md, const char *name, enum maildir_sub dest,
    const char *final)
{
	struct stat	ts, ds;

	if (fstatat(md->fd[MAILDIR_TMP], name, &ts, AT_SYMLINK_NOFOLLOW) != 0 ||
	    fstatat(md->fd[dest], final, &ds, AT_SYMLINK_NOFOLLOW) != 0)
		return (0);
	return (ts.st_dev == ds.st_dev && ts.st_ino == ds.st_ino);
}

/* Whether a link() error says the file system has no hard links (vfat,
 * exFAT, some FUSE and SMB mounts), rather than that this link failed. */
static int
maildir_no_links(int error)
{
	return (error == EPERM || error == EOPNOTSUPP || error == ENOSYS);
}

/* The last resort, on a file system with neither renameat2(NOREPLACE)
 * nor hard links: check that the final name is free, then rename(). The
 * check and the rename are not atomic, but nothing else creates this
 * name: it is our unique tmp/ name (pid, counter, random part) plus its
 * size and flags, so only a copy of this very message could be there. */
static int
maildir_check_rename(struct maildir *md, const char *name,
    enum maildir_sub dest, const char *final, char **cause)
{
	struct stat	sb;

	if (fstatat(md->fd[dest], final, &sb, AT_SYMLINK_NOFOLLOW) == 0) {
		maildir_move_error(cause, EEXIST, md, name, dest, final,
		    "rename");
		return (-1);
	}
	if (errno != ENOENT) {
		maildir_move_error(cause, errno, md, name, dest, final,
		    "rename (checking the target)");
		return (-1);
	}
	if (renameat(md->fd[MAILDIR_TMP], name, md->fd[dest], final) != 0) {
		maildir_move_error(cause, errno, md, name, dest, final,
		    "rename");
		return (-1);
	}
	return (0);
}

/* link() then unlink() of the tmp/ name; falls back to maildir_check_rename
 * where there are no hard links. A link() error is checked against the
 * target: if it is our file, the link happened. */
static int
maildir_link_move(struct maildir *md, const char *name, enum maildir_sub dest,
    const char *final, char **cause)
{
	int	tfd = md->fd[MAILDIR_TMP], error;

	if (linkat(tfd, name, md->fd[dest], final, 0) != 0) {
		error = errno;
		if (maildir_no_links(error))
			return (maildir_check_rename(md, name, dest, final,
			    cause));
		if (!maildir_same_file(md, name, dest, final)) {
			maildir_move_error(cause, error, md, name, dest, final,
			    "link");
			return (-1);
		}
		log_debug("%s/tmp/%s: link reported %s but the target is in "
		    "place", md->path, name, strerror(error));
	}
	/* The message is in place; a leftover tmp/ copy only costs space
	 * until maildir_tmp_remove (and maildir_recover knows it by its link
	 * count). */
	if (unlinkat(tfd, name, 0) != 0)
		log_warn("%s/tmp/%s: unlink", md->path, name);
	return (0);
}

/* Moves tmp/name to dest/final, never replacing an existing file:
 * renameat2(RENAME_NOREPLACE), else link()+unlink(), else a checked
 * rename() (maildir_check_rename). */
static int
maildir_move(struct maildir *md, const char *name, enum maildir_sub dest,
    const char *final, char **cause)
{
#ifdef RENAME_NOREPLACE
	if (renameat2(md->fd[MAILDIR_TMP], name, md->fd[dest], final,
	    RENAME_NOREPLACE) == 0)
		return (0);
	if (errno != EINVAL && errno != ENOSYS && errno != EOPNOTSUPP) {
		maildir_move_error(cause, errno, md, name, dest, final,
		    "rename");
		return (-1);
	}
	/* Not supported by this file system: fall back to link(). */
#endif
	return (maildir_link_move(md, name, dest, final, cause));
}

/* Moves the message from tmp/ to its final name (maildir_move). */
static int
maildir_publish(struct maildir_delivery *d, char **cause)
{
	if (maildir_move(d->md, d->name, d->dest, d->final, cause) != 0)
		return (-1);
	d->published = 1;
	return (0);
}

/* Makes the message durable and visible in new/ or cur/. */
int
maildir_deliver_commit(struct maildir_delivery *d, const char *flags,
    char **name, char **cause)
{
	struct maildir	*md = d->md;

	if (d->failed) {
		xasprintf(cause, "%s/tmp/%s: commit after a write error",
		    md->path, d->name);
		goto fail;
	}
	if (maildir_delivery_flush(d, cause) != 0 ||
	    maildir_name_final(d, flags, cause) != 0 ||
	    maildir_file_sync(d, cause) != 0 ||
	    maildir_publish(d, cause) != 0)
		goto fail;
	if (maildir_fsync(md->fd[d->dest]) != 0) {
		maildir_error(cause, errno, "%s/%s: fsync", md->path,
		    maildir_sub_names[d->dest]);
		goto fail;
	}
	if (name != NULL)
		*name = xstrdup(d->final);
	maildir_delivery_free(d);
	return (0);

fail:
	maildir_delivery_discard(d);
	return (-1);
}

/* Removes every staged message of the batch from new/, cur/ and tmp/, so a
 * failed batch leaves nothing behind; the directories are fsynced (best
 * effort) so the removals of published messages are durable too. */
static void
maildir_discard_batch(struct maildir *md)
{
	struct maildir_delivery	*d, *d1;
	int			 dirty[MAILDIR_NSUB] = { 0 }, i;

	TAILQ_FOREACH_SAFE(d, &md->deliveries, entry, d1) {
		if (!d->staged)
			continue;
		if (d->published)
			dirty[d->dest] = 1;
		maildir_delivery_discard(d);
	}
	for (i = 0; i < MAILDIR_NSUB; i++) {
		if (dirty[i])
			maildir_fsync(md->fd[i]);
	}
	md->prepared = 0;
}

/* fsyncs and closes every staged file still open. */
static int
maildir_sync_files(struct maildir *md, char **cause)
{
	struct maildir_delivery	*d;

	TAILQ_FOREACH(d, &md->deliveries, entry) {
		if (d->staged && d->fd != -1 &&
		    maildir_file_sync(d, cause) != 0)
			return (-1);
	}
	return (0);
}

/* Finishes the message as part of a batch: it becomes visible and durable
 * at the next maildir_sync. */
int
maildir_deliver_stage(struct maildir_delivery *d, const char *flags,
    char **name, char **cause)
{
	struct maildir	*md = d->md;

	if (d->failed) {
		xasprintf(cause, "%s/tmp/%s: stage after a write error",
		    md->path, d->name);
		maildir_delivery_discard(d);
		maildir_discard_batch(md);
		return (-1);
	}
	if (maildir_delivery_flush(d, cause) != 0 ||
	    maildir_name_final(d, flags, cause) != 0) {
		maildir_delivery_discard(d);
		maildir_discard_batch(md);
		return (-1);
	}
	free(d->buf);
	d->buf = NULL;
	d->staged = 1;
	md->nlive--;
	md->nopen++;
#ifdef SYNC_FILE_RANGE_WRITE
	/* Start writeback now, so the data goes to disk while the next
	 * message is fetched and the fsync in maildir_sync finds it done.
	 * Advisory: a real error shows again in that fsync. */
	(void)sync_file_range(d->fd, 0, 0, SYNC_FILE_RANGE_WRITE);
#endif
	if (md->nopen >= MAILDIR_MAX_OPEN && maildir_sync_files(md, cause)) {
		maildir_discard_batch(md);
		return (-1);
	}
	if (name != NULL)
		*name = xstrdup(d->final);
	return (0);
}

int
maildir_staged_open(struct maildir *md, const char *final)
{
	struct maildir_delivery	*d;

	TAILQ_FOREACH(d, &md->deliveries, entry) {
		if (!d->staged || strcmp(d->final, final) != 0)
			continue;
		/* Stage flushed its buffer: the file holds it all. */
		return (openat(md->fd[MAILDIR_TMP], d->name,
		    O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
	}
	errno = ENOENT;
	return (-1);
}

void
maildir_staged_drop(struct maildir *md)
{
	maildir_discard_batch(md);
}

/* First half of maildir_sync: every staged file durable in tmp/, nothing
 * visible yet. Between the two halves the caller writes its intent journal,
 * naming the final names; maildir_recover finishes the move after a crash.
 * On failure the batch is discarded. */
int
maildir_sync_prepare(struct maildir *md, char **cause)
{
	if (maildir_sync_files(md, cause) != 0) {
		maildir_discard_batch(md);
		return (-1);
	}
	md->prepared = 1;
	return (0);
}

/* Where a journaled file is when it is not in tmp/ (any more): at its
 * final name, found with one stat; or not (yet) known, left for the scan
 * of cur/ (maildir_find_read). -1 with *cause on an error. */
static int
maildir_find_final(struct maildir *md, const char *final,
    enum maildir_sub dest, struct maildir_found *f, char **cause)
{
	struct stat	sb;

	if (fstatat(md->fd[dest], final, &sb, AT_SYMLINK_NOFOLLOW) == 0) {
		f->where = dest == MAILDIR_CUR ? MAILDIR_IN_CUR :
		    MAILDIR_IN_NEW;
		f->name = xstrdup(final);
		return (0);
	}
	if (errno == ENOENT)
		return (0);
	maildir_file_error(cause, errno, md, dest, final, "stat");
	return (-1);
}

/* Finishes one journaled delivery (maildir_recover): a tmp/ file is
 * moved now; a tmp/ file with a second link was published by link()
 * before the crash took the unlink, so only the tmp/ name goes; then the
 * file is looked for at its final name. */
static int
maildir_recover_one(struct maildir *md, const char *final,
    struct maildir_found *f, char **cause)
{
	enum maildir_sub	 dest;
	struct stat		 sb;
	size_t			 blen = maildir_base_len(final);
	char			*base;
	int			 r;

	if (strchr(final, '/') != NULL || blen == 0 || *final == '.') {
		maildir_error(cause, EINVAL, "%s: bad journal file name '%s'",
		    md->path, final);
		return (-1);
	}
	dest = maildir_final_sub(final);
	base = xstrndup(final, blen);
	if (fstatat(md->fd[MAILDIR_TMP], base, &sb, AT_SYMLINK_NOFOLLOW) != 0) {
		r = errno == ENOENT ? 0 : -1;
		if (r == -1)
			maildir_file_error(cause, errno, md, MAILDIR_TMP, base,
			    "stat");
	} else if (sb.st_nlink > 1) {
		r = unlinkat(md->fd[MAILDIR_TMP], base, 0) == 0 ? 0 : -1;
		if (r == -1)
			maildir_file_error(cause, errno, md, MAILDIR_TMP, base,
			    "unlink");
	} else if ((r = maildir_move(md, base, dest, final, cause)) == 0) {
		f->moved = 1;
		if (maildir_fsync(md->fd[dest]) != 0) {
			maildir_error(cause, errno, "%s/%s: fsync", md->path,
			    maildir_sub_names[dest]);
			r = -1;
		}
	}
	free(base);
	if (r != 0)
		return (-1);
	return (maildir_find_final(md, final, dest, f, cause));
}

/* One unresolved entry's unique name, for the scan of cur/. */
struct maildir_key {
	const char	*base;
	size_t		 len;
	size_t		 idx;		/* into the caller's arrays */
};

static int
maildir_key_cmp(const void *a, const void *b)
{
	const struct maildir_key	*ka = a, *kb = b;
	int				 c;

	c = memcmp(ka->base, kb->base, ka->len < kb->len ? ka->len : kb->len);
	if (c != 0)
		return (c);
	return (ka->len < kb->len ? -1 : ka->len > kb->len);
}

/* One scan of cur/ for the entries still unresolved: a mail reader moves
 * new/X to cur/X:2,S, and changes the flags of cur/X:2,S, but keeps the
 * unique name X. */
static int
maildir_find_read(struct maildir *md, const char *const *finals, size_t n,
    struct maildir_found *found, char **cause)
{
	struct maildir_key	*keys, key, *k;
	struct dirent		*de;
	DIR			*dirp;
	size_t			 i, nkeys = 0;
	int			 fd;

	keys = xreallocarray(NULL, n, sizeof *keys);
	for (i = 0; i < n; i++) {
		if (found[i].where == MAILDIR_GONE)
			keys[nkeys++] = (struct maildir_key){ finals[i],
			    maildir_base_len(finals[i]), i };
	}
	qsort(keys, nkeys, sizeof *keys, maildir_key_cmp);
	/* A fresh open, not a dup: a dup would share the read offset. */
	fd = openat(md->fd[MAILDIR_CUR], ".", O_RDONLY|O_DIRECTORY|O_CLOEXEC);
	if (fd == -1 || (dirp = fdopendir(fd)) == NULL) {
		maildir_error(cause, errno, "%s/cur", md->path);
		if (fd != -1)
			close(fd);
		free(keys);
		return (-1);
	}
	for (errno = 0; (de = readdir(dirp)) != NULL; errno = 0) {
		key.base = de->d_name;
		key.len = maildir_base_len(de->d_name);
		if (*de->d_name == '.' || (k = bsearch(&key, keys, nkeys,
		    sizeof *keys, maildir_key_cmp)) == NULL ||
		    found[k->idx].where != MAILDIR_GONE)
			continue;
		found[k->idx].where = MAILDIR_IN_CUR;
		found[k->idx].name = xstrdup(de->d_name);
	}
	if (errno != 0)
		maildir_error(cause, errno, "%s/cur: readdir", md->path);
	i = errno != 0;
	closedir(dirp);
	free(keys);
	return (i ? -1 : 0);
}

/* Finishes journaled deliveries after a crash. The journal entry was
 * written after the file's fsync in tmp/, and only the move into new/ or
 * cur/ (or maildir_discard_batch, which never runs once the batch is
 * journaled: see maildir_sync) takes it out of tmp/ in our hands; but a
 * file absent from tmp/ is taken as delivered only where it is found,
 * never on trust: someone else may have removed it from tmp/. One stat
 * per entry, and one scan of cur/ only when some are still unresolved. */
int
maildir_recover(struct maildir *md, const char *const *finals, size_t n,
    struct maildir_found *found, char **cause)
{
	size_t	i, left = 0;

	memset(found, 0, n * sizeof *found);
	for (i = 0; i < n; i++) {
		if (maildir_recover_one(md, finals[i], &found[i], cause) != 0)
			goto fail;
		left += found[i].where == MAILDIR_GONE;
	}
	if (left > 0 && maildir_find_read(md, finals, n, found, cause) != 0)
		goto fail;
	return (0);
fail:
	maildir_found_clear(found, n);
	return (-1);
}

void
maildir_found_clear(struct maildir_found *found, size_t n)
{
	size_t	i;

	for (i = 0; i < n; i++) {
		free(found[i].name);
		found[i].name = NULL;
	}
}

/* The size of the recovered files found (",S=<size>" of their names:
 * the file's size as written; a reader keeps it when it moves or flags
 * the file), for the counters of what a run delivered. */
uint64_t
maildir_found_bytes(const struct maildir_found *found, size_t n)
{
	const char		*p;
	unsigned long long	 size;
	uint64_t		 sum = 0;
	size_t			 i;

	for (i = 0; i < n; i++) {
		if (found[i].where == MAILDIR_GONE || found[i].name == NULL ||
		    (p = strstr(found[i].name, ",S=")) == NULL)
			continue;
		if (sscanf(p + 3, "%llu", &size) == 1 &&
		    size <= UINT64_MAX - sum)
			sum += size;
	}
	return (sum);
}

char *
maildir_found_path(const struct maildir *md, const struct maildir_found *f)
{
	if (f->where == MAILDIR_GONE || f->name == NULL)
		return (NULL);
	return (maildir_file_path(md, f->where == MAILDIR_IN_CUR ?
	    MAILDIR_CUR : MAILDIR_NEW, f->name));
}

int
maildir_open_found(struct maildir *md, const struct maildir_found *f)
{
	if (f->where == MAILDIR_GONE || f->name == NULL) {
		errno = ENOENT;
		return (-1);
	}
	return (openat(md->fd[f->where == MAILDIR_IN_CUR ? MAILDIR_CUR :
	    MAILDIR_NEW], f->name, O_RDONLY|O_NOFOLLOW|O_CLOEXEC));
}

/* Frees the staged deliveries, leaving their files where they are. */
static void
maildir_forget_batch(struct maildir *md)
{
	struct maildir_delivery	*d, *d1;

	TAILQ_FOREACH_SAFE(d, &md->deliveries, entry, d1) {
		if (d->staged)
			maildir_delivery_free(d);
	}
	md->prepared = 0;
}

/* Makes every staged message durable and visible: fsync of each file, then
 * the renames, then one fsync per directory. */
int
maildir_sync(struct maildir *md, char **cause)
{
	struct maildir_delivery	*d;
	int			 dirty[MAILDIR_NSUB] = { 0 }, i;

	if (maildir_sync_files(md, cause) != 0)
		goto fail;
	TAILQ_FOREACH(d, &md->deliveries, entry) {
		if (!d->staged)
			continue;
		if (maildir_publish(d, cause) != 0)
			goto fail;
		fault_point("maildir-renamed");
		dirty[d->dest] = 1;
	}
	for (i = 0; i < MAILDIR_NSUB; i++) {
		if (dirty[i] && maildir_fsync(md->fd[i]) != 0) {
			maildir_error(cause, errno, "%s/%s: fsync", md->path,
			    maildir_sub_names[i]);
			goto fail;
		}
	}
	maildir_forget_batch(md);
	return (0);

fail:
	/* A journaled batch is left as a crash would leave it, for
	 * maildir_recover to finish: removing its files here would let a
	 * crash before the caller drops the journal pass for delivered a
	 * message that is nowhere. */
	if (md->prepared)
		maildir_forget_batch(md);
	else
		maildir_discard_batch(md);
	return (-1);
}
