/* SPDX-License-Identifier: MIT
 *
 * pst-fixtures.h - the synthetic files committed under tests/data/pst (and
 * reused as fuzz seeds): how each is generated and what it decodes to.
 */
#pragma once

#include "tests/pst/pst-gen.h"

struct pst_fixture {
        const char *file;        /* under tests/data/pst */
        const char *store_seed;  /* under tests/data/fuzz/pst-store, or NULL */
        const char *header_seed; /* under tests/data/fuzz/pst-header, or NULL */
        struct pst_gen_opts opts;
};

static const struct pst_fixture pst_fixtures[] = {
        { "unicode-permute.pst", "unicode", "unicode",
          { .format = PST_FORMAT_UNICODE, .crypt = PST_CRYPT_PERMUTE, .password = 0xF93BA110u,
            .name = "Personal Folders" } },
        { "ansi-permute.pst", "ansi", "ansi",
          { .format = PST_FORMAT_ANSI, .crypt = PST_CRYPT_PERMUTE, .name = "ANSI store" } },
        { "unicode-cyclic-xblock.pst", "cyclic", NULL,
          { .format = PST_FORMAT_UNICODE, .crypt = PST_CRYPT_CYCLIC, .password = 0x64850502u,
            .name = "quickbrownfox", .xblock = true, .bid_bit0 = true } },
        { "ansi-none-xblock.pst", "ansi-x", NULL,
          { .format = PST_FORMAT_ANSI, .crypt = PST_CRYPT_NONE, .name = "split", .xblock = true } },
        { "4k-zlib.ost", "4k", "4k",
          { .format = PST_FORMAT_UNICODE4K, .crypt = PST_CRYPT_NONE, .password = 0xFFFFFFFFu,
            .name = "Offline store offline store offline store", .compress = true,
            .xblock = true } },
};
