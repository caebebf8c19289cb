/* secret.c: reading passwords and tokens. Every buffer that held a secret
 * is wiped before it is freed. */
#include "secret.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "fetch.h"
#include "log.h"
#include "oauth2.h"
#include "xmalloc.h"

/* A secret buffer's mapping starts with this header; the caller's bytes
 * follow it. */
struct secret_region {
	size_t	 maplen;
	char	 pad[16 - sizeof(size_t)];
};

/* Returns size bytes (zeroed) for a secret, in pages of their own that a
 * core dump leaves out (MADV_DONTDUMP) and that are locked in memory
 * where the limit allows (not swapped out). Aborts when out of memory,
 * like xmalloc. Free with secret_free(). */
void *
secret_alloc(size_t size)
{
	struct secret_region	*r;
	size_t			 page, maplen;
	void			*m;

	page = (size_t)sysconf(_SC_PAGESIZE);
	if (size > SIZE_MAX - sizeof *r - page)
		fatalx("secret_alloc: %zu bytes is too much", size);
	maplen = (size + sizeof *r + page - 1) / page * page;
	m = mmap(NULL, maplen, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (m == MAP_FAILED)
		fatal("secret_alloc: mmap %zu bytes", maplen);
	/* Both are best effort: the page stays usable without them. */
	(void)madvise(m, maplen, MADV_DONTDUMP);
	(void)mlock(m, maplen);
	r = m;
	r->maplen = maplen;
	return (r + 1);
}

/* Wipes and unmaps a buffer from secret_alloc(); NULL is a no-op. */
void
secret_free(void *p)
{
	struct secret_region	*r;
	size_t			 maplen;

	if (p == NULL)
		return;
	r = (struct secret_region *)p - 1;
	maplen = r->maplen;
	OPENSSL_cleanse(r, maplen);
	(void)munlock(r, maplen);
	munmap(r, maplen);
}

/* Keeps secrets out of core dumps and away from other processes of the
 * same user: no core file (RLIMIT_CORE 0) and not dumpable, which also
 * refuses ptrace and /proc/PID/mem to anyone but root. Failures are
 * logged, not fatal: they only lose a layer of defence. */
void
secret_harden_process(void)
{
	struct rlimit	 rl = { 0, 0 };

	if (setrlimit(RLIMIT_CORE, &rl) == -1)
		log_warn("setrlimit(RLIMIT_CORE)");
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) == -1)
		log_warn("prctl(PR_SET_DUMPABLE)");
}

/* Takes the first line of buf (len bytes read; buf has room for a NUL at
 * buf[len]) and returns a fresh copy, or NULL with *cause. A NUL byte in
 * the first line is refused: it would silently cut the secret short. */
static char *
secret_first_line(char *buf, size_t len, const char *what, char **cause)
{
	size_t	 n;
	char	*s;

	for (n = 0; n < len && buf[n] != '\r' && buf[n] != '\n'; n++) {
		if (buf[n] == '\0') {
			xasprintf(cause, "%s: the first line contains a NUL "
			    "byte", what);
			return (NULL);
		}
	}
	if (n == 0) {
		xasprintf(cause, "%s: the first line is empty", what);
		return (NULL);
	}
	s = xstrndup(buf, n);
	log_add_secret(s);
	return (s);
}

/* Reads the first line of a file that only its owner (us) can read. */
char *
secret_from_file(const char *path, char **cause)
{
	struct stat	 sb;
	char		*buf, *s = NULL;
	ssize_t		 n;
	size_t		 len = 0;
	int		 fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) == -1) {
		xasprintf(cause, "password_file %s: %s", path, strerror(errno));
		return (NULL);
	}
	if (fstat(fd, &sb) == -1 || !S_ISREG(sb.st_mode)) {
		xasprintf(cause, "password_file %s: not a regular file", path);
		close(fd);
		return (NULL);
	}
	if ((sb.st_mode & 077) != 0) {
		xasprintf(cause, "password_file %s: mode %03o lets others read "
		    "or change it; run: chmod 600 %s", path,
		    (unsigned)(sb.st_mode & 0777), path);
		close(fd);
		return (NULL);
	}
	if (sb.st_uid != geteuid()) {
		xasprintf(cause, "password_file %s: owned by uid %u, not by "
		    "the user mailfetchd runs as (uid %u)", path,
		    (unsigned)sb.st_uid, (unsigned)geteuid());
		close(fd);
		return (NULL);
	}
	buf = secret_alloc(SECRET_MAX + 1);
	while (len < SECRET_MAX &&
	    (n = read(fd, buf + len, SECRET_MAX - len)) != 0) {
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			xasprintf(cause, "password_file %s: %s", path,
			    strerror(errno));
			goto out;
		}
		len += n;
	}
	s = secret_first_line(buf, len, path, cause);
out:
	secret_free(buf);
	close(fd);
	return (s);
}

/* Reads the child's stdout until EOF, the size cap or the deadline. Returns
 * the byte count, or -1 on timeout. */
static ssize_t
secret_read_child(int fd, char *buf, size_t max, time_t deadline)
{
	struct pollfd	 pfd = { fd, POLLIN, 0 };
	size_t		 len = 0;
	ssize_t		 n;
	time_t		 left;

	for (;;) {
		left = deadline - time(NULL);
		if (left <= 0)
			return (-1);
		if (poll(&pfd, 1, (int)left * 1000) == 0)
			return (-1);
		n = read(fd, buf + len, max - len);
		if (n == -1 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n <= 0)
			return (len);
		len += n;
		if (len == max)
			return (len);
	}
}

/* Frees an argv from secret_split(); NULL is a no-op. */
void
secret_argv_free(char **argv)
{
	size_t	 i;

	if (argv == NULL)
		return;
	for (i = 0; argv[i] != NULL; i++)
		free(argv[i]);
	free(argv);
}

/* Splits command into words, as documented in mailfetchd.conf(5): blanks
 * separate words, '...' quotes anything literally, "..." quotes with \"
 * and \\ as the only escapes, and outside quotes a backslash takes the
 * next character literally. Nothing else is special: no globbing, no
 * variables, no pipes or redirections (run "sh -c '...'" for those). */
int
secret_split(const char *command, char ***argvp, char **cause)
{
	const char	*p;
	char		**argv = NULL, *word;
	size_t		 argc = 0, len;
	int		 inword = 0;

	word = xmalloc(strlen(command) + 1);
	len = 0;
	for (p = command;; p++) {
		if (*p == '\0' || *p == ' ' || *p == '\t' || *p == '\n') {
			if (inword) {
				argv = xreallocarray(argv, argc + 2,
				    sizeof *argv);
				argv[argc++] = xstrndup(word, len);
				argv[argc] = NULL;
				len = 0;
				inword = 0;
			}
			if (*p == '\0')
				break;
			continue;
		}
		inword = 1;
		if (*p == '\'') {
			while (*++p != '\'' && *p != '\0')
				word[len++] = *p;
		} else if (*p == '"') {
			while (*++p != '"' && *p != '\0') {
				if (*p == '\\' && (p[1] == '"' || p[1] == '\\'))
					p++;
				word[len++] = *p;
			}
		} else if (*p == '\\') {
			if (*++p == '\0') {
				xasprintf(cause, "a backslash ends the "
				    "command: %s", command);
				goto fail;
			}
			word[len++] = *p;
			continue;
		} else {
			word[len++] = *p;
			continue;
		}
		if (*p == '\0') {
			xasprintf(cause, "a quote is not closed: %s", command);
			goto fail;
		}
	}
	free(word);
	if (argc == 0) {
		xasprintf(cause, "the command is empty");
		return (-1);
	}
	*argvp = argv;
	return (0);
fail:
	free(word);
	secret_argv_free(argv);
	return (-1);
}

/* In the child: its own process group (so a timeout kills everything it
 * started), stdout to the pipe, then exec. An exec failure is reported
 * through errfd (close-on-exec, so the parent reads EOF on success). */
static __dead void
secret_child(char **argv, int outfd, int errfd)
{
	int	 e;

	setpgid(0, 0);
	if (dup2(outfd, STDOUT_FILENO) != -1)
		execvp(argv[0], argv);
	e = errno;
	/* Nothing to do if even this fails: the parent sees status 127. */
	if (write(errfd, &e, sizeof e) == -1)
		_exit(127);
	_exit(127);
}

/* Waits for the child, killing its process group first when it timed
 * out or failed to start. */
static int
secret_reap(pid_t pid, int kill_it)
{
	int	 status = 0;

	if (kill_it) {
		kill(-pid, SIGKILL);
		kill(pid, SIGKILL);
	}
	while (waitpid(pid, &status, 0) == -1 && errno == EINTR)
		;
	return (status);
}

/* Runs the command, split by secret_split() and exec'd without a shell;
 * the first line of its stdout is the secret. Its stderr is inherited:
 * it goes to our stderr or the journal as-is, never through the log.
 * what is the option name, for messages ("password_command"). */
char *
secret_from_command(const char *what, const char *command,
    unsigned int timeout, char **cause)
{
	int	 p[2], ep[2], status, e;
	pid_t	 pid;
	char	*buf, *s = NULL, **argv, *why;
	ssize_t	 len, n;

	if (secret_split(command, &argv, &why) != 0) {
		xasprintf(cause, "%s: %s", what, why);
		free(why);
		return (NULL);
	}
	if (pipe2(p, O_CLOEXEC) == -1) {
		xasprintf(cause, "%s: pipe: %s", what, strerror(errno));
		secret_argv_free(argv);
		return (NULL);
	}
	if (pipe2(ep, O_CLOEXEC) == -1) {
		xasprintf(cause, "%s: pipe: %s", what, strerror(errno));
		close(p[0]);
		close(p[1]);
		secret_argv_free(argv);
		return (NULL);
	}
	if ((pid = fork()) == -1) {
		xasprintf(cause, "%s: fork: %s", what, strerror(errno));
		close(p[0]);
		close(p[1]);
		close(ep[0]);
		close(ep[1]);
		secret_argv_free(argv);
		return (NULL);
	}
	if (pid == 0)
		secret_child(argv, p[1], ep[1]);
	/* Also here, so the group exists before any kill(-pid). */
	setpgid(pid, pid);
	close(p[1]);
	close(ep[1]);
	while ((n = read(ep[0], &e, sizeof e)) == -1 && errno == EINTR)
		;
	close(ep[0]);
	if (n == (ssize_t)sizeof e) {
		close(p[0]);
		secret_reap(pid, 0);
		xasprintf(cause, "%s: cannot run '%s': %s", what, argv[0],
		    strerror(e));
		secret_argv_free(argv);
		return (NULL);
	}
	buf = secret_alloc(SECRET_MAX + 1);
	len = secret_read_child(p[0], buf, SECRET_MAX, time(NULL) + timeout);
	close(p[0]);
	status = secret_reap(pid, len == -1);
	if (len == -1) {
		xasprintf(cause, "%s '%s' timed out after %u seconds and was "
		    "killed", what, argv[0], timeout);
		goto out;
	}
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		if (WIFEXITED(status))
			xasprintf(cause, "%s '%s' exited with status %d", what,
			    argv[0], WEXITSTATUS(status));
		else
			xasprintf(cause, "%s '%s' was killed by signal %d",
			    what, argv[0], WTERMSIG(status));
		goto out;
	}
	s = secret_first_line(buf, len, what, cause);
out:
	secret_free(buf);
	secret_argv_free(argv);
	return (s);
}

char *
secret_get(const struct account_conf *ac, char **cause)
{
	int	status;

	return (secret_get_status(ac, &status, cause));
}

/* As secret_get, and on failure *status says what kind it was (an enum
 * fetch_exit): EXIT_AUTH when the OAuth2 provider refused the refresh
 * token (re-authorisation needed: stop, do not retry), EXIT_NETWORK when
 * its token endpoint could not be asked (retry later), EXIT_CONFIG for a
 * password file or command that does not work. */
char *
secret_get_status(const struct account_conf *ac, int *status, char **cause)
{
	char	*s;
	int	 reauth;

	*status = EXIT_CONFIG;
	if (ac->password_file != NULL)
		return (secret_from_file(ac->password_file, cause));
	if (ac->password_command != NULL)
		return (secret_from_command("password_command",
		    ac->password_command, SECRET_COMMAND_TIMEOUT, cause));
	if (ac->token_command != NULL)
		return (secret_from_command("token_command",
		    ac->token_command, SECRET_COMMAND_TIMEOUT, cause));
	if (ac->oauth2 != NULL) {
		/* Synchronous: a refresh blocks the caller (and a daemon's
		 * loop) for up to a few OAUTH2_HTTP_TIMEOUTs, once an hour. */
		if ((s = oauth2_token(ac, &reauth, cause)) == NULL)
			*status = reauth ? EXIT_AUTH : EXIT_NETWORK;
		return (s);
	}
	xasprintf(cause, "account %s has no password_file, password_command "
	    "or token_command", ac->name);
	return (NULL);
}
