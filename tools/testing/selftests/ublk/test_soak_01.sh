#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Short soak (ublk_soak.sh): ext4 on an auto-zero-copy loop device under
# REISSUE recovery (make soak adds a zero-copy one and runs for longer),
# with fio verify and a checksummed file tree, through one round of
# disruptions (3 steps): kill -9 + recover, quiesce + resume, resize;
# every acknowledged write verified, fsck clean, no I/O error.
SOAK_SECONDS=${SOAK_SECONDS:-0} SOAK_MIN_STEPS=${SOAK_MIN_STEPS:-3} \
SOAK_DEVS=${SOAK_DEVS:-autozc} \
SOAK_PERIOD=${SOAK_PERIOD:-0.5} SOAK_FS_MB=${SOAK_FS_MB:-48} \
SOAK_FIO_MB=${SOAK_FIO_MB:-4} SOAK_TREE_SLOTS=${SOAK_TREE_SLOTS:-32} \
	exec bash "$(dirname "$0")/ublk_soak.sh"
