/* Fuzzes OpenAPI import: any bytes must give a plan or a clear error, never a crash, a leak or
 * undefined behaviour; and a document that imports must export to one that imports again with
 * the same number of routes. */
#include "importer/importer.h"
#include "pb.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static size_t
import_routes(const char *doc, size_t len)
{
    struct cp_importer_opts opts = {.name = "fuzz", .upstream = "up"};
    Edge__V1__ImportApiResponse *resp = NULL;
    Edge__V1__ListRoutesResponse *routes = NULL;
    char err[512];
    size_t n = SIZE_MAX;

    if (cp_importer_parse(doc, len, &opts, &resp, &routes, err, sizeof(err)) == 0) {
        n = routes->n_routes;
        edge_pb_free(resp);
        edge_pb_free(routes);
    } else if (err[0] == '\0') {
        abort(); /* a failure must say why */
    }
    return n;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct cp_importer_opts opts = {.name = "fuzz", .upstream = "up"};
    Edge__V1__ImportApiResponse *resp = NULL;
    Edge__V1__ListRoutesResponse *routes = NULL;
    char err[512];

    if (cp_importer_parse((const char *)data, size, &opts, &resp, &routes, err, sizeof(err)) != 0)
        return 0;
    Edge__V1__Upstream up = EDGE__V1__UPSTREAM__INIT;
    Edge__V1__Target t = EDGE__V1__TARGET__INIT;
    Edge__V1__Target *tp = &t;
    Edge__V1__Upstream *upp = &up;
    up.name = "up";
    t.host = "127.0.0.1";
    t.port = 8080;
    up.targets = &tp;
    up.n_targets = 1;
    for (int json = 0; json < 2; json++) {
        char *doc = NULL;
        size_t len = 0;
        if (cp_importer_export(resp->api, routes->routes, routes->n_routes, &upp, 1, NULL, json,
                               &doc, &len, err, sizeof(err)) == 0) {
            size_t again = import_routes(doc, len);
            if (again != routes->n_routes) {
                fprintf(stderr, "round trip: %zu routes, then %zu\n", routes->n_routes, again);
                abort();
            }
            free(doc);
        }
    }
    edge_pb_free(resp);
    edge_pb_free(routes);
    return 0;
}
