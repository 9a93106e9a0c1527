#include "core/daemon.h"

#include "admin/admin.h"
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int
dp_daemon_init(struct dp_daemon *d, struct ev_loop *loop, char *err, size_t err_len)
{
    d->loop = loop;
    dp_registry_init(&d->reg.targets);
    dp_registry_init(&d->reg.upstreams);
    dp_registry_init(&d->reg.routes);
    dp_revoked_init(&d->reg.revoked);
    d->workers = calloc(d->settings.workers, sizeof(*d->workers));
    if (!d->workers) {
        snprintf(err, err_len, "out of memory");
        return -ENOMEM;
    }
    for (unsigned i = 0; i < d->settings.workers; i++) {
        int e = dp_worker_init(&d->workers[i], i, &d->settings, err, err_len);
        d->n_workers = i + 1;
        if (e < 0)
            return e;
    }
    for (unsigned i = 0; i < d->n_workers; i++) {
        int e = dp_worker_start(&d->workers[i]);
        if (e < 0) {
            snprintf(err, err_len, "cannot start worker %u: %s", i, strerror(-e));
            d->n_workers = i;
            return e;
        }
    }
    return 0;
}

int
dp_daemon_apply(struct dp_daemon *d, const Edge__V1__ConfigUpdate *cfg,
                const struct dp_key_changes *keys, char *err, size_t err_len)
{
    struct dp_snapshot *s = NULL;
    int e = dp_snapshot_compile_keys(cfg, keys, &d->reg, &s, err, err_len);
    if (e < 0) {
        d->rejected++;
        snprintf(d->last_error, sizeof(d->last_error), "%s", err);
        edge_log_warn("config revision %llu refused: %s", (unsigned long long)cfg->revision, err);
        return e;
    }
    for (unsigned i = 0; i < d->n_workers; i++)
        dp_worker_publish(&d->workers[i], dp_snapshot_ref(s));
    dp_snapshot_unref(d->current);
    d->current = s;
    d->applied++;
    edge_log_info("config revision %llu applied (%zu apis, %zu routes, %zu upstreams, %zu keys)",
                  (unsigned long long)s->revision, s->n_apis, s->n_routes, s->n_upstreams,
                  dp_keystore_count(s->keystore));
    return 0;
}

int
dp_daemon_load_file(struct dp_daemon *d, const char *path, char *err, size_t err_len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0) {
        snprintf(err, err_len, "%s: %s", path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -errno;
    }
    size_t len = (size_t)st.st_size;
    uint8_t *buf = malloc(len ? len : 1);
    size_t got = 0;
    while (buf && got < len) {
        ssize_t n = read(fd, buf + got, len - got);
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    close(fd);
    if (!buf || got != len) {
        free(buf);
        snprintf(err, err_len, "%s: short read", path);
        return -EIO;
    }
    Edge__V1__ConfigUpdate *cfg = edge__v1__config_update__unpack(NULL, len, buf);
    free(buf);
    if (!cfg) {
        snprintf(err, err_len, "%s: not a packed edge.v1.ConfigUpdate", path);
        return -EINVAL;
    }
    int e = dp_daemon_apply(d, cfg, NULL, err, err_len);
    edge__v1__config_update__free_unpacked(cfg, NULL);
    return e;
}

static void
drain_timeout_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
    struct dp_daemon *d = t->data;
    edge_log_warn("drain deadline reached: closing the remaining connections");
    for (unsigned i = 0; i < d->n_workers; i++)
        dp_worker_command(&d->workers[i], DP_WORKER_STOP);
}

static void *
join_all(void *arg)
{
    struct dp_daemon *d = arg;
    for (unsigned i = 0; i < d->n_workers; i++)
        dp_worker_join(&d->workers[i]);
    return NULL;
}

static void
joined_cb(struct ev_loop *loop, ev_async *a, int revents)
{
    ev_break(loop, EVBREAK_ALL);
}

static void *
joiner_main(void *arg)
{
    struct dp_daemon *d = arg;
    join_all(d);
    ev_async_send(d->loop, &d->joined);
    return NULL;
}

static void
signal_cb(struct ev_loop *loop, ev_signal *s, int revents)
{
    struct dp_daemon *d = s->data;
    if (d->stopping)
        return;
    d->stopping = true;
    edge_log_info("signal %d: draining (deadline %u ms)", s->signum, d->drain_timeout_ms);
    for (unsigned i = 0; i < d->n_workers; i++)
        dp_worker_command(&d->workers[i], DP_WORKER_DRAIN);
    ev_timer_init(&d->drain_timer, drain_timeout_cb, d->drain_timeout_ms / 1000.0, 0.);
    d->drain_timer.data = d;
    ev_timer_start(loop, &d->drain_timer);
    /* Workers end on their own once drained; a helper thread joins them and wakes us. */
    pthread_t t;
    if (pthread_create(&t, NULL, joiner_main, d) == 0)
        pthread_detach(t);
    else
        ev_break(loop, EVBREAK_ALL);
}

static void
hup_cb(struct ev_loop *loop, ev_signal *s, int revents)
{
    struct dp_daemon *d = s->data;
    char err[512];
    if (d->config_file && dp_daemon_load_file(d, d->config_file, err, sizeof(err)) < 0)
        edge_log_warn("reload of %s failed, keeping revision %llu: %s", d->config_file,
                      (unsigned long long)(d->current ? d->current->revision : 0), err);
}

void
dp_daemon_run(struct dp_daemon *d)
{
    ev_signal_init(&d->sighup, hup_cb, SIGHUP);
    d->sighup.data = d;
    ev_signal_start(d->loop, &d->sighup);
    ev_signal_init(&d->sigterm, signal_cb, SIGTERM);
    ev_signal_init(&d->sigint, signal_cb, SIGINT);
    d->sigterm.data = d->sigint.data = d;
    ev_signal_start(d->loop, &d->sigterm);
    ev_signal_start(d->loop, &d->sigint);
    ev_async_init(&d->joined, joined_cb);
    ev_async_start(d->loop, &d->joined);
    ev_run(d->loop, 0);
    ev_timer_stop(d->loop, &d->drain_timer);
}

void
dp_daemon_done(struct dp_daemon *d)
{
    d->admin = dp_admin_free(d->admin);
    if (!d->stopping) {
        for (unsigned i = 0; i < d->n_workers; i++)
            dp_worker_command(&d->workers[i], DP_WORKER_STOP);
        join_all(d);
    }
    dp_cplink_stop(d); /* after the workers: they may still be asking for quota leases */
    for (unsigned i = 0; i < d->n_workers; i++)
        dp_worker_done(&d->workers[i]);
    free(d->workers);
    d->workers = NULL;
    d->current = dp_snapshot_unref(d->current);
    dp_registry_done(&d->reg.targets);
    dp_registry_done(&d->reg.upstreams);
    dp_registry_done(&d->reg.routes);
    dp_registries_policy_done(&d->reg);
    dp_revoked_done(&d->reg.revoked);
}
