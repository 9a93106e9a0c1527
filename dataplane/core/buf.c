#include "buf.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

void
dp_bufpool_init(struct dp_bufpool *p, size_t max_free)
{
    p->free_list = NULL;
    p->n_free = 0;
    p->max_free = max_free;
    p->n_out = 0;
}

void
dp_bufpool_done(struct dp_bufpool *p)
{
    while (p->free_list) {
        void *next = *(void **)p->free_list;
        free(p->free_list);
        p->free_list = next;
    }
    p->n_free = 0;
}

int
dp_buf_acquire(struct dp_buf *b, struct dp_bufpool *p)
{
    if (b->data)
        return 0;
    if (p->free_list) {
        b->data = p->free_list;
        p->free_list = *(void **)p->free_list;
        p->n_free--;
    } else {
        b->data = malloc(DP_BUF_BYTES);
        if (!b->data)
            return -ENOMEM;
    }
    p->n_out++;
    b->rpos = b->wpos = 0;
    return 0;
}

void
dp_buf_release(struct dp_buf *b, struct dp_bufpool *p, bool force)
{
    if (!b->data || (!force && b->wpos != b->rpos))
        return;
    if (p->n_free < p->max_free) {
        *(void **)b->data = p->free_list;
        p->free_list = b->data;
        p->n_free++;
    } else {
        free(b->data);
    }
    p->n_out--;
    b->data = NULL;
    b->rpos = b->wpos = 0;
}

void
dp_buf_compact(struct dp_buf *b)
{
    if (!b->data || b->rpos == 0)
        return;
    size_t n = b->wpos - b->rpos;
    if (n)
        memmove(b->data, b->data + b->rpos, n);
    b->rpos = 0;
    b->wpos = n;
}

int
dp_buf_append_slow(struct dp_buf *b, const void *data, size_t len)
{
    if (dp_buf_room(b) < len) {
        dp_buf_compact(b);
        if (dp_buf_room(b) < len)
            return -ENOSPC;
    }
    memcpy(b->data + b->wpos, data, len);
    b->wpos += len;
    return 0;
}
