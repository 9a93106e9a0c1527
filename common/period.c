#include "period.h"

#include <errno.h>
#include <time.h>

static int64_t
floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

int
edge_period_of(int period, int64_t unix_s, int64_t *ret_start, int64_t *ret_end)
{
    int64_t day = floor_div(unix_s, 86400);
    switch (period) {
    case EDGE_PERIOD_DAY:
        *ret_start = day * 86400;
        *ret_end = *ret_start + 86400;
        return 0;
    case EDGE_PERIOD_WEEK: {
        /* 1970-01-01 was a Thursday: the Monday-based weekday is (day + 3) mod 7. */
        int64_t wd = ((day + 3) % 7 + 7) % 7;
        *ret_start = (day - wd) * 86400;
        *ret_end = *ret_start + 7 * 86400;
        return 0;
    }
    case EDGE_PERIOD_MONTH: {
        time_t t = (time_t)unix_s;
        struct tm tm;
        if (!gmtime_r(&t, &tm))
            return -EINVAL;
        struct tm a = {.tm_year = tm.tm_year, .tm_mon = tm.tm_mon, .tm_mday = 1};
        struct tm b = {.tm_year = tm.tm_year + (tm.tm_mon == 11),
                       .tm_mon = (tm.tm_mon + 1) % 12,
                       .tm_mday = 1};
        *ret_start = (int64_t)timegm(&a);
        *ret_end = (int64_t)timegm(&b);
        return 0;
    }
    default:
        return -EINVAL;
    }
}
