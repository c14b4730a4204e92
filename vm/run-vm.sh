#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Boot a built kernel in QEMU (TCG, 2 vCPUs) with the host's root read-only
# over 9p, run a plan of tests in it (vm/guest-init), and turn the outcome
# into an exit status.
#
#   vm/run-vm.sh [-k min|debug] [-t TIMEOUT] [-o OUTDIR] [-v] [-q] PLAN
#
# PLAN lines: NAME<TAB>TIMEOUT<TAB>COMMAND (run as root in the guest, cwd /tmp).
# -v streams each test's output (make run); -q prints nothing but the summary.
# Exit status: 0 all passed, 1 a test failed or the kernel log has a report,
# 2 the guest hung (killed at TIMEOUT), 3 the guest died without finishing.
# Files in OUTDIR: console.log (serial console: the whole kernel log),
# tap (the results), logs/NAME.log (each test's output), dmesg.txt.
# VM_CLAIMS=DIR: a directory shared with other guests running the same
# plan; each test is run by the guest that claims it first (vm/guest-init).
# VM_MEM (4G), VM_CMDLINE (extra kernel parameters), VM_CPU (QEMU -cpu, max),
# VM_ACCEL (QEMU -accel, tcg,thread=multi), VM_QEMU_ARGS (more QEMU options,
# split at spaces; vm/bench.sh with BENCH_ICOUNT=1 sets them to count time
# in guest instructions).
set -uo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD:-$top/build}
flavour=debug
timeout=1800
outdir=
verbose=0
quiet=0
while getopts "k:t:o:vq" opt; do
	case $opt in
	k) flavour=$OPTARG ;;
	t) timeout=$OPTARG ;;
	o) outdir=$OPTARG ;;
	v) verbose=1 ;;
	q) quiet=1 ;;
	*) exit 64 ;;
	esac
done
shift $((OPTIND - 1))
plan=${1:?usage: run-vm.sh [-k flavour] [-t timeout] [-o outdir] [-v] PLAN}

kdir=$build/kernel-$flavour
[ -f "$kdir/bzImage" ] || { echo "run-vm: $kdir/bzImage missing (make kernel)" >&2; exit 3; }
outdir=${outdir:-$top/results/vm-$flavour}
rm -rf "$outdir"
mkdir -p "$outdir"
outdir=$(cd "$outdir" && pwd)
cp "$plan" "$outdir/plan"
ntests=$(grep -cvE '^(#|$)' "$outdir/plan")
kmemleak=0
[ "$flavour" = debug ] && kmemleak=1
cat > "$outdir/env" <<EOF
REPO='$top'
BUILD='$build'
MODROOT='$kdir/modroot'
KUBLK='$build/selftests/kublk'
VERBOSE=$verbose
KMEMLEAK=$kmemleak
CLAIMS=$([ -n "${VM_CLAIMS:-}" ] && echo 1 || echo 0)
EOF
claims_share=()
# A small NVMe namespace for the passthrough tests (debug kernels drive it).
nvme_img=$outdir/nvme.img
truncate -s 64M "$nvme_img"
nvme_dev=(-drive "file=$nvme_img,if=none,id=nvm,format=raw,cache=unsafe"
	  -device "nvme,serial=ublktest,drive=nvm")
[ -n "${VM_CLAIMS:-}" ] &&
	claims_share=(-virtfs "local,path=$VM_CLAIMS,mount_tag=claims,security_model=none,multidevs=remap")
: > "$outdir/guest.log"

mem=${VM_MEM:-4G}
cmdline="console=ttyS0 root=hostroot rootfstype=9p ro"
cmdline+=" rootflags=trans=virtio,version=9p2000.L,msize=262144,cache=loose"
cmdline+=" init=$top/vm/guest-init panic=-1 oops=panic_off"
# no_timer_check: on a loaded host TCG can miss the boot-time check that
# the IO-APIC timer ticks, and the kernel panics ("IO-APIC + timer doesn't
# work"); seen here with several guests at once.
cmdline+=" hung_task_panic=0 softlockup_panic=0 kasan.fault=report no_timer_check"
cmdline+=" kfence.sample_interval=10 ${VM_CMDLINE:-}"

say() { [ $quiet = 1 ] || echo "$@"; }
say "# booting $(cat "$kdir/release") ($flavour) under TCG, $ntests test(s), timeout ${timeout}s, logs in ${outdir#"$top"/}"

start=$(date +%s)
timeout --signal=KILL "$timeout" \
qemu-system-x86_64 -accel "${VM_ACCEL:-tcg,thread=multi}" -machine q35 -cpu "${VM_CPU:-max}" \
	-smp 2 -m "$mem" -display none -monitor none -no-reboot \
	-kernel "$kdir/bzImage" -append "$cmdline" \
	-serial "file:$outdir/console.log" \
	-serial "file:$outdir/guest.log" \
	-virtfs local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap \
	-virtfs local,path="$outdir",mount_tag=out,security_model=none,multidevs=remap \
	"${claims_share[@]}" "${nvme_dev[@]}" ${VM_QEMU_ARGS:-} \
	> "$outdir/qemu.log" 2>&1 &
qpid=$!
# Show the guest's results as they come.
if [ $quiet = 1 ]; then
	wait $qpid
	qrc=$?
else
	tail -n +1 -F "$outdir/guest.log" 2>/dev/null &
	tpid=$!
	wait $qpid
	qrc=$?
	sleep 0.5
	kill $tpid 2>/dev/null
	wait $tpid 2>/dev/null
fi
secs=$(( $(date +%s) - start ))
echo "$secs" > "$outdir/seconds"

# Verdict.
rc=0
if [ $qrc = 137 ] || [ $qrc = 124 ]; then
	echo "run-vm: TIMEOUT: guest killed after ${timeout}s (hung); last console lines:"
	tail -n 40 "$outdir/console.log" | sed 's/^/#   /'
	rc=2
elif [ ! -f "$outdir/rc" ]; then
	echo "run-vm: guest died before finishing (qemu exit $qrc); last console lines:"
	tail -n 40 "$outdir/console.log" | sed 's/^/#   /'
	cat "$outdir/qemu.log" | sed 's/^/#   qemu: /'
	rc=3
elif [ "$(cat "$outdir/rc")" != 0 ]; then
	rc=1
fi
# The whole kernel log, boot and teardown included, must be clean.
reports=$(grep -n -E -f "$top/vm/report-patterns" "$outdir/console.log" | head -n 20)
if [ -n "$reports" ]; then
	echo "run-vm: kernel report(s) in the guest's log (console.log):"
	echo "$reports" | sed 's/^/#   /'
	first=$(echo "$reports" | head -n1 | cut -d: -f1)
	echo "# context:"
	sed -n "$(( first > 5 ? first - 5 : 1 )),$(( first + 40 ))p" "$outdir/console.log" | sed 's/^/#   /'
	[ $rc = 0 ] && rc=1
fi
echo "$rc" > "$outdir/verdict"
say "# guest ran ${secs}s, verdict $rc"
exit $rc
