/* fault.c: test hooks (see fault.h). */
#include "fault.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int		 fault_loaded;
static char		 fault_name[64];
static unsigned long	 fault_left;

static int		 suspend_loaded;
static char		*suspend_file;
static unsigned int	 suspend_check;
static uint64_t		 suspend_ms;

/* Reads MAILFETCHD_FAULT once. */
static void
fault_load(void)
{
	const char	*env = getenv("MAILFETCHD_FAULT");
	const char	*colon;
	size_t		 len;

	fault_loaded = 1;
	if (env == NULL || *env == '\0')
		return;
	colon = strchr(env, ':');
	len = colon != NULL ? (size_t)(colon - env) : strlen(env);
	if (len >= sizeof fault_name)
		return;
	memcpy(fault_name, env, len);
	fault_name[len] = '\0';
	fault_left = colon != NULL ? strtoul(colon + 1, NULL, 10) : 1;
	if (fault_left == 0)
		fault_left = 1;
}

void
fault_point(const char *name)
{
	if (!fault_loaded)
		fault_load();
	if (fault_name[0] == '\0' || strcmp(name, fault_name) != 0)
		return;
	if (--fault_left == 0)
		kill(getpid(), SIGKILL);
}

/* Reads MAILFETCHD_SUSPEND once: FILE[:SECONDS]. */
static void
suspend_load(void)
{
	const char	*env = getenv("MAILFETCHD_SUSPEND");
	const char	*colon;
	size_t		 len;

	suspend_loaded = 1;
	if (env == NULL || *env == '\0')
		return;
	colon = strrchr(env, ':');
	len = colon != NULL ? (size_t)(colon - env) : strlen(env);
	if ((suspend_file = strndup(env, len)) == NULL)
		return;
	if (colon != NULL)
		suspend_check = (unsigned int)strtoul(colon + 1, NULL, 10);
}

uint64_t
fault_suspend_ms(void)
{
	unsigned long long	 ms;
	FILE			*f;

	if (!suspend_loaded)
		suspend_load();
	if (suspend_file == NULL)
		return (0);
	/* The test replaces the file by rename: a read sees all of it. */
	if ((f = fopen(suspend_file, "re")) == NULL)
		return (suspend_ms);
	if (fscanf(f, "%llu", &ms) == 1 && ms > suspend_ms)
		suspend_ms = ms;
	fclose(f);
	return (suspend_ms);
}

unsigned int
fault_clock_check(unsigned int def)
{
	if (!suspend_loaded)
		suspend_load();
	if (suspend_file == NULL || suspend_check == 0)
		return (def);
	return (suspend_check);
}
