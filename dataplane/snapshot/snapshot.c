#include "snapshot/snapshot.h"

#include "log.h"
#include "policy/compile.h"
#include "upstream/lb_hash.h"

#include <ctype.h>
#include <errno.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void
dp_registry_init(struct dp_registry *r)
{
    r->names = NULL;
    r->n = r->cap = 0;
}

void
dp_registry_done(struct dp_registry *r)
{
    for (size_t i = 0; i < r->n; i++)
        free(r->names[i]);
    free(r->names);
    dp_registry_init(r);
}

int
dp_registry_id(struct dp_registry *r, const char *name, uint32_t *ret_id)
{
    /* Linear: runs at compile time only, over at most a few thousand names. */
    for (size_t i = 0; i < r->n; i++) {
        if (strcmp(r->names[i], name) == 0) {
            *ret_id = (uint32_t)i;
            return 0;
        }
    }
    if (r->n == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 16;
        char **names = realloc(r->names, cap * sizeof(*names));
        if (!names)
            return -ENOMEM;
        r->names = names;
        r->cap = cap;
    }
    char *copy = strdup(name);
    if (!copy)
        return -ENOMEM;
    r->names[r->n] = copy;
    *ret_id = (uint32_t)r->n++;
    return 0;
}

void
dp_registries_policy_done(struct dp_registries *reg)
{
    if (reg->buckets) {
        dp_buckets_done(reg->buckets);
        free(reg->buckets);
        reg->buckets = NULL;
    }
    dp_keystore_free(reg->keystore);
    reg->keystore = NULL;
}

struct dp_snapshot *
dp_snapshot_ref(struct dp_snapshot *s)
{
    if (s)
        atomic_fetch_add_explicit(&s->refs, 1, memory_order_relaxed);
    return s;
}

static void
snapshot_free(struct dp_snapshot *s)
{
    for (size_t i = 0; i < s->n_deployments; i++)
        if (s->deployments[i].table)
            edge_route_table_free(s->deployments[i].table);
    for (size_t i = 0; i < s->n_stages; i++)
        for (size_t j = 0; j < s->stages[i].n_own; j++)
            edge_route_table_free(s->stages[i].own[j].table);
    dp_keyindex_unref(s->keys);
    struct dp_arena a = s->arena;
    dp_arena_done(&a);
}

struct dp_snapshot *
dp_snapshot_unref(struct dp_snapshot *s)
{
    if (s && atomic_fetch_sub_explicit(&s->refs, 1, memory_order_acq_rel) == 1)
        snapshot_free(s);
    return NULL;
}

static int
fail(char *err, size_t err_len, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, err_len, fmt, ap);
    va_end(ap);
    return -EINVAL;
}

#define ANEW(s, type, n) ((type *)dp_arena_alloc(&(s)->arena, sizeof(type) * ((n) ? (n) : 1)))

static const struct dp_upstream *
find_upstream(const struct dp_snapshot *s, const char *name)
{
    for (size_t i = 0; i < s->n_upstreams; i++)
        if (strcmp(s->upstreams[i].name, name) == 0)
            return &s->upstreams[i];
    return NULL;
}

static const struct dp_deployment *
find_deployment(const struct dp_snapshot *s, const char *id)
{
    for (size_t i = 0; i < s->n_deployments; i++)
        if (strcmp(s->deployments[i].id, id) == 0)
            return &s->deployments[i];
    return NULL;
}

static struct dp_stage *
find_stage(const struct dp_snapshot *s, const char *api, size_t api_len, const char *name,
           size_t name_len)
{
    for (size_t i = 0; i < s->n_stages; i++) {
        struct dp_stage *st = &s->stages[i];
        if (strlen(st->api) == api_len && memcmp(st->api, api, api_len) == 0 &&
            strlen(st->name) == name_len && memcmp(st->name, name, name_len) == 0)
            return st;
    }
    return NULL;
}

static int
compile_upstream(struct dp_snapshot *s, struct dp_registries *reg, const Edge__V1__Upstream *u,
                 struct dp_upstream *out, char *err, size_t err_len)
{
    if (!u->name || !u->name[0])
        return fail(err, err_len, "upstream with an empty name");
    if (find_upstream(s, u->name))
        return fail(err, err_len, "upstream \"%s\" defined twice", u->name);
    out->name = dp_arena_strdup(&s->arena, u->name);
    out->targets = ANEW(s, struct dp_target, u->n_targets);
    if (!out->name || !out->targets)
        return -ENOMEM;
    int r = dp_registry_id(&reg->upstreams, u->name, &out->lb_id);
    if (r < 0)
        return r;
    out->connect_timeout_ms = u->connect_timeout_ms ? u->connect_timeout_ms : 2000;
    out->timeout_ms = u->timeout_ms ? u->timeout_ms : 30000;
    out->retries = u->retries > 10 ? 10 : u->retries;
    out->pool_size = u->pool_size ? u->pool_size : 64;
    out->tls = u->tls;
    out->lb = u->lb == EDGE__V1__LB_POLICY__LB_POLICY_LEAST_REQUEST     ? DP_LB_P2C
              : u->lb == EDGE__V1__LB_POLICY__LB_POLICY_RANDOM          ? DP_LB_RANDOM
              : u->lb == EDGE__V1__LB_POLICY__LB_POLICY_CONSISTENT_HASH ? DP_LB_HASH
                                                                        : DP_LB_RR;
    for (size_t i = 0; i < u->n_targets; i++) {
        const Edge__V1__Target *t = u->targets[i];
        struct dp_target *dt = &out->targets[i];
        if (!t->host || !t->host[0])
            return fail(err, err_len, "upstream \"%s\": target %zu has no host", u->name, i);
        if (t->port == 0 || t->port > 65535)
            return fail(err, err_len, "upstream \"%s\": target %s has invalid port %u", u->name,
                        t->host, t->port);
        if (t->weight > 1000)
            return fail(err, err_len, "upstream \"%s\": target %s weight %u above 1000", u->name,
                        t->host, t->weight);
        char auth[300];
        const char *fmt = strchr(t->host, ':') ? "[%s]:%u" : "%s:%u";
        snprintf(auth, sizeof(auth), fmt, t->host, t->port);
        dt->host = dp_arena_strdup(&s->arena, t->host);
        dt->authority = dp_arena_strdup(&s->arena, auth);
        if (!dt->host || !dt->authority)
            return -ENOMEM;
        dt->port = (uint16_t)t->port;
        dt->weight = t->weight ? t->weight : 1;
        r = dp_registry_id(&reg->targets, auth, &dt->pool_id);
        if (r < 0)
            return r;
        struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV};
        struct addrinfo *ai = NULL;
        char port[8];
        snprintf(port, sizeof(port), "%u", t->port);
        if (getaddrinfo(t->host, port, &hints, &ai) == 0 && ai) {
            memcpy(&dt->addr, ai->ai_addr, ai->ai_addrlen);
            dt->addr_len = ai->ai_addrlen;
            dt->resolved = true;
        }
        if (ai)
            freeaddrinfo(ai);
    }
    out->n_targets = u->n_targets;
    return out->lb == DP_LB_HASH ? dp_lb_hash_build(out, &s->arena) : 0;
}

/* Every {name} of the integration path must be a parameter of the route path. */
static int
check_int_path(const char *route_path, const char *int_path, char *err, size_t err_len)
{
    for (const char *p = strchr(int_path, '{'); p; p = strchr(p + 1, '{')) {
        const char *e = strchr(p, '}');
        if (!e)
            return fail(err, err_len, "integration path \"%s\": unclosed '{'", int_path);
        size_t n = (size_t)(e - p - 1);
        if (n && p[n] == '+')
            n--;
        bool found = false;
        for (const char *q = strchr(route_path, '{'); q && !found; q = strchr(q + 1, '{')) {
            if (strncmp(q + 1, p + 1, n) == 0 && (q[1 + n] == '}' || q[1 + n] == '+'))
                found = true;
        }
        if (!found || n == 0)
            return fail(err, err_len,
                        "integration path \"%s\" uses {%.*s}, not a parameter of \"%s\"", int_path,
                        (int)n, p + 1, route_path);
    }
    return 0;
}

/* The integration path with the stage's variables in; NULL (and r->error set) when one is
 * undefined or leaves a path that is not valid. */
static const char *
route_int_path(struct dp_snapshot *s, const Edge__V1__Stage *stage, const char *route_path,
               const char *ipath, char *buf, size_t buf_len, struct dp_route *r)
{
    char msg[256], cerr[200];
    const char *name;
    size_t name_len;

    if (!dp_release_uses_vars(ipath))
        return ipath;
    int e = dp_release_expand(ipath, stage, buf, buf_len, &name, &name_len);
    if (e == -ENOENT)
        snprintf(msg, sizeof(msg), "stage variable \"%.*s\" is not defined in stage %s/%s",
                 (int)(name_len > 64 ? 64 : name_len), name, stage ? stage->api : "?",
                 stage ? stage->name : "?");
    else if (e < 0)
        snprintf(msg, sizeof(msg), "integration path too long once stage variables are in");
    else if (check_int_path(route_path, buf, cerr, sizeof(cerr)) < 0)
        snprintf(msg, sizeof(msg), "stage variables make a bad integration path: %s", cerr);
    else
        return buf;
    if (!r->error) /* the upstream's error, when there is one, is the one to report */
        r->error = dp_arena_strdup(&s->arena, msg);
    return NULL;
}

/* The implicit upstream for host:port, made the first time a route of this snapshot uses it.
 * NULL with *ret_err (-ENOMEM, or -EINVAL when the target does not compile). */
static const struct dp_upstream *
implicit_upstream(struct dp_snapshot *s, struct dp_registries *reg, const char *host, uint16_t port,
                  int *ret_err)
{
    char name[300], cerr[200];
    /* '=' never starts an upstream name: the LB state of the two cannot mix. */
    (void)snprintf(name, sizeof(name), strchr(host, ':') ? "=[%s]:%u" : "=%s:%u", host, port);
    for (struct dp_implicit_upstream *i = s->implicit; i; i = i->next)
        if (strcmp(i->up.name, name) == 0)
            return &i->up;
    struct dp_implicit_upstream *iu = ANEW(s, struct dp_implicit_upstream, 1);
    if (!iu) {
        *ret_err = -ENOMEM;
        return NULL;
    }
    Edge__V1__Target t = EDGE__V1__TARGET__INIT, *tp = &t;
    t.host = (char *)host;
    t.port = port;
    t.weight = 1;
    Edge__V1__Upstream u = EDGE__V1__UPSTREAM__INIT;
    u.name = name;
    u.targets = &tp;
    u.n_targets = 1;
    int e = compile_upstream(s, reg, &u, &iu->up, cerr, sizeof(cerr));
    if (e < 0) {
        *ret_err = e;
        return NULL;
    }
    iu->next = s->implicit;
    s->implicit = iu;
    return &iu->up;
}

/* A route whose upstream is "${stageVariables.NAME}": the upstream the stage's value names,
 * or the implicit upstream of the literal target it gives. NULL with r->error set when the
 * variable is undefined or its value is neither (the route answers 500); NULL without
 * (-ENOMEM in *ret_err) when out of memory. */
static const struct dp_upstream *
route_var_upstream(struct dp_snapshot *s, struct dp_registries *reg, const Edge__V1__Stage *stage,
                   const char *name, size_t name_len, struct dp_route *r, int *ret_err)
{
    char msg[320], host[256];
    uint16_t port;
    int n = (int)(name_len > 64 ? 64 : name_len);
    const char *sa = stage ? stage->api : "?", *sn = stage ? stage->name : "?";

    *ret_err = 0;
    const char *value = dp_release_var(stage, name, name_len);
    if (!value) {
        (void)snprintf(msg, sizeof(msg),
                       "stage variable \"%.*s\" (the route's upstream) is not defined in stage "
                       "%s/%s",
                       n, name, sa, sn);
    } else {
        const struct dp_upstream *u = find_upstream(s, value);
        if (u)
            return u;
        if (edge_route_parse_target(value, host, sizeof(host), &port) == 0) {
            int e = 0;
            u = implicit_upstream(s, reg, host, port, &e);
            if (u)
                return u;
            if (e != -EINVAL) {
                *ret_err = e;
                return NULL;
            }
        }
        /* The value is not shown: the message goes to clients, the value may be internal. */
        (void)snprintf(msg, sizeof(msg),
                       "stage variable \"%.*s\" of stage %s/%s names no upstream and is not "
                       "host:port or http://host[:port]",
                       n, name, sa, sn);
    }
    if (!(r->error = dp_arena_strdup(&s->arena, msg)))
        *ret_err = -ENOMEM;
    return NULL;
}

static int
compile_route(struct dp_snapshot *s, struct dp_registries *reg, const Edge__V1__Route *rt,
              const Edge__V1__Stage *stage, const char *deployment_id, struct edge_route_builder *b,
              char *err, size_t err_len)
{
    char ipath_buf[4096];
    struct dp_route *r = ANEW(s, struct dp_route, 1);
    if (!r)
        return -ENOMEM;
    r->deployment_id = deployment_id;
    const char *method = rt->method && rt->method[0] ? rt->method : "ANY";
    const char *path = rt->path ? rt->path : "";
    if (!rt->integration || !rt->integration->upstream || !rt->integration->upstream[0])
        return fail(err, err_len, "route %s %s: no integration upstream", method, path);
    const char *var;
    size_t var_len;
    if (dp_release_upstream_var(rt->integration->upstream, &var, &var_len)) {
        int e;
        r->upstream = route_var_upstream(s, reg, stage, var, var_len, r, &e);
        if (e < 0)
            return e;
    } else {
        r->upstream = find_upstream(s, rt->integration->upstream);
        if (!r->upstream)
            return fail(err, err_len, "route %s %s: unknown upstream \"%s\"", method, path,
                        rt->integration->upstream);
    }
    if (rt->integration->path && rt->integration->path[0]) {
        if (rt->integration->path[0] != '/')
            return fail(err, err_len, "route %s %s: integration path must start with '/'", method,
                        path);
        const char *ipath =
            route_int_path(s, stage, path, rt->integration->path, ipath_buf, sizeof(ipath_buf), r);
        int e = ipath ? check_int_path(path, ipath, err, err_len) : 0;
        if (e < 0)
            return e;
        if (ipath && !(r->int_path = dp_arena_strdup(&s->arena, ipath)))
            return -ENOMEM;
        if (!ipath && !r->error)
            return -ENOMEM;
    }
    r->timeout_ms = rt->integration->timeout_ms ? rt->integration->timeout_ms
                    : r->upstream               ? r->upstream->timeout_ms
                                                : 30000;
    r->id = dp_arena_strdup(&s->arena, rt->id);
    r->api = dp_arena_strdup(&s->arena, rt->api);
    r->method = dp_arena_strdup(&s->arena, method);
    r->path = dp_arena_strdup(&s->arena, path);
    if (rt->host && rt->host[0]) {
        char *h = dp_arena_strdup(&s->arena, rt->host);
        if (!h)
            return -ENOMEM;
        for (char *c = h; *c; c++)
            *c = (char)tolower((unsigned char)*c);
        r->host = h;
    }
    r->max_body_bytes = rt->max_body_bytes;
    r->headers = ANEW(s, struct dp_header_match, rt->n_headers);
    if (!r->id || !r->api || !r->method || !r->path || !r->headers)
        return -ENOMEM;
    for (size_t i = 0; i < rt->n_headers; i++) {
        struct dp_header_match *h = &r->headers[i];
        h->name = dp_arena_strdup(&s->arena, rt->headers[i]->name);
        h->value = dp_arena_strdup(&s->arena, rt->headers[i]->value);
        if (!h->name || !h->value)
            return -ENOMEM;
        h->name_len = strlen(h->name);
        h->value_len = strlen(h->value);
    }
    r->n_headers = rt->n_headers;
    int pe = dp_policy_compile_route(s, rt, r, err, err_len);
    if (pe < 0)
        return pe;
    char label[600];
    if (r->id[0])
        snprintf(label, sizeof(label), "%s", r->id);
    else
        snprintf(label, sizeof(label), "%s %s %s", r->api, r->method, r->path);
    int e = dp_registry_id(&reg->routes, label, &r->stat_id);
    if (e < 0)
        return e;
    char rerr[200] = "";
    e = edge_route_builder_add(b, method, path, r, rerr, sizeof(rerr));
    if (e == -EEXIST)
        return fail(err, err_len, "route %s %s: defined twice", method, path);
    if (e < 0)
        return fail(err, err_len, "route %s %s: %s", method, path, rerr);
    s->n_routes++;
    return 0;
}

/* stage NULL: the shared compile; otherwise that stage's own copy, its variables substituted. */
static int
compile_deployment(struct dp_snapshot *s, struct dp_registries *reg, const Edge__V1__Deployment *d,
                   const Edge__V1__Stage *stage, struct dp_deployment *out, char *err,
                   size_t err_len)
{
    if (!d->id || !d->id[0])
        return fail(err, err_len, "deployment with an empty id");
    if (!stage && find_deployment(s, d->id))
        return fail(err, err_len, "deployment %s defined twice", d->id);
    out->id = dp_arena_strdup(&s->arena, d->id);
    if (!out->id)
        return -ENOMEM;
    struct edge_route_builder *b = edge_route_builder_new();
    if (!b)
        return -ENOMEM;
    for (size_t i = 0; i < d->n_routes; i++) {
        int e = compile_route(s, reg, d->routes[i], stage, out->id, b, err, err_len);
        if (e < 0) {
            if (e == -EINVAL) {
                char tmp[512];
                snprintf(tmp, sizeof(tmp), "deployment %s: %s", d->id, err);
                snprintf(err, err_len, "%s", tmp);
            }
            edge_route_builder_free(b);
            return e;
        }
    }
    out->table = edge_route_builder_finish(b);
    return out->table ? 0 : -ENOMEM;
}

static const Edge__V1__Deployment *
find_deployment_pb(const Edge__V1__ConfigUpdate *cfg, const char *id)
{
    for (size_t i = 0; i < cfg->n_put; i++) {
        const Edge__V1__Resource *res = cfg->put[i];
        if (res->body_case == EDGE__V1__RESOURCE__BODY_DEPLOYMENT && res->deployment->id &&
            strcmp(res->deployment->id, id) == 0)
            return res->deployment;
    }
    return NULL;
}

/* *dep (a shared compile) replaced by the stage's own compile when its routes use stage
 * variables. */
static int
stage_own_copy(struct dp_snapshot *s, struct dp_registries *reg, const Edge__V1__ConfigUpdate *cfg,
               const Edge__V1__Stage *st, struct dp_stage *ds, const struct dp_deployment **dep,
               char *err, size_t err_len)
{
    const Edge__V1__Deployment *d = find_deployment_pb(cfg, (*dep)->id);
    bool uses = false;
    for (size_t i = 0; d && i < d->n_routes && !uses; i++)
        uses = d->routes[i]->integration &&
               (dp_release_uses_vars(d->routes[i]->integration->path) ||
                dp_release_uses_vars(d->routes[i]->integration->upstream));
    if (!uses)
        return 0;
    size_t n_routes = s->n_routes; /* /config counts each route once */
    int e = compile_deployment(s, reg, d, st, &ds->own[ds->n_own], err, err_len);
    s->n_routes = n_routes;
    if (e < 0)
        return e;
    *dep = &ds->own[ds->n_own++];
    return 0;
}

/* The stage's canary, and its own compiles where stage variables are used. */
static int
compile_stage_release(struct dp_snapshot *s, struct dp_registries *reg,
                      const Edge__V1__ConfigUpdate *cfg, const Edge__V1__Stage *st,
                      struct dp_stage *ds, char *err, size_t err_len)
{
    const Edge__V1__Canary *c = st->canary;
    if (c && c->deployment_id && c->deployment_id[0] && c->percent > 0) {
        ds->canary = find_deployment(s, c->deployment_id);
        if (!ds->canary)
            return fail(err, err_len, "stage %s/%s: unknown canary deployment %s", st->api,
                        st->name, c->deployment_id);
        double p = c->percent > 100 ? 100 : c->percent;
        ds->canary_per_10k = (uint32_t)(p * 100 + 0.5);
        ds->canary_sticky = c->sticky;
    }
    if (!ds->deployment && !ds->canary)
        return 0;
    ds->own = ANEW(s, struct dp_deployment, 2);
    if (!ds->own)
        return -ENOMEM;
    int e = 0;
    if (ds->deployment)
        e = stage_own_copy(s, reg, cfg, st, ds, &ds->deployment, err, err_len);
    if (e == 0 && ds->canary)
        e = stage_own_copy(s, reg, cfg, st, ds, &ds->canary, err, err_len);
    if (e < 0) {
        for (size_t i = 0; i < ds->n_own; i++)
            edge_route_table_free(ds->own[i].table);
        ds->n_own = 0;
    }
    return e;
}

static int
mapping_cmp(const void *pa, const void *pb)
{
    const struct dp_mapping *a = pa, *b = pb;
    if (a->kind != b->kind)
        return (int)a->kind - (int)b->kind;
    /* A longer wildcard suffix is more specific. */
    if (a->kind == DP_HOST_WILDCARD && a->host_len != b->host_len)
        return a->host_len > b->host_len ? -1 : 1;
    if (a->base_len != b->base_len)
        return a->base_len > b->base_len ? -1 : 1;
    return 0;
}

static int
compile_mapping(struct dp_snapshot *s, const Edge__V1__DomainMapping *m, struct dp_mapping *out,
                char *err, size_t err_len)
{
    const char *host = m->host ? m->host : "";
    const char *base = m->base_path ? m->base_path : "";
    if (!host[0])
        return fail(err, err_len, "domain mapping with an empty host");
    size_t blen = strlen(base);
    if (blen && (base[0] != '/' || base[blen - 1] == '/'))
        return fail(err, err_len,
                    "domain mapping %s%s: base path must start with '/' and not end with one", host,
                    base);
    struct dp_stage *st = find_stage(s, m->api ? m->api : "", m->api ? strlen(m->api) : 0,
                                     m->stage ? m->stage : "", m->stage ? strlen(m->stage) : 0);
    if (!st)
        return fail(err, err_len, "domain mapping %s%s: unknown stage %s/%s", host, base,
                    m->api ? m->api : "", m->stage ? m->stage : "");
    st->mapped = true;
    const char *h = host;
    if (strcmp(host, "*") == 0) {
        out->kind = DP_HOST_ANY;
        h = "";
    } else if (host[0] == '*' && host[1] == '.' && host[2]) {
        out->kind = DP_HOST_WILDCARD;
        h = host + 1;
    } else {
        out->kind = DP_HOST_EXACT;
        if (strchr(host, '*'))
            return fail(err, err_len, "domain mapping %s: '*' only as \"*\" or \"*.suffix\"", host);
    }
    char *lh = dp_arena_strdup(&s->arena, h);
    out->base = dp_arena_strdup(&s->arena, base);
    if (!lh || !out->base)
        return -ENOMEM;
    for (char *c = lh; *c; c++)
        *c = (char)tolower((unsigned char)*c);
    out->host = lh;
    out->host_len = strlen(lh);
    out->base_len = blen;
    out->stage = st;
    for (size_t i = 0; i < s->n_mappings; i++) {
        const struct dp_mapping *o = &s->mappings[i];
        if (o->kind == out->kind && strcmp(o->host, out->host) == 0 &&
            strcmp(o->base, out->base) == 0)
            return fail(err, err_len, "domain mapping %s%s defined twice", host, base);
    }
    return 0;
}

static int
compile_all(struct dp_snapshot *s, const Edge__V1__ConfigUpdate *cfg, struct dp_registries *reg,
            char *err, size_t err_len)
{
    size_t n[8] = {0};
    for (size_t i = 0; i < cfg->n_put; i++) {
        const Edge__V1__Resource *res = cfg->put[i];
        if (res->type < 8)
            n[res->type]++;
    }
    s->upstreams = ANEW(s, struct dp_upstream, n[EDGE__V1__RESOURCE_TYPE__RESOURCE_TYPE_UPSTREAM]);
    s->deployments =
        ANEW(s, struct dp_deployment, n[EDGE__V1__RESOURCE_TYPE__RESOURCE_TYPE_DEPLOYMENT]);
    s->stages = ANEW(s, struct dp_stage, n[EDGE__V1__RESOURCE_TYPE__RESOURCE_TYPE_STAGE]);
    s->mappings = ANEW(s, struct dp_mapping, n[EDGE__V1__RESOURCE_TYPE__RESOURCE_TYPE_DOMAIN]);
    s->store_id = dp_arena_strdup(&s->arena, cfg->store_id);
    if (!s->upstreams || !s->deployments || !s->stages || !s->mappings || !s->store_id)
        return -ENOMEM;
    s->n_apis = n[EDGE__V1__RESOURCE_TYPE__RESOURCE_TYPE_API];
    /* Order matters: routes name upstreams, stages name deployments, mappings name stages. */
    for (size_t i = 0; i < cfg->n_put; i++) {
        const Edge__V1__Resource *res = cfg->put[i];
        if (res->body_case != EDGE__V1__RESOURCE__BODY_UPSTREAM)
            continue;
        int e =
            compile_upstream(s, reg, res->upstream, &s->upstreams[s->n_upstreams], err, err_len);
        if (e < 0)
            return e;
        s->n_upstreams++;
    }
    for (size_t i = 0; i < cfg->n_put; i++) {
        const Edge__V1__Resource *res = cfg->put[i];
        if (res->body_case != EDGE__V1__RESOURCE__BODY_DEPLOYMENT)
            continue;
        int e = compile_deployment(s, reg, res->deployment, NULL, &s->deployments[s->n_deployments],
                                   err, err_len);
        if (e < 0)
            return e;
        s->n_deployments++;
    }
    for (size_t i = 0; i < cfg->n_put; i++) {
        const Edge__V1__Resource *res = cfg->put[i];
        if (res->body_case != EDGE__V1__RESOURCE__BODY_STAGE)
            continue;
        const Edge__V1__Stage *st = res->stage;
        const char *api = st->api ? st->api : "", *name = st->name ? st->name : "";
        if (!api[0] || !name[0])
            return fail(err, err_len, "stage with an empty api or name");
        if (find_stage(s, api, strlen(api), name, strlen(name)))
            return fail(err, err_len, "stage %s/%s defined twice", api, name);
        struct dp_stage *ds = &s->stages[s->n_stages];
        if (st->deployment_id && st->deployment_id[0]) {
            ds->deployment = find_deployment(s, st->deployment_id);
            if (!ds->deployment)
                return fail(err, err_len, "stage %s/%s: unknown deployment %s", api, name,
                            st->deployment_id);
        }
        ds->api = dp_arena_strdup(&s->arena, api);
        ds->name = dp_arena_strdup(&s->arena, name);
        if (!ds->api || !ds->name)
            return -ENOMEM;
        int pe = dp_policy_compile_stage(s, st, ds, err, err_len);
        if (pe < 0)
            return pe;
        /* Last: from here the stage's own route tables are freed with the snapshot. */
        int re = compile_stage_release(s, reg, cfg, st, ds, err, err_len);
        if (re < 0)
            return re;
        s->n_stages++;
    }
    for (size_t i = 0; i < cfg->n_put; i++) {
        const Edge__V1__Resource *res = cfg->put[i];
        if (res->body_case != EDGE__V1__RESOURCE__BODY_DOMAIN)
            continue;
        int e = compile_mapping(s, res->domain, &s->mappings[s->n_mappings], err, err_len);
        if (e < 0)
            return e;
        s->n_mappings++;
    }
    qsort(s->mappings, s->n_mappings, sizeof(*s->mappings), mapping_cmp);
    int pe = dp_policy_compile(s, cfg, reg, err, err_len); /* plans name stages; keys, plans */
    if (pe < 0)
        return pe;
    s->n_pool_ids = (uint32_t)reg->targets.n;
    s->n_lb_ids = (uint32_t)reg->upstreams.n;
    s->n_stat_ids = (uint32_t)reg->routes.n;
    return 0;
}

int
dp_snapshot_compile(const Edge__V1__ConfigUpdate *cfg, struct dp_registries *reg,
                    struct dp_snapshot **ret, char *err, size_t err_len)
{
    return dp_snapshot_compile_keys(cfg, NULL, reg, ret, err, err_len);
}

int
dp_snapshot_compile_keys(const Edge__V1__ConfigUpdate *cfg, const struct dp_key_changes *keys,
                         struct dp_registries *reg, struct dp_snapshot **ret, char *err,
                         size_t err_len)
{
    struct dp_arena a;
    dp_arena_init(&a);
    struct dp_snapshot *s = dp_arena_alloc(&a, sizeof(*s));
    if (!s)
        return -ENOMEM;
    s->arena = a;
    atomic_init(&s->refs, 1);
    s->revision = cfg->revision;
    int e = compile_all(s, cfg, reg, err, err_len);
    if (e < 0) {
        if (e == -ENOMEM)
            snprintf(err, err_len, "out of memory compiling the snapshot");
        snapshot_free(s);
        return e;
    }
    int refused = dp_policy_apply_keys(s, cfg, keys, reg);
    if (refused > 0)
        edge_log_warn("revision %llu: %d API keys refused (no usable secret hash, or a secret "
                      "another key has)",
                      (unsigned long long)cfg->revision, refused);
    *ret = s;
    return 0;
}

static bool
base_matches(const struct dp_mapping *m, const char *path, size_t path_len)
{
    if (m->base_len == 0)
        return true;
    if (path_len < m->base_len || memcmp(path, m->base, m->base_len) != 0)
        return false;
    return path_len == m->base_len || path[m->base_len] == '/';
}

int
dp_snapshot_resolve(const struct dp_snapshot *s, const char *host, size_t host_len,
                    const char *path, size_t path_len, struct dp_resolved *ret)
{
    for (size_t i = 0; i < s->n_mappings; i++) {
        const struct dp_mapping *m = &s->mappings[i];
        bool host_ok;
        if (m->kind == DP_HOST_EXACT)
            host_ok = host_len == m->host_len && memcmp(host, m->host, host_len) == 0;
        else if (m->kind == DP_HOST_WILDCARD)
            host_ok = host_len > m->host_len &&
                      memcmp(host + host_len - m->host_len, m->host, m->host_len) == 0;
        else
            host_ok = true;
        if (host_ok && base_matches(m, path, path_len)) {
            ret->stage = m->stage;
            ret->rest_off = m->base_len;
            return 0;
        }
    }
    /* /{api}/{stage}/rest */
    if (path_len < 2 || path[0] != '/')
        return -ENOENT;
    const char *a = path + 1, *end = path + path_len;
    const char *a_end = memchr(a, '/', (size_t)(end - a));
    if (!a_end)
        return -ENOENT;
    const char *st = a_end + 1;
    const char *st_end = memchr(st, '/', (size_t)(end - st));
    if (!st_end)
        st_end = end;
    const struct dp_stage *stage = find_stage(s, a, (size_t)(a_end - a), st, (size_t)(st_end - st));
    if (!stage || stage->mapped)
        return -ENOENT;
    ret->stage = stage;
    ret->rest_off = (size_t)(st_end - path);
    return 0;
}
