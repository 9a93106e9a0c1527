/* Publish cost of the watch's incremental configuration (prints, asserts nothing): one-key
 * changes with 100,000 and 1,000,000 keys loaded, the full reload, the full snapshot's size and
 * pack time, and this process's RSS (the watch's memory plus SQLite's cache) at 1,000,000 keys.
 * Usage: watch_bench [max_keys]  (default 1000000; TMPDIR picks the database's directory). */
#include "watch_test.h"

#include <time.h>

#define BATCH 100000

static double
now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static long
rss_kb(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kb = -1;

    if (!f)
        return -1;
    while (fgets(line, sizeof(line), f))
        if (sscanf(line, "VmRSS: %ld kB", &kb) == 1)
            break;
    fclose(f);
    return kb;
}

static void
add_keys(struct cp_store *st, size_t from, size_t n)
{
    struct cp_store_err err = {0};
    Edge__V1__ApiKey *in = calloc(n, sizeof(*in)), **ins = calloc(n, sizeof(*ins));
    uint8_t(*h)[32] = calloc(n, sizeof(*h));
    char(*names)[24] = calloc(n, sizeof(*names));
    const char **prefixes = calloc(n, sizeof(*prefixes));

    for (size_t i = 0; i < n; i++) {
        size_t k = from + i;
        edge__v1__api_key__init(&in[i]);
        (void)snprintf(names[i], sizeof(names[i]), "key-%08zu", k);
        memset(h[i], 0xab, 32);
        memcpy(h[i], &k, sizeof(k));
        in[i].name = names[i];
        in[i].enabled = true;
        ins[i] = &in[i];
        prefixes[i] = "abababab";
    }
    must(cp_store_key_create_bulk(st, "bench", ins, (const uint8_t(*)[32])h, prefixes, n, NULL,
                                  &err),
         &err);
    free(in);
    free(ins);
    free(h);
    free(names);
    free(prefixes);
}

static int
dbl_cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* One-key changes (enable/disable of one key): the commit, and the watch's refresh + delta. */
static void
measure_one_key(struct cp_store *st, struct cp_watch_config *c, size_t keys)
{
    struct cp_store_err err = {0};
    double commit[50], publish[50];
    char name[24];

    for (int i = 0; i < 50; i++) {
        grpc_slice delta;
        size_t changes = 0;
        (void)snprintf(name, sizeof(name), "key-%08zu", (size_t)(i * 7919) % keys);
        Edge__V1__ApiKey *k = NULL;
        must(cp_store_key_get(st, name, &k, &err), &err);
        bool enable = !k->enabled;
        edge_pb_free(k);
        double t0 = now_ms();
        must(cp_store_key_set_enabled(st, "bench", name, enable, NULL, &err), &err);
        double t1 = now_ms();
        if (cp_watch_config_refresh(c, st, 10, &delta, &changes) != 1 || changes != 1)
            fail_msg("refresh: expected one change");
        double t2 = now_ms();
        grpc_slice_unref(delta);
        commit[i] = t1 - t0;
        publish[i] = t2 - t1;
    }
    qsort(commit, 50, sizeof(double), dbl_cmp);
    qsort(publish, 50, sizeof(double), dbl_cmp);
    printf("%8zu keys: one-key publish (refresh + delta) median %.3f ms, p99 %.3f ms, max %.3f"
           " ms; store commit median %.3f ms\n",
           keys, publish[25], publish[49], publish[49], commit[25]);
}

static void
bench(void **state)
{
    struct fixture *f = *state;
    struct cp_watch_config c = {0};
    const char *env = getenv("WATCH_BENCH_KEYS");
    size_t max_keys = env ? strtoul(env, NULL, 10) : 1000000;
    size_t keys = 0;
    double t0;

    make_api(f->st, "pets");
    assert_int_equal(cp_watch_config_refresh(&c, f->st, 0, NULL, NULL), 2);
    while (keys < max_keys) {
        size_t n = max_keys - keys < BATCH ? max_keys - keys : BATCH;
        t0 = now_ms();
        add_keys(f->st, keys, n);
        double t1 = now_ms();
        grpc_slice delta;
        size_t changes = 0;
        if (cp_watch_config_refresh(&c, f->st, 0, &delta, &changes) != 1)
            fail_msg("refresh after bulk");
        double t2 = now_ms();
        grpc_slice_unref(delta);
        keys += n;
        printf("%8zu keys: bulk insert of %zu %.0f ms, refresh %.0f ms (%zu changes, %u full"
               " loads so far)\n",
               keys, n, t1 - t0, t2 - t1, changes, c.full_loads);
        fflush(stdout);
        if (keys == 100000 || keys == max_keys)
            measure_one_key(f->st, &c, keys);
    }
    t0 = now_ms();
    grpc_slice full = cp_watch_config_pack_full(&c, 10);
    double t1 = now_ms();
    printf("%8zu keys: full snapshot %.1f MB, packed from memory in %.0f ms\n", keys,
           (double)GRPC_SLICE_LENGTH(full) / 1e6, t1 - t0);
    grpc_slice_unref(full);
    Edge__V1__ConfigUpdate *u = NULL;
    t0 = now_ms();
    assert_int_equal(cp_store_load_config(f->st, &u), 0);
    t1 = now_ms();
    edge_pb_free(u);
    printf("%8zu keys: cp_store_load_config (startup, or a log overflow) %.0f ms\n", keys, t1 - t0);
    printf("%8zu keys: RSS %.0f MB (watch config %.0f MB of packed resources)\n", keys,
           (double)rss_kb() / 1024, (double)c.put_bytes / 1e6);
    cp_watch_config_done(&c);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(bench, fixture_setup, fixture_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
