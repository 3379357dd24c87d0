/* SPDX-License-Identifier: MIT
 *
 * options.h - parsing and printing of option values: sizes, counts, rates.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

/* "8M", "8MiB", "4096", "1.5G", "512k": binary units (K=1024), optional "iB"
 * or "B" suffix.  Returns 0 and *ret, -EINVAL on syntax, -ERANGE outside
 * [min, max]. */
int parse_size(const char *s, uint64_t min, uint64_t max, uint64_t *ret);

/* Decimal unsigned integer in [min, max]. */
int parse_uint(const char *s, unsigned min, unsigned max, unsigned *ret);

/* "1.2 GiB", "512 B" into buf; returns buf. */
const char *format_bytes(uint64_t n, char *buf, size_t len);

/* "1:02:03" or "2:03"; "--:--" for negative. */
const char *format_duration(double seconds, char *buf, size_t len);

/* Read a one-line secret (SAS token, account key) from a file: trailing
 * white space trimmed, at most 4 KiB, a leading '?' dropped.  The buffer
 * used on the way is wiped.  -EINVAL when empty or too long. */
int read_secret_file(const char *path, char **ret);
