#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# UBLK_F_PER_IO_DAEMON: a FETCH from a second task is refused without the
# flag; with it two tasks each fetch and serve their own tags; COMMIT,
# REGISTER_IO_BUF and UNREGISTER_IO_BUF of a tag from the task that does
# not own it fail with -EINVAL; 8 writes read back intact.
. "$(dirname "$0")/test_common.sh"
_prep_test

[ -x "$UBLK_ZC_MORE" ] || _fail "ublk_zc_more not found at $UBLK_ZC_MORE"
ids_before=" $(ls /sys/class/ublk-char 2>/dev/null | tr '\n' ' ') "
out=$UBLK_TEST_DIR/zc_more.out
# to a file, not a pipe: a reader stuck on the device must not hold it open
timeout 120 "$UBLK_ZC_MORE" perio > "$out" 2>&1
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
4) _skip "ublk_zc_more perio: $(sed -n 's/^SKIP: //p' "$out" | tail -n1)" ;;
124) _fail "ublk_zc_more perio timed out" ;;
*) _fail "ublk_zc_more perio reported failures (rc $rc)" ;;
esac
