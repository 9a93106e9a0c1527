/* edgectl route create|list|get|update|delete */
#include "ctl.h"
#include "edge/v1/admin.pb-c.h"
#include "pb.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ROUTE_OPTIONS                                                                              \
    "  --method M              GET HEAD POST PUT DELETE PATCH OPTIONS TRACE CONNECT or ANY\n"      \
    "  --path P                path template: /pets/{id}, /files/{name}.json, /{proxy+}\n"         \
    "  --upstream U            upstream name\n"                                                    \
    "  --upstream-path T       upstream path template (default: the request path)\n"               \
    "  --timeout-ms N          response timeout (default: the upstream's)\n"                       \
    "  --host H                match this host only\n"                                             \
    "  --header 'Name: value'  match this header (repeatable; on update replaces the list)\n"      \
    "  --api-key-required      callers need an API key (update: --no-api-key-required)\n"          \
    "  --max-body-bytes N      request body limit (0: the node's default)\n"                       \
    "  --rate R --burst B      per-route throttle, requests per second\n"

static const char route_usage[] =
    "Usage: edgectl route create API --method M --path P --upstream U [options]\n"
    "       edgectl route list API\n"
    "       edgectl route get API ID\n"
    "       edgectl route update API ID [options]\n"
    "       edgectl route delete API ID\n"
    "       edgectl route test API [--stage S] METHOD PATH [-H 'Name: value']...\n"
    "Options:\n" ROUTE_OPTIONS;

static const struct ctl_opt route_opts[] = {
    {"method", 0, CTL_OPT_ARG},
    {"path", 0, CTL_OPT_ARG},
    {"upstream", 0, CTL_OPT_ARG},
    {"upstream-path", 0, CTL_OPT_ARG},
    {"timeout-ms", 0, CTL_OPT_ARG},
    {"host", 0, CTL_OPT_ARG},
    {"header", 0, CTL_OPT_ARG | CTL_OPT_MULTI},
    {"api-key-required", 0, 0},
    {"no-api-key-required", 0, 0},
    {"max-body-bytes", 0, CTL_OPT_ARG},
    {"rate", 0, CTL_OPT_ARG},
    {"burst", 0, CTL_OPT_ARG},
    {NULL, 0, 0},
};

static void
free_headers(Edge__V1__Route *route)
{
    for (size_t i = 0; i < route->n_headers; i++)
        edge_pb_free(route->headers[i]);
    free(route->headers);
    route->headers = NULL;
    route->n_headers = 0;
}

/* Applies the flags given to route (owned, pb.h convention). */
static int
apply_route_flags(const struct ctl_cmd *cmd, const struct ctl_args *a, Edge__V1__Route *route)
{
    const char *v;
    int r;

    if (!route->integration)
        route->integration = edge_pb_new(&edge__v1__integration__descriptor);
    if ((v = ctl_args_get(a, "method"))) {
        ctl_set_str(&route->method, v);
        /* Methods are case-sensitive on the wire; people type "get". */
        for (char *p = route->method; *p; p++)
            *p = (char)toupper((unsigned char)*p);
    }
    if ((v = ctl_args_get(a, "path")))
        ctl_set_str(&route->path, v);
    if ((v = ctl_args_get(a, "host")))
        ctl_set_str(&route->host, v);
    if ((v = ctl_args_get(a, "upstream")))
        ctl_set_str(&route->integration->upstream, v);
    if ((v = ctl_args_get(a, "upstream-path")))
        ctl_set_str(&route->integration->path, v);
    if ((r = ctl_flag_u32(cmd, a, "timeout-ms", 0, 3600u * 1000, &route->integration->timeout_ms)))
        return r;
    if ((r = ctl_flag_u64(cmd, a, "max-body-bytes", 0, UINT64_MAX, &route->max_body_bytes)))
        return r;
    if (ctl_args_has(a, "api-key-required") && ctl_args_has(a, "no-api-key-required"))
        return ctl_usage_error(cmd->name, "--api-key-required and --no-api-key-required conflict");
    if (ctl_args_has(a, "api-key-required"))
        route->api_key_required = 1;
    if (ctl_args_has(a, "no-api-key-required"))
        route->api_key_required = 0;
    if ((r = ctl_flag_throttle(cmd, a, &route->throttle)))
        return r;

    if (ctl_args_has(a, "header")) {
        Edge__V1__HeaderMatch **headers = NULL;
        size_t n = 0, cursor = 0;
        while ((v = ctl_args_next(a, "header", &cursor))) {
            Edge__V1__HeaderMatch *h;
            if (ctl_parse_header(v, &h) < 0) {
                for (size_t i = 0; i < n; i++)
                    edge_pb_free(headers[i]);
                free(headers);
                return ctl_usage_error(cmd->name,
                                       "--header: bad header \"%s\" (expected 'Name: value')", v);
            }
            edge_pb_append((void ***)&headers, &n, h);
        }
        free_headers(route);
        route->headers = headers;
        route->n_headers = n;
    }
    return 0;
}

static int
route_create(struct ctl_ctx *ctx, int argc, char **argv)
{
    static const struct ctl_cmd cmd = {
        "route create",
        "Usage: edgectl route create API --method M --path P --upstream U [options]\n"
        "Creates a route in API and prints its id.\nOptions:\n" ROUTE_OPTIONS,
        route_opts, 1, 1};
    struct ctl_args a;
    int r = ctl_begin(ctx, &cmd, argc, argv, &a);
    if (r != CTL_EXIT_OK)
        return r;
    if (ctl_args_has(&a, "no-api-key-required")) {
        ctl_args_done(&a);
        return ctl_usage_error(cmd.name, "--no-api-key-required is for route update");
    }
    static const char *const required[] = {"method", "path", "upstream"};
    for (size_t i = 0; i < 3; i++) {
        if (!ctl_args_get(&a, required[i])) {
            ctl_args_done(&a);
            return ctl_usage_error(cmd.name, "route create: --%s is required", required[i]);
        }
    }
    Edge__V1__Route *route = edge_pb_new(&edge__v1__route__descriptor);
    route->api = edge_pb_strdup(a.pos[0]);
    ProtobufCMessage *resp = NULL;
    r = apply_route_flags(&cmd, &a, route);
    if (r == CTL_EXIT_OK)
        r = ctl_call(ctx, "CreateRoute", &route->base, &edge__v1__route__descriptor, &resp);
    if (r == CTL_EXIT_OK)
        r = ctl_print_done(ctx, resp, ((Edge__V1__Route *)resp)->id);
    edge_pb_free(resp);
    edge_pb_free(route);
    ctl_args_done(&a);
    return r;
}

static void
format_throttle(const Edge__V1__Throttle *t, char *buf, size_t len)
{
    if (!t)
        snprintf(buf, len, "-");
    else
        snprintf(buf, len, "%g/s burst %u", t->rate, t->burst);
}

static int
route_list(struct ctl_ctx *ctx, int argc, char **argv)
{
    static const struct ctl_cmd cmd = {"route list", "Usage: edgectl route list API\n", NULL, 1, 1};
    static const char *const headers[] = {
        "ID", "METHOD", "PATH", "HOST", "UPSTREAM", "UPSTREAM_PATH", "API_KEY", "THROTTLE", NULL};
    struct ctl_args a;
    int r = ctl_begin(ctx, &cmd, argc, argv, &a);
    if (r != CTL_EXIT_OK)
        return r;
    Edge__V1__ListRoutesRequest req = EDGE__V1__LIST_ROUTES_REQUEST__INIT;
    req.api = a.pos[0];
    ProtobufCMessage *resp = NULL;
    r = ctl_call(ctx, "ListRoutes", &req.base, &edge__v1__list_routes_response__descriptor, &resp);
    ctl_args_done(&a);
    if (r != CTL_EXIT_OK)
        return r;
    Edge__V1__ListRoutesResponse *list = (Edge__V1__ListRoutesResponse *)resp;
    if (ctx->output == CTL_OUTPUT_JSON) {
        if (ctl_print_json_list(stdout, (ProtobufCMessage **)list->routes, list->n_routes) < 0)
            r = CTL_EXIT_FAIL;
    } else {
        struct ctl_table *t = ctl_table_new(headers);
        for (size_t i = 0; i < list->n_routes; i++) {
            const Edge__V1__Route *rt = list->routes[i];
            char throttle[64];
            format_throttle(rt->throttle, throttle, sizeof(throttle));
            ctl_table_cell(t, rt->id);
            ctl_table_cell(t, rt->method);
            ctl_table_cell(t, rt->path);
            ctl_table_cell(t, rt->host);
            ctl_table_cell(t, rt->integration ? rt->integration->upstream : NULL);
            ctl_table_cell(t, rt->integration ? rt->integration->path : NULL);
            ctl_table_cell(t, rt->api_key_required ? "yes" : "no");
            ctl_table_cell(t, throttle);
        }
        ctl_table_print(t, stdout);
        ctl_table_free(t);
    }
    edge_pb_free(resp);
    return r;
}

static int
get_route(struct ctl_ctx *ctx, const char *api, const char *id, ProtobufCMessage **ret)
{
    Edge__V1__GetRouteRequest req = EDGE__V1__GET_ROUTE_REQUEST__INIT;
    req.api = (char *)api;
    req.id = (char *)id;
    return ctl_call(ctx, "GetRoute", &req.base, &edge__v1__route__descriptor, ret);
}

static int
route_get(struct ctl_ctx *ctx, int argc, char **argv)
{
    static const struct ctl_cmd cmd = {"route get", "Usage: edgectl route get API ID\n", NULL, 2,
                                       2};
    struct ctl_args a;
    int r = ctl_begin(ctx, &cmd, argc, argv, &a);
    if (r != CTL_EXIT_OK)
        return r;
    ProtobufCMessage *resp = NULL;
    r = get_route(ctx, a.pos[0], a.pos[1], &resp);
    if (r == CTL_EXIT_OK)
        r = ctl_print_object(ctx, resp);
    edge_pb_free(resp);
    ctl_args_done(&a);
    return r;
}

static int
route_update(struct ctl_ctx *ctx, int argc, char **argv)
{
    static const struct ctl_cmd cmd = {
        "route update",
        "Usage: edgectl route update API ID [options]\n"
        "Changes the given fields of a route.\nOptions:\n" ROUTE_OPTIONS,
        route_opts, 2, 2};
    struct ctl_args a;
    int r = ctl_begin(ctx, &cmd, argc, argv, &a);
    if (r != CTL_EXIT_OK)
        return r;
    if (!ctl_args_any(&a, route_opts)) {
        ctl_args_done(&a);
        return ctl_usage_error(cmd.name, "route update: nothing to change");
    }
    ProtobufCMessage *cur = NULL, *resp = NULL;
    /* A bad flag is a usage error (exit 2) whatever the server would say: check the flags on
     * a scratch route (with a throttle, so that --rate alone passes) before any call. */
    Edge__V1__Route *scratch = edge_pb_new(&edge__v1__route__descriptor);
    scratch->throttle = edge_pb_new(&edge__v1__throttle__descriptor);
    r = apply_route_flags(&cmd, &a, scratch);
    edge_pb_free(scratch);
    if (r == CTL_EXIT_OK)
        r = get_route(ctx, a.pos[0], a.pos[1], &cur);
    if (r == CTL_EXIT_OK)
        r = apply_route_flags(&cmd, &a, (Edge__V1__Route *)cur);
    if (r == CTL_EXIT_OK)
        r = ctl_call(ctx, "UpdateRoute", cur, &edge__v1__route__descriptor, &resp);
    if (r == CTL_EXIT_OK) {
        char line[128];
        snprintf(line, sizeof(line), "route %s updated", ((Edge__V1__Route *)resp)->id);
        r = ctl_print_done(ctx, resp, line);
    }
    edge_pb_free(resp);
    edge_pb_free(cur);
    ctl_args_done(&a);
    return r;
}

static int
route_delete(struct ctl_ctx *ctx, int argc, char **argv)
{
    static const struct ctl_cmd cmd = {"route delete", "Usage: edgectl route delete API ID\n", NULL,
                                       2, 2};
    struct ctl_args a;
    int r = ctl_begin(ctx, &cmd, argc, argv, &a);
    if (r != CTL_EXIT_OK)
        return r;
    Edge__V1__DeleteRouteRequest req = EDGE__V1__DELETE_ROUTE_REQUEST__INIT;
    req.api = a.pos[0];
    req.id = a.pos[1];
    ProtobufCMessage *resp = NULL;
    r = ctl_call(ctx, "DeleteRoute", &req.base, &edge__v1__delete_response__descriptor, &resp);
    if (r == CTL_EXIT_OK) {
        char line[128];
        snprintf(line, sizeof(line), "route %s deleted", a.pos[1]);
        r = ctl_print_done(ctx, resp, line);
    }
    edge_pb_free(resp);
    ctl_args_done(&a);
    return r;
}

static void
print_test_result(const Edge__V1__TestRouteResponse *t)
{
    printf("status    %u\n", t->status);
    if (t->route) {
        const Edge__V1__Route *r = t->route;
        printf("route     %s  %s %s%s%s\n", r->id, r->method, r->path, r->host[0] ? "  host " : "",
               r->host);
        printf("params    ");
        for (size_t i = 0; i < t->n_params; i++)
            printf("%s%s=%s", i ? " " : "", t->params[i]->name, t->params[i]->value);
        printf("%s\n", t->n_params ? "" : "-");
        if (r->api_key_required)
            printf("auth      API key (%s %s)\n", r->api_key_in[0] ? r->api_key_in : "header",
                   r->api_key_name[0] ? r->api_key_name : "x-api-key");
        else if (r->n_auth_requirements)
            printf("auth      %s (recorded; enforced when authorizers land)\n",
                   r->auth_requirements[0]);
        else
            printf("auth      none\n");
        printf("upstream  %s\n", t->upstream_url[0] ? t->upstream_url : "-");
    }
    if (t->n_allow) {
        printf("allow     ");
        for (size_t i = 0; i < t->n_allow; i++)
            printf("%s%s", i ? ", " : "", t->allow[i]);
        printf("\n");
    }
    printf("reason    %s\n", t->reason);
}

static int
route_test(struct ctl_ctx *ctx, int argc, char **argv)
{
    static const struct ctl_opt test_opts[] = {
        {"stage", 0, CTL_OPT_ARG},
        {"header", 'H', CTL_OPT_ARG | CTL_OPT_MULTI},
        {NULL, 0, 0},
    };
    static const struct ctl_cmd cmd = {
        "route test",
        "Usage: edgectl route test API [--stage S] METHOD PATH [-H 'Name: value']...\n"
        "Explains which route would answer METHOD PATH (path relative to the stage base, may\n"
        "carry a query), with the data plane's own matcher; nothing is sent anywhere.\n"
        "  --stage S               match what stage S serves (default: the current routes)\n"
        "  -H, --header 'N: v'     a request header (Host, or one a route matches on)\n",
        test_opts, 3, 3};
    struct ctl_args a;
    int r = ctl_begin(ctx, &cmd, argc, argv, &a);
    if (r != CTL_EXIT_OK)
        return r;
    Edge__V1__TestRouteRequest req = EDGE__V1__TEST_ROUTE_REQUEST__INIT;
    req.api = a.pos[0];
    req.stage = (char *)(ctl_args_get(&a, "stage") ? ctl_args_get(&a, "stage") : "");
    char *method = strdup(a.pos[1]);
    for (char *p = method; p && *p; p++)
        *p = (char)toupper((unsigned char)*p);
    req.method = method;
    req.path = a.pos[2];
    size_t cursor = 0;
    const char *hv;
    while (r == CTL_EXIT_OK && (hv = ctl_args_next(&a, "header", &cursor))) {
        Edge__V1__HeaderMatch *h = NULL;
        if (ctl_parse_header(hv, &h) != 0) {
            r = ctl_usage_error(cmd.name, "--header: expected 'Name: value', got \"%s\"", hv);
            break;
        }
        edge_pb_append((void ***)&req.headers, &req.n_headers, h);
    }
    ProtobufCMessage *resp = NULL;
    if (r == CTL_EXIT_OK)
        r = ctl_call(ctx, "TestRoute", &req.base, &edge__v1__test_route_response__descriptor,
                     &resp);
    if (r == CTL_EXIT_OK) {
        if (ctx->output == CTL_OUTPUT_JSON)
            r = ctl_print_json_message(stdout, resp) == 0 ? CTL_EXIT_OK : CTL_EXIT_FAIL;
        else
            print_test_result((const Edge__V1__TestRouteResponse *)resp);
    }
    for (size_t i = 0; i < req.n_headers; i++)
        edge_pb_free(req.headers[i]);
    free(req.headers);
    free(method);
    edge_pb_free(resp);
    ctl_args_done(&a);
    return r;
}

int
ctl_cmd_route(struct ctl_ctx *ctx, int argc, char **argv)
{
    static const struct ctl_verb verbs[] = {
        {"create", route_create},
        {"list", route_list},
        {"get", route_get},
        {"update", route_update},
        {"delete", route_delete},
        {"test", route_test},
        {NULL, NULL},
    };
    return ctl_dispatch(ctx, "route", route_usage, verbs, argc, argv);
}
