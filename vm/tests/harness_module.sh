#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# ublk_drv is a module and loads, unloads and reloads as users do it; the
# rest of the suite finds it loaded.
set -eu
if lsmod | grep -q '^ublk_drv '; then rmmod ublk_drv; fi
for i in 1 2 3; do
	modprobe ublk_drv
	for _ in $(seq 50); do [ -c /dev/ublk-control ] && break; sleep 0.1; done
	[ -c /dev/ublk-control ] || { echo "round $i: no /dev/ublk-control"; exit 1; }
	rmmod ublk_drv
	[ ! -e /sys/module/ublk_drv ] || { echo "round $i: still loaded"; exit 1; }
done
modprobe ublk_drv
[ -c /dev/ublk-control ]
echo "ublk_drv: loaded, unloaded and reloaded 3 times"
