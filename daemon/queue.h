/* SPDX-License-Identifier: MIT
 *
 * queue.h - bounded multi-producer multi-consumer queue of pointers between
 * pipeline stages.  The ring is lock-free (per-cell sequence numbers); two
 * counting semaphores make push block while full and pop block while empty,
 * which costs no syscall unless a side actually has to wait.
 *
 * Pushing a pointer hands it over: the producer does not touch it after.
 */
#pragma once

#include <stddef.h>

struct queue;

/* capacity is rounded up to a power of two, 2..65536. */
int queue_new(size_t capacity, struct queue **ret);
struct queue *queue_free(struct queue *q);

size_t queue_capacity(const struct queue *q);
/* Items waiting now (a snapshot: other threads move it at once). */
size_t queue_length(struct queue *q);

/* Block until there is room, then enqueue.  item must not be NULL. */
void queue_push(struct queue *q, void *item);
/* Enqueue if there is room now: 0, or -EAGAIN when full. */
int queue_try_push(struct queue *q, void *item);

/* Block until an item is there, then dequeue it. */
void *queue_pop(struct queue *q);
/* Dequeue if an item is there now; NULL when empty. */
void *queue_try_pop(struct queue *q);
