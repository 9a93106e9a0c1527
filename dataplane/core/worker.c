#include "core/worker.h"

#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define DP_ALOG_BYTES 65536

const double dp_lat_bounds_s[DP_LAT_BUCKETS] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                                0.1,   0.25,   0.5,   1.0,  2.5,   1e300};

/* "host:port", "[v6]:port" or ":port" -> a passive address. */
static int
parse_listen(const char *spec, struct addrinfo **ret)
{
    char host[256];
    const char *colon = strrchr(spec, ':');
    if (!colon || colon == spec + strlen(spec) - 1)
        return -EINVAL;
    size_t hl = (size_t)(colon - spec);
    if (hl >= sizeof(host))
        return -EINVAL;
    memcpy(host, spec, hl);
    host[hl] = '\0';
    char *h = host;
    if (hl >= 2 && host[0] == '[' && host[hl - 1] == ']') {
        host[hl - 1] = '\0';
        h = host + 1;
    }
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    return getaddrinfo(h[0] ? h : NULL, colon + 1, &hints, ret) == 0 ? 0 : -EINVAL;
}

static int
open_listener(const char *spec, char *err, size_t err_len)
{
    struct addrinfo *ai = NULL;
    if (parse_listen(spec, &ai) < 0) {
        snprintf(err, err_len, "invalid listen address \"%s\"", spec);
        return -EINVAL;
    }
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
        setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0 ||
        bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, 1024) < 0) {
        int e = errno;
        snprintf(err, err_len, "listen on %s: %s", spec, strerror(e));
        if (fd >= 0)
            close(fd);
        freeaddrinfo(ai);
        return -e;
    }
    freeaddrinfo(ai);
    return fd;
}

static void
accept_cb(struct ev_loop *loop, ev_io *io, int revents)
{
    struct dp_worker *w = io->data;
    for (int i = 0; i < 64; i++) {
        struct sockaddr_storage peer;
        socklen_t len = sizeof(peer);
        int fd = accept4(io->fd, (struct sockaddr *)&peer, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
                /* Out of descriptors: the listener stays readable, so pause it instead of
                 * spinning; in-flight connections closing will make room. */
                for (unsigned k = 0; k < w->n_listen; k++)
                    ev_io_stop(loop, &w->listen_w[k]);
                ev_timer_set(&w->accept_pause, 0.1, 0.);
                ev_timer_start(loop, &w->accept_pause);
            }
            return;
        }
        dp_proxy_accept(w, fd, (struct sockaddr *)&peer, len);
    }
}

static void
accept_resume_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
    struct dp_worker *w = t->data;
    if (w->draining)
        return;
    for (unsigned k = 0; k < w->n_listen; k++)
        if (w->listen_fds[k] >= 0)
            ev_io_start(loop, &w->listen_w[k]);
}

struct dp_route_stat *
dp_worker_route_stat(struct dp_worker *w, uint32_t id)
{
    uint32_t chunk = id / DP_RSTAT_CHUNK;
    if (chunk >= DP_RSTAT_CHUNKS)
        return NULL;
    struct dp_route_stat *c = atomic_load_explicit(&w->rstats[chunk], memory_order_relaxed);
    if (!c) {
        c = calloc(DP_RSTAT_CHUNK, sizeof(*c));
        if (!c)
            return NULL;
        atomic_store_explicit(&w->rstats[chunk], c, memory_order_release);
    }
    return &c[id % DP_RSTAT_CHUNK];
}

void
dp_worker_hold_release(struct dp_worker *w, struct dp_snap_hold *h)
{
    if (h && --h->users == 0) {
        dp_snapshot_unref(h->snap);
        free(h);
    }
}

/* Makes the per-id arrays big enough for the snapshot's ids (once per swap). */
static int
grow_state(struct dp_worker *w, const struct dp_snapshot *s)
{
    if (s->n_pool_ids > w->n_pools) {
        struct dp_pool *p = realloc(w->pools, s->n_pool_ids * sizeof(*p));
        if (!p)
            return -ENOMEM;
        /* Pools are circular lists pointing at their heads: fix the moved ones up. */
        for (uint32_t i = 0; i < w->n_pools; i++) {
            if (p[i].n_idle == 0) {
                p[i].head.prev = p[i].head.next = &p[i].head;
            } else {
                p[i].head.next->prev = &p[i].head;
                p[i].head.prev->next = &p[i].head;
            }
        }
        for (uint32_t i = w->n_pools; i < s->n_pool_ids; i++)
            dp_pool_init(&p[i]);
        w->pools = p;
        w->n_pools = s->n_pool_ids;
    }
    if (s->n_lb_ids > w->n_lbs) {
        struct dp_lb_rr *l = realloc(w->lbs, s->n_lb_ids * sizeof(*l));
        if (!l)
            return -ENOMEM;
        memset(l + w->n_lbs, 0, (s->n_lb_ids - w->n_lbs) * sizeof(*l));
        w->lbs = l;
        w->n_lbs = s->n_lb_ids;
    }
    return 0;
}

static void
take_snapshot(struct dp_worker *w)
{
    struct dp_snapshot *s = atomic_exchange(&w->mailbox, NULL);
    if (!s)
        return;
    struct dp_snap_hold *h = calloc(1, sizeof(*h));
    if (!h || grow_state(w, s) < 0) {
        /* Keep serving the old one; the main thread's next publish retries. */
        free(h);
        dp_snapshot_unref(s);
        DP_STAT_INC(w->stats.alloc_failures);
        return;
    }
    h->snap = s;
    atomic_store(&w->taken_revision, s->revision);
    h->users = 1; /* the worker's own use, dropped at the next swap */
    struct dp_snap_hold *old = w->hold;
    w->hold = h;
    dp_worker_hold_release(w, old);
}

static void
flush_access_log(struct dp_worker *w)
{
    if (w->alog_len && w->cfg->access_log_fd >= 0) {
        /* O_APPEND and one write per batch: lines of different workers never interleave. */
        (void)!write(w->cfg->access_log_fd, w->alog, w->alog_len);
    }
    w->alog_len = 0;
}

void
dp_worker_access_log(struct dp_worker *w, const char *line, size_t len)
{
    if (!w->alog) {
        w->alog = malloc(DP_ALOG_BYTES);
        if (!w->alog)
            return;
    }
    if (w->alog_len + len > DP_ALOG_BYTES)
        flush_access_log(w);
    if (len > DP_ALOG_BYTES)
        return;
    memcpy(w->alog + w->alog_len, line, len);
    w->alog_len += len;
}

static void
prepare_cb(struct ev_loop *loop, ev_prepare *p, int revents)
{
    struct dp_worker *w = p->data;
    dp_proxy_flush_writes(w);
    dp_proxy_reap(w);
    flush_access_log(w);
    if (w->draining && w->n_conns == 0)
        ev_break(loop, EVBREAK_ALL);
}

static void
wake_cb(struct ev_loop *loop, ev_async *a, int revents)
{
    struct dp_worker *w = a->data;
    take_snapshot(w);
    if (atomic_exchange(&w->lease_kick, false))
        dp_proxy_resume_parked(w);
    int cmd = atomic_load(&w->command);
    if (cmd >= DP_WORKER_DRAIN && !w->draining) {
        ev_timer_stop(loop, &w->accept_pause);
        for (unsigned i = 0; i < w->n_listen; i++) {
            ev_io_stop(loop, &w->listen_w[i]);
            close(w->listen_fds[i]);
            w->listen_fds[i] = -1;
        }
        dp_proxy_drain(w);
    }
    if (cmd == DP_WORKER_STOP) {
        dp_proxy_close_all(w);
        ev_break(loop, EVBREAK_ALL);
    }
}

int
dp_worker_init(struct dp_worker *w, unsigned idx, const struct dp_settings *cfg, char *err,
               size_t err_len)
{
    memset(w, 0, sizeof(*w));
    w->idx = idx;
    w->cfg = cfg;
    atomic_init(&w->mailbox, NULL);
    atomic_init(&w->command, DP_WORKER_RUN);
    atomic_init(&w->lease_kick, false);
    dp_bufpool_init(&w->bufs, 256);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    w->id_seed = ((uint64_t)ts.tv_sec << 32) ^ (uint64_t)ts.tv_nsec ^ ((uint64_t)getpid() << 16);
    w->rng = w->id_seed | 1;
    char prefix[17];
    snprintf(prefix, sizeof(prefix), "%016llx",
             (unsigned long long)(w->id_seed ^ ((uint64_t)idx << 56)));
    memcpy(w->id_prefix, prefix, sizeof(w->id_prefix));
    w->loop = ev_loop_new(EVFLAG_AUTO);
    if (!w->loop) {
        snprintf(err, err_len, "cannot create an event loop");
        return -ENOMEM;
    }
    unsigned n = 0;
    while (cfg->listen[n])
        n++;
    w->listen_fds = calloc(n ? n : 1, sizeof(int));
    w->listen_w = calloc(n ? n : 1, sizeof(ev_io));
    if (!w->listen_fds || !w->listen_w) {
        snprintf(err, err_len, "out of memory");
        return -ENOMEM;
    }
    for (unsigned i = 0; i < n; i++) {
        int fd = open_listener(cfg->listen[i], err, err_len);
        if (fd < 0)
            return fd;
        w->listen_fds[i] = fd;
        w->n_listen++;
        ev_io_init(&w->listen_w[i], accept_cb, fd, EV_READ);
        w->listen_w[i].data = w;
        ev_io_start(w->loop, &w->listen_w[i]);
    }
    ev_init(&w->accept_pause, accept_resume_cb);
    w->accept_pause.data = w;
    ev_async_init(&w->wake, wake_cb);
    w->wake.data = w;
    ev_async_start(w->loop, &w->wake);
    ev_prepare_init(&w->flush, prepare_cb);
    w->flush.data = w;
    ev_prepare_start(w->loop, &w->flush);
    return 0;
}

static void *
worker_main(void *arg)
{
    struct dp_worker *w = arg;
    take_snapshot(w);
    ev_run(w->loop, 0);
    flush_access_log(w);
    return NULL;
}

int
dp_worker_start(struct dp_worker *w)
{
    return -pthread_create(&w->thread, NULL, worker_main, w);
}

void
dp_worker_publish(struct dp_worker *w, struct dp_snapshot *s)
{
    struct dp_snapshot *old = atomic_exchange(&w->mailbox, s);
    dp_snapshot_unref(old); /* never picked up: superseded */
    ev_async_send(w->loop, &w->wake);
}

void
dp_worker_kick_leases(struct dp_worker *w)
{
    atomic_store(&w->lease_kick, true);
    ev_async_send(w->loop, &w->wake);
}

void
dp_worker_command(struct dp_worker *w, int command)
{
    atomic_store(&w->command, command);
    ev_async_send(w->loop, &w->wake);
}

void
dp_worker_join(struct dp_worker *w)
{
    pthread_join(w->thread, NULL);
}

void
dp_worker_done(struct dp_worker *w)
{
    if (!w->loop)
        return;
    dp_proxy_worker_done(w);
    struct dp_snap_hold *h = w->hold;
    w->hold = NULL;
    dp_worker_hold_release(w, h);
    dp_snapshot_unref(atomic_exchange(&w->mailbox, NULL));
    for (unsigned i = 0; i < w->n_listen; i++)
        if (w->listen_fds[i] >= 0)
            close(w->listen_fds[i]);
    free(w->listen_fds);
    free(w->listen_w);
    for (uint32_t i = 0; i < w->n_lbs; i++)
        dp_lb_rr_done(&w->lbs[i]);
    free(w->lbs);
    free(w->pools);
    for (unsigned i = 0; i < DP_RSTAT_CHUNKS; i++)
        free(atomic_load(&w->rstats[i]));
    free(w->alog);
    dp_bufpool_done(&w->bufs);
    ev_loop_destroy(w->loop);
    w->loop = NULL;
}
