#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Userspace fixed buffers still work with our io_uring patches (no ublk):
# READ_FIXED/WRITE_FIXED on a file (ranges, out of range, linked), SEND/RECV
# with IORING_RECVSEND_FIXED_BUF and SEND_ZC fixed on user buffers, buffer
# update, clone, unregister and register again (ublk_fixedbuf).
. "$(dirname "$0")/test_common.sh"
_prep_test

[ -x "$UBLK_FIXEDBUF" ] || _fail "ublk_fixedbuf not found at $UBLK_FIXEDBUF"
TMPDIR=$UBLK_TEST_DIR timeout 60 "$UBLK_FIXEDBUF" || _fail "ublk_fixedbuf reported failures"
_pass
