/* SPDX-License-Identifier: MIT
 *
 * progress.h - the one-line progress display on a terminal: files, bytes,
 * rate, ETA.  Counters are atomics bumped by the pipeline threads; only the
 * main thread draws.
 */
#pragma once

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

struct progress {
        atomic_uint_fast64_t bytes_total;
        atomic_uint_fast64_t bytes_done;   /* acknowledged by the service */
        atomic_uint files_total;
        atomic_uint files_done;
        atomic_uint files_failed;
        bool enabled;                      /* stderr is a terminal and not --no-progress */
        double t_start;
        double t_last;
        uint64_t wire_last;
        double rate;                       /* bytes/s, smoothed */
        uint64_t cap;                      /* bandwidth cap in force, bytes/s, 0 = none */
};

double now_monotonic(void);

void progress_init(struct progress *p, bool enabled);
/* Draw (at most a few times a second); wire = bytes on the wire so far. */
void progress_tick(struct progress *p, uint64_t wire);
/* Erase the line. */
void progress_end(struct progress *p);
