#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Zero-copy flags: -z, --auto_zc and --auto_zc_fallback either work (a
# direct write and read back on loop, a read on null; test_zc_* verify the
# data paths in depth) or, when GET_FEATURES lacks the flag, fail clearly
# without leaving a device.
. "$(dirname "$0")/test_common.sh"
_prep_test

before=$(_dev_count)
_create_file "$UBLK_TEST_DIR/backing" 16
head -c $((1 << 20)) /dev/urandom >"$UBLK_TEST_DIR/pattern"
for mode in "-z:SUPPORT_ZERO_COPY" "--auto_zc:AUTO_BUF_REG" "--auto_zc_fallback:AUTO_BUF_REG"; do
	opt=${mode%%:*}
	feat=${mode#*:}
	if _have_feature "$feat"; then
		_add_dev -t loop "$opt" "$UBLK_TEST_DIR/backing" || _fail "add $opt failed"
		dev=/dev/ublkb$UBLK_DEV_ID
		dd if="$UBLK_TEST_DIR/pattern" of="$dev" bs=64k seek=3 oflag=direct \
			conv=fsync status=none || _fail "$opt: write failed"
		dd if="$dev" of="$UBLK_TEST_DIR/back" bs=64k skip=3 count=16 \
			iflag=direct status=none || _fail "$opt: read failed"
		cmp "$UBLK_TEST_DIR/pattern" "$UBLK_TEST_DIR/back" ||
			_fail "$opt: data read back differs"
		_add_dev -t null "$opt" || _fail "add -t null $opt failed"
		dd if="/dev/ublkb$UBLK_DEV_ID" of=/dev/null bs=128k count=8 \
			iflag=direct status=none || _fail "$opt: null read failed"
	else
		if out=$("$KUBLK" add -t loop "$opt" "$UBLK_TEST_DIR/backing" 2>&1); then
			_fail "add $opt succeeded without $feat: $out"
		fi
		grep -q "not supported by this kernel" <<<"$out" ||
			_fail "unclear error for $opt: $out"
		_log "$opt refused as expected: $out"
	fi
done
for id in "${_UBLK_DEVS[@]}"; do _del_dev "$id" || _fail "del $id failed"; done
_UBLK_DEVS=()
after=$(_dev_count)
[ "$before" = "$after" ] || _fail "device count changed $before -> $after"
_pass
