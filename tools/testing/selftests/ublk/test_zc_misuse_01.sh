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

[ -x "$UBLK_ZC_MISUSE" ] || _fail "ublk_zc_misuse not found at $UBLK_ZC_MISUSE"
ids_before=" $(ls /sys/class/ublk-char 2>/dev/null | tr '\n' ' ') "
out=$UBLK_TEST_DIR/zc_misuse.out
timeout 260 "$UBLK_ZC_MISUSE" 2>&1 | tee "$out"
rc=${PIPESTATUS[0]}
# delete whatever the checker left behind after a failure
for c in /sys/class/ublk-char/ublkc*; do
	[ -e "$c" ] || continue
	c=${c##*/}
	case "$ids_before" in *" $c "*) continue ;; esac
	_UBLK_DEVS+=("${c#ublkc}")
done
case $rc in
0) _pass ;;
4) _skip "ublk_zc_misuse: $(sed -n 's/^SKIP: //p' "$out" | tail -n1)" ;;
124) _fail "ublk_zc_misuse timed out" ;;
*) _fail "ublk_zc_misuse reported failures (rc $rc)" ;;
esac
