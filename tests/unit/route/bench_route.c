/* Micro benchmark: lookups per second against a table of 5,000 routes. Prints figures; asserts
 * nothing. Bounded: at most ~1 s of lookups per scenario. */
#include "route.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define N_SERVICES 1250 /* x 4 templates = 5,000 routes */
#define N_PATHS    4096
#define MAX_ROUNDS 2000

static double
now_s(void)
{
    struct timespec ts;

    (void)clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
run(const struct edge_route_table *t, const char *label, char paths[][96], size_t n_paths)
{
    struct edge_route_match m;
    char scratch[256];
    unsigned long lookups = 0, ok = 0;
    double start = now_s(), elapsed;

    for (int round = 0; round < MAX_ROUNDS; round++) {
        for (size_t i = 0; i < n_paths; i++) {
            (void)edge_route_lookup(t, "GET", 3, paths[i], strlen(paths[i]), scratch,
                                    sizeof(scratch), &m);
            ok += m.status == 200;
            lookups++;
        }
        if (now_s() - start > 1.0)
            break;
    }
    elapsed = now_s() - start;
    printf("%-28s %10lu lookups in %.3f s: %.2f M lookups/s, %.0f ns each (%lu x 200)\n", label,
           lookups, elapsed, (double)lookups / elapsed / 1e6, elapsed * 1e9 / (double)lookups, ok);
}

int
main(void)
{
    static char paths[N_PATHS][96];
    struct edge_route_builder *b = edge_route_builder_new();
    struct edge_route_table *t;
    char tmpl[128];
    double start;
    unsigned seed = 42;

    if (!b)
        return 1;
    start = now_s();
    for (int i = 0; i < N_SERVICES; i++) {
        static const char *const shapes[] = {"/svc%d/v1/items", "/svc%d/v1/items/{id}",
                                             "/svc%d/v1/items/{id}/files/{name}.json",
                                             "/svc%d/{proxy+}"};

        for (int s = 0; s < 4; s++) {
            (void)snprintf(tmpl, sizeof(tmpl), shapes[s], i);
            if (edge_route_builder_add(b, "GET", tmpl, NULL, NULL, 0) != 0) {
                fprintf(stderr, "add %s failed\n", tmpl);
                return 1;
            }
        }
    }
    t = edge_route_builder_finish(b);
    if (!t)
        return 1;
    printf("built 5000 routes in %.1f ms\n", (now_s() - start) * 1e3);

    for (int kind = 0; kind < 5; kind++) {
        static const char *const labels[] = {"literal /svcN/v1/items", "param /svcN/v1/items/ID",
                                             "partial .../files/F.json", "greedy /svcN/a/b/c",
                                             "404 /nosuch/..."};

        for (size_t i = 0; i < N_PATHS; i++) {
            int svc = (int)(rand_r(&seed) % N_SERVICES);

            switch (kind) {
            case 0:
                (void)snprintf(paths[i], sizeof(paths[i]), "/svc%d/v1/items", svc);
                break;
            case 1:
                (void)snprintf(paths[i], sizeof(paths[i]), "/svc%d/v1/items/%u", svc,
                               rand_r(&seed));
                break;
            case 2:
                (void)snprintf(paths[i], sizeof(paths[i]), "/svc%d/v1/items/%u/files/r%u.json", svc,
                               rand_r(&seed), rand_r(&seed));
                break;
            case 3:
                (void)snprintf(paths[i], sizeof(paths[i]), "/svc%d/a/b%%20c/%u", svc,
                               rand_r(&seed));
                break;
            default:
                (void)snprintf(paths[i], sizeof(paths[i]), "/nosuch/%u/x", rand_r(&seed));
                break;
            }
        }
        run(t, labels[kind], paths, N_PATHS);
    }
    edge_route_table_free(t);
    return 0;
}
