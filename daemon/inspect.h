/* SPDX-License-Identifier: MIT
 *
 * inspect.h - `pstream inspect FILE`: walk one PST/OST's folder tree and
 * messages through pst/'s walk and report its structure, counts and damage.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "pstream/pst.h"

/* Problems kept for the report; more are only counted. */
#define INSPECT_MAX_PROBLEMS 1000u

struct inspect_result {
        struct pst_header hdr;
        bool store_ok;
        struct pst_store_info store;
        struct pst_folder *folders; /* in walk order (depth-first) */
        size_t n_folders;
        /* Counted over the messages read, search folders excluded. */
        uint64_t messages, fai, attachments, embedded, attachments_all, embedded_all;
        struct pst_problem *problems;
        size_t n_problems;
        uint64_t problems_total;
};

/* Walk the file at path.  0 with *res filled (problems included), or a
 * negative errno when the file cannot be opened, read or decoded at all
 * (*diag says why). */
int inspect_file(const char *path, struct inspect_result *res, struct pst_diag *diag);
void inspect_result_done(struct inspect_result *res);

void inspect_print_text(FILE *out, const char *path, const struct inspect_result *res);
void inspect_print_json(FILE *out, const char *path, const struct inspect_result *res);
