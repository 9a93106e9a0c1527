/* A brute-force reference matcher for the fuzz target: every route is tried against the
 * request on its own and the winner is chosen by comparing precedence ranks segment by
 * segment. It shares no code with the trie in common/route, so the two must agree. */
#ifndef FUZZ_ROUTE_ORACLE_H
#define FUZZ_ROUTE_ORACLE_H

#include "route.h"

#include <stddef.h>

struct oracle;

struct oracle *oracle_new(void);
void oracle_free(struct oracle *o);
/* Records a route that edge_route_builder_add accepted (template valid). id is its data. */
void oracle_add(struct oracle *o, const char *method, const char *tmpl, void *id);
/* Computes the expected outcome; fills status, route, n_params, params (values point into an
 * internal buffer, valid until the next call) and allow. */
void oracle_lookup(struct oracle *o, const char *method, size_t method_len, const char *path,
                   size_t path_len, struct edge_route_match *ret);

#endif
