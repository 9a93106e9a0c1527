/* Admin handlers for API keys. Secrets are made here (or imported), returned once in an
 * ApiKeySecret and never stored, logged or returned again: the store keeps their SHA-256 and
 * the first CP_KEY_PREFIX_LEN characters, so that an operator can recognise a key. */
#include "api_keys.h"

#include "cp.h"
#include "pb.h"
#include "validate.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* "ek_" + 43 base64url characters of 32 random bytes. */
#define SECRET_RANDOM_BYTES 32

struct secret {
    char text[CP_KEY_SECRET_MAX_LEN + 1];
    uint8_t sha256[SHA256_DIGEST_LENGTH];
    char prefix[CP_KEY_PREFIX_LEN + 1];
};

static int
secret_generate(struct secret *s)
{
    unsigned char raw[SECRET_RANDOM_BYTES], b64[48];

    if (RAND_bytes(raw, sizeof(raw)) != 1)
        return -EIO;
    int n = EVP_EncodeBlock(b64, raw, sizeof(raw));
    OPENSSL_cleanse(raw, sizeof(raw));
    while (n > 0 && b64[n - 1] == '=')
        n--;
    for (int i = 0; i < n; i++)
        b64[i] = b64[i] == '+' ? '-' : b64[i] == '/' ? '_' : b64[i];
    (void)snprintf(s->text, sizeof(s->text), "ek_%.*s", n, (const char *)b64);
    OPENSSL_cleanse(b64, sizeof(b64));
    return 0;
}

/* An imported secret: CP_KEY_SECRET_MIN_LEN..MAX_LEN visible ASCII characters (no blanks: a
 * header value's surrounding blanks are not part of it). */
static int
secret_import(struct secret *s, const char *value, char *err, size_t err_len)
{
    size_t n = strlen(value);

    if (n < CP_KEY_SECRET_MIN_LEN || n > CP_KEY_SECRET_MAX_LEN) {
        (void)snprintf(err, err_len, "value: must be %d..%d characters", CP_KEY_SECRET_MIN_LEN,
                       CP_KEY_SECRET_MAX_LEN);
        return -EINVAL;
    }
    for (size_t i = 0; i < n; i++) {
        if (value[i] < 0x21 || value[i] > 0x7e) {
            (void)snprintf(err, err_len,
                           "value: only printable ASCII without blanks (bad character at "
                           "offset %zu)",
                           i);
            return -EINVAL;
        }
    }
    memcpy(s->text, value, n + 1);
    return 0;
}

static void
secret_finish(struct secret *s)
{
    (void)SHA256((const unsigned char *)s->text, strlen(s->text), s->sha256);
    (void)snprintf(s->prefix, sizeof(s->prefix), "%.*s", CP_KEY_PREFIX_LEN, s->text);
}

/* Fills s from value (import) or randomly; st filled on failure. */
static bool
secret_make(struct secret *s, const char *value, struct edge_rpc_status *st)
{
    char err[160];

    if (value && *value) {
        if (cp_api_invalid(st, secret_import(s, value, err, sizeof(err)), err))
            return false;
    } else if (secret_generate(s) < 0) {
        (void)edge_rpc_fail(st, GRPC_STATUS_INTERNAL, "no random bytes");
        return false;
    }
    secret_finish(s);
    return true;
}

static void
secret_wipe(struct secret *s)
{
    OPENSSL_cleanse(s, sizeof(*s));
}

static void
answer_secret(Edge__V1__ApiKey *key, struct secret *s, ProtobufCMessage **ret_resp)
{
    Edge__V1__ApiKeySecret *resp = edge_pb_new(&edge__v1__api_key_secret__descriptor);

    resp->key = key;
    resp->secret = edge_pb_strdup(s->text);
    *ret_resp = &resp->base;
}

static int
validate_key(const Edge__V1__ApiKey *k, int64_t now, char *err, size_t err_len)
{
    char field[32];
    int r;

    if (!k) {
        (void)snprintf(err, err_len, "key: required");
        return -EINVAL;
    }
    if ((r = cp_validate_name("key.name", k->name, err, err_len)) < 0)
        return r;
    /* Commands take "ID|NAME" and try the id first: a name shaped like an id would be
     * ambiguous. */
    if (cp_validate_id("key.name", k->name, 'k', false, err, err_len) == 0) {
        (void)snprintf(err, err_len, "key.name: must not look like a key id (k- and 12 hex)");
        return -EINVAL;
    }
    if (k->n_plans > CP_MAX_KEY_PLANS) {
        (void)snprintf(err, err_len, "key.plans: at most %d", CP_MAX_KEY_PLANS);
        return -EINVAL;
    }
    for (size_t i = 0; i < k->n_plans; i++) {
        (void)snprintf(field, sizeof(field), "key.plans[%zu]", i);
        if ((r = cp_validate_name(field, k->plans[i], err, err_len)) < 0)
            return r;
    }
    if (k->expires_at < 0 || (k->expires_at != 0 && k->expires_at <= now)) {
        (void)snprintf(err, err_len, "key.expires_at: must be in the future (or 0: never)");
        return -EINVAL;
    }
    return 0;
}

void
cp_api_create_api_key(void *ctx, const struct edge_rpc_call *call, const ProtobufCMessage *req,
                      ProtobufCMessage **ret_resp, struct edge_rpc_status *st)
{
    struct cp_ctx *cp = ctx;
    const Edge__V1__CreateApiKeyRequest *in = (const Edge__V1__CreateApiKeyRequest *)req;
    struct cp_store_err e = {0};
    struct secret s;
    Edge__V1__ApiKey *out = NULL;
    char err[256];

    if (cp_api_invalid(st, validate_key(in->key, (int64_t)time(NULL), err, sizeof(err)), err) ||
        !secret_make(&s, in->value, st))
        return;
    /* A new key is enabled: proto3 cannot tell "false" from "not said". */
    Edge__V1__ApiKey k = *in->key;
    k.enabled = true;
    if (cp_store_key_create(cp->store, CP_API_ACTOR, &k, s.sha256, s.prefix, &out, &e) < 0) {
        cp_api_store_fail(st, &e);
    } else {
        cp_api_published(cp);
        answer_secret(out, &s, ret_resp);
    }
    secret_wipe(&s);
}

static bool
valid_key_ref(const char *field, const char *key, struct edge_rpc_status *st)
{
    char err[160];

    return !cp_api_invalid(st, cp_validate_name(field, key, err, sizeof(err)), err);
}

void
cp_api_get_api_key(void *ctx, const struct edge_rpc_call *call, const ProtobufCMessage *req,
                   ProtobufCMessage **ret_resp, struct edge_rpc_status *st)
{
    struct cp_ctx *cp = ctx;
    const Edge__V1__GetApiKeyRequest *in = (const Edge__V1__GetApiKeyRequest *)req;
    struct cp_store_err e = {0};
    Edge__V1__ApiKey *out;

    if (!valid_key_ref("key", in->key, st))
        return;
    if (cp_store_key_get(cp->store, in->key, &out, &e) < 0)
        cp_api_store_fail(st, &e);
    else
        *ret_resp = &out->base;
}

void
cp_api_list_api_keys(void *ctx, const struct edge_rpc_call *call, const ProtobufCMessage *req,
                     ProtobufCMessage **ret_resp, struct edge_rpc_status *st)
{
    struct cp_ctx *cp = ctx;
    const Edge__V1__ListApiKeysRequest *in = (const Edge__V1__ListApiKeysRequest *)req;
    struct cp_store_err e = {0};
    Edge__V1__ListApiKeysResponse *out;

    if (in->plan && *in->plan && !valid_key_ref("plan", in->plan, st))
        return;
    if (cp_store_key_list(cp->store, in->plan, &out, &e) < 0)
        cp_api_store_fail(st, &e);
    else
        *ret_resp = &out->base;
}

void
cp_api_set_api_key_enabled(void *ctx, const struct edge_rpc_call *call, const ProtobufCMessage *req,
                           ProtobufCMessage **ret_resp, struct edge_rpc_status *st)
{
    struct cp_ctx *cp = ctx;
    const Edge__V1__SetApiKeyEnabledRequest *in = (const Edge__V1__SetApiKeyEnabledRequest *)req;
    struct cp_store_err e = {0};
    Edge__V1__ApiKey *out;

    if (!valid_key_ref("key", in->key, st))
        return;
    if (cp_store_key_set_enabled(cp->store, CP_API_ACTOR, in->key, in->enabled, &out, &e) < 0) {
        cp_api_store_fail(st, &e);
        return;
    }
    cp_api_published(cp);
    *ret_resp = &out->base;
}

void
cp_api_rotate_api_key(void *ctx, const struct edge_rpc_call *call, const ProtobufCMessage *req,
                      ProtobufCMessage **ret_resp, struct edge_rpc_status *st)
{
    struct cp_ctx *cp = ctx;
    const Edge__V1__RotateApiKeyRequest *in = (const Edge__V1__RotateApiKeyRequest *)req;
    struct cp_store_err e = {0};
    struct secret s;
    Edge__V1__ApiKey *out;

    if (!valid_key_ref("key", in->key, st) || !secret_make(&s, in->value, st))
        return;
    if (cp_store_key_rotate(cp->store, CP_API_ACTOR, in->key, s.sha256, s.prefix, &out, &e) < 0) {
        cp_api_store_fail(st, &e);
    } else {
        cp_api_published(cp);
        answer_secret(out, &s, ret_resp);
    }
    secret_wipe(&s);
}

void
cp_api_delete_api_key(void *ctx, const struct edge_rpc_call *call, const ProtobufCMessage *req,
                      ProtobufCMessage **ret_resp, struct edge_rpc_status *st)
{
    struct cp_ctx *cp = ctx;
    const Edge__V1__DeleteApiKeyRequest *in = (const Edge__V1__DeleteApiKeyRequest *)req;
    struct cp_store_err e = {0};
    uint64_t rev;

    if (!valid_key_ref("key", in->key, st))
        return;
    if (cp_store_key_delete(cp->store, CP_API_ACTOR, in->key, &rev, &e) < 0)
        cp_api_store_fail(st, &e);
    else
        cp_api_deleted(cp, rev, ret_resp);
}
