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

/* "ps1" version tag, 16 bytes of XXH3-128 of the blob name, the index as 8
 * hex digits: 27 bytes, so 36 Base64 characters without padding, the same
 * for every index.  A rerun re-stages the same IDs; a new scheme changes
 * the tag so old and new IDs never mix within a blob. */
size_t net_block_id(const char *blob, uint32_t index, char out[64])
{
        uint8_t raw[27];
        XXH128_canonical_t h;
        char idx[9];

        XXH128_canonicalFromHash(&h, XXH3_128bits(blob, strlen(blob)));
        memcpy(raw, "ps1", 3);
        memcpy(raw + 3, h.digest, 16);
        snprintf(idx, sizeof(idx), "%08x", index);
        memcpy(raw + 19, idx, 8);
        return (size_t)EVP_EncodeBlock((unsigned char *)out, raw, sizeof(raw));
}
