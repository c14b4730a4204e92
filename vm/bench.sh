#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# make bench: boot our minimal kernel (build/kernel-min) and the pristine
# base 6.12 kernel (build/kernel-base, vm/build-base-kernel.sh) once each,
# run the case table of bench/cases.py in each (bench/guest-bench.py: fio,
# io_uring, O_DIRECT, every case BENCH_REPS times, interleaved), then
# bench/report.py: table on stdout, results/bench/{report.md,results.json,
# chart.png}, and one `ratio NAME VALUE` line per headline ratio at the end.
#
# Knobs (environment):
#   BENCH_RUNTIME=3  BENCH_RAMP=1  seconds of fio per run (after the ramp)
#   BENCH_REPS=3                    runs per case (the report takes medians)
#   BENCH_CASES=REGEX               only cases whose GROUP/WORKLOAD/TARGET
#                                   id matches (e.g. 'null/randread-4k-qd64/')
#   BENCH_BASE_CASES=REGEX          the same for the base boot; by default
#                                   the null group in the modes the base
#                                   driver has (and null_blk, which
#                                   normalises the cross-boot ratio)
#   BENCH_BOOTS="min base"          kernel flavours to boot (min = ours)
#   BENCH_NULLBLK="null_blk.…"      null_blk module parameters (kernel cmdline)
#   BENCH_REPORT_ONLY=1             redo the report from the last boots' data
#   BENCH_ICOUNT=1                  count time in guest instructions: one
#                                   vCPU thread, -icount shift=2,sleep=on
#                                   (1 instruction = 4 ns of guest time;
#                                   only a guest with both vCPUs idle sees
#                                   real time pass, which fio runs on null,
#                                   loop and nbd never are). Every figure
#                                   is then an instruction cost per I/O,
#                                   blind to what runs in parallel on the
#                                   two vCPUs. Our 4K cases repeat to 0.3%
#                                   whatever the host is doing; the 64K and
#                                   512K ones move by up to 20% between
#                                   boots, null_blk's too, so not because
#                                   of a driver (not explained yet): the
#                                   medians of 3 reps still count.
#                                   Runs of 2 s, in results/bench-icount/.
#   BENCH_CPU=max,erms=off          QEMU -cpu of both boots. ERMS is off
#                                   because TCG emulates `rep movsb` one
#                                   byte per step: with it, copy_to_user()
#                                   (rep movsb on ERMS CPUs) runs ~4x slower
#                                   than memcpy() (unrolled moves without
#                                   FSRM), which no real CPU does and which
#                                   decides any copy-mode comparison
#                                   (measured: README, "Copy modes under TCG")
# Exit status: 0 when both boots ran every case and every ratio was
# computed (the goals are reported, not asserted), else 1.
set -uo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD:-$top/build}
icount=${BENCH_ICOUNT:-}
out=$top/results/bench
runtime=${BENCH_RUNTIME:-3}
tmo_scale=1
if [ -n "$icount" ]; then
	out=$top/results/bench-icount
	runtime=${BENCH_RUNTIME:-2}
	# one host thread runs both vCPUs: a guest second costs more
	tmo_scale=4
	export VM_ACCEL=tcg,thread=single
	export VM_QEMU_ARGS='-icount shift=2,sleep=on'
fi
ramp=${BENCH_RAMP:-1}
reps=${BENCH_REPS:-3}
only=${BENCH_CASES:-}
boots=${BENCH_BOOTS:-min base}
cpu=${BENCH_CPU:-max,erms=off}
# irqmode=0: completions in the submitter's context (null_blk's fastest);
# two submit queues for the 2-queue case; the depth and the 512K maximum
# I/O of the ublk devices (null_blk would split 512K I/O at 127K).
nullblk=${BENCH_NULLBLK:-null_blk.queue_mode=2 null_blk.irqmode=0 null_blk.submit_queues=2 null_blk.hw_queue_depth=128 null_blk.max_sectors=1024}
py=python3
command -v /usr/bin/python3 >/dev/null && py=/usr/bin/python3

label_of() { case $1 in min) echo ours ;; base) echo base ;; *) echo "$1" ;; esac; }

mkdir -p "$out"
rc=0
start=$(date +%s)
if [ -z "${BENCH_REPORT_ONLY:-}" ]; then
	rm -f "$out"/report.md "$out"/results.json "$out"/chart.* "$out"/bench.out
	for flavour in $boots; do
		label=$(label_of "$flavour")
		kdir=$build/kernel-$flavour
		if [ ! -f "$kdir/bzImage" ]; then
			echo "bench: $kdir/bzImage missing (make kernel-min / vm/build-base-kernel.sh)" >&2
			rc=1
			continue
		fi
		sel=$only
		[ "$label" = base ] &&
			sel=${BENCH_BASE_CASES:-${only:-'^null/[^/]*/(null_blk|ublk_copy|ublk_user)$'}}
		nruns=$($py "$top/bench/guest-bench.py" --count --reps "$reps" --only "$sel")
		# fio start-up and device set-up cost a few seconds a run under TCG.
		tmo=$(awk -v n="$nruns" -v r="$runtime" -v p="$ramp" -v s="$tmo_scale" \
			'BEGIN { printf "%d", (n * (r + p + 6) + 300) * s }')
		plan=$out/plan-$label
		printf 'bench_%s\t%s\t%s\n' "$label" "$tmo" \
			"$(printf '%q ' "$py" "$top/bench/guest-bench.py" --label "$label" \
				--runtime "$runtime" --ramp "$ramp" --reps "$reps" \
				--only "$sel" --out /run/out/bench.jsonl)" > "$plan"
		echo "# bench: $label kernel $(cat "$kdir/release"), up to $nruns fio runs of ${runtime}s+${ramp}s"
		VM_CPU=$cpu VM_CMDLINE="$nullblk ${VM_CMDLINE:-}" \
			"$top/vm/run-vm.sh" -k "$flavour" -v -t $((tmo + 300)) \
			-o "$out/boot-$label" "$plan"
		vrc=$?
		if [ $vrc != 0 ]; then
			echo "bench: the $label boot ended with status $vrc (see results/bench/boot-$label/)" >&2
			rc=1
		fi
	done
fi

meta=(--meta "base version=$(cat "$build/base-version" 2>/dev/null || echo unknown)"
      --meta "config=configs/minimal.config (sha256 $(sha256sum "$top/configs/minimal.config" | cut -c1-12)), no debug options, both kernels"
      --meta "host=$(nproc) CPU(s), $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n1); $(qemu-system-x86_64 --version | head -n1), -cpu $cpu")
[ -z "${BENCH_REPORT_ONLY:-}" ] && meta+=(--meta "wall time=$(( $(date +%s) - start ))s for the boots")
[ -n "$only" ] && meta+=(--partial)
[ -n "$icount" ] && meta+=(--meta "time=guest instructions (QEMU -accel $VM_ACCEL $VM_QEMU_ARGS): figures are costs per I/O, not speeds")
jsonl=()
for flavour in $boots; do jsonl+=("$out/boot-$(label_of "$flavour")/bench.jsonl"); done
$py "$top/bench/report.py" --outdir "$out" "${meta[@]}" "${jsonl[@]}" | tee "$out/bench.out"
[ "${PIPESTATUS[0]}" = 0 ] || rc=1
exit $rc
