/* Wires the config client (dataplane/cpclient) to the daemon. */
#include "core/daemon.h"
#include "cpclient/cpclient.h"
#include "edge_config.h"

#include <stdio.h>
#include <stdlib.h>

struct dp_cplink {
    struct dp_cpclient *client;
};

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
