/* SPDX-License-Identifier: MIT
 *
 * service.c - `pstream daemon -c FILE`: the ingest job as a service.  Runs a
 * pass over the sources (discover, upload what the journal has not seen
 * committed), waits rescan_interval, and again, until SIGTERM.  Talks to
 * systemd (READY, STATUS, WATCHDOG, STOPPING) when it runs under it.
 */
#include <errno.h>
#include <stdarg.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#if HAVE_LIBSYSTEMD
#include <systemd/sd-daemon.h>
#endif

#include "cfg.h"
#include "ingest.h"
#include "io/base/macro.h"
#include "log.h"
#include "options.h"
#include "schedule.h"
#include "service.h"

static const char usage[] =
        "Usage: pstream daemon -c FILE [--dump-config] [--once]\n"
        "\n"
        "Run the ingest job as a service, configured by FILE (see conf/pstream.conf, which\n"
        "documents every option): a pass over the sources uploads every PST/OST that the\n"
        "journal in state_dir does not know as committed, then the daemon waits\n"
        "rescan_interval and passes again, until SIGTERM or SIGINT. Under systemd\n"
        "(conf/pstream.service) it reports readiness, status and watchdog pings.\n"
        "\n"
        "Options:\n"
        "  -c, --config FILE        the configuration file (required)\n"
        "      --dump-config        print the effective configuration and exit\n"
        "      --once               one pass, then exit with its status\n"
        "  -h, --help               this help\n"
        "\n"
        "Exit status: 0 stopped by a signal or --once pass clean; 1 --once pass with\n"
        "failed or skipped files; 2 configuration error; 3 fatal runtime error.\n";

static void on_sighup(int sig)
{
        (void)sig;
}

static void notify(const char *fmt, ...) _printf_(1, 2);
static void notify(const char *fmt, ...)
{
#if HAVE_LIBSYSTEMD
        char buf[512];
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(buf, sizeof(buf), fmt, ap);
        va_end(ap);
        (void)sd_notify(0, buf);
#else
        (void)fmt;
#endif
}

/* Half the watchdog interval systemd asked for, in ms; 0 without one. */
static uint64_t watchdog_ping_ms(void)
{
#if HAVE_LIBSYSTEMD
        uint64_t usec = 0;

        if (sd_watchdog_enabled(0, &usec) > 0)
                return usec / 2000;
#endif
        return 0;
}

/* Called by the ingest job's uploader loop a few times a second: proof of
 * life for systemd's watchdog, at the interval it asked for. */
static void tick_watchdog(void *ctx)
{
        uint64_t *last_ms = ctx;
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        uint64_t now = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
        if (now - *last_ms >= watchdog_ping_ms()) {
                notify("WATCHDOG=1");
                *last_ms = now;
        }
}

/* Wait up to seconds for a stop signal (SIGTERM, SIGINT; SIGHUP is taken
 * as "pass now"), pinging the watchdog meanwhile.  Returns the signal, or 0
 * when the time is up. */
static int wait_between_passes(uint64_t seconds, uint64_t ping_ms)
{
        sigset_t set;
        struct timespec end;

        sigemptyset(&set);
        sigaddset(&set, SIGTERM);
        sigaddset(&set, SIGINT);
        sigaddset(&set, SIGHUP);
        clock_gettime(CLOCK_MONOTONIC, &end);
        end.tv_sec += (time_t)seconds;
        for (;;) {
                struct timespec now, left;
                clock_gettime(CLOCK_MONOTONIC, &now);
                int64_t ms = (int64_t)(end.tv_sec - now.tv_sec) * 1000 +
                             (end.tv_nsec - now.tv_nsec) / 1000000;
                if (ms <= 0)
                        return 0;
                if (ping_ms && (uint64_t)ms > ping_ms)
                        ms = (int64_t)ping_ms;
                left.tv_sec = ms / 1000;
                left.tv_nsec = (ms % 1000) * 1000000;
                int sig = sigtimedwait(&set, NULL, &left);
                if (sig > 0)
                        return sig;
                if (ping_ms)
                        notify("WATCHDOG=1");
        }
}

int service_main(int argc, char **argv)
{
        static const struct option opts[] = {
                { "config", required_argument, NULL, 'c' },
                { "dump-config", no_argument, NULL, 'D' },
                { "once", no_argument, NULL, 'O' },
                { "help", no_argument, NULL, 'h' },
                {},
        };
        struct daemon_cfg c;
        const char *path = NULL;
        bool dump = false, once = false;
        char err[1024];
        char *sas = NULL, *key = NULL, *url = NULL;
        int opt, r, rc = 2;

        while ((opt = getopt_long(argc, argv, "c:h", opts, NULL)) >= 0) {
                switch (opt) {
                case 'c':
                        path = optarg;
                        break;
                case 'D':
                        dump = true;
                        break;
                case 'O':
                        once = true;
                        break;
                case 'h':
                        fputs(usage, stdout);
                        return 0;
                default:
                        fputs(usage, stderr);
                        return 2;
                }
        }
        if (!path || optind != argc) {
                log_error("daemon: -c FILE is required, and nothing else (see pstream daemon --help)");
                return 2;
        }

        cfg_defaults(&c);
        r = cfg_load(&c, path, err, sizeof(err));
        if (r < 0) {
                log_error("%s", err);
                goto out;
        }
        if (dump) {
                cfg_dump(&c, stdout);
                rc = 0;
                goto out;
        }
        if (cfg_validate(&c, err, sizeof(err)) < 0) {
                log_error("%s: %s", path, err);
                goto out;
        }
        static const char *const levels[] = { "err", "warning", "notice", "info", "debug" };
        for (int i = 0; i < 5; i++)
                if (!strcmp(c.log_level, levels[i]))
                        log_set_max_level(LOG_ERR + i);

        if (c.sas_file && (r = read_secret_file(c.sas_file, &sas)) < 0) {
                log_error_errno(r, "%s: sas_file %s: cannot read a token: %m", path, c.sas_file);
                goto out;
        }
        if (c.key_file && (r = read_secret_file(c.key_file, &key)) < 0) {
                log_error_errno(r, "%s: key_file %s: cannot read a key: %m", path, c.key_file);
                goto out;
        }
        if (asprintf(&url, "%s%s%s", c.url, sas ? "?" : "", sas ? sas : "") < 0) {
                rc = 3;
                goto out;
        }
        if (mkdir(c.state_dir, 0700) < 0 && errno != EEXIST) {
                log_error("%s: state_dir %s: cannot create: %m", path, c.state_dir);
                goto out;
        }

        struct ingest_cfg icfg = {
                .sources = c.paths,
                .nsources = c.npaths,
                .url = url,
                .account_key = key,
                .ca_file = c.ca_file,
                .prefix = c.prefix,
                .state_dir = c.state_dir,
                .mapping_csv = c.mapping_csv,
                .rules_file = c.mailbox_rules,
                .report_file = c.report,
                .mode = INGEST_MODE_VERBATIM,
                .io_backend = !strcmp(c.io, "uring")   ? IO_BACKEND_URING
                              : !strcmp(c.io, "pread") ? IO_BACKEND_PREAD
                                                       : IO_BACKEND_AUTO,
                .connections = c.connections,
                .workers = c.workers,
                .queue_depth = c.queue_depth,
                .block_size = c.block_size,
                .put_blob_max = MIN(c.put_blob_max, c.block_size),
                .memory = c.memory,
                .progress = false,
        };
        static struct schedule sched;
        if (sched_parse_rate(c.cap, &icfg.cap) < 0) {
                log_error("%s: [transfer] cap: '%s' is not a rate like 20MB/s, 50Mbit or "
                          "unlimited", path, c.cap);
                goto out;
        }
        if (c.schedule) {
                if (sched_parse(c.schedule, &sched, err, sizeof(err)) < 0) {
                        log_error("%s: [transfer] schedule: %s", path, err);
                        goto out;
                }
                if (icfg.cap && sched_add_default(&sched, icfg.cap) < 0) {
                        log_error("%s: [transfer] schedule: at most %d rules with a cap", path,
                                  SCHED_MAX_RULES - 1);
                        goto out;
                }
                icfg.schedule = &sched;
        }
        /* SIGHUP means "pass now": between passes it ends the wait, during a
         * pass it must not end the process. */
        struct sigaction hup = { .sa_handler = on_sighup };
        sigemptyset(&hup.sa_mask);
        sigaction(SIGHUP, &hup, NULL);

        /* Signals are taken synchronously between passes; during a pass the
         * ingest job's own handlers see them. */
        sigset_t set;
        sigemptyset(&set);
        sigaddset(&set, SIGTERM);
        sigaddset(&set, SIGINT);
        sigaddset(&set, SIGHUP);

        uint64_t ping_ms = watchdog_ping_ms(), last_ping_ms = 0;
        log_info("daemon started: %u source%s, rescan every %" PRIu64 " s, state in %s",
                 c.npaths, c.npaths == 1 ? "" : "s", c.rescan_interval_s, c.state_dir);
        notify("READY=1\nSTATUS=first pass");
        for (unsigned pass = 1;; pass++) {
                notify("STATUS=pass %u: uploading", pass);
                icfg.tick = ping_ms ? tick_watchdog : NULL;
                icfg.tick_ctx = &last_ping_ms;
                rc = ingest_run(&icfg);
                if (once || ingest_interrupted()) {
                        if (!once)
                                rc = 0;
                        break;
                }
                if (rc == 2) /* the configuration can't work: passes won't fix it */
                        break;
                notify("STATUS=pass %u ended with status %d; next pass in %" PRIu64 " s", pass, rc,
                       c.rescan_interval_s);
                sigprocmask(SIG_BLOCK, &set, NULL);
                int sig = wait_between_passes(c.rescan_interval_s, ping_ms);
                sigprocmask(SIG_UNBLOCK, &set, NULL);
                if (sig == SIGTERM || sig == SIGINT) {
                        log_info("stopping on %s", sig == SIGTERM ? "SIGTERM" : "SIGINT");
                        rc = 0;
                        break;
                }
                if (sig == SIGHUP)
                        log_info("SIGHUP: passing over the sources now");
        }
        notify("STOPPING=1");
out:
        if (key)
                explicit_bzero(key, strlen(key));
        if (sas)
                explicit_bzero(sas, strlen(sas));
        if (url)
                explicit_bzero(url, strlen(url));
        free(key);
        free(sas);
        free(url);
        cfg_done(&c);
        return rc;
}
