/* SPDX-License-Identifier: MIT
 *
 * cfg.h - the daemon's configuration file: a small INI dialect parsed by
 * our own bounded parser (inih, as Debian builds it, cuts lines at 200
 * bytes and treats ';' as a comment, which a bandwidth schedule uses as
 * its separator).  Every option is described once, in a table (name, type,
 * default, limits, help): the parser, --dump-config and the example file's
 * test all read that table.
 *
 *     [section]
 *     # comment (whole lines only: '#' and ';' may appear in values)
 *     name = value
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define CFG_MAX_LINE 4096
#define CFG_MAX_SOURCES 256

struct daemon_cfg {
        /* [source] */
        char *paths[CFG_MAX_SOURCES];
        unsigned npaths;
        /* [destination] */
        char *url;          /* without SAS: the token comes from sas_file */
        char *sas_file;
        char *key_file;
        char *ca_file;
        char *prefix;
        /* [transfer] */
        unsigned connections;
        uint64_t block_size;
        uint64_t put_blob_max;
        uint64_t memory;
        unsigned workers;
        unsigned queue_depth;
        char *io;
        char *cap;
        char *schedule;
        /* [import] */
        char *mailbox_rules;
        char *mapping_csv;
        /* [daemon] */
        char *state_dir;
        char *report;
        uint64_t rescan_interval_s;
        char *log_level;
        char *metrics_listen;        /* HOST:PORT, or NULL */
        char *metrics_allow_remote;  /* "no" | "yes" */
};

/* When a reload (SIGHUP) applies a changed option. */
enum cfg_apply {
        CFG_APPLY_PASS,    /* from the next pass (the one in flight finishes as it began) */
        CFG_APPLY_NOW,     /* at once, transfers in flight included */
        CFG_APPLY_RESTART, /* only by a restart of the daemon */
};

/* Set every option to its default. */
void cfg_defaults(struct daemon_cfg *c);
void cfg_done(struct daemon_cfg *c);

/* Parse configuration text (name is used in messages).  On error returns
 * -EINVAL with "NAME:LINE: what" in err; *c keeps what was parsed before. */
int cfg_parse(struct daemon_cfg *c, const char *text, size_t len, const char *name, char *err,
              size_t errlen);
int cfg_load(struct daemon_cfg *c, const char *path, char *err, size_t errlen);

/* Whole-configuration checks that single options can't make (a URL, at
 * least one source, memory >= block size...). */
int cfg_validate(const struct daemon_cfg *c, char *err, size_t errlen);

/* Write the effective configuration as a loadable file, every option with
 * its help text. */
void cfg_dump(const struct daemon_cfg *c, FILE *f);

/* The options of class apply whose values differ between a and b, as
 * "section.name, ..." in buf ("" when none); returns buf. */
const char *cfg_changes(const struct daemon_cfg *a, const struct daemon_cfg *b,
                        enum cfg_apply apply, char *buf, size_t len);

/* For tests: the options the table knows, as "section.name". */
size_t cfg_option_count(void);
const char *cfg_option_name(size_t i, char *buf, size_t len);
