#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# make lint: kernel style of our work, as TAP lines.
#   - checkpatch --strict on every patch of patches/series and on the
#     kernel files of the overlay: 0 errors, 0 warnings (CHECKs are listed;
#     the ones we keep are explained in vm/lint-checks-kept), and on the
#     selftests' C (vm/lint-checks-kept-selftests);
#   - a W=1 + sparse (C=1) build of the objects we touch: no diagnostics
#     in our driver, none new in the io_uring files (compared with the
#     same objects built from the pristine base);
#   - kernel-doc on the functions we export, -Wall clean;
#   - Documentation/block/ublk.rst through the kernel's sphinx build.
# Needs the prepared tree and a configured build dir (make kernel-min).
# LINT_TAP_OFFSET numbers the lines after earlier ones (make check).
set -uo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD:-$top/build}
src=$build/src
kout=$build/kernel-${LINT_FLAVOUR:-min}
n=${LINT_TAP_OFFSET:-0}
pass=0
fail=0
ok() { n=$((n + 1)); pass=$((pass + 1)); echo "ok $n $*"; }
notok() { n=$((n + 1)); fail=$((fail + 1)); echo "not ok $n $*"; }
cp_flags=(--strict --no-tree --quiet --show-types --color=never)
checkpatch="$src/scripts/checkpatch.pl"
kept=$top/vm/lint-checks-kept

# 1. checkpatch on each patch and on our files.
judge() { # name output
	local e w c
	e=$(grep -c '^ERROR:' <<< "$2")
	w=$(grep -c '^WARNING:' <<< "$2")
	c=$(grep '^CHECK:' <<< "$2" | sed 's/^CHECK:\([A-Z_]*\):.*/\1/' | sort -u)
	local unexplained=
	for t in $c; do
		grep -q "^$t\b" "$kept" 2>/dev/null || unexplained+=" $t"
	done
	if [ "$e" = 0 ] && [ "$w" = 0 ] && [ -z "$unexplained" ]; then
		ok "checkpatch $1${c:+ # kept CHECKs: $(echo $c)}"
	else
		notok "checkpatch $1 # $e error(s), $w warning(s)${unexplained:+, unexplained CHECKs:$unexplained}"
		grep -E -A3 '^(ERROR|WARNING|CHECK):' <<< "$2" | head -n 40 | sed 's/^/#   /'
	fi
}
if [ -f "$top/patches/series" ]; then
	while read -r p; do
		case "$p" in ''|'#'*) continue ;; esac
		judge "patches/$p" "$("$checkpatch" "${cp_flags[@]}" "$top/patches/$p" 2>&1)"
	done < "$top/patches/series"
fi
for f in $(cd "$top" && ls drivers/block/ublk/*.[ch]) include/uapi/linux/ublk_cmd.h; do
	[ -f "$top/$f" ] || continue
	judge "$f" "$(cd "$top" && "$checkpatch" "${cp_flags[@]}" -f "$f" 2>&1)"
done
# The selftests' C (userspace: a few CHECKs that only make sense in the
# kernel are kept, see vm/lint-checks-kept-selftests).
kept=$top/vm/lint-checks-kept-selftests
st=tools/testing/selftests/ublk
st_out=
for f in "$top/$st"/*.[ch]; do
	st_out+=$(cd "$top" && "$checkpatch" "${cp_flags[@]}" -f "$st/$(basename "$f")" 2>&1)
	st_out+=$'\n'
done
judge "$st/*.[ch]" "$st_out"
rm -f "$top/$st/.checkpatch-camelcase".*

# 2. W=1 and sparse on the objects we touch.
objs=$(cd "$top" && ls drivers/block/ublk/*.c | sed 's/\.c$/.o/' | xargs)
for p in $(grep -v '^#' "$top/patches/series" 2>/dev/null); do
	sed -n 's|^+++ b/\(.*\)\.c$|\1.o|p' "$top/patches/$p"
done | sort -u > "$build/lint-objs"
objs="$objs $(grep -v '^drivers/block/ublk/' "$build/lint-objs" | xargs)"

diags() { # build dir -> diagnostics for $objs, one per line, without paths' prefixes
	local o
	for o in $objs; do
		rm -f "$1/$o"
		make -s -C "$2" O="$1" W=1 C=1 CC="${LINT_CC:-gcc}" "$o" 2>&1 |
			grep -E '(warning|error):' |
			sed -e "s|$2/||g" -e 's|^\.\./src/||' -e 's|:[0-9]*:[0-9]*:|:|'
	done | sort
}
[ -f "$kout/.config" ] || { notok "build_w1_sparse # no configured kernel in $kout (make kernel-min)"; echo "$pass passed, $fail failed"; exit 1; }
ours=$(diags "$kout" "$src")
# The pristine base, same config, for the io_uring objects' old noise.
base_out=$build/lint-base
if [ ! -f "$base_out/.config" ] || ! cmp -s "$kout/.config" "$base_out/.config"; then
	rm -rf "$build/lint-src"
	git -C "$src" worktree prune
	git -C "$src" worktree add -q --detach "$build/lint-src" base
	mkdir -p "$base_out"
	cp "$kout/.config" "$base_out/.config"
	make -s -C "$build/lint-src" O="$base_out" olddefconfig >/dev/null
	make -s -C "$build/lint-src" O="$base_out" prepare >/dev/null 2>&1
fi
theirs=$(objs=$(grep -v '^drivers/block/' "$build/lint-objs" | xargs) diags "$base_out" "$build/lint-src")
new=$(comm -23 <(echo "$ours" | grep .) <(echo "$theirs" | grep .))
if [ -z "$new" ]; then
	ok "build_w1_sparse # $(echo $objs | wc -w) objects, no new diagnostics"
else
	notok "build_w1_sparse # $(echo "$new" | wc -l) new diagnostic(s)"
	echo "$new" | head -n 30 | sed 's/^/#   /'
fi

# 3. kernel-doc: every function our patches or driver export has a
# kernel-doc comment, and scripts/kernel-doc -Wall finds nothing in the
# files that carry them.
kd_fail=
kd_n=0
for f in $( (cd "$top" && grep -l '^+EXPORT_SYMBOL' patches/*.patch | xargs -r sed -n 's|^+++ b/||p'
	cd "$top" && ls drivers/block/ublk/*.[ch]) | sort -u); do
	[ -f "$src/$f" ] || continue
	w=$("$src/scripts/kernel-doc" -none -Wall "$src/$f" 2>&1)
	[ -z "$w" ] || kd_fail+=" $f: $(echo "$w" | head -n 3 | tr '\n' ' ')"
	for sym in $(sed -n 's/^EXPORT_SYMBOL\(_GPL\)\{0,1\}(\([a-z0-9_]*\));/\2/p' "$src/$f"); do
		# only the symbols our series adds (the base's are not ours to judge)
		git -C "$src" show "base:$f" 2>/dev/null | grep -q "EXPORT_SYMBOL.*($sym)" && continue
		kd_n=$((kd_n + 1))
		doc=$("$src/scripts/kernel-doc" -rst -function "$sym" "$src/$f" 2>/dev/null)
		[ -n "$doc" ] || kd_fail+=" $sym: no kernel-doc"
	done
done
if [ -z "$kd_fail" ]; then
	ok "kernel_doc # $kd_n exported function(s) documented, -Wall clean"
else
	notok "kernel_doc #$kd_fail"
fi

# 4. Documentation/block/ublk.rst in the kernel's own docs build (sphinx
# from Debian): no warning or error that points at it.
if command -v sphinx-build >/dev/null; then
	docs_out=$build/docs
	touch "$src/Documentation/block/ublk.rst"
	dlog=$(make -s -C "$src" O="$docs_out" SPHINXDIRS=block htmldocs 2>&1)
	drc=$?
	bad=$(grep -E 'ublk\.rst.*(WARNING|ERROR|CRITICAL|SEVERE)' <<< "$dlog")
	if [ $drc = 0 ] && [ -z "$bad" ] &&
	   [ -s "$docs_out/Documentation/output/block/ublk.html" ]; then
		ok "sphinx_ublk_rst # htmldocs SPHINXDIRS=block, no warnings"
	else
		notok "sphinx_ublk_rst # rc $drc"
		{ echo "$bad"; [ $drc = 0 ] || echo "$dlog" | tail -n 10; } | head -n 20 | sed 's/^/#   /'
	fi
else
	notok "sphinx_ublk_rst # sphinx-build missing (python3-sphinx)"
fi

[ -n "${LINT_TAP_OFFSET:-}" ] || echo "$pass passed, $fail failed"
[ $fail = 0 ]
