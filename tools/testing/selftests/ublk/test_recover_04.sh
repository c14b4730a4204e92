#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# QUIESCE_DEV then recover: 'kublk quiesce' parks the device (QUIESCED), the
# daemon exits, 'recover' brings it back LIVE with the data intact.
. "$(dirname "$0")/test_common.sh"
_prep_test

_need_cmd fio cmp
_need_feature QUIESCE
_create_file "$UBLK_TEST_DIR/backing" 64
_add_dev -t loop -r 1 --quiesce "$UBLK_TEST_DIR/backing" || _fail "add --quiesce failed"
id=$UBLK_DEV_ID
dev=/dev/ublkb$id
head -c $((8 << 20)) /dev/urandom >"$UBLK_TEST_DIR/pattern"
dd if="$UBLK_TEST_DIR/pattern" of="$dev" bs=1M oflag=direct 2>/dev/null || _fail "pattern write failed"
old=$(_daemon_pid "$id")
timeout 60 "$KUBLK" quiesce -n "$id" --timeout 10000 || _fail "quiesce failed"
_wait_state "$id" QUIESCED 30 || _fail "device not QUIESCED"
_wait_pid_gone "$old" 30 || _fail "daemon did not exit after quiesce"
"$KUBLK" recover -n "$id" || _fail "recover failed"
_wait_state "$id" LIVE 30 || _fail "device not LIVE after recover"
cmp -n $((8 << 20)) "$dev" "$UBLK_TEST_DIR/pattern" || _fail "data lost across quiesce"
_fio_verify_check "$dev" 16M --offset=16M
_pass
