/* fetch.c: one account's fetch (take its lock, load its state, prepare its
 * Maildir folders, run the protocol engine for it), shared by the daemon,
 * and --once built on it.
 *
 * --once runs all accounts concurrently in one event loop, at most
 * max_connections at a time, each with its protocol engine (imap.c,
 * pop3.c). */
#include "fetch.h"

#include <sys/ioctl.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/dns.h>
#include <event2/event.h>

#include "hook.h"
#include "imap.h"
#include "log.h"
#include "maildir.h"
#include "pop3.h"
#include "schedule.h"
#include "state.h"
#include "xmalloc.h"

/* A stale tmp/ file is one older than 36 hours (the Maildir spec). */
#define FETCH_TMP_MAX_AGE	(36 * 60 * 60)

/* See fetch.h. */
int
fetch_size_lie(uint64_t got, uint64_t listed, uint64_t limit)
{
	if (got <= FETCH_LIE_FACTOR * listed + FETCH_LIE_SLACK)
		return (0);
	return (listed != 0 || (limit != 0 && got > limit));
}

/* The intent journals of every configured account, read when a folder
 * has stale tmp/ files: accounts may share a Maildir, and a file of
 * another account's interrupted run, which that account's recovery will
 * move into place, looks like any other orphan of a dead process. */
struct fetch_keep {
	struct state	**peek;		/* the other accounts' journals */
	size_t		  npeek;
	const char	**names;	/* every journaled final name: unique
					 * names, so one list serves every
					 * Maildir */
	size_t		  n;
};

/* Adds a journal's final names to keep. */
static void
fetch_keep_add(struct fetch_keep *keep, struct state *st)
{
	const struct state_inflight	*e;
	size_t				 i, n = state_inflight_count(st);

	keep->names = xreallocarray(keep->names, keep->n + n + 1,
	    sizeof *keep->names);
	for (i = 0; (e = state_inflight_at(st, i)) != NULL; i++)
		keep->names[keep->n++] = e->file;
}

static void
fetch_keep_free(struct fetch_keep *keep)
{
	size_t	i;

	for (i = 0; i < keep->npeek; i++)
		state_close(keep->peek[i]);
	free(keep->peek);
	free(keep->names);
	memset(keep, 0, sizeof *keep);
}

/* Reads the journals: ours from memory (we hold the lock), the other
 * accounts' from their state files, unlocked (state_open_journal). -1
 * with *cause when one cannot be read: then nothing may be removed. */
static int
fetch_keep_load(const struct config *conf, const struct account_conf *ac,
    struct state *st, struct fetch_keep *keep, char **cause)
{
	struct state	*o;
	size_t		 i;

	memset(keep, 0, sizeof *keep);
	fetch_keep_add(keep, st);
	for (i = 0; i < conf->naccounts; i++) {
		if (strcmp(conf->accounts[i].name, ac->name) == 0)
			continue;
		if ((o = state_open_journal(conf->state_dir,
		    conf->accounts[i].name, cause)) == NULL) {
			fetch_keep_free(keep);
			return (-1);
		}
		keep->peek = xreallocarray(keep->peek, keep->npeek + 1,
		    sizeof *keep->peek);
		keep->peek[keep->npeek++] = o;
		fetch_keep_add(keep, o);
	}
	return (0);
}

/* The owner tags (maildir.h) of exactly the accounts whose journals
 * fetch_keep_load reads: every account of this configuration, in this
 * state_dir. *tags holds the strings; free both. */
static const char **
fetch_owners(const struct config *conf, struct state *st, char **tags)
{
	const char	**owners;
	size_t		  i;

	*tags = xreallocarray(NULL, conf->naccounts + 1,
	    MAILDIR_OWNER_LEN + 1);
	owners = xreallocarray(NULL, conf->naccounts + 1, sizeof *owners);
	for (i = 0; i < conf->naccounts; i++) {
		owners[i] = *tags + i * (MAILDIR_OWNER_LEN + 1);
		maildir_owner_tag(state_dir(st), conf->accounts[i].name,
		    *tags + i * (MAILDIR_OWNER_LEN + 1));
	}
	return (owners);
}

/* Removes the folder's stale tmp/ files but those a journal names; the
 * journals are read after the files are found stale (maildir.h), so an
 * orphan's process had journaled all it ever will. Only the orphans of
 * this configuration's accounts (their owner tags) go at once: another
 * configuration sharing the Maildir has journals we do not read, so its
 * files are never removed here (maildir_foreign); untagged ones keep the
 * 36-hour rule. Returns how many were
 * removed, -1 with *cause on a Maildir error. A journal that cannot be
 * read only keeps every file, with a warning. */
static int
fetch_clean_tmp(const struct config *conf, const struct account_conf *ac,
    struct state *st, struct maildir *md, const struct log_ctx *ctx,
    char **cause)
{
	struct fetch_keep	 keep;
	char			**stale, *why, *tags;
	const char		**owners;
	size_t			 nstale;
	int			 removed;

	owners = fetch_owners(conf, st, &tags);
	removed = maildir_tmp_stale(md, FETCH_TMP_MAX_AGE, owners,
	    conf->naccounts, &stale, &nstale, cause);
	free(owners);
	free(tags);
	if (removed != 0)
		return (-1);
	if (nstale == 0)
		return (0);
	if (fetch_keep_load(conf, ac, st, &keep, &why) != 0) {
		log_msg(LOG_LVL_WARNING, ctx, "not removing %zu stale "
		    "temporary file(s) from %s/tmp: an account's intent "
		    "journal may name them, and %s", nstale, maildir_path(md),
		    why);
		free(why);
		maildir_names_free(stale, nstale);
		return (0);
	}
	removed = maildir_tmp_remove(md, stale, nstale, keep.names, keep.n,
	    cause);
	fetch_keep_free(&keep);
	maildir_names_free(stale, nstale);
	return (removed);
}

/* Opens one local folder (creating it) and removes its stale temporary
 * files, but none an account's journal names: the session's recovery
 * moves those into place when it reaches the folder. */
static int
fetch_prepare_maildir(const struct config *conf,
    const struct account_conf *ac, struct state *st, const char *local,
    const char *remote)
{
	struct log_ctx	 ctx = { ac->name, remote, 0 };
	struct maildir	*md;
	char		*cause;
	int		 removed;

	if ((md = maildir_open(ac->maildir, local, &cause)) == NULL) {
		log_msg(LOG_LVL_ERROR, &ctx, "%s", cause);
		free(cause);
		return (-1);
	}
	removed = fetch_clean_tmp(conf, ac, st, md, &ctx, &cause);
	if (removed < 0) {
		log_msg(LOG_LVL_ERROR, &ctx, "%s", cause);
		free(cause);
		maildir_close(md);
		return (-1);
	}
	if (removed > 0)
		log_msg(LOG_LVL_NOTICE, &ctx, "removed %d stale temporary "
		    "file(s) from %s/tmp", removed, maildir_path(md));
	maildir_close(md);
	return (0);
}

/* Whether a configured folder's local directory is there: 1, 0, or -1
 * (logged). */
static int
fetch_folder_exists(const struct account_conf *ac,
    const struct folder_conf *fc)
{
	struct log_ctx	 ctx = { ac->name, fc->remote, 0 };
	char		*cause;
	int		 r;

	r = maildir_folder_exists(ac->maildir, config_folder_local(fc),
	    &cause);
	if (r < 0) {
		log_msg(LOG_LVL_ERROR, &ctx, "%s", cause);
		free(cause);
	}
	return (r);
}

/* Prepares the Maildir root, so that delivery problems surface before any
 * network work is done, and the configured (non-pattern) folders that
 * exist locally already (their stale tmp/ files). A folder is made only
 * when the session delivers to it: here the server's separator is not
 * known, and a folder made for a name the server does not have would
 * stay empty for ever (folder.h). */
int
fetch_prepare_maildirs(const struct config *conf,
    const struct account_conf *ac, struct state *st)
{
	const struct folder_conf	*fc;
	size_t				 i;
	int				 r;

	if (fetch_prepare_maildir(conf, ac, st, NULL, NULL) != 0)
		return (-1);
	for (i = 0; i < ac->nfolders; i++) {
		fc = &ac->folders[i];
		/* A pattern's or a role's folders are known only to the
		 * server. */
		if (fc->is_pattern || config_folder_local(fc) == NULL)
			continue;
		if ((r = fetch_folder_exists(ac, fc)) <= 0) {
			if (r < 0)
				return (-1);
			continue;
		}
		if (fetch_prepare_maildir(conf, ac, st,
		    config_folder_local(fc), fc->remote) != 0)
			return (-1);
	}
	return (0);
}

/* Locks the account and loads its state, logging why not. */
struct state *
fetch_lock(const char *state_dir, const struct account_conf *ac, int *status)
{
	struct log_ctx	 ctx = { ac->name, NULL, 0 };
	struct state	*st;
	char		*cause;

	if ((st = state_open(state_dir, ac->name, &cause)) != NULL)
		return (st);
	*status = errno == EWOULDBLOCK ? EXIT_LOCKED : EXIT_LOCAL;
	log_msg(LOG_LVL_ERROR, &ctx, "%s", cause);
	free(cause);
	return (NULL);
}

/* One running session of either protocol. */
struct fetch_session {
	struct imap_session	*imap;
	struct pop3_session	*pop3;
	fetch_done_cb		 done;
	void			*arg;
};

/* Messages the delivery agent refused (refused) or asked to have again
 * later (tempfail). A refusal makes the run's exit status 8 (as
 * mailfetchd.conf(5) says). res->agent_refused counts both for the
 * daemon's log and --status. When other messages were delivered and
 * nothing else failed (other: a folder did), res->refused tells the
 * daemon that the account itself works: one message the agent refuses
 * must not hold back the others' polls. When the agent took none of the
 * messages handed over, the agent (or what it delivers to) is what fails:
 * exit 8 with res->refused 0, so that the daemon backs off rather than
 * download the whole maildrop again every poll_interval. */
static void
fetch_refused(struct fetch_result *res, unsigned long refused,
    unsigned long tempfail, unsigned long delivered, int other)
{
	res->agent_refused = refused + tempfail;
	if (res->agent_refused == 0 || (res->status != EXIT_NEW_MAIL &&
	    res->status != EXIT_NOTHING_NEW))
		return;
	if (delivered == 0) {
		res->status = EXIT_LOCAL;
		res->none_taken = !other;
		return;
	}
	if (refused > 0)
		res->status = EXIT_LOCAL;
	if (!other)
		res->refused = res->agent_refused;
}

/* An IMAP session ended: a mix of good and failed folders is a partial
 * failure, unless a local or network error stopped everything. */
static void
fetch_imap_done(struct imap_session *imap, void *arg)
{
	struct fetch_session		*fs = arg;
	const struct imap_result	*r = imap_session_result(imap);
	struct fetch_result		 res;

	memset(&res, 0, sizeof res);
	res.status = r->status;
	fetch_refused(&res, r->mda_refused, r->mda_tempfail, r->messages,
	    r->folders_failed > 0);
	res.held_back = r->mda_held;
	res.held_until = r->mda_held_until;
	if (r->folders_failed > 0 && r->folders_ok > 0 &&
	    res.status != EXIT_LOCAL && res.status != EXIT_NETWORK)
		res.status = EXIT_PARTIAL;
	res.messages = r->messages;
	res.bytes = r->bytes;
	/* With the folder a failure cut short (result has only the
	 * folders that ended). */
	res.downloaded = imap_session_downloaded(imap);
	res.hint = r->hint;
	res.reauth = r->reauth;
	res.files = imap_session_files(imap);
	fs->done(fs, &res, fs->arg);
	fetch_session_free(fs);
}

/* A POP3 session ended: [IN-USE] is EXIT_LOCKED from the server, and
 * LOGIN-DELAY says how long to wait. */
static void
fetch_pop3_done(struct pop3_session *pop3, void *arg)
{
	struct fetch_session		*fs = arg;
	const struct pop3_result	*r = pop3_session_result(pop3);
	struct fetch_result		 res;

	memset(&res, 0, sizeof res);
	res.status = r->status;
	fetch_refused(&res, r->mda_refused, r->mda_tempfail, r->messages,
	    0);
	res.held_back = r->mda_held;
	res.held_until = r->mda_held_until;
	res.messages = r->messages;
	res.bytes = r->bytes;
	res.downloaded = r->downloaded;
	res.retry_after = r->login_delay;
	res.reauth = r->reauth;
	res.files = pop3_session_files(pop3);
	if (r->status == EXIT_LOCKED)
		res.hint = SCHEDULE_HINT_IN_USE;
	else if (r->status == EXIT_NETWORK && r->login_delay > 0)
		res.hint = SCHEDULE_HINT_LOGIN_DELAY;
	fs->done(fs, &res, fs->arg);
	fetch_session_free(fs);
}

/* Starts the account's protocol engine. */
struct fetch_session *
fetch_session_start(struct event_base *base, struct evdns_base *dns,
    const struct account_conf *ac, struct state *st, fetch_done_cb done,
    void *arg)
{
	return (fetch_session_start_skip(base, dns, ac, st, NULL, 0, done,
	    arg));
}

/* Starts the account's protocol engine, some IMAP folders left out. */
struct fetch_session *
fetch_session_start_skip(struct event_base *base, struct evdns_base *dns,
    const struct account_conf *ac, struct state *st,
    const char *const *skip, size_t nskip, fetch_done_cb done, void *arg)
{
	struct fetch_session	*fs;
	struct imap_options	 opts;

	fs = xcalloc(1, sizeof *fs);
	fs->done = done;
	fs->arg = arg;
	if (ac->proto == PROTO_POP3) {
		fs->pop3 = pop3_session_new(base, dns, ac, st, fetch_pop3_done,
		    fs);
		pop3_session_start(fs->pop3);
	} else {
		memset(&opts, 0, sizeof opts);
		opts.mode = IMAP_MODE_ONCE;
		opts.skip_folders = skip;
		opts.nskip = nskip;
		fs->imap = imap_session_new(base, dns, ac, st, &opts,
		    fetch_imap_done, fs);
		imap_session_start(fs->imap);
	}
	return (fs);
}

void
fetch_session_hook(struct fetch_session *fs, struct hook *h)
{
	if (fs->imap != NULL)
		imap_session_hook(fs->imap, h);
	else
		pop3_session_hook(fs->pop3, h);
}

/* Frees (aborting) the session. */
void
fetch_session_free(struct fetch_session *fs)
{
	if (fs == NULL)
		return;
	imap_session_free(fs->imap);
	pop3_session_free(fs->pop3);
	free(fs);
}

int
fetch_session_awaiting_secret(const struct fetch_session *fs)
{
	if (fs->imap != NULL)
		return (imap_session_awaiting_secret(fs->imap));
	return (pop3_session_awaiting_secret(fs->pop3));
}

void
fetch_agent_wait_add(unsigned int secs, unsigned int *n, unsigned int *max)
{
	if (secs == 0)
		return;
	(*n)++;
	if (secs > *max)
		*max = secs;
}

int
fetch_agent_wait_arm(struct event *grace, const char *what, unsigned int n,
    unsigned int secs)
{
	struct timeval	tv = { secs, 0 };

	if (n == 0)
		return (0);
	log_msg(LOG_LVL_NOTICE, NULL, "%s still running after %ds; waiting "
	    "up to %us for %u delivery agent%s still running (mda_timeout), "
	    "the rest is aborted then", what, FETCH_STOP_GRACE, secs, n,
	    n == 1 ? "" : "s");
	evtimer_add(grace, &tv);
	return (1);
}

unsigned int
fetch_session_agent_wait(struct fetch_session *fs)
{
	if (fs->imap != NULL)
		return (imap_session_agent_wait(fs->imap));
	return (pop3_session_agent_wait(fs->pop3));
}

void
fetch_session_progress(const struct fetch_session *fs, unsigned long *done,
    unsigned long *total, uint64_t *bytes)
{
	if (fs->imap != NULL)
		imap_session_progress(fs->imap, done, total, bytes);
	else
		pop3_session_progress(fs->pop3, done, total, bytes);
}

void
fetch_session_budget(struct fetch_session *fs, fetch_budget_cb cb, void *arg)
{
	if (fs->imap != NULL)
		imap_session_budget(fs->imap, cb, arg);
	else
		pop3_session_budget(fs->pop3, cb, arg);
}

uint64_t
fetch_session_downloaded(const struct fetch_session *fs)
{
	if (fs->imap != NULL)
		return (imap_session_downloaded(fs->imap));
	return (pop3_session_downloaded(fs->pop3));
}

/* One account being fetched. */
struct fetch_job {
	struct fetch_run		*run;
	const struct account_conf	*ac;
	struct state			*st;
	struct fetch_session		*fs;	/* while it runs */
	struct schedule_account		*sa;	/* its daily budget; NULL:
						 * none (daily_limit 0) */
	int				 status;
	int				 started;
};

/* Every account of one --once run, in one event loop. */
struct fetch_run {
	const struct config	*conf;
	struct event_base	*base;
	struct evdns_base	*dns;
	struct schedule		*sched;		/* the daily budgets */
	struct fetch_job	*jobs;
	size_t			 njobs;
	size_t			 next;		/* next job to start */
	size_t			 running;
	struct event		*progress;	/* on a terminal only */
	struct timespec		 start;
	struct hook		*hook;		/* new_mail_command */
	struct event		*ev_int;	/* SIGINT, SIGTERM, SIGHUP: */
	struct event		*ev_term;	/* fetch_stop */
	struct event		*ev_hup;
	int			 stop_agents;	/* the grace extended for the
						 * delivery agents running */
	struct event		*ev_grace;
	int			 stopped;	/* the signal, 0: none */
};

static void	fetch_start_more(struct fetch_run *);

/* The budget's clock, the daemon's (CLOCK_BOOTTIME: it counts a suspend);
 * the state keeps wall-clock times, converted both ways. */
static uint64_t
fetch_now_ms(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_BOOTTIME, &ts);
	return ((uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000);
}

/*
 * The daily budget without a daemon: the daemon and --once share the
 * account's state, and whoever fetches holds its lock, so --once reads
 * the download history the daemon saved (or an earlier --once), fetches
 * within what is left (fetch_session_budget), and saves what it
 * downloaded. A budget used up is refused as the daemon refuses a fetch
 * now: status 10, nothing fetched.
 */
static int
fetch_budget_load(struct fetch_job *job)
{
	struct log_ctx		 ctx = { job->ac->name, NULL, 0 };
	struct schedule_policy	 p;
	const char		*text;
	char			*cause;
	uint64_t		 now = fetch_now_ms();

	if (job->ac->daily_limit == 0)
		return (0);
	memset(&p, 0, sizeof p);
	p.daily_budget = job->ac->daily_limit;
	p.poll_interval = job->ac->poll_interval;
	p.override_min = 1;
	job->sa = schedule_account_add(job->run->sched, job->ac->name, &p,
	    job, now, NULL);
	/* NULL only for a name already added. Not reachable today: the
	 * configuration refuses two accounts of one name and main merges a
	 * name repeated on the command line. Kept as a guard: the state lock
	 * lets only one job of a name fetch, and that one has the budget. */
	if (job->sa == NULL)
		return (0);
	if ((text = state_budget_get(job->st)) != NULL &&
	    schedule_budget_parse(job->sa, text, now, time(NULL),
	    &cause) != 0) {
		log_msg(LOG_LVL_WARNING, &ctx, "%s: download history ignored: "
		    "%s", state_path(job->st), cause);
		free(cause);
	}
	if (schedule_budget_left(job->sa, now) > 0)
		return (0);
	log_msg(LOG_LVL_WARNING, &ctx, "not fetched: the daily download "
	    "budget of %llu bytes is used up (%llu bytes in the last 24 h); "
	    "fetching resumes in %llu s", (unsigned long long)
	    job->ac->daily_limit, (unsigned long long)schedule_budget_used(
	    job->sa, now), (unsigned long long)((schedule_budget_resume(
	    job->sa, now) - now + 999) / 1000));
	return (EXIT_DEFERRED);
}

/* Before each batch: what the budget leaves, less what the session has
 * downloaded so far. */
static uint64_t
fetch_job_budget(void *arg, uint64_t downloaded)
{
	struct fetch_job	*job = arg;

	return (schedule_budget_room(job->sa, fetch_now_ms(), downloaded));
}

/* The session's downloads into the account's budget, saved in its
 * state. */
static void
fetch_budget_save(struct fetch_job *job, uint64_t downloaded)
{
	struct log_ctx	 ctx = { job->ac->name, NULL, 0 };
	uint64_t	 now = fetch_now_ms();
	char		*text, *cause;

	if (job->sa == NULL)
		return;
	schedule_budget_add(job->sa, now, downloaded);
	text = schedule_budget_format(job->sa, now, time(NULL));
	if (state_budget_set(job->st, text) != 0)
		log_msg(LOG_LVL_WARNING, &ctx, "download history too long to "
		    "save; the daily budget restarts from zero");
	free(text);
	if (state_save(job->st, &cause) != 0) {
		log_msg(LOG_LVL_ERROR, &ctx, "%s", cause);
		free(cause);
	}
}

/* Takes the account's lock, checks its daily budget and prepares its
 * Maildir; returns 0, or the account's exit status. */
static int
fetch_prepare(struct fetch_job *job)
{
	int	status;

	job->st = fetch_lock(job->run->conf->state_dir, job->ac, &status);
	if (job->st == NULL)
		return (status);
	if ((status = fetch_budget_load(job)) != 0)
		return (status);
	if (fetch_prepare_maildirs(job->run->conf, job->ac, job->st) != 0)
		return (EXIT_LOCAL);
	return (0);
}

/* A session ended: record it, release the account, start the next. */
static void
fetch_job_done(struct fetch_session *fs, const struct fetch_result *r,
    void *arg)
{
	struct fetch_job	*job = arg;

	(void)fs;
	job->fs = NULL;
	job->status = r->status;
	fetch_budget_save(job, r->downloaded);
	state_close(job->st);
	job->st = NULL;
	/* After the state is saved: the hook sees what is durable. */
	hook_new_mail(job->run->hook, job->ac, r->files);
	job->run->running--;
	fetch_start_more(job->run);
}

/* Starts accounts until the global connection cap is reached. */
static void
fetch_start_more(struct fetch_run *run)
{
	struct fetch_job	*job;
	unsigned int		 cap = run->conf->max_connections;
	int			 rc;

	while (run->next < run->njobs && (cap == 0 || run->running < cap)) {
		job = &run->jobs[run->next++];
		if ((rc = fetch_prepare(job)) != 0) {
			job->status = rc;
			state_close(job->st);
			job->st = NULL;
			continue;
		}
		run->running++;
		job->started = 1;
		job->fs = fetch_session_start(run->base, run->dns, job->ac,
		    job->st, fetch_job_done, job);
		fetch_session_hook(job->fs, run->hook);
		if (job->sa != NULL)
			fetch_session_budget(job->fs, fetch_job_budget, job);
	}
	if (run->running == 0 && run->next == run->njobs)
		event_base_loopexit(run->base, NULL);
}

/*
 * SIGINT, SIGTERM or SIGHUP (review r14 02; SIGHUP is what a closing
 * terminal or ssh session sends, r19 09): no other account starts;
 * fetches in progress get the daemon's stop grace to finish (FETCH_STOP_GRACE),
 * then are aborted as the daemon aborts them (fetch_abort): what they
 * downloaded is saved in the budget either way. A second signal aborts
 * at once. fetch_once then dies of the signal.
 */
static void
fetch_stop(struct fetch_run *run, int sig)
{
	struct timeval	tv = { FETCH_STOP_GRACE, 0 };
	const char	*why = sig == SIGINT ? "SIGINT" :
			    sig == SIGHUP ? "SIGHUP" : "SIGTERM";

	if (run->stopped) {
		log_msg(LOG_LVL_NOTICE, NULL, "%s again: stopping now", why);
		event_base_loopexit(run->base, NULL);
		return;
	}
	run->stopped = sig;
	run->next = run->njobs;
	if (run->running == 0) {
		event_base_loopexit(run->base, NULL);
		return;
	}
	log_msg(LOG_LVL_NOTICE, NULL, "%s: stopping; waiting up to %ds for "
	    "%zu fetch(es) in progress (a second signal stops at once)", why,
	    FETCH_STOP_GRACE, run->running);
	evtimer_add(run->ev_grace, &tv);
}

static void
fetch_signal_cb(evutil_socket_t sig, short what, void *arg)
{
	(void)what;
	fetch_stop(arg, (int)sig);
}

/* At the grace's end, the fetches with a delivery agent running end
 * once it is over (daemon_stop_agents says why): how many, the longest
 * wait in *secs. */
static unsigned int
fetch_stop_agents(struct fetch_run *run, unsigned int *secs)
{
	unsigned int	n = 0;
	size_t		i;

	*secs = 0;
	for (i = 0; i < run->njobs; i++)
		if (run->jobs[i].fs != NULL)
			fetch_agent_wait_add(fetch_session_agent_wait(
			    run->jobs[i].fs), &n, secs);
	return (n);
}

/* The stop grace is over: the delivery agents still running get up to
 * their mda_timeout, once; then what still runs is aborted. */
static void
fetch_grace_cb(evutil_socket_t fd, short what, void *arg)
{
	struct fetch_run	*run = arg;
	unsigned int		 n, secs;

	(void)fd;
	(void)what;
	if (!run->stop_agents) {
		run->stop_agents = 1;
		n = fetch_stop_agents(run, &secs);
		if (fetch_agent_wait_arm(run->ev_grace, "fetches", n, secs))
			return;
	}
	log_msg(LOG_LVL_NOTICE, NULL, "fetches still running after the "
	    "stop's grace; aborting them");
	event_base_loopexit(run->base, NULL);
}

/* The handler of sig; none (NULL) when it is ignored, as in a
 * background job of a script or under nohup: it stays ignored. */
static struct event *
fetch_signal_new(struct fetch_run *run, int sig)
{
	struct sigaction	 sa;
	struct event		*ev;

	if (sigaction(sig, NULL, &sa) == 0 && sa.sa_handler == SIG_IGN)
		return (NULL);
	ev = evsignal_new(run->base, sig, fetch_signal_cb, run);
	if (ev == NULL || evsignal_add(ev, NULL) != 0)
		fatalx("cannot set up the handler of signal %d", sig);
	return (ev);
}

static void
fetch_signals_start(struct fetch_run *run)
{
	run->ev_int = fetch_signal_new(run, SIGINT);
	run->ev_term = fetch_signal_new(run, SIGTERM);
	run->ev_hup = fetch_signal_new(run, SIGHUP);
	if ((run->ev_grace = evtimer_new(run->base, fetch_grace_cb,
	    run)) == NULL)
		fatalx("evtimer_new failed");
}

/* After a stop: a session still running is aborted; staged messages are
 * discarded (their journal lets the next run finish them), what it
 * downloaded counts in the budget all the same. */
static void
fetch_abort(struct fetch_job *job)
{
	log_msg(LOG_LVL_NOTICE, &(struct log_ctx){ job->ac->name, NULL, 0 },
	    "aborting the fetch in progress; messages not yet synced are "
	    "discarded and fetched again next time");
	fetch_budget_save(job, fetch_session_downloaded(job->fs));
	fetch_session_free(job->fs);
	job->fs = NULL;
	state_close(job->st);
	job->st = NULL;
}

/* Ends the handlers; after a stop, dies of its signal (so a shell sees
 * 130 or 143), every budget saved. */
static void
fetch_signals_end(struct fetch_run *run)
{
	size_t	i;

	for (i = 0; i < run->njobs; i++)
		if (run->jobs[i].fs != NULL)
			fetch_abort(&run->jobs[i]);
	if (run->ev_int != NULL)
		event_free(run->ev_int);
	if (run->ev_term != NULL)
		event_free(run->ev_term);
	if (run->ev_hup != NULL)
		event_free(run->ev_hup);
	event_free(run->ev_grace);
	if (run->stopped == 0)
		return;
	signal(run->stopped, SIG_DFL);
	raise(run->stopped);
}

/* Clears the progress line, so a log line does not land in its middle. */
static void
fetch_progress_clear(void)
{
	fputs("\r\033[K", stderr);
}

/* The progress line on a terminal: per running account, messages done of
 * those expected, megabytes and rate; redrawn four times a second. */
static void
fetch_progress_cb(evutil_socket_t fd, short what, void *arg)
{
	struct fetch_run	*run = arg;
	struct fetch_job	*job;
	struct timespec		 now;
	char			 line[512];
	size_t			 i, len = 0;
	unsigned long		 done, total;
	uint64_t		 bytes;
	double			 secs;
	struct winsize		 ws;
	size_t			 width = 80;

	(void)fd;
	(void)what;
	if (ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 10)
		width = ws.ws_col - 1;
	if (width >= sizeof line)
		width = sizeof line - 1;
	clock_gettime(CLOCK_MONOTONIC, &now);
	secs = (now.tv_sec - run->start.tv_sec) +
	    (now.tv_nsec - run->start.tv_nsec) / 1e9;
	line[0] = '\0';
	for (i = 0; i < run->njobs && len < width; i++) {
		job = &run->jobs[i];
		if (job->fs == NULL)
			continue;
		fetch_session_progress(job->fs, &done, &total, &bytes);
		len += snprintf(line + len, sizeof line - len, "%s%s %lu/%lu "
		    "%.1f MB %.1f MB/s", len > 0 ? " | " : "", job->ac->name,
		    done, total, bytes / 1e6, secs > 0 ? bytes / 1e6 / secs :
		    0.0);
	}
	if (len > width)
		line[width] = '\0';
	fprintf(stderr, "\r\033[K%s", line);
	fflush(stderr);
}

/* Arms the progress line when stderr is a terminal and not in debug. */
static void
fetch_progress_start(struct fetch_run *run)
{
	struct timeval	tv = { 0, 250000 };

	clock_gettime(CLOCK_MONOTONIC, &run->start);
	if (!isatty(STDERR_FILENO) || log_get_level() >= LOG_LVL_DEBUG)
		return;
	run->progress = event_new(run->base, -1, EV_PERSIST,
	    fetch_progress_cb, run);
	event_add(run->progress, &tv);
	log_set_line_hook(fetch_progress_clear);
}

static void
fetch_progress_stop(struct fetch_run *run)
{
	if (run->progress == NULL)
		return;
	event_free(run->progress);
	run->progress = NULL;
	log_set_line_hook(NULL);
	fetch_progress_clear();
	fflush(stderr);
}

int
fetch_once(const struct config *conf, const char *const *names, size_t n)
{
	struct fetch_run	 run;
	size_t			 i;
	int			 rc = -1;

	for (i = 0; i < n; i++) {
		if (config_find_account(conf, names[i]) == NULL) {
			log_msg(LOG_LVL_ERROR, NULL, "%s: no account \"%s\"",
			    conf->path, names[i]);
			return (EXIT_CONFIG);
		}
	}
	if (conf->naccounts == 0) {
		log_msg(LOG_LVL_ERROR, NULL, "%s: no account configured",
		    conf->path);
		return (EXIT_CONFIG);
	}
	memset(&run, 0, sizeof run);
	run.conf = conf;
	run.njobs = n > 0 ? n : conf->naccounts;
	run.jobs = xcalloc(run.njobs, sizeof *run.jobs);
	for (i = 0; i < run.njobs; i++) {
		run.jobs[i].run = &run;
		run.jobs[i].ac = n > 0 ? config_find_account(conf, names[i]) :
		    &conf->accounts[i];
	}
	run.sched = schedule_new(NULL, 0);
	if ((run.base = event_base_new()) == NULL)
		fatalx("event_base_new failed");
	run.dns = evdns_base_new(run.base, EVDNS_BASE_INITIALIZE_NAMESERVERS |
	    EVDNS_BASE_DISABLE_WHEN_INACTIVE);
	if (run.dns == NULL)
		fatalx("cannot set up DNS resolution (evdns_base_new)");
	run.hook = hook_new(run.base, conf->state_dir);
	fetch_progress_start(&run);
	fetch_signals_start(&run);
	fetch_start_more(&run);
	if (run.running > 0)
		event_base_dispatch(run.base);
	fetch_progress_stop(&run);
	/* --once waits for the new-mail hooks, each within its timeout,
	 * unless a signal asked it to stop. */
	if (run.stopped == 0)
		(void)hook_wait(run.hook, -1);
	hook_free(run.hook);
	fetch_signals_end(&run);
	for (i = 0; i < run.njobs; i++)
		rc = rc == -1 ? run.jobs[i].status :
		    outcome_merge(rc, run.jobs[i].status);
	free(run.jobs);
	schedule_free(run.sched);
	evdns_base_free(run.dns, 0);
	event_base_free(run.base);
	return (rc);
}
