#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# The main job, run inside the guest by `make run`: a ublk loop device over
# a file, in the best copy mode the kernel offers, carrying ext4 with
# checksummed files, a short fio, the figures, and a clean teardown.
set -eu
step() { printf '\n### %s\n' "$*"; }
step "kernel $(uname -r), $(nproc) CPUs"
step "modprobe ublk_drv"
modprobe ublk_drv
ls -l /dev/ublk-control
if [ ! -x "${KUBLK:-}" ]; then
	step "no ublk server built: showing the harness's block I/O instead"
	fio --name=nullb --filename=/dev/nullb0 --ioengine=io_uring --direct=1 \
		--rw=randread --bs=4k --iodepth=32 --time_based --runtime=3 \
		--group_reporting | grep -E 'IOPS|lat.*avg'
	exit 0
fi

step "kublk features"
"$KUBLK" features
feats=$("$KUBLK" features)
mode=() mode_name="copy"
if grep -qw AUTO_BUF_REG <<< "$feats"; then
	mode=(--auto_zc) mode_name="auto zero copy"
elif grep -qw SUPPORT_ZERO_COPY <<< "$feats"; then
	mode=(-z) mode_name="zero copy"
elif grep -qw USER_COPY <<< "$feats"; then
	mode=(-u) mode_name="user copy"
fi

img=/tmp/demo.img
truncate -s 512M $img
step "kublk add -t loop -q 2 ${mode[*]} $img   ($mode_name)"
"$KUBLK" add -t loop -q 2 "${mode[@]}" -n -1 $img | tee /tmp/add.out
id=$(sed -n 's/^dev_id=\([0-9]*\).*/\1/p' /tmp/add.out)
dev=/dev/ublkb$id
cleanup() { umount /tmp/demo-mnt 2>/dev/null || true; "$KUBLK" del -n "$id" 2>/dev/null || true; }
trap cleanup EXIT
"$KUBLK" list -n "$id"
echo "$dev: $(blockdev --getsize64 "$dev") bytes"

step "mkfs.ext4 + mount + checksummed files"
mkfs.ext4 -q -F "$dev"
mkdir -p /tmp/demo-mnt
mount "$dev" /tmp/demo-mnt
for i in 1 2 3 4; do head -c 4M /dev/urandom > /tmp/demo-mnt/file$i; done
(cd /tmp/demo-mnt && sha256sum file* > /tmp/demo.sums)
umount /tmp/demo-mnt
mount "$dev" /tmp/demo-mnt
(cd /tmp/demo-mnt && sha256sum -c /tmp/demo.sums)
umount /tmp/demo-mnt
fsck.ext4 -n -f "$dev" | tail -n1

step "fio: 4k random read and 512k sequential write, io_uring, O_DIRECT"
for job in "randread 4k 32" "write 512k 8"; do
	set -- $job
	fio --name="$1-$2" --filename="$dev" --ioengine=io_uring --direct=1 \
		--rw="$1" --bs="$2" --iodepth="$3" --time_based --runtime=3 \
		--size=256M | grep -E '^ *(read|write):|clat.*avg' | head -n2
done

step "kublk del -n $id"
trap - EXIT
"$KUBLK" del -n "$id"
[ ! -e "$dev" ] && echo "$dev gone"
