#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Bad command line input is rejected by kublk itself, before the kernel.
. "$(dirname "$0")/test_common.sh"
_prep_test

for args in "" "-t nosuch" "-t null -q abc" "-t null --size 12x" \
	    "-t loop" "-t loop /nonexistent/file" "-t null -n -5" \
	    "-t null --max_io_buf 1000" "-t null -z --auto_zc"; do
	# shellcheck disable=SC2086
	if out=$("$KUBLK" add $args 2>&1); then
		_fail "'kublk add $args' succeeded: $out"
	fi
	[ -n "$out" ] || _fail "'kublk add $args' failed silently"
	_log "add $args: rejected: $(head -n1 <<<"$out")"
done
"$KUBLK" nosuchcmd >/dev/null 2>&1 && _fail "unknown command accepted"
"$KUBLK" del >/dev/null 2>&1 && _fail "del without -n accepted"
"$KUBLK" update_size -n 0 >/dev/null 2>&1 && _fail "update_size without -s accepted"
"$KUBLK" recover >/dev/null 2>&1 && _fail "recover without -n accepted"
"$KUBLK" help | grep -q "add -t" || _fail "help text missing"
_pass
