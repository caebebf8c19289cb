/* fault.c: crash points (see fault.h). */
#include "fault.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int		 fault_loaded;
static char		 fault_name[64];
static unsigned long	 fault_left;

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
