/* SPDX-License-Identifier: MIT
 *
 * export.h - `pstream export FILE... --to DIR`: every message of a PST/OST
 * as an .eml under its folder path, with a report.json of what was
 * exported, skipped and why (layout: tests/daemon/test-export.sh).
 */
#pragma once

#include <stdbool.h>

struct export_opts {
        const char *to;  /* output directory, created if missing */
        bool orphans;    /* also messages of the NBT no folder lists */
        unsigned jobs;   /* decoding threads; 0: online CPUs */
        bool quiet;      /* no progress on stderr */
};

/* Export each of files.  Returns the exit status: 0 everything exported;
 * 1 some item skipped or a problem met; 3 a file could not be opened, is
 * not a PST, or the output could not be written. */
int export_files(char **files, int n, const struct export_opts *o);
