/* edgectl domain map|list|unmap */
#include "ctl.h"
#include "edge/v1/admin.pb-c.h"
#include "pb.h"

#include <stdio.h>
#include <string.h>

static const char domain_usage[] =
    "Usage: edgectl domain map HOST[/BASEPATH] API STAGE\n"
    "       edgectl domain list\n"
    "       edgectl domain unmap HOST[/BASEPATH]\n"
    "HOST is an exact host, *.example.com, or * (any host); BASEPATH is like /v1.\n";

/* "api.example.com/v1" -> host "api.example.com", base path "/v1"; a bare "/" is no base
 * path. Both are owned copies. Returns -1 when the host part is empty. */
static int
split_domain(const char *s, char **ret_host, char **ret_base)
{
    const char *slash = strchr(s, '/');
    size_t host_len = slash ? (size_t)(slash - s) : strlen(s);
    if (host_len == 0)
        return -1;
    const char *base = slash ? slash : "";
    *ret_host = edge_pb_strndup(s, host_len);
    *ret_base = edge_pb_strdup(strcmp(base, "/") == 0 ? "" : base);
    return 0;
}

static int
domain_map(struct ctl_ctx *ctx, int argc, char **argv)
{
    static const struct ctl_cmd cmd = {
        "domain map",
        "Usage: edgectl domain map HOST[/BASEPATH] API STAGE\n"
        "Serves API's stage STAGE at HOST (exact, *.example.com or *) under BASEPATH.\n",
        NULL, 3, 3};
    struct ctl_args a;
    int r = ctl_begin(ctx, &cmd, argc, argv, &a);
    if (r != CTL_EXIT_OK)
        return r;
    Edge__V1__DomainMapping *m = edge_pb_new(&edge__v1__domain_mapping__descriptor);
    if (split_domain(a.pos[0], &m->host, &m->base_path) < 0) {
        r = ctl_usage_error(cmd.name, "domain map: bad HOST[/BASEPATH] \"%s\"", a.pos[0]);
    } else {
        m->api = edge_pb_strdup(a.pos[1]);
        m->stage = edge_pb_strdup(a.pos[2]);
    }
    ProtobufCMessage *resp = NULL;
    if (r == CTL_EXIT_OK)
        r = ctl_call(ctx, "CreateDomainMapping", &m->base, &edge__v1__domain_mapping__descriptor,
                     &resp);
    if (r == CTL_EXIT_OK) {
        const Edge__V1__DomainMapping *got = (const Edge__V1__DomainMapping *)resp;
        char line[512];
        snprintf(line, sizeof(line), "%s%s mapped to %s/%s", got->host, got->base_path, got->api,
                 got->stage);
        r = ctl_print_done(ctx, resp, line);
    }
    edge_pb_free(resp);
    edge_pb_free(m);
    ctl_args_done(&a);
    return r;
}

static int
domain_list(struct ctl_ctx *ctx, int argc, char **argv)
{
    static const struct ctl_cmd cmd = {"domain list", "Usage: edgectl domain list\n", NULL, 0, 0};
    static const char *const headers[] = {"HOST",        "BASE_PATH", "API", "STAGE",
                                          "CERTIFICATE", "CREATED",   NULL};
    struct ctl_args a;
    int r = ctl_begin(ctx, &cmd, argc, argv, &a);
    if (r != CTL_EXIT_OK)
        return r;
    ctl_args_done(&a);
    Edge__V1__ListDomainMappingsRequest req = EDGE__V1__LIST_DOMAIN_MAPPINGS_REQUEST__INIT;
    ProtobufCMessage *resp = NULL;
    r = ctl_call(ctx, "ListDomainMappings", &req.base,
                 &edge__v1__list_domain_mappings_response__descriptor, &resp);
    if (r != CTL_EXIT_OK)
        return r;
    Edge__V1__ListDomainMappingsResponse *list = (Edge__V1__ListDomainMappingsResponse *)resp;
    if (ctx->output == CTL_OUTPUT_JSON) {
        if (ctl_print_json_list(stdout, (ProtobufCMessage **)list->mappings, list->n_mappings) < 0)
            r = CTL_EXIT_FAIL;
    } else {
        struct ctl_table *t = ctl_table_new(headers);
        for (size_t i = 0; i < list->n_mappings; i++) {
            const Edge__V1__DomainMapping *m = list->mappings[i];
            char when[32];
            ctl_fmt_time(m->created_at, ctx->now, when, sizeof(when));
            ctl_table_cell(t, m->host);
            ctl_table_cell(t, m->base_path);
            ctl_table_cell(t, m->api);
            ctl_table_cell(t, m->stage);
            ctl_table_cell(t, m->certificate);
            ctl_table_cell(t, when);
        }
        ctl_table_print(t, stdout);
        ctl_table_free(t);
    }
    edge_pb_free(resp);
    return r;
}

static int
domain_unmap(struct ctl_ctx *ctx, int argc, char **argv)
{
    static const struct ctl_cmd cmd = {"domain unmap",
                                       "Usage: edgectl domain unmap HOST[/BASEPATH]\n", NULL, 1, 1};
    struct ctl_args a;
    int r = ctl_begin(ctx, &cmd, argc, argv, &a);
    if (r != CTL_EXIT_OK)
        return r;
    Edge__V1__DeleteDomainMappingRequest *req =
        edge_pb_new(&edge__v1__delete_domain_mapping_request__descriptor);
    if (split_domain(a.pos[0], &req->host, &req->base_path) < 0)
        r = ctl_usage_error(cmd.name, "domain unmap: bad HOST[/BASEPATH] \"%s\"", a.pos[0]);
    ProtobufCMessage *resp = NULL;
    if (r == CTL_EXIT_OK)
        r = ctl_call(ctx, "DeleteDomainMapping", &req->base, &edge__v1__delete_response__descriptor,
                     &resp);
    if (r == CTL_EXIT_OK) {
        char line[512];
        snprintf(line, sizeof(line), "%s%s unmapped", req->host, req->base_path);
        r = ctl_print_done(ctx, resp, line);
    }
    edge_pb_free(resp);
    edge_pb_free(req);
    ctl_args_done(&a);
    return r;
}

int
ctl_cmd_domain(struct ctl_ctx *ctx, int argc, char **argv)
{
    static const struct ctl_verb verbs[] = {
        {"map", domain_map}, {"list", domain_list}, {"unmap", domain_unmap}, {NULL, NULL}};
    return ctl_dispatch(ctx, "domain", domain_usage, verbs, argc, argv);
}
