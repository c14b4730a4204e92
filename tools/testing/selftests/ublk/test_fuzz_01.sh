#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Fuzz, short and reproducible: ublk_fuzz with a few fixed seeds and a fixed
# number of steps each (random control and I/O commands, buffer table
# misuse, killed servers, block I/O; see ublk_fuzz.c).  Each run must end
# with every device it made deleted; any kernel report fails the test (the
# harness checks the kernel log).  A failure prints the seed: replay it with
# "ublk_fuzz --seed N --iters N".
. "$(dirname "$0")/test_common.sh"
_prep_test

[ -x "$UBLK_FUZZ" ] || _fail "ublk_fuzz not found at $UBLK_FUZZ"
: "${UBLK_FUZZ_SEEDS:=1 7}"
: "${UBLK_FUZZ_ITERS:=150}"
ids_before=$(_ublk_char_ids)
_on_exit '_adopt_new_devs "$ids_before"'
for s in $UBLK_FUZZ_SEEDS; do
	out=$UBLK_TEST_DIR/fuzz.$s.out
	timeout 120 "$UBLK_FUZZ" --seed "$s" --iters "$UBLK_FUZZ_ITERS" > "$out" 2>&1
	rc=$?
	tail -n 3 "$out"
	case $rc in
	0) ;;
	4) _skip "ublk_fuzz: $(sed -n 's/^SKIP: //p' "$out" | tail -n1)" ;;
	*)	tail -n 60 "$out"
		_fail "ublk_fuzz --seed $s --iters $UBLK_FUZZ_ITERS failed (rc $rc)" ;;
	esac
	ids_now=$(_ublk_char_ids)
	[ "$ids_now" = "$ids_before" ] ||
		_fail "seed $s: devices left behind: before [$ids_before] after [$ids_now]"
done
_pass
