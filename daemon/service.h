/* SPDX-License-Identifier: MIT
 *
 * service.h - `pstream daemon`: the ingest job as a long-running service.
 */
#pragma once

/* argv from the word "daemon" on; returns the exit status. */
int service_main(int argc, char **argv);
