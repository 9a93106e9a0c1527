/* edgectl node list, status, audit */
#include "ctl.h"
#include "edge/v1/admin.pb-c.h"
#include "pb.h"

#include <stdio.h>

static const char node_usage[] = "Usage: edgectl node list\n"
                                 "Lists the data-plane nodes the control plane knows and the\n"
                                 "configuration revision each one runs.\n";

static int
node_list(struct ctl_ctx *ctx, int argc, char **argv)
{
    static const struct ctl_cmd cmd = {"node list", node_usage, NULL, 0, 0};
    static const char *const headers[] = {"ID",        "ADDRESS",   "VERSION", "REVISION",
                                          "CONNECTED", "LAST_SEEN", "ERROR",   NULL};
    struct ctl_args a;
    int r = ctl_begin(ctx, &cmd, argc, argv, &a);
    if (r != CTL_EXIT_OK)
        return r;
    ctl_args_done(&a);
    Edge__V1__ListNodesRequest req = EDGE__V1__LIST_NODES_REQUEST__INIT;
    ProtobufCMessage *resp = NULL;
    r = ctl_call(ctx, "ListNodes", &req.base, &edge__v1__list_nodes_response__descriptor, &resp);
    if (r != CTL_EXIT_OK)
        return r;
    Edge__V1__ListNodesResponse *list = (Edge__V1__ListNodesResponse *)resp;
    if (ctx->output == CTL_OUTPUT_JSON) {
        if (ctl_print_json_list(stdout, (ProtobufCMessage **)list->nodes, list->n_nodes) < 0)
            r = CTL_EXIT_FAIL;
    } else {
        struct ctl_table *t = ctl_table_new(headers);
        for (size_t i = 0; i < list->n_nodes; i++) {
            const Edge__V1__Node *n = list->nodes[i];
            char when[32], error[300] = "";
            ctl_fmt_time(n->last_seen, ctx->now, when, sizeof(when));
            if (n->nacked_revision)
                snprintf(error, sizeof(error), "nacked %llu: %s",
                         (unsigned long long)n->nacked_revision, n->last_error);
            ctl_table_cell(t, n->id);
            ctl_table_cell(t, n->address);
            ctl_table_cell(t, n->version);
            ctl_table_cellf(t, "%llu", (unsigned long long)n->acked_revision);
            ctl_table_cell(t, n->connected ? "yes" : "no");
            ctl_table_cell(t, when);
            ctl_table_cell(t, error);
        }
        ctl_table_print(t, stdout);
        ctl_table_free(t);
    }
    edge_pb_free(resp);
    return r;
}

int
ctl_cmd_node(struct ctl_ctx *ctx, int argc, char **argv)
{
    static const struct ctl_verb verbs[] = {{"list", node_list}, {NULL, NULL}};
    return ctl_dispatch(ctx, "node", node_usage, verbs, argc, argv);
}

int
ctl_cmd_status(struct ctl_ctx *ctx, int argc, char **argv)
{
    static const struct ctl_cmd cmd = {
        "status",
        "Usage: edgectl status\nShows the control plane's version, revision and counts.\n", NULL, 0,
        0};
    struct ctl_args a;
    int r = ctl_begin(ctx, &cmd, argc, argv, &a);
    if (r != CTL_EXIT_OK)
        return r;
    ctl_args_done(&a);
    Edge__V1__GetStatusRequest req = EDGE__V1__GET_STATUS_REQUEST__INIT;
    ProtobufCMessage *resp = NULL;
    r = ctl_call(ctx, "GetStatus", &req.base, &edge__v1__status__descriptor, &resp);
    if (r == CTL_EXIT_OK)
        r = ctl_print_object(ctx, resp);
    edge_pb_free(resp);
    return r;
}

int
ctl_cmd_audit(struct ctl_ctx *ctx, int argc, char **argv)
{
    static const struct ctl_opt opts[] = {{"limit", 0, CTL_OPT_ARG}, {NULL, 0, 0}};
    static const struct ctl_cmd cmd = {"audit",
                                       "Usage: edgectl audit [--limit N]\n"
                                       "Lists recent changes (by default the last 100).\n",
                                       opts, 0, 0};
    static const char *const headers[] = {"REVISION", "AT",     "ACTOR", "ACTION",
                                          "TYPE",     "OBJECT", NULL};
    struct ctl_args a;
    int r = ctl_begin(ctx, &cmd, argc, argv, &a);
    if (r != CTL_EXIT_OK)
        return r;
    Edge__V1__ListAuditRequest req = EDGE__V1__LIST_AUDIT_REQUEST__INIT;
    r = ctl_flag_u32(&cmd, &a, "limit", 1, 100000, &req.limit);
    ctl_args_done(&a);
    if (r != CTL_EXIT_OK)
        return r;
    ProtobufCMessage *resp = NULL;
    r = ctl_call(ctx, "ListAudit", &req.base, &edge__v1__list_audit_response__descriptor, &resp);
    if (r != CTL_EXIT_OK)
        return r;
    Edge__V1__ListAuditResponse *list = (Edge__V1__ListAuditResponse *)resp;
    if (ctx->output == CTL_OUTPUT_JSON) {
        if (ctl_print_json_list(stdout, (ProtobufCMessage **)list->entries, list->n_entries) < 0)
            r = CTL_EXIT_FAIL;
    } else {
        struct ctl_table *t = ctl_table_new(headers);
        for (size_t i = 0; i < list->n_entries; i++) {
            const Edge__V1__AuditEntry *e = list->entries[i];
            char when[32];
            ctl_fmt_time_iso(e->at, when, sizeof(when));
            ctl_table_cellf(t, "%llu", (unsigned long long)e->revision);
            ctl_table_cell(t, when);
            ctl_table_cell(t, e->actor);
            ctl_table_cell(t, e->action);
            ctl_table_cell(t, e->object_type);
            ctl_table_cell(t, e->object_id);
        }
        ctl_table_print(t, stdout);
        ctl_table_free(t);
    }
    edge_pb_free(resp);
    return r;
}
