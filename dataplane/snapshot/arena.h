/* A bump allocator for everything a snapshot holds: freed in one go with the snapshot. */
#ifndef DP_ARENA_H
#define DP_ARENA_H

#include <stddef.h>

struct dp_arena_chunk;

struct dp_arena {
    struct dp_arena_chunk *head;
};

void dp_arena_init(struct dp_arena *a);
/* Frees every chunk; the arena may be reused after dp_arena_init(). */
void dp_arena_done(struct dp_arena *a);
/* Zeroed, 16-byte aligned memory owned by the arena; NULL on allocation failure. */
void *dp_arena_alloc(struct dp_arena *a, size_t size);
/* NUL-terminated copy of s[0..len) in the arena; NULL on allocation failure. */
char *dp_arena_strndup(struct dp_arena *a, const char *s, size_t len);
char *dp_arena_strdup(struct dp_arena *a, const char *s);

#endif
