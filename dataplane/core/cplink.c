/* Wires the config client (dataplane/cpclient) to the daemon. */
#include "core/daemon.h"
#include "cpclient/cpclient.h"
#include "edge_config.h"
#include "policy/lease.h"
#include "policy/usage.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

struct dp_cplink {
    struct dp_cpclient *client;
    struct dp_daemon *d;
    struct dp_leases *leases;
    ev_timer usage; /* every second: usage report, fleet size for fleet-wide limits */
};

/* The stream's state decides whether leases are in force; a new stream drops them all. */
static void
leases_sync(struct dp_cplink *l)
{
    struct dp_buckets *b = l->d->reg.buckets;
    if (b) {
        dp_leases_attach(l->leases, b);
        unsigned fleet = dp_cpclient_fleet_size(l->client);
        if (fleet)
            atomic_store(&b->fleet, fleet);
    }
    unsigned gen = 0;
    bool up = dp_cpclient_stream(l->client, &gen);
    dp_leases_stream(l->leases, up, gen);
}

static int
leases_send(void *ctx, const Edge__V1__QuotaLeases *batch)
{
    struct dp_cplink *l = ctx;
    return dp_cpclient_send_leases(l->client, batch);
}

static void
leases_kick(void *ctx)
{
    struct dp_cplink *l = ctx;
    for (unsigned i = 0; i < l->d->n_workers; i++)
        dp_worker_kick_leases(&l->d->workers[i]);
}

static void
on_grants(void *ctx, Edge__V1__QuotaGrant *const *grants, size_t n, unsigned generation)
{
    struct dp_cplink *l = ctx;
    leases_sync(l);
    unsigned gen = 0;
    if (n == 0 || !dp_cpclient_stream(l->client, &gen) || gen != generation)
        return; /* a new stream (synced above), or answers of one that is gone */
    dp_leases_on_grants(l->leases, grants, n);
}

static int
apply(void *ctx, const Edge__V1__ConfigUpdate *cfg, const struct dp_key_changes *keys, char *err,
      size_t err_len)
{
    struct dp_cplink *l = ctx;
    int rc = dp_daemon_apply(l->d, cfg, keys, err, err_len);
    if (rc == 0) {
        leases_sync(l);
        dp_leases_config_changed(l->leases);
    }
    return rc;
}

/* The node's keys for the config client's cache (cpclient/cpkeys.h). */
struct key_dump {
    struct dp_keystore *ks;
    int (*sink)(void *, const char *, const Edge__V1__ApiKey *);
    void *sink_ctx;
};

static int
dump_key(void *ctx, const struct dp_key *key, const uint8_t sha256[32], const uint32_t *plan_ids,
         size_t n_plans)
{
    struct key_dump *kd = ctx;
    const char *plans[DP_KEY_MAX_PLANS];
    for (size_t i = 0; i < n_plans && i < DP_KEY_MAX_PLANS; i++)
        plans[i] = dp_keystore_plan_name(kd->ks, plan_ids[i]);
    Edge__V1__ApiKey k = EDGE__V1__API_KEY__INIT;
    k.id = (char *)key->id;
    k.enabled = key->enabled;
    k.expires_at = key->expires_at;
    k.plans = (char **)plans;
    k.n_plans = n_plans < DP_KEY_MAX_PLANS ? n_plans : DP_KEY_MAX_PLANS;
    k.secret_sha256.data = (uint8_t *)sha256;
    k.secret_sha256.len = 32;
    return kd->sink(kd->sink_ctx, key->id, &k);
}

static int
keys_each(void *ctx, int (*sink)(void *, const char *, const Edge__V1__ApiKey *), void *sink_ctx)
{
    struct dp_daemon *d = ctx;
    if (!d->reg.keystore)
        return 0;
    struct key_dump kd = {d->reg.keystore, sink, sink_ctx};
    return dp_keystore_each(d->reg.keystore, dump_key, &kd);
}

/* Stream thread: a delta's revocations take effect before the node has compiled it. */
static void
on_receive(void *ctx, const Edge__V1__ConfigUpdate *upd)
{
    struct dp_daemon *d = ctx;
    dp_revoked_note_update(&d->reg.revoked, upd);
}

/* Entries every worker has compiled in go (each snapshot refuses its keys itself). */
static void
revoked_expire(struct dp_daemon *d)
{
    uint64_t min = UINT64_MAX;
    for (unsigned i = 0; i < d->n_workers; i++) {
        uint64_t r = atomic_load(&d->workers[i].taken_revision);
        if (r < min)
            min = r;
    }
    if (min != UINT64_MAX)
        dp_revoked_expire(&d->reg.revoked, min);
}

static int
usage_send(void *ctx, const Edge__V1__UsageReport *r)
{
    return dp_cpclient_send_usage(ctx, r);
}

static void
usage_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
    struct dp_cplink *l = (struct dp_cplink *)((char *)t - offsetof(struct dp_cplink, usage));
    struct dp_daemon *d = l->d;
    leases_sync(l); /* and the fleet size */
    dp_leases_tick(l->leases);
    revoked_expire(d);
    if (d->current)
        (void)dp_policy_usage_report(d->current, usage_send, l->client); /* retried next tick */
}

/* At exit: what was counted since the last report goes out before the stream closes, so a
 * node that stops loses no usage (bounded: a control plane that does not read costs 1 s). */
static void
flush_usage(struct dp_cplink *l)
{
    if (!l->d->current)
        return;
    bool sent = false;
    for (int i = 0; i < 200; i++) {
        if (dp_cpclient_sends_idle(l->client)) {
            if (sent)
                return;
            if (dp_policy_usage_report(l->d->current, usage_send, l->client) < 0)
                return;
            sent = true;
        }
        struct timespec ts = {0, 5 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
}

int
dp_cplink_start(struct dp_daemon *d, const struct dp_cplink_config *cfg, char *err, size_t err_len)
{
    struct dp_cplink *l = calloc(1, sizeof(*l));
    if (!l) {
        snprintf(err, err_len, "out of memory");
        return -12;
    }
    struct dp_cpclient_config cc = {
        .target = cfg->target,
        .cache_dir = cfg->cache_dir,
        .node_id = cfg->node_id,
        .version = EDGE_VERSION,
        .token = cfg->token,
        .ca_file = cfg->ca_file,
        .cert_file = cfg->cert_file,
        .key_file = cfg->key_file,
        .listeners = d->settings.listen,
        .on_receive = on_receive,
        .on_receive_ctx = d,
        .keys_each = keys_each,
        .keys_each_ctx = d,
    };
    l->d = d;
    l->leases = dp_leases_new(d->loop, leases_send, leases_kick, l);
    if (l->leases)
        l->client = dp_cpclient_new(d->loop, &cc, apply, l, err, err_len);
    if (!l->client) {
        if (!l->leases)
            snprintf(err, err_len, "out of memory");
        dp_leases_free(l->leases);
        free(l);
        return -22;
    }
    dp_cpclient_on_grants(l->client, on_grants, l);
    d->cp = l;
    ev_timer_init(&l->usage, usage_cb, 1., 1.);
    ev_timer_start(d->loop, &l->usage);
    ev_unref(d->loop); /* the report timer alone does not keep the loop running */
    int e = dp_cpclient_start(l->client);
    if (e < 0)
        snprintf(err, err_len, "config client start failed (%d)", e);
    return e;
}

void
dp_cplink_stop(struct dp_daemon *d)
{
    if (!d->cp)
        return;
    ev_ref(d->loop);
    ev_timer_stop(d->loop, &d->cp->usage);
    flush_usage(d->cp);
    dp_cpclient_free(d->cp->client);
    dp_leases_detach(d->cp->leases);
    dp_leases_free(d->cp->leases);
    free(d->cp);
    d->cp = NULL;
}

bool
dp_cplink_connected(const struct dp_daemon *d)
{
    return d->cp && dp_cpclient_connected(d->cp->client);
}

const char *
dp_cplink_node_id(const struct dp_daemon *d)
{
    return d->cp ? dp_cpclient_node_id(d->cp->client) : NULL;
}
