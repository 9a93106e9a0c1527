/* Internals shared by the route matcher's files; not part of the public API (route.h). */
#ifndef EDGE_ROUTE_INTERNAL_H
#define EDGE_ROUTE_INTERNAL_H

#include "route.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define EDGE_ROUTE__MAX_TEMPLATE_BYTES 2048
#define EDGE_ROUTE__MAX_METHOD_BYTES   32
/* A partial segment with k parameters has at most 2k+1 pieces, and each partial segment holds
 * at least one parameter, so all partial segments of one template fit in this many pieces. */
#define EDGE_ROUTE__MAX_PIECES (3 * EDGE_ROUTE_MAX_PARAMS)

enum edge_route__kind {
    /* Ordered by precedence: a lower value wins at the first segment where templates differ. */
    EDGE_ROUTE__LITERAL = 0,
    EDGE_ROUTE__PARTIAL = 1,
    EDGE_ROUTE__PARAM = 2,
    EDGE_ROUTE__GREEDY = 3,
};

/* One piece of a partial segment: literal text or a parameter. */
struct edge_route__piece {
    bool is_param;
    const char *lit; /* decoded literal bytes (not NUL-terminated), in the template's buf */
    size_t lit_len;
};

struct edge_route__seg {
    enum edge_route__kind kind;
    const char *lit; /* LITERAL: decoded text (may be empty for a trailing slash) */
    size_t lit_len;
    unsigned first_piece; /* PARTIAL: pieces[first_piece .. first_piece + n_pieces) */
    unsigned n_pieces;
    unsigned n_params; /* parameters captured by this segment (PARAM, GREEDY: 1) */
};

/* A parsed template. Parameter names are slices of the template text, in template order
 * (left to right), which is also the order in which the matcher captures values. */
struct edge_route__tmpl {
    unsigned n_segs;
    struct edge_route__seg segs[EDGE_ROUTE_MAX_SEGMENTS];
    unsigned n_pieces;
    /* +1: a literal segment's text passes through the array before it is recorded. */
    struct edge_route__piece pieces[EDGE_ROUTE__MAX_PIECES + 1];
    unsigned n_params;
    uint16_t name_off[EDGE_ROUTE_MAX_PARAMS];
    uint16_t name_len[EDGE_ROUTE_MAX_PARAMS];
    size_t buf_used;
    char buf[EDGE_ROUTE__MAX_TEMPLATE_BYTES]; /* decoded literals never exceed the raw text */
};

/* Parses and validates path into ret (pointers into ret->buf). 0 or -EINVAL with a message. */
int edge_route__parse(const char *path, struct edge_route__tmpl *ret, char *err, size_t err_len);

/* Returns the offset of the first byte that does not start a valid UTF-8 sequence (overlong
 * forms, surrogates and code points above U+10FFFF are invalid), or len if all of s is valid. */
size_t edge_route__utf8_check(const unsigned char *s, size_t len);

/* Value of an ASCII hex digit, or -1. */
int edge_route__hexval(unsigned char c);

/* ---- the table (route_table.c builds it, route_lookup.c reads it) ---- */

/* One method at one path. The template text is owned; names are slices of it. */
struct edge_route__entry {
    char method[EDGE_ROUTE__MAX_METHOD_BYTES + 1];
    size_t method_len;
    void *data;
    char *tmpl;
    unsigned n_names;
    uint16_t name_off[EDGE_ROUTE_MAX_PARAMS];
    uint16_t name_len[EDGE_ROUTE_MAX_PARAMS];
};

/* A literal child, keyed inline so that the binary search touches one array: the order is
 * (length, bytes), and prefix holds the first 8 bytes big-endian (zero-padded), so comparing
 * prefixes as integers agrees with memcmp on those bytes. */
struct edge_route__lit {
    size_t len;
    uint64_t prefix;
    struct edge_route__node *child; /* owns the text: child->lit */
};

struct edge_route__node {
    /* How this node matches the segment that leads to it from its parent. */
    char *lit; /* LITERAL: owned decoded text; PARTIAL: owned bytes of all literal pieces */
    size_t lit_len;
    struct edge_route__piece *pieces; /* PARTIAL: owned; literal pieces point into lit */
    unsigned n_pieces;
    unsigned n_params; /* PARTIAL: parameters among the pieces */

    struct edge_route__lit *lits; /* sorted by (length, bytes) */
    size_t n_lits, cap_lits;
    /* With many literal children, an open-addressing index into lits (UINT32_MAX = empty),
     * built by finish; a power of two in size. NULL: binary search instead. */
    uint32_t *lit_index;
    size_t lit_index_mask;
    struct edge_route__node **partials; /* in precedence order: the winner first */
    size_t n_partials, cap_partials;
    struct edge_route__node *param;
    struct edge_route__node *greedy;

    struct edge_route__entry *entries; /* sorted by method */
    size_t n_entries, cap_entries;
    int any_idx; /* index of the ANY entry, or -1 */
    char allow[sizeof(((struct edge_route_match *)0)->allow)];
};

struct edge_route_table {
    struct edge_route__node *root;
};

/* Below this many literal children a binary search is as fast as hashing. */
#define EDGE_ROUTE__LIT_INDEX_MIN 8

/* The first 8 bytes of s, big-endian, zero-padded: the inline key of a literal child. */
static inline uint64_t
edge_route__lit_prefix(const char *s, size_t len)
{
    uint64_t p = 0;

    for (size_t i = 0; i < 8; i++)
        p = p << 8 | (i < len ? (unsigned char)s[i] : 0);
    return p;
}

/* The hash of the literal-children index, FNV-1a: segments are short, and the keys come from
 * operator-supplied templates, so a simple hash is enough (a crafted request costs at most
 * the probes of one chain). Inline: it runs once per segment per lookup. */
static inline uint64_t
edge_route__lit_hash(const char *s, size_t len)
{
    uint64_t h = 0xcbf29ce484222325ULL;

    for (size_t i = 0; i < len; i++)
        h = (h ^ (unsigned char)s[i]) * 0x100000001b3ULL;
    return h ^ (h >> 29);
}

/* Binary search of n's literal children: the index of the one equal to (s, len) with *found
 * true, or the index where it would go. */
size_t edge_route__lit_search(const struct edge_route__node *n, const char *s, size_t len,
                              bool *found);

#endif
