/* SPDX-License-Identifier: MIT
 *
 * metrics.h - facts about the running process: the allocator in use.
 */
#pragma once

#include <stddef.h>

/* "jemalloc 5.3.0-..." when jemalloc is linked and answering, else "libc". */
const char *metrics_allocator(char *buf, size_t len);
