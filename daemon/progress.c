/* SPDX-License-Identifier: MIT
 *
 * progress.c - terminal progress line.
 */
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "options.h"
#include "progress.h"

double now_monotonic(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void progress_init(struct progress *p, bool enabled)
{
        atomic_init(&p->bytes_total, 0);
        atomic_init(&p->bytes_done, 0);
        atomic_init(&p->files_total, 0);
        atomic_init(&p->files_done, 0);
        atomic_init(&p->files_failed, 0);
        p->enabled = enabled && isatty(STDERR_FILENO);
        p->t_start = p->t_last = now_monotonic();
        p->wire_last = 0;
        p->rate = 0;
        p->cap = 0;
        if (p->enabled)
                log_set_progress_active(true);
}

void progress_tick(struct progress *p, uint64_t wire)
{
        double now = now_monotonic();
        double dt = now - p->t_last;
        char done[32], total[32], eta[32], cap[48] = "";

        if (dt < 0.25)
                return;
        /* Smooth over about two seconds: a steady number a person can read,
         * still quick to follow a cap or an outage. */
        double inst = (double)(wire - p->wire_last) / dt;
        p->rate = p->rate == 0 ? inst : p->rate + (inst - p->rate) * (dt / (dt + 2.0));
        p->t_last = now;
        p->wire_last = wire;
        if (!p->enabled)
                return;

        uint64_t bd = atomic_load(&p->bytes_done), bt = atomic_load(&p->bytes_total);
        double left = bt > bd ? (double)(bt - bd) : 0;
        if (p->cap)
                snprintf(cap, sizeof(cap), " (cap %g MB/s)", (double)p->cap / 1e6);
        fprintf(stderr, "\r\033[K[%u/%u files%s] %s / %s  %.1f MB/s%s  ETA %s",
                atomic_load(&p->files_done) + atomic_load(&p->files_failed),
                atomic_load(&p->files_total), atomic_load(&p->files_failed) ? ", some failed" : "",
                format_bytes(bd, done, sizeof(done)), format_bytes(bt, total, sizeof(total)),
                p->rate / 1e6, cap,
                format_duration(p->rate > 0 ? left / p->rate : -1, eta, sizeof(eta)));
        fflush(stderr);
}

void progress_end(struct progress *p)
{
        if (!p->enabled)
                return;
        fputs("\r\033[K", stderr);
        fflush(stderr);
        log_set_progress_active(false);
}
