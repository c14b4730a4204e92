#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# The guest is the one we think it is: our kernel, two CPUs, the tools the
# tests need, the test users, and modprobe reaching our modules.
set -eu
want=$(basename "$(ls -d "$MODROOT"/lib/modules/*)")
[ "$(uname -r)" = "$want" ] || { echo "kernel $(uname -r), expected $want"; exit 1; }
[ "$(nproc)" = 2 ] || { echo "nproc $(nproc), expected 2"; exit 1; }
for tool in fio mkfs.ext4 fsck.ext4 sha256sum setpriv blockdev; do
	command -v $tool >/dev/null || { echo "missing $tool"; exit 1; }
done
id ublktest | grep -q 'uid=1001' || { echo "no ublktest user"; exit 1; }
id ublktest2 | grep -q 'uid=1002' || { echo "no ublktest2 user"; exit 1; }
touch /tmp/w && rm /tmp/w
modinfo ublk_drv | grep -q "^vermagic: *$want " || { echo "modinfo ublk_drv failed"; exit 1; }
echo "guest ok: $(uname -r), $(nproc) cpus"
