/* SPDX-License-Identifier: MIT
 *
 * crc64.c - CRC-64/NVME (x-ms-content-crc64): reflected polynomial
 * 0x9A6C9329AC4BC9B5, init and xorout ~0.
 *
 * Two paths: slicing-by-8 everywhere, and on x86-64 CPUs with PCLMULQDQ a
 * folding loop over eight 128-bit lanes (128 bytes per iteration), picked at
 * run time.  Tables and folding constants come from net/crc64-gen.c at build
 * time; the derivation is explained there.
 */
#include <openssl/evp.h>

#include "io/base/macro.h"
#include "pstream/net.h"
#include "net/crc64-internal.h"
#include "crc64-tables.h"

#if defined(__x86_64__)
#include <immintrin.h>
#endif

/* Raw (not inverted) reflected CRC update: state c over len bytes. */
static uint64_t slice8_raw(uint64_t c, const uint8_t *p, size_t len)
{
        while (len >= 8) {
                c ^= get_le64(p);
                c = crc64_table[7][c & 0xff] ^ crc64_table[6][(c >> 8) & 0xff] ^
                    crc64_table[5][(c >> 16) & 0xff] ^ crc64_table[4][(c >> 24) & 0xff] ^
                    crc64_table[3][(c >> 32) & 0xff] ^ crc64_table[2][(c >> 40) & 0xff] ^
                    crc64_table[1][(c >> 48) & 0xff] ^ crc64_table[0][c >> 56];
                p += 8;
                len -= 8;
        }
        while (len--)
                c = crc64_table[0][(c ^ *p++) & 0xff] ^ (c >> 8);
        return c;
}

uint64_t net_crc64_slice8(uint64_t crc, const void *data, size_t len)
{
        return ~slice8_raw(~crc, data, len);
}

#if defined(__x86_64__)

bool net_crc64_have_clmul(void)
{
        return __builtin_cpu_supports("pclmul") && __builtin_cpu_supports("sse4.1");
}

/* Below this the lane setup and the final 16-byte table pass cost more
 * than they save. */
#define CLMUL_MIN_LEN 256

__attribute__((target("pclmul,sse4.1"))) static inline __m128i fold(__m128i x, __m128i k)
{
        /* Low qword = the higher-degree half (reflected), times k's low
         * constant x^(d+63); high qword times x^(d-1). */
        return _mm_xor_si128(_mm_clmulepi64_si128(x, k, 0x00), _mm_clmulepi64_si128(x, k, 0x11));
}

__attribute__((target("pclmul,sse4.1"))) static uint64_t clmul_raw(uint64_t c, const uint8_t *p,
                                                                  size_t len)
{
        __m128i x[8], k, acc;
        uint8_t tmp[16];

        for (unsigned i = 0; i < 8; i++)
                x[i] = _mm_loadu_si128((const __m128i *)(p + 16 * i));
        /* A running state equals XOR-ing it into the first 8 message bytes
         * and continuing from zero. */
        x[0] = _mm_xor_si128(x[0], _mm_cvtsi64_si128((long long)c));
        p += 128;
        len -= 128;

        k = _mm_set_epi64x((long long)crc64_fold[7][1], (long long)crc64_fold[7][0]);
        while (len >= 128) {
                for (unsigned i = 0; i < 8; i++)
                        x[i] = _mm_xor_si128(fold(x[i], k),
                                             _mm_loadu_si128((const __m128i *)(p + 16 * i)));
                p += 128;
                len -= 128;
        }

        /* Lane i sits 7-i lanes before the last one. */
        acc = x[7];
        for (unsigned i = 0; i < 7; i++) {
                k = _mm_set_epi64x((long long)crc64_fold[6 - i][1], (long long)crc64_fold[6 - i][0]);
                acc = _mm_xor_si128(acc, fold(x[i], k));
        }

        k = _mm_set_epi64x((long long)crc64_fold[0][1], (long long)crc64_fold[0][0]);
        while (len >= 16) {
                acc = _mm_xor_si128(fold(acc, k), _mm_loadu_si128((const __m128i *)p));
                p += 16;
                len -= 16;
        }

        /* acc is congruent to the message so far; its CRC from state 0 is
         * acc * x^64 mod P, which the table does without a Barrett step. */
        _mm_storeu_si128((__m128i *)tmp, acc);
        c = slice8_raw(0, tmp, sizeof(tmp));
        return slice8_raw(c, p, len);
}

uint64_t net_crc64_clmul(uint64_t crc, const void *data, size_t len)
{
        if (len < CLMUL_MIN_LEN)
                return net_crc64_slice8(crc, data, len);
        return ~clmul_raw(~crc, data, len);
}

uint64_t net_crc64(uint64_t crc, const void *data, size_t len)
{
        if (len >= CLMUL_MIN_LEN && net_crc64_have_clmul())
                return ~clmul_raw(~crc, data, len);
        return net_crc64_slice8(crc, data, len);
}

#else

bool net_crc64_have_clmul(void)
{
        return false;
}

uint64_t net_crc64_clmul(uint64_t crc, const void *data, size_t len)
{
        return net_crc64_slice8(crc, data, len);
}

uint64_t net_crc64(uint64_t crc, const void *data, size_t len)
{
        return net_crc64_slice8(crc, data, len);
}

#endif

void net_crc64_base64(uint64_t crc, char out[13])
{
        uint8_t le[8];

        put_le64(le, crc);
        EVP_EncodeBlock((unsigned char *)out, le, sizeof(le));
}
