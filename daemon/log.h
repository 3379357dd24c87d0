/* SPDX-License-Identifier: MIT
 *
 * log.h - the one place pstream logs: stderr, one event per line, journald
 * priority prefixes ("<3>" ...) when stderr is not a terminal, key=value
 * context in the message.  Thread-safe (one write(2) per line).
 */
#pragma once

#include <stdbool.h>
#include <syslog.h>

#include "io/base/macro.h"

void log_set_max_level(int level);
int log_get_max_level(void);

/* A terminal progress line owned by progress.c: log lines erase it first
 * (the next progress tick redraws it). */
void log_set_progress_active(bool active);

/* Log at level; returns -abs(error) (or 0 when error is 0) so callers can
 * write `return log_error_errno(r, "...")`. */
int log_internal(int level, int error, const char *fmt, ...) _printf_(3, 4);

#define log_full_errno(level, error, ...) log_internal(level, error, __VA_ARGS__)
#define log_debug(...) log_internal(LOG_DEBUG, 0, __VA_ARGS__)
#define log_info(...) log_internal(LOG_INFO, 0, __VA_ARGS__)
#define log_notice(...) log_internal(LOG_NOTICE, 0, __VA_ARGS__)
#define log_warning(...) log_internal(LOG_WARNING, 0, __VA_ARGS__)
#define log_error(...) log_internal(LOG_ERR, 0, __VA_ARGS__)
#define log_warning_errno(error, ...) log_internal(LOG_WARNING, error, __VA_ARGS__)
#define log_error_errno(error, ...) log_internal(LOG_ERR, error, __VA_ARGS__)
#define log_debug_errno(error, ...) log_internal(LOG_DEBUG, error, __VA_ARGS__)
