/* Wires the config client (dataplane/cpclient) to the daemon. */
#include "core/daemon.h"
#include "cpclient/cpclient.h"
#include "edge_config.h"
#include "policy/usage.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>

struct dp_cplink {
    struct dp_cpclient *client;
    struct dp_daemon *d;
    ev_timer usage; /* every second: usage report, fleet size for fleet-wide limits */
};

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
    if (d->reg.buckets)
        atomic_store(&d->reg.buckets->fleet, dp_cpclient_fleet_size(l->client));
    if (d->current)
        (void)dp_policy_usage_report(d->current, usage_send, l->client); /* retried next tick */
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
        .listeners = d->settings.listen,
    };
    l->client = dp_cpclient_new(d->loop, &cc, dp_daemon_apply, d, err, err_len);
    if (!l->client) {
        free(l);
        return -22;
    }
    d->cp = l;
    l->d = d;
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
    dp_cpclient_free(d->cp->client);
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
