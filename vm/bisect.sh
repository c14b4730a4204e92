#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# make bisect: the series of `make series` builds at every step. On a
# worktree of the pristine base, the patches are applied one at a time
# with git am; after each one that touches kernel sources (not only
# tools/ or Documentation/), the minimal config is built (bzImage and
# modules, -Werror on the files the patch touches is not asked: warnings
# are `make lint`'s business). A patch that does not apply or does not
# build stops the run with its name. Prints TAP, one line per patch.
#
# Cost: one incremental build per kernel patch, ccache-backed; see the
# README ("Patch series") for the time measured here.
set -uo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD:-$top/build}
src=$build/src
series=${SERIES_OUT:-$top/results/series}
# src/ and kernel-min/ side by side as in $build, so that ccache (paths
# relative to CCACHE_BASEDIR) hits the objects of the usual minimal build.
wt=$build/bisect/src
out=$build/bisect/kernel-min

die() { echo "bisect: error: $*" >&2; exit 1; }
[ -d "$series" ] || die "no series in $series (make series)"
[ -f "$build/kernel-min/.config" ] || die "no minimal kernel config (make kernel-min)"

export CCACHE_DIR=${CCACHE_DIR:-$HOME/.cache/ccache}
export CCACHE_BASEDIR=$build/bisect
export CCACHE_NOHASHDIR=1
export KBUILD_BUILD_USER=ublk KBUILD_BUILD_HOST=harness
export KBUILD_BUILD_TIMESTAMP="2024-11-17"
cc=gcc
command -v ccache >/dev/null && cc="ccache gcc"
jobs=$(( $(nproc) + 1 ))
kmake() { make -s -C "$wt" O="$out" CC="$cc" HOSTCC="$cc" -j"$jobs" "$@"; }

git -C "$src" worktree prune
rm -rf "$wt"
mkdir -p "$build/bisect"
git -C "$src" worktree add -q --detach "$wt" base || die "cannot make a worktree of base"
trap 'git -C "$src" worktree remove --force "$wt" 2>/dev/null' EXIT
mkdir -p "$out"
cp "$build/kernel-min/.config" "$out/.config"
kmake olddefconfig >/dev/null || die "olddefconfig failed"

n=0
fail=0
start=$(date +%s)
for p in $(ls "$series"/*.patch | grep -v /0000-cover-letter.patch); do
	n=$((n + 1))
	name=$(basename "$p")
	if ! git -C "$wt" -c user.name=bisect -c user.email=bisect@localhost \
		am -q "$p" >/dev/null 2>&1; then
		git -C "$wt" am --abort 2>/dev/null
		echo "not ok $n $name # does not apply"
		fail=1
		break
	fi
	if ! sed -n 's|^+++ b/||p' "$p" | grep -qvE '^(tools|Documentation)/'; then
		echo "ok $n $name # no kernel sources touched"
		continue
	fi
	t0=$(date +%s)
	if log=$(kmake bzImage modules 2>&1); then
		echo "ok $n $name # built in $(( $(date +%s) - t0 ))s"
	else
		echo "not ok $n $name # build failed"
		grep -E 'error|Error' <<< "$log" | head -n 20 | sed 's/^/#   /'
		fail=1
		break
	fi
done
echo "# $n patch(es), $(( $(date +%s) - start ))s"
exit $fail
