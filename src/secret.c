/* secret.c: reading passwords and tokens. Every buffer that held a secret
 * is wiped before it is freed. */
#include "secret.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "log.h"
#include "xmalloc.h"

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
	buf = xmalloc(SECRET_MAX + 1);
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
	OPENSSL_cleanse(buf, SECRET_MAX + 1);
	free(buf);
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

/* Runs command with /bin/sh -c; its first line of stdout is the secret.
 * what is the option name, for messages ("password_command"). */
char *
secret_from_command(const char *what, const char *command,
    unsigned int timeout, char **cause)
{
	int	 p[2], status;
	pid_t	 pid;
	char	*buf, *s = NULL;
	ssize_t	 len;

	if (pipe2(p, O_CLOEXEC) == -1) {
		xasprintf(cause, "%s: pipe: %s", what, strerror(errno));
		return (NULL);
	}
	if ((pid = fork()) == -1) {
		xasprintf(cause, "%s: fork: %s", what, strerror(errno));
		close(p[0]);
		close(p[1]);
		return (NULL);
	}
	if (pid == 0) {
		dup2(p[1], STDOUT_FILENO);
		execl("/bin/sh", "sh", "-c", command, (char *)NULL);
		_exit(127);
	}
	close(p[1]);
	buf = xmalloc(SECRET_MAX + 1);
	len = secret_read_child(p[0], buf, SECRET_MAX, time(NULL) + timeout);
	close(p[0]);
	if (len == -1) {
		kill(pid, SIGKILL);
		xasprintf(cause, "%s timed out after %u seconds: %s", what,
		    timeout, command);
	}
	while (waitpid(pid, &status, 0) == -1 && errno == EINTR)
		;
	if (len == -1)
		goto out;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		if (WIFEXITED(status))
			xasprintf(cause, "%s exited with status %d: %s", what,
			    WEXITSTATUS(status), command);
		else
			xasprintf(cause, "%s was killed by signal %d: %s", what,
			    WTERMSIG(status), command);
		goto out;
	}
	s = secret_first_line(buf, len, what, cause);
out:
	OPENSSL_cleanse(buf, SECRET_MAX + 1);
	free(buf);
	return (s);
}

char *
secret_get(const struct account_conf *ac, char **cause)
{
	if (ac->password_file != NULL)
		return (secret_from_file(ac->password_file, cause));
	if (ac->password_command != NULL)
		return (secret_from_command("password_command",
		    ac->password_command, SECRET_COMMAND_TIMEOUT, cause));
	if (ac->token_command != NULL)
		return (secret_from_command("token_command",
		    ac->token_command, SECRET_COMMAND_TIMEOUT, cause));
	xasprintf(cause, "account %s has no password_file, password_command "
	    "or token_command", ac->name);
	return (NULL);
}
