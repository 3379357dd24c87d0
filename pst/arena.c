/* SPDX-License-Identifier: MIT
 *
 * arena.c - the memory of one decoded message: chunks bump-allocated and
 * freed together, so decoding hundreds of properties costs a few mallocs.
 */
#include "pst/pst-internal.h"

#define CHUNK_SIZE (64 * KIB)

struct pst_arena_chunk {
        struct pst_arena_chunk *next;
        size_t used, size;
        max_align_t data[];
};

uint64_t pst_arena_left(const struct pst_arena *a)
{
        return a->bytes >= a->budget ? 0 : a->budget - a->bytes;
}

int pst_arena_alloc(struct pst_arena *a, size_t n, void **ret)
{
        struct pst_arena_chunk *c = a->head;
        size_t need = ALIGN_UP(n ? n : 1, (size_t)8);

        if (need < n || need > pst_arena_left(a))
                return -EFBIG;
        if (!c || c->size - c->used < need) {
                size_t size = MAX(need, (size_t)CHUNK_SIZE);

                c = malloc(sizeof(*c) + size);
                if (!c)
                        return -ENOMEM;
                c->used = 0;
                c->size = size;
                /* A chunk for one big value goes second, keeping the
                 * current one open for small ones. */
                if (size > CHUNK_SIZE && a->head) {
                        c->next = a->head->next;
                        a->head->next = c;
                } else {
                        c->next = a->head;
                        a->head = c;
                }
        }
        *ret = (uint8_t *)c->data + c->used;
        c->used += need;
        a->bytes += need;
        return 0;
}

int pst_arena_calloc(struct pst_arena *a, size_t count, size_t size, void **ret)
{
        int r;

        if (size != 0 && count > SIZE_MAX / size)
                return -EFBIG;
        r = pst_arena_alloc(a, count * size, ret);
        if (r == 0)
                memset(*ret, 0, count * size);
        return r;
}

static int own(struct pst_arena *a, void *p)
{
        if (!p)
                return 0;
        if (a->n_owned == a->cap_owned) {
                size_t ncap = a->cap_owned ? 2 * a->cap_owned : 16;
                void **n = realloc(a->owned, ncap * sizeof(*n));

                if (!n) {
                        free(p);
                        return -ENOMEM;
                }
                a->owned = n;
                a->cap_owned = ncap;
        }
        a->owned[a->n_owned++] = p;
        return 0;
}

int pst_arena_adopt(struct pst_arena *a, struct pst_data *d, const struct pst_data **ret)
{
        struct pst_data *keep = NULL;
        int r;

        if (ret) {
                r = pst_arena_alloc(a, sizeof(*keep), (void **)&keep);
                if (r < 0) {
                        pst_data_done(d);
                        return r;
                }
        }
        a->bytes += d->size;
        r = own(a, d->buf);
        if (r == 0)
                r = own(a, d->blk);
        else
                free(d->blk);
        if (r == 0 && keep) {
                *keep = *d;
                *ret = keep;
        }
        *d = (struct pst_data){};
        return r;
}

void pst_arena_done(struct pst_arena *a)
{
        while (a->head) {
                struct pst_arena_chunk *n = a->head->next;

                free(a->head);
                a->head = n;
        }
        for (size_t i = 0; i < a->n_owned; i++)
                free(a->owned[i]);
        free(a->owned);
        *a = (struct pst_arena){};
}
