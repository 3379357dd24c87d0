/* SPDX-License-Identifier: MIT
 *
 * json.h - the little JSON writing pstream needs (reports, scan --json).
 */
#pragma once

#include <stdio.h>

/* Write s as a JSON string.  Bytes that are not valid UTF-8 (file names on
 * Linux are bytes) are written as \u00XX of the byte, so the output always
 * parses. */
void json_string(FILE *f, const char *s);
