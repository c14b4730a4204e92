#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Raw bad input: ublk_badinput issues malformed and out-of-state commands
# and checks the exact error codes (one line per check).
. "$(dirname "$0")/test_common.sh"
_prep_test

[ -x "$UBLK_BADINPUT" ] || _fail "ublk_badinput not found at $UBLK_BADINPUT"
ids_before=" $(ls /sys/class/ublk-char 2>/dev/null | tr '\n' ' ') "
timeout 240 "$UBLK_BADINPUT"
rc=$?
# delete whatever the checker left behind after a failure
for c in /sys/class/ublk-char/ublkc*; do
	[ -e "$c" ] || continue
	c=${c##*/}
	case "$ids_before" in *" $c "*) continue ;; esac
	_UBLK_DEVS+=("${c#ublkc}")
done
case $rc in
0) _pass ;;
4) _skip "ublk_badinput: ublk not available" ;;
124) _fail "ublk_badinput timed out" ;;
*) _fail "ublk_badinput reported failures (rc $rc)" ;;
esac
