/* test_secret.c: password_file checks (mode, owner), password/token
 * commands (word splitting, no shell unless asked, exit status, timeout
 * killing the process group, first line of stdout only), the secret
 * allocator (MADV_DONTDUMP), process hardening, and that a secret read is
 * redacted from the logs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "cmdline.h"
#include "lmtp.h"
#include "log.h"
#include "mda.h"
#include "secret.h"
#include "xmalloc.h"

static char	dir[] = "/tmp/mfd-test-secret.XXXXXX";

static int
setup(void **state)
{
	(void)state;
	strcpy(dir, "/tmp/mfd-test-secret.XXXXXX");
	return (mkdtemp(dir) == NULL ? -1 : 0);
}

static int
teardown(void **state)
{
	char	*cmd;

	(void)state;
	xasprintf(&cmd, "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
	free(cmd);
	log_clear_secrets();
	return (0);
}

/* Writes content to dir/name with mode; returns the path (caller frees). */
static char *
put(const char *name, const char *content, mode_t mode)
{
	char	*path;
	FILE	*f;

	xasprintf(&path, "%s/%s", dir, name);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(content, f);
	fclose(f);
	assert_int_equal(chmod(path, mode), 0);
	return (path);
}

static void
test_file_first_line(void **state)
{
	char	*p, *s, *cause = NULL;

	(void)state;
	p = put("pw", "hunter2\r\nsecond line\n", 0600);
	s = secret_from_file(p, &cause);
	assert_non_null(s);
	assert_string_equal(s, "hunter2");
	xfree_secret(s);
	free(p);
}

static void
test_file_mode_refused(void **state)
{
	char	*p, *cause = NULL;

	(void)state;
	p = put("pw", "hunter2\n", 0644);
	assert_null(secret_from_file(p, &cause));
	assert_non_null(strstr(cause, p));
	assert_non_null(strstr(cause, "mode 644"));
	assert_non_null(strstr(cause, "chmod 600"));
	assert_null(strstr(cause, "hunter2"));
	free(cause);
	free(p);
}

static void
test_file_missing_empty_nul(void **state)
{
	char	*p, *cause = NULL;

	(void)state;
	assert_null(secret_from_file("/nonexistent/pw", &cause));
	assert_string_equal(cause,
	    "password_file /nonexistent/pw: No such file or directory");
	free(cause);
	p = put("empty", "\n", 0600);
	assert_null(secret_from_file(p, &cause));
	assert_non_null(strstr(cause, "empty"));
	free(cause);
	free(p);
	p = put("nul", "ab", 0600);
	assert_int_equal(truncate(p, 5), 0);	/* "ab\0\0\0" */
	assert_null(secret_from_file(p, &cause));
	assert_non_null(strstr(cause, "NUL"));
	free(cause);
	free(p);
}

static void
test_command(void **state)
{
	char	*s, *cause = NULL;

	(void)state;
	s = secret_from_command("token_command", "printf 'tok-123\\nrest\\n'",
	    5, &cause);
	assert_non_null(s);
	assert_string_equal(s, "tok-123");
	xfree_secret(s);

	assert_null(secret_from_command("password_command", "sh -c 'exit 3'",
	    5, &cause));
	assert_string_equal(cause,
	    "password_command 'sh' exited with status 3");
	free(cause);

	assert_null(secret_from_command("password_command", "sleep 10", 1,
	    &cause));
	assert_string_equal(cause, "password_command 'sleep' timed out "
	    "after 1 seconds and was killed");
	free(cause);

	assert_null(secret_from_command("password_command", "true", 5,
	    &cause));
	assert_non_null(strstr(cause, "empty"));
	free(cause);

	/* Not a program: named, with the system's reason. */
	assert_null(secret_from_command("token_command",
	    "/nonexistent/get-token --user me", 5, &cause));
	assert_string_equal(cause, "token_command: cannot run "
	    "'/nonexistent/get-token': No such file or directory");
	free(cause);

	assert_null(secret_from_command("token_command", "echo 'open", 5,
	    &cause));
	assert_string_equal(cause, "token_command: a quote is not closed: "
	    "echo 'open");
	free(cause);
}

/* No shell unless asked: $VAR, globs, pipes and ; reach the program as
 * plain words; "sh -c '...'" gets a shell because the user wrote one. */
static void
test_command_no_shell(void **state)
{
	char	*s, *cause = NULL;

	(void)state;
	setenv("MFD_TEST_VAR", "expanded", 1);
	s = secret_from_command("password_command",
	    "echo $MFD_TEST_VAR /* a|b ;true", 5, &cause);
	assert_non_null(s);
	assert_string_equal(s, "$MFD_TEST_VAR /* a|b ;true");
	xfree_secret(s);

	s = secret_from_command("password_command",
	    "sh -c 'echo $MFD_TEST_VAR | tr a-z A-Z'", 5, &cause);
	assert_non_null(s);
	assert_string_equal(s, "EXPANDED");
	xfree_secret(s);

	/* stdout only: what the command says on stderr is not the secret. */
	s = secret_from_command("password_command",
	    "sh -c 'echo noise >&2; echo pw-out'", 5, &cause);
	assert_non_null(s);
	assert_string_equal(s, "pw-out");
	xfree_secret(s);
}

/* The word splitting, table-driven: input, then the words joined by '|'
 * (NULL: refused). */
static void
test_split(void **state)
{
	static const struct {
		const char	*in;
		const char	*out;
	} t[] = {
		{ "pass show mail", "pass|show|mail" },
		{ "  a \t b  ", "a|b" },
		{ "a 'b c' d", "a|b c|d" },
		{ "a \"b c\" d", "a|b c|d" },
		{ "a\\ b", "a b" },
		{ "x'y'\"z\"", "xyz" },
		{ "'a\\b'", "a\\b" },
		{ "\"q\\\"q\\\\\"", "q\"q\\" },
		{ "\"a\\b\"", "a\\b" },
		{ "''", "" },
		{ "'$HOME' *", "$HOME|*" },
		{ "a 'b", NULL },
		{ "a \"b", NULL },
		{ "a\\", NULL },
		{ "", NULL },
		{ "   ", NULL },
	};
	char	**argv, *cause, joined[256];
	size_t	 i, j;

	(void)state;
	for (i = 0; i < sizeof t / sizeof t[0]; i++) {
		cause = NULL;
		if (t[i].out == NULL) {
			assert_int_equal(cmdline_split(t[i].in, &argv, &cause),
			    -1);
			assert_non_null(cause);
			free(cause);
			continue;
		}
		assert_int_equal(cmdline_split(t[i].in, &argv, &cause), 0);
		joined[0] = '\0';
		for (j = 0; argv[j] != NULL; j++) {
			if (j > 0)
				strcat(joined, "|");
			strcat(joined, argv[j]);
		}
		if (strcmp(joined, t[i].out) != 0)
			fail_msg("split(%s): got %s, want %s", t[i].in, joined,
			    t[i].out);
		cmdline_free(argv);
	}
	cmdline_free(NULL);
}

/* Whether pid runs (exists and is not a zombie). */
static int
proc_alive(pid_t pid)
{
	char	 path[64], buf[256], *p;
	FILE	*f;
	size_t	 n;

	snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
	if ((f = fopen(path, "r")) == NULL)
		return (0);
	n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = '\0';
	/* "pid (comm) S ...": the state follows the last ')'. */
	if ((p = strrchr(buf, ')')) == NULL || p[1] == '\0')
		return (1);
	return (p[2] != 'Z' && p[2] != 'X');
}

/* A timeout kills the whole process group: a grandchild the command
 * started does not outlive it. */
static void
test_command_timeout_group(void **state)
{
	char	*cmd, *cause = NULL, *pidfile, buf[32] = "";
	FILE	*f;
	pid_t	 pid;
	int	 i;

	(void)state;
	xasprintf(&pidfile, "%s/grandchild.pid", dir);
	xasprintf(&cmd, "sh -c 'sleep 30 & echo $! > %s; wait'", pidfile);
	assert_null(secret_from_command("password_command", cmd, 1, &cause));
	assert_non_null(strstr(cause, "timed out"));
	free(cause);
	f = fopen(pidfile, "r");
	assert_non_null(f);
	assert_non_null(fgets(buf, sizeof buf, f));
	fclose(f);
	pid = (pid_t)atoi(buf);
	assert_true(pid > 1);
	/* Killed by SIGKILL: gone, or a zombie until its new parent (maybe
	 * a container's init that never reaps) waits for it. */
	for (i = 0; i < 100 && proc_alive(pid); i++)
		usleep(10000);
	assert_false(proc_alive(pid));
	free(cmd);
	free(pidfile);
}

/* The pid in dir/name, once the file exists (5 s at most); 0 if not. */
static pid_t
read_pid(const char *name)
{
	char	*path, buf[32] = "";
	FILE	*f = NULL;
	int	 i;

	xasprintf(&path, "%s/%s", dir, name);
	for (i = 0; i < 500 && (f = fopen(path, "r")) == NULL; i++)
		usleep(10000);
	free(path);
	if (f == NULL)
		return (0);
	if (fgets(buf, sizeof buf, f) == NULL)
		buf[0] = '\0';
	fclose(f);
	return ((pid_t)atoi(buf));
}

/* Whether pid ends within 2 s (killed: gone, or a zombie until its new
 * parent waits for it); kills it regardless, not to leave it behind. */
static int
proc_ends(pid_t pid)
{
	int	i;

	if (pid <= 1)
		return (0);	/* never kill(0) or kill(-1) */
	for (i = 0; i < 200 && proc_alive(pid); i++)
		usleep(10000);
	i = !proc_alive(pid);
	kill(pid, SIGKILL);
	return (i);
}

/* A script in dir that starts a grandchild in its process group (its pid
 * in dir/gc1) and, when then is NULL, one that leaves the group with
 * setsid (dir/gc2; stdout to /dev/null, as a daemonising agent's) and
 * waits; else prints then and exits. Returns its path. */
static char *
grandchildren_script(const char *then)
{
	char	*body, *path;

	if (then != NULL)
		xasprintf(&body, "#!/bin/sh\n"
		    "sleep 30 &\n"
		    "echo $! >%s/gc1.tmp; mv %s/gc1.tmp %s/gc1\n"
		    "echo %s\n", dir, dir, dir, then);
	else
		xasprintf(&body, "#!/bin/sh\n"
		    "sleep 30 &\n"
		    "echo $! >%s/gc1.tmp; mv %s/gc1.tmp %s/gc1\n"
		    "setsid sh -c 'echo $$ >%s/gc2.tmp; mv %s/gc2.tmp %s/gc2; "
		    "exec sleep 30' >/dev/null &\n"
		    "wait\n", dir, dir, dir, dir, dir, dir);
	path = put("gc.sh", body, 0700);
	free(body);
	return (path);
}

/* A timeout kills every descendant of the command, also one that left
 * its process group (setsid, as an agent that daemonises). */
static void
test_command_timeout_escaped(void **state)
{
	char	*cmd, *cause = NULL;
	pid_t	 gc1, gc2;

	(void)state;
	cmd = grandchildren_script(NULL);
	assert_null(secret_from_command("password_command", cmd, 1, &cause));
	assert_non_null(strstr(cause, "timed out"));
	free(cause);
	gc1 = read_pid("gc1");
	gc2 = read_pid("gc2");
	assert_true(gc1 > 1 && gc2 > 1);
	assert_true(proc_ends(gc1));
	assert_true(proc_ends(gc2));
	free(cmd);
}

/* A command that prints the secret and exits, leaving a background child
 * that holds its stdout: the secret comes at once (no wait for EOF until
 * the time limit), and the leftover of its process group is killed. */
static void
test_command_leftover_stdout(void **state)
{
	char	*cmd, *s, *cause = NULL;
	pid_t	 gc1;

	(void)state;
	cmd = grandchildren_script("pw-left");
	s = secret_from_command("password_command", cmd, 20, &cause);
	if (s == NULL)
		fail_msg("no secret: %s", cause);
	assert_string_equal(s, "pw-left");
	xfree_secret(s);
	gc1 = read_pid("gc1");
	assert_true(gc1 > 1);
	assert_true(proc_ends(gc1));
	free(cmd);
}

/* Runs the script body (dir/name) as a password_command and checks
 * that it gives the secret want, within the 10 s limit. Frees body. */
static void
script_gives(const char *name, char *body, const char *want)
{
	char	*cmd, *s, *cause = NULL;

	cmd = put(name, body, 0700);
	free(body);
	s = secret_from_command("password_command", cmd, 10, &cause);
	if (s == NULL)
		fail_msg("no secret: %s", cause);
	assert_string_equal(s, want);
	xfree_secret(s);
	free(cmd);
}

/* A command that prints the secret and exits 0, leaving a job that job
 * control ("set -m") put in a process group of its own, still holding
 * stdout: the secret comes at once, and the job, still in the command's
 * session, is killed. */
static void
test_command_leftover_job_group(void **state)
{
	char	*body;
	pid_t	 gc1;

	(void)state;
	xasprintf(&body, "#!/bin/bash\n"
	    "set -m; sleep 30 & set +m\n"
	    "echo $! >%s/gc1.tmp; mv %s/gc1.tmp %s/gc1\n"
	    "echo pw-job\n"
	    "exit 0\n", dir, dir, dir);
	script_gives("job.sh", body, "pw-job");
	gc1 = read_pid("gc1");
	assert_true(gc1 > 1);
	assert_true(proc_ends(gc1));
}

/* A command that prints the secret and exits 0, leaving a process that
 * started a session of its own (setsid, as a daemonising agent) but kept
 * the command's stdout: the secret comes when the command ends, without
 * waiting for that process's EOF, and the process is left to run. */
static void
test_command_agent_holds_stdout(void **state)
{
	char	*body;
	pid_t	 gc2;

	(void)state;
	xasprintf(&body, "#!/bin/sh\n"
	    "setsid sh -c 'echo $$ >%s/gc2.tmp; mv %s/gc2.tmp %s/gc2; "
	    "exec sleep 30' &\n"
	    "while [ ! -e %s/gc2 ]; do sleep 0.01; done\n"
	    "echo pw-agent\n", dir, dir, dir, dir);
	script_gives("agent.sh", body, "pw-agent");
	gc2 = read_pid("gc2");
	assert_true(gc2 > 1);
	assert_true(proc_alive(gc2));
	assert_false(proc_ends(gc2));	/* alive for 2 s more; then killed */
}

/* kill -9 of the process running the command (the daemon) ends every
 * descendant of the command, not only the command itself. */
static void
test_command_owner_killed(void **state)
{
	char	*cmd, *cause = NULL;
	pid_t	 owner, gc1, gc2;

	(void)state;
	cmd = grandchildren_script(NULL);
	if ((owner = fork()) == 0) {
		(void)secret_from_command("password_command", cmd, 30, &cause);
		_exit(0);
	}
	assert_true(owner > 0);
	gc1 = read_pid("gc1");
	gc2 = read_pid("gc2");
	kill(owner, SIGKILL);
	assert_int_equal(waitpid(owner, NULL, 0), owner);
	assert_true(gc1 > 1 && gc2 > 1);
	assert_true(proc_ends(gc1));
	assert_true(proc_ends(gc2));
	free(cmd);
}

/* password_file owned by another user: refused, naming both uids. */
static void
test_file_other_owner(void **state)
{
	char	*p, *cause = NULL;

	(void)state;
	if (geteuid() != 0)
		skip();		/* only root can give a file away */
	p = put("pw", "hunter2\n", 0600);
	assert_int_equal(chown(p, 65534, 65534), 0);
	assert_null(secret_from_file(p, &cause));
	assert_non_null(strstr(cause, p));
	assert_non_null(strstr(cause, "owned by uid 65534"));
	assert_null(strstr(cause, "hunter2"));
	free(cause);
	free(p);
}

/* Group-readable is enough to refuse (not only world-readable). */
static void
test_file_group_readable(void **state)
{
	char	*p, *cause = NULL;

	(void)state;
	p = put("pw", "hunter2\n", 0640);
	assert_null(secret_from_file(p, &cause));
	assert_non_null(strstr(cause, "mode 640"));
	free(cause);
	free(p);
}

/* The VmFlags line of the /proc/self/smaps entry that holds addr. */
static int
smaps_flags(void *addr, char *out, size_t outlen)
{
	FILE		*f;
	char		 line[512];
	unsigned long	 lo, hi, a = (unsigned long)addr;
	int		 in = 0;

	if ((f = fopen("/proc/self/smaps", "r")) == NULL)
		return (-1);
	while (fgets(line, sizeof line, f) != NULL) {
		if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2 &&
		    strchr(line, '-') < strchr(line, ' '))
			in = a >= lo && a < hi;
		else if (in && strncmp(line, "VmFlags:", 8) == 0) {
			snprintf(out, outlen, "%s", line);
			fclose(f);
			return (0);
		}
	}
	fclose(f);
	return (-1);
}

/* secret_alloc: zeroed, usable, outside core dumps ("dd" in VmFlags). */
static void
test_alloc(void **state)
{
	char	*p, flags[512];
	size_t	 i;

	(void)state;
	p = secret_alloc(10000);
	assert_non_null(p);
	for (i = 0; i < 10000; i++)
		assert_int_equal(p[i], 0);
	memset(p, 'x', 10000);
	assert_int_equal(smaps_flags(p, flags, sizeof flags), 0);
	assert_non_null(strstr(flags, " dd"));
	secret_free(p);
	secret_free(NULL);
}

/* secret_harden_process: not dumpable, no core file. */
static void
test_harden(void **state)
{
	struct rlimit	 rl;

	(void)state;
	secret_harden_process();
	assert_int_equal(prctl(PR_GET_DUMPABLE, 0, 0, 0, 0), 0);
	assert_int_equal(getrlimit(RLIMIT_CORE, &rl), 0);
	assert_int_equal(rl.rlim_cur, 0);
}

static void
test_secret_redacted_in_logs(void **state)
{
	char	 path[64], buf[512] = "";
	char	*p, *s, *cause = NULL;
	int	 fd, saved;
	FILE	*f;

	(void)state;
	p = put("pw", "Zq9-very-secret\n", 0600);
	s = secret_from_file(p, &cause);
	assert_non_null(s);
	snprintf(path, sizeof path, "%s/log", dir);
	fd = open(path, O_WRONLY | O_CREAT, 0600);
	assert_true(fd >= 0);
	fflush(stderr);
	saved = dup(STDERR_FILENO);
	dup2(fd, STDERR_FILENO);
	log_init(LOG_LVL_DEBUG);
	log_force_stderr(1);
	log_warnx("server echoed %s back", s);
	fflush(stderr);
	dup2(saved, STDERR_FILENO);
	close(saved);
	close(fd);
	f = fopen(path, "r");
	assert_non_null(f);
	assert_true(fread(buf, 1, sizeof buf - 1, f) > 0);
	fclose(f);
	assert_null(strstr(buf, "Zq9-very-secret"));
	assert_non_null(strstr(buf, "server echoed ******** back"));
	xfree_secret(s);
	free(p);
}

/* The placeholders of mda_command (mda.h), replaced after the split:
 * a value with blanks stays one word; "%%" is a '%'; any other '%' is
 * refused. And the stable X-Mailfetchd-Id. */
static void
test_expand(void **state)
{
	const char	*values[] = { "acct", "Lists/a b", "me", "" };
	char		**argv, *cause = NULL, *a, *b;

	(void)state;
	assert_int_equal(cmdline_split("deliver -a %a -f %f %u%%%s x%a%a",
	    &argv, &cause), 0);
	assert_int_equal(cmdline_expand(argv, MDA_KEYS, values, &cause), 0);
	assert_string_equal(argv[2], "acct");
	assert_string_equal(argv[4], "Lists/a b");
	assert_string_equal(argv[5], "me%");
	assert_string_equal(argv[6], "xacctacct");
	assert_null(argv[7]);
	cmdline_free(argv);
	assert_int_equal(cmdline_split("a %x", &argv, &cause), 0);
	assert_int_equal(cmdline_expand(argv, MDA_KEYS, values, &cause), -1);
	assert_non_null(strstr(cause, "'%x'"));
	free(cause);
	cmdline_free(argv);
	assert_int_equal(cmdline_split("a 5%", &argv, &cause), 0);
	assert_int_equal(cmdline_expand(argv, MDA_KEYS, values, &cause), -1);
	free(cause);
	cmdline_free(argv);
	a = mda_id("acct", "INBOX", "uidl1");
	b = mda_id("acct", "INBOX", "uidl1");
	assert_string_equal(a, b);
	assert_int_equal(strlen(a), strlen("<@mailfetchd>") + 32);
	free(b);
	b = mda_id("acc", "tINBOX", "uidl1");
	assert_string_not_equal(a, b);
	free(a);
	free(b);
}

/* The sender for %s and MAIL FROM (mda.h): the first Return-Path of
 * the header section, plain addresses only. */
static void
test_return_path(void **state)
{
	static const struct {
		const char	*msg;
		const char	*want;
	} t[] = {
		{ "Return-Path: <a.b+c@example.org>\nFrom: x\n\nbody\n",
		    "a.b+c@example.org" },
		{ "From: x\r\nreturn-path:\t<b@e.org>\r\n\r\n", "b@e.org" },
		{ "Return-Path: <>\n\n", "" },
		{ "From: x\n\nReturn-Path: <body@e.org>\n", "" },
		{ "Return-Path: <a b@e.org>\n\n", "" },
		{ "Return-Path: <a@e.org;rm>\n\n", "" },
		{ "Return-Path: <a@e.org\n\n", "" },
		{ "Return-Path:\n <folded@e.org>\n\n", "" },
		{ "Return-Path: <first@e.org>\nReturn-Path: <second@e.org>\n",
		    "first@e.org" },
		{ "Return-Path: <cut@e.org>", "" },
	};
	char	out[MDA_SENDER_MAX + 1], small[4];
	size_t	i;

	(void)state;
	for (i = 0; i < sizeof t / sizeof t[0]; i++) {
		mda_return_path(t[i].msg, strlen(t[i].msg), out, sizeof out);
		if (strcmp(out, t[i].want) != 0)
			fail_msg("case %zu: got '%s', want '%s'", i, out,
			    t[i].want);
	}
	mda_return_path(t[0].msg, strlen(t[0].msg), small, sizeof small);
	assert_string_equal(small, "");
}

/* LMTP targets (lmtp.h): a Unix socket by absolute path, or a numeric
 * address and port; nothing that needs DNS. */
static void
test_lmtp_target(void **state)
{
	static const char *const good[] = { "unix:/run/dovecot/lmtp",
	    "127.0.0.1:24", "[::1]:2424", "10.0.0.1:65535" };
	static const char *const bad[] = { "unix:run/lmtp", "localhost:24",
	    "127.0.0.1", "127.0.0.1:0", "127.0.0.1:65536", "::1:24",
	    "[::1]", "127.0.0.1:24x", ":24", "" };
	char	*cause;
	size_t	 i;

	(void)state;
	for (i = 0; i < sizeof good / sizeof good[0]; i++) {
		cause = NULL;
		if (lmtp_target_check(good[i], &cause) != 0)
			fail_msg("%s refused: %s", good[i], cause);
	}
	for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		cause = NULL;
		if (lmtp_target_check(bad[i], &cause) == 0)
			fail_msg("%s accepted", bad[i]);
		free(cause);
	}
}

/* mda_content_digest of text (len bytes) as a file: 32 hex digits. */
static void
content_digest(const char *text, size_t len, char hex[MDA_CONTENT_HEX + 1])
{
	FILE	*f = tmpfile();

	assert_non_null(f);
	assert_int_equal(fwrite(text, 1, len, f), len);
	assert_int_equal(fflush(f), 0);
	assert_int_equal(mda_content_digest(fileno(f), hex,
	    MDA_CONTENT_HEX + 1, NULL), 0);
	assert_int_equal(strlen(hex), MDA_CONTENT_HEX);
	fclose(f);
}

/* The POP3 key's content digest (mda.h): the header fields a mailbox
 * server adds as it serves a message (review r23 01: "Status: RO") do
 * not count, in any case, folded, with CRLF, or a field name cut by a
 * read; anything else does. */
static void
test_content_digest(void **state)
{
	static const char *const same[] = {
		"From: a\nSubject: x\n\nbody\n",
		"From: a\nSubject: x\nStatus: RO\n\nbody\n",
		"Status: O\nFrom: a\nX-UID: 7\nSubject: x\nx-status : A\n"
		    "X-Keywords: a\n\tb\n\nbody\n",
		"X-IMAPbase: 1 2\nFrom: a\nContent-Length: 5\nSubject: x\n"
		    "X-UIDL: abc\n\nbody\n",
	};
	static const char *const other[] = {
		"From: a\nSubject: x\n\nbody\nStatus: RO\n",
		"From: a\nSubject: x\n\nbody2\n",
		"From: a\nSubject: x\nStatusx: RO\n\nbody\n",
		"From: a\nSubject: x\nX-Status-Not: 1\n\nbody\n",
		"From: a\nSubject: x\n Status: RO\n\nbody\n",
	};
	char	 base[MDA_CONTENT_HEX + 1], hex[MDA_CONTENT_HEX + 1], *big;
	size_t	 i, pad;

	(void)state;
	content_digest(same[0], strlen(same[0]), base);
	for (i = 1; i < sizeof same / sizeof same[0]; i++) {
		content_digest(same[i], strlen(same[i]), hex);
		if (strcmp(hex, base) != 0)
			fail_msg("same[%zu] has another digest", i);
	}
	for (i = 0; i < sizeof other / sizeof other[0]; i++) {
		content_digest(other[i], strlen(other[i]), hex);
		if (strcmp(hex, base) == 0)
			fail_msg("other[%zu] has the same digest", i);
	}
	content_digest("A: 1\r\n\r\nb\r\n", 11, base);
	content_digest("A: 1\r\nStatus: RO\r\n\r\nb\r\n", 23, hex);
	assert_string_equal(hex, base);
	/* A field name cut by the first 8192-byte read: the line after
	 * "X-Pad: " and pad bytes starts 4, then 1 byte before the cut. */
	big = xmalloc(20000);
	for (i = 1; i <= 4; i += 3) {
		pad = 8192 - i - 7 - 1;
		memset(big, 'a', 7 + pad);
		memcpy(big, "X-Pad: ", 7);
		memcpy(big + 7 + pad, "\n\nbody\n", 8);
		content_digest(big, 7 + pad + 8, base);
		memcpy(big + 7 + pad, "\nStatus: RO\n\nbody\n", 19);
		content_digest(big, 7 + pad + 19, hex);
		assert_string_equal(hex, base);
	}
	free(big);
}

/* mda_content_update fed in pieces of any size (as a POP3 RETR decodes
 * them, pop3.c) gives mda_content_digest's digest of the whole, with the
 * server's fields left out even when their name is cut between pieces. */
static void
test_content_pieces(void **state)
{
	static const char	 msg[] = "From: a\nX-Status: A\nSubject: x\n"
	    "Status: RO\n\nStatus: in the body\n";
	struct mda_content	*c = mda_content_new();
	unsigned char		 md[MDA_CONTENT_HEX / 2];
	char			 base[MDA_CONTENT_HEX + 1], hex[3];
	size_t			 len = sizeof msg - 1, step, off, n, i;

	(void)state;
	content_digest(msg, len, base);
	for (step = 1; step <= len; step++) {
		for (off = 0; off < len; off += n) {
			n = len - off < step ? len - off : step;
			mda_content_update(c, msg + off, n);
		}
		mda_content_final(c, md, sizeof md, NULL);
		for (i = 0; i < sizeof md; i++) {
			snprintf(hex, sizeof hex, "%02x", md[i]);
			if (strncmp(hex, base + 2 * i, 2) != 0)
				fail_msg("pieces of %zu: another digest", step);
		}
	}
	mda_content_free(c);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_file_first_line, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_file_mode_refused, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_file_missing_empty_nul,
		    setup, teardown),
		cmocka_unit_test(test_command),
		cmocka_unit_test(test_command_no_shell),
		cmocka_unit_test(test_split),
		cmocka_unit_test(test_expand),
		cmocka_unit_test(test_lmtp_target),
		cmocka_unit_test(test_return_path),
		cmocka_unit_test(test_content_digest),
		cmocka_unit_test(test_content_pieces),
		cmocka_unit_test_setup_teardown(test_command_timeout_escaped,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_command_leftover_stdout,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_command_owner_killed,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_command_leftover_job_group,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_command_agent_holds_stdout,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_command_timeout_group,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_file_other_owner, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_file_group_readable,
		    setup, teardown),
		cmocka_unit_test(test_alloc),
		cmocka_unit_test_setup_teardown(test_secret_redacted_in_logs,
		    setup, teardown),
		/* Last: it makes the test process undumpable for good. */
		cmocka_unit_test(test_harden),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
