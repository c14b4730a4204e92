#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# The main job, run inside the guest by `make run`.
set -eu
step() { printf '\n### %s\n' "$*"; }
step "kernel $(uname -r), $(nproc) CPUs"
step "modprobe ublk_drv"
modprobe ublk_drv
ls -l /dev/ublk-control
if [ ! -x "${KUBLK:-}" ]; then
	step "no ublk server built yet: showing the harness's block I/O instead"
	fio --name=nullb --filename=/dev/nullb0 --ioengine=io_uring --direct=1 \
		--rw=randread --bs=4k --iodepth=32 --time_based --runtime=3 \
		--group_reporting | grep -E 'IOPS|lat.*avg'
	exit 0
fi
