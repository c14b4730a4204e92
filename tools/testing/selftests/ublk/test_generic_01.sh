#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Lifecycle: add, list shows LIVE, nodes exist, del removes everything;
# two adds with -n -1 get distinct ids.
. "$(dirname "$0")/test_common.sh"
_prep_test

_add_dev -t null || _fail "add -t null failed"
id=$UBLK_DEV_ID
[ "$(_dev_state "$id")" = LIVE ] || _fail "dev $id not LIVE: $("$KUBLK" list -n "$id")"
[ -b "/dev/ublkb$id" ] || _fail "/dev/ublkb$id missing"
[ -c "/dev/ublkc$id" ] || _fail "/dev/ublkc$id missing"
pid=$(_daemon_pid "$id")
kill -0 "$pid" 2>/dev/null || _fail "daemon pid '$pid' not running"
line=$("$KUBLK" list -n "$id")
for f in queues=1 depth=128 target=null size=1073741824; do
	grep -qw "$f" <<<"$line" || _fail "list lacks $f: $line"
done
[ "$(_dev_size "$id")" = 1073741824 ] || _fail "block device size $(_dev_size "$id")"
"$KUBLK" list | grep -q "^dev_id=$id " || _fail "list without -n misses dev $id"

_del_dev "$id" || _fail "del -n $id failed"
_check_dev_gone "$id" || _fail "nodes of dev $id still present after del"
_wait_pid_gone "$pid" 10 || _fail "daemon $pid still alive after del"
"$KUBLK" list -n "$id" >/dev/null 2>&1 && _fail "list -n $id works after del"

_add_dev -t null -n -1 || _fail "add -n -1 (first) failed"
a=$UBLK_DEV_ID
_add_dev -t null -n -1 || _fail "add -n -1 (second) failed"
b=$UBLK_DEV_ID
[ "$a" != "$b" ] || _fail "both devices got id $a"
[ "$(_dev_state "$a")" = LIVE ] && [ "$(_dev_state "$b")" = LIVE ] ||
	_fail "devices $a/$b not both LIVE"
_del_dev "$a" || _fail "del $a failed"
[ "$(_dev_state "$b")" = LIVE ] || _fail "deleting $a disturbed $b"
_del_dev "$b" || _fail "del $b failed"
_check_dev_gone "$a" && _check_dev_gone "$b" || _fail "nodes left behind"
_pass
