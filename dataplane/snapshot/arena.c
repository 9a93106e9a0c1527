#include "arena.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define DP_ARENA_CHUNK_BYTES 16384

struct dp_arena_chunk {
    struct dp_arena_chunk *next;
    size_t used, size;
    _Alignas(16) unsigned char data[];
};

void
dp_arena_init(struct dp_arena *a)
{
    a->head = NULL;
}

void
dp_arena_done(struct dp_arena *a)
{
    struct dp_arena_chunk *c = a->head;
    while (c) {
        struct dp_arena_chunk *next = c->next;
        free(c);
        c = next;
    }
    a->head = NULL;
}

void *
dp_arena_alloc(struct dp_arena *a, size_t size)
{
    size = (size + 15) & ~(size_t)15;
    if (size == 0)
        size = 16;
    struct dp_arena_chunk *c = a->head;
    if (!c || c->size - c->used < size) {
        size_t cap = size > DP_ARENA_CHUNK_BYTES ? size : DP_ARENA_CHUNK_BYTES;
        c = malloc(sizeof(*c) + cap);
        if (!c)
            return NULL;
        c->size = cap;
        c->used = 0;
        /* A big block gets a chunk of its own behind the head, so the head's room stays usable. */
        if (a->head && cap > DP_ARENA_CHUNK_BYTES) {
            c->next = a->head->next;
            a->head->next = c;
        } else {
            c->next = a->head;
            a->head = c;
        }
    }
    void *p = c->data + c->used;
    c->used += size;
    memset(p, 0, size);
    return p;
}

char *
dp_arena_strndup(struct dp_arena *a, const char *s, size_t len)
{
    char *p = dp_arena_alloc(a, len + 1);
    if (!p)
        return NULL;
    if (len)
        memcpy(p, s, len);
    p[len] = '\0';
    return p;
}

char *
dp_arena_strdup(struct dp_arena *a, const char *s)
{
    return dp_arena_strndup(a, s ? s : "", s ? strlen(s) : 0);
}
