#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Zero copy (-z, SUPPORT_ZERO_COPY) and automatic buffer registration
# (--auto_zc, AUTO_BUF_REG) are refused by the driver for UNPRIVILEGED_DEV
# devices, whether a normal user or root asks; nothing is left behind.  A
# plain unprivileged device by the same user works (so the refusal is about
# zero copy).
. "$(dirname "$0")/test_common.sh"
_prep_test

_need_cmd setpriv
_need_feature UNPRIVILEGED_DEV
modes=()
_have_feature SUPPORT_ZERO_COPY && modes+=(-z)
_have_feature AUTO_BUF_REG && modes+=(--auto_zc)
[ ${#modes[@]} -gt 0 ] || _skip "kernel lacks UBLK_F_SUPPORT_ZERO_COPY and UBLK_F_AUTO_BUF_REG"
_open_ctrl_to_users
_start_chown_helper
count() { _dev_count; }
before=$(count)

# an add that must have failed: clean up and fail if it did not
_accepted() {
	local who=$1 out=$2 id
	id=$(sed -n 's/^dev_id=\([0-9]*\) .*/\1/p' <<<"$out")
	[ -n "$id" ] && _UBLK_DEVS+=("$id")
	_fail "$who: accepted: $out"
}

# refused: the kernel's answer, not kublk's own feature check
_refused() {
	local who=$1 out=$2
	grep -q "not supported by this kernel" <<<"$out" &&
		_fail "$who: refused by kublk's feature check, not by the driver: $out"
	grep -Eq "ADD_DEV: Invalid argument|ADD_DEV: Operation not permitted|did not grant" <<<"$out" ||
		_fail "$who: unexpected error: $out"
	[ "$(count)" = "$before" ] || _fail "$who: refused add left a device"
	_log "$who: refused: $(grep -E 'ADD_DEV|did not grant' <<<"$out" | head -n1)"
}

for opt in "${modes[@]}"; do
	out=$(_as_user $UBLK_USER1 timeout 60 "$KUBLK" add -t null --unprivileged "$opt" 2>&1) &&
		_accepted "uid $UBLK_USER1: unprivileged $opt" "$out"
	_refused "uid $UBLK_USER1 $opt" "$out"
	out=$(timeout 60 "$KUBLK" add -t null --unprivileged "$opt" 2>&1) &&
		_accepted "root: unprivileged $opt" "$out"
	_refused "root $opt" "$out"
done

# control: the same user gets a plain unprivileged device
_add_dev_as $UBLK_USER1 -t null --unprivileged || _fail "plain unprivileged add failed"
flags=$(_dev_field "$UBLK_DEV_ID" flags)
(( flags & ((1 << 0) | (1 << 11)) )) && _fail "zero-copy flags on a plain device ($flags)"
_as_user $UBLK_USER1 timeout 60 "$KUBLK" del -n "$UBLK_DEV_ID" || _fail "owner del failed"
_check_dev_gone "$UBLK_DEV_ID" || _fail "nodes left after del"
[ "$(count)" = "$before" ] || _fail "device count changed"
_pass
