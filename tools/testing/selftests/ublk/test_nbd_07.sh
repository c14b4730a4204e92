#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# nbd target against a misbehaving server (nbd_fake_server.py): a reply
# with a bad magic, one with an unknown handle, and a READ reply cut short
# (a short receive into the request buffer, then EOF) end in I/O errors and
# a clear message from the daemon, not a hang; server error codes come
# back as the matching errors (EIO, ENOSPC) on a connection that stays up.
. "$(dirname "$0")/test_common.sh"
_prep_test

zc=
_have_feature SUPPORT_ZERO_COPY && zc=-z
for t in "bad-magic:" "bad-handle:$zc" "short-read:$zc" "short-read:"; do
	srv=${t%%:*}
	m=${t#*:}
	_nbd_port
	_start_fake_nbd "$srv"
	# shellcheck disable=SC2086
	_add_dev -t nbd --host 127.0.0.1 --port "$NBD_PORT" $m ||
		_fail "add ($srv $m) failed"
	id=$UBLK_DEV_ID
	timeout 20 dd if="/dev/ublkb$id" of=/dev/null bs=64k count=1 \
		iflag=direct 2>/dev/null
	rc=$?
	[ $rc = 124 ] && _fail "read from the $srv server hangs ($m)"
	[ $rc = 0 ] && _fail "read from the $srv server succeeded ($m)"
	_del_dev "$id" || _fail "del ($srv $m) failed"
	case $srv in
	short-read) msg="server closed the connection" ;;
	*) msg="malformed reply" ;;
	esac
	# the partition scan at START_DEV may hit it, logged to add's stderr
	cat "$UBLK_TEST_DIR/add.err" "$(_daemon_log "$id")" >"$UBLK_TEST_DIR/log"
	grep -q "$msg" "$UBLK_TEST_DIR/log" || {
		cat "$UBLK_TEST_DIR/log"
		_fail "no '$msg' in the daemon's messages ($srv $m)"
	}
	kill -9 "$NBD_SRV_PID"
	_log "$srv $m: I/O error, '$msg' logged, del ok"
done

_nbd_port
_start_fake_nbd error
_add_dev -t nbd --host 127.0.0.1 --port "$NBD_PORT" || _fail "add (error) failed"
id=$UBLK_DEV_ID
out=$(dd if=/dev/zero of="/dev/ublkb$id" bs=4k count=1 oflag=direct 2>&1) &&
	_fail "write to the failing server succeeded"
grep -q "No space left" <<<"$out" || _fail "NBD ENOSPC came back as: $out"
out=$(dd if="/dev/ublkb$id" of=/dev/null bs=4k count=1 iflag=direct 2>&1) &&
	_fail "read from the failing server succeeded"
grep -q "Input/output error" <<<"$out" || _fail "NBD EIO came back as: $out"
cat "$UBLK_TEST_DIR/add.err" "$(_daemon_log "$id")" | grep -q "connection lost" &&
	_fail "an NBD error reply killed the connection"
_del_dev "$id" || _fail "del (error) failed"
_pass
