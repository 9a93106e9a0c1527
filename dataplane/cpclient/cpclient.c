/* The config client (see cpclient.h): one Config/Watch bidi stream, driven by a thread of its
 * own (cpstream.c: gRPC over HTTP/2 with nghttp2, not gRPC core), feeding the node's libev
 * loop (this file).
 *
 * Stream thread: owns the socket and the HTTP/2 session; connects (with backoff), reads
 * updates, unpacks them and queues them for the loop (ev_async). It never touches the merge
 * state. Loop thread: drains the queue, folds every update into the merge state (cpmerge.c),
 * applies only the newest result (coalescing), writes the cache, and acks or nacks.
 *
 * `mu` guards what both threads touch: the update queue, the stream's send side (one send
 * slot that the request body drains; acks that come while it is full coalesce into the
 * newest), and what the next Hello reports. The loop thread wakes the stream thread through
 * an eventfd after queueing something, after draining a full update queue, and to stop it. */
#include "cpcache.h"
#include "cpclient_internal.h"
#include "cpconn.h"
#include "cpkeys.h"
#include "log.h"
#include "pb.h"

#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

void
dp_cpclient_set_err(char *err, size_t err_len, const char *fmt, ...)
{
    va_list ap;

    if (!err || !err_len)
        return;
    va_start(ap, fmt);
    (void)vsnprintf(err, err_len, fmt, ap);
    va_end(ap);
}

/* Configurations at least this big are followed by a malloc_trim() (it walks the heap: a few
 * milliseconds at a million keys, nothing next to applying them). */
#define TRIM_AFTER_RESOURCES 10000
/* ... after a full snapshot, and after deltas at most this often (a trim costs tens of ms at a
 * million keys: not on every key revoke). */
#define TRIM_EVERY_S 10.0

static void on_rx(struct ev_loop *loop, ev_async *w, int revents);

struct dp_cpclient *
dp_cpclient_new(struct ev_loop *loop, const struct dp_cpclient_config *cfg,
                dp_cpclient_apply_fn apply, void *ctx, char *err, size_t err_len)
{
    struct dp_cpclient *c;
    int rc;

    if (!loop || !cfg || !cfg->target || !*cfg->target || !apply) {
        dp_cpclient_set_err(err, err_len,
                            "a loop, a control plane address and an apply callback are needed");
        return NULL;
    }
    c = calloc(1, sizeof(*c));
    if (!c) {
        dp_cpclient_set_err(err, err_len, "out of memory");
        return NULL;
    }
    pthread_mutex_init(&c->mu, NULL);
    c->wake_fd = -1;
    c->loop = loop;
    c->apply = apply;
    c->apply_ctx = ctx;
    c->backoff_ms = BACKOFF_INITIAL_MS;
    atomic_init(&c->connected, false);
    atomic_init(&c->revision, 0);
    atomic_init(&c->fleet_size, 0);
    ev_async_init(&c->rx_async, on_rx);
    c->rx_async.data = c;

    c->target = strdup(cfg->target);
    c->version = strdup(cfg->version ? cfg->version : "");
    c->on_receive = cfg->on_receive;
    c->on_receive_ctx = cfg->on_receive_ctx;
    c->keys_each = cfg->keys_each;
    c->keys_each_ctx = cfg->keys_each_ctx;
    c->cache_dir = cfg->cache_dir ? strdup(cfg->cache_dir) : NULL;
    c->hello_store_id = strdup("");
    c->merge = dp_cpmerge_new();
    if (!c->target || !c->version || (cfg->cache_dir && !c->cache_dir) || !c->hello_store_id ||
        !c->merge)
        goto oom;
    rc = dp_cpconn_parse_target(c->target, &c->host, &c->port);
    if (rc == -ENOMEM)
        goto oom;
    if (rc < 0) {
        dp_cpclient_set_err(err, err_len,
                            "control plane address \"%s\": must be HOST:PORT or [IPV6]:PORT",
                            c->target);
        return dp_cpclient_free(c);
    }
    c->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (c->wake_fd < 0) {
        dp_cpclient_set_err(err, err_len, "cannot make an eventfd: %s", strerror(errno));
        return dp_cpclient_free(c);
    }
    for (const char *const *l = cfg->listeners; l && *l; l++)
        c->n_listeners++;
    if (c->n_listeners) {
        c->listeners = calloc(c->n_listeners, sizeof(*c->listeners));
        if (!c->listeners)
            goto oom;
        for (size_t i = 0; i < c->n_listeners; i++)
            if (!(c->listeners[i] = strdup(cfg->listeners[i])))
                goto oom;
    }
    if (cfg->token && *cfg->token) {
        size_t n = strlen(cfg->token) + sizeof("Bearer ");
        char *v = malloc(n);
        if (!v)
            goto oom;
        (void)snprintf(v, n, "Bearer %s", cfg->token);
        c->auth = v;
    }
    if (cfg->ca_file || cfg->cert_file || cfg->key_file) {
        c->tls = dp_cpconn_tls_new(cfg->ca_file, cfg->cert_file, cfg->key_file, err, err_len);
        if (!c->tls)
            return dp_cpclient_free(c);
    }

    if (c->cache_dir && (rc = dp_cpcache_mkdir(c->cache_dir)) < 0) {
        dp_cpclient_set_err(err, err_len, "cannot create the cache directory %s: %s", c->cache_dir,
                            strerror(-rc));
        return dp_cpclient_free(c);
    }
    if (cfg->node_id) {
        if (!dp_cpcache_node_id_valid(cfg->node_id)) {
            dp_cpclient_set_err(err, err_len,
                                "node id \"%s\": must be 1..128 characters of [A-Za-z0-9._:-]",
                                cfg->node_id);
            return dp_cpclient_free(c);
        }
        (void)snprintf(c->node_id, sizeof(c->node_id), "%s", cfg->node_id);
    } else if (c->cache_dir) {
        rc = dp_cpcache_node_id(c->cache_dir, c->node_id, sizeof(c->node_id));
        if (rc < 0) {
            dp_cpclient_set_err(err, err_len, "cannot get the node id from %s/%s: %s", c->cache_dir,
                                DP_CPCACHE_NODE_ID,
                                rc == -EBADMSG ? "it holds no valid node id" : strerror(-rc));
            return dp_cpclient_free(c);
        }
        if (rc == DP_CPCACHE_CREATED)
            edge_log_info("cpclient: new node id \"%s\" saved in %s/%s", c->node_id, c->cache_dir,
                          DP_CPCACHE_NODE_ID);
    } else {
        rc = dp_cpcache_new_node_id(c->node_id, sizeof(c->node_id));
        if (rc < 0) {
            dp_cpclient_set_err(err, err_len, "cannot make a node id: %s", strerror(-rc));
            return dp_cpclient_free(c);
        }
        edge_log_warn("cpclient: no cache directory: node id \"%s\" and the configuration "
                      "last in force are lost at restart",
                      c->node_id);
    }

    uint64_t seed = 0;
    if (getrandom(&seed, sizeof(seed), GRND_NONBLOCK) != (ssize_t)sizeof(seed))
        seed = (uint64_t)(uintptr_t)c ^ (uint64_t)time(NULL);
    c->rng = seed | 1;

    ev_async_start(loop, &c->rx_async);
    return c;
oom:
    dp_cpclient_set_err(err, err_len, "out of memory");
    return dp_cpclient_free(c);
}

/* ---- the loop thread ------------------------------------------------------------------- */

static void
commit_held(struct dp_cpclient *c)
{
    dp_cpmerge_commit(c->merge);
    const Edge__V1__ConfigUpdate *held = dp_cpmerge_held(c->merge);
    char *store = strdup(held->store_id);

    pthread_mutex_lock(&c->mu);
    if (store) {
        free(c->hello_store_id);
        c->hello_store_id = store;
        c->hello_revision = held->revision;
    } else {
        /* Cannot remember the store id: Hello asks for a full snapshot rather than lie. */
        c->hello_revision = 0;
    }
    pthread_mutex_unlock(&c->mu);
    atomic_store(&c->revision, held->revision);
}

static int
keys_sink(void *ctx, const char *id, const Edge__V1__ApiKey *key)
{
    return dp_cpkeys_add(ctx, id, key);
}

/* The cached keys as of revision: a new base from the node's key store. */
static int
rewrite_keys(struct dp_cpclient *c, const char *store_id, uint64_t revision)
{
    if (!c->keys_each)
        return -ENOTSUP;
    struct dp_cpkeys_writer *w;
    int rc = dp_cpkeys_begin(c->cache_dir, store_id, revision, &w);
    if (rc < 0)
        return rc;
    rc = c->keys_each(c->keys_each_ctx, keys_sink, w);
    if (rc < 0) {
        dp_cpkeys_abort(w);
        return rc;
    }
    return dp_cpkeys_commit(w);
}

/* Writes an accepted revision's keys: a new base for a full set, else a log record (and a new
 * base when the log has grown past it or there is no base). Returns whether the base must be
 * rewritten from the node's store once snapshot.pb is written. */
static bool
write_keys(struct dp_cpclient *c, const char *store_id, uint64_t revision,
           const struct dp_key_changes *keys)
{
    int rc = 0;
    if (keys->reset) {
        struct dp_cpkeys_writer *w;
        rc = dp_cpkeys_begin(c->cache_dir, store_id, revision, &w);
        for (size_t i = 0; rc == 0 && i < keys->n; i++)
            if (keys->changes[i].key)
                rc = dp_cpkeys_add(w, keys->changes[i].id, keys->changes[i].key);
        if (rc == 0)
            rc = dp_cpkeys_commit(w);
        else if (w)
            dp_cpkeys_abort(w);
    } else if (keys->n) {
        size_t log = 0, base = 0;
        rc = dp_cpkeys_append(c->cache_dir, revision, keys, &log, &base);
        if (rc == -ENOENT)
            return true; /* no base yet (a cache of an older node) */
        if (rc == 0)
            return log >= DP_CPKEYS_LOG_MIN_COMPACT && log > base / 2;
    }
    if (rc < 0) {
        edge_log_error("cpclient: cannot write the cached keys in %s: %s; rewriting them from "
                       "the node's store",
                       c->cache_dir, strerror(-rc));
        return true;
    }
    return false;
}

/* Applies the pending configuration. Returns 0 when the node accepted it. */
static int
apply_pending(struct dp_cpclient *c, bool from_cache, char *err, size_t err_len)
{
    const Edge__V1__ConfigUpdate *cfg = dp_cpmerge_pending(c->merge);
    const struct dp_key_changes *keys = dp_cpmerge_pending_keys(c->merge);
    int rc;

    err[0] = '\0';
    rc = c->apply(c->apply_ctx, cfg, keys, err, err_len);
    if (rc != 0) {
        if (!err[0])
            (void)snprintf(err, err_len, "rejected by the node (%s)",
                           strerror(rc < 0 ? -rc : EINVAL));
        dp_cpmerge_rollback(c->merge);
        return rc < 0 ? rc : -EINVAL;
    }
    if (!from_cache && c->cache_dir) {
        /* Keys first: a crash between leaves log records past snapshot.pb, which a load skips. */
        bool rewrite = write_keys(c, cfg->store_id, cfg->revision, keys);
        uint8_t *buf = NULL;
        size_t len = 0;
        int wrc = dp_cpmerge_pack_pending(c->merge, &buf, &len);
        if (wrc == 0)
            wrc = dp_cpcache_write_file(c->cache_dir, DP_CPCACHE_SNAPSHOT, buf, len);
        free(buf);
        if (wrc < 0)
            edge_log_error("cpclient: cannot write the config cache %s/%s: %s (revision %llu "
                           "runs, but a restart would not find it)",
                           c->cache_dir, DP_CPCACHE_SNAPSHOT, strerror(-wrc),
                           (unsigned long long)cfg->revision);
        if (rewrite && (wrc = rewrite_keys(c, cfg->store_id, cfg->revision)) < 0)
            edge_log_error("cpclient: cannot rewrite the cached keys %s/%s: %s (a restart "
                           "without the control plane would serve no key)",
                           c->cache_dir, DP_CPKEYS_BASE, strerror(-wrc));
    }
    commit_held(c);
    return 0;
}

static void
on_rx(struct ev_loop *loop, ev_async *w, int revents)
{
    struct dp_cpclient *c = w->data;
    struct rx_item *list;
    bool current = false, got_full = false;
    uint64_t current_rev = 0;
    char err[512];

    pthread_mutex_lock(&c->mu);
    list = c->rx_head;
    c->rx_head = c->rx_tail = NULL;
    c->rx_len = 0;
    bool paused = c->recv_paused; /* the stream thread waits for this drain to read on */
    pthread_mutex_unlock(&c->mu);
    if (paused)
        dp_cpstream_wake(c);

    while (list) {
        struct rx_item *it = list;
        list = it->next;
        if (it->gen <= c->drop_gen) {
            edge_pb_free(it->upd);
            free(it);
            continue;
        }
        uint64_t rev = it->upd->revision;
        if (c->grants && it->gen != c->grants_gen) {
            c->grants_gen = it->gen; /* a new stream: tell the lease side first */
            c->grants(c->grants_ctx, NULL, 0, it->gen);
        }
        if (rev == 0) {
            /* Quota lease answers or a fleet-size notice (taken on the stream thread): no
             * configuration in them. */
            if (c->grants)
                c->grants(c->grants_ctx, it->upd->grants, it->upd->n_grants, it->gen);
            edge_pb_free(it->upd);
            free(it);
            continue;
        }
        bool is_full = it->upd->full;
        int rc = dp_cpmerge_update(c->merge, it->upd, err, sizeof(err));
        if (rc >= 0 && rc != DP_CPMERGE_CURRENT)
            got_full |= is_full;
        if (rc == DP_CPMERGE_CURRENT) {
            current = true;
            current_rev = rev;
        } else if (rc == -ESTALE) {
            edge_log_warn("cpclient: %s; asking for a full snapshot", err);
            dp_cpmerge_rollback(c->merge);
            dp_cpstream_resync(c, it->gen);
            current = false;
        } else if (rc < 0) {
            edge_log_warn("cpclient: rejecting revision %llu: %s", (unsigned long long)rev, err);
            dp_cpmerge_rollback(c->merge);
            dp_cpstream_send_ack(c, rev, false, err);
            current = false;
        }
        free(it);
    }

    const Edge__V1__ConfigUpdate *cfg = dp_cpmerge_pending(c->merge);
    if (cfg) {
        uint64_t rev = cfg->revision;
        size_t n = cfg->n_put + dp_cpmerge_pending_keys(c->merge)->n;
        if (apply_pending(c, false, err, sizeof(err)) == 0) {
            edge_log_info("cpclient: applied revision %llu (%zu resources); acked",
                          (unsigned long long)rev, n);
            dp_cpstream_send_ack(c, rev, true, NULL);
            /* A big configuration leaves big freed buffers (the update as received, the packed
             * cache copy, the old snapshot): give them back rather than keep them resident. */
            ev_tstamp now = ev_now(c->loop);
            if (n >= TRIM_AFTER_RESOURCES && (got_full || now - c->trimmed_at >= TRIM_EVERY_S)) {
                (void)malloc_trim(0);
                c->trimmed_at = now;
            }
        } else {
            edge_log_warn("cpclient: the node rejected revision %llu: %s; nacked",
                          (unsigned long long)rev, err);
            dp_cpstream_send_ack(c, rev, false, err);
        }
    } else if (current) {
        edge_log_debug("cpclient: revision %llu is current; acked",
                       (unsigned long long)current_rev);
        dp_cpstream_send_ack(c, current_rev, true, NULL);
    }
}

/* ---- start and stop --------------------------------------------------------------------- */

/* Applies the cached snapshot, if any, so that a node restarted while the control plane is
 * down serves what it served before. */
static void
load_cache(struct dp_cpclient *c)
{
    Edge__V1__ConfigUpdate *cfg = NULL;
    char err[512];
    int rc;

    rc = dp_cpcache_read(c->cache_dir, &cfg);
    if (rc == -ENOENT)
        return;
    if (rc < 0) {
        edge_log_warn("cpclient: ignoring the config cache %s/%s: %s", c->cache_dir,
                      DP_CPCACHE_SNAPSHOT,
                      rc == -EBADMSG ? "not a valid configuration" : strerror(-rc));
        return;
    }
    uint64_t rev = cfg->revision;
    rc = dp_cpkeys_load(c->cache_dir, cfg);
    if (rc < 0) {
        edge_log_warn("cpclient: ignoring the config cache in %s: its keys (%s, %s): %s",
                      c->cache_dir, DP_CPKEYS_BASE, DP_CPKEYS_LOG,
                      rc == -EBADMSG ? "unusable or of another revision" : strerror(-rc));
        edge_pb_free(cfg);
        return;
    }
    rc = dp_cpmerge_update(c->merge, cfg, err, sizeof(err));
    if (rc < 0) {
        edge_log_warn("cpclient: ignoring the config cache %s/%s: %s", c->cache_dir,
                      DP_CPCACHE_SNAPSHOT, err);
        return;
    }
    size_t n = dp_cpmerge_pending(c->merge)->n_put + dp_cpmerge_pending_keys(c->merge)->n;
    if (apply_pending(c, true, err, sizeof(err)) != 0) {
        edge_log_warn("cpclient: the node rejected the cached revision %llu: %s",
                      (unsigned long long)rev, err);
        return;
    }
    edge_log_info("cpclient: serving cached revision %llu (%zu resources) from %s/%s",
                  (unsigned long long)rev, n, c->cache_dir, DP_CPCACHE_SNAPSHOT);
}

int
dp_cpclient_start(struct dp_cpclient *c)
{
    sigset_t all, old;
    int rc;

    if (c->started)
        return -EALREADY;
    c->started = true;
    if (c->cache_dir)
        load_cache(c);

    /* Signals belong to the node's loop thread, not to ours. */
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    rc = pthread_create(&c->thread, NULL, dp_cpstream_main, c);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0)
        return -rc;
    c->thread_started = true;
    return 0;
}

struct dp_cpclient *
dp_cpclient_free(struct dp_cpclient *c)
{
    if (!c)
        return NULL;
    if (c->thread_started) {
        pthread_mutex_lock(&c->mu);
        c->stopping = true;
        pthread_mutex_unlock(&c->mu);
        dp_cpstream_wake(c); /* it resets the stream, closes the connection and returns */
        (void)pthread_join(c->thread, NULL);
    }
    if (c->wake_fd >= 0)
        (void)close(c->wake_fd);
    if (ev_is_active(&c->rx_async))
        ev_async_stop(c->loop, &c->rx_async);
    while (c->rx_head) {
        struct rx_item *it = c->rx_head;
        c->rx_head = it->next;
        edge_pb_free(it->upd);
        free(it);
    }
    dp_cpstream_drop_tx(c);
    SSL_CTX_free(c->tls);
    if (c->auth) {
        memset(c->auth, 0, strlen(c->auth));
        free(c->auth);
    }
    free(c->host);
    free(c->port);
    for (size_t i = 0; i < c->n_listeners && c->listeners; i++)
        free(c->listeners[i]);
    free(c->listeners);
    dp_cpmerge_free(c->merge);
    free(c->hello_store_id);
    free(c->target);
    free(c->version);
    free(c->cache_dir);
    pthread_mutex_destroy(&c->mu);
    free(c);
    return NULL;
}

const char *
dp_cpclient_node_id(const struct dp_cpclient *c)
{
    return c->node_id;
}

bool
dp_cpclient_connected(const struct dp_cpclient *c)
{
    return atomic_load(&c->connected);
}

uint64_t
dp_cpclient_revision(const struct dp_cpclient *c)
{
    return atomic_load(&c->revision);
}

unsigned
dp_cpclient_fleet_size(const struct dp_cpclient *c)
{
    return atomic_load(&c->fleet_size);
}

int
dp_cpclient_send_usage(struct dp_cpclient *c, const Edge__V1__UsageReport *report)
{
    Edge__V1__NodeMessage msg = EDGE__V1__NODE_MESSAGE__INIT;
    msg.msg_case = EDGE__V1__NODE_MESSAGE__MSG_USAGE;
    msg.usage = (Edge__V1__UsageReport *)report;
    int e = -EAGAIN;
    pthread_mutex_lock(&c->mu);
    /* Only into a free send slot: counts that cannot go now stay in the caller's counters,
     * and the stream thread goes on with a pending ack once the slot drains. */
    if (c->call_open && !c->send_busy && !c->stopping) {
        uint8_t *buf;
        size_t len;
        e = dp_cpstream_pack(&msg.base, &buf, &len);
        if (e == 0) {
            c->send_buf = buf;
            c->send_len = len;
            c->send_off = 0;
            c->send_busy = true;
        }
    }
    pthread_mutex_unlock(&c->mu);
    if (e == 0)
        dp_cpstream_wake(c);
    return e == -EMSGSIZE ? -ENOMEM : e;
}

void
dp_cpclient_on_grants(struct dp_cpclient *c, dp_cpclient_grants_fn fn, void *ctx)
{
    c->grants = fn;
    c->grants_ctx = ctx;
}

bool
dp_cpclient_stream(struct dp_cpclient *c, unsigned *ret_generation)
{
    pthread_mutex_lock(&c->mu);
    bool up = c->call_open && !c->stopping && atomic_load(&c->connected) && c->leases_gen == c->gen;
    *ret_generation = c->gen;
    pthread_mutex_unlock(&c->mu);
    return up;
}

int
dp_cpclient_send_leases(struct dp_cpclient *c, const Edge__V1__QuotaLeases *leases)
{
    Edge__V1__NodeMessage msg = EDGE__V1__NODE_MESSAGE__INIT;
    msg.msg_case = EDGE__V1__NODE_MESSAGE__MSG_LEASES;
    msg.leases = (Edge__V1__QuotaLeases *)leases;
    struct tx_item *it = calloc(1, sizeof(*it));
    if (!it)
        return -ENOMEM;
    if (dp_cpstream_pack(&msg.base, &it->buf, &it->len) < 0) {
        free(it);
        return -ENOMEM;
    }
    int e = -EAGAIN;
    pthread_mutex_lock(&c->mu);
    if (c->call_open && !c->stopping && c->tx_len >= TX_QUEUE_MAX) {
        e = -ENOBUFS;
    } else if (c->call_open && !c->stopping) {
        if (c->tx_tail)
            c->tx_tail->next = it;
        else
            c->tx_head = it;
        c->tx_tail = it;
        c->tx_len++;
        it = NULL;
        (void)dp_cpstream_start_send_locked(c);
        e = 0;
    }
    pthread_mutex_unlock(&c->mu);
    if (e == 0)
        dp_cpstream_wake(c);
    if (it) {
        free(it->buf);
        free(it);
    }
    return e;
}

bool
dp_cpclient_sends_idle(struct dp_cpclient *c)
{
    pthread_mutex_lock(&c->mu);
    bool idle = !c->call_open || c->stopping || (!c->send_busy && !c->tx_head && !c->ack.have);
    pthread_mutex_unlock(&c->mu);
    return idle;
}
