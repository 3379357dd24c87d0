/* SPDX-License-Identifier: MIT
 *
 * control.h - the control socket of a running ingest or daemon: an AF_UNIX
 * stream socket (mode 0600) in the state directory.  A client sends one
 * line, gets the answer, and the connection closes.  Commands: status,
 * status json, pause, resume, cap RATE, cap schedule.
 *
 * The server side is polled from the uploader loop; it never blocks it for
 * long (a client that does not send its line within 200 ms is dropped).
 */
#pragma once

#include <stdio.h>

#define CONTROL_SOCKET_NAME "control.sock"
#define CONTROL_MAX_LINE 512

struct control;

/* Listen at dir/control.sock (a stale socket file is replaced). */
int control_open(const char *dir, struct control **ret);
struct control *control_close(struct control *c);

/* Serve the clients waiting now: handle() gets each command line (no
 * newline) and writes the answer to out. */
void control_poll(struct control *c, void (*handle)(void *ctx, const char *cmd, FILE *out),
                  void *ctx);

/* Client: send cmd to the socket in dir and copy the answer to out.
 * -ENOENT/-ECONNREFUSED when nothing listens there. */
int control_request(const char *dir, const char *cmd, FILE *out);
