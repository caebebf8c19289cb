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

/* A deferral (the budget used up, the daemon's "not yet") is neither a
 * success nor a failure: nothing was tried. So it gives way to whatever
 * the other account did, except that it keeps "nothing new" from
 * claiming that everything worked: an account deferred and one with
 * nothing new exit 10, one with new mail exits 0 (new mail is what
 * `--once && notmuch new` waits for), and a failure beside it is a
 * partial failure, never hidden behind "nothing failed". */
static int
outcome_merge_deferred(int other)
{
	if (other == EXIT_NEW_MAIL || other == EXIT_DEFERRED)
		return (other);
	if (other == EXIT_NOTHING_NEW)
		return (EXIT_DEFERRED);
	return (EXIT_PARTIAL);
}

/* Two successes merge to "new mail" if either had some; a success and a
 * failure make a partial failure; two failures keep the first. */
int
outcome_merge(int a, int b)
{
	int	a_ok = a == EXIT_NEW_MAIL || a == EXIT_NOTHING_NEW;
	int	b_ok = b == EXIT_NEW_MAIL || b == EXIT_NOTHING_NEW;

	if (a == EXIT_DEFERRED)
		return (outcome_merge_deferred(b));
	if (b == EXIT_DEFERRED)
		return (outcome_merge_deferred(a));
	if (a_ok && b_ok)
		return (a == EXIT_NEW_MAIL || b == EXIT_NEW_MAIL ?
		    EXIT_NEW_MAIL : EXIT_NOTHING_NEW);
	if (a_ok != b_ok)
		return (EXIT_PARTIAL);
	return (a);
}
