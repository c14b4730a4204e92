#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Isolation between users. uid 1001 serves an unprivileged loop device over
# a file only it may read, and writes data to it. uid 1002 then tries every
# control command on it (list, stop, try-stop, del, update_size, quiesce,
# recover), to read it, and to open its nodes, also after their modes were
# opened wide (the driver itself refuses the block device, EPERM; root is
# refused too). A device root created refuses uid 1002's commands as well.
# Afterwards the device is still LIVE with the same server and size, and
# the owner reads back exactly what it wrote.
. "$(dirname "$0")/test_common.sh"
_prep_test

_need_cmd setpriv dd cmp
_need_feature UNPRIVILEGED_DEV
_open_ctrl_to_users
_start_chown_helper
u1=$UBLK_USER1
u2=$UBLK_USER2

# expect_refused WHAT OUTPUT: the command failed for lack of permission
expect_refused() {
	grep -Eq "Permission denied|Operation not permitted" <<<"$2" ||
		_fail "$1: expected EACCES/EPERM, got: $2"
	_log "$1: refused ($(tail -n1 <<<"$2"))"
}

img=$UBLK_TEST_DIR/owner.img
truncate -s 64M "$img" && chown "$u1:$u1" "$img" && chmod 0600 "$img" ||
	_fail "cannot make the backing file"
_add_dev_as "$u1" -t loop --unprivileged -d 32 "$img" ||
	_fail "unprivileged loop add failed"
id=$UBLK_DEV_ID
bdev=/dev/ublkb$id
cdev=/dev/ublkc$id
pid=$(_daemon_pid "$id")
size=$(_dev_field "$id" size)
for ((i = 0; i < 100; i++)); do
	[ "$(stat -c %u "$bdev" 2>/dev/null)" = "$u1" ] && break
	_sleep 0.1
done
[ "$(stat -c %u "$bdev")" = "$u1" ] || _fail "$bdev not handed to uid $u1"

pat=$UBLK_TEST_DIR/pattern
head -c 1M /dev/urandom > "$pat" && chmod 0644 "$pat" || _fail "no pattern"
_as_user "$u1" dd if="$pat" of="$bdev" bs=64k oflag=direct conv=fsync \
	status=none || _fail "the owner cannot write its device"

# control commands of another user
for c in "list -n $id" "stop -n $id" "stop -n $id --safe" "del -n $id" \
	 "del -n $id --async" "update_size -n $id -s 4096" \
	 "quiesce -n $id --timeout 100" "recover -n $id"; do
	# shellcheck disable=SC2086
	if out=$(_as_user "$u2" timeout 60 "$KUBLK" $c 2>&1); then
		_fail "uid $u2 could run '$c': $out"
	fi
	expect_refused "uid $u2: kublk $c" "$out"
done

# its nodes, as they are and opened wide
out=$(_as_user "$u2" dd if="$bdev" of=/dev/null bs=4k count=1 iflag=direct 2>&1) &&
	_fail "uid $u2 read $bdev"
expect_refused "uid $u2: read $bdev (mode $(stat -c %a "$bdev"))" "$out"
out=$(_as_user "$u2" dd if="$cdev" of=/dev/null bs=4k count=1 2>&1) &&
	_fail "uid $u2 opened $cdev"
expect_refused "uid $u2: open $cdev (mode $(stat -c %a "$cdev"))" "$out"
mode=$(stat -c %a "$bdev")
chmod 0666 "$bdev"
out=$(_as_user "$u2" dd if="$bdev" of=/dev/null bs=4k count=1 iflag=direct 2>&1)
rc=$?
out_root=$(dd if="$bdev" of=/dev/null bs=4k count=1 iflag=direct 2>&1)
rc_root=$?
chmod "$mode" "$bdev"
[ $rc != 0 ] || _fail "uid $u2 read $bdev once its mode was 0666"
grep -q "Operation not permitted" <<<"$out" ||
	_fail "uid $u2, $bdev mode 0666: expected EPERM from the driver, got: $out"
_log "uid $u2: read $bdev (mode 0666): refused by the driver"
[ $rc_root != 0 ] || _fail "root opened the unprivileged $bdev"
grep -q "Operation not permitted" <<<"$out_root" ||
	_fail "root, $bdev: expected EPERM, got: $out_root"
_log "root: read $bdev: refused by the driver"
# the char device is its server's alone
chmod 0666 "$cdev"
out=$(_as_user "$u2" dd if="$cdev" of=/dev/null bs=4k count=1 2>&1)
rc=$?
chmod 0600 "$cdev"
[ $rc != 0 ] || _fail "uid $u2 opened $cdev once its mode was 0666"
_log "uid $u2: open $cdev (mode 0666): refused ($(tail -n1 <<<"$out"))"

# a device root created
_add_dev -t null -d 16 || _fail "root's add failed"
rid=$UBLK_DEV_ID
for c in "list -n $rid" "stop -n $rid" "del -n $rid"; do
	# shellcheck disable=SC2086
	if out=$(_as_user "$u2" timeout 60 "$KUBLK" $c 2>&1); then
		_fail "uid $u2 could run '$c' on root's device: $out"
	fi
	expect_refused "uid $u2: kublk $c (root's device)" "$out"
done
[ "$(_dev_state "$rid")" = LIVE ] || _fail "root's device not LIVE"
_del_dev "$rid" || _fail "root's del failed"

# nothing changed for the owner
[ "$(_dev_state "$id")" = LIVE ] || _fail "device $id not LIVE after the attempts"
[ "$(_daemon_pid "$id")" = "$pid" ] || _fail "device $id has another server"
[ "$(_dev_field "$id" size)" = "$size" ] || _fail "device $id was resized"
_as_user "$u1" dd if="$bdev" bs=64k count=16 iflag=direct status=none |
	cmp "$pat" - || _fail "the owner does not read back what it wrote"
_as_user "$u1" timeout 60 "$KUBLK" del -n "$id" || _fail "owner cannot delete"
_check_dev_gone "$id" || _fail "nodes left after the owner's del"
_wait_pid_gone "$pid" 10 || _fail "daemon alive after del"
_pass
