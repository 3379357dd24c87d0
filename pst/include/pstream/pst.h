/* SPDX-License-Identifier: MIT
 *
 * pst.h - decoding of Outlook PST/OST files ([MS-PST]) over byte buffers.
 *
 * Owns the NDB, LTP and messaging layers: header, CRCs, encodings, B-trees,
 * blocks, heap-on-node, property and table contexts.  Never does I/O, never
 * logs, keeps no global state: it parses buffers that daemon/ reads through
 * io/, and says which bytes it needs next (pull model):
 *
 *     struct pst_want want;
 *     while ((r = pst_store_info(f, &info, &want)) == -EAGAIN)
 *             pst_file_feed(f, want.offset, bytes_read_at(want.offset, want.len), n);
 *
 * Operations are restartable: when one needs bytes it has not been fed, it
 * returns -EAGAIN with *want filled; the caller feeds them and calls the same
 * operation again, which resumes from its cache of fed pages and blocks.
 *
 * Errors: -EBADMSG corrupt input (detail in struct pst_diag), -ENOTSUP valid
 * but unsupported, -EAGAIN more bytes needed, -ENOMEM, -EFBIG a limit hit.
 * Every offset, count, size and depth taken from the file is checked.
 *
 * Threads: a struct pst_file is used by one thread at a time.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PST_HEADER_SIZE 564u /* bytes to read to parse any variant's header */

enum pst_format {
        PST_FORMAT_ANSI,      /* wVer 14/15, 32-bit */
        PST_FORMAT_UNICODE,   /* wVer 21/23, 64-bit */
        PST_FORMAT_UNICODE4K, /* wVer 36, 4 KiB pages (OST 2013+) */
};

enum pst_kind {
        PST_KIND_PST, /* wMagicClient "SM" */
        PST_KIND_OST, /* "SO" */
        PST_KIND_PAB, /* "AB" */
};

enum pst_crypt {
        PST_CRYPT_NONE = 0,
        PST_CRYPT_PERMUTE = 1,
        PST_CRYPT_CYCLIC = 2,
};

struct pst_diag {
        char msg[256]; /* what is wrong, naming the structure, NID/BID and offset */
        uint64_t offset;
};

struct pst_header {
        enum pst_kind kind;
        enum pst_format format;
        enum pst_crypt crypt;
        uint16_t wver;
        uint16_t wver_client;
        bool crc_partial_ok;
        bool crc_full_ok;   /* true for ANSI, which has no full CRC */
        uint64_t file_eof;  /* ibFileEof */
        uint64_t nbt_bid, nbt_ib; /* root of the node B-tree */
        uint64_t bbt_bid, bbt_ib; /* root of the block B-tree */
        uint8_t amap_valid;
};

/* Does buf (len bytes from offset 0) start with the PST magic "!BDN"? */
bool pst_magic_ok(const void *buf, size_t len);

/* Parse the file header from the first len bytes (PST_HEADER_SIZE is always
 * enough).  Returns 0 even when a CRC is wrong (see crc_*_ok); -EBADMSG when
 * the magic, version or client magic is not a PST's or len is too short for
 * the variant (512 bytes ANSI, 564 otherwise); -ENOTSUP for an encryption
 * method other than none/permute/cyclic (e.g. 0x10, EDPCRYPTED). */
int pst_header_parse(const void *buf, size_t len, struct pst_header *ret, struct pst_diag *diag);

const char *pst_format_name(enum pst_format f); /* "ansi", "unicode", "unicode4k" */
const char *pst_kind_name(enum pst_kind k);     /* "pst", "ost", "pab" */
const char *pst_crypt_name(enum pst_crypt c);   /* "none", "permute", "cyclic" */

/* PST CRC-32 ([MS-PST] 5.3): reflected 0xEDB88320, init 0, no final xor. */
uint32_t pst_crc32(uint32_t crc, const void *data, size_t len);

/* ---- a file being decoded -------------------------------------------- */

struct pst_want {
        uint64_t offset;
        uint32_t len;
};

struct pst_limits {
        uint64_t max_cache_bytes; /* fed bytes kept at most (default 64 MiB) */
        unsigned max_depth;       /* B-tree / data-tree / nesting depth (default 32) */
};

struct pst_file;

/* Create a decoder for a file of file_size bytes whose header bytes (at
 * least PST_HEADER_SIZE, fewer only if the file is that short) are given.
 * Fails like pst_header_parse(), and with -EBADMSG when a header CRC is
 * wrong (the B-tree roots cannot be trusted then).  lim may be NULL; zero
 * fields take the defaults. */
int pst_file_new(const void *header, size_t len, uint64_t file_size, const struct pst_limits *lim,
                 struct pst_file **ret, struct pst_diag *diag);
struct pst_file *pst_file_free(struct pst_file *f);

const struct pst_header *pst_file_header(const struct pst_file *f);

/* Feed bytes the decoder asked for (data is copied).  len may be shorter
 * than asked at EOF.  Feed each want in one call (a want is served from one
 * fed range); feeding more, even the whole file, is fine.  Bytes past
 * file_size are ignored.  -EINVAL if offset > file_size; -EFBIG if the
 * bytes cannot be kept within max_cache_bytes without evicting what the
 * running operation uses (that operation then returns -EFBIG); -ENOMEM.
 *
 * An operation that asks for the same bytes twice in a row (they were not
 * fed, or fed short because the file shrank) returns -EIO instead of
 * -EAGAIN, so a pull loop always ends.  Finish one operation before
 * starting another: fed bytes are pinned until their operation ends. */
int pst_file_feed(struct pst_file *f, uint64_t offset, const void *data, size_t len);

/* Lend the decoder the whole file instead of feeding it: data holds the
 * file's first len >= file_size bytes (e.g. a read-only mapping or one
 * in-memory copy), is never copied or written, and stays owned by the
 * caller, who keeps it valid and unchanged until pst_file_free(f).  Then
 * no operation returns -EAGAIN and pst_file_feed() is not needed.  Several
 * decoders (one per thread) may borrow the same bytes.  Call it before any
 * feed; -EINVAL when len is short or bytes were fed already. */
int pst_file_borrow(struct pst_file *f, const void *data, size_t len);

/* Message-store facts (NID 0x21) for inventory. */
struct pst_store_info {
        bool has_password;      /* PidTagPstPassword non-zero (OSTs store 0xFFFFFFFF: false) */
        uint32_t password_crc;
        char display_name[256]; /* UTF-8, "" if absent */
};

/* *ret is written on success only.  On the real corpus this takes 3-7
 * -EAGAIN rounds and 1.3-3.3 KiB fed (17 KiB for 4K OSTs: 4 KiB pages).
 * A name kept in a subnode is read from there. */
int pst_store_info(struct pst_file *f, struct pst_store_info *ret, struct pst_want *want,
                   struct pst_diag *diag);

/* ---- folders and messages (walk.c) ------------------------------------ */

/* Folder levels walked below the root folder: the Import Service's limit. */
#define PST_WALK_MAX_DEPTH 300u

/* A folder ([MS-PST] 2.4.4), met in depth-first order from the root
 * folder (NID 0x122, depth 0). */
struct pst_folder {
        uint32_t nid;
        uint32_t parent_nid;   /* 0 for the root folder */
        unsigned depth;
        bool search;           /* a search folder: lists messages kept elsewhere, not walked */
        bool ipm_subtree;      /* the top of the mailbox (store 0x35E0, or found by name in OSTs) */
        char name[256];        /* PidTagDisplayName, UTF-8 */
        uint32_t n_messages;   /* rows of its contents table */
        uint32_t n_fai;        /* rows of its FAI contents table */
        uint32_t n_subfolders; /* rows of its hierarchy table */
};

/* A message of a folder's contents or FAI table. */
struct pst_message {
        uint32_t nid;
        uint32_t folder_nid;
        bool fai;
        char message_class[128]; /* PidTagMessageClass */
        char subject[256];       /* PidTagSubject without its \x01 n marker */
        uint32_t n_recipients;   /* rows of the recipient table */
        uint32_t n_attachments;  /* rows of the attachment table */
        uint32_t n_embedded;     /* of those, embedded messages (attach method 5) */
        /* The same counted through embedded messages at every level. */
        uint32_t n_attachments_all;
        uint32_t n_embedded_all;
        uint64_t attach_bytes;   /* PidTagAttachDataBinary sizes, every level */
};

/* A node that could not be read: only what depends on it is lost. */
struct pst_problem {
        uint32_t nid;   /* the folder or message concerned */
        int error;      /* -EBADMSG, -ENOENT (listed but absent), -EFBIG, -ENOTSUP */
        struct pst_diag diag;
};

enum pst_walk_kind {
        PST_WALK_FOLDER = 1,
        PST_WALK_MESSAGE,
        PST_WALK_PROBLEM,
};

struct pst_walk_item {
        enum pst_walk_kind kind;
        union {
                struct pst_folder folder;
                struct pst_message message;
                struct pst_problem problem;
        };
};

struct pst_walk_opts {
        bool messages; /* read every listed message (else folders only) */
        /* With messages: list them without reading them (only nid,
         * folder_nid and fai are set), e.g. to decode them elsewhere with
         * pst_msg_read(). */
        bool message_ids;
};

struct pst_walk;

/* A walk of f's folder tree (f stays owned by the caller and must outlive
 * the walk).  opts may be NULL (folders only). */
int pst_walk_new(struct pst_file *f, const struct pst_walk_opts *opts, struct pst_walk **ret);
struct pst_walk *pst_walk_free(struct pst_walk *w);

/* Next item: a folder, then (with opts->messages) its contents and FAI
 * messages, then its subfolders; problems are items too.  Returns 1 with
 * *ret filled, 0 when the walk is over, -EAGAIN with *want (feed it, call
 * again), or a fatal -ENOMEM / -EIO (a want was not fed).  Iterative,
 * cycle-checked (a folder is walked once), at most PST_WALK_MAX_DEPTH
 * levels; memory grows with the folder count and the largest table. */
int pst_walk_next(struct pst_walk *w, struct pst_walk_item *ret, struct pst_want *want,
                  struct pst_diag *diag);

/* ---- message bodies and MIME (lzfu.c, rtfhtml.c, mime.c) -------------- */

/* Largest body any of these functions produces (64 MiB): -EFBIG above. */
#define PST_LZFU_MAX_OUT (64u * 1024 * 1024)

/* Decompress PidTagRtfCompressed ([MS-OXRTFCP]).  *ret (malloc'd, taken by
 * the caller, NUL-terminated for convenience) holds *ret_len bytes of RTF.
 * "LZFu": the CRC must match and cbRawSize must be possible for the input
 * (at most 8 x compressed + 207), else -EBADMSG (tampering); the output
 * stops at the end marker, at cbRawSize or at the end of the input.
 * "MELA" (stored): CRC ignored, sizes clamped to the bytes present, since
 * Aspose writes wrong ones.  -EBADMSG for a short header, an unknown magic
 * or a reference cut by the end of the input; -EFBIG above the cap. */
int pst_lzfu_decompress(const void *in, size_t inlen, uint8_t **ret, size_t *ret_len,
                        struct pst_diag *diag);

/* The HTML encapsulated in an RTF body ([MS-OXRTFEX]) as UTF-8: markup from
 * {\*\htmltag} groups, text outside \htmlrtf ... \htmlrtf0, with \'hh
 * decoded in the code page of the current font (\fcharset) or \ansicpg
 * when it is 1252, 28591 or 65001 (other code pages give U+FFFD), \uN,
 * \par as CRLF and \tab.  *ret (malloc'd, NUL-terminated) is
 * taken by the caller.  -ENOENT when the RTF has no \fromhtml1 (no HTML
 * inside), -EBADMSG when it does not start with {\rtf or nests groups
 * deeper than 256, -EFBIG above PST_LZFU_MAX_OUT.  Unbalanced braces end
 * the document early or at the end of the input; neither is an error. */
int pst_rtf_html(const void *rtf, size_t len, uint8_t **ret, size_t *ret_len, struct pst_diag *diag);

/* The visible text of an RTF body (e.g. \fromtext, or RTF-only messages),
 * decoded like pst_rtf_html() without the HTML markup.  Same errors, but
 * never -ENOENT. */
int pst_rtf_text(const void *rtf, size_t len, uint8_t **ret, size_t *ret_len, struct pst_diag *diag);

/* A message to render as RFC 5322 / MIME (pst_mime_render()).  Every
 * pointer is borrowed; strings are NUL-terminated UTF-8 (invalid sequences
 * are replaced) and may be NULL when absent. */
struct pst_mime_addr {
        const char *name; /* display name */
        const char *addr; /* SMTP addr-spec; anything else keeps only the name */
};

struct pst_mime_msg;

struct pst_mime_part {
        const char *filename;  /* long or non-ASCII: RFC 2231 filename* */
        const char *mime_type; /* "type/subtype"; invalid or NULL: application/octet-stream */
        const char *content_id; /* without <>; with is_inline and an HTML body: multipart/related */
        bool is_inline;
        const uint8_t *data; /* base64-encoded, 76-character lines */
        size_t len;
        const struct pst_mime_msg *message; /* embedded message: message/rfc822, data unused */
};

struct pst_mime_msg {
        /* PidTagTransportMessageHeaders.  When present, its fields are used
         * (line ends made CRLF, Content-* and MIME-Version dropped since they
         * described the original body) and only the fields it lacks among
         * From, To, Cc, Date, Subject and Message-ID are synthesised. */
        const char *transport_headers;
        struct pst_mime_addr from;
        const struct pst_mime_addr *to, *cc, *bcc; /* Bcc only without transport headers */
        size_t n_to, n_cc, n_bcc;
        const char *subject;
        bool has_date;
        int64_t date; /* Unix seconds, UTC (years 1900-9999) */
        const char *message_id;  /* with or without <>; absent: derived from the content */
        const char *in_reply_to; /* space-separated ids, like references */
        const char *references;
        const char *body_text; /* text/plain, body_text_len bytes */
        size_t body_text_len;
        const char *body_html; /* text/html, body_html_len bytes */
        size_t body_html_len;
        const struct pst_mime_part *parts;
        size_t n_parts;
};

/* Largest rendered message: -EFBIG above. */
#define PST_MIME_MAX_OUT (256u * 1024 * 1024)

/* Render m as a MIME message, CRLF line ends, header lines folded under 78
 * characters (an address or message id too long for that stays whole, under
 * 998), non-ASCII header text as RFC 2047 UTF-8 encoded words, bodies
 * 7bit or quoted-printable, multipart/alternative for text + HTML and
 * multipart/mixed with attachments.  Deterministic: the same m gives the
 * same bytes (boundaries are content hashes).  *ret (malloc'd,
 * NUL-terminated) is taken by the caller.  -EFBIG past PST_MIME_MAX_OUT or
 * embedded messages nested deeper than 16; -ENOMEM; -EINVAL for NULLs. */
int pst_mime_render(const struct pst_mime_msg *m, uint8_t **ret, size_t *ret_len);

/* The same into a buffer the caller keeps from one call to the next: *buf
 * (malloc'd, or NULL) of *cap bytes is grown with realloc() as needed and
 * stays the caller's, on failure too; on success it holds *ret_len bytes
 * and a NUL.  Reusing one buffer for many messages spares the page faults
 * of fresh memory for every one. */
int pst_mime_render_into(const struct pst_mime_msg *m, uint8_t **buf, size_t *cap, size_t *ret_len);

/* ---- the item model: properties, messages (message.c, write.c) -------- */

/* Property types ([MS-OXCDATA] 2.11.1).  PST_PT_MV marks a multi-valued
 * type (PST_PT_MV | PST_PT_UNICODE is PtypMultipleString). */
enum {
        PST_PT_I2 = 0x0002,
        PST_PT_I4 = 0x0003,
        PST_PT_R4 = 0x0004,
        PST_PT_R8 = 0x0005,
        PST_PT_CURRENCY = 0x0006,
        PST_PT_APPTIME = 0x0007,
        PST_PT_ERROR = 0x000A,
        PST_PT_BOOLEAN = 0x000B,
        PST_PT_OBJECT = 0x000D,
        PST_PT_I8 = 0x0014,
        PST_PT_STRING8 = 0x001E,
        PST_PT_UNICODE = 0x001F,
        PST_PT_SYSTIME = 0x0040,
        PST_PT_CLSID = 0x0048,
        PST_PT_SVREID = 0x00FB,
        PST_PT_SRESTRICT = 0x00FD,
        PST_PT_ACTIONS = 0x00FE,
        PST_PT_BINARY = 0x0102,
        PST_PT_MV = 0x1000,
};

/* A named property ([MS-PST] 2.4.7): a GUID and a numeric or string name. */
struct pst_named {
        uint8_t guid[16];
        bool is_string;
        uint32_t lid;     /* the numeric name when !is_string */
        const char *name; /* UTF-8, NUL-terminated, when is_string */
};

/* One value.  Integer-like types (I2, I4, I8, BOOLEAN 0/1, ERROR, CURRENCY,
 * SYSTIME as the raw FILETIME) use i; R4, R8 and APPTIME use d; every
 * variable-size type uses data/len: STRING8 as stored (no NUL, code page of
 * the message), UNICODE as UTF-8 (no NUL), BINARY, CLSID (16 bytes), SVREID,
 * SRESTRICT, ACTIONS and OBJECT as stored. */
struct pst_value {
        int64_t i;
        double d;
        const uint8_t *data;
        size_t len;
};

/* A property: tag (id, type) and value(s).  id >= 0x8000 is a named
 * property: named says which (the reader resolves it through the
 * name-to-id map, NULL if the map lacks it; the writer maps named and
 * ignores id).  A multi-valued type has count values in mv (v unused). */
struct pst_prop {
        uint16_t id;
        uint16_t type;
        const struct pst_named *named;
        struct pst_value v;
        const struct pst_value *mv;
        uint32_t count;
};

struct pst_msg;

/* A recipient: one row of the recipient table (PidTagRecipientType,
 * PidTagDisplayName, PidTagEmailAddress, PidTagSmtpAddress, ...). */
struct pst_recipient {
        const struct pst_prop *props;
        size_t n_props;
};

/* An attachment: its property context (PidTagAttachMethod,
 * PidTagAttachLongFilename, PidTagAttachMimeTag, PidTagAttachContentId,
 * ...), the bytes of PidTagAttachDataBinary (method 1, by value) and, for
 * method 5, the embedded message.  PidTagAttachDataBinary/Object are not
 * repeated in props. */
struct pst_attachment {
        const struct pst_prop *props;
        size_t n_props;
        const uint8_t *data;
        size_t len;
        const struct pst_msg *embedded;
};

/* A message with everything under it.  Memory of a decoded message is
 * owned by the message (pst_msg_free()); a message given to the writer is
 * borrowed. */
struct pst_msg {
        const struct pst_prop *props;
        size_t n_props;
        const struct pst_recipient *recipients;
        size_t n_recipients;
        const struct pst_attachment *attachments;
        size_t n_attachments;
};

/* ---- decoding one message (message.c) --------------------------------- */

/* Memory one decoded message may take, everything under it included:
 * -EFBIG for what does not fit (that item is lost and reported). */
#define PST_MSG_MAX_BYTES (256u * 1024 * 1024)
/* Embedded messages inside embedded messages (real files: 3 levels). */
#define PST_MSG_MAX_DEPTH 32u
/* Problems kept per decoded message; more are counted. */
#define PST_MSG_MAX_PROBLEMS 32u

/* Decode the message (or FAI item) nid of the NBT, with every property of
 * its PC (every type, multi-valued ones included; values kept in subnodes
 * read; named properties resolved through the name-to-id map), its
 * recipient table, its attachments with their bytes, and embedded
 * messages down to PST_MSG_MAX_DEPTH.  Property arrays are sorted by id
 * (recipients: in column order).  String values are NUL-terminated (the
 * NUL not counted in len; a string ends at its first NUL).  Attachments by
 * reference or OLE storage are kept with their properties and no data:
 * never dereferenced.
 *
 * A property, recipient table, attachment or embedded message that cannot
 * be read loses only itself and is listed by pst_msg_problems().  Returns
 * 0 with *ret (free with pst_msg_free()), -EAGAIN with *want, -ENOENT when
 * nid is not in the NBT, -EBADMSG when the message's own PC is unreadable,
 * -EFBIG, -ENOMEM, -EIO (a want not fed).  The first call on a file also
 * reads the name-to-id map (NID 0x61), kept with f. */
int pst_msg_read(struct pst_file *f, uint32_t nid, struct pst_msg **ret, struct pst_want *want,
                 struct pst_diag *diag);

/* Free a message from pst_msg_read() (not an embedded one); NULL is fine. */
struct pst_msg *pst_msg_free(struct pst_msg *m);

/* What pst_msg_read() could not decode in m: *ret_n problems (nid is the
 * message's; the text names the attachment, table or property) and
 * *ret_more more that were not kept. */
const struct pst_problem *pst_msg_problems(const struct pst_msg *m, size_t *ret_n,
                                           size_t *ret_more);

/* Property id among props (sorted or not); NULL when absent. */
const struct pst_prop *pst_props_find(const struct pst_prop *props, size_t n, uint16_t id);

/* PidTagMessageCodepage, else PidTagInternetCodepage, else 1252. */
unsigned pst_msg_codepage(const struct pst_msg *m);

/* A string property (Unicode, or String8 in code page cp) as UTF-8 in
 * out[outsz], NUL-terminated, cut on a character boundary; "" when p is
 * NULL or not a string.  Returns the bytes written. */
size_t pst_prop_utf8(const struct pst_prop *p, unsigned cp, char *out, size_t outsz);

/* Render a decoded message as a MIME .eml (pst_mime_render()): headers
 * from the transport headers or the properties, plain, HTML (or HTML from
 * compressed RTF) bodies, attachments, embedded messages as message/rfc822.
 * Items without a body (contacts, appointments, tasks...) get a text body
 * listing their other named and tagged text properties.  Same returns as
 * pst_mime_render(). */
int pst_msg_render(const struct pst_msg *m, uint8_t **ret, size_t *ret_len);
/* The same into a reusable buffer, as pst_mime_render_into(). */
int pst_msg_render_into(const struct pst_msg *m, uint8_t **buf, size_t *cap, size_t *ret_len);

/* ---- orphans (ndb.c) -------------------------------------------------- */

/* Every NID of nid_type (low 5 bits, e.g. 0x04 normal messages) in the
 * node B-tree, strictly ascending, in *ret (malloc'd, taken by the
 * caller).  Leaf keys out of order (shared subtrees, forged pages) or more
 * page visits than the file has pages end the listing with -EBADMSG. */
int pst_nbt_list(struct pst_file *f, uint8_t nid_type, uint32_t **ret, size_t *ret_n,
                 struct pst_want *want, struct pst_diag *diag);
