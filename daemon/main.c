/* SPDX-License-Identifier: MIT
 *
 * main.c - the pstream command: git-style subcommands over the modules.
 */
#include <ctype.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "control.h"
#include "export.h"
#include "ingest.h"
#include "inspect.h"
#include "io/base/macro.h"
#include "json.h"
#include "log.h"
#include "metrics.h"
#include "options.h"
#include "pstream/io.h"
#include "pstream/net.h"
#include "pstream/pst.h"
#include "rules.h"
#include "scan.h"
#include "service.h"
#include "schedule.h"

#define EXIT_USAGE 2

static const char usage_main[] =
        "Usage: pstream COMMAND [OPTIONS...]\n"
        "\n"
        "Move Outlook PST/OST files from file shares into Microsoft 365 through Azure\n"
        "Blob storage: discover them, upload them byte for byte as block blobs with\n"
        "per-request CRC-64 integrity, and write the PST Import Service mapping CSV.\n"
        "\n"
        "Commands:\n"
        "  scan ROOT...             find PST/OST files by header and list them\n"
        "  ingest SRC... --to URL   upload every PST/OST found under SRC\n"
        "  daemon -c FILE           the ingest job as a service, from a configuration file\n"
        "  status [--json]          ask a running ingest or daemon how it is doing\n"
        "  pause | resume           stop starting requests (those in flight finish) / go on\n"
        "  cap RATE|schedule        change the bandwidth cap of the running job live\n"
        "  inspect FILE             show a PST/OST's folder tree, counts and damage\n"
        "  export FILE... --to DIR  write every message of PST/OST files as .eml files\n"
        "\n"
        "Options:\n"
        "  -h, --help               show this help (or COMMAND --help)\n"
        "      --version            show version, allocator, liburing, curl and TLS backend\n"
        "\n"
        "Exit status: 0 all done; 1 done, but some files were skipped or failed (listed);\n"
        "2 usage or configuration error; 3 fatal runtime error.\n";

static const char usage_inspect[] =
        "Usage: pstream inspect FILE [--json]\n"
        "\n"
        "Walk one PST/OST file's folder tree from the root folder through its hierarchy,\n"
        "contents and FAI tables, read every message listed (class, recipient and\n"
        "attachment tables, embedded messages) and report: format, encryption, password\n"
        "flag, store name, each folder with its message and FAI counts, totals, and every\n"
        "problem found with the node id it concerns. Search folders are listed but their\n"
        "contents (messages kept elsewhere) are not counted. Damage costs only what\n"
        "depends on the damaged node.\n"
        "\n"
        "Options:\n"
        "      --json               one JSON document instead of text\n"
        "\n"
        "Exit status: 0; 1 when problems were found; 2 usage error; 3 the file could not\n"
        "be opened or decoded at all.\n";

static const char usage_export[] =
        "Usage: pstream export FILE... --to DIR [--orphans] [--jobs N] [--quiet]\n"
        "\n"
        "Write every message of each PST/OST FILE as an RFC 5322 .eml file (MIME, CRLF,\n"
        "byte-for-byte the same on every run), mail and non-mail items alike (contacts,\n"
        "appointments, tasks and notes get their properties as the text body when they\n"
        "have none). Each FILE gets a directory DIR/NAME, NAME being the file's base name\n"
        "(\"NAME (2)\" for a second input of the same name), holding:\n"
        "\n"
        "  FOLDER/PATH/NNNNNNNN.eml  one per message of each folder's contents table, under\n"
        "                           the display names of the folders below the root folder;\n"
        "                           NNNNNNNN is the message's node id in hex. '/', '\\' and\n"
        "                           control characters in names become '_', names are cut at\n"
        "                           200 bytes, and equal sibling names get \" (2)\", \" (3)\"...\n"
        "  _orphans/NNNNNNNN.eml     with --orphans: messages of the node B-tree that no\n"
        "                           folder lists (left behind by deletion or damage)\n"
        "  report.json              every folder with its message, FAI and exported counts;\n"
        "                           every message exported (file, class, subject, recipient\n"
        "                           count, attachments with name, size and method, embedded\n"
        "                           messages); every message skipped and every problem met,\n"
        "                           with the node id and file offset concerned\n"
        "\n"
        "Attachments by value are base64 MIME parts, embedded messages message/rfc822 parts\n"
        "(to 32 levels); attachments by reference and OLE objects are never dereferenced:\n"
        "they become a text part naming them. FAI (folder-associated) items are counted,\n"
        "not exported; search folders list messages kept elsewhere and get none. Damage\n"
        "costs only what depends on it: the rest is exported and the damage reported.\n"
        "Existing files of the same names under DIR are overwritten.\n"
        "\n"
        "Options:\n"
        "      --to DIR             output directory (created if missing)\n"
        "      --orphans            also export messages no folder lists, to _orphans/\n"
        "  -j, --jobs N             decode and write with N threads (default: online CPUs)\n"
        "  -q, --quiet              no progress or summary on stderr\n"
        "\n"
        "Exit status: 0 everything listed was exported; 1 some message was skipped or a\n"
        "problem was met (the rest was exported); 2 usage error; 3 a FILE could not be\n"
        "opened or is not a PST/OST, or DIR could not be written.\n";

static const char usage_scan[] =
        "Usage: pstream scan ROOT... [--json | --csv]\n"
        "\n"
        "Walk each ROOT (a directory or a file) and report every PST/OST file, recognised\n"
        "by its header (magic \"!BDN\" and version), never by its extension. For each:\n"
        "path, size, modification time, kind (pst, ost, pab), format (ansi, unicode,\n"
        "unicode4k), encryption (none, permute, cyclic), whether a password is set, whether\n"
        "the header CRCs are right, and the store's display name.\n"
        "\n"
        "Symbolic links are not followed. Unreadable entries, links and files that are not\n"
        "PSTs are reported (on stderr, or under \"skipped\" with --json) and never stop the scan.\n"
        "\n"
        "Options:\n"
        "      --json               one JSON document: {\"files\": [...], \"skipped\": [...]}\n"
        "      --csv                CSV with a header line\n"
        "  -v, --verbose            also list every non-PST file on stderr\n"
        "\n"
        "Exit status: 0, or 1 when an entry could not be read.\n";

static const char usage_ingest[] =
        "Usage: pstream ingest SRC... --to URL [OPTIONS...]\n"
        "\n"
        "Upload every PST/OST file found under each SRC (a directory walked recursively,\n"
        "or a file) to Azure Blob storage, one block blob per file, byte for byte. Files are\n"
        "recognised by their header; damaged files are uploaded as found, with the damage\n"
        "reported. Blob names keep the path relative to SRC (a SRC that is a file: its\n"
        "name), under the URL's path and --prefix.\n"
        "\n"
        "Destination:\n"
        "      --to URL             container URL, one of\n"
        "                             https://ACCOUNT.blob.core.windows.net/CONTAINER[/PATH][?SAS]\n"
        "                             http(s)://HOST:PORT/ACCOUNT/CONTAINER[/PATH][?SAS]  (Azurite)\n"
        "                           The PST Import Service's SAS URL works as it is: its token\n"
        "                           cannot read, so pstream never sends a read request to it.\n"
        "      --sas-file FILE      read the SAS token from FILE instead of the URL (keeps it\n"
        "                           out of the process list)\n"
        "      --key-file FILE      Shared Key auth: the base64 account key, read from FILE;\n"
        "                           or set PSTREAM_ACCOUNT_KEY. Never given on the command line.\n"
        "      --ca-file FILE       trust the CA certificates in FILE (PEM) instead of the\n"
        "                           system's, e.g. for a local Azurite over HTTPS. Certificate\n"
        "                           and host name verification are always on.\n"
        "      --prefix PATH        put blobs under PATH/ in the container\n"
        "      --all-files          move every regular file found, not only PST/OST files\n"
        "                           (files without a PST header are reported as such)\n"
        "\n"
        "Transfer:\n"
        "      --mode verbatim      upload each file as one block blob (the only mode yet)\n"
        "  -c, --connections N      parallel keep-alive connections (default 16)\n"
        "      --block-size SIZE    Put Block size (default 8M; doubled for files that would\n"
        "                           need more than 50,000 blocks; 4M is used after a 413)\n"
        "      --put-blob-max SIZE  files up to SIZE go up in one Put Blob (default: block size)\n"
        "      --memory SIZE        read buffers at most (default 32M); bounds memory whatever\n"
        "                           the size of the files or the estate\n"
        "      --workers N          hashing threads (default: 1, CPUs/4 above 4 CPUs)\n"
        "      --queue-depth N      reads in flight (default 64)\n"
        "      --io auto|uring|pread  reader backend (default auto: io_uring, else pread)\n"
        "      --cap RATE           bandwidth cap: 20MB/s, 512KB/s, 50Mbit, 1.5Gbit (decimal\n"
        "                           prefixes) or unlimited (default)\n"
        "      --schedule RULES     weekly cap in local time, first match wins, else --cap:\n"
        "                             'Mon-Fri 08:00-18:00 = 50Mbit; Sat,Sun = 100MB/s'\n"
        "\n"
        "Import Service:\n"
        "      --mailbox-rules FILE which mailbox each file belongs to; lines of\n"
        "                             GLOB MAILBOX [IsArchive=TRUE|FALSE] [TargetRootFolder=/X]\n"
        "                                  [ContentCodePage=N]\n"
        "                           GLOB matches the path relative to SRC ('*' within a folder,\n"
        "                           '**' across folders); MAILBOX may use {1}..{9}, the text\n"
        "                           matched by the n-th wildcard. First match wins.\n"
        "      --mapping-csv FILE   write the Import Service mapping CSV for the uploaded files\n"
        "                           (500 rows a file; more go to FILE-2.csv, FILE-3.csv, ...)\n"
        "\n"
        "Output:\n"
        "      --report FILE        write a JSON report: every file, its blob, size, XXH3-128,\n"
        "                           status, damage, duplicates, errors\n"
        "      --state DIR          directory for run state (created if missing)\n"
        "      --metrics-listen HOST:PORT\n"
        "                           serve Prometheus metrics at http://HOST:PORT/metrics\n"
        "                           (loopback only: 127.0.0.1:9187, [::1]:9187)\n"
        "      --no-progress        no progress line on a terminal\n"
        "  -v, --verbose            debug logging (requests, retries); secrets never appear\n"
        "  -q, --quiet              errors only\n"
        "\n"
        "Exit status: 0 every file uploaded; 1 some file failed or was skipped, or a file\n"
        "matched no mailbox rule; 2 usage or configuration error; 3 fatal runtime error\n"
        "(credential refused, container missing, interrupted).\n";

static int cmd_version(void)
{
        char alloc[128];
        struct io_pool *pool = NULL;
        struct io_reader *r = NULL;
        const char *uring = "unavailable";

        /* Report what this machine really gives us, not what was compiled. */
        if (io_pool_new(4096, 1, &pool) >= 0) {
                struct io_cfg c = { .backend = IO_BACKEND_AUTO, .queue_depth = 4 };
                if (io_reader_new(&c, pool, &r) >= 0 && io_reader_backend(r) == IO_BACKEND_URING)
                        uring = "available";
                io_reader_free(r);
                io_pool_free(pool);
        }
        printf("pstream %s\n", PSTREAM_VERSION);
        printf("allocator: %s\n", metrics_allocator(alloc, sizeof(alloc)));
        printf("liburing: %s (io_uring %s on this kernel)\n", LIBURING_VERSION, uring);
        printf("curl: %s\n", net_curl_version());
        printf("tls: %s\n", net_tls_backend());
        return 0;
}

/* ---- inspect -------------------------------------------------------------- */

static int cmd_inspect(int argc, char **argv)
{
        static const struct option longopts[] = {
                { "json", no_argument, NULL, 'j' }, { "help", no_argument, NULL, 'h' },
                {},
        };
        struct inspect_result res;
        struct pst_diag diag = {};
        bool json = false;
        int c, r;

        while ((c = getopt_long(argc, argv, "h", longopts, NULL)) >= 0) {
                switch (c) {
                case 'j':
                        json = true;
                        break;
                case 'h':
                        fputs(usage_inspect, stdout);
                        return 0;
                default:
                        fputs(usage_inspect, stderr);
                        return EXIT_USAGE;
                }
        }
        if (argc - optind != 1) {
                log_error("inspect: give exactly one FILE (see pstream inspect --help)");
                return EXIT_USAGE;
        }
        r = inspect_file(argv[optind], &res, &diag);
        if (r < 0) {
                log_error_errno(r, "inspect %s: %s", argv[optind], diag.msg);
                inspect_result_done(&res);
                return 3;
        }
        if (json)
                inspect_print_json(stdout, argv[optind], &res);
        else
                inspect_print_text(stdout, argv[optind], &res);
        r = res.problems_total > 0 ? 1 : 0;
        inspect_result_done(&res);
        return r;
}

/* ---- export --------------------------------------------------------------- */

static int cmd_export(int argc, char **argv)
{
        static const struct option longopts[] = {
                { "to", required_argument, NULL, 't' },   { "orphans", no_argument, NULL, 'o' },
                { "jobs", required_argument, NULL, 'j' }, { "quiet", no_argument, NULL, 'q' },
                { "help", no_argument, NULL, 'h' },       {},
        };
        struct export_opts o = {};
        char *end;
        long v;
        int c;

        while ((c = getopt_long(argc, argv, "hj:q", longopts, NULL)) >= 0) {
                switch (c) {
                case 't':
                        o.to = optarg;
                        break;
                case 'o':
                        o.orphans = true;
                        break;
                case 'j':
                        errno = 0;
                        v = strtol(optarg, &end, 10);
                        if (errno != 0 || end == optarg || *end != '\0' || v < 1 || v > 1024) {
                                log_error("export: --jobs wants a number from 1 to 1024, not '%s'", optarg);
                                return EXIT_USAGE;
                        }
                        o.jobs = (unsigned)v;
                        break;
                case 'q':
                        o.quiet = true;
                        break;
                case 'h':
                        fputs(usage_export, stdout);
                        return 0;
                default:
                        fputs(usage_export, stderr);
                        return EXIT_USAGE;
                }
        }
        if (!o.to || !*o.to) {
                log_error("export: --to DIR is required (see pstream export --help)");
                return EXIT_USAGE;
        }
        if (optind >= argc) {
                log_error("export: give at least one FILE (see pstream export --help)");
                return EXIT_USAGE;
        }
        return export_files(argv + optind, argc - optind, &o);
}

/* ---- scan ----------------------------------------------------------------- */

enum scan_format { SCAN_TABLE, SCAN_JSON, SCAN_CSV };

static void format_mtime(int64_t ns, char *buf, size_t len)
{
        time_t t = (time_t)(ns / 1000000000);
        struct tm tm;

        if (gmtime_r(&t, &tm))
                strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
        else
                snprintf(buf, len, "?");
}

static void scan_print_json(const struct scan_result *res)
{
        printf("{\n  \"files\": [");
        for (size_t i = 0; i < res->nfiles; i++) {
                const struct scan_entry *e = &res->files[i];
                char mt[32];

                format_mtime(e->mtime_ns, mt, sizeof(mt));
                printf(i ? ",\n    {" : "\n    {");
                printf("\"path\": ");
                json_string(stdout, e->path);
                printf(", \"size\": %" PRIu64 ", \"mtime\": \"%s\"", e->size, mt);
                if (e->header_ok) {
                        printf(", \"kind\": \"%s\", \"format\": \"%s\", \"wver\": %u, "
                               "\"encryption\": \"%s\", \"header_crc_ok\": %s",
                               pst_kind_name(e->hdr.kind), pst_format_name(e->hdr.format),
                               e->hdr.wver, pst_crypt_name(e->hdr.crypt),
                               e->hdr.crc_partial_ok && e->hdr.crc_full_ok ? "true" : "false");
                } else {
                        printf(", \"kind\": null, \"format\": null, \"wver\": null, "
                               "\"encryption\": null, \"header_crc_ok\": false");
                }
                if (e->store_ok) {
                        printf(", \"password\": %s, \"password_crc\": \"0x%08" PRIX32
                               "\", \"store_name\": ",
                               e->store.has_password ? "true" : "false", e->store.password_crc);
                        json_string(stdout, e->store.display_name);
                } else {
                        printf(", \"password\": null, \"password_crc\": null, \"store_name\": null");
                }
                printf(", \"problem\": ");
                if (e->problem[0])
                        json_string(stdout, e->problem);
                else
                        printf("null");
                printf("}");
        }
        printf("\n  ],\n  \"skipped\": [");
        for (size_t i = 0; i < res->nskips; i++) {
                const struct scan_skip *s = &res->skips[i];
                printf(i ? ",\n    {" : "\n    {");
                printf("\"path\": ");
                json_string(stdout, s->path);
                printf(", \"kind\": \"%s\", \"reason\": ", scan_skip_kind_name(s->kind));
                json_string(stdout, s->reason);
                printf("}");
        }
        printf("\n  ]\n}\n");
}

static void scan_print_csv(const struct scan_result *res)
{
        printf("path,size,mtime,kind,format,wver,encryption,password,header_crc,store_name,"
               "problem\n");
        for (size_t i = 0; i < res->nfiles; i++) {
                const struct scan_entry *e = &res->files[i];
                char mt[32];

                format_mtime(e->mtime_ns, mt, sizeof(mt));
                csv_field(stdout, e->path);
                printf(",%" PRIu64 ",%s,", e->size, mt);
                if (e->header_ok)
                        printf("%s,%s,%u,%s,", pst_kind_name(e->hdr.kind),
                               pst_format_name(e->hdr.format), e->hdr.wver,
                               pst_crypt_name(e->hdr.crypt));
                else
                        printf(",,,,");
                printf("%s,%s,", e->store_ok ? (e->store.has_password ? "yes" : "no") : "",
                       e->header_ok ? (e->hdr.crc_partial_ok && e->hdr.crc_full_ok ? "ok" : "bad")
                                    : "bad");
                if (e->store_ok)
                        csv_field(stdout, e->store.display_name);
                putchar(',');
                csv_field(stdout, e->problem);
                putchar('\n');
        }
}

static void scan_print_table(const struct scan_result *res)
{
        char sz[32];

        printf("%-4s %-9s %-8s %-3s %-3s %10s  %-20s  %s\n", "KIND", "FORMAT", "ENCRYPT", "PW",
               "CRC", "SIZE", "MODIFIED", "PATH");
        for (size_t i = 0; i < res->nfiles; i++) {
                const struct scan_entry *e = &res->files[i];
                char mt[32];

                format_mtime(e->mtime_ns, mt, sizeof(mt));
                printf("%-4s %-9s %-8s %-3s %-3s %10s  %-20s  %s",
                       e->header_ok ? pst_kind_name(e->hdr.kind) : "?",
                       e->header_ok ? pst_format_name(e->hdr.format) : "?",
                       e->header_ok ? pst_crypt_name(e->hdr.crypt) : "?",
                       e->store_ok ? (e->store.has_password ? "yes" : "no") : "?",
                       e->header_ok && e->hdr.crc_partial_ok && e->hdr.crc_full_ok ? "ok" : "BAD",
                       format_bytes(e->size, sz, sizeof(sz)), mt, e->path);
                if (e->store_ok && e->store.display_name[0])
                        printf("  [%s]", e->store.display_name);
                putchar('\n');
                if (e->problem[0])
                        printf("     problem: %s\n", e->problem);
        }
}

static int cmd_scan(int argc, char **argv)
{
        static const struct option opts[] = {
                { "json", no_argument, NULL, 'j' },    { "csv", no_argument, NULL, 'C' },
                { "verbose", no_argument, NULL, 'v' }, { "help", no_argument, NULL, 'h' },
                {},
        };
        enum scan_format fmt = SCAN_TABLE;
        struct scan_opts sopts = { .read_store = true };
        struct scan_result res;
        bool verbose = false;
        size_t not_pst = 0;
        int c, r;

        while ((c = getopt_long(argc, argv, "vh", opts, NULL)) >= 0) {
                switch (c) {
                case 'j':
                        fmt = SCAN_JSON;
                        break;
                case 'C':
                        fmt = SCAN_CSV;
                        break;
                case 'v':
                        verbose = true;
                        break;
                case 'h':
                        fputs(usage_scan, stdout);
                        return 0;
                default:
                        fputs(usage_scan, stderr);
                        return EXIT_USAGE;
                }
        }
        if (optind >= argc) {
                log_error("scan: no ROOT given (see pstream scan --help)");
                return EXIT_USAGE;
        }
        r = scan_roots(argv + optind, (size_t)(argc - optind), &sopts, &res);
        if (r < 0) {
                log_error_errno(r, "scan failed: %m");
                return 3;
        }
        if (fmt == SCAN_JSON)
                scan_print_json(&res);
        else if (fmt == SCAN_CSV)
                scan_print_csv(&res);
        else
                scan_print_table(&res);

        for (size_t i = 0; i < res.nskips; i++) {
                const struct scan_skip *s = &res.skips[i];
                if (s->kind == SCAN_SKIP_NOT_PST) {
                        not_pst++;
                        if (!verbose && !s->named_like_pst)
                                continue;
                }
                if (fmt != SCAN_JSON || s->kind == SCAN_SKIP_ERROR || s->named_like_pst)
                        log_full_errno(s->kind == SCAN_SKIP_ERROR || s->named_like_pst
                                               ? LOG_WARNING
                                               : LOG_NOTICE,
                                       0, "skipped %s: %s", s->path, s->reason);
        }
        if (fmt == SCAN_TABLE)
                printf("%zu PST/OST file%s; %zu other file%s (not PST), %zu skipped entr%s\n",
                       res.nfiles, res.nfiles == 1 ? "" : "s", not_pst, not_pst == 1 ? "" : "s",
                       res.nskips - not_pst, res.nskips - not_pst == 1 ? "y" : "ies");
        r = res.nerrors ? 1 : 0;
        scan_result_done(&res);
        return r;
}

/* ---- ingest --------------------------------------------------------------- */

/* Hide a SAS signature given on the command line from ps and /proc: the
 * kernel shows argv's memory as it is now. */
static void scrub_argv_sig(char *arg)
{
        for (char *p = arg; (p = strcasestr(p, "sig=")); p += 4)
                for (char *q = p + 4; *q && *q != '&'; q++)
                        *q = 'x';
}

static int cmd_ingest(int argc, char **argv)
{
        enum {
                OPT_TO = 0x100,
                OPT_SAS_FILE,
                OPT_KEY_FILE,
                OPT_CA_FILE,
                OPT_PREFIX,
                OPT_MODE,
                OPT_BLOCK_SIZE,
                OPT_PUT_BLOB_MAX,
                OPT_MEMORY,
                OPT_WORKERS,
                OPT_QUEUE_DEPTH,
                OPT_IO,
                OPT_RULES,
                OPT_MAPPING,
                OPT_REPORT,
                OPT_STATE,
                OPT_NO_PROGRESS,
                OPT_KEY,
                OPT_ALL_FILES,
                OPT_CAP,
                OPT_SCHEDULE,
                OPT_METRICS,
        };
        static const struct option opts[] = {
                { "to", required_argument, NULL, OPT_TO },
                { "sas-file", required_argument, NULL, OPT_SAS_FILE },
                { "key-file", required_argument, NULL, OPT_KEY_FILE },
                { "key", required_argument, NULL, OPT_KEY },
                { "ca-file", required_argument, NULL, OPT_CA_FILE },
                { "prefix", required_argument, NULL, OPT_PREFIX },
                { "mode", required_argument, NULL, OPT_MODE },
                { "connections", required_argument, NULL, 'c' },
                { "block-size", required_argument, NULL, OPT_BLOCK_SIZE },
                { "put-blob-max", required_argument, NULL, OPT_PUT_BLOB_MAX },
                { "memory", required_argument, NULL, OPT_MEMORY },
                { "workers", required_argument, NULL, OPT_WORKERS },
                { "queue-depth", required_argument, NULL, OPT_QUEUE_DEPTH },
                { "io", required_argument, NULL, OPT_IO },
                { "mailbox-rules", required_argument, NULL, OPT_RULES },
                { "mapping-csv", required_argument, NULL, OPT_MAPPING },
                { "report", required_argument, NULL, OPT_REPORT },
                { "state", required_argument, NULL, OPT_STATE },
                { "no-progress", no_argument, NULL, OPT_NO_PROGRESS },
                { "all-files", no_argument, NULL, OPT_ALL_FILES },
                { "cap", required_argument, NULL, OPT_CAP },
                { "schedule", required_argument, NULL, OPT_SCHEDULE },
                { "metrics-listen", required_argument, NULL, OPT_METRICS },
                { "verbose", no_argument, NULL, 'v' },
                { "quiet", no_argument, NULL, 'q' },
                { "help", no_argument, NULL, 'h' },
                {},
        };
        struct ingest_cfg cfg = {
                .mode = INGEST_MODE_VERBATIM,
                .io_backend = IO_BACKEND_AUTO,
                .connections = INGEST_DEFAULT_CONNECTIONS,
                .queue_depth = INGEST_DEFAULT_QUEUE_DEPTH,
                .block_size = INGEST_DEFAULT_BLOCK_SIZE,
                .memory = INGEST_DEFAULT_MEMORY,
                .progress = true,
        };
        _cleanup_free_ char *url = NULL, *key = NULL, *sas = NULL;
        const char *key_file = NULL, *sas_file = NULL;
        bool put_blob_max_set = false;
        struct schedule sched;
        char sched_err[512];
        long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
        int c, r;

        /* One hashing thread moves several GB/s (CRC-64 and XXH3 both run at
         * memory speed); more only compete with the reader, the uploader and
         * the kernel's copies on a small staging VM. */
        cfg.workers = ncpu > 4 ? (unsigned)MIN(ncpu / 4, 16) : 1;

        while ((c = getopt_long(argc, argv, "c:vqh", opts, NULL)) >= 0) {
                switch (c) {
                case OPT_TO:
                        free(url);
                        url = strdup(optarg);
                        if (!url)
                                return 3;
                        scrub_argv_sig(optarg);
                        break;
                case OPT_SAS_FILE:
                        sas_file = optarg;
                        break;
                case OPT_KEY_FILE:
                        key_file = optarg;
                        break;
                case OPT_KEY:
                        explicit_bzero(optarg, strlen(optarg));
                        log_error("--key is not accepted: a key on the command line is visible "
                                  "to every user; use --key-file FILE or PSTREAM_ACCOUNT_KEY");
                        return EXIT_USAGE;
                case OPT_CA_FILE:
                        cfg.ca_file = optarg;
                        break;
                case OPT_PREFIX:
                        cfg.prefix = optarg;
                        break;
                case OPT_MODE:
                        if (strcmp(optarg, "verbatim") != 0) {
                                log_error("--mode %s: only 'verbatim' is available", optarg);
                                return EXIT_USAGE;
                        }
                        break;
                case 'c':
                        if (parse_uint(optarg, 1, 256, &cfg.connections) < 0) {
                                log_error("--connections: expected 1..256, got '%s'", optarg);
                                return EXIT_USAGE;
                        }
                        break;
                case OPT_BLOCK_SIZE:
                        if (parse_size(optarg, 64 * KIB, NET_MAX_BLOCK_SIZE, &cfg.block_size) < 0) {
                                log_error("--block-size: expected a size from 64K to 4000M, got "
                                          "'%s'",
                                          optarg);
                                return EXIT_USAGE;
                        }
                        break;
                case OPT_PUT_BLOB_MAX:
                        if (parse_size(optarg, 0, NET_MAX_PUT_BLOB, &cfg.put_blob_max) < 0) {
                                log_error("--put-blob-max: expected a size up to 5000M, got '%s'",
                                          optarg);
                                return EXIT_USAGE;
                        }
                        put_blob_max_set = true;
                        break;
                case OPT_MEMORY:
                        if (parse_size(optarg, 4 * MIB, 1024 * GIB, &cfg.memory) < 0) {
                                log_error("--memory: expected a size of at least 4M, got '%s'",
                                          optarg);
                                return EXIT_USAGE;
                        }
                        break;
                case OPT_WORKERS:
                        if (parse_uint(optarg, 1, 256, &cfg.workers) < 0) {
                                log_error("--workers: expected 1..256, got '%s'", optarg);
                                return EXIT_USAGE;
                        }
                        break;
                case OPT_QUEUE_DEPTH:
                        if (parse_uint(optarg, 1, 4096, &cfg.queue_depth) < 0) {
                                log_error("--queue-depth: expected 1..4096, got '%s'", optarg);
                                return EXIT_USAGE;
                        }
                        break;
                case OPT_IO:
                        if (!strcmp(optarg, "auto"))
                                cfg.io_backend = IO_BACKEND_AUTO;
                        else if (!strcmp(optarg, "uring") || !strcmp(optarg, "io_uring"))
                                cfg.io_backend = IO_BACKEND_URING;
                        else if (!strcmp(optarg, "pread"))
                                cfg.io_backend = IO_BACKEND_PREAD;
                        else {
                                log_error("--io: expected auto, uring or pread, got '%s'", optarg);
                                return EXIT_USAGE;
                        }
                        break;
                case OPT_RULES:
                        cfg.rules_file = optarg;
                        break;
                case OPT_MAPPING:
                        cfg.mapping_csv = optarg;
                        break;
                case OPT_REPORT:
                        cfg.report_file = optarg;
                        break;
                case OPT_STATE:
                        cfg.state_dir = optarg;
                        break;
                case OPT_NO_PROGRESS:
                        cfg.progress = false;
                        break;
                case OPT_ALL_FILES:
                        cfg.all_files = true;
                        break;
                case OPT_CAP:
                        if (sched_parse_rate(optarg, &cfg.cap) < 0) {
                                log_error("--cap: expected a rate like 20MB/s, 512KB/s, 50Mbit, "
                                          "1.5Gbit or unlimited, got '%s'",
                                          optarg);
                                return EXIT_USAGE;
                        }
                        break;
                case OPT_SCHEDULE:
                        if (sched_parse(optarg, &sched, sched_err, sizeof(sched_err)) < 0) {
                                log_error("--schedule: %s", sched_err);
                                return EXIT_USAGE;
                        }
                        cfg.schedule = &sched;
                        break;
                case OPT_METRICS:
                        cfg.metrics_listen = optarg;
                        break;
                case 'v':
                        log_set_max_level(LOG_DEBUG);
                        break;
                case 'q':
                        log_set_max_level(LOG_ERR);
                        break;
                case 'h':
                        fputs(usage_ingest, stdout);
                        return 0;
                default:
                        fputs(usage_ingest, stderr);
                        return EXIT_USAGE;
                }
        }
        if (optind >= argc) {
                log_error("ingest: no SRC given (see pstream ingest --help)");
                return EXIT_USAGE;
        }
        if (!url) {
                log_error("ingest: --to URL is required (see pstream ingest --help)");
                return EXIT_USAGE;
        }
        if (sas_file) {
                r = read_secret_file(sas_file, &sas);
                if (r < 0) {
                        log_error_errno(r, "--sas-file %s: cannot read a token: %m", sas_file);
                        return EXIT_USAGE;
                }
                if (strchr(url, '?')) {
                        log_error("--sas-file given, but the URL has a query string already");
                        return EXIT_USAGE;
                }
                char *full;
                if (asprintf(&full, "%s?%s", url, sas) < 0)
                        return 3;
                free(url);
                url = full;
        }
        if (key_file) {
                r = read_secret_file(key_file, &key);
                if (r < 0) {
                        log_error_errno(r, "--key-file %s: cannot read a key: %m", key_file);
                        return EXIT_USAGE;
                }
        } else {
                const char *env = getenv("PSTREAM_ACCOUNT_KEY");
                if (env && *env) {
                        key = strdup(env);
                        if (!key)
                                return 3;
                }
        }
        if (!put_blob_max_set)
                cfg.put_blob_max = cfg.block_size;
        /* --cap is the rate outside every rule: the schedule's last rule. */
        if (cfg.schedule && cfg.cap && sched_add_default(&sched, cfg.cap) < 0) {
                log_error("--schedule: at most %d rules with --cap", SCHED_MAX_RULES - 1);
                return EXIT_USAGE;
        }
        if (cfg.memory < cfg.block_size || cfg.memory < cfg.put_blob_max) {
                log_error("--memory %" PRIu64 "M must hold at least one block (%" PRIu64
                          "M) and one Put Blob (%" PRIu64 "M)",
                          cfg.memory >> 20, cfg.block_size >> 20, cfg.put_blob_max >> 20);
                return EXIT_USAGE;
        }
        if (cfg.state_dir && mkdir(cfg.state_dir, 0700) < 0 && errno != EEXIST) {
                log_error("--state %s: cannot create: %m", cfg.state_dir);
                return EXIT_USAGE;
        }

        cfg.sources = argv + optind;
        cfg.nsources = (unsigned)(argc - optind);
        cfg.url = url;
        cfg.account_key = key;
        r = ingest_run(&cfg);
        if (key)
                explicit_bzero(key, strlen(key));
        if (url)
                explicit_bzero(url, strlen(url));
        return r;
}

static const char usage_control[] =
        "Usage: pstream status [--json] [--state DIR]\n"
        "       pstream pause [--state DIR]\n"
        "       pstream resume [--state DIR]\n"
        "       pstream cap RATE|schedule [--state DIR]\n"
        "\n"
        "Talk to a running `pstream ingest --state DIR` or `pstream daemon` through the\n"
        "control socket DIR/control.sock (default DIR: /var/lib/pstream, the daemon's).\n"
        "status: files and bytes done, rate, ETA, the cap in force and its next change,\n"
        "requests and retries, files uploading and failed. pause: no new request starts,\n"
        "those in flight finish. cap RATE: a cap (20MB/s, 50Mbit, unlimited) that wins over\n"
        "the schedule until `cap schedule`.\n"
        "\n"
        "Exit status: 0, 2 usage error, 3 nothing answers at DIR.\n";

static int cmd_control(int argc, char **argv)
{
        static const struct option opts[] = {
                { "json", no_argument, NULL, 'j' },
                { "state", required_argument, NULL, 'S' },
                { "help", no_argument, NULL, 'h' },
                {},
        };
        const char *dir = "/var/lib/pstream", *verb = argv[0];
        bool json = false;
        char line[CONTROL_MAX_LINE];
        int c, r;

        while ((c = getopt_long(argc, argv, "h", opts, NULL)) >= 0) {
                switch (c) {
                case 'j':
                        json = true;
                        break;
                case 'S':
                        dir = optarg;
                        break;
                case 'h':
                        fputs(usage_control, stdout);
                        return 0;
                default:
                        fputs(usage_control, stderr);
                        return EXIT_USAGE;
                }
        }
        if (!strcmp(verb, "cap")) {
                if (optind + 1 != argc) {
                        log_error("cap: expected one RATE or 'schedule' (see pstream cap --help)");
                        return EXIT_USAGE;
                }
                snprintf(line, sizeof(line), "cap %s", argv[optind]);
        } else if (optind != argc || (json && strcmp(verb, "status"))) {
                fputs(usage_control, stderr);
                return EXIT_USAGE;
        } else {
                snprintf(line, sizeof(line), "%s%s", verb, json ? " json" : "");
        }
        r = control_request(dir, line, stdout);
        if (r < 0) {
                log_error_errno(r, "%s/%s: nothing answers (%m); is pstream running with --state "
                                   "%s?",
                                dir, CONTROL_SOCKET_NAME, dir);
                return 3;
        }
        return 0;
}

int main(int argc, char **argv)
{
        const char *cmd;

        if (argc < 2) {
                fputs(usage_main, stderr);
                return EXIT_USAGE;
        }
        cmd = argv[1];
        if (!strcmp(cmd, "--version") || !strcmp(cmd, "version"))
                return cmd_version();
        if (!strcmp(cmd, "-h") || !strcmp(cmd, "--help") || !strcmp(cmd, "help")) {
                fputs(usage_main, stdout);
                return 0;
        }
        /* Subcommands parse their own options: argv from the command on. */
        if (!strcmp(cmd, "scan"))
                return cmd_scan(argc - 1, argv + 1);
        if (!strcmp(cmd, "ingest"))
                return cmd_ingest(argc - 1, argv + 1);
        if (!strcmp(cmd, "status") || !strcmp(cmd, "pause") || !strcmp(cmd, "resume") ||
            !strcmp(cmd, "cap"))
                return cmd_control(argc - 1, argv + 1);
        if (!strcmp(cmd, "daemon"))
                return service_main(argc - 1, argv + 1);
        if (!strcmp(cmd, "inspect"))
                return cmd_inspect(argc - 1, argv + 1);
        if (!strcmp(cmd, "export"))
                return cmd_export(argc - 1, argv + 1);

        log_error("unknown command '%s' (see pstream --help)", cmd);
        return EXIT_USAGE;
}
