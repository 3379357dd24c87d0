/* SPDX-License-Identifier: MIT */
extern int pstream_placeholder_net_azerror_c;
