/* SPDX-License-Identifier: MIT
 *
 * lzfu.c - compressed RTF (PidTagRtfCompressed, [MS-OXRTFCP]).
 *
 * A 16-byte header (cbSize, cbRawSize, dwMagic, dwCRC) and then either the
 * raw RTF ("MELA") or an LZ77 stream ("LZFu") over a 4096-byte ring
 * dictionary preloaded with 207 bytes of common RTF.  Both sizes come from
 * the file, so neither sizes an allocation on its own: the output is capped
 * by what the input can expand to (at most 8:1, a control byte and eight
 * two-byte references giving 8 x 17 bytes) and by PST_LZFU_MAX_OUT.
 */
#include "pst/pst-internal.h"

#define LZFU_HEADER_SIZE 16u
#define LZFU_DICT_SIZE 4096u
#define LZFU_MAGIC_COMPRESSED 0x75465A4Cu   /* "LZFu" */
#define LZFU_MAGIC_UNCOMPRESSED 0x414C454Du /* "MELA" */

static const char lzfu_preload[] =
        "{\\rtf1\\ansi\\mac\\deff0\\deftab720{\\fonttbl;}{\\f0\\fnil \\froman \\fswiss "
        "\\fmodern \\fscript \\fdecor MS Sans SerifSymbolArialTimes New RomanCourier"
        "{\\colortbl\\red0\\green0\\blue0\r\n\\par \\pard\\plain\\f0\\fs20\\b\\i\\u\\tab\\tx";

_Static_assert(sizeof(lzfu_preload) - 1 == 207, "the [MS-OXRTFCP] dictionary preload is 207 bytes");

/* Aspose writes MELA blobs whose cbSize and cbRawSize overstate the bytes
 * that follow (PST_FORMAT.md Appendix A item 6): the buffer is the truth. */
static int lzfu_stored(const uint8_t *in, size_t inlen, uint32_t cb_size, uint32_t raw_size,
                       uint8_t **ret, size_t *ret_len)
{
        size_t n = MIN((size_t)raw_size, inlen - LZFU_HEADER_SIZE);
        uint8_t *out;

        n = MIN(n, (size_t)cb_size - 12);
        n = MIN(n, (size_t)PST_LZFU_MAX_OUT);
        out = malloc(n + 1);
        if (!out)
                return -ENOMEM;
        memcpy(out, in + LZFU_HEADER_SIZE, n);
        out[n] = 0;
        *ret = out;
        *ret_len = n;
        return 0;
}

int pst_lzfu_decompress(const void *in, size_t inlen, uint8_t **ret, size_t *ret_len,
                        struct pst_diag *diag)
{
        const uint8_t *p = in, *end;
        uint8_t dict[LZFU_DICT_SIZE] = {};
        uint32_t cb_size, raw_size, magic, crc;
        size_t comp_len, out_len = 0, wpos = sizeof(lzfu_preload) - 1;
        uint64_t bound;
        uint8_t *out;

        if (!in || inlen < LZFU_HEADER_SIZE)
                return pst_diag_set(diag, -EBADMSG, 0,
                                    "compressed RTF: %zu bytes, shorter than the 16-byte header",
                                    in ? inlen : 0);
        cb_size = get_le32(p);
        raw_size = get_le32(p + 4);
        magic = get_le32(p + 8);
        crc = get_le32(p + 12);
        if (cb_size < 12)
                return pst_diag_set(diag, -EBADMSG, 0,
                                    "compressed RTF: cbSize %" PRIu32 " smaller than the header",
                                    cb_size);
        if (magic == LZFU_MAGIC_UNCOMPRESSED)
                return lzfu_stored(p, inlen, cb_size, raw_size, ret, ret_len);
        if (magic != LZFU_MAGIC_COMPRESSED)
                return pst_diag_set(diag, -EBADMSG, 8,
                                    "compressed RTF: unknown dwMagic 0x%08" PRIx32, magic);

        /* cbSize counts the bytes after itself; more bytes are padding. */
        if ((uint64_t)cb_size > inlen - 4)
                return pst_diag_set(diag, -EBADMSG, 0,
                                    "compressed RTF: cbSize %" PRIu32 " but only %zu bytes follow",
                                    cb_size, inlen - 4);
        comp_len = (size_t)cb_size - 12;
        if (pst_crc32(0, p + LZFU_HEADER_SIZE, comp_len) != crc)
                return pst_diag_set(diag, -EBADMSG, 12, "compressed RTF: CRC mismatch");
        bound = 8 * (uint64_t)comp_len + sizeof(lzfu_preload) - 1;
        if (raw_size > bound)
                return pst_diag_set(diag, -EBADMSG, 4,
                                    "compressed RTF: cbRawSize %" PRIu32
                                    " exceeds what %zu compressed bytes can hold (tampered)",
                                    raw_size, comp_len);
        if (raw_size > PST_LZFU_MAX_OUT)
                return pst_diag_set(diag, -EFBIG, 4,
                                    "compressed RTF: cbRawSize %" PRIu32 " above the %u-byte cap",
                                    raw_size, (unsigned)PST_LZFU_MAX_OUT);

        out = malloc((size_t)raw_size + 1);
        if (!out)
                return -ENOMEM;
        memcpy(dict, lzfu_preload, sizeof(lzfu_preload) - 1);
        end = p + LZFU_HEADER_SIZE + comp_len;
        p += LZFU_HEADER_SIZE;

        while (p < end && out_len < raw_size) {
                unsigned ctrl = *p++;

                for (unsigned bit = 0; bit < 8 && out_len < raw_size; bit++) {
                        unsigned tok, off, len;

                        if (p >= end)
                                break;
                        if (!(ctrl & (1u << bit))) {
                                dict[wpos] = *p;
                                wpos = (wpos + 1) % LZFU_DICT_SIZE;
                                out[out_len++] = *p++;
                                continue;
                        }
                        if (end - p < 2) {
                                free(out);
                                return pst_diag_set(diag, -EBADMSG,
                                                    (uint64_t)(p - (const uint8_t *)in),
                                                    "compressed RTF: stream ends inside a reference");
                        }
                        tok = (unsigned)p[0] << 8 | p[1];
                        p += 2;
                        off = tok >> 4;
                        len = (tok & 0xF) + 2;
                        if (off == wpos)
                                goto done; /* the end marker */
                        /* Byte by byte: a run may overlap the bytes it writes.
                         * A reference to not-yet-written positions reads the
                         * zero-filled dictionary, as Outlook's decoder does. */
                        for (unsigned i = 0; i < len && out_len < raw_size; i++) {
                                uint8_t c = dict[(off + i) % LZFU_DICT_SIZE];

                                dict[wpos] = c;
                                wpos = (wpos + 1) % LZFU_DICT_SIZE;
                                out[out_len++] = c;
                        }
                }
        }
done:
        out[out_len] = 0;
        *ret = out;
        *ret_len = out_len;
        return 0;
}
