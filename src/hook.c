/* hook.c: new_mail_command and failure_command (see hook.h).
 *
 * Each account has one slot: a hook runs in it, and what comes meanwhile
 * waits in the account (new files, merged; the latest failure). When the
 * run ends, a waiting failure runs first (it is the news a person needs),
 * then the files that waited, all in one run: a burst of arrivals during
 * a run costs one more run, not one per arrival.
 *
 * The child is the supervisor of secret_cmd_spawn; its exit is looked for
 * with waitpid(WNOHANG) from a timer, as secret.c does, and not with
 * SIGCHLD: privsep's supervisor reaps its workers with waitpid(-1), and
 * a handler here would take their exits. Past the timeout the supervisor
 * is asked to kill the hook's whole tree (secret_cmd_abort), and reaped
 * from the same timer: the loop never waits for it. The supervisor ends
 * within a few seconds; one that does not is killed (HOOK_KILL_MS).
 *
 * The hook's stdout and stderr are a pipe the loop reads: each line is
 * logged (escaped, HOOK_LOG_LINES a run at most), and the pipe is closed
 * when the run ends. A process the hook leaves behind (one that
 * daemonised with setsid and is never killed) cannot hold the daemon's
 * own stderr: `out=$(mailfetchd --once 2>&1)` returns.
 *
 * What new_mail_command owes survives a stop: the files of the run in
 * progress, those waiting, and those a fetch still running made durable
 * (hook_owe: each batch's, before the state save that makes the journal
 * forget them) are kept in state_dir/ACCOUNT.hook, written (replaced by
 * rename, after an fsync) whenever they change and removed once no run
 * is owed. A daemon stopped or killed before the run ended
 * leaves the file, and the account's first fetch in the next process
 * loads it and runs the hook for those files: at least once, so a run
 * cut short comes again, whole.
 *
 * The failure hook's states: an account enters one when a fetch ends in
 * a way only a person can mend: the login refused ("auth"), an OAuth2
 * grant to renew ("reauth"), the account stopped until a reload (its
 * outcome's word: "config", "unsupported"). The hook runs when the state
 * differs from the one it last ran for; a success clears it. A network
 * failure between two refusals changes nothing: the retries of one
 * refused password run the hook once.
 */
#include "hook.h"

#include <sys/mman.h>
#include <sys/queue.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "cmdline.h"
#include "fault.h"
#include "fdio.h"
#include "log.h"
#include "outcome.h"
#include "secret.h"
#include "state.h"
#include "xmalloc.h"

/* How often a running hook's exit is looked for. */
#define HOOK_POLL_MS	50
/* After asking the supervisor to kill the hook (it ends in at most
 * SECRET_KILL_SECONDS), how long before it is killed itself. */
#define HOOK_KILL_MS	3000
/* MAILFETCHD_FOLDERS at most (an environment string may not pass 128
 * KiB, MAX_ARG_STRLEN: over it the exec fails). */
#define HOOK_FOLDERS_BYTES	16384
/* A run's output lines logged at most, and the length of one. */
#define HOOK_LOG_LINES	100
#define HOOK_LINE_MAX	1024

/* The first line of a pending file (state_dir/ACCOUNT.hook). */
#define HOOK_PENDING_MAGIC	"mailfetchd-hook 1"

enum hook_kind {
	HOOK_NEW_MAIL,
	HOOK_FAILURE,
};

static const char *const hook_kind_names[] = {
	[HOOK_NEW_MAIL] = "new_mail_command",
	[HOOK_FAILURE] = "failure_command",
};

struct hook_acct;

/* One hook running. */
struct hook_run {
	struct hook_acct	*a;
	enum hook_kind		 kind;
	char			*argv0;
	unsigned int		 timeout;	/* seconds */
	pid_t			 pid;
	struct timespec		 started;
	struct event		*ev;		/* the poll */
	struct hook_files	 files;		/* new_mail_command's */
	int			 killing;	/* past the timeout */
	long			 killed_ms;	/* then, since started */
	int			 outfd;		/* its output; -1: closed */
	struct event		*ev_out;
	char			 line[HOOK_LINE_MAX];
	size_t			 linelen;
	unsigned int		 nlines;	/* logged */
};

/* An account's slot, what waits for it, and how its last hook ended. */
struct hook_acct {
	struct hook		*h;
	char			*name;
	char			*new_mail_command;	/* the latest conf's */
	char			*failure_command;
	unsigned int		 timeout;
	struct hook_run		*run;		/* NULL: none */
	struct hook_files	 waiting;	/* for new_mail_command */
	struct hook_files	 fetched;	/* of fetches still running
						 * (hook_owe): wait for their
						 * end (hook_new_mail) */
	char			*pending;	/* its file; NULL: none kept */
	int			 dirty;		/* the file is out of date */
	char			*fail_class;	/* a failure waits; NULL: none */
	char			*fail_text;
	int			 fail_status;
	char			*notified;	/* the state the failure hook
						 * last ran for; NULL: none */
	enum hook_kind		 last_kind;
	time_t			 last_when;	/* 0: none ended yet */
	int			 last_ok;
	char			*last_text;
	LIST_ENTRY(hook_acct)	 entry;
};

struct hook {
	struct event_base	*base;
	char			*state_dir;	/* NULL: nothing kept */
	LIST_HEAD(, hook_acct)	 accts;
};

static void	hook_next(struct hook_acct *);

/* Whether a string list already holds s. */
static int
hook_has(char *const *list, size_t n, const char *s)
{
	size_t	i;

	for (i = 0; i < n; i++) {
		if (strcmp(list[i], s) == 0)
			return (1);
	}
	return (0);
}

/* Adds folder to the list unless it is there. */
static void
hook_files_folder(struct hook_files *f, const char *folder)
{
	if (folder == NULL || hook_has(f->folders, f->nfolders, folder))
		return;
	f->folders = xreallocarray(f->folders, f->nfolders + 1,
	    sizeof *f->folders);
	f->folders[f->nfolders++] = xstrdup(folder);
}

/* Lists path (taken over), unless the list is full. */
static void
hook_files_path(struct hook_files *f, char *path)
{
	if (f->npaths >= HOOK_FILES_MAX) {
		free(path);
		return;
	}
	f->paths = xreallocarray(f->paths, f->npaths + 1, sizeof *f->paths);
	f->paths[f->npaths++] = path;
}

void
hook_files_count(struct hook_files *f, const char *folder)
{
	f->count++;
	hook_files_folder(f, folder);
}

void
hook_files_add(struct hook_files *f, const char *folder, char *path)
{
	hook_files_count(f, folder);
	hook_files_path(f, path);
}

void
hook_files_found(struct hook_files *f, const char *folder,
    const struct maildir *md, const struct maildir_found *found, size_t n)
{
	char	*path;
	size_t	 i;

	for (i = 0; i < n; i++) {
		if ((path = maildir_found_path(md, &found[i])) != NULL)
			hook_files_add(f, folder, path);
	}
}

void
hook_files_move(struct hook_files *dst, struct hook_files *src)
{
	size_t	i;

	for (i = 0; i < src->nfolders; i++)
		hook_files_folder(dst, src->folders[i]);
	for (i = 0; i < src->npaths; i++) {
		hook_files_path(dst, src->paths[i]);
		src->paths[i] = NULL;
	}
	dst->count += src->count;
	hook_files_clear(src);
}

void
hook_files_unlist(struct hook_files *f)
{
	size_t	i;

	for (i = 0; i < f->npaths; i++)
		free(f->paths[i]);
	free(f->paths);
	f->paths = NULL;
	f->npaths = 0;
}

void
hook_files_clear(struct hook_files *f)
{
	size_t	i;

	hook_files_unlist(f);
	for (i = 0; i < f->nfolders; i++)
		free(f->folders[i]);
	free(f->folders);
	memset(f, 0, sizeof *f);
}

struct hook *
hook_new(struct event_base *base, const char *state_dir)
{
	struct hook	*h;

	h = xcalloc(1, sizeof *h);
	h->base = base;
	h->state_dir = state_dir != NULL ? xstrdup(state_dir) : NULL;
	LIST_INIT(&h->accts);
	return (h);
}

/* Writes s to fp with '%', controls and DEL as %XX: one line each. */
static void
hook_pending_put(FILE *fp, const char *tag, const char *s)
{
	const unsigned char	*p;

	fprintf(fp, "%s ", tag);
	for (p = (const unsigned char *)s; *p != '\0'; p++) {
		if (*p == '%' || *p < 0x20 || *p == 0x7f)
			fprintf(fp, "%%%02X", *p);
		else
			putc(*p, fp);
	}
	putc('\n', fp);
}

/* Undoes hook_pending_put's %XX in place. */
static void
hook_pending_unescape(char *s)
{
	char		*q = s;
	unsigned int	 c;

	for (; *s != '\0'; s++) {
		if (*s == '%' && sscanf(s + 1, "%2X", &c) == 1 &&
		    s[1] != '\0' && s[2] != '\0') {
			*q++ = (char)c;
			s += 2;
		} else
			*q++ = *s;
	}
	*q = '\0';
}

/* The files of f, into the pending file's lines. */
static void
hook_pending_put_files(FILE *fp, const struct hook_files *f)
{
	size_t	i;

	for (i = 0; i < f->nfolders; i++)
		hook_pending_put(fp, "folder", f->folders[i]);
	for (i = 0; i < f->npaths; i++)
		hook_pending_put(fp, "path", f->paths[i]);
}

/* Replaces the pending file by what the run in progress and the waiting
 * files owe: durable (fsync, rename, fsync of state_dir: else a power cut
 * may undo the rename) before the run starts. */
static int
hook_pending_write(const struct hook_acct *a)
{
	const struct hook_files	*run = a->run != NULL ? &a->run->files : NULL;
	char			*tmp;
	FILE			*fp;
	int			 rc = -1;

	xasprintf(&tmp, "%s.tmp", a->pending);
	if ((fp = fopen(tmp, "we")) == NULL)
		goto out;
	fprintf(fp, "%s\ncount %lu\n", HOOK_PENDING_MAGIC, a->waiting.count +
	    a->fetched.count + (run != NULL ? run->count : 0));
	if (run != NULL)
		hook_pending_put_files(fp, run);
	hook_pending_put_files(fp, &a->waiting);
	hook_pending_put_files(fp, &a->fetched);
	if (fflush(fp) != 0 || fsync(fileno(fp)) != 0) {
		fclose(fp);
		goto out;
	}
	if (fclose(fp) == 0 && rename(tmp, a->pending) == 0 &&
	    fdio_fsync_dir(a->h->state_dir) == 0)
		rc = 0;
out:
	if (rc != 0) {
		log_msg(LOG_LVL_WARNING, &(struct log_ctx){ a->name, NULL, 0 },
		    "new_mail_command: cannot keep what it owes in %s (a "
		    "stop before its run would lose it): %s", a->pending,
		    strerror(errno));
		unlink(tmp);
	}
	free(tmp);
	return (rc);
}

/* Brings the pending file up to date: removed when nothing is owed.
 * -1 when what is owed could not be written (logged). */
static int
hook_pending_save(struct hook_acct *a)
{
	unsigned long	n = a->waiting.count + a->fetched.count;

	if (a->pending == NULL || !a->dirty)
		return (0);
	a->dirty = 0;
	if (a->run != NULL)
		n += a->run->files.count;
	if (n > 0)
		return (hook_pending_write(a));
	if (unlink(a->pending) != 0 && errno != ENOENT)
		log_msg(LOG_LVL_WARNING, &(struct log_ctx){ a->name, NULL, 0 },
		    "new_mail_command: cannot remove %s: %s", a->pending,
		    strerror(errno));
	return (0);
}

/* One line of a pending file into f; -1 when it is not one. */
static int
hook_pending_line(struct hook_files *f, char *line, unsigned long *count)
{
	line[strcspn(line, "\n")] = '\0';
	if (strncmp(line, "count ", 6) == 0)
		return (sscanf(line + 6, "%lu", count) == 1 ? 0 : -1);
	if (strncmp(line, "folder ", 7) == 0) {
		hook_pending_unescape(line + 7);
		hook_files_folder(f, line + 7);
		return (0);
	}
	if (strncmp(line, "path ", 5) == 0) {
		hook_pending_unescape(line + 5);
		f->count++;
		hook_files_path(f, xstrdup(line + 5));
		return (0);
	}
	return (-1);
}

/* What a process that stopped before the run ended left (the whole file
 * or nothing: it is only ever replaced by rename): into the waiting
 * files. A file that is not one is logged and removed. */
static void
hook_pending_load(struct hook_acct *a)
{
	struct log_ctx	 ctx = { a->name, NULL, 0 };
	struct hook_files f;
	unsigned long	 count = 0;
	char		*line = NULL;
	size_t		 size = 0;
	FILE		*fp;
	int		 bad;

	if ((fp = fopen(a->pending, "re")) == NULL)
		return;
	memset(&f, 0, sizeof f);
	bad = getline(&line, &size, fp) == -1 ||
	    strcmp(line, HOOK_PENDING_MAGIC "\n") != 0;
	while (!bad && getline(&line, &size, fp) != -1)
		bad = hook_pending_line(&f, line, &count) != 0;
	free(line);
	fclose(fp);
	if (bad || count < f.count) {
		log_msg(LOG_LVL_WARNING, &ctx, "%s: not a file of mailfetchd's "
		    "(what new_mail_command owed); removed", a->pending);
		hook_files_clear(&f);
		a->dirty = 1;
		return;
	}
	f.count = count;
	log_msg(LOG_LVL_NOTICE, &ctx, "new_mail_command: a run for %lu "
	    "message%s had not ended when mailfetchd last stopped; it runs "
	    "again", count, count == 1 ? "" : "s");
	hook_files_move(&a->waiting, &f);
}

/* The account's slot, made on first use: what new_mail_command still
 * owes from an earlier process is loaded then (or dropped, when the
 * account has no new_mail_command any more). */
static struct hook_acct *
hook_acct_get(struct hook *h, const struct account_conf *ac)
{
	struct hook_acct	*a;

	LIST_FOREACH(a, &h->accts, entry) {
		if (strcmp(a->name, ac->name) == 0)
			return (a);
	}
	a = xcalloc(1, sizeof *a);
	a->h = h;
	a->name = xstrdup(ac->name);
	LIST_INSERT_HEAD(&h->accts, a, entry);
	if (h->state_dir == NULL)
		return (a);
	a->pending = state_account_file(h->state_dir, ac->name, ".hook");
	if (ac->new_mail_command != NULL)
		hook_pending_load(a);
	else
		a->dirty = 1;	/* nothing is owed: removed */
	return (a);
}

/* Replaces *dst by a copy of src (NULL: none). */
static void
hook_set(char **dst, const char *src)
{
	free(*dst);
	*dst = src != NULL ? xstrdup(src) : NULL;
}

/* The account's commands as the latest configuration has them: a reload
 * applies to the next run. */
static struct hook_acct *
hook_acct_conf(struct hook *h, const struct account_conf *ac)
{
	struct hook_acct	*a = hook_acct_get(h, ac);

	hook_set(&a->new_mail_command, ac->new_mail_command);
	hook_set(&a->failure_command, ac->failure_command);
	a->timeout = ac->hook_timeout;
	return (a);
}

/* Keeps how the account's hook ended (for --status) and logs it. */
static void
hook_record(struct hook_acct *a, enum hook_kind kind, int ok, char *text)
{
	struct log_ctx	ctx = { a->name, NULL, 0 };

	a->last_kind = kind;
	a->last_when = time(NULL);
	a->last_ok = ok;
	free(a->last_text);
	a->last_text = text;
	log_msg(ok ? LOG_LVL_INFO : LOG_LVL_WARNING, &ctx, "%s%s", ok ? "" :
	    "hook failed (nothing fetched is affected): ", text);
}

/* Logs the line the run's output holds (a cut one too). */
static void
hook_out_line(struct hook_run *r)
{
	char	*s;

	if (r->linelen == 0)
		return;
	if (r->nlines < HOOK_LOG_LINES) {
		s = log_sanitize(r->line, r->linelen, HOOK_LINE_MAX);
		log_msg(LOG_LVL_INFO, &(struct log_ctx){ r->a->name, NULL, 0 },
		    "%s: %s", hook_kind_names[r->kind], s);
		free(s);
	} else if (r->nlines == HOOK_LOG_LINES)
		log_msg(LOG_LVL_INFO, &(struct log_ctx){ r->a->name, NULL, 0 },
		    "%s: more output, not logged", hook_kind_names[r->kind]);
	r->nlines++;
	r->linelen = 0;
}

/* Closes the run's output: what is left in it is logged first. */
static void
hook_out_close(struct hook_run *r)
{
	if (r->ev_out != NULL)
		event_free(r->ev_out);
	r->ev_out = NULL;
	if (r->outfd != -1)
		close(r->outfd);
	r->outfd = -1;
	hook_out_line(r);
}

/* Reads what the run wrote (never blocks), line by line into the log;
 * the end of its output, or an error, closes it. */
static void
hook_out_read(struct hook_run *r)
{
	char	buf[4096];
	ssize_t	n, i;

	while (r->outfd != -1) {
		if ((n = read(r->outfd, buf, sizeof buf)) == -1 &&
		    errno == EINTR)
			continue;
		if (n == -1 && errno == EAGAIN)
			return;
		if (n <= 0) {
			hook_out_close(r);
			return;
		}
		for (i = 0; i < n; i++) {
			if (buf[i] != '\n')
				r->line[r->linelen++] = buf[i];
			if (buf[i] == '\n' || r->linelen == sizeof r->line)
				hook_out_line(r);
		}
	}
}

static void
hook_out_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	hook_out_read(arg);
}

static void
hook_run_free(struct hook_run *r)
{
	hook_out_read(r);
	hook_out_close(r);
	if (r->ev != NULL)
		event_free(r->ev);
	hook_files_clear(&r->files);
	free(r->argv0);
	free(r);
}

/* The run is over (ws: the supervisor's wait status): recorded, logged,
 * and the next waiting run started. */
static void
hook_run_end(struct hook_run *r, int ws, int timed_out)
{
	struct hook_acct	*a = r->a;
	const char		*what = hook_kind_names[r->kind];
	char			*how, *text;

	/* Its last output, before how it ended. */
	hook_out_read(r);
	hook_out_close(r);
	how = secret_cmd_how(ws, timed_out, r->timeout);
	if (how == NULL && r->kind == HOOK_NEW_MAIL)
		xasprintf(&text, "%s '%s' ran for %lu new message%s", what,
		    r->argv0, r->files.count, r->files.count == 1 ? "" : "s");
	else if (how == NULL)
		xasprintf(&text, "%s '%s' ran", what, r->argv0);
	else
		xasprintf(&text, "%s '%s' %s", what, r->argv0, how);
	hook_record(a, r->kind, how == NULL, text);
	free(how);
	a->dirty |= r->files.count > 0;
	a->run = NULL;
	hook_run_free(r);
	hook_next(a);
}

/* The poll: ended yet, or past the timeout? */
static void
hook_poll_cb(evutil_socket_t fd, short what, void *arg)
{
	struct hook_run	*r = arg;
	struct timeval	 tv = { 0, HOOK_POLL_MS * 1000 };
	pid_t		 pid;
	int		 ws = 0;

	(void)fd;
	(void)what;
	while ((pid = waitpid(r->pid, &ws, WNOHANG)) == -1 && errno == EINTR)
		;
	if (pid == r->pid || pid == -1) {
		hook_run_end(r, ws, r->killing);
		return;
	}
	secret_cmd_escalate(r->pid, &r->started, (long)r->timeout * 1000,
	    HOOK_KILL_MS, &r->killing, &r->killed_ms);
	evtimer_add(r->ev, &tv);
}

/* The hook's stdin: the new files' paths, one per line, in a file of
 * memory (read from the start). -1 when it cannot be made (logged: the
 * hook then runs with an empty stdin, /dev/null). */
static int
hook_stdin(const struct hook_acct *a, const struct hook_files *f)
{
	struct log_ctx	 ctx = { a->name, NULL, 0 };
	FILE		*fp;
	size_t		 i;
	int		 fd;

	if ((fd = memfd_create("mailfetchd-hook", MFD_CLOEXEC)) == -1 ||
	    (fp = fdopen(dup(fd), "w")) == NULL) {
		log_msg(LOG_LVL_WARNING, &ctx, "hook: cannot list the new "
		    "files: %s", strerror(errno));
		if (fd != -1)
			close(fd);
		return (open("/dev/null", O_RDONLY | O_CLOEXEC));
	}
	for (i = 0; f != NULL && i < f->npaths; i++)
		fprintf(fp, "%s\n", f->paths[i]);
	if (fclose(fp) != 0 || lseek(fd, 0, SEEK_SET) == -1)
		log_msg(LOG_LVL_WARNING, &ctx, "hook: cannot list the new "
		    "files: %s", strerror(errno));
	return (fd);
}

/* "NAME=value" (taken into env, n of them). */
static void
hook_env_add(char ***env, size_t *n, const char *name, const char *value)
{
	*env = xreallocarray(*env, *n + 2, sizeof **env);
	xasprintf(&(*env)[(*n)++], "%s=%s", name, value);
	(*env)[*n] = NULL;
}

/* The folders, one per line, control characters escaped (a server's
 * name decoded to a line feed would add a line), as many whole names as
 * fit in HOOK_FOLDERS_BYTES. */
static char *
hook_join(char *const *list, size_t n)
{
	char	*s = xstrdup(""), *t, *e;
	size_t	 i, len = 0;

	for (i = 0; i < n; i++) {
		e = log_escape_controls(list[i], 1);
		if (len + strlen(e) + 1 > HOOK_FOLDERS_BYTES) {
			free(e);
			break;
		}
		xasprintf(&t, "%s%s%s", s, i > 0 ? "\n" : "", e);
		len += strlen(e) + (i > 0);
		free(e);
		free(s);
		s = t;
	}
	return (s);
}

/* The environment of a new_mail_command run. */
static char **
hook_env_new_mail(const struct hook_acct *a, const struct hook_files *f)
{
	char	**env = NULL, *s;
	size_t	  n = 0;

	hook_env_add(&env, &n, "MAILFETCHD_HOOK", "new_mail");
	hook_env_add(&env, &n, "MAILFETCHD_ACCOUNT", a->name);
	s = hook_join(f->folders, f->nfolders);
	hook_env_add(&env, &n, "MAILFETCHD_FOLDERS", s);
	free(s);
	xasprintf(&s, "%zu", f->nfolders);
	hook_env_add(&env, &n, "MAILFETCHD_FOLDER_COUNT", s);
	free(s);
	xasprintf(&s, "%lu", f->count);
	hook_env_add(&env, &n, "MAILFETCHD_NEW", s);
	free(s);
	xasprintf(&s, "%zu", f->npaths);
	hook_env_add(&env, &n, "MAILFETCHD_LISTED", s);
	free(s);
	return (env);
}

/* The environment of a failure_command run. */
static char **
hook_env_failure(const struct hook_acct *a)
{
	char	**env = NULL, *s;
	size_t	  n = 0;

	hook_env_add(&env, &n, "MAILFETCHD_HOOK", "failure");
	hook_env_add(&env, &n, "MAILFETCHD_ACCOUNT", a->name);
	hook_env_add(&env, &n, "MAILFETCHD_CLASS", a->fail_class);
	xasprintf(&s, "%d", a->fail_status);
	hook_env_add(&env, &n, "MAILFETCHD_STATUS", s);
	free(s);
	hook_env_add(&env, &n, "MAILFETCHD_MESSAGE", a->fail_text);
	return (env);
}

/* Starts command for the account (env, stdin and files given, consumed;
 * files may be NULL); a run that cannot start is recorded as failed at
 * once. 0 when it runs. */
static int
hook_spawn(struct hook_acct *a, enum hook_kind kind, const char *command,
    char **env, int infd, struct hook_files *files)
{
	struct secret_cmd	 c;
	struct hook_run		*r;
	struct timeval		 tv = { 0, HOOK_POLL_MS * 1000 };
	char			*cause = NULL;
	pid_t			 pid = -1;
	int			 out[2] = { -1, -1 };

	memset(&c, 0, sizeof c);
	c.env = env;
	c.infd = infd;
	c.holdfd = -1;
	c.outfd = STDERR_FILENO;
	c.errfd = -1;
	/* Without a pipe, the daemon's stderr, as before. */
	if (pipe2(out, O_CLOEXEC) == 0)
		c.outfd = c.errfd = out[1];
	else
		log_msg(LOG_LVL_WARNING, &(struct log_ctx){ a->name, NULL, 0 },
		    "%s: pipe: %s; its output goes to stderr",
		    hook_kind_names[kind], strerror(errno));
	if (cmdline_split(command, &c.argv, &cause) == 0)
		pid = secret_cmd_spawn(&c, hook_kind_names[kind], &cause);
	if (infd != -1)
		close(infd);
	if (out[1] != -1)
		close(out[1]);
	cmdline_free(env);
	if (pid == -1) {
		if (out[0] != -1)
			close(out[0]);
		cmdline_free(c.argv);
		hook_record(a, kind, 0, cause);
		if (files != NULL) {
			a->dirty |= files->count > 0;
			hook_files_clear(files);
		}
		return (-1);
	}
	r = xcalloc(1, sizeof *r);
	r->a = a;
	r->kind = kind;
	r->argv0 = xstrdup(c.argv[0]);
	r->timeout = a->timeout;
	r->pid = pid;
	if (files != NULL) {
		r->files = *files;
		memset(files, 0, sizeof *files);
	}
	clock_gettime(CLOCK_MONOTONIC, &r->started);
	r->outfd = out[0];
	if ((r->ev = evtimer_new(a->h->base, hook_poll_cb, r)) == NULL)
		fatalx("hook_spawn: cannot create events");
	evtimer_add(r->ev, &tv);
	if (r->outfd != -1) {
		if (fcntl(r->outfd, F_SETFL, O_NONBLOCK) == -1 ||
		    (r->ev_out = event_new(a->h->base, r->outfd,
		    EV_READ | EV_PERSIST, hook_out_cb, r)) == NULL)
			fatalx("hook_spawn: cannot watch the output");
		event_add(r->ev_out, NULL);
	}
	cmdline_free(c.argv);
	a->run = r;
	log_msg(LOG_LVL_DEBUG, &(struct log_ctx){ a->name, NULL, 0 },
	    "running %s '%s'", hook_kind_names[kind], r->argv0);
	return (0);
}

/* The waiting failure, if any, into a run. */
static int
hook_start_failure(struct hook_acct *a)
{
	int	rc;

	rc = hook_spawn(a, HOOK_FAILURE, a->failure_command,
	    hook_env_failure(a), hook_stdin(a, NULL), NULL);
	free(a->fail_class);
	free(a->fail_text);
	a->fail_class = a->fail_text = NULL;
	return (rc);
}

/* The files that waited, all in one run. */
static int
hook_start_new_mail(struct hook_acct *a)
{
	struct hook_files	f = a->waiting;
	int			rc;

	memset(&a->waiting, 0, sizeof a->waiting);
	rc = hook_spawn(a, HOOK_NEW_MAIL, a->new_mail_command,
	    hook_env_new_mail(a, &f), hook_stdin(a, &f), &f);
	return (rc);
}

/* Starts what waits for the account's slot, if it is free, and keeps
 * what new_mail_command owes up to date: saved before a run starts (the
 * files a run takes from the waiting ones are in the file either way),
 * as a kill -9 just after the start would lose the run's files; and
 * after, for a run that could not start. */
static void
hook_next(struct hook_acct *a)
{
	hook_pending_save(a);
	while (a->run == NULL) {
		if (a->fail_class != NULL && a->failure_command != NULL)
			(void)hook_start_failure(a);
		else if (a->waiting.count > 0 && a->new_mail_command != NULL) {
			if (hook_start_new_mail(a) == 0)
				fault_point("hook-started");
		} else
			break;
	}
	hook_pending_save(a);
}

void
hook_new_mail(struct hook *h, const struct account_conf *ac,
    struct hook_files *files)
{
	struct hook_acct	*a;

	/* Also without new files: the account's first fetch loads what an
	 * earlier process owed (hook_acct_get). */
	a = hook_acct_conf(h, ac);
	if (files != NULL && files->count > 0 &&
	    ac->new_mail_command != NULL) {
		hook_files_move(&a->waiting, files);
		a->dirty = 1;
	}
	if (files != NULL)
		hook_files_clear(files);
	/* What the fetches made durable as they went (hook_owe): its
	 * fetch, or another one of the account's, ended. */
	if (ac->new_mail_command != NULL)
		hook_files_move(&a->waiting, &a->fetched);
	else if (a->fetched.count > 0) {
		hook_files_clear(&a->fetched);
		a->dirty = 1;
	}
	hook_next(a);
}

void
hook_owe(struct hook *h, const struct account_conf *ac,
    struct hook_files *files)
{
	struct hook_acct	*a;

	/* Without a command to run, nothing ever reads the paths
	 * (hook_new_mail drops them): kept, they were a hundred bytes a
	 * message to the session's end, the most of a large fetch's heap
	 * (bench/README.md). The count stays. */
	if (ac->new_mail_command == NULL) {
		hook_files_unlist(files);
		return;
	}
	/* Without a file to keep them in, they stay with the session:
	 * nothing is written. */
	if (h == NULL || h->state_dir == NULL || files->count == 0)
		return;
	a = hook_acct_get(h, ac);
	hook_files_move(&a->fetched, files);
	a->dirty = 1;
	hook_pending_save(a);
}

void
hook_fetch_aborted(struct hook *h, const struct account_conf *ac)
{
	struct hook_acct	*a;

	/* Only a slot that holds such files: a new one would load (or
	 * remove) another instance's pending file (sharding). */
	if (h == NULL)
		return;
	LIST_FOREACH(a, &h->accts, entry) {
		if (strcmp(a->name, ac->name) == 0 && a->fetched.count > 0) {
			hook_new_mail(h, ac, NULL);
			return;
		}
	}
}

/* The slot's pending file moves to state_dir (NULL: none): what the
 * new directory held for the account is added (a start there before),
 * all is written there, and the old file is removed once that is done
 * (kept when it could not be, or with no new directory: the next start
 * in the old directory finds it). */
static void
hook_acct_move(struct hook_acct *a, const char *state_dir)
{
	char	*old = a->pending;

	a->pending = state_dir != NULL ? state_account_file(state_dir,
	    a->name, ".hook") : NULL;
	if (a->pending != NULL)
		hook_pending_load(a);
	a->dirty = 1;
	if (old != NULL && a->pending != NULL && hook_pending_save(a) == 0 &&
	    unlink(old) != 0 && errno != ENOENT)
		log_msg(LOG_LVL_WARNING, &(struct log_ctx){ a->name, NULL, 0 },
		    "new_mail_command: cannot remove %s: %s", old,
		    strerror(errno));
	free(old);
}

void
hook_state_dir(struct hook *h, const char *state_dir)
{
	struct hook_acct	*a;

	if (h->state_dir == NULL ? state_dir == NULL : state_dir != NULL &&
	    strcmp(h->state_dir, state_dir) == 0)
		return;
	free(h->state_dir);
	h->state_dir = state_dir != NULL ? xstrdup(state_dir) : NULL;
	LIST_FOREACH(a, &h->accts, entry)
		hook_acct_move(a, state_dir);
}

/* The state a fetch's end puts the account in, for the failure hook:
 * one that needs a person, "" for a success, NULL for neither (a
 * network failure, a busy server: retries mend them). */
static const char *
hook_fail_class(int status, int reauth, int stopped)
{
	if (reauth)
		return ("reauth");
	if (status == EXIT_AUTH)
		return ("auth");
	if (stopped)
		return (outcome_word(status));
	if (status == EXIT_NEW_MAIL || status == EXIT_NOTHING_NEW)
		return ("");
	return (NULL);
}

void
hook_fetch_ended(struct hook *h, const struct account_conf *ac,
    int status, int reauth, int stopped, const char *text)
{
	struct hook_acct	*a;
	const char		*class;

	if ((class = hook_fail_class(status, reauth, stopped)) == NULL)
		return;
	if (ac->failure_command == NULL && *class != '\0')
		return;
	a = hook_acct_conf(h, ac);
	if (a->notified != NULL ? strcmp(a->notified, class) == 0 :
	    *class == '\0')
		return;
	free(a->notified);
	a->notified = *class != '\0' ? xstrdup(class) : NULL;
	if (*class == '\0')
		return;
	hook_set(&a->fail_class, class);
	hook_set(&a->fail_text, text != NULL ? text : outcome_name(status));
	a->fail_status = status;
	hook_next(a);
}

/* Whether a hook runs or waits. */
static int
hook_busy(const struct hook *h)
{
	const struct hook_acct	*a;

	LIST_FOREACH(a, &h->accts, entry) {
		if (a->run != NULL)
			return (1);
	}
	return (0);
}

/* The end of hook_wait's time. */
static void
hook_wait_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	event_base_loopbreak(arg);
}

int
hook_wait(struct hook *h, long ms)
{
	struct timeval	 tv = { ms / 1000, (ms % 1000) * 1000 };
	struct event	*ev = NULL;

	if (ms >= 0 && (ev = evtimer_new(h->base, hook_wait_cb,
	    h->base)) == NULL)
		fatalx("hook_wait: cannot create events");
	if (ev != NULL)
		evtimer_add(ev, &tv);
	while (hook_busy(h)) {
		event_base_loop(h->base, EVLOOP_ONCE);
		if (event_base_got_break(h->base) ||
		    event_base_got_exit(h->base))
			break;
	}
	if (ev != NULL)
		event_free(ev);
	return (hook_busy(h));
}

unsigned int
hook_running(const struct hook *h)
{
	const struct hook_acct	*a;
	unsigned int		 n = 0;

	LIST_FOREACH(a, &h->accts, entry)
		n += a->run != NULL;
	return (n);
}

int
hook_last(const struct hook *h, const char *account, struct hook_result *r)
{
	const struct hook_acct	*a;

	LIST_FOREACH(a, &h->accts, entry) {
		if (strcmp(a->name, account) != 0 || a->last_when == 0)
			continue;
		r->which = hook_kind_names[a->last_kind];
		r->when = a->last_when;
		r->ok = a->last_ok;
		r->text = a->last_text;
		return (0);
	}
	return (-1);
}

/* Frees the slot, killing its run (logged). */
static void
hook_acct_free(struct hook_acct *a)
{
	struct hook_run	*r = a->run;
	unsigned long	 n;
	int		 ws;

	if (r != NULL) {
		secret_cmd_kill(r->pid, &ws);
		log_msg(LOG_LVL_WARNING, &(struct log_ctx){ a->name, NULL, 0 },
		    "%s '%s' killed: mailfetchd is stopping%s",
		    hook_kind_names[r->kind], r->argv0, r->files.count > 0 &&
		    a->pending != NULL ? " (it runs again at the next start)" :
		    "");
		hook_run_free(r);
	}
	n = a->waiting.count + a->fetched.count;
	if (n > 0 && a->new_mail_command != NULL)
		log_msg(LOG_LVL_NOTICE, &(struct log_ctx){ a->name, NULL, 0 },
		    "new_mail_command: %lu new message%s wait for a run: %s",
		    n, n == 1 ? "" : "s", a->pending != NULL ?
		    "it runs at the next start" : "dropped");
	LIST_REMOVE(a, entry);
	hook_files_clear(&a->waiting);
	hook_files_clear(&a->fetched);
	free(a->pending);
	free(a->name);
	free(a->new_mail_command);
	free(a->failure_command);
	free(a->fail_class);
	free(a->fail_text);
	free(a->notified);
	free(a->last_text);
	free(a);
}

void
hook_free(struct hook *h)
{
	if (h == NULL)
		return;
	while (!LIST_EMPTY(&h->accts))
		hook_acct_free(LIST_FIRST(&h->accts));
	free(h->state_dir);
	free(h);
}
