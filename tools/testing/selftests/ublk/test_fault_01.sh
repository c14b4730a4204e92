#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Fault injection: ublk_fault makes the 1st, 2nd, ... slab allocation made
# on behalf of the driver fail (failslab + /proc/self/task/TID/fail-nth)
# inside ADD_DEV, SET_PARAMS, START_DEV, FETCH_REQ, REGISTER_IO_BUF and the
# automatic registration (with and without fallback), and checks that each
# command fails cleanly or works, with no half-made device left behind
# (kmemleak is scanned by the harness at the end of the run).
#
# Only allocations whose call stack passes through ublk_drv are counted
# (the failslab stack filter), and none under vmalloc, whose failure
# report (warn_alloc) would count as a kernel report. Page allocations
# (fail_page_alloc) are not injected for the same reason: the allocator
# prints a stack dump for every failed page allocation.
#
# make check samples nth = 1, 2, 3, 4, 6 per command; for the
# whole sweep set UBLK_FAULT_MAX=200 UBLK_FAULT_DENSE=8 (a few minutes).
. "$(dirname "$0")/test_common.sh"
_prep_test

fs=/sys/kernel/debug/failslab
fp=/sys/kernel/debug/fail_page_alloc
[ -d $fs ] || _skip "no $fs (kernel without CONFIG_FAILSLAB)"
[ -e $fs/require-start ] || _skip "no failslab stack filter (CONFIG_FAULT_INJECTION_STACKTRACE_FILTER)"
[ -x "$UBLK_FAULT" ] || _fail "ublk_fault not found at $UBLK_FAULT"
read -r _ _ _ _ _ base < <(grep '^ublk_drv ' /proc/modules)
size=$(awk '$1 == "ublk_drv" { print $2 }' /proc/modules)
[ -n "$base" ] && [ -n "$size" ] || _skip "ublk_drv is not a module"
vstart=$(awk '$3 == "__vmalloc_node_range_noprof" { print $1; exit }' /proc/kallsyms)
[ -n "$vstart" ] || _fail "__vmalloc_node_range_noprof not in /proc/kallsyms"
# the next symbol after it (same-length lowercase hex compares as text)
for n in 12 10; do
	vend=$(grep "^${vstart:0:$n}" /proc/kallsyms |
		awk -v s="$vstart" '$1 > s && (m == "" || $1 < m) { m = $1 } END { print m }')
	[ -n "$vend" ] && break
done
[ -n "$vend" ] || _fail "no symbol after __vmalloc_node_range_noprof"

# save, configure, restore at exit
saved=()
_set() { # file value
	saved+=("$1=$(cat "$1")")
	echo "$2" > "$1" || _fail "cannot write $2 to $1"
}
_restore() {
	local i
	for ((i = ${#saved[@]} - 1; i >= 0; i--)); do
		echo "${saved[$i]#*=}" > "${saved[$i]%%=*}"
	done
}
_on_exit _restore
_set $fs/probability 0
_set $fs/verbose 0
_set $fs/ignore-gfp-wait N
_set $fs/task-filter N
_set $fs/stacktrace-depth 32
# addresses as hex: the kernel halves are negative in shell arithmetic
_set $fs/require-start "$(printf '0x%x' $((base)))"
_set $fs/require-end "$(printf '0x%x' $((base + size)))"
_set $fs/reject-start "0x$vstart"
_set $fs/reject-end "0x$vend"
# never fail a page allocation: an impossible stack requirement
if [ -d $fp ]; then
	_set $fp/probability 0
	_set $fp/stacktrace-depth 1
	_set $fp/require-start 1
	_set $fp/require-end 2
fi

ids_before=$(_ublk_char_ids)
_on_exit '_adopt_new_devs "$ids_before"'
fails=0
for ph in add params start fetch regbuf autoreg autoreg_fb; do
	out=$UBLK_TEST_DIR/fault.$ph.out
	timeout 300 "$UBLK_FAULT" "$ph" "${UBLK_FAULT_MAX:-6}" \
		"${UBLK_FAULT_DENSE:-3}" 2>&1 | tee "$out"
	rc=${PIPESTATUS[0]}
	_log "$ph: $(tail -n 1 "$out") (rc $rc)"
	case $rc in
	0|4) ;;
	*) fails=$((fails + 1)) ;;
	esac
done
[ $fails = 0 ] || _fail "$fails phase(s) failed"
_pass
