#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Zero-copy misuse: ublk_zc_misuse sets up a SUPPORT_ZERO_COPY device with
# raw commands, gets a READ and a WRITE request delivered from a helper's
# O_DIRECT pread/pwrite, and checks the exact codes of REGISTER_IO_BUF,
# UNREGISTER_IO_BUF, fixed-buffer I/O in the wrong direction or out of
# bounds and IORING_REGISTER_BUFFERS_UPDATE over a kernel slot, the data of
# the correct paths, and that closing the ring with a registered,
# uncommitted request fails the I/O without a hang (one line per check).
. "$(dirname "$0")/test_common.sh"
_prep_test

_run_checker 260 "$UBLK_ZC_MISUSE"
