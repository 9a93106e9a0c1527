/* edgectl key, plan and usage (cmd_key.c, cmd_plan.c): entry points as in ctl.h. */
#ifndef CTL_CMD_KEY_H
#define CTL_CMD_KEY_H

#include "ctl.h"

int ctl_cmd_key(struct ctl_ctx *ctx, int argc, char **argv);
int ctl_cmd_plan(struct ctl_ctx *ctx, int argc, char **argv);
int ctl_cmd_usage(struct ctl_ctx *ctx, int argc, char **argv); /* argv[0] = "usage" */

/* --expires WHEN: an ISO date or time (UTC: 2026-12-31, 2026-12-31T12:00[:00][Z]) or a
 * duration from now (30d, 12h, 45m, 90s, 2w). Returns 0 and *ret (Unix time), or -EINVAL. */
int ctl_parse_expires(const char *s, int64_t now, int64_t *ret);

#endif
