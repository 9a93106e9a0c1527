#include "upstream/pool.h"

void
dp_pool_init(struct dp_pool *p)
{
    p->head.prev = p->head.next = &p->head;
    p->n_idle = 0;
    p->active = 0;
}

void
dp_pool_push(struct dp_pool *p, struct dp_pool_link *l)
{
    l->next = p->head.next;
    l->prev = &p->head;
    p->head.next->prev = l;
    p->head.next = l;
    p->n_idle++;
}

struct dp_pool_link *
dp_pool_pop(struct dp_pool *p)
{
    if (p->head.next == &p->head)
        return NULL;
    struct dp_pool_link *l = p->head.next;
    dp_pool_remove(p, l);
    return l;
}

void
dp_pool_remove(struct dp_pool *p, struct dp_pool_link *l)
{
    l->prev->next = l->next;
    l->next->prev = l->prev;
    l->prev = l->next = l;
    p->n_idle--;
}
