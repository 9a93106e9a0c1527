#include "admin/admin.h"

#include "core/daemon.h"

#include <errno.h>
#include <jansson.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define ADMIN_REQ_BYTES 4096

struct dp_admin {
    struct dp_daemon *d;
    int fd;
    ev_io accept_w;
    struct admin_conn *conns;
};

struct admin_conn {
    struct dp_admin *a;
    int fd;
    ev_io io;
    ev_timer timer;
    char req[ADMIN_REQ_BYTES];
    size_t req_len;
    char *resp;
    size_t resp_len, resp_off;
    struct admin_conn *prev, *next;
};

/* A growing string for the response body. */
struct sb {
    char *p;
    size_t len, cap;
    bool failed;
};

static void __attribute__((format(printf, 2, 3))) sb_printf(struct sb *b, const char *fmt, ...)
{
    if (b->failed)
        return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(b->p ? b->p + b->len : NULL, b->p ? b->cap - b->len : 0, fmt, ap);
        va_end(ap);
        if (n < 0) {
            b->failed = true;
            return;
        }
        if (b->p && b->len + (size_t)n < b->cap) {
            b->len += (size_t)n;
            return;
        }
        size_t cap = b->cap ? b->cap * 2 : 4096;
        while (cap < b->len + (size_t)n + 1)
            cap *= 2;
        char *np = realloc(b->p, cap);
        if (!np) {
            b->failed = true;
            return;
        }
        b->p = np;
        b->cap = cap;
    }
}

static void
sb_label(struct sb *b, const char *s)
{
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            sb_printf(b, "\\%c", *s);
        else if (*s == '\n')
            sb_printf(b, "\\n");
        else
            sb_printf(b, "%c", *s);
    }
}

static const char *const class_names[6] = {"other", "1xx", "2xx", "3xx", "4xx", "5xx"};

char *
dp_admin_metrics(const struct dp_daemon *d, size_t *ret_len)
{
    struct sb b = {0};
    struct dp_worker_stats sum = {0};
    for (unsigned i = 0; i < d->n_workers; i++) {
        const struct dp_worker_stats *s = &d->workers[i].stats;
        for (int c = 0; c < 6; c++)
            sum.requests[c] += DP_STAT_GET(s->requests[c]);
        for (int k = 0; k < DP_LAT_BUCKETS; k++)
            sum.lat[k] += DP_STAT_GET(s->lat[k]);
        sum.lat_sum_us += DP_STAT_GET(s->lat_sum_us);
        sum.lat_count += DP_STAT_GET(s->lat_count);
        sum.active_conns += DP_STAT_GET(s->active_conns);
        sum.conns_total += DP_STAT_GET(s->conns_total);
        sum.up_connect_errors += DP_STAT_GET(s->up_connect_errors);
        sum.up_timeouts += DP_STAT_GET(s->up_timeouts);
        sum.up_invalid += DP_STAT_GET(s->up_invalid);
        sum.up_resets += DP_STAT_GET(s->up_resets);
        sum.up_reused += DP_STAT_GET(s->up_reused);
        sum.alloc_failures += DP_STAT_GET(s->alloc_failures);
    }
    sb_printf(&b, "# HELP edge_requests_total Requests answered, by route and status class.\n"
                  "# TYPE edge_requests_total counter\n");
    uint64_t routed[6] = {0};
    for (size_t id = 0; id < d->reg.routes.n; id++) {
        uint64_t by[6] = {0};
        for (unsigned i = 0; i < d->n_workers; i++) {
            struct dp_route_stat *chunk = atomic_load_explicit(
                &d->workers[i].rstats[id / DP_RSTAT_CHUNK], memory_order_acquire);
            if (chunk)
                for (int c = 0; c < 6; c++)
                    by[c] += DP_STAT_GET(chunk[id % DP_RSTAT_CHUNK].by_class[c]);
        }
        for (int c = 0; c < 6; c++) {
            if (!by[c])
                continue;
            routed[c] += by[c];
            sb_printf(&b, "edge_requests_total{route=\"");
            sb_label(&b, d->reg.routes.names[id]);
            sb_printf(&b, "\",code_class=\"%s\"} %llu\n", class_names[c],
                      (unsigned long long)by[c]);
        }
    }
    for (int c = 0; c < 6; c++) {
        uint64_t n = sum.requests[c] > routed[c] ? sum.requests[c] - routed[c] : 0;
        if (n || c == 2 || c == 4)
            sb_printf(&b, "edge_requests_total{route=\"\",code_class=\"%s\"} %llu\n",
                      class_names[c], (unsigned long long)n);
    }
    sb_printf(&b, "# HELP edge_request_duration_seconds Time from the first request byte to "
                  "the last response byte queued.\n"
                  "# TYPE edge_request_duration_seconds histogram\n");
    uint64_t cum = 0;
    for (int k = 0; k < DP_LAT_BUCKETS; k++) {
        cum += sum.lat[k];
        if (k == DP_LAT_BUCKETS - 1)
            sb_printf(&b, "edge_request_duration_seconds_bucket{le=\"+Inf\"} %llu\n",
                      (unsigned long long)cum);
        else
            sb_printf(&b, "edge_request_duration_seconds_bucket{le=\"%g\"} %llu\n",
                      dp_lat_bounds_s[k], (unsigned long long)cum);
    }
    sb_printf(&b, "edge_request_duration_seconds_sum %.6f\n", sum.lat_sum_us / 1e6);
    sb_printf(&b, "edge_request_duration_seconds_count %llu\n", (unsigned long long)sum.lat_count);
    sb_printf(&b,
              "# HELP edge_active_connections Open client connections.\n"
              "# TYPE edge_active_connections gauge\nedge_active_connections %lld\n"
              "# HELP edge_connections_total Client connections accepted.\n"
              "# TYPE edge_connections_total counter\nedge_connections_total %llu\n",
              (long long)sum.active_conns, (unsigned long long)sum.conns_total);
    sb_printf(&b,
              "# HELP edge_upstream_errors_total Upstream failures by kind.\n"
              "# TYPE edge_upstream_errors_total counter\n"
              "edge_upstream_errors_total{kind=\"connect\"} %llu\n"
              "edge_upstream_errors_total{kind=\"timeout\"} %llu\n"
              "edge_upstream_errors_total{kind=\"invalid_response\"} %llu\n"
              "edge_upstream_errors_total{kind=\"reset\"} %llu\n"
              "# HELP edge_upstream_reused_total Requests sent on a pooled keep-alive "
              "connection.\n# TYPE edge_upstream_reused_total counter\n"
              "edge_upstream_reused_total %llu\n",
              (unsigned long long)sum.up_connect_errors, (unsigned long long)sum.up_timeouts,
              (unsigned long long)sum.up_invalid, (unsigned long long)sum.up_resets,
              (unsigned long long)sum.up_reused);
    sb_printf(&b,
              "# HELP edge_snapshot_revision Revision of the configuration being served.\n"
              "# TYPE edge_snapshot_revision gauge\nedge_snapshot_revision %llu\n"
              "# TYPE edge_config_applied_total counter\nedge_config_applied_total %llu\n"
              "# TYPE edge_config_rejected_total counter\nedge_config_rejected_total %llu\n"
              "# TYPE edge_alloc_failures_total counter\nedge_alloc_failures_total %llu\n"
              "# TYPE edge_workers gauge\nedge_workers %u\n",
              (unsigned long long)(d->current ? d->current->revision : 0),
              (unsigned long long)d->applied, (unsigned long long)d->rejected,
              (unsigned long long)sum.alloc_failures, d->n_workers);
    if (b.failed) {
        free(b.p);
        return NULL;
    }
    *ret_len = b.len;
    return b.p;
}

static char *
config_json(const struct dp_daemon *d)
{
    const struct dp_snapshot *s = d->current;
    json_t *o = json_object();
    json_object_set_new(o, "loaded", json_boolean(s != NULL));
    json_object_set_new(o, "revision", json_integer(s ? (json_int_t)s->revision : 0));
    json_object_set_new(o, "store_id", json_string(s ? s->store_id : ""));
    json_object_set_new(o, "apis", json_integer(s ? (json_int_t)s->n_apis : 0));
    json_object_set_new(o, "routes", json_integer(s ? (json_int_t)s->n_routes : 0));
    json_object_set_new(o, "upstreams", json_integer(s ? (json_int_t)s->n_upstreams : 0));
    json_object_set_new(o, "deployments", json_integer(s ? (json_int_t)s->n_deployments : 0));
    json_object_set_new(o, "stages", json_integer(s ? (json_int_t)s->n_stages : 0));
    json_object_set_new(o, "domain_mappings", json_integer(s ? (json_int_t)s->n_mappings : 0));
    json_object_set_new(o, "workers", json_integer(d->n_workers));
    const char *nid = dp_cplink_node_id(d);
    json_object_set_new(o, "node_id", json_string(nid ? nid : (d->node_id ? d->node_id : "")));
    json_object_set_new(o, "control_plane_connected", json_boolean(dp_cplink_connected(d)));
    json_object_set_new(o, "last_error", json_string(d->last_error));
    char *out = json_dumps(o, JSON_INDENT(2));
    json_decref(o);
    return out;
}

static void
conn_free(struct admin_conn *c)
{
    struct dp_admin *a = c->a;
    ev_io_stop(a->d->loop, &c->io);
    ev_timer_stop(a->d->loop, &c->timer);
    close(c->fd);
    if (c->prev)
        c->prev->next = c->next;
    else
        a->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    free(c->resp);
    free(c);
}

static void
conn_write_cb(struct ev_loop *loop, ev_io *io, int revents)
{
    struct admin_conn *c = io->data;
    while (c->resp_off < c->resp_len) {
        ssize_t n = send(c->fd, c->resp + c->resp_off, c->resp_len - c->resp_off, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EAGAIN || errno == EINTR)
                return;
            break;
        }
        c->resp_off += (size_t)n;
    }
    conn_free(c);
}

static void
respond(struct admin_conn *c, int status, const char *reason, const char *ctype, const char *body,
        size_t body_len, bool head)
{
    char hdr[256];
    int hl = snprintf(hdr, sizeof(hdr),
                      "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
                      "Connection: close\r\n\r\n",
                      status, reason, ctype, body_len);
    size_t total = (size_t)hl + (head ? 0 : body_len);
    c->resp = malloc(total);
    if (!c->resp) {
        conn_free(c);
        return;
    }
    memcpy(c->resp, hdr, (size_t)hl);
    if (!head && body_len)
        memcpy(c->resp + hl, body, body_len);
    c->resp_len = total;
    struct ev_loop *loop = c->a->d->loop;
    ev_io_stop(loop, &c->io);
    ev_io_set(&c->io, c->fd, EV_WRITE);
    ev_set_cb(&c->io, conn_write_cb);
    ev_io_start(loop, &c->io);
}

static void
handle(struct admin_conn *c)
{
    const struct dp_daemon *d = c->a->d;
    char method[8] = "", path[256] = "";
    if (sscanf(c->req, "%7s %255s", method, path) != 2) {
        respond(c, 400, "Bad Request", "text/plain", "bad request\n", 12, false);
        return;
    }
    bool head = strcmp(method, "HEAD") == 0;
    if (!head && strcmp(method, "GET") != 0) {
        respond(c, 405, "Method Not Allowed", "text/plain", "GET only\n", 9, false);
        return;
    }
    char *q = strchr(path, '?');
    if (q)
        *q = '\0';
    if (strcmp(path, "/live") == 0) {
        respond(c, 200, "OK", "text/plain", "live\n", 5, head);
    } else if (strcmp(path, "/ready") == 0) {
        if (d->current && !d->stopping)
            respond(c, 200, "OK", "text/plain", "ready\n", 6, head);
        else
            respond(c, 503, "Service Unavailable", "text/plain",
                    d->stopping ? "draining\n" : "no configuration loaded\n", d->stopping ? 9 : 24,
                    head);
    } else if (strcmp(path, "/metrics") == 0) {
        size_t len = 0;
        char *m = dp_admin_metrics(d, &len);
        if (!m) {
            respond(c, 500, "Internal Server Error", "text/plain", "out of memory\n", 14, head);
            return;
        }
        respond(c, 200, "OK", "text/plain; version=0.0.4", m, len, head);
        free(m);
    } else if (strcmp(path, "/config") == 0) {
        char *j = config_json(d);
        if (!j) {
            respond(c, 500, "Internal Server Error", "text/plain", "out of memory\n", 14, head);
            return;
        }
        respond(c, 200, "OK", "application/json", j, strlen(j), head);
        free(j);
    } else {
        respond(c, 404, "Not Found", "text/plain", "not found\n", 10, head);
    }
}

static void
conn_read_cb(struct ev_loop *loop, ev_io *io, int revents)
{
    struct admin_conn *c = io->data;
    ssize_t n = recv(c->fd, c->req + c->req_len, sizeof(c->req) - 1 - c->req_len, 0);
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (n <= 0) {
        conn_free(c);
        return;
    }
    c->req_len += (size_t)n;
    c->req[c->req_len] = '\0';
    if (strstr(c->req, "\r\n\r\n") || strstr(c->req, "\n\n")) {
        handle(c);
        return;
    }
    if (c->req_len == sizeof(c->req) - 1)
        respond(c, 431, "Request Header Fields Too Large", "text/plain", "too large\n", 10, false);
}

static void
conn_timer_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
    conn_free(t->data);
}

static void
accept_cb(struct ev_loop *loop, ev_io *io, int revents)
{
    struct dp_admin *a = io->data;
    for (;;) {
        int fd = accept4(a->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0)
            return;
        struct admin_conn *c = calloc(1, sizeof(*c));
        if (!c) {
            close(fd);
            continue;
        }
        c->a = a;
        c->fd = fd;
        ev_io_init(&c->io, conn_read_cb, fd, EV_READ);
        c->io.data = c;
        ev_timer_init(&c->timer, conn_timer_cb, 10., 0.);
        c->timer.data = c;
        ev_io_start(loop, &c->io);
        ev_timer_start(loop, &c->timer);
        c->next = a->conns;
        if (a->conns)
            a->conns->prev = c;
        a->conns = c;
    }
}

struct dp_admin *
dp_admin_new(struct dp_daemon *d, const char *addr, char *err, size_t err_len)
{
    char host[256];
    const char *colon = strrchr(addr, ':');
    if (!colon || (size_t)(colon - addr) >= sizeof(host)) {
        snprintf(err, err_len, "invalid admin address \"%s\"", addr);
        return NULL;
    }
    memcpy(host, addr, (size_t)(colon - addr));
    host[colon - addr] = '\0';
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *ai = NULL;
    if (getaddrinfo(host[0] ? host : NULL, colon + 1, &hints, &ai) != 0) {
        snprintf(err, err_len, "invalid admin address \"%s\"", addr);
        return NULL;
    }
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
        bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, 64) < 0) {
        snprintf(err, err_len, "admin listen on %s: %s", addr, strerror(errno));
        if (fd >= 0)
            close(fd);
        freeaddrinfo(ai);
        return NULL;
    }
    freeaddrinfo(ai);
    struct dp_admin *a = calloc(1, sizeof(*a));
    if (!a) {
        close(fd);
        snprintf(err, err_len, "out of memory");
        return NULL;
    }
    a->d = d;
    a->fd = fd;
    ev_io_init(&a->accept_w, accept_cb, fd, EV_READ);
    a->accept_w.data = a;
    ev_io_start(d->loop, &a->accept_w);
    return a;
}

struct dp_admin *
dp_admin_free(struct dp_admin *a)
{
    if (!a)
        return NULL;
    while (a->conns)
        conn_free(a->conns);
    ev_io_stop(a->d->loop, &a->accept_w);
    close(a->fd);
    free(a);
    return NULL;
}
