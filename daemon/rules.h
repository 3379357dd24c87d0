/* SPDX-License-Identifier: MIT
 *
 * rules.h - mailbox rules (which mailbox a PST belongs to, by path) and the
 * PST Import Service mapping CSV.
 *
 * Rules file: one rule per line, first match wins, '#' starts a comment:
 *
 *     GLOB  MAILBOX  [IsArchive=TRUE|FALSE] [TargetRootFolder=/x] [ContentCodePage=N]
 *
 * GLOB matches the file's path relative to its share root: '*' and '?' stay
 * within one path component, '**' crosses components.  The text matched by
 * the n-th wildcard ('*' or '**') may be used in MAILBOX as {n}, so a rule
 * "users/" + "*" + "/" + "**" with mailbox "{1}@contoso.com" maps every file
 * under users/jdoe/ to jdoe@contoso.com (README.md has more examples).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#define RULES_MAX 100000
#define RULES_MAX_LINE 4096
#define RULES_MAX_CAPTURES 9

struct rule {
        char *glob;
        char *mailbox;      /* may hold {1}..{9} */
        char *is_archive;   /* "TRUE", "FALSE" or NULL */
        char *target_root;  /* or NULL */
        char *codepage;     /* or NULL */
        unsigned line;
};

struct rules {
        struct rule *v;
        size_t n;
};

/* Parse rules text.  On error returns -EINVAL with "line N: what" in err. */
int rules_parse(const char *text, size_t len, struct rules *ret, char *err, size_t errlen);
int rules_load(const char *path, struct rules *ret, char *err, size_t errlen);
void rules_done(struct rules *r);

/* Glob match with captures; returns true on match.  caps[i] receives the
 * i-th wildcard's match as (offset, length) into s; ncaps in/out. */
struct glob_cap {
        size_t off, len;
};
bool glob_match(const char *pat, const char *s, struct glob_cap *caps, unsigned *ncaps);

/* First rule matching rel; the mailbox with captures substituted goes to
 * mailbox (NUL-terminated).  NULL when no rule matches or the result does
 * not fit. */
const struct rule *rules_match(const struct rules *r, const char *rel, char *mailbox,
                               size_t mailbox_len);

/* One row of the Import Service mapping CSV. */
struct mapping_row {
        const char *file_path; /* folder of the blob under the container, no slashes around */
        const char *name;      /* blob's base name */
        const char *mailbox;
        const char *is_archive;
        const char *target_root;
        const char *codepage;
};

#define MAPPING_CSV_HEADER                                                                         \
        "Workload,FilePath,Name,Mailbox,IsArchive,TargetRootFolder,ContentCodePage,"               \
        "SPFileContainer,SPManifestContainer,SPSiteUrl"
#define MAPPING_MAX_ROWS 500 /* the Import Service takes at most 500 rows a file */

/* Write rows into path; beyond 500 rows, further files path-2.csv, path-3.csv
 * ... (suffix inserted before a ".csv" extension).  Returns the number of
 * files written or -errno; the names written are reported through
 * on_file when not NULL. */
int mapping_write(const char *path, const struct mapping_row *rows, size_t n,
                  void (*on_file)(void *ctx, const char *file, size_t rows), void *ctx);

/* Write one CSV field, quoted when needed (RFC 4180). */
void csv_field(FILE *f, const char *s);
