#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Zero-copy request buffers on sockets: SEND, SEND_ZC and RECV with
# IORING_RECVSEND_FIXED_BUF on a WRITE and a READ request's buffer over a
# socketpair and loopback TCP (data intact, wrong direction and out-of-range
# -EFAULT without moving a byte, a short receive commits only what arrived).
. "$(dirname "$0")/test_common.sh"
_prep_test

[ -x "$UBLK_ZC_MORE" ] || _fail "ublk_zc_more not found at $UBLK_ZC_MORE"
ids_before=" $(ls /sys/class/ublk-char 2>/dev/null | tr '\n' ' ') "
out=$UBLK_TEST_DIR/zc_more.out
# to a file, not a pipe: a reader stuck on the device must not hold it open
timeout 120 "$UBLK_ZC_MORE" net > "$out" 2>&1
rc=$?
cat "$out"
# delete whatever the checker left behind after a failure
for c in /sys/class/ublk-char/ublkc*; do
	[ -e "$c" ] || continue
	c=${c##*/}
	case "$ids_before" in *" $c "*) continue ;; esac
	_UBLK_DEVS+=("${c#ublkc}")
done
case $rc in
0) _pass ;;
4) _skip "ublk_zc_more net: $(sed -n 's/^SKIP: //p' "$out" | tail -n1)" ;;
124) _fail "ublk_zc_more net timed out" ;;
*) _fail "ublk_zc_more net reported failures (rc $rc)" ;;
esac
