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

_stripe_add "$nf" --chunk "$chunk" "${mode[@]}"
id=$UBLK_DEV_ID
dev=/dev/ublkb$id
_stripe_io_check "$dev" "$chunk" "$nf"
if [ -n "$recovery" ]; then
	# the recovered daemon must stripe the same way: --chunk comes back
	# from the arguments saved at add time
	_kill_daemon "$id"
	_recover_dev "$id"
	_stripe_readback_patterns "$dev" "$chunk" "$nf"
	_log "recovered daemon reads the stripes back with chunk $chunk"
fi
_stripe_del_check "$id" "$chunk"
_pass
