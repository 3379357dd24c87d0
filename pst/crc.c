/* SPDX-License-Identifier: MIT */
/* placeholder: implemented in its own change */
extern int pstream_placeholder_pst_crc_c;
