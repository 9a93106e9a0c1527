/* Shared by the watch's tests: a model configuration (packed Resources by (type, id)) built
 * from a full ConfigUpdate or by applying a delta, compared with the watch's own. */
#ifndef WATCH_TEST_H
#define WATCH_TEST_H

#include "../store/store_test.h"
#include "watch/watch_internal.h"

#include <grpc/slice.h>

struct model_res {
    int type;
    char *id;
    uint8_t *bytes;
    size_t len;
};

struct model {
    struct model_res *r;
    size_t n;
    uint64_t revision;
};

static __attribute__((unused)) int
model_cmp(const void *a, const void *b)
{
    const struct model_res *x = a, *y = b;
    if (x->type != y->type)
        return x->type < y->type ? -1 : 1;
    return strcmp(x->id, y->id);
}

static __attribute__((unused)) void
model_done(struct model *m)
{
    for (size_t i = 0; i < m->n; i++) {
        free(m->r[i].id);
        free(m->r[i].bytes);
    }
    free(m->r);
    memset(m, 0, sizeof(*m));
}

static __attribute__((unused)) struct model_res
model_res_of(const Edge__V1__Resource *res)
{
    struct model_res r;
    r.type = res->type;
    r.id = strdup(res->id);
    r.len = protobuf_c_message_get_packed_size(&res->base);
    r.bytes = malloc(r.len ? r.len : 1);
    protobuf_c_message_pack(&res->base, r.bytes);
    return r;
}

/* Applies u (full or delta) to m. */
static __attribute__((unused)) void
model_apply(struct model *m, const Edge__V1__ConfigUpdate *u)
{
    if (u->full) {
        model_done(m);
    } else {
        assert_int_equal(u->base_revision, m->revision);
    }
    for (size_t k = 0; k < u->n_remove; k++) {
        struct model_res key = {.type = u->remove[k]->type, .id = u->remove[k]->id};
        struct model_res *f = bsearch(&key, m->r, m->n, sizeof(*m->r), model_cmp);
        if (f) {
            free(f->id);
            free(f->bytes);
            memmove(f, f + 1, (size_t)(m->r + m->n - (f + 1)) * sizeof(*f));
            m->n--;
        }
    }
    /* Replacements in place; inserts appended and sorted in once. */
    size_t sorted = m->n;
    m->r = realloc(m->r, (m->n + u->n_put + 1) * sizeof(*m->r));
    for (size_t k = 0; k < u->n_put; k++) {
        struct model_res nr = model_res_of(u->put[k]);
        struct model_res *f = sorted ? bsearch(&nr, m->r, sorted, sizeof(*m->r), model_cmp) : NULL;
        if (f) {
            free(f->id);
            free(f->bytes);
            *f = nr;
        } else {
            m->r[m->n++] = nr;
        }
    }
    qsort(m->r, m->n, sizeof(*m->r), model_cmp);
    m->revision = u->revision;
}

/* m must equal the watch's configuration c, resource by resource, byte by byte. */
static __attribute__((unused)) void
model_assert_config(const struct model *m, const struct cp_watch_config *c)
{
    assert_int_equal(m->revision, c->revision);
    assert_int_equal(m->n, c->n);
    for (size_t i = 0; i < m->n; i++) {
        const struct cp_watch_res *r = c->res[i];
        if (m->r[i].type != (int)r->type || strcmp(m->r[i].id, r->data) != 0)
            fail_msg("resource %zu: want %d '%s', have %d '%s'", i, m->r[i].type, m->r[i].id,
                     (int)r->type, r->data);
        if (m->r[i].len != r->size || memcmp(m->r[i].bytes, cp_watch_res_bytes(r), r->size) != 0)
            fail_msg("resource %d '%s': bytes differ", m->r[i].type, m->r[i].id);
    }
}

static __attribute__((unused)) Edge__V1__ConfigUpdate *
unpack_slice(grpc_slice s)
{
    Edge__V1__ConfigUpdate *u =
        edge__v1__config_update__unpack(NULL, GRPC_SLICE_LENGTH(s), GRPC_SLICE_START_PTR(s));
    assert_non_null(u);
    return u;
}

#endif
