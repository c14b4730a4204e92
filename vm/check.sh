#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# make check: the test suite on the debug kernel, as TAP, closing with
# "N passed, N failed".
#   1. the harness's own teeth: a guest that provokes a kernel WARNING must
#      fail its run with the report shown; a guest that hangs must be killed
#      at the timeout and reported;
#   2. two boots (CHECK_SHARDS=2) sharing every test (vm/tests/*.sh, then
#      the ublk selftests) between them, each test with its own timeout and
#      kernel-log check, then kmemleak in each;
#   3. the whole kernel log of each boot scanned for reports.
# While the guests of 1 run, vm/lint.sh checks the kernel style of our work.
#
# Step 2 leaves out the tests listed in vm/check-extended (variants of
# what other tests cover, see there) unless CHECK_FULL=1 (make check-full).
# TESTS="pattern ..." limits step 2 to tests whose names match a glob (the
# list does not apply then) and skips step 1 (e.g. make check
# TESTS='test_loop_*').
set -uo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD:-$top/build}
flavour=${FLAVOUR:-debug}
results=$top/results
tests=${TESTS:-}
test_timeout=${TEST_TIMEOUT:-300}
mkdir -p "$results"

n=0
pass=0
fail=0
ok() { n=$((n + 1)); pass=$((pass + 1)); echo "ok $n $*"; }
notok() { n=$((n + 1)); fail=$((fail + 1)); echo "not ok $n $*"; }

one_plan() { # name timeout command...
	local name=$1 tmo=$2
	shift 2
	printf '%s\t%s\t%s\n' "$name" "$tmo" "$*"
}

# 1. The harness proves its own teeth: two guests, started now and judged
# after the lint below (the hung one idles until it is killed at 150 s).
if [ -z "$tests" ]; then
	plan=$results/plan-warn
	one_plan harness_provoke_warning 120 \
		"echo WARNING > /sys/kernel/debug/provoke-crash/DIRECT" > "$plan"
	"$top/vm/run-vm.sh" -k "$flavour" -q -t 600 -o "$results/selftest-warn" \
		"$plan" > "$results/selftest-warn.out" 2>&1 &
	warn_pid=$!
	plan=$results/plan-hang
	one_plan harness_hang 100000 "sleep 100000" > "$plan"
	"$top/vm/run-vm.sh" -k "$flavour" -q -t 150 -o "$results/selftest-hang" \
		"$plan" > "$results/selftest-hang.out" 2>&1 &
	hang_pid=$!
fi

# Kernel style (vm/lint.sh): checkpatch, W=1 and sparse.
if [ -z "$tests" ]; then
	lint_out=$(LINT_FLAVOUR=$flavour LINT_TAP_OFFSET=$n "$top/vm/lint.sh" 2>&1)
	echo "$lint_out"
	n=$(( n + $(grep -cE '^(ok|not ok) ' <<< "$lint_out") ))
	pass=$(( pass + $(grep -c '^ok ' <<< "$lint_out") ))
	fail=$(( fail + $(grep -c '^not ok ' <<< "$lint_out") ))
fi

if [ -z "$tests" ]; then
	wait $warn_pid
	rc=$?
	out=$(cat "$results/selftest-warn.out")
	if [ $rc = 1 ] && grep -q 'WARNING:' <<< "$out" &&
	   grep -q 'not ok 1 harness_provoke_warning # kernel report' "$results/selftest-warn/tap"; then
		ok "harness_detects_kernel_warning # run failed (exit $rc) and showed the report"
	else
		notok "harness_detects_kernel_warning # exit $rc"
		echo "$out" | tail -n 30 | sed 's/^/#   /'
	fi
	wait $hang_pid
	rc=$?
	out=$(cat "$results/selftest-hang.out")
	if [ $rc = 2 ] && grep -q 'TIMEOUT' <<< "$out"; then
		ok "harness_kills_hung_guest # killed at the timeout and reported (exit $rc)"
	else
		notok "harness_kills_hung_guest # exit $rc"
		echo "$out" | tail -n 30 | sed 's/^/#   /'
	fi
fi

# 2. The suite, in one boot.
plan=$results/plan-check
: > "$plan"
extended=" $(sed -e 's/#.*//' "$top/vm/check-extended" 2>/dev/null | xargs) "
n_ext=0
want() { # name
	if [ -z "$tests" ]; then
		[ "${CHECK_FULL:-0}" = 1 ] && return 0
		case "$extended" in *" $1 "*)
			n_ext=$((n_ext + 1))
			return 1 ;;
		esac
		return 0
	fi
	local - p
	set -f	# the patterns are for test names, not files here
	for p in $tests; do
		# shellcheck disable=SC2254
		case "$1" in $p) return 0 ;; esac
	done
	return 1
}
for t in "$top"/vm/tests/*.sh; do
	name=$(basename "$t" .sh)
	want "$name" && one_plan "$name" "$test_timeout" "bash $t" >> "$plan"
done
stdir=$build/src/tools/testing/selftests/ublk
for t in "$stdir"/test_*.sh; do
	[ -e "$t" ] || continue
	name=$(basename "$t" .sh)
	[ "$name" = test_common ] && continue	# the helpers, not a test
	want "$name" && one_plan "$name" "$test_timeout" \
		"cd $stdir && KUBLK=$build/selftests/kublk UBLK_BUILD=$build/selftests bash ./$name.sh" >> "$plan"
done
nplan=$(grep -c . "$plan")
[ "$n_ext" = 0 ] ||
	echo "# $n_ext extended test(s) left to make check-full (vm/check-extended)"
# Test scripts are mostly sequential: one guest leaves a core idle. Two
# guests (CHECK_SHARDS) take the tests of one plan from a shared claims
# directory, each test in whichever guest is free first.
shards=${CHECK_SHARDS:-2}
[ "$nplan" -lt 2 ] && shards=1
if [ "$nplan" = 0 ]; then
	notok "select_tests # no test matches TESTS='$tests'"
else
	claims=$results/check-claims
	rm -rf "$claims" "$results"/check-[0-9]* "$results/check"
	mkdir -p "$claims"
	pids=()
	outs=()
	for ((i = 1; i <= shards; i++)); do
		vm_out=$results/check
		[ "$shards" = 1 ] || vm_out=$results/check-$i
		outs+=("$vm_out")
		VM_CLAIMS=$claims "$top/vm/run-vm.sh" -k "$flavour" \
			-t "${CHECK_TIMEOUT:-3600}" -o "$vm_out" "$plan" \
			> "$vm_out.out" 2>&1 &
		pids+=($!)
	done
	# Number the guests' TAP lines after ours, pass the rest through.
	( for p in "${pids[@]}"; do
		while kill -0 "$p" 2>/dev/null; do sleep 1; done
	  done ) &
	waiter=$!
	sleep 1
	tail -q -n +1 -F --pid=$waiter "${outs[@]/%/.out}" 2>/dev/null |
	while IFS= read -r line; do
		if [[ $line =~ ^(not\ ok|ok)\ ([0-9]+)\ (.*)$ ]]; then
			n=$((n + 1))
			echo "${BASH_REMATCH[1]} $n ${BASH_REMATCH[3]}"
		else
			echo "$line"
		fi
	done
	for ((i = 0; i < shards; i++)); do
		wait "${pids[i]}"
		rcs[i]=$?
	done
	wait $waiter 2>/dev/null
	# Count what the guests reported; tests none reported failed.
	seen=0
	cnt() { # file grep-args...: matching lines, 0 without the file
		local f=$1
		shift
		if [ -f "$f" ]; then grep -c "$@" "$f"; else echo 0; fi
	}
	for ((i = 0; i < shards; i++)); do
		tap=${outs[i]}/tap
		g_pass=$(cnt "$tap" '^ok ')
		g_fail=$(cnt "$tap" '^not ok ')
		n=$(( n + g_pass + g_fail ))
		pass=$(( pass + g_pass ))
		fail=$(( fail + g_fail ))
		seen=$(( seen + g_pass + g_fail - $(cnt "$tap" -E '^(ok|not ok) [0-9]+ kmemleak') ))
	done
	if [ "$seen" -lt "$nplan" ]; then
		notok "tests_not_reported # $(( nplan - seen )) test(s) never reported: a guest hung or died (exit ${rcs[*]})"
	fi
	for ((i = 0; i < shards; i++)); do
		name=kernel_log_clean
		[ "$shards" = 1 ] || name="kernel_log_clean_$((i + 1))"
		if grep -q 'kernel report(s) in the guest' "${outs[i]}.out"; then
			notok "$name # see ${outs[i]}/console.log"
		else
			ok "$name # $(cat "${outs[i]}/seconds" 2>/dev/null)s in the guest"
		fi
	done
fi

echo "$pass passed, $fail failed"
[ $fail = 0 ]
