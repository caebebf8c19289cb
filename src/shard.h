/* shard.h: many instances, one set of accounts (mailfetchd.conf(5),
 * shard). Instance K of N fetches the accounts whose name hashes to it by
 * rendezvous (highest random weight) hashing: each account goes to the
 * shard index i in 1..N with the highest shard_hash(name, i). Going from
 * N to N+1 instances moves only the accounts the new shard wins, about
 * 1/(N+1) of them; no coordination service is needed, only the same
 * configuration and the same N everywhere.
 *
 * shard_hash is SipHash-2-4 with a fixed key over the name, a NUL and the
 * index as 4 little-endian bytes. It is part of the interface: changing it
 * (key, input layout or function) re-shards every account, so it must
 * stay the same across versions and platforms (unit-tested vectors). */
#ifndef MAILFETCHD_SHARD_H
#define MAILFETCHD_SHARD_H

#include <stdint.h>
#include <stdio.h>

struct config;

/* The environment variable that --shard sets (and that a wrapper, e.g. a
 * Kubernetes pod, may set): it overrides the configuration's shard, also
 * on a reload and in privilege-separated workers. */
#define SHARD_ENV	"MAILFETCHD_SHARD"
#define SHARD_MAX	4096	/* instances */

/* Instance index of count, 1-based; count 0: not sharded. */
struct shard {
	unsigned int	index;
	unsigned int	count;
};

uint64_t	 shard_hash(const char *name, unsigned int index);
/* The index (1..count) of the instance that owns name; ties (which
 * SipHash makes vanishingly rare) go to the lowest index. */
unsigned int	 shard_owner(const char *name, unsigned int count);
/* "K/N" or "K-of-N" (the systemd instance name), 1 <= K <= N <= SHARD_MAX.
 * On error returns -1 and sets *cause (the caller frees it). */
int		 shard_parse(const char *s, struct shard *out, char **cause);
/* Applies $MAILFETCHD_SHARD, else the configuration's shard: keeps only
 * the owned accounts (the others' names stay in conf->shard_others) and
 * gives a default control socket a per-instance name. Returns -1 with
 * *cause on an invalid shard. */
int		 shard_config_apply(struct config *conf, char **cause);
/* The owner of an account this instance does not own, else 0. */
unsigned int	 shard_other_owner(const struct config *conf,
		    const char *name);
/* "shard = K/N" and the accounts of the other instances, as comments, for
 * --check-config. Nothing when not sharded. */
void		 shard_print(FILE *f, const struct config *conf);
/* "K/N", or "none" when not sharded, into buf. */
void		 shard_name(const struct config *conf, char *buf, size_t len);
/* "shard K/N: M of T accounts" into buf (for --status and the log). */
void		 shard_describe(const struct config *conf, char *buf,
		    size_t len);

#endif
