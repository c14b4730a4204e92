#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# stripe target, user copy (-u), 3 backing files, --chunk 16K:
# Checks: fio write + crc32c verify (4k-128k requests, split at chunks),
# ext4 round trip with sha256 checksums, then known patterns at device
# chunks and one write across three chunk boundaries; after del each piece
# must be in file (k % 3) at offset (k / 3) * chunk.  With USER_RECOVERY,
# the daemon is also killed and recovered with the saved --chunk, and the
# patterns must read back the same.
. "$(dirname "$0")/test_common.sh"
_prep_test

_need_cmd fio
_need_feature USER_COPY

nf=3
chunk=16384
mode=(-u)
# with USER_RECOVERY: kill -9 + recover with the saved arguments as well
recovery=
_have_feature USER_RECOVERY && recovery=1 && mode+=(-r 1)

files=()
for ((i = 0; i < nf; i++)); do
	_create_file "$UBLK_TEST_DIR/stripe$i" 64
	files+=("$UBLK_TEST_DIR/stripe$i")
done
_add_dev -t stripe --chunk 16384 "${mode[@]}" "${files[@]}" ||
	_fail "add -t stripe ${mode[*]} failed"
id=$UBLK_DEV_ID
dev=/dev/ublkb$id
[ "$(_dev_size "$id")" = $((nf * (64 << 20))) ] ||
	_fail "size $(_dev_size "$id"), expected $((nf * (64 << 20)))"
[ "$(_dev_field "$id" target)" = stripe ] || _fail "target not stripe"
_fio_verify_check "$dev" 32M
_ext4_check "$dev"
_stripe_write_patterns "$dev" "$chunk" "$nf"
if [ -n "$recovery" ]; then
	# the recovered daemon must stripe the same way: --chunk comes back
	# from the arguments saved at add time
	old=$(_daemon_pid "$id")
	kill -9 "$old"
	_wait_pid_gone "$old" 20 || _fail "daemon survived kill -9"
	_wait_state "$id" QUIESCED 30 || _fail "device not QUIESCED"
	"$KUBLK" recover -n "$id" || _fail "recover failed"
	_wait_state "$id" LIVE 30 || _fail "device not LIVE after recover"
	_stripe_readback_patterns "$dev" "$chunk" "$nf"
	_log "recovered daemon reads the stripes back with chunk $chunk"
fi
_del_dev "$id" || _fail "del failed"
_check_dev_gone "$id" || _fail "nodes left after del"
_stripe_verify_files "$chunk" "${files[@]}"
_pass
