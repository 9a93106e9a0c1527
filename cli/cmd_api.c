/* edgectl api create|list|get|update|delete */
#include "ctl.h"
#include "edge/v1/admin.pb-c.h"
#include "pb.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char api_usage[] =
    "Usage: edgectl api create NAME [--description D]\n"
    "       edgectl api list\n"
    "       edgectl api get NAME\n"
    "       edgectl api update NAME --description D\n"
    "       edgectl api delete NAME\n"
    "       edgectl api import FILE [--name N] [--mode create|overwrite|merge]\n"
    "                          [--upstream U] [--dry-run]\n"
    "       edgectl api export NAME [--stage S] [-o yaml|json]\n";

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

/* ---- import / export ---------------------------------------------------------------------- */

/* Reads a whole file ("-": stdin) into a malloc'ed buffer. 0 or a negative errno. */
static int
read_all(const char *path, char **ret_buf, size_t *ret_len)
{
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    size_t cap = 1 << 16, len = 0;
    char *buf;

    if (!f)
        return -errno;
    buf = malloc(cap);
    while (buf) {
        size_t n = fread(buf + len, 1, cap - len, f);
        len += n;
        if (len < cap) {
            if (ferror(f)) {
                free(buf);
                buf = NULL;
            }
            break;
        }
        char *nb = cap > (256u << 20) ? NULL : realloc(buf, cap * 2);
        if (!nb) {
            free(buf);
            buf = NULL;
            break;
        }
        buf = nb;
        cap *= 2;
    }
    int err = buf ? 0 : (ferror(f) ? -EIO : -ENOMEM);
    if (f != stdin)
        fclose(f);
    if (err < 0)
        return err;
    *ret_buf = buf;
    *ret_len = len;
    return 0;
}

static const struct ctl_opt import_opts[] = {{"name", 0, CTL_OPT_ARG},
                                             {"mode", 0, CTL_OPT_ARG},
                                             {"upstream", 0, CTL_OPT_ARG},
                                             {"dry-run", 0, 0},
                                             {NULL, 0, 0}};

static int
api_import(struct ctl_ctx *ctx, int argc, char **argv)
{
    static const struct ctl_cmd cmd = {
        "api import",
        "Usage: edgectl api import FILE [--name N] [--mode create|overwrite|merge]\n"
        "                          [--upstream U] [--dry-run]\n"
        "Imports an OpenAPI 3.0/3.1 or Swagger 2.0 document (JSON or YAML; FILE - reads\n"
        "stdin) as an API: every operation becomes a route. --mode create (default) needs a\n"
        "new API, overwrite makes the routes exactly the document's, merge adds or replaces\n"
        "by method and path. --dry-run prints the plan and writes nothing.\n",
        import_opts, 1, 1};
    static const char *const headers[] = {"ACTION", "METHOD", "PATH", "UPSTREAM", "DETAIL", NULL};
    struct ctl_args a;
    int r = ctl_begin(ctx, &cmd, argc, argv, &a);
    if (r != CTL_EXIT_OK)
        return r;
    Edge__V1__ImportApiRequest req = EDGE__V1__IMPORT_API_REQUEST__INIT;
    const char *mode = ctl_args_get(&a, "mode");
    if (mode && strcmp(mode, "create") == 0) {
        req.mode = EDGE__V1__IMPORT_MODE__IMPORT_MODE_CREATE;
    } else if (mode && strcmp(mode, "overwrite") == 0) {
        req.mode = EDGE__V1__IMPORT_MODE__IMPORT_MODE_OVERWRITE;
    } else if (mode && strcmp(mode, "merge") == 0) {
        req.mode = EDGE__V1__IMPORT_MODE__IMPORT_MODE_MERGE;
    } else if (mode) {
        ctl_args_done(&a);
        return ctl_usage_error(cmd.name, "--mode: must be create, overwrite or merge");
    }
    char *doc = NULL;
    size_t len = 0;
    int e = read_all(a.pos[0], &doc, &len);
    if (e < 0) {
        fprintf(stderr, "edgectl: %s: %s\n", a.pos[0], strerror(-e));
        ctl_args_done(&a);
        return CTL_EXIT_FAIL;
    }
    req.document.data = (uint8_t *)doc;
    req.document.len = len;
    req.filename = strcmp(a.pos[0], "-") == 0 ? "stdin" : a.pos[0];
    if (ctl_args_get(&a, "name"))
        req.name = (char *)ctl_args_get(&a, "name");
    if (ctl_args_get(&a, "upstream"))
        req.upstream = (char *)ctl_args_get(&a, "upstream");
    req.dry_run = ctl_args_has(&a, "dry-run");
    ProtobufCMessage *resp = NULL;
    r = ctl_call(ctx, "ImportApi", &req.base, &edge__v1__import_api_response__descriptor, &resp);
    free(doc);
    if (r == CTL_EXIT_OK) {
        Edge__V1__ImportApiResponse *ir = (Edge__V1__ImportApiResponse *)resp;
        if (ctx->output == CTL_OUTPUT_JSON) {
            if (ctl_print_json_message(stdout, resp) < 0)
                r = CTL_EXIT_FAIL;
        } else {
            size_t counts[4] = {0};
            static const char *const actions[] = {"add", "change", "remove", "keep"};
            struct ctl_table *t = ctl_table_new(headers);
            for (size_t i = 0; i < ir->n_changes; i++) {
                const Edge__V1__RouteChange *c = ir->changes[i];
                for (size_t k = 0; k < 4; k++)
                    counts[k] += strcmp(c->action, actions[k]) == 0;
                if (!ir->dry_run && strcmp(c->action, "keep") == 0)
                    continue;
                ctl_table_cell(t, c->action);
                ctl_table_cell(t, c->route ? c->route->method : "");
                ctl_table_cell(t, c->route ? c->route->path : "");
                ctl_table_cell(
                    t, c->route && c->route->integration ? c->route->integration->upstream : "");
                ctl_table_cell(t, c->detail);
            }
            if (ir->dry_run)
                ctl_table_print(t, stdout);
            ctl_table_free(t);
            for (size_t i = 0; i < ir->n_upstreams; i++)
                printf("upstream %s (%s:%u%s)\n", ir->upstreams[i]->name,
                       ir->upstreams[i]->n_targets ? ir->upstreams[i]->targets[0]->host : "-",
                       ir->upstreams[i]->n_targets ? ir->upstreams[i]->targets[0]->port : 0,
                       ir->upstreams[i]->tls ? ", tls" : "");
            for (size_t i = 0; i < ir->n_warnings; i++)
                fprintf(stderr, "warning: %s\n", ir->warnings[i]);
            printf("%s api %s: %zu added, %zu changed, %zu removed, %zu unchanged, %zu "
                   "warning(s)",
                   ir->dry_run ? "dry run:" : "imported", ir->api ? ir->api->name : "?", counts[0],
                   counts[1], counts[2], counts[3], ir->n_warnings);
            if (!ir->dry_run)
                printf(" (revision %llu)", (unsigned long long)ir->revision);
            printf("\n");
        }
    }
    edge_pb_free(resp);
    ctl_args_done(&a);
    return r;
}

static const struct ctl_opt export_opts[] = {
    {"stage", 0, CTL_OPT_ARG}, {"format", 0, CTL_OPT_ARG}, {NULL, 0, 0}};

static int
api_export(struct ctl_ctx *ctx, int argc, char **argv)
{
    static const struct ctl_cmd cmd = {
        "api export",
        "Usage: edgectl api export NAME [--stage S] [-o yaml|json] (or --format yaml|json)\n"
        "Prints the API's routes (or what stage S serves) as an OpenAPI 3.0 document, YAML by\n"
        "default; -o json also selects JSON.\n",
        export_opts, 1, 1};
    struct ctl_args a;
    int r = ctl_begin(ctx, &cmd, argc, argv, &a);
    if (r != CTL_EXIT_OK)
        return r;
    Edge__V1__ExportApiRequest req = EDGE__V1__EXPORT_API_REQUEST__INIT;
    req.name = a.pos[0];
    if (ctl_args_get(&a, "stage"))
        req.stage = (char *)ctl_args_get(&a, "stage");
    const char *fmt = ctl_args_get(&a, "format");
    if (!fmt)
        fmt = ctx->output == CTL_OUTPUT_JSON ? "json" : "yaml";
    if (strcmp(fmt, "yaml") != 0 && strcmp(fmt, "json") != 0) {
        ctl_args_done(&a);
        return ctl_usage_error(cmd.name, "--format: must be yaml or json");
    }
    req.format = (char *)fmt;
    ProtobufCMessage *resp = NULL;
    r = ctl_call(ctx, "ExportApi", &req.base, &edge__v1__export_api_response__descriptor, &resp);
    if (r == CTL_EXIT_OK) {
        Edge__V1__ExportApiResponse *er = (Edge__V1__ExportApiResponse *)resp;
        if (fwrite(er->document.data, 1, er->document.len, stdout) != er->document.len)
            r = CTL_EXIT_FAIL;
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
        {"update", api_update}, {"delete", api_delete}, {"import", api_import},
        {"export", api_export}, {NULL, NULL},
    };
    return ctl_dispatch(ctx, "api", api_usage, verbs, argc, argv);
}
