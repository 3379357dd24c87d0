/* SPDX-License-Identifier: MIT
 *
 * ingest.h - the main job: discovered PST/OST files through the pipeline
 * (io reader thread -> worker pool -> uploader thread) into block blobs.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "metrics.h"
#include "pstream/io.h"

struct control;
struct schedule;

/* What outlives one pass of the daemon (and what the control socket and the
 * metrics endpoint act on between passes).  Owned by the caller; every
 * field is used from the thread that runs ingest_run() only. */
struct ingest_shared {
        struct control *control;   /* control socket and metrics listener, or NULL */
        struct metrics_snapshot totals; /* counters over the process's life */
        bool paused;               /* `pstream pause`, carried across passes */
        bool cap_overridden;       /* `pstream cap RATE` wins over cap and schedule */
        uint64_t cap_override;
        /* The configuration's cap and schedule in force; a running pass
         * applies a change (a reload) within a second. */
        uint64_t cap;
        const struct schedule *schedule;
        /* Between passes: what `pstream status` says (e.g. "idle: next pass
         * in 3540 s"). */
        char idle_status[256];
};

enum ingest_mode {
        INGEST_MODE_VERBATIM,
};

struct ingest_cfg {
        char *const *sources;
        unsigned nsources;
        const char *url;          /* destination; holds the SAS when there is one */
        const char *account_key;  /* base64, or NULL */
        const char *ca_file;
        const char *prefix;       /* extra blob name prefix, or NULL */
        const char *state_dir;    /* or NULL */
        const char *mapping_csv;  /* or NULL */
        const char *rules_file;   /* or NULL */
        const char *report_file;  /* or NULL */
        enum ingest_mode mode;
        enum io_backend io_backend;
        unsigned connections;
        unsigned workers;
        unsigned queue_depth;
        uint64_t block_size;
        uint64_t put_blob_max;
        uint64_t memory;          /* bytes of read buffers at most */
        bool progress;
        bool all_files;           /* move every regular file, PST or not */
        /* Called from the uploader loop a few times a second (the service's
         * watchdog), or NULL. */
        void (*tick)(void *ctx);
        void *tick_ctx;
        uint64_t cap;             /* bytes/s of request bodies, 0 = unlimited */
        const struct schedule *schedule; /* weekly cap by local time (wins over cap), or NULL */
        /* The daemon's state across passes (its cap and schedule win over the
         * two above); NULL: the run keeps its own, and opens the control
         * socket in state_dir and the metrics listener itself. */
        struct ingest_shared *shared;
        const char *metrics_listen; /* without shared: HOST:PORT for GET /metrics, or NULL */
        bool metrics_allow_remote;
};

/* Defaults of every option, for --help and --dump-config. */
#define INGEST_DEFAULT_CONNECTIONS 16
#define INGEST_DEFAULT_BLOCK_SIZE (8ull << 20)
#define INGEST_DEFAULT_MEMORY (32ull << 20)
#define INGEST_DEFAULT_QUEUE_DEPTH 64
#define INGEST_CHUNK_SIZE (1ull << 20)

/* Run the job.  Returns the process exit code: 0 all uploaded, 1 some
 * file skipped or failed, 2 configuration error, 3 fatal runtime error. */
int ingest_run(const struct ingest_cfg *cfg);

/* Did a SIGTERM or SIGINT end the last ingest_run()? */
bool ingest_interrupted(void);

/* Answer a control command (status, pause, cap..., metrics) while no pass
 * runs, from what sh holds. */
void ingest_control_idle(struct ingest_shared *sh, const char *cmd, FILE *out);
