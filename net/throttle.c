/* SPDX-License-Identifier: MIT
 *
 * throttle.c - the token bucket behind the bandwidth cap (see net.h).  Pure
 * arithmetic on a caller-supplied clock: the uploader feeds it
 * CLOCK_MONOTONIC, tests feed it a counter.
 */
#include "net/net-internal.h"

#define NS_PER_S 1000000000.0
#define QUANTUM_MIN (4u * 1024)
#define QUANTUM_MAX (256u * 1024)
/* Seconds of rate a paced request may have ahead of it (net_bucket_max_active). */
#define ACTIVE_HORIZON_S 2

static void refill(struct net_bucket *b, uint64_t now_ns)
{
        if (now_ns > b->last_ns) {
                b->tokens += (double)(now_ns - b->last_ns) * (double)b->rate / NS_PER_S;
                if (b->tokens > (double)b->burst)
                        b->tokens = (double)b->burst;
        }
        b->last_ns = MAX(b->last_ns, now_ns);
}

static void set_rate(struct net_bucket *b, uint64_t rate)
{
        b->rate = rate;
        b->quantum = MIN(MAX(rate / 64, (uint64_t)QUANTUM_MIN), (uint64_t)QUANTUM_MAX);
        b->burst = MAX(rate / 8, 2 * b->quantum);
}

void net_bucket_init(struct net_bucket *b, uint64_t rate, uint64_t now_ns)
{
        *b = (struct net_bucket){ .last_ns = now_ns };
        set_rate(b, rate);
}

void net_bucket_set_rate(struct net_bucket *b, uint64_t rate, uint64_t now_ns)
{
        refill(b, now_ns);
        set_rate(b, rate);
        b->tokens = MIN(b->tokens, (double)b->burst);
}

size_t net_bucket_take(struct net_bucket *b, size_t want, uint64_t now_ns)
{
        size_t n;

        if (b->rate == 0 || want == 0)
                return want;
        refill(b, now_ns);
        if (b->tokens < (double)MIN((uint64_t)want, b->quantum))
                return 0;
        n = (size_t)MIN((uint64_t)want, (uint64_t)b->tokens);
        b->tokens -= (double)n;
        return n;
}

uint64_t net_bucket_wait_ns(struct net_bucket *b, size_t want, uint64_t now_ns)
{
        double need, ns;

        if (b->rate == 0)
                return 0;
        refill(b, now_ns);
        need = (double)MIN((uint64_t)want, b->quantum) - b->tokens;
        if (need <= 0)
                return 0;
        ns = need * NS_PER_S / (double)b->rate;
        return (uint64_t)ns + ((double)(uint64_t)ns < ns);
}

unsigned net_bucket_max_active(const struct net_bucket *b, uint64_t body_len, unsigned connections)
{
        uint64_t n;

        if (b->rate == 0 || body_len == 0)
                return connections;
        n = b->rate * ACTIVE_HORIZON_S / body_len;
        return (unsigned)MAX(1, MIN(n, (uint64_t)connections));
}
