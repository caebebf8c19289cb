/* outcome.c: the names of the exit statuses and their merge (outcome.h). */
#include <stddef.h>

#include "compat.h"
#include "outcome.h"

/* Indexed by enum fetch_exit. */
static const struct {
	const char	*name;
	const char	*word;
} outcome_names[] = {
	{ "new mail", "new mail" },
	{ "nothing new", "nothing new" },
	{ "configuration error", "configuration" },
	{ "authentication failure", "authentication" },
	{ "network or TLS failure", "network" },
	{ "server protocol error", "protocol" },
	{ "account locked", "locked" },
	{ "partial failure", "partial" },
	{ "local delivery error", "local" },
	{ "not supported yet", "unsupported" },
	{ "not yet allowed", "deferred" },
};

const char *
outcome_name(int code)
{
	if (code < 0 || (size_t)code >= nitems(outcome_names))
		return ("unknown");
	return (outcome_names[code].name);
}

const char *
outcome_word(int code)
{
	if (code < 0 || (size_t)code >= nitems(outcome_names))
		return ("unknown");
	return (outcome_names[code].word);
}

/* Two successes merge to "new mail" if either had some; a success and a
 * failure make a partial failure; two failures keep the first. */
int
outcome_merge(int a, int b)
{
	int	a_ok = a == EXIT_NEW_MAIL || a == EXIT_NOTHING_NEW;
	int	b_ok = b == EXIT_NEW_MAIL || b == EXIT_NOTHING_NEW;

	if (a_ok && b_ok)
		return (a == EXIT_NEW_MAIL || b == EXIT_NEW_MAIL ?
		    EXIT_NEW_MAIL : EXIT_NOTHING_NEW);
	if (a_ok != b_ok)
		return (EXIT_PARTIAL);
	return (a);
}
