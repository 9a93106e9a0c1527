/* The configuration as Config Resources: all of it as one full ConfigUpdate, or one resource by
 * (type, id). Each is read in one transaction (the caller's when it has one open) so that it
 * is the state of exactly one revision. */
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
    /* cp_store_load_config_seq() reads the change sequence in the same transaction. */
    bool own_txn = sqlite3_get_autocommit(st->db) != 0;
    int r = own_txn ? cp_db_read_begin(st, &err) : 0;

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
    if (own_txn)
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

/* ---- one resource -------------------------------------------------------------------------- */

/* Splits "a<sep>b" at the first sep into a and b (each at most out_len - 1 bytes). */
static bool
split_id(const char *id, char sep, char *a, char *b, size_t out_len)
{
    const char *p = strchr(id, sep);

    if (!p || (size_t)(p - id) >= out_len || strlen(p + 1) >= out_len)
        return false;
    memcpy(a, id, (size_t)(p - id));
    a[p - id] = '\0';
    memcpy(b, p + 1, strlen(p + 1) + 1);
    return true;
}

/* The domain mapping (host, base_path), as cp_store_domain_list() returns it; 1 when none.
 * The columns are those of DOMAIN_COLUMNS in releases.c, in cp_db_domain_row()'s order. */
static int
load_domain(struct cp_store *st, const char *host, const char *base_path,
            Edge__V1__DomainMapping **ret_domain, struct cp_store_err *err)
{
    sqlite3_stmt *s = cp_db_stmt(st, "SELECT d.host, d.base_path, a.name, s.name, d.certificate,"
                                     " d.created_at FROM domain_mappings d"
                                     " JOIN stages s ON s.id = d.stage_id"
                                     " JOIN apis a ON a.id = s.api_id"
                                     " WHERE d.host = ? AND d.base_path = ?");
    int rc, r = 0;

    if (!s)
        return cp_db_fail(st, err, "load domain mapping");
    (void)cp_db_bind_text(s, 1, host);
    (void)cp_db_bind_text(s, 2, base_path);
    rc = sqlite3_step(s);
    if (rc == SQLITE_ROW)
        (void)cp_db_domain_row(s, ret_domain);
    else if (rc == SQLITE_DONE)
        r = 1;
    else
        r = cp_db_fail(st, err, "load domain mapping");
    cp_db_done(s);
    return r;
}

/* 0 when a stage serves deployment id (current or canary), 1 when none does: the same rule
 * as load_all()'s. */
static int
deployment_served(struct cp_store *st, const char *id, struct cp_store_err *err)
{
    sqlite3_stmt *s = cp_db_stmt(st, "SELECT 1 FROM stages WHERE deployment_id = ?1"
                                     " OR canary_deployment_id = ?1 LIMIT 1");
    int64_t one;

    if (!s)
        return cp_db_fail(st, err, "load deployment");
    (void)cp_db_bind_text(s, 1, id);
    return cp_db_step_int(st, s, &one, err);
}

static int
plan_row_id(struct cp_store *st, const char *name, int64_t *ret_id, struct cp_store_err *err)
{
    sqlite3_stmt *s = cp_db_stmt(st, "SELECT id FROM usage_plans WHERE name = ?");

    if (!s)
        return cp_db_fail(st, err, "load plan");
    (void)cp_db_bind_text(s, 1, name);
    return cp_db_step_int(st, s, ret_id, err);
}

/* The loaders say -ENOENT for what is gone; that is an answer here, not a failure. */
static int
gone(int r)
{
    return r == -ENOENT ? 1 : r;
}

static int
load_one(struct cp_store *st, Edge__V1__ResourceType type, const char *id,
         Edge__V1__ConfigUpdate *u, struct cp_store_err *err)
{
    char a[300], b[300];
    int64_t row;
    int r;

    switch (type) {
    case EDGE__V1__RESOURCE_TYPE__RESOURCE_TYPE_API: {
        Edge__V1__Api *api;
        if ((r = gone(cp_store_api_get(st, id, &api, err))) == 0)
            add_resource(u, type, api->name, EDGE__V1__RESOURCE__BODY_API, api);
        return r;
    }
    case EDGE__V1__RESOURCE_TYPE__RESOURCE_TYPE_UPSTREAM: {
        Edge__V1__Upstream *up;
        if ((r = gone(cp_db_upstream_id(st, id, &row, err))) != 0)
            return r;
        if ((r = gone(cp_db_upstream_load(st, row, &up, err))) == 0)
            add_resource(u, type, up->name, EDGE__V1__RESOURCE__BODY_UPSTREAM, up);
        return r;
    }
    case EDGE__V1__RESOURCE_TYPE__RESOURCE_TYPE_DEPLOYMENT: {
        Edge__V1__Deployment *d;
        if ((r = deployment_served(st, id, err)) != 0)
            return r;
        if ((r = gone(cp_db_deployment_load(st, id, true, &d, err))) == 0)
            add_resource(u, type, d->id, EDGE__V1__RESOURCE__BODY_DEPLOYMENT, d);
        return r;
    }
    case EDGE__V1__RESOURCE_TYPE__RESOURCE_TYPE_STAGE: {
        Edge__V1__Stage *g;
        if (!split_id(id, '/', a, b, sizeof(a)))
            return 1;
        if ((r = gone(cp_db_stage_id(st, a, b, &row, err))) != 0)
            return r;
        if ((r = gone(cp_db_stage_load(st, row, &g, err))) == 0) {
            (void)snprintf(a, sizeof(a), "%s/%s", g->api, g->name);
            add_resource(u, type, a, EDGE__V1__RESOURCE__BODY_STAGE, g);
        }
        return r;
    }
    case EDGE__V1__RESOURCE_TYPE__RESOURCE_TYPE_DOMAIN: {
        Edge__V1__DomainMapping *m;
        if (!split_id(id, ' ', a, b, sizeof(a)))
            return 1;
        if ((r = load_domain(st, a, b, &m, err)) == 0) {
            (void)snprintf(a, sizeof(a), "%s %s", m->host, m->base_path);
            add_resource(u, type, a, EDGE__V1__RESOURCE__BODY_DOMAIN, m);
        }
        return r;
    }
    case EDGE__V1__RESOURCE_TYPE__RESOURCE_TYPE_KEY: {
        Edge__V1__ApiKey *k;
        if ((r = gone(cp_db_key_load(st, id, &k, err))) == 0)
            add_resource(u, type, k->id, EDGE__V1__RESOURCE__BODY_KEY, k);
        return r;
    }
    case EDGE__V1__RESOURCE_TYPE__RESOURCE_TYPE_PLAN: {
        Edge__V1__UsagePlan *p;
        if ((r = gone(plan_row_id(st, id, &row, err))) != 0)
            return r;
        if ((r = gone(cp_db_plan_load(st, row, &p, err))) == 0)
            add_resource(u, type, p->name, EDGE__V1__RESOURCE__BODY_PLAN, p);
        return r;
    }
    default:
        return 1;
    }
}

int
cp_store_resource_load(struct cp_store *st, Edge__V1__ResourceType type, const char *id,
                       Edge__V1__Resource **ret_resource)
{
    struct cp_store_err err = {0};
    Edge__V1__ConfigUpdate holder = EDGE__V1__CONFIG_UPDATE__INIT;
    bool own_txn = sqlite3_get_autocommit(st->db) != 0;
    int r = own_txn ? cp_db_read_begin(st, &err) : 0;

    if (r < 0)
        return r;
    r = load_one(st, type, id, &holder, &err);
    if (own_txn)
        cp_db_read_end(st);
    if (r == 0 && holder.n_put == 1 && strcmp(holder.put[0]->id, id) == 0) {
        *ret_resource = holder.put[0];
    } else {
        /* An id that names the resource in another spelling is not that resource. */
        for (size_t i = 0; i < holder.n_put; i++)
            edge_pb_free(holder.put[i]);
        if (r == 0)
            r = 1;
    }
    free(holder.put);
    return r;
}
