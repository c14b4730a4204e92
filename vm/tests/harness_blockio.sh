#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Real block I/O works in the guest: fio with verification on null_blk and
# loop, and ext4 on loop, with checksummed files surviving a remount.
set -eu
[ -b /dev/nullb0 ] || { echo "no /dev/nullb0"; exit 1; }
fio --name=nullb --filename=/dev/nullb0 --ioengine=io_uring --direct=1 \
	--rw=randread --bs=4k --iodepth=16 --time_based --runtime=2 \
	--output-format=terse --terse-version=3 > /tmp/fio.out
iops=$(cut -d';' -f8 /tmp/fio.out)
[ "${iops:-0}" -gt 0 ] || { echo "null_blk: no IOPS"; exit 1; }
echo "null_blk randread: $iops IOPS"

img=/tmp/harness.img
truncate -s 128M $img
dev=$(losetup --direct-io=on -f --show $img)
trap 'umount /tmp/mnt 2>/dev/null || true; losetup -d $dev || true; rm -f $img' EXIT
fio --name=verify --filename="$dev" --ioengine=io_uring --direct=1 \
	--rw=randwrite --bs=4k --iodepth=8 --size=16M --verify=crc32c \
	--do_verify=1 --verify_fatal=1 > /tmp/fio-verify.out
mkfs.ext4 -q -F "$dev"
mkdir -p /tmp/mnt
mount "$dev" /tmp/mnt
for i in 1 2 3; do head -c 1M /dev/urandom > /tmp/mnt/f$i; done
(cd /tmp/mnt && sha256sum f1 f2 f3 > /tmp/sums)
umount /tmp/mnt
mount "$dev" /tmp/mnt
(cd /tmp/mnt && sha256sum -c /tmp/sums)
umount /tmp/mnt
fsck.ext4 -n -f "$dev"
echo "loop: fio verify and ext4 checksums ok"
