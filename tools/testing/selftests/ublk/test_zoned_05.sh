#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Bad zoned parameters are refused by the driver with -EINVAL: zone size
# not a power of two, zero, larger than the device; open or active limits
# above the number of zones, open above active; no zone append limit;
# ZONED parameters without UBLK_F_ZONED and the reverse; START_DEV of a
# zoned device that never got its parameters; ZONED for an unprivileged
# device.  No device is left behind and the kernel log stays clean.
. "$(dirname "$0")/test_common.sh"
_prep_test

_need_feature ZONED
count() { ls /sys/class/ublk-char 2>/dev/null | wc -l; }
before=$(count)
z="-t zoned --size 32M"
cases=(
	"SET_PARAMS|$z --zone_size 3M"
	"SET_PARAMS|$z --zone_size 0"
	"SET_PARAMS|$z --zone_size 64M"
	"SET_PARAMS|$z --zone_size 2 --max_open 17"
	"SET_PARAMS|$z --zone_size 2 --max_active 17"
	"SET_PARAMS|$z --zone_size 2 --max_open 4 --max_active 2"
	"SET_PARAMS|$z --zone_size 2 --max_zone_append 0"
	"SET_PARAMS|$z --zone_size 2 --zoned_no_flag"
	"SET_PARAMS|$z --zone_size 2 --zoned_no_params"
	"START_DEV|$z --zone_size 2 --zoned_skip_params"
	"ADD_DEV|$z --zone_size 2 --unprivileged"
)
for c in "${cases[@]}"; do
	cmd=${c%%|*}
	args=${c#*|}
	# shellcheck disable=SC2086
	if out=$(timeout 60 "$KUBLK" add $args 2>&1); then
		id=$(sed -n 's/^dev_id=\([0-9]*\) .*/\1/p' <<<"$out")
		[ -n "$id" ] && _UBLK_DEVS+=("$id")
		_fail "'add $args' was accepted: $out"
	fi
	grep -q "$cmd: Invalid argument" <<<"$out" ||
		_fail "'add $args': expected $cmd: Invalid argument, got: $out"
	_log "add $args -> $cmd -EINVAL"
done
[ "$(count)" = "$before" ] || _fail "a device was left behind"

# the smallest valid setup still works: one zone, the device's size
_add_dev -t zoned --size 4M --zone_size 4 --max_open 1 --max_active 1 ||
	_fail "one-zone device refused"
[ "$(cat /sys/block/ublkb$UBLK_DEV_ID/queue/nr_zones)" = 1 ] || _fail "nr_zones not 1"
_del_dev "$UBLK_DEV_ID" || _fail "del failed"
_pass
