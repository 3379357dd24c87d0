/* SPDX-License-Identifier: MIT
 *
 * plan.c - how a file is cut into blocks, and the names of those blocks.
 */
#include <stdio.h>
#include <openssl/evp.h>
#include <xxhash.h>

#include "net/net-internal.h"

/* ceil(a / b) without the overflow of DIV_ROUND_UP near UINT64_MAX. */
static uint64_t blocks_for(uint64_t a, uint64_t b)
{
        return a / b + (a % b != 0);
}

int net_plan(uint64_t size, uint64_t block_size, uint64_t put_blob_max, struct net_plan *ret)
{
        uint64_t bs = block_size, n;

        if (block_size == 0 || block_size > NET_MAX_BLOCK_SIZE || !ret)
                return -EINVAL;
        put_blob_max = MIN(put_blob_max, NET_MAX_PUT_BLOB);

        if (size <= put_blob_max || size == 0) {
                *ret = (struct net_plan){ .single = true, .block_size = size, .nblocks = 1 };
                return 0;
        }

        n = blocks_for(size, bs);
        while (n > NET_MAX_BLOCKS && bs < NET_MAX_BLOCK_SIZE) {
                bs = MIN(bs * 2, NET_MAX_BLOCK_SIZE);
                n = blocks_for(size, bs);
        }
        if (n > NET_MAX_BLOCKS)
                return -EFBIG;

        *ret = (struct net_plan){ .single = false, .block_size = bs, .nblocks = (uint32_t)n };
        return 0;
}

#define BLOCK_ID_RAW 27
#define BLOCK_ID_PREFIX 19

/* "ps2" version tag, 16 bytes of XXH3-128 of the blob name seeded with the
 * salt, the index as 8 hex digits: 27 bytes, so 36 Base64 characters
 * without padding, the same for every index (the service wants one length
 * per blob; "ps1" IDs had it too).  A new scheme changes the tag so old and
 * new IDs never match. */
static void block_id_prefix(const char *blob, uint64_t salt, uint8_t raw[BLOCK_ID_PREFIX])
{
        XXH128_canonical_t h;

        XXH128_canonicalFromHash(&h, XXH3_128bits_withSeed(blob, strlen(blob), salt));
        memcpy(raw, "ps2", 3);
        memcpy(raw + 3, h.digest, 16);
}

size_t net_block_id(const char *blob, uint64_t salt, uint32_t index, char out[64])
{
        uint8_t raw[BLOCK_ID_RAW];
        char idx[9];

        block_id_prefix(blob, salt, raw);
        snprintf(idx, sizeof(idx), "%08x", index);
        memcpy(raw + BLOCK_ID_PREFIX, idx, 8);
        return (size_t)EVP_EncodeBlock((unsigned char *)out, raw, sizeof(raw));
}

int64_t net_block_index(const char *blob, uint64_t salt, const char *id, size_t len)
{
        uint8_t want[BLOCK_ID_PREFIX], raw[BLOCK_ID_RAW + 3];
        char hex[9];
        uint32_t v = 0;

        /* 36 Base64 characters decode to exactly 27 bytes (no padding). */
        if (len != 36 || EVP_DecodeBlock(raw, (const unsigned char *)id, (int)len) != BLOCK_ID_RAW)
                return -1;
        block_id_prefix(blob, salt, want);
        if (memcmp(raw, want, BLOCK_ID_PREFIX) != 0)
                return -1;
        memcpy(hex, raw + BLOCK_ID_PREFIX, 8);
        hex[8] = '\0';
        for (unsigned i = 0; i < 8; i++) {
                int c = hex[i];
                int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
                if (d < 0)
                        return -1;
                v = v << 4 | (uint32_t)d;
        }
        return v;
}
