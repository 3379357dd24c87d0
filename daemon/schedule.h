/* SPDX-License-Identifier: MIT
 *
 * schedule.h - the bandwidth cap: rates (`--cap`) and the weekly schedule
 * (`--schedule`) that picks one by local time.
 *
 * Rates are bytes or bits per second with decimal prefixes, as AzCopy's
 * --cap-mbps counts: "20MB/s" = 20,000,000 bytes/s, "50Mbit" (or "50Mbit/s",
 * "50Mbps") = 50,000,000 bits/s = 6,250,000 bytes/s; "KiB/s", "MiB/s" and
 * "GiB/s" are the binary byte units.  "unlimited" (or "none", "0") is no
 * cap, stored as 0.
 *
 * A schedule is "RULE; RULE; ..." with RULE one of
 *      DAYS HH:MM-HH:MM = RATE     DAYS = RATE     * = RATE
 * DAYS is "*" or a comma list of days and day ranges: "Mon-Fri", "Sat,Sun",
 * "Fri-Mon".  A time range is [start, end) in local wall-clock time; "24:00"
 * ends a day, and an end before the start runs past midnight into the next
 * day.  The first matching rule wins; when none matches there is no cap.
 * Local time comes from localtime_r(), so a rule follows the wall clock
 * across DST changes: on the spring-forward day "02:30" begins at 03:00,
 * and on the fall-back day a rule covering part of the repeated hour
 * applies both times that part comes round.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define SCHED_MAX_RULES 32

struct sched_rule {
        uint8_t days;      /* bit d: weekday d (0 = Sunday) */
        uint16_t start;    /* minutes after local midnight */
        uint16_t end;      /* 1..1440; below start = runs past midnight */
        uint64_t rate;     /* bytes/s, 0 = unlimited */
};

struct schedule {
        unsigned n;
        struct sched_rule rule[SCHED_MAX_RULES];
};

/* Parse a rate into bytes/s (0 = unlimited).  -EINVAL on syntax, -ERANGE
 * for a rate below 1 byte/s or above 100 GB/s. */
int sched_parse_rate(const char *s, uint64_t *ret);

/* "unlimited", "20 MB/s", "6.25 MB/s" (decimal, as parsed); returns buf. */
const char *sched_format_rate(uint64_t rate, char *buf, size_t len);

/* Parse a schedule.  On error returns -EINVAL and writes a message naming
 * the rule (number and text) into err. */
int sched_parse(const char *s, struct schedule *ret, char *err, size_t errlen);

/* The rate in force at now (local time): the first matching rule's, 0
 * (unlimited) when none matches. */
uint64_t sched_rate_at(const struct schedule *s, time_t now);

/* The first time after now at which the rate changes (*ret_rate, when not
 * NULL, gets the new rate), looking a week and a day ahead; -1 when the
 * rate never changes. */
time_t sched_next_change(const struct schedule *s, time_t now, uint64_t *ret_rate);

/* Make rate the cap outside every rule of s (an all-week rule at the end).
 * -E2BIG when s has no room for it. */
int sched_add_default(struct schedule *s, uint64_t rate);
