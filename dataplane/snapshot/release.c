/* What a stage serves: stage variables substituted into routes at compile time, and the
 * per-request choice between a stage's deployment and its canary. */
#include "snapshot/snapshot.h"
#include "upstream/lb_p2c.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define VAR_OPEN     "${stageVariables."
#define VAR_OPEN_LEN (sizeof(VAR_OPEN) - 1)

bool
dp_release_uses_vars(const char *tmpl)
{
    return tmpl && strstr(tmpl, VAR_OPEN) != NULL;
}

const char *
dp_release_var(const Edge__V1__Stage *stage, const char *name, size_t len)
{
    for (size_t i = 0; stage && i < stage->n_variables; i++) {
        const Edge__V1__Stage__VariablesEntry *v = stage->variables[i];
        if (v->key && strlen(v->key) == len && memcmp(v->key, name, len) == 0)
            return v->value ? v->value : "";
    }
    return NULL;
}

int
dp_release_expand(const char *tmpl, const Edge__V1__Stage *stage, char *out, size_t out_len,
                  const char **ret_name, size_t *ret_name_len)
{
    size_t o = 0;
    const char *p = tmpl;

    while (*p) {
        const char *v = strstr(p, VAR_OPEN);
        size_t lit = v ? (size_t)(v - p) : strlen(p);
        if (o + lit >= out_len)
            return -ENOSPC;
        memcpy(out + o, p, lit);
        o += lit;
        if (!v)
            break;
        const char *name = v + VAR_OPEN_LEN;
        const char *close = strchr(name, '}');
        size_t len = close ? (size_t)(close - name) : strlen(name);
        const char *value = close ? dp_release_var(stage, name, len) : NULL;
        if (!value) {
            *ret_name = name;
            *ret_name_len = len;
            return -ENOENT;
        }
        size_t vlen = strlen(value);
        if (o + vlen >= out_len)
            return -ENOSPC;
        memcpy(out + o, value, vlen);
        o += vlen;
        p = close + 1;
    }
    out[o] = '\0';
    return 0;
}

bool
dp_release_upstream_var(const char *ref, const char **ret_name, size_t *ret_len)
{
    size_t n = ref ? strlen(ref) : 0;

    if (n <= VAR_OPEN_LEN + 1 || strncmp(ref, VAR_OPEN, VAR_OPEN_LEN) != 0 || ref[n - 1] != '}')
        return false;
    const char *name = ref + VAR_OPEN_LEN;
    size_t len = n - VAR_OPEN_LEN - 1;
    if (memchr(name, '}', len))
        return false;
    *ret_name = name;
    *ret_len = len;
    return true;
}

/* FNV-1a over the client address: the same on every node, so a client keeps its side
 * wherever the load balancer in front sends it. */
static uint32_t
peer_bucket(const struct sockaddr_in6 *peer)
{
    const unsigned char *b;
    size_t n;
    uint64_t h = 1469598103934665603ull;

    if (peer->sin6_family == AF_INET) {
        const struct sockaddr_in *v4 = (const struct sockaddr_in *)(const void *)peer;
        b = (const unsigned char *)&v4->sin_addr;
        n = sizeof(v4->sin_addr);
    } else {
        b = (const unsigned char *)&peer->sin6_addr;
        n = sizeof(peer->sin6_addr);
    }
    for (size_t i = 0; i < n; i++) {
        h ^= b[i];
        h *= 1099511628211ull;
    }
    /* Fold the high bits in: FNV's low bits alone mix poorly over short inputs. */
    h ^= h >> 29;
    h *= 0xbf58476d1ce4e5b9ull;
    h ^= h >> 32;
    return (uint32_t)(h % 10000);
}

const struct dp_deployment *
dp_release_pick(const struct dp_stage *st, const struct sockaddr_in6 *peer, uint64_t *rng)
{
    if (!st->canary || st->canary_per_10k == 0)
        return st->deployment;
    if (st->canary_per_10k >= 10000)
        return st->canary;
    uint32_t bucket =
        st->canary_sticky && peer ? peer_bucket(peer) : (uint32_t)(dp_lb_rand(rng) % 10000);
    return bucket < st->canary_per_10k ? st->canary : st->deployment;
}
