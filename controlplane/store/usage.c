/* Usage: per key, plan and UTC day request counts, as the nodes report them, and the quota
 * left in each day's period. These rows are not configuration: writing them bumps no
 * revision. */
#include "keys_internal.h"
#include "pb.h"
#include "period.h"
#include "store_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define DAY_S              86400
#define MAX_USAGE_DAYS     366
#define DEFAULT_USAGE_DAYS 30

/* "YYYY-MM-DD" (exactly, a real date) -> Unix time of its midnight UTC. */
static int
parse_day(const char *s, int64_t *ret)
{
    struct tm tm = {0};
    int y, m, d;
    char tail;

    if (!s || strlen(s) != 10 || s[4] != '-' || s[7] != '-' ||
        sscanf(s, "%4d-%2d-%2d%c", &y, &m, &d, &tail) != 3)
        return -EINVAL;
    if (y < 1970 || y > 9999 || m < 1 || m > 12 || d < 1 || d > 31)
        return -EINVAL;
    tm.tm_year = y - 1900;
    tm.tm_mon = m - 1;
    tm.tm_mday = d;
    time_t t = timegm(&tm);
    struct tm back;
    if (t == (time_t)-1 || !gmtime_r(&t, &back) || back.tm_mday != d)
        return -EINVAL; /* 2026-02-30 */
    *ret = (int64_t)t;
    return 0;
}

static void
fmt_day(int64_t t, char out[11])
{
    time_t tt = (time_t)t;
    struct tm tm;

    (void)gmtime_r(&tt, &tm);
    (void)strftime(out, 11, "%Y-%m-%d", &tm);
}

/* The first day of the quota period holding day t (midnight UTC): weeks start on Monday. */
static int64_t
period_start(int64_t t, Edge__V1__QuotaPeriod period)
{
    int64_t start = t, end;
    return edge_period_of((int)period, t, &start, &end) == 0 ? start : t;
}

int
cp_store_usage_add(struct cp_store *st, const char *key_id, const char *plan, const char *day,
                   uint64_t count, struct cp_store_err *err)
{
    int64_t t;

    if (parse_day(day, &t) < 0)
        return cp_store_fail(err, -EINVAL, "day: '%s' is not a date (YYYY-MM-DD)", day ? day : "");
    if (count > INT64_MAX)
        return cp_store_fail(err, -EINVAL, "count: too large");
    sqlite3_stmt *s = cp_db_stmt(st, "INSERT INTO usage (key_id, plan, day, count)"
                                     " VALUES (?, ?, ?, ?) ON CONFLICT (plan, key_id, day)"
                                     " DO UPDATE SET count = count + excluded.count");
    if (!s)
        return cp_db_fail(st, err, "add usage");
    (void)cp_db_bind_text(s, 1, key_id);
    (void)cp_db_bind_text(s, 2, plan);
    (void)cp_db_bind_text(s, 3, day);
    (void)sqlite3_bind_int64(s, 4, (sqlite3_int64)count);
    int r = cp_db_step_done(st, s, "add usage", err);
    if (r < 0)
        return r;
    /* Usage, not configuration: no change row, no revision (schema.c's key trigger). */
    s = cp_db_stmt(st, "UPDATE api_keys SET last_used_at = max(last_used_at, ?) WHERE id = ?");
    if (!s)
        return cp_db_fail(st, err, "key last used");
    (void)sqlite3_bind_int64(s, 1, cp_store_now());
    (void)cp_db_bind_text(s, 2, key_id);
    return cp_db_step_done(st, s, "key last used", err);
}

int
cp_store_usage_batch(struct cp_store *st, bool begin, struct cp_store_err *err)
{
    if (begin)
        return cp_db_begin(st, err);
    sqlite3_stmt *s = cp_db_stmt(st, "COMMIT");
    if (!s)
        return cp_db_fail(st, err, "commit usage");
    int r = cp_db_step_done(st, s, "commit usage", err);
    if (r < 0)
        cp_db_rollback(st);
    return r;
}

/* The key's count in [from, to] (days as text). */
static int
period_sum(struct cp_store *st, const char *plan, const char *key_id, const char *from,
           const char *to, uint64_t *ret, struct cp_store_err *err)
{
    int64_t v = 0;
    sqlite3_stmt *s = cp_db_stmt(st, "SELECT COALESCE(SUM(count), 0) FROM usage WHERE plan = ?"
                                     " AND key_id = ? AND day >= ? AND day <= ?");

    if (!s)
        return cp_db_fail(st, err, "get usage");
    (void)cp_db_bind_text(s, 1, plan);
    (void)cp_db_bind_text(s, 2, key_id);
    (void)cp_db_bind_text(s, 3, from);
    (void)cp_db_bind_text(s, 4, to);
    int r = cp_db_step_int(st, s, &v, err);
    if (r < 0)
        return r;
    *ret = v > 0 ? (uint64_t)v : 0;
    return 0;
}

int
cp_store_usage_sum(struct cp_store *st, const char *key_id, const char *plan, int64_t from_s,
                   int64_t to_s, uint64_t *ret, struct cp_store_err *err)
{
    char from[11], to[11];

    if (to_s <= from_s) {
        *ret = 0;
        return 0;
    }
    fmt_day(from_s, from);
    fmt_day(to_s - 1, to);
    return period_sum(st, plan, key_id, from, to, ret, err);
}

static int
usage_rows(struct cp_store *st, Edge__V1__GetUsageResponse *resp, const char *key_id,
           struct cp_store_err *err)
{
    sqlite3_stmt *s = cp_db_stmt(st, "SELECT u.key_id, COALESCE(k.name, ''), u.day, u.count"
                                     " FROM usage u LEFT JOIN api_keys k ON k.id = u.key_id"
                                     " WHERE u.plan = ?1 AND (?2 = '' OR u.key_id = ?2)"
                                     " AND u.day >= ?3 AND u.day <= ?4"
                                     " ORDER BY k.name, u.key_id, u.day");
    int rc;

    if (!s)
        return cp_db_fail(st, err, "get usage");
    (void)cp_db_bind_text(s, 1, resp->plan);
    (void)cp_db_bind_text(s, 2, key_id);
    (void)cp_db_bind_text(s, 3, resp->from);
    (void)cp_db_bind_text(s, 4, resp->to);
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        Edge__V1__UsageDay *d = edge_pb_new(&edge__v1__usage_day__descriptor);
        d->key_id = cp_db_col_str(s, 0);
        d->key_name = cp_db_col_str(s, 1);
        d->day = cp_db_col_str(s, 2);
        int64_t c = sqlite3_column_int64(s, 3);
        d->count = c > 0 ? (uint64_t)c : 0;
        edge_pb_append((void ***)&resp->days, &resp->n_days, d);
    }
    cp_db_done(s);
    return rc == SQLITE_DONE ? 0 : cp_db_fail(st, err, "get usage");
}

int
cp_store_usage_get(struct cp_store *st, const Edge__V1__GetUsageRequest *req, int64_t now,
                   Edge__V1__GetUsageResponse **ret_usage, struct cp_store_err *err)
{
    int64_t from, to, plan_id;
    char from_s[11], to_s[11], key_id[16] = "";
    Edge__V1__UsagePlan *plan = NULL;

    if (req->to && *req->to) {
        if (parse_day(req->to, &to) < 0)
            return cp_store_fail(err, -EINVAL, "to: '%s' is not a date (YYYY-MM-DD)", req->to);
    } else {
        to = now - now % DAY_S;
    }
    if (req->from && *req->from) {
        if (parse_day(req->from, &from) < 0)
            return cp_store_fail(err, -EINVAL, "from: '%s' is not a date (YYYY-MM-DD)", req->from);
    } else {
        from = to - (DEFAULT_USAGE_DAYS - 1) * DAY_S;
    }
    if (from > to)
        return cp_store_fail(err, -EINVAL, "from: must not be after to");
    if ((to - from) / DAY_S >= MAX_USAGE_DAYS)
        return cp_store_fail(err, -EINVAL, "from: at most %d days from to", MAX_USAGE_DAYS);
    fmt_day(from, from_s);
    fmt_day(to, to_s);

    int r = cp_db_read_begin(st, err);
    if (r < 0)
        return r;
    sqlite3_stmt *s = cp_db_stmt(st, "SELECT id FROM usage_plans WHERE name = ?");
    if (!s) {
        r = cp_db_fail(st, err, "get usage");
        goto out;
    }
    (void)cp_db_bind_text(s, 1, req->plan);
    r = cp_db_step_int(st, s, &plan_id, err);
    if (r > 0)
        r = cp_store_fail(err, -ENOENT, "plan '%s' not found", req->plan ? req->plan : "");
    if (r == 0)
        r = cp_db_plan_load(st, plan_id, &plan, err);
    if (r == 0 && req->key && *req->key)
        r = cp_db_key_resolve(st, req->key, key_id, err);
    if (r < 0)
        goto out;

    Edge__V1__GetUsageResponse *resp = edge_pb_new(&edge__v1__get_usage_response__descriptor);
    resp->plan = edge_pb_strdup(plan->name);
    resp->from = edge_pb_strdup(from_s);
    resp->to = edge_pb_strdup(to_s);
    resp->unlimited = !plan->quota;
    if (plan->quota) {
        resp->quota = plan->quota;
        plan->quota = NULL;
    }
    r = usage_rows(st, resp, key_id, err);
    /* remaining = limit - the key's count from its period's first day to this day. */
    for (size_t i = 0; r == 0 && resp->quota && i < resp->n_days; i++) {
        Edge__V1__UsageDay *d = resp->days[i];
        int64_t t;
        char start[11];
        uint64_t used = 0;
        (void)parse_day(d->day, &t);
        fmt_day(period_start(t, resp->quota->period), start);
        r = period_sum(st, resp->plan, d->key_id, start, d->day, &used, err);
        d->remaining = used < resp->quota->limit ? resp->quota->limit - used : 0;
    }
    if (r < 0)
        edge_pb_free(resp);
    else
        *ret_usage = resp;
out:
    cp_db_read_end(st);
    edge_pb_free(plan);
    return r;
}
