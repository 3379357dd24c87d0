/* SPDX-License-Identifier: MIT
 *
 * header.c - the file header ([MS-PST] 2.2.2.6) of the three variants:
 * ANSI (wVer 14/15, 512 bytes, partial CRC only), Unicode (21/23) and 4K
 * (36), which share one 564-byte layout with a partial and a full CRC.
 */
#include "pst/pst-internal.h"

#define HDR_ANSI_SIZE 512u

/* Both CRCs start after dwMagic and dwCRCPartial. */
#define CRC_START 8u
#define CRC_PARTIAL_LEN 471u
#define CRC_FULL_LEN 516u

bool pst_magic_ok(const void *buf, size_t len)
{
        return len >= 4 && memcmp(buf, "!BDN", 4) == 0;
}

const char *pst_format_name(enum pst_format f)
{
        switch (f) {
        case PST_FORMAT_ANSI:
                return "ansi";
        case PST_FORMAT_UNICODE:
                return "unicode";
        case PST_FORMAT_UNICODE4K:
                return "unicode4k";
        }
        return "unknown";
}

const char *pst_kind_name(enum pst_kind k)
{
        switch (k) {
        case PST_KIND_PST:
                return "pst";
        case PST_KIND_OST:
                return "ost";
        case PST_KIND_PAB:
                return "pab";
        }
        return "unknown";
}

const char *pst_crypt_name(enum pst_crypt c)
{
        switch (c) {
        case PST_CRYPT_NONE:
                return "none";
        case PST_CRYPT_PERMUTE:
                return "permute";
        case PST_CRYPT_CYCLIC:
                return "cyclic";
        }
        return "unknown";
}

int pst_header_parse(const void *buf, size_t len, struct pst_header *ret, struct pst_diag *diag)
{
        const uint8_t *b = buf;
        struct pst_header h = {};
        size_t need;
        uint8_t crypt;

        if (len < 14)
                return pst_diag_set(diag, -EBADMSG, 0, "header truncated: %zu bytes", len);
        if (!pst_magic_ok(b, len))
                return pst_diag_set(diag, -EBADMSG, 0,
                                    "header: no PST magic (%02x %02x %02x %02x, want \"!BDN\")",
                                    b[0], b[1], b[2], b[3]);

        if (memcmp(b + 8, "SM", 2) == 0)
                h.kind = PST_KIND_PST;
        else if (memcmp(b + 8, "SO", 2) == 0)
                h.kind = PST_KIND_OST;
        else if (memcmp(b + 8, "AB", 2) == 0)
                h.kind = PST_KIND_PAB;
        else
                return pst_diag_set(diag, -EBADMSG, 8,
                                    "header: unknown wMagicClient 0x%04x at 0x8", get_le16(b + 8));

        h.wver = get_le16(b + 10);
        h.wver_client = get_le16(b + 12);
        switch (h.wver) {
        case 14:
        case 15:
                h.format = PST_FORMAT_ANSI;
                break;
        case 21: /* written by "Visual Recovery" tools, same layout as 23 */
        case 23:
                h.format = PST_FORMAT_UNICODE;
                break;
        case 36:
                h.format = PST_FORMAT_UNICODE4K;
                break;
        default:
                return pst_diag_set(diag, -EBADMSG, 10, "header: unknown wVer %u at 0xa", h.wver);
        }

        need = h.format == PST_FORMAT_ANSI ? HDR_ANSI_SIZE : PST_HEADER_SIZE;
        if (len < need)
                return pst_diag_set(diag, -EBADMSG, 0,
                                    "header truncated: %zu bytes, a %s header has %zu", len,
                                    pst_format_name(h.format), need);

        h.crc_partial_ok = pst_crc32(0, b + CRC_START, CRC_PARTIAL_LEN) == get_le32(b + 4);
        if (h.format == PST_FORMAT_ANSI) {
                crypt = b[461];
                h.crc_full_ok = true;
                h.file_eof = get_le32(b + 168);
                h.nbt_bid = get_le32(b + 184);
                h.nbt_ib = get_le32(b + 188);
                h.bbt_bid = get_le32(b + 192);
                h.bbt_ib = get_le32(b + 196);
                h.amap_valid = b[200];
        } else {
                crypt = b[513];
                h.crc_full_ok = pst_crc32(0, b + CRC_START, CRC_FULL_LEN) == get_le32(b + 524);
                h.file_eof = get_le64(b + 184);
                h.nbt_bid = get_le64(b + 216);
                h.nbt_ib = get_le64(b + 224);
                h.bbt_bid = get_le64(b + 232);
                h.bbt_ib = get_le64(b + 240);
                h.amap_valid = b[248];
        }

        switch (crypt) {
        case PST_CRYPT_NONE:
        case PST_CRYPT_PERMUTE:
        case PST_CRYPT_CYCLIC:
                h.crypt = crypt;
                break;
        default:
                /* 0x10 (NDB_CRYPT_EDPCRYPTED, Windows Information Protection)
                 * is reported to exist but no sample or decoder is known. */
                return pst_diag_set(diag, -ENOTSUP, h.format == PST_FORMAT_ANSI ? 461 : 513,
                                    "header: unsupported bCryptMethod 0x%02x", crypt);
        }

        *ret = h;
        return 0;
}
