/* shard.c: rendezvous hashing of account names onto instances (shard.h),
 * and the configuration narrowed to one instance's share. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "shard.h"
#include "xmalloc.h"

/* Fixed forever: a new key re-shards every account (shard.h). */
static const uint8_t shard_key[16] = "mailfetchd-shard";

#define SHARD_ROTL(x, b)	(uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))

static uint64_t
shard_le64(const uint8_t *p)
{
	uint64_t	v = 0;
	int		i;

	for (i = 7; i >= 0; i--)
		v = (v << 8) | p[i];
	return (v);
}

static void
shard_sipround(uint64_t v[4])
{
	v[0] += v[1]; v[1] = SHARD_ROTL(v[1], 13); v[1] ^= v[0];
	v[0] = SHARD_ROTL(v[0], 32);
	v[2] += v[3]; v[3] = SHARD_ROTL(v[3], 16); v[3] ^= v[2];
	v[0] += v[3]; v[3] = SHARD_ROTL(v[3], 21); v[3] ^= v[0];
	v[2] += v[1]; v[1] = SHARD_ROTL(v[1], 17); v[1] ^= v[2];
	v[2] = SHARD_ROTL(v[2], 32);
}

/* One 8-byte word into the state: two compression rounds (SipHash-2-4). */
static void
shard_sipword(uint64_t v[4], uint64_t m)
{
	v[3] ^= m;
	shard_sipround(v);
	shard_sipround(v);
	v[0] ^= m;
}

/* SipHash-2-4 (Aumasson and Bernstein) of buf with shard_key: the same
 * value on every platform, whatever its byte order. */
static uint64_t
shard_siphash(const uint8_t *buf, size_t len)
{
	uint64_t	 k0 = shard_le64(shard_key), k1 = shard_le64(shard_key + 8);
	uint64_t	 v[4] = { k0 ^ 0x736f6d6570736575ULL,
			    k1 ^ 0x646f72616e646f6dULL,
			    k0 ^ 0x6c7967656e657261ULL,
			    k1 ^ 0x7465646279746573ULL };
	uint8_t		 last[8];
	size_t		 i;

	for (i = 0; i + 8 <= len; i += 8)
		shard_sipword(v, shard_le64(buf + i));
	memset(last, 0, sizeof last);
	memcpy(last, buf + i, len - i);
	last[7] = (uint8_t)len;
	shard_sipword(v, shard_le64(last));
	v[2] ^= 0xff;
	for (i = 0; i < 4; i++)
		shard_sipround(v);
	return (v[0] ^ v[1] ^ v[2] ^ v[3]);
}

uint64_t
shard_hash(const char *name, unsigned int index)
{
	uint8_t		*buf;
	size_t		 n = strlen(name);
	uint64_t	 h;

	/* name, NUL, index little-endian: no two inputs run together. */
	buf = xmalloc(n + 5);
	memcpy(buf, name, n);
	buf[n] = 0;
	buf[n + 1] = (uint8_t)index;
	buf[n + 2] = (uint8_t)(index >> 8);
	buf[n + 3] = (uint8_t)(index >> 16);
	buf[n + 4] = (uint8_t)(index >> 24);
	h = shard_siphash(buf, n + 5);
	free(buf);
	return (h);
}

unsigned int
shard_owner(const char *name, unsigned int count)
{
	unsigned int	i, best = 1;
	uint64_t	h, top = 0;

	for (i = 1; i <= count; i++) {
		h = shard_hash(name, i);
		if (i == 1 || h > top) {
			top = h;
			best = i;
		}
	}
	return (best);
}

/* A decimal number of the shard spec, at most SHARD_MAX. */
static int
shard_number(const char *s, char **end, unsigned int *out)
{
	unsigned long	v;

	if (*s < '0' || *s > '9')
		return (-1);
	errno = 0;
	v = strtoul(s, end, 10);
	if (errno != 0 || v > SHARD_MAX)
		return (-1);
	*out = (unsigned int)v;
	return (0);
}

int
shard_parse(const char *s, struct shard *out, char **cause)
{
	char	*end;

	if (shard_number(s, &end, &out->index) != 0)
		goto bad;
	if (*end == '/')
		end++;
	else if (strncmp(end, "-of-", 4) == 0)
		end += 4;
	else
		goto bad;
	if (shard_number(end, &end, &out->count) != 0 || *end != '\0')
		goto bad;
	if (out->count == 0 || out->index == 0 || out->index > out->count) {
		xasprintf(cause, "shard \"%s\": K/N needs 1 <= K <= N (the "
		    "first instance is 1)", s);
		return (-1);
	}
	return (0);
bad:
	xasprintf(cause, "shard \"%s\": not K/N or K-of-N (instance K of N, "
	    "1 <= K <= N <= %d)", s, SHARD_MAX);
	return (-1);
}

/* config_keep_accounts' question: does this instance own the account?
 * The others' names are kept for --check-config and --once. */
static int
shard_keep(const struct account_conf *ac, void *arg)
{
	struct config	*conf = arg;

	if (shard_owner(ac->name, conf->shard_count) == conf->shard_index)
		return (1);
	conf->shard_others = xreallocarray(conf->shard_others,
	    conf->nshard_others + 1, sizeof *conf->shard_others);
	conf->shard_others[conf->nshard_others++] = xstrdup(ac->name);
	return (0);
}

int
shard_config_apply(struct config *conf, char **cause)
{
	const char	*spec = getenv(SHARD_ENV), *from = "--shard/" SHARD_ENV;
	struct shard	 sh;
	char		*why;

	if (spec == NULL || *spec == '\0') {
		spec = conf->shard_spec;
		from = conf->path;
	}
	if (spec == NULL)
		return (0);
	if (shard_parse(spec, &sh, &why) != 0) {
		xasprintf(cause, "%s: %s", from, why);
		free(why);
		return (-1);
	}
	conf->shard_index = sh.index;
	conf->shard_count = sh.count;
	config_keep_accounts(conf, shard_keep, conf);
	/* Instances on one host must not share a default control socket:
	 * --once asks its own instance's daemon. */
	if (conf->control_socket_default) {
		why = conf->control_socket;
		xasprintf(&conf->control_socket, "%s.%u-of-%u", why, sh.index,
		    sh.count);
		free(why);
	}
	return (0);
}

unsigned int
shard_other_owner(const struct config *conf, const char *name)
{
	size_t	i;

	for (i = 0; i < conf->nshard_others; i++) {
		if (strcmp(conf->shard_others[i], name) == 0)
			return (shard_owner(name, conf->shard_count));
	}
	return (0);
}

void
shard_describe(const struct config *conf, char *buf, size_t len)
{
	snprintf(buf, len, "shard %u/%u: %zu of %zu accounts",
	    conf->shard_index, conf->shard_count, conf->naccounts,
	    conf->naccounts + conf->nshard_others);
}

void
shard_name(const struct config *conf, char *buf, size_t len)
{
	if (conf->shard_count == 0)
		snprintf(buf, len, "none");
	else
		snprintf(buf, len, "%u/%u", conf->shard_index,
		    conf->shard_count);
}

void
shard_print(FILE *f, const struct config *conf)
{
	char	line[128];
	size_t	i;

	if (conf->shard_count == 0)
		return;
	shard_describe(conf, line, sizeof line);
	fprintf(f, "shard = \"%u/%u\"\n# %s; the others':\n",
	    conf->shard_index, conf->shard_count, line);
	for (i = 0; i < conf->nshard_others; i++)
		fprintf(f, "# account \"%s\": shard %u/%u\n",
		    conf->shard_others[i], shard_owner(conf->shard_others[i],
		    conf->shard_count), conf->shard_count);
}
