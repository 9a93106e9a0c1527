/* edgectl api create|list|get|update|delete */
#include "ctl.h"
#include "edge/v1/admin.pb-c.h"
#include "pb.h"

#include <stdio.h>

static const char api_usage[] = "Usage: edgectl api create NAME [--description D]\n"
                                "       edgectl api list\n"
                                "       edgectl api get NAME\n"
                                "       edgectl api update NAME --description D\n"
                                "       edgectl api delete NAME\n";

static const struct ctl_opt desc_opts[] = {{"description", 0, CTL_OPT_ARG}, {NULL, 0, 0}};

static int
api_create(struct ctl_ctx *ctx, int argc, char **argv)
{
    static const struct ctl_cmd cmd = {"api create",
                                       "Usage: edgectl api create NAME [--description D]\n"
                                       "Creates an API (a named set of routes).\n",
                                       desc_opts, 1, 1};
    struct ctl_args a;
    int r = ctl_begin(ctx, &cmd, argc, argv, &a);
    if (r != CTL_EXIT_OK)
        return r;
    Edge__V1__Api req = EDGE__V1__API__INIT;
    req.name = a.pos[0];
    if (ctl_args_get(&a, "description"))
        req.description = (char *)ctl_args_get(&a, "description");
    ProtobufCMessage *resp = NULL;
    r = ctl_call(ctx, "CreateApi", &req.base, &edge__v1__api__descriptor, &resp);
    if (r == CTL_EXIT_OK) {
        char line[256];
        snprintf(line, sizeof(line), "api %s created", ((Edge__V1__Api *)resp)->name);
        r = ctl_print_done(ctx, resp, line);
    }
    edge_pb_free(resp);
    ctl_args_done(&a);
    return r;
}

static int
api_list(struct ctl_ctx *ctx, int argc, char **argv)
{
    static const struct ctl_cmd cmd = {"api list", "Usage: edgectl api list\n", NULL, 0, 0};
    static const char *const headers[] = {"NAME", "ROUTES", "DESCRIPTION", "CREATED", NULL};
    struct ctl_args a;
    int r = ctl_begin(ctx, &cmd, argc, argv, &a);
    if (r != CTL_EXIT_OK)
        return r;
    ctl_args_done(&a);
    Edge__V1__ListApisRequest req = EDGE__V1__LIST_APIS_REQUEST__INIT;
    ProtobufCMessage *resp = NULL;
    r = ctl_call(ctx, "ListApis", &req.base, &edge__v1__list_apis_response__descriptor, &resp);
    if (r != CTL_EXIT_OK)
        return r;
    Edge__V1__ListApisResponse *list = (Edge__V1__ListApisResponse *)resp;
    if (ctx->output == CTL_OUTPUT_JSON) {
        if (ctl_print_json_list(stdout, (ProtobufCMessage **)list->apis, list->n_apis) < 0)
            r = CTL_EXIT_FAIL;
    } else {
        struct ctl_table *t = ctl_table_new(headers);
        for (size_t i = 0; i < list->n_apis; i++) {
            Edge__V1__Api *api = list->apis[i];
            char when[32];
            ctl_fmt_time(api->created_at, ctx->now, when, sizeof(when));
            ctl_table_cell(t, api->name);
            ctl_table_cellf(t, "%u", api->route_count);
            ctl_table_cell(t, api->description);
            ctl_table_cell(t, when);
        }
        ctl_table_print(t, stdout);
        ctl_table_free(t);
    }
    edge_pb_free(resp);
    return r;
}

static int
api_get(struct ctl_ctx *ctx, int argc, char **argv)
{
    static const struct ctl_cmd cmd = {"api get", "Usage: edgectl api get NAME\n", NULL, 1, 1};
    struct ctl_args a;
    int r = ctl_begin(ctx, &cmd, argc, argv, &a);
    if (r != CTL_EXIT_OK)
        return r;
    Edge__V1__GetApiRequest req = EDGE__V1__GET_API_REQUEST__INIT;
    req.name = a.pos[0];
    ProtobufCMessage *resp = NULL;
    r = ctl_call(ctx, "GetApi", &req.base, &edge__v1__api__descriptor, &resp);
    if (r == CTL_EXIT_OK)
        r = ctl_print_object(ctx, resp);
    edge_pb_free(resp);
    ctl_args_done(&a);
    return r;
}

static int
api_update(struct ctl_ctx *ctx, int argc, char **argv)
{
    static const struct ctl_cmd cmd = {
        "api update", "Usage: edgectl api update NAME --description D\n", desc_opts, 1, 1};
    struct ctl_args a;
    int r = ctl_begin(ctx, &cmd, argc, argv, &a);
    if (r != CTL_EXIT_OK)
        return r;
    if (!ctl_args_has(&a, "description")) {
        ctl_args_done(&a);
        return ctl_usage_error(cmd.name, "api update: nothing to change (--description)");
    }
    /* get -> modify the given fields -> update, so fields added later survive an update. */
    Edge__V1__GetApiRequest get = EDGE__V1__GET_API_REQUEST__INIT;
    get.name = a.pos[0];
    ProtobufCMessage *cur = NULL, *resp = NULL;
    r = ctl_call(ctx, "GetApi", &get.base, &edge__v1__api__descriptor, &cur);
    if (r == CTL_EXIT_OK) {
        Edge__V1__Api *api = (Edge__V1__Api *)cur;
        ctl_set_str(&api->description, ctl_args_get(&a, "description"));
        r = ctl_call(ctx, "UpdateApi", cur, &edge__v1__api__descriptor, &resp);
    }
    if (r == CTL_EXIT_OK) {
        char line[256];
        snprintf(line, sizeof(line), "api %s updated", ((Edge__V1__Api *)resp)->name);
        r = ctl_print_done(ctx, resp, line);
    }
    edge_pb_free(resp);
    edge_pb_free(cur);
    ctl_args_done(&a);
    return r;
}

static int
api_delete(struct ctl_ctx *ctx, int argc, char **argv)
{
    static const struct ctl_cmd cmd = {"api delete", "Usage: edgectl api delete NAME\n", NULL, 1,
                                       1};
    struct ctl_args a;
    int r = ctl_begin(ctx, &cmd, argc, argv, &a);
    if (r != CTL_EXIT_OK)
        return r;
    Edge__V1__DeleteApiRequest req = EDGE__V1__DELETE_API_REQUEST__INIT;
    req.name = a.pos[0];
    ProtobufCMessage *resp = NULL;
    r = ctl_call(ctx, "DeleteApi", &req.base, &edge__v1__delete_response__descriptor, &resp);
    if (r == CTL_EXIT_OK) {
        char line[256];
        snprintf(line, sizeof(line), "api %s deleted", a.pos[0]);
        r = ctl_print_done(ctx, resp, line);
    }
    edge_pb_free(resp);
    ctl_args_done(&a);
    return r;
}

int
ctl_cmd_api(struct ctl_ctx *ctx, int argc, char **argv)
{
    static const struct ctl_verb verbs[] = {
        {"create", api_create}, {"list", api_list},     {"get", api_get},
        {"update", api_update}, {"delete", api_delete}, {NULL, NULL},
    };
    return ctl_dispatch(ctx, "api", api_usage, verbs, argc, argv);
}
