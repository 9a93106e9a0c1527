/* The whole configuration as one full ConfigUpdate, read in one transaction so that it is the
 * state of exactly one revision. */
#include "pb.h"
#include "store_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void
add_resource(Edge__V1__ConfigUpdate *u, Edge__V1__ResourceType type, const char *id,
             Edge__V1__Resource__BodyCase body, void *msg)
{
    Edge__V1__Resource *res = edge_pb_new(&edge__v1__resource__descriptor);

    res->type = type;
    res->id = edge_pb_strdup(id);
    res->body_case = body;
    switch (body) {
    case EDGE__V1__RESOURCE__BODY_API:
        res->api = msg;
        break;
    case EDGE__V1__RESOURCE__BODY_UPSTREAM:
        res->upstream = msg;
        break;
    case EDGE__V1__RESOURCE__BODY_DEPLOYMENT:
        res->deployment = msg;
        break;
    case EDGE__V1__RESOURCE__BODY_STAGE:
        res->stage = msg;
        break;
    case EDGE__V1__RESOURCE__BODY_DOMAIN:
        res->domain = msg;
        break;
    case EDGE__V1__RESOURCE__BODY_KEY:
        res->key = msg;
        break;
    case EDGE__V1__RESOURCE__BODY_PLAN:
        res->plan = msg;
        break;
    default:
        break;
    }
    edge_pb_append((void ***)&u->put, &u->n_put, res);
}

static int
resource_cmp(const void *a, const void *b)
{
    const Edge__V1__Resource *x = *(Edge__V1__Resource *const *)a;
    const Edge__V1__Resource *y = *(Edge__V1__Resource *const *)b;

    if (x->type != y->type)
        return x->type < y->type ? -1 : 1;
    return strcmp(x->id, y->id);
}

/* Runs a query of (integer row id or text id) in column 0 and collects column 0 as text and
 * integer; the loaders then run statements of their own. */
struct id_list {
    char **text;
    int64_t *num;
    size_t n;
};

static int
collect_ids(struct cp_store *st, const char *sql, struct id_list *ret, struct cp_store_err *err)
{
    sqlite3_stmt *s = cp_db_stmt(st, sql);
    int rc;

    memset(ret, 0, sizeof(*ret));
    if (!s)
        return cp_db_fail(st, err, "load config");
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        ret->text = edge_xrealloc(ret->text, (ret->n + 1) * sizeof(*ret->text));
        ret->num = edge_xrealloc(ret->num, (ret->n + 1) * sizeof(*ret->num));
        const unsigned char *t = sqlite3_column_text(s, 0);
        ret->text[ret->n] = strdup(t ? (const char *)t : "");
        ret->num[ret->n] = sqlite3_column_int64(s, 0);
        if (!ret->text[ret->n]) {
            fputs("out of memory\n", stderr);
            abort();
        }
        ret->n++;
    }
    cp_db_done(s);
    if (rc != SQLITE_DONE)
        return cp_db_fail(st, err, "load config");
    return 0;
}

static void
id_list_done(struct id_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->text[i]);
    free(l->text);
    free(l->num);
    memset(l, 0, sizeof(*l));
}

static int
load_all(struct cp_store *st, Edge__V1__ConfigUpdate *u, struct cp_store_err *err)
{
    struct id_list ids;
    char id[600];
    int r;

    Edge__V1__ListApisResponse *apis;
    if ((r = cp_store_api_list(st, &apis, err)) < 0)
        return r;
    for (size_t i = 0; i < apis->n_apis; i++) {
        add_resource(u, EDGE__V1__RESOURCE_TYPE__RESOURCE_TYPE_API, apis->apis[i]->name,
                     EDGE__V1__RESOURCE__BODY_API, apis->apis[i]);
        apis->apis[i] = NULL;
    }
    apis->n_apis = 0;
    edge_pb_free(apis);

    Edge__V1__ListUpstreamsResponse *ups;
    if ((r = cp_store_upstream_list(st, &ups, err)) < 0)
        return r;
    for (size_t i = 0; i < ups->n_upstreams; i++) {
        add_resource(u, EDGE__V1__RESOURCE_TYPE__RESOURCE_TYPE_UPSTREAM, ups->upstreams[i]->name,
                     EDGE__V1__RESOURCE__BODY_UPSTREAM, ups->upstreams[i]);
        ups->upstreams[i] = NULL;
    }
    ups->n_upstreams = 0;
    edge_pb_free(ups);

    /* Only what some stage serves: the rest is history for rollbacks. */
    r = collect_ids(st,
                    "SELECT id FROM deployments WHERE id IN"
                    " (SELECT deployment_id FROM stages UNION SELECT canary_deployment_id"
                    " FROM stages) ORDER BY id",
                    &ids, err);
    for (size_t i = 0; r == 0 && i < ids.n; i++) {
        Edge__V1__Deployment *d;
        r = cp_db_deployment_load(st, ids.text[i], true, &d, err);
        if (r == 0)
            add_resource(u, EDGE__V1__RESOURCE_TYPE__RESOURCE_TYPE_DEPLOYMENT, d->id,
                         EDGE__V1__RESOURCE__BODY_DEPLOYMENT, d);
    }
    id_list_done(&ids);
    if (r < 0)
        return r;

    r = collect_ids(st, "SELECT id FROM stages ORDER BY id", &ids, err);
    for (size_t i = 0; r == 0 && i < ids.n; i++) {
        Edge__V1__Stage *g;
        r = cp_db_stage_load(st, ids.num[i], &g, err);
        if (r == 0) {
            (void)snprintf(id, sizeof(id), "%s/%s", g->api, g->name);
            add_resource(u, EDGE__V1__RESOURCE_TYPE__RESOURCE_TYPE_STAGE, id,
                         EDGE__V1__RESOURCE__BODY_STAGE, g);
        }
    }
    id_list_done(&ids);
    if (r < 0)
        return r;

    Edge__V1__ListDomainMappingsResponse *doms;
    if ((r = cp_store_domain_list(st, &doms, err)) < 0)
        return r;
    for (size_t i = 0; i < doms->n_mappings; i++) {
        Edge__V1__DomainMapping *m = doms->mappings[i];
        (void)snprintf(id, sizeof(id), "%s %s", m->host, m->base_path);
        add_resource(u, EDGE__V1__RESOURCE_TYPE__RESOURCE_TYPE_DOMAIN, id,
                     EDGE__V1__RESOURCE__BODY_DOMAIN, m);
        doms->mappings[i] = NULL;
    }
    doms->n_mappings = 0;
    edge_pb_free(doms);

    r = collect_ids(st, "SELECT id FROM api_keys ORDER BY id", &ids, err);
    for (size_t i = 0; r == 0 && i < ids.n; i++) {
        Edge__V1__ApiKey *k;
        r = cp_db_key_load(st, ids.text[i], &k, err);
        if (r == 0)
            add_resource(u, EDGE__V1__RESOURCE_TYPE__RESOURCE_TYPE_KEY, k->id,
                         EDGE__V1__RESOURCE__BODY_KEY, k);
    }
    id_list_done(&ids);
    if (r < 0)
        return r;

    r = collect_ids(st, "SELECT id FROM usage_plans ORDER BY name", &ids, err);
    for (size_t i = 0; r == 0 && i < ids.n; i++) {
        Edge__V1__UsagePlan *p;
        r = cp_db_plan_load(st, ids.num[i], &p, err);
        if (r == 0)
            add_resource(u, EDGE__V1__RESOURCE_TYPE__RESOURCE_TYPE_PLAN, p->name,
                         EDGE__V1__RESOURCE__BODY_PLAN, p);
    }
    id_list_done(&ids);
    return r;
}

int
cp_store_load_config(struct cp_store *st, Edge__V1__ConfigUpdate **ret_update)
{
    struct cp_store_err err = {0};
    int64_t rev;
    int r = cp_db_read_begin(st, &err);

    if (r < 0)
        return r;
    Edge__V1__ConfigUpdate *u = edge_pb_new(&edge__v1__config_update__descriptor);
    sqlite3_stmt *s = cp_db_stmt(st, "SELECT revision FROM meta WHERE id = 1");
    if (!s)
        r = cp_db_fail(st, &err, "load config");
    else if ((r = cp_db_step_int(st, s, &rev, &err)) > 0)
        r = -EIO;
    if (r == 0)
        r = load_all(st, u, &err);
    cp_db_read_end(st);
    if (r < 0) {
        edge_pb_free(u);
        return r;
    }
    /* SQL sorted each type already; sorting again makes the contract independent of it. */
    if (u->n_put > 1)
        qsort(u->put, u->n_put, sizeof(*u->put), resource_cmp);
    u->revision = (uint64_t)rev;
    u->store_id = edge_pb_strdup(st->store_id);
    u->full = true;
    *ret_update = u;
    return 0;
}
