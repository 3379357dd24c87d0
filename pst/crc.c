/* SPDX-License-Identifier: MIT
 *
 * crc.c - the PST CRC-32 ([MS-PST] 5.3): the zlib polynomial, but initial
 * value 0 and no final xor.  Slicing-by-8 (8 table lookups per 8 bytes),
 * like the spec's reference code.  Not the SSE4.2 crc32 instruction: that
 * computes CRC-32C, a different polynomial.
 */
#include "pst/pst-internal.h"

#include "crc32-tables.h"

uint32_t pst_crc32(uint32_t crc, const void *data, size_t len)
{
        const uint8_t *p = data;

        /* Byte-wise until p is 8-aligned, so the body reads aligned words. */
        while (len > 0 && ((uintptr_t)p & 7) != 0) {
                crc = crc32_table[0][(crc ^ *p++) & 0xFF] ^ (crc >> 8);
                len--;
        }
        while (len >= 8) {
                uint32_t lo = crc ^ get_le32(p);
                uint32_t hi = get_le32(p + 4);

                crc = crc32_table[7][lo & 0xFF] ^ crc32_table[6][(lo >> 8) & 0xFF] ^
                      crc32_table[5][(lo >> 16) & 0xFF] ^ crc32_table[4][lo >> 24] ^
                      crc32_table[3][hi & 0xFF] ^ crc32_table[2][(hi >> 8) & 0xFF] ^
                      crc32_table[1][(hi >> 16) & 0xFF] ^ crc32_table[0][hi >> 24];
                p += 8;
                len -= 8;
        }
        while (len-- > 0)
                crc = crc32_table[0][(crc ^ *p++) & 0xFF] ^ (crc >> 8);
        return crc;
}
