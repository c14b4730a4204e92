#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# make soak SECONDS=N: one boot (debug kernel by default, FLAVOUR=min for
# the minimal one) running tools/testing/selftests/ublk/ublk_soak.sh for N
# seconds of disruptions: ext4 on a zero-copy and an auto-zero-copy ublk
# loop device with fio verify and a checksummed file tree, while servers are
# killed and recovered (USER_RECOVERY_REISSUE), devices quiesced and
# resumed, and resized. The harness checks the kernel log and, on the debug
# kernel, kmemleak. Prints the soak's figures; exit status as vm/run-vm.sh
# (0 pass, 1 failure or kernel report, 2 guest hung, 3 guest died).
#
#   vm/soak.sh SECONDS     (SOAK_PERIOD, SOAK_DEVS, ... passed to the guest)
set -uo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD:-$top/build}
flavour=${FLAVOUR:-debug}
secs=${1:-300}
case $secs in
'' | *[!0-9]*) echo "soak: SECONDS must be a number of seconds" >&2; exit 64 ;;
esac
out=$top/results/soak
mkdir -p "$top/results"
stdir=$build/src/tools/testing/selftests/ublk
[ -f "$stdir/ublk_soak.sh" ] || { echo "soak: $stdir/ublk_soak.sh missing (make selftests-$flavour)" >&2; exit 3; }

envs="SOAK_SECONDS=$secs"
for v in SOAK_PERIOD SOAK_DEVS SOAK_FS_MB SOAK_FIO_MB; do
	[ -n "${!v:-}" ] && envs+=" $v=${!v}"
done
# Budgets against hangs only: a disruption step can take minutes on a
# loaded host (TCG, debug kernel), and so can setup, the final checks and
# the boot itself.
tmo=$((2 * secs + 1200))
plan=$top/results/plan-soak
printf 'soak\t%s\tcd %s && KUBLK=%s UBLK_BUILD=%s %s bash ./ublk_soak.sh\n' \
	"$tmo" "$stdir" "$build/selftests/kublk" "$build/selftests" "$envs" > "$plan"
echo "# soak: ${secs}s of disruptions on the $flavour kernel, log in ${out#"$top"/}/logs/soak.log"
"$top/vm/run-vm.sh" -k "$flavour" -t $((tmo + 900)) -o "$out" "$plan"
rc=$?
echo "# soak figures:"
grep '^soak: ' "$out/logs/soak.log" 2>/dev/null | sed 's/^/#   /' ||
	echo "#   (none: the soak did not finish)"
if [ $rc = 0 ]; then
	echo "# soak passed (kernel log clean$([ "$flavour" = debug ] && echo ', kmemleak clean'))"
else
	echo "# soak FAILED (exit $rc), see $out/logs/soak.log and $out/console.log"
fi
exit $rc
