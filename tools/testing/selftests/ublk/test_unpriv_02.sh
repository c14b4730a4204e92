#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Unprivileged restrictions: user copy is refused for an unprivileged
# device, and a plain (privileged) add by a normal user is refused; nothing
# is left behind.
. "$(dirname "$0")/test_common.sh"
_prep_test

_need_cmd setpriv
_need_feature UNPRIVILEGED_DEV
_open_ctrl_to_users
_start_chown_helper
count() { _dev_count; }
before=$(count)

if out=$(_as_user $UBLK_USER1 timeout 60 "$KUBLK" add -t null --unprivileged -u 2>&1); then
	id=$(sed -n 's/^dev_id=\([0-9]*\) .*/\1/p' <<<"$out")
	[ -n "$id" ] && _UBLK_DEVS+=("$id")
	_fail "user copy accepted for an unprivileged device: $out"
fi
_log "unprivileged -u refused: $(tail -n1 <<<"$out")"
[ "$(count)" = "$before" ] || _fail "refused add left a device"

if out=$(_as_user $UBLK_USER1 timeout 60 "$KUBLK" add -t null 2>&1); then
	id=$(sed -n 's/^dev_id=\([0-9]*\) .*/\1/p' <<<"$out")
	[ -n "$id" ] && _UBLK_DEVS+=("$id")
	_fail "privileged add by uid $UBLK_USER1 accepted: $out"
fi
grep -Eq "Permission denied|Operation not permitted" <<<"$out" ||
	_fail "privileged add by a user: expected EPERM/EACCES, got: $out"
[ "$(count)" = "$before" ] || _fail "refused add left a device"

# a root device is out of reach for a normal user
_add_dev -t null || _fail "root add failed"
if out=$(_as_user $UBLK_USER1 "$KUBLK" del -n "$UBLK_DEV_ID" 2>&1); then
	_fail "uid $UBLK_USER1 deleted root's device"
fi
grep -Eq "Permission denied|Operation not permitted" <<<"$out" ||
	_fail "user del of root device: expected EPERM/EACCES, got: $out"
[ "$(_dev_state "$UBLK_DEV_ID")" = LIVE ] || _fail "root's device disturbed"
_pass
