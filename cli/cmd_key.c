/* edgectl key create|list|get|enable|disable|rotate|revoke. A secret is printed once, by
 * create and rotate, and appears in nothing else edgectl prints. */
#include "cmd_key.h"

#include "edge/v1/admin.pb-c.h"
#include "pb.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char key_usage[] =
    "Usage: edgectl key create NAME [--plan P]... [--value SECRET|-] [--expires WHEN]\n"
    "       edgectl key list [--plan P]\n"
    "       edgectl key get ID|NAME\n"
    "       edgectl key enable|disable ID|NAME\n"
    "       edgectl key rotate ID|NAME [--value SECRET|-]\n"
    "       edgectl key revoke ID|NAME\n"
    "create and rotate print the secret once: store it then, it cannot be shown again.\n"
    "Options:\n"
    "  --plan P          subscribe the key to usage plan P (repeatable)\n"
    "  --value SECRET    import an existing secret (20..256 printable characters) instead\n"
    "                    of generating one; '-' reads it from the first line of stdin\n"
    "  --expires WHEN    2026-12-31, 2026-12-31T12:00:00Z (UTC) or a duration: 30d, 12h, 2w\n";

int
ctl_parse_expires(const char *s, int64_t now, int64_t *ret)
{
    struct tm tm = {0};
    char *end;

    if (!s || !*s)
        return -EINVAL;
    /* A duration: digits and one unit. */
    if (s[0] >= '0' && s[0] <= '9' && !strchr(s, '-')) {
        errno = 0;
        unsigned long long v = strtoull(s, &end, 10);
        if (errno || end == s || end[0] == '\0' || end[1] != '\0' || v == 0)
            return -EINVAL;
        uint64_t unit = end[0] == 's'   ? 1
                        : end[0] == 'm' ? 60
                        : end[0] == 'h' ? 3600
                        : end[0] == 'd' ? 86400
                        : end[0] == 'w' ? 604800
                                        : 0;
        if (!unit || v > (uint64_t)(100ull * 366 * 86400) / unit)
            return -EINVAL;
        *ret = now + (int64_t)(v * unit);
        return 0;
    }
    end = strptime(s, "%Y-%m-%d", &tm);
    if (!end)
        return -EINVAL;
    if (*end == 'T' || *end == ' ') {
        char *t = strptime(end + 1, "%H:%M", &tm);
        if (!t)
            return -EINVAL;
        end = t;
        if (*end == ':' && !(end = strptime(end + 1, "%S", &tm)))
            return -EINVAL;
        if (*end == 'Z')
            end++;
    }
    if (*end != '\0' || tm.tm_year < 70)
        return -EINVAL;
    int mday = tm.tm_mday;
    time_t t = timegm(&tm);
    if (t == (time_t)-1 || tm.tm_mday != mday) /* 2026-02-30 */
        return -EINVAL;
    *ret = (int64_t)t;
    return 0;
}

/* --value: the argument, or the first line of stdin for "-". *ret_buf is freed by the caller
 * (wiped first: it is a secret). */
static int
read_value(const struct ctl_cmd *cmd, const struct ctl_args *a, const char **ret_value,
           char **ret_buf)
{
    const char *v = ctl_args_get(a, "value");

    *ret_buf = NULL;
    *ret_value = v;
    if (!v || strcmp(v, "-") != 0)
        return 0;
    char *buf = calloc(1, 1024);
    if (!buf || !fgets(buf, 1024, stdin)) {
        free(buf);
        return ctl_usage_error(cmd->name, "--value -: nothing on stdin");
    }
    buf[strcspn(buf, "\r\n")] = '\0';
    *ret_buf = buf;
    *ret_value = buf;
    return 0;
}

static void
wipe_free(char *buf)
{
    if (buf) {
        OPENSSL_cleanse(buf, 1024);
        free(buf);
    }
}

static int
print_secret(struct ctl_ctx *ctx, const ProtobufCMessage *resp, const char *verb)
{
    const Edge__V1__ApiKeySecret *s = (const Edge__V1__ApiKeySecret *)resp;

    if (ctx->output == CTL_OUTPUT_JSON)
        return ctl_print_object(ctx, resp);
    printf("key %s %s (id %s, prefix %s)\n", s->key->name, verb, s->key->id, s->key->prefix);
    printf("secret: %s\n", s->secret);
    fputs("Store the secret now: it is not shown again.\n", stderr);
    return CTL_EXIT_OK;
}

static int
key_create(struct ctl_ctx *ctx, int argc, char **argv)
{
    static const struct ctl_opt opts[] = {{"plan", 0, CTL_OPT_ARG | CTL_OPT_MULTI},
                                          {"value", 0, CTL_OPT_ARG},
                                          {"expires", 0, CTL_OPT_ARG},
                                          {NULL, 0, 0}};
    static const struct ctl_cmd cmd = {"key create",
                                       "Usage: edgectl key create NAME [--plan P]... "
                                       "[--value SECRET|-] [--expires WHEN]\n"
                                       "Creates an API key and prints its secret once.\n",
                                       opts, 1, 1};
    struct ctl_args a;
    int r = ctl_begin(ctx, &cmd, argc, argv, &a);
    if (r != CTL_EXIT_OK)
        return r;
    Edge__V1__ApiKey key = EDGE__V1__API_KEY__INIT;
    Edge__V1__CreateApiKeyRequest req = EDGE__V1__CREATE_API_KEY_REQUEST__INIT;
    const char *v, *value = NULL;
    char *buf = NULL, **plans = NULL;
    size_t cursor = 0;

    key.name = a.pos[0];
    key.enabled = true;
    if ((v = ctl_args_get(&a, "expires")) && ctl_parse_expires(v, ctx->now, &key.expires_at) < 0)
        r = ctl_usage_error(cmd.name,
                            "--expires: bad time \"%s\" (expected 2026-12-31, "
                            "2026-12-31T12:00:00Z or a duration like 30d, 12h)",
                            v);
    while (r == CTL_EXIT_OK && (v = ctl_args_next(&a, "plan", &cursor))) {
        plans = realloc(plans, (key.n_plans + 1) * sizeof(*plans));
        if (!plans)
            abort();
        plans[key.n_plans++] = (char *)v;
    }
    key.plans = plans;
    if (r == CTL_EXIT_OK)
        r = read_value(&cmd, &a, &value, &buf);
    req.key = &key;
    if (value)
        req.value = (char *)value;
    ProtobufCMessage *resp = NULL;
    if (r == CTL_EXIT_OK)
        r = ctl_call(ctx, "CreateApiKey", &req.base, &edge__v1__api_key_secret__descriptor, &resp);
    if (r == CTL_EXIT_OK)
        r = print_secret(ctx, resp, "created");
    edge_pb_free(resp);
    wipe_free(buf);
    free(plans);
    ctl_args_done(&a);
    return r;
}

static void
fmt_plans(const Edge__V1__ApiKey *k, char *buf, size_t len)
{
    size_t off = 0;

    buf[0] = '\0';
    for (size_t i = 0; i < k->n_plans && off < len; i++) {
        int n = snprintf(buf + off, len - off, "%s%s", i ? "," : "", k->plans[i]);
        off += n > 0 ? (size_t)n : 0;
    }
}

static int
key_list(struct ctl_ctx *ctx, int argc, char **argv)
{
    static const struct ctl_opt opts[] = {{"plan", 0, CTL_OPT_ARG}, {NULL, 0, 0}};
    static const struct ctl_cmd cmd = {"key list", "Usage: edgectl key list [--plan P]\n", opts, 0,
                                       0};
    static const char *const headers[] = {"NAME",    "ID",      "PREFIX",    "PLANS",
                                          "ENABLED", "EXPIRES", "LAST USED", NULL};
    struct ctl_args a;
    int r = ctl_begin(ctx, &cmd, argc, argv, &a);
    if (r != CTL_EXIT_OK)
        return r;
    Edge__V1__ListApiKeysRequest req = EDGE__V1__LIST_API_KEYS_REQUEST__INIT;
    if (ctl_args_get(&a, "plan"))
        req.plan = (char *)ctl_args_get(&a, "plan");
    ProtobufCMessage *resp = NULL;
    r = ctl_call(ctx, "ListApiKeys", &req.base, &edge__v1__list_api_keys_response__descriptor,
                 &resp);
    ctl_args_done(&a);
    if (r != CTL_EXIT_OK)
        return r;
    Edge__V1__ListApiKeysResponse *list = (Edge__V1__ListApiKeysResponse *)resp;
    if (ctx->output == CTL_OUTPUT_JSON) {
        if (ctl_print_json_list(stdout, (ProtobufCMessage **)list->keys, list->n_keys) < 0)
            r = CTL_EXIT_FAIL;
    } else {
        struct ctl_table *t = ctl_table_new(headers);
        for (size_t i = 0; i < list->n_keys; i++) {
            const Edge__V1__ApiKey *k = list->keys[i];
            char plans[512], expires[32], used[32];
            fmt_plans(k, plans, sizeof(plans));
            ctl_fmt_time_iso(k->expires_at, expires, sizeof(expires));
            ctl_fmt_time(k->last_used_at, ctx->now, used, sizeof(used));
            ctl_table_cell(t, k->name);
            ctl_table_cell(t, k->id);
            ctl_table_cell(t, k->prefix);
            ctl_table_cell(t, plans);
            ctl_table_cell(t, k->enabled ? "yes" : "no");
            ctl_table_cell(t, k->expires_at ? expires : "never");
            ctl_table_cell(t, used);
        }
        ctl_table_print(t, stdout);
        ctl_table_free(t);
    }
    edge_pb_free(resp);
    return r;
}

static int
key_get(struct ctl_ctx *ctx, int argc, char **argv)
{
    static const struct ctl_cmd cmd = {"key get", "Usage: edgectl key get ID|NAME\n", NULL, 1, 1};
    struct ctl_args a;
    int r = ctl_begin(ctx, &cmd, argc, argv, &a);
    if (r != CTL_EXIT_OK)
        return r;
    Edge__V1__GetApiKeyRequest req = EDGE__V1__GET_API_KEY_REQUEST__INIT;
    req.key = a.pos[0];
    ProtobufCMessage *resp = NULL;
    r = ctl_call(ctx, "GetApiKey", &req.base, &edge__v1__api_key__descriptor, &resp);
    if (r == CTL_EXIT_OK)
        r = ctl_print_object(ctx, resp);
    edge_pb_free(resp);
    ctl_args_done(&a);
    return r;
}

static int
key_set_enabled(struct ctl_ctx *ctx, int argc, char **argv, bool enabled)
{
    static const struct ctl_cmd enable = {"key enable", "Usage: edgectl key enable ID|NAME\n", NULL,
                                          1, 1};
    static const struct ctl_cmd disable = {
        "key disable",
        "Usage: edgectl key disable ID|NAME\n"
        "A disabled key is refused (403) until enabled again; it keeps its plans.\n",
        NULL, 1, 1};
    struct ctl_args a;
    int r = ctl_begin(ctx, enabled ? &enable : &disable, argc, argv, &a);
    if (r != CTL_EXIT_OK)
        return r;
    Edge__V1__SetApiKeyEnabledRequest req = EDGE__V1__SET_API_KEY_ENABLED_REQUEST__INIT;
    req.key = a.pos[0];
    req.enabled = enabled;
    ProtobufCMessage *resp = NULL;
    r = ctl_call(ctx, "SetApiKeyEnabled", &req.base, &edge__v1__api_key__descriptor, &resp);
    if (r == CTL_EXIT_OK) {
        char line[160];
        snprintf(line, sizeof(line), "key %s %s", ((Edge__V1__ApiKey *)resp)->name,
                 enabled ? "enabled" : "disabled");
        r = ctl_print_done(ctx, resp, line);
    }
    edge_pb_free(resp);
    ctl_args_done(&a);
    return r;
}

static int
key_enable(struct ctl_ctx *ctx, int argc, char **argv)
{
    return key_set_enabled(ctx, argc, argv, true);
}

static int
key_disable(struct ctl_ctx *ctx, int argc, char **argv)
{
    return key_set_enabled(ctx, argc, argv, false);
}

static int
key_rotate(struct ctl_ctx *ctx, int argc, char **argv)
{
    static const struct ctl_opt opts[] = {{"value", 0, CTL_OPT_ARG}, {NULL, 0, 0}};
    static const struct ctl_cmd cmd = {
        "key rotate",
        "Usage: edgectl key rotate ID|NAME [--value SECRET|-]\n"
        "Gives the key a new secret (printed once); id, name and plans stay. The old secret\n"
        "stops working as soon as the nodes have the new revision.\n",
        opts, 1, 1};
    struct ctl_args a;
    int r = ctl_begin(ctx, &cmd, argc, argv, &a);
    if (r != CTL_EXIT_OK)
        return r;
    Edge__V1__RotateApiKeyRequest req = EDGE__V1__ROTATE_API_KEY_REQUEST__INIT;
    const char *value = NULL;
    char *buf = NULL;
    req.key = a.pos[0];
    r = read_value(&cmd, &a, &value, &buf);
    if (value)
        req.value = (char *)value;
    ProtobufCMessage *resp = NULL;
    if (r == CTL_EXIT_OK)
        r = ctl_call(ctx, "RotateApiKey", &req.base, &edge__v1__api_key_secret__descriptor, &resp);
    if (r == CTL_EXIT_OK)
        r = print_secret(ctx, resp, "rotated");
    edge_pb_free(resp);
    wipe_free(buf);
    ctl_args_done(&a);
    return r;
}

static int
key_revoke(struct ctl_ctx *ctx, int argc, char **argv)
{
    static const struct ctl_cmd cmd = {"key revoke",
                                       "Usage: edgectl key revoke ID|NAME\n"
                                       "Deletes the key: its secret stops working.\n",
                                       NULL, 1, 1};
    struct ctl_args a;
    int r = ctl_begin(ctx, &cmd, argc, argv, &a);
    if (r != CTL_EXIT_OK)
        return r;
    Edge__V1__DeleteApiKeyRequest req = EDGE__V1__DELETE_API_KEY_REQUEST__INIT;
    req.key = a.pos[0];
    ProtobufCMessage *resp = NULL;
    r = ctl_call(ctx, "DeleteApiKey", &req.base, &edge__v1__delete_response__descriptor, &resp);
    if (r == CTL_EXIT_OK) {
        char line[160];
        snprintf(line, sizeof(line), "key %s revoked", a.pos[0]);
        r = ctl_print_done(ctx, resp, line);
    }
    edge_pb_free(resp);
    ctl_args_done(&a);
    return r;
}

int
ctl_cmd_key(struct ctl_ctx *ctx, int argc, char **argv)
{
    static const struct ctl_verb verbs[] = {
        {"create", key_create},   {"list", key_list},
        {"get", key_get},         {"enable", key_enable},
        {"disable", key_disable}, {"rotate", key_rotate},
        {"revoke", key_revoke},   {NULL, NULL},
    };
    return ctl_dispatch(ctx, "key", key_usage, verbs, argc, argv);
}
