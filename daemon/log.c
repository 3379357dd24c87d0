/* SPDX-License-Identifier: MIT
 *
 * log.c - stderr logging with journald priority prefixes.
 */
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

static atomic_int max_level = LOG_INFO;
static atomic_bool progress_active;
static int prefix_mode = -1; /* -1 unknown, 0 human, 1 journald prefixes */

void log_set_max_level(int level)
{
        atomic_store(&max_level, level);
}

int log_get_max_level(void)
{
        return atomic_load(&max_level);
}

void log_set_progress_active(bool active)
{
        atomic_store(&progress_active, active);
}

static const char *level_word(int level)
{
        switch (level) {
        case LOG_EMERG:
        case LOG_ALERT:
        case LOG_CRIT:
        case LOG_ERR:
                return "error: ";
        case LOG_WARNING:
                return "warning: ";
        case LOG_DEBUG:
                return "debug: ";
        default:
                return "";
        }
}

int log_internal(int level, int error, const char *fmt, ...)
{
        char buf[2048];
        size_t n = 0;
        int saved_errno = errno;
        va_list ap;

        if (error < 0)
                error = -error;
        if (level > atomic_load(&max_level))
                return -error;

        /* journald (and anything not a terminal) gets <N> prefixes it parses;
         * a person at a terminal gets words.  Decided once: stderr does not
         * change under a running process. */
        if (prefix_mode < 0)
                prefix_mode = isatty(STDERR_FILENO) ? 0 : 1;

        if (atomic_load(&progress_active) && !prefix_mode)
                n += (size_t)snprintf(buf + n, sizeof(buf) - n, "\r\033[K");
        if (prefix_mode)
                n += (size_t)snprintf(buf + n, sizeof(buf) - n, "<%d>", level);
        else
                n += (size_t)snprintf(buf + n, sizeof(buf) - n, "pstream: %s", level_word(level));

        va_start(ap, fmt);
        errno = error; /* lets callers use %m for the error they pass */
        int k = vsnprintf(buf + n, sizeof(buf) - n, fmt, ap);
        va_end(ap);
        if (k > 0)
                n = MIN(n + (size_t)k, sizeof(buf) - 2);
        buf[n++] = '\n';

        /* One write per line keeps lines whole across threads. */
        for (size_t off = 0; off < n;) {
                ssize_t w = write(STDERR_FILENO, buf + off, n - off);
                if (w < 0) {
                        if (errno == EINTR)
                                continue;
                        break;
                }
                off += (size_t)w;
        }
        errno = saved_errno;
        return -error;
}
