/* SPDX-License-Identifier: MIT
 *
 * metrics.c - the only place that talks to the allocator (mallctl), and the
 * Prometheus text exposition of the daemon's counters.
 */
#include <inttypes.h>
#include <stdio.h>
#include <unistd.h>

#if HAVE_JEMALLOC
#include <jemalloc/jemalloc.h>
#endif

#include "metrics.h"

const char *const metrics_retry_class_names[METRICS_RETRY_CLASSES] = {
        "connection", "timeout", "throttled", "busy", "server",
};

const char *metrics_allocator(char *buf, size_t len)
{
#if HAVE_JEMALLOC
        const char *v = NULL;
        size_t sz = sizeof(v);

        /* Asking jemalloc itself proves it is linked, not just configured
         * (meson's --as-needed drops libraries nothing references). */
        if (mallctl("version", &v, &sz, NULL, 0) == 0 && v) {
                snprintf(buf, len, "jemalloc %s", v);
                return buf;
        }
#endif
        snprintf(buf, len, "libc");
        return buf;
}

/* Resident set size from /proc/self/statm, 0 when unknown. */
static uint64_t rss_bytes(void)
{
        unsigned long long size = 0, resident = 0;
        FILE *f = fopen("/proc/self/statm", "re");
        long page = sysconf(_SC_PAGESIZE);

        if (!f)
                return 0;
        if (fscanf(f, "%llu %llu", &size, &resident) != 2)
                resident = 0;
        fclose(f);
        return page > 0 ? resident * (uint64_t)page : 0;
}

static void metric(FILE *out, const char *name, const char *type, const char *help, uint64_t v)
{
        fprintf(out, "# HELP %s %s\n# TYPE %s %s\n%s %" PRIu64 "\n", name, help, name, type, name,
                v);
}

void metrics_write(FILE *out, const struct metrics_snapshot *s)
{
        metric(out, "pstream_passes_total", "counter", "Passes over the sources started.",
               s->passes);
        metric(out, "pstream_bytes_sent_total", "counter",
               "Request body bytes sent on the wire, retries included.", s->bytes_sent);
        metric(out, "pstream_bytes_committed_total", "counter", "Bytes of files committed as blobs.",
               s->bytes_committed);
        metric(out, "pstream_files_committed_total", "counter", "Files committed as blobs.",
               s->files_committed);
        metric(out, "pstream_files_failed_total", "counter", "Files that failed in a pass.",
               s->files_failed);
        metric(out, "pstream_files_unchanged_total", "counter",
               "Files the journal knew as committed, not sent.", s->files_unchanged);
        metric(out, "pstream_blocks_staged_total", "counter",
               "Put Block requests acknowledged by the service.", s->blocks_staged);
        metric(out, "pstream_blocks_resumed_total", "counter",
               "Blocks staged before an interruption, not sent again.", s->blocks_resumed);
        metric(out, "pstream_blocks_committed_total", "counter",
               "Blocks of committed blobs (a Put Blob counts as one).", s->blocks_committed);
        metric(out, "pstream_blocks_lost_total", "counter",
               "Blocks the journal had staged that the service no longer held: sent again.",
               s->blocks_lost);
        metric(out, "pstream_blocks_found_total", "counter",
               "Blocks the service held that the journal did not know: not sent again.",
               s->blocks_found);
        metric(out, "pstream_requests_total", "counter", "HTTP requests completed, any status.",
               s->requests);
        fputs("# HELP pstream_retries_total Tries repeated after a retryable failure, by cause.\n"
              "# TYPE pstream_retries_total counter\n",
              out);
        for (unsigned i = 0; i < METRICS_RETRY_CLASSES; i++)
                fprintf(out, "pstream_retries_total{class=\"%s\"} %" PRIu64 "\n",
                        metrics_retry_class_names[i], s->retries[i]);
        metric(out, "pstream_request_errors_total", "counter",
               "Requests that failed after their retries.", s->request_errors);
        metric(out, "pstream_journal_errors_total", "counter", "Journal writes that failed.",
               s->journal_errors);
        metric(out, "pstream_pass_running", "gauge", "1 while a pass over the sources runs.",
               s->pass_running);
        metric(out, "pstream_paused", "gauge", "1 while paused by pstream pause.", s->paused);
        metric(out, "pstream_disk_full", "gauge",
               "1 while uploads wait for space under the state directory.", s->disk_full);
        metric(out, "pstream_cap_bytes_per_second", "gauge",
               "Bandwidth cap in force, request body bytes per second (0: none).", s->cap);
        metric(out, "pstream_requests_active", "gauge", "HTTP requests in flight.",
               s->requests_active);
        metric(out, "pstream_requests_waiting", "gauge",
               "Requests waiting for a connection or a retry.", s->requests_waiting);
        metric(out, "pstream_blocks_queued", "gauge", "Blocks read, waiting for the uploader.",
               s->blocks_queued);
        metric(out, "pstream_files_pending", "gauge", "Files of the current pass not done yet.",
               s->files_pending);
        metric(out, "pstream_bytes_pending", "gauge", "Bytes of the current pass not uploaded yet.",
               s->bytes_pending);
        metric(out, "pstream_resident_memory_bytes", "gauge", "Resident set size of the process.",
               rss_bytes());
#if HAVE_JEMALLOC
        uint64_t epoch = 1;
        size_t allocated = 0, sz = sizeof(allocated);
        /* jemalloc's statistics are refreshed by writing the epoch. */
        if (mallctl("epoch", NULL, NULL, &epoch, sizeof(epoch)) == 0 &&
            mallctl("stats.allocated", &allocated, &sz, NULL, 0) == 0)
                metric(out, "pstream_allocated_bytes", "gauge",
                       "Bytes allocated by the application (jemalloc stats.allocated).",
                       allocated);
#endif
}
