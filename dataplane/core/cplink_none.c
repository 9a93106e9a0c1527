/* Built when dataplane/cpclient is absent: only --config-file can configure the node. */
#include "core/daemon.h"

#include <errno.h>
#include <stdio.h>

int
dp_cplink_start(struct dp_daemon *d, const struct dp_cplink_config *cfg, char *err, size_t err_len)
{
    snprintf(err, err_len, "this build has no control-plane client (use --config-file)");
    return -ENOTSUP;
}

void
dp_cplink_stop(struct dp_daemon *d)
{
}

bool
dp_cplink_connected(const struct dp_daemon *d)
{
    return false;
}

const char *
dp_cplink_node_id(const struct dp_daemon *d)
{
    return NULL;
}
