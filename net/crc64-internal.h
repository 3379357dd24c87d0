/* SPDX-License-Identifier: MIT
 *
 * crc64-internal.h - the two CRC-64/NVME implementations behind net_crc64(),
 * exported so tests/net can compare them with each other and a bitwise
 * reference.  Same running-value convention as net_crc64().
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Portable slicing-by-8. */
uint64_t net_crc64_slice8(uint64_t crc, const void *data, size_t len);

/* Carry-less multiplication folding; call only when net_crc64_have_clmul(). */
uint64_t net_crc64_clmul(uint64_t crc, const void *data, size_t len);

/* Does this CPU have PCLMULQDQ and SSE4.1? */
bool net_crc64_have_clmul(void);
