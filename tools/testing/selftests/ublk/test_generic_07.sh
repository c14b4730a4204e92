#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Zero-copy flags: -z and --auto_zc either work (fio verify on loop) or,
# when GET_FEATURES lacks the flag, fail clearly without leaving a device.
. "$(dirname "$0")/test_common.sh"
_prep_test

_need_cmd fio
before=$(_dev_count)
_create_file "$UBLK_TEST_DIR/backing" 128
for mode in "-z:SUPPORT_ZERO_COPY" "--auto_zc:AUTO_BUF_REG" "--auto_zc_fallback:AUTO_BUF_REG"; do
	opt=${mode%%:*}
	feat=${mode#*:}
	if _have_feature "$feat"; then
		_add_dev -t loop "$opt" "$UBLK_TEST_DIR/backing" || _fail "add $opt failed"
		_fio_verify_check "/dev/ublkb$UBLK_DEV_ID" 32M
		_add_dev -t null "$opt" || _fail "add -t null $opt failed"
		_fio_perf_check "/dev/ublkb$UBLK_DEV_ID"
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
