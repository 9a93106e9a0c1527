#include "policy/apikey.h"

#include <errno.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <pthread.h>
#include <string.h>

int
dp_key_table_init(struct dp_key_table *t, struct dp_arena *a, size_t n_keys, size_t n_plan_refs)
{
    memset(t, 0, sizeof(*t));
    size_t n = 16;
    while (n < n_keys * 2)
        n <<= 1;
    t->slots = dp_arena_alloc(a, n * sizeof(*t->slots));
    t->keys = dp_arena_alloc(a, (n_keys ? n_keys : 1) * sizeof(*t->keys));
    t->plan_refs = dp_arena_alloc(a, (n_plan_refs ? n_plan_refs : 1) * sizeof(*t->plan_refs));
    if (!t->slots || !t->keys || !t->plan_refs)
        return -ENOMEM;
    t->mask = n - 1;
    t->cap = n_keys;
    t->cap_plan_refs = n_plan_refs;
    return 0;
}

static size_t
slot_of(const uint8_t sha256[32])
{
    /* The hash is uniform already: its first 8 bytes are the slot. */
    uint64_t h;
    memcpy(&h, sha256, sizeof(h));
    return (size_t)h;
}

int
dp_key_table_add(struct dp_key_table *t, const struct dp_key *k, const uint32_t *plans,
                 size_t n_plans)
{
    if (t->n >= t->cap || t->n_plan_refs + n_plans > t->cap_plan_refs || n_plans > UINT16_MAX)
        return -ENOSPC;
    size_t i = slot_of(k->sha256) & t->mask;
    while (t->slots[i]) {
        if (memcmp(t->keys[t->slots[i] - 1].sha256, k->sha256, 32) == 0)
            return -EEXIST;
        i = (i + 1) & t->mask;
    }
    struct dp_key *d = &t->keys[t->n];
    *d = *k;
    d->plans_off = (uint32_t)t->n_plan_refs;
    d->n_plans = (uint16_t)n_plans;
    if (n_plans)
        memcpy(t->plan_refs + t->n_plan_refs, plans, n_plans * sizeof(*plans));
    t->n_plan_refs += n_plans;
    t->slots[i] = (uint32_t)++t->n;
    return 0;
}

const struct dp_key *
dp_key_table_find(const struct dp_key_table *t, const uint8_t sha256[32])
{
    if (!t->slots)
        return NULL;
    for (size_t i = slot_of(sha256) & t->mask; t->slots[i]; i = (i + 1) & t->mask) {
        const struct dp_key *k = &t->keys[t->slots[i] - 1];
        if (memcmp(k->sha256, sha256, 32) == 0)
            return k;
    }
    return NULL;
}

/* OpenSSL 3's one-shot SHA256() fetches the digest and allocates a context on every call
 * (a lookup under a lock, on every keyed request): fetch once, keep a context per thread. */
static pthread_once_t sha_once = PTHREAD_ONCE_INIT;
static EVP_MD *sha_md;
static pthread_key_t sha_key;

static void
sha_ctx_free(void *ctx)
{
    EVP_MD_CTX_free(ctx);
}

static void
sha_init(void)
{
    if (pthread_key_create(&sha_key, sha_ctx_free) == 0)
        sha_md = EVP_MD_fetch(NULL, "SHA256", NULL);
}

void
dp_key_hash(const char *secret, size_t len, uint8_t ret_sha256[32])
{
    pthread_once(&sha_once, sha_init);
    EVP_MD_CTX *ctx = sha_md ? pthread_getspecific(sha_key) : NULL;
    if (sha_md && !ctx && (ctx = EVP_MD_CTX_new()) && pthread_setspecific(sha_key, ctx) != 0) {
        EVP_MD_CTX_free(ctx);
        ctx = NULL;
    }
    unsigned int n = 0;
    if (!ctx || !EVP_DigestInit_ex2(ctx, sha_md, NULL) || !EVP_DigestUpdate(ctx, secret, len) ||
        !EVP_DigestFinal_ex(ctx, ret_sha256, &n))
        SHA256((const unsigned char *)secret, len, ret_sha256);
}
