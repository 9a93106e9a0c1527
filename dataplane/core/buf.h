/* Fixed-size I/O buffers and the per-worker pool they come from. A connection holds a buffer
 * only while it has bytes to keep; an idle keep-alive connection gives its buffers back. */
#ifndef DP_BUF_H
#define DP_BUF_H

#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#define DP_BUF_BYTES 16384

struct dp_buf {
    char *data; /* NULL: no block held */
    size_t rpos, wpos;
};

struct dp_bufpool {
    void *free_list;
    size_t n_free, max_free;
    size_t n_out; /* blocks handed out and not yet returned */
};

void dp_bufpool_init(struct dp_bufpool *p, size_t max_free);
void dp_bufpool_done(struct dp_bufpool *p);

/* Makes sure b holds a block. 0, or -ENOMEM. */
int dp_buf_acquire(struct dp_buf *b, struct dp_bufpool *p);
/* Gives the block back when it holds no unread bytes (or always with force). */
void dp_buf_release(struct dp_buf *b, struct dp_bufpool *p, bool force);

static inline size_t
dp_buf_len(const struct dp_buf *b)
{
    return b->wpos - b->rpos;
}

static inline size_t
dp_buf_room(const struct dp_buf *b)
{
    return b->data ? DP_BUF_BYTES - b->wpos : 0;
}

/* Moves unread bytes to the front so that room is as large as it can be. */
void dp_buf_compact(struct dp_buf *b);
int dp_buf_append_slow(struct dp_buf *b, const void *data, size_t len);

/* Appends len bytes; -ENOSPC (nothing written) when they do not fit. Inline: a proxied
 * request makes a few dozen small appends while writing the two heads. */
static inline int
dp_buf_append(struct dp_buf *b, const void *data, size_t len)
{
    if (b->data && DP_BUF_BYTES - b->wpos >= len) {
        memcpy(b->data + b->wpos, data, len);
        b->wpos += len;
        return 0;
    }
    return dp_buf_append_slow(b, data, len);
}

#endif
