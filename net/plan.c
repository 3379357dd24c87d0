/* SPDX-License-Identifier: MIT */
/* placeholder: implemented in its own change */
extern int pstream_placeholder_net_plan_c;
