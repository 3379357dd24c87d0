/* SPDX-License-Identifier: MIT
 *
 * service.c - `pstream daemon -c FILE`: the ingest job as a service.  Runs a
 * pass over the sources (discover, upload what the journal has not seen
 * committed), waits rescan_interval, and again, until SIGTERM.  Talks to
 * systemd (READY, STATUS, WATCHDOG, STOPPING) when it runs under it.
 *
 * SIGHUP reloads the configuration file: the cap, the schedule, the log
 * level and the rescan interval change at once (transfers in flight go on
 * at the new pace), everything else from the next pass, which starts at
 * once; state_dir and the metrics listener need a restart.  An invalid file
 * changes nothing.  The control socket and the metrics endpoint live as
 * long as the daemon, served from the uploader loop during a pass and from
 * the wait between passes.
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
#include "control.h"
#include "ingest.h"
#include "io/base/macro.h"
#include "log.h"
#include "options.h"
#include "schedule.h"
#include "service.h"

static const char usage[] =
        "Usage: pstream daemon -c FILE [--dump-config] [--once] [--metrics-listen HOST:PORT]\n"
        "\n"
        "Run the ingest job as a service, configured by FILE (see conf/pstream.conf, which\n"
        "documents every option): a pass over the sources uploads every PST/OST that the\n"
        "journal in state_dir does not know as committed, then the daemon waits\n"
        "rescan_interval and passes again, until SIGTERM or SIGINT. Under systemd\n"
        "(conf/pstream.service) it reports readiness, status and watchdog pings.\n"
        "SIGHUP reloads FILE and starts a pass: cap, schedule, log_level and\n"
        "rescan_interval apply at once, the other options from that pass on; state_dir\n"
        "and the metrics listener need a restart. An invalid FILE changes nothing.\n"
        "\n"
        "Options:\n"
        "  -c, --config FILE        the configuration file (required)\n"
        "      --dump-config        print the effective configuration and exit\n"
        "      --once               one pass, then exit with its status\n"
        "      --metrics-listen HOST:PORT\n"
        "                           serve Prometheus metrics there (wins over the file's\n"
        "                           metrics_listen; loopback only unless metrics_allow_remote)\n"
        "  -h, --help               this help\n"
        "\n"
        "Exit status: 0 stopped by a signal or --once pass clean; 1 --once pass with\n"
        "failed or skipped files; 2 configuration error; 3 fatal runtime error.\n";

static volatile sig_atomic_t reload_wanted;

static void on_sighup(int sig)
{
        (void)sig;
        reload_wanted = 1;
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

/* Everything a pass is built from: the configuration and what was derived
 * from it (credentials read, cap and schedule parsed).  The daemon holds
 * the running one, and a reloaded one waiting for the next pass. */
struct run {
        struct daemon_cfg c;
        char *sas, *key, *url;
        uint64_t cap;
        struct schedule sched;
        bool has_sched;
};

static void run_done(struct run *r)
{
        if (r->key)
                explicit_bzero(r->key, strlen(r->key));
        if (r->sas)
                explicit_bzero(r->sas, strlen(r->sas));
        if (r->url)
                explicit_bzero(r->url, strlen(r->url));
        free(r->key);
        free(r->sas);
        free(r->url);
        cfg_done(&r->c);
        memset(r, 0, sizeof(*r));
}

/* Load and check path into r; errors go to err (never a secret). */
static int run_load(struct run *r, const char *path, char *err, size_t errlen)
{
        char e[512];
        int k;

        memset(r, 0, sizeof(*r));
        cfg_defaults(&r->c);
        if (cfg_load(&r->c, path, e, sizeof(e)) < 0) {
                snprintf(err, errlen, "%s", e);
                return -EINVAL;
        }
        if (cfg_validate(&r->c, e, sizeof(e)) < 0) {
                snprintf(err, errlen, "%s: %s", path, e);
                return -EINVAL;
        }
        if (sched_parse_rate(r->c.cap, &r->cap) < 0) {
                snprintf(err, errlen, "%s: [transfer] cap: '%s' is not a rate like 20MB/s, 50Mbit or "
                         "unlimited", path, r->c.cap);
                return -EINVAL;
        }
        if (r->c.schedule) {
                if (sched_parse(r->c.schedule, &r->sched, e, sizeof(e)) < 0) {
                        snprintf(err, errlen, "%s: [transfer] schedule: %s", path, e);
                        return -EINVAL;
                }
                if (r->cap && sched_add_default(&r->sched, r->cap) < 0) {
                        snprintf(err, errlen, "%s: [transfer] schedule: at most %d rules with a cap",
                                 path, SCHED_MAX_RULES - 1);
                        return -EINVAL;
                }
                r->has_sched = true;
        }
        if (r->c.sas_file && (k = read_secret_file(r->c.sas_file, &r->sas)) < 0) {
                snprintf(err, errlen, "%s: sas_file %s: cannot read a token: %s", path,
                         r->c.sas_file, strerror(-k));
                return k;
        }
        if (r->c.key_file && (k = read_secret_file(r->c.key_file, &r->key)) < 0) {
                snprintf(err, errlen, "%s: key_file %s: cannot read a key: %s", path, r->c.key_file,
                         strerror(-k));
                return k;
        }
        if (asprintf(&r->url, "%s%s%s", r->c.url, r->sas ? "?" : "", r->sas ? r->sas : "") < 0) {
                r->url = NULL;
                snprintf(err, errlen, "out of memory");
                return -ENOMEM;
        }
        return 0;
}

static void apply_log_level(const char *level)
{
        static const char *const levels[] = { "err", "warning", "notice", "info", "debug" };

        for (int i = 0; i < 5; i++)
                if (!strcmp(level, levels[i]))
                        log_set_max_level(LOG_ERR + i);
}

static void make_icfg(const struct run *r, struct ingest_cfg *icfg, struct ingest_shared *sh)
{
        const struct daemon_cfg *c = &r->c;

        *icfg = (struct ingest_cfg){
                .sources = c->paths,
                .nsources = c->npaths,
                .url = r->url,
                .account_key = r->key,
                .ca_file = c->ca_file,
                .prefix = c->prefix,
                .state_dir = c->state_dir,
                .mapping_csv = c->mapping_csv,
                .rules_file = c->mailbox_rules,
                .report_file = c->report,
                .mode = INGEST_MODE_VERBATIM,
                .io_backend = !strcmp(c->io, "uring")   ? IO_BACKEND_URING
                              : !strcmp(c->io, "pread") ? IO_BACKEND_PREAD
                                                        : IO_BACKEND_AUTO,
                .connections = c->connections,
                .workers = c->workers,
                .queue_depth = c->queue_depth,
                .block_size = c->block_size,
                .put_blob_max = MIN(c->put_blob_max, c->block_size),
                .memory = c->memory,
                .progress = false,
                .cap = r->cap,
                .schedule = r->has_sched ? &r->sched : NULL,
                .shared = sh,
        };
}

struct service {
        const char *path;
        struct run runs[2];
        struct run *cur;      /* what the pass in flight (or the next) is built from */
        struct run *next;     /* reloaded, for the next pass; NULL when none */
        struct ingest_shared sh;
        bool pass_running;
        uint64_t ping_ms, last_ping_ms;
};

/* *dst becomes a copy of src (the running value kept over a reload). */
static int keep_str(char **dst, const char *src)
{
        char *copy = src ? strdup(src) : NULL;

        if (src && !copy)
                return -ENOMEM;
        free(*dst);
        *dst = copy;
        return 0;
}

/* SIGHUP: read the file again.  What can change live changes now; the rest
 * waits for the next pass; what needs a restart is reported and kept. */
static void reload(struct service *s)
{
        struct run *spare = s->next ? s->next : (s->cur == &s->runs[0] ? &s->runs[1] : &s->runs[0]);
        struct run n;
        char err[1024], live[512], pass[1024], restart[256];

        reload_wanted = 0;
        if (run_load(&n, s->path, err, sizeof(err)) < 0) {
                log_error("reload: %s; keeping the running configuration", err);
                run_done(&n);
                return;
        }
        cfg_changes(&s->cur->c, &n.c, CFG_APPLY_NOW, live, sizeof(live));
        cfg_changes(&s->cur->c, &n.c, CFG_APPLY_PASS, pass, sizeof(pass));
        cfg_changes(&s->cur->c, &n.c, CFG_APPLY_RESTART, restart, sizeof(restart));
        if (restart[0]) {
                /* Keep them as they are: the journal and the sockets are open. */
                log_warning("reload: %s changed: that takes a restart of the daemon; keeping "
                            "the running values",
                            restart);
                if (keep_str(&n.c.state_dir, s->cur->c.state_dir) < 0 ||
                    keep_str(&n.c.metrics_listen, s->cur->c.metrics_listen) < 0 ||
                    keep_str(&n.c.metrics_allow_remote, s->cur->c.metrics_allow_remote) < 0) {
                        log_error("reload: out of memory; keeping the running configuration");
                        run_done(&n);
                        return;
                }
        }
        if (s->next)
                run_done(s->next);
        *spare = n;
        s->next = spare;

        /* Live: the pass in flight reads these from sh within a second. */
        apply_log_level(spare->c.log_level);
        s->sh.cap = spare->cap;
        s->sh.schedule = spare->has_sched ? &spare->sched : NULL;
        if (s->sh.cap_overridden && live[0]) {
                s->sh.cap_overridden = false;
                log_notice("reload: the configuration's cap replaces the one set by pstream cap");
        }
        log_notice("reload: %s read; now: %s; from the next pass: %s", s->path,
                   live[0] ? live : "nothing changed", pass[0] ? pass : "nothing changed");
}

/* Between passes, the reloaded configuration (if any) becomes the running one. */
static void take_next(struct service *s)
{
        if (!s->next)
                return;
        run_done(s->cur);
        s->cur = s->next;
        s->next = NULL;
}

static uint64_t now_ms(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Called by the ingest job's uploader loop a few times a second: proof of
 * life for systemd's watchdog, at the interval it asked for, and a reload
 * asked by SIGHUP. */
static void tick(void *ctx)
{
        struct service *s = ctx;

        if (s->ping_ms) {
                uint64_t now = now_ms();
                if (now - s->last_ping_ms >= s->ping_ms) {
                        notify("WATCHDOG=1");
                        s->last_ping_ms = now;
                }
        }
        if (reload_wanted)
                reload(s);
}

static void on_idle_control(void *ctx, const char *cmd, FILE *out)
{
        struct service *s = ctx;

        ingest_control_idle(&s->sh, cmd, out);
}

/* Wait up to seconds for a stop signal or SIGHUP (a reload, then a pass
 * now), serving the control socket and pinging the watchdog meanwhile.
 * Returns the signal, or 0 when the time is up. */
static int wait_between_passes(struct service *s, unsigned pass, int rc)
{
        sigset_t set;
        uint64_t start = now_ms();

        sigemptyset(&set);
        sigaddset(&set, SIGTERM);
        sigaddset(&set, SIGINT);
        sigaddset(&set, SIGHUP);
        for (;;) {
                /* A reload may change the interval: measure it afresh. */
                uint64_t interval_ms = s->cur->c.rescan_interval_s * 1000;
                uint64_t waited = now_ms() - start;
                if (waited >= interval_ms)
                        return 0;
                snprintf(s->sh.idle_status, sizeof(s->sh.idle_status),
                         "pass %u ended with status %d; next pass in %" PRIu64 " s", pass, rc,
                         (interval_ms - waited + 999) / 1000);
                control_poll(s->sh.control, on_idle_control, s);
                struct timespec left = { .tv_sec = 0, .tv_nsec = 200 * 1000000L };
                int sig = sigtimedwait(&set, NULL, &left);
                if (sig > 0)
                        return sig;
                if (s->ping_ms && now_ms() - s->last_ping_ms >= s->ping_ms) {
                        notify("WATCHDOG=1");
                        s->last_ping_ms = now_ms();
                }
        }
}

int service_main(int argc, char **argv)
{
        static const struct option opts[] = {
                { "config", required_argument, NULL, 'c' },
                { "dump-config", no_argument, NULL, 'D' },
                { "once", no_argument, NULL, 'O' },
                { "metrics-listen", required_argument, NULL, 'M' },
                { "help", no_argument, NULL, 'h' },
                {},
        };
        static struct service s;
        const char *metrics_flag = NULL;
        bool dump = false, once = false;
        char err[1024];
        int opt, r, rc = 2;

        while ((opt = getopt_long(argc, argv, "c:h", opts, NULL)) >= 0) {
                switch (opt) {
                case 'c':
                        s.path = optarg;
                        break;
                case 'D':
                        dump = true;
                        break;
                case 'O':
                        once = true;
                        break;
                case 'M':
                        metrics_flag = optarg;
                        break;
                case 'h':
                        fputs(usage, stdout);
                        return 0;
                default:
                        fputs(usage, stderr);
                        return 2;
                }
        }
        if (!s.path || optind != argc) {
                log_error("daemon: -c FILE is required, and nothing else (see pstream daemon --help)");
                return 2;
        }
        s.cur = &s.runs[0];
        if (dump) {
                cfg_defaults(&s.cur->c);
                r = cfg_load(&s.cur->c, s.path, err, sizeof(err));
                if (r < 0) {
                        log_error("%s", err);
                } else {
                        cfg_dump(&s.cur->c, stdout);
                        rc = 0;
                }
                goto out;
        }
        if (run_load(s.cur, s.path, err, sizeof(err)) < 0) {
                log_error("%s", err);
                goto out;
        }
        if (metrics_flag) {
                free(s.cur->c.metrics_listen);
                s.cur->c.metrics_listen = strdup(metrics_flag);
                if (!s.cur->c.metrics_listen) {
                        rc = 3;
                        goto out;
                }
        }
        apply_log_level(s.cur->c.log_level);
        if (mkdir(s.cur->c.state_dir, 0700) < 0 && errno != EEXIST) {
                log_error("%s: state_dir %s: cannot create: %m", s.path, s.cur->c.state_dir);
                goto out;
        }
        r = control_open(s.cur->c.state_dir, &s.sh.control);
        if (r < 0) {
                log_error_errno(r, "%s: state_dir %s: cannot open the control socket: %m", s.path,
                                s.cur->c.state_dir);
                goto out;
        }
        if (s.cur->c.metrics_listen) {
                r = control_listen_http(s.sh.control, s.cur->c.metrics_listen,
                                        !strcmp(s.cur->c.metrics_allow_remote, "yes"), err,
                                        sizeof(err));
                if (r < 0) {
                        log_error("%s: %s", s.path, err);
                        goto out;
                }
                log_info("metrics at http://%s/metrics", s.cur->c.metrics_listen);
        }
        s.sh.cap = s.cur->cap;
        s.sh.schedule = s.cur->has_sched ? &s.cur->sched : NULL;

        /* SIGHUP asks for a reload: during a pass it must not end the
         * process (the handler only sets a flag the uploader loop sees). */
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

        s.ping_ms = watchdog_ping_ms();
        log_info("daemon started: %u source%s, rescan every %" PRIu64 " s, state in %s",
                 s.cur->c.npaths, s.cur->c.npaths == 1 ? "" : "s", s.cur->c.rescan_interval_s,
                 s.cur->c.state_dir);
        notify("READY=1\nSTATUS=first pass");
        for (unsigned pass = 1;; pass++) {
                struct ingest_cfg icfg;

                take_next(&s);
                make_icfg(s.cur, &icfg, &s.sh);
                icfg.tick = tick;
                icfg.tick_ctx = &s;
                notify("STATUS=pass %u: uploading", pass);
                rc = ingest_run(&icfg);
                if (once || ingest_interrupted()) {
                        if (!once)
                                rc = 0;
                        break;
                }
                if (rc == 2 && !s.next) /* the configuration can't work: passes won't fix it */
                        break;
                notify("STATUS=pass %u ended with status %d; next pass in %" PRIu64 " s", pass, rc,
                       s.cur->c.rescan_interval_s);
                int sig = 0;
                /* A reload during the pass starts the next one at once. */
                if (!reload_wanted && !s.next) {
                        sigprocmask(SIG_BLOCK, &set, NULL);
                        sig = wait_between_passes(&s, pass, rc);
                        sigprocmask(SIG_UNBLOCK, &set, NULL);
                }
                if (sig == SIGTERM || sig == SIGINT) {
                        log_info("stopping on %s", sig == SIGTERM ? "SIGTERM" : "SIGINT");
                        rc = 0;
                        break;
                }
                if (sig == SIGHUP || reload_wanted) {
                        log_info("SIGHUP: reloading %s and passing over the sources now", s.path);
                        reload(&s);
                }
        }
        notify("STOPPING=1");
out:
        s.sh.control = control_close(s.sh.control);
        run_done(&s.runs[0]);
        run_done(&s.runs[1]);
        return rc;
}
