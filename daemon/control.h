/* SPDX-License-Identifier: MIT
 *
 * control.h - the control socket of a running ingest or daemon: an AF_UNIX
 * stream socket (mode 0600) in the state directory.  A client sends one
 * line, gets the answer, and the connection closes.  Commands: status,
 * status json, pause, resume, cap RATE, cap schedule.
 *
 * The same loop can serve the Prometheus metrics over HTTP on a loopback
 * port: GET /metrics answers what handle() writes for the command "metrics".
 *
 * The server side is polled from the uploader loop (and between the
 * daemon's passes); it never blocks it for long (a client that does not send
 * its line or request within 200 ms is dropped).  No thread of its own.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#define CONTROL_SOCKET_NAME "control.sock"
#define CONTROL_MAX_LINE 512

struct control;

/* Listen at dir/control.sock (a stale socket file is replaced); dir NULL:
 * no control socket (metrics only, see below). */
int control_open(const char *dir, struct control **ret);

/* Serve GET /metrics at addr, "HOST:PORT" with a numeric IPv4 address or a
 * bracketed IPv6 one ("127.0.0.1:9187", "[::1]:9187").  An address other
 * than loopback is refused unless allow_remote (the metrics name files and
 * rates: not for the whole network by accident).  -errno with err. */
int control_listen_http(struct control *c, const char *addr, bool allow_remote, char *err,
                        size_t errlen);
struct control *control_close(struct control *c);

/* Serve the clients waiting now: handle() gets each command line (no
 * newline) and writes the answer to out. */
void control_poll(struct control *c, void (*handle)(void *ctx, const char *cmd, FILE *out),
                  void *ctx);

/* Client: send cmd to the socket in dir and copy the answer to out.
 * -ENOENT/-ECONNREFUSED when nothing listens there. */
int control_request(const char *dir, const char *cmd, FILE *out);
