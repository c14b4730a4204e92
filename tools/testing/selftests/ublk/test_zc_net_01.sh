#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Zero-copy request buffers on sockets: SEND, SEND_ZC and RECV with
# IORING_RECVSEND_FIXED_BUF on a WRITE and a READ request's buffer over a
# socketpair and loopback TCP (data intact, wrong direction and out-of-range
# -EFAULT without moving a byte, a short receive commits only what arrived).
. "$(dirname "$0")/test_common.sh"
_prep_test

_run_checker 120 "$UBLK_ZC_MORE" net
