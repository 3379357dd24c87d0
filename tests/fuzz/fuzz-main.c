/* SPDX-License-Identifier: MIT
 *
 * fuzz-main.c - run a fuzz target over files given on the command line, so
 * that every corpus file is an ordinary regression test without libFuzzer.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int run_file(const char *path)
{
        FILE *f = fopen(path, "rb");
        uint8_t *buf = NULL;
        size_t cap = 0, len = 0;

        if (!f) {
                perror(path);
                return 1;
        }
        for (;;) {
                if (len == cap) {
                        size_t ncap = cap ? cap * 2 : 65536;
                        uint8_t *n = realloc(buf, ncap);
                        if (!n) {
                                fclose(f);
                                free(buf);
                                return 1;
                        }
                        buf = n;
                        cap = ncap;
                }
                size_t k = fread(buf + len, 1, cap - len, f);
                if (k == 0)
                        break;
                len += k;
        }
        fclose(f);
        /* Copy into an exact-size allocation so ASan sees overreads. */
        uint8_t *exact = malloc(len ? len : 1);
        if (!exact) {
                free(buf);
                return 1;
        }
        if (len)
                memcpy(exact, buf, len);
        free(buf);
        LLVMFuzzerTestOneInput(exact, len);
        free(exact);
        return 0;
}

int main(int argc, char **argv)
{
        int rc = 0;

        for (int i = 1; i < argc; i++)
                rc |= run_file(argv[i]);
        return rc;
}
