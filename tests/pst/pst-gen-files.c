/* SPDX-License-Identifier: MIT
 *
 * pst-gen-files.c - write the committed synthetic files from pst-gen:
 * tests/data/pst/ (fixtures, also checked byte for byte by test-pst-store)
 * and the fuzz seeds of tests/data/fuzz/pst-header and pst-store.
 *
 *     build/tests/pst/pst-gen-files SRCDIR
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "pst/pst-internal.h"
#include "tests/pst/pst-gen.h"
#include "tests/pst/pst-fixtures.h"

static int write_file(const char *dir, const char *sub, const char *name, const uint8_t *p,
                      size_t n)
{
        char path[4096];
        FILE *f;

        snprintf(path, sizeof(path), "%s/%s/%s", dir, sub, name);
        f = fopen(path, "we");
        if (!f || fwrite(p, 1, n, f) != n || fclose(f) != 0) {
                perror(path);
                return -EIO;
        }
        return 0;
}

/* The NBT root becomes an intermediate page listing itself (a cycle). */
static void make_self_ref(struct pst_gen *g)
{
        uint8_t *p = g->buf + g->nbt_ib, *c = p + g->bt_area;

        memset(p, 0, g->bt_area);
        put_le64(p + 8, g->nbt_bid);
        put_le64(p + 16, g->nbt_ib);
        c[0] = 1;
        c[1] = 20;
        c[2] = 24;
        c[3] = 1;
}

int main(int argc, char **argv)
{
        struct pst_gen g;
        int r = 0;

        if (argc != 2) {
                fprintf(stderr, "usage: %s SRCDIR\n", argv[0]);
                return 2;
        }
        for (size_t i = 0; i < ELEMENTSOF(pst_fixtures); i++) {
                const struct pst_fixture *fx = &pst_fixtures[i];

                if (pst_gen_build(&fx->opts, &g) < 0)
                        return 1;
                r |= write_file(argv[1], "tests/data/pst", fx->file, g.buf, g.size);
                if (fx->store_seed)
                        r |= write_file(argv[1], "tests/data/fuzz/pst-store", fx->store_seed,
                                        g.buf, g.size);
                if (fx->header_seed)
                        r |= write_file(argv[1], "tests/data/fuzz/pst-header", fx->header_seed,
                                        g.buf, MIN(g.size, (size_t)PST_HEADER_SIZE));
                pst_gen_free(&g);
        }

        /* Mutants whose CRCs are right, so fuzzing starts past the CRC gates. */
        if (pst_gen_build(&pst_fixtures[0].opts, &g) < 0)
                return 1;
        make_self_ref(&g);
        pst_gen_fix(&g);
        r |= write_file(argv[1], "tests/data/fuzz/pst-store", "self-ref", g.buf, g.size);
        pst_gen_free(&g);

        if (pst_gen_build(&pst_fixtures[0].opts, &g) < 0)
                return 1;
        g.buf[513] = 0x10; /* NDB_CRYPT_EDPCRYPTED */
        pst_gen_fix(&g);
        r |= write_file(argv[1], "tests/data/fuzz/pst-header", "crypt10", g.buf, PST_HEADER_SIZE);
        g.buf[513] = 1;
        g.buf[100] ^= 1; /* partial CRC wrong */
        r |= write_file(argv[1], "tests/data/fuzz/pst-header", "badcrc", g.buf, PST_HEADER_SIZE);
        r |= write_file(argv[1], "tests/data/fuzz/pst-header", "short", g.buf, 511);
        pst_gen_free(&g);
        return r ? 1 : 0;
}
