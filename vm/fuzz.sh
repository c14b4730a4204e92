#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# make fuzz SECONDS=N [SEED=S]: one long ublk_fuzz run on the debug kernel
# (KASAN, lockdep, kmemleak), seed random unless given. The guest runs a
# one-line plan; the fuzzer's operations go to results/fuzz/fuzz.log.
# Any kernel report, hang or device left behind fails the run, and the
# seed that reproduces it is printed.
#   FUZZ_SECONDS  run length (default 600)
#   FUZZ_SEED     seed (default: random, chosen here and printed)
# Exit: 0 clean, 1 failure, 2 guest hung, 3 guest died (as vm/run-vm.sh).
set -uo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD:-$top/build}
secs=${FUZZ_SECONDS:-600}
seed=${FUZZ_SEED:-}
[ -n "$seed" ] || seed=$(( $(od -An -N4 -tu4 /dev/urandom) % 1000000000 ))
out=$top/results/fuzz
fuzz=$build/selftests/ublk_fuzz
[ -x "$fuzz" ] || { echo "fuzz: $fuzz missing (make selftests-debug)" >&2; exit 3; }
mkdir -p "$top/results"
plan=$top/results/plan-fuzz
# the guest's /run/out is $out: the operation log lands there
printf 'ublk_fuzz\t%s\t%s\n' "$((secs + 600))" \
	"modprobe ublk_drv; $fuzz --seed $seed --seconds $secs --log /run/out/fuzz.log" > "$plan"
echo "fuzz: seed $seed, $secs s on the debug kernel, logs in $out"
"$top/vm/run-vm.sh" -k debug -t "$((secs + 900))" -o "$out" "$plan"
rc=$?
log=$out/logs/ublk_fuzz.log
[ -f "$log" ] && grep -E '^(seed|fuzz:|PASS|FAIL|INFO)' "$log" | head -n 20
if [ $rc = 0 ]; then
	echo "fuzz: PASS, seed $seed, $secs s, no kernel report"
else
	echo "fuzz: FAIL (exit $rc), reproduce with: make fuzz SECONDS=$secs SEED=$seed"
	echo "fuzz: last operations: tail $out/fuzz.log; kernel log: $out/console.log"
	[ -f "$out/fuzz.log" ] && tail -n 30 "$out/fuzz.log" | sed 's/^/#   /'
fi
exit $rc
