#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Short soak (ublk_soak.sh): ext4 on a zero-copy and an auto-zero-copy loop
# device under REISSUE recovery, with fio verify and a checksummed file
# tree, through one round of disruptions per device (4 steps, both devices
# at once): kill -9 + recover, quiesce + resume, resize, kill -9 + recover;
# every acknowledged write verified, fsck clean, no I/O error.
SOAK_SECONDS=${SOAK_SECONDS:-0} SOAK_MIN_STEPS=${SOAK_MIN_STEPS:-4} \
SOAK_PERIOD=${SOAK_PERIOD:-0.5} SOAK_FS_MB=${SOAK_FS_MB:-48} \
SOAK_FIO_MB=${SOAK_FIO_MB:-4} SOAK_TREE_SLOTS=${SOAK_TREE_SLOTS:-32} \
	exec bash "$(dirname "$0")/ublk_soak.sh"
