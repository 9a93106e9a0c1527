/* Quota periods in UTC: a day; a week from Monday; a calendar month. One definition for the
 * nodes (which count per period), the control plane's lease ledger and its usage report. */
#ifndef EDGE_PERIOD_H
#define EDGE_PERIOD_H

#include <stdint.h>

/* The numbers of edge.v1.QuotaPeriod (and of the data plane's enum dp_quota_period). */
enum edge_period { EDGE_PERIOD_DAY = 1, EDGE_PERIOD_WEEK = 2, EDGE_PERIOD_MONTH = 3 };

/* [*ret_start, *ret_end) in Unix seconds: the period holding unix_s. 0, or -EINVAL (another
 * period kind, or a time gmtime cannot take). */
int edge_period_of(int period, int64_t unix_s, int64_t *ret_start, int64_t *ret_end);

#endif
