/* SPDX-License-Identifier: MIT
 *
 * metrics.h - facts about the running process (the allocator in use, its
 * memory) and the Prometheus text exposition (format 0.0.4) of the daemon's
 * counters, served by the control loop on a loopback port.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* "jemalloc 5.3.0-..." when jemalloc is linked and answering, else "libc". */
const char *metrics_allocator(char *buf, size_t len);

/* Retry classes of net/ (struct net_stats.retries_by_class), by name. */
#define METRICS_RETRY_CLASSES 5

/* One scrape.  Counters are totals over the life of the process (a daemon
 * adds every pass); gauges are now. */
struct metrics_snapshot {
        /* counters */
        uint64_t passes;            /* passes over the sources started */
        uint64_t bytes_sent;        /* request-body bytes on the wire, retries included */
        uint64_t bytes_committed;   /* bytes of files committed */
        uint64_t files_committed;
        uint64_t files_failed;
        uint64_t files_unchanged;   /* found committed by the journal, not sent */
        uint64_t blocks_staged;     /* Put Block acknowledged */
        uint64_t blocks_resumed;    /* staged before a crash, not sent again */
        uint64_t blocks_committed;  /* blocks of the committed blobs (a Put Blob is one) */
        uint64_t blocks_lost;       /* journal said staged, Get Block List did not: sent again */
        uint64_t blocks_found;      /* Get Block List had them, the journal did not: not sent */
        uint64_t requests;          /* HTTP requests completed, any status */
        uint64_t retries[METRICS_RETRY_CLASSES];
        uint64_t request_errors;    /* requests that failed for good */
        uint64_t journal_errors;    /* journal writes that failed */
        /* gauges */
        bool pass_running;
        bool paused;                /* by pstream pause */
        bool disk_full;             /* journal out of space: uploads paused */
        uint64_t cap;               /* bytes/s, 0 = none */
        unsigned requests_active;
        unsigned requests_waiting;  /* queued for a connection or a retry */
        unsigned blocks_queued;     /* read and hashed, waiting for the uploader */
        unsigned files_pending;     /* of the current pass */
        uint64_t bytes_pending;     /* of the current pass */
};

extern const char *const metrics_retry_class_names[METRICS_RETRY_CLASSES];

/* Write s, plus the process's resident memory and the allocator's own
 * counts, in the Prometheus text format. */
void metrics_write(FILE *out, const struct metrics_snapshot *s);
