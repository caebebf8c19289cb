/* test_secret.c: password_file checks, password/token commands (exit
 * status, timeout, first line only), and that a secret read is redacted
 * from the logs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "log.h"
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

	assert_null(secret_from_command("password_command", "exit 3", 5,
	    &cause));
	assert_string_equal(cause,
	    "password_command exited with status 3: exit 3");
	free(cause);

	assert_null(secret_from_command("password_command", "sleep 10", 1,
	    &cause));
	assert_non_null(strstr(cause, "timed out after 1 seconds"));
	free(cause);

	assert_null(secret_from_command("password_command", "true", 5,
	    &cause));
	assert_non_null(strstr(cause, "empty"));
	free(cause);
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
		cmocka_unit_test_setup_teardown(test_secret_redacted_in_logs,
		    setup, teardown),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
