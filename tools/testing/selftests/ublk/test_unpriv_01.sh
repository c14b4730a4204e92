#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Unprivileged devices: uid 1001 adds a device with --unprivileged, owns it,
# runs fio on it and deletes it; uid 1002 can neither query nor delete it.
# The test stands in for the udev rule that chowns /dev/ublk[bc]N.
. "$(dirname "$0")/test_common.sh"
_prep_test

_need_cmd fio setpriv
_need_feature UNPRIVILEGED_DEV
_open_ctrl_to_users
_start_chown_helper
_as_user $UBLK_USER1 "$KUBLK" features >/dev/null || _fail "uid $UBLK_USER1 cannot use /dev/ublk-control"

_add_dev_as $UBLK_USER1 -t null --unprivileged -d 32 || _fail "unprivileged add failed"
id=$UBLK_DEV_ID
line=$("$KUBLK" list -n "$id") || _fail "root cannot list the device"
grep -qw "owner=$UBLK_USER1:$UBLK_USER1" <<<"$line" || _fail "owner not recorded: $line"
flags=$(_dev_field "$id" flags)
(( flags & 0x20 )) || _fail "UNPRIVILEGED_DEV not granted: $flags"
pid=$(_daemon_pid "$id")
[ "$(stat -c %u "/proc/$pid")" = $UBLK_USER1 ] || _fail "daemon does not run as uid $UBLK_USER1"
for ((i = 0; i < 100; i++)); do
	[ "$(stat -c %u "/dev/ublkb$id")" = $UBLK_USER1 ] && break
	_sleep 0.1
done
_as_user $UBLK_USER1 "$KUBLK" list -n "$id" >/dev/null || _fail "owner cannot list its device"

# fio itself must run as the owner
out=$UBLK_TEST_DIR/fio.owner.out
_as_user $UBLK_USER1 fio --output-format=terse --terse-version=3 --name=owner \
	--filename="/dev/ublkb$id" --ioengine=io_uring --direct=1 --rw=randrw \
	--bs=4k --iodepth=16 --runtime=3 --time_based >"$out" 2>&1
FIO_RC=$?
_parse_fio "$out"
_check_fio owner rw

# another user is refused
if out=$(_as_user $UBLK_USER2 "$KUBLK" list -n "$id" 2>&1); then
	_fail "uid $UBLK_USER2 could query dev $id: $out"
fi
grep -Eq "Permission denied|Operation not permitted" <<<"$out" ||
	_fail "uid $UBLK_USER2 list: expected EACCES/EPERM, got: $out"
if out=$(_as_user $UBLK_USER2 timeout 60 "$KUBLK" del -n "$id" 2>&1); then
	_fail "uid $UBLK_USER2 could delete dev $id"
fi
grep -Eq "Permission denied|Operation not permitted" <<<"$out" ||
	_fail "uid $UBLK_USER2 del: expected EACCES/EPERM, got: $out"
if out=$(_as_user $UBLK_USER2 "$KUBLK" stop -n "$id" 2>&1); then
	_fail "uid $UBLK_USER2 could stop dev $id"
fi
[ "$(_dev_state "$id")" = LIVE ] || _fail "device not LIVE after the other user's attempts"
_as_user $UBLK_USER2 dd if="/dev/ublkb$id" of=/dev/null bs=4k count=1 2>/dev/null &&
	_fail "uid $UBLK_USER2 could read the owner's block device"

# the owner deletes it
_as_user $UBLK_USER1 timeout 60 "$KUBLK" del -n "$id" || _fail "owner cannot delete its device"
_check_dev_gone "$id" || _fail "nodes left after owner's del"
_wait_pid_gone "$pid" 10 || _fail "daemon alive after del"
_pass
