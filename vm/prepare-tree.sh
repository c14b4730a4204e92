#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Prepare the kernel source tree: Debian's linux-source-6.12 unpacked into
# build/src as a git repository whose first commit is the pristine base, then
# our patch series (patches/series) and our overlay (the files that are wholly
# ours, at their kernel paths) as commits on top.
#
# The new series is assembled with git plumbing in a private index, without
# touching the work tree; the work tree is then moved to it with one
# `git reset --hard`, which rewrites only the files whose content changed.
# That keeps make's incremental build incremental: a one-line driver change
# rebuilds one object.
#
# Usage: vm/prepare-tree.sh            (uses $BUILD, default ./build)
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD:-$top/build}
src=$build/src
tarball=${BASE_TARBALL:-/usr/src/linux-source-6.12.tar.xz}
pkg=linux-source-6.12

# Directories of the repo that are kernel paths and go into the overlay.
overlay_dirs="drivers include io_uring block Documentation tools"
owned_dirs="tools/testing/selftests/ublk"
# Base files that ours replace under another name: removed with the overlay.
replaced_files="drivers/block/ublk_drv.c"

die() { echo "prepare-tree: error: $*" >&2; exit 1; }

[ -r "$tarball" ] || die "$tarball missing (apt-get install $pkg)"
base_version=$(dpkg-query -W -f '${Version}' "$pkg" 2>/dev/null || echo unknown)

export GIT_AUTHOR_NAME="ublk harness" GIT_AUTHOR_EMAIL="ublk-harness@localhost"
export GIT_COMMITTER_NAME="ublk harness" GIT_COMMITTER_EMAIL="ublk-harness@localhost"
export GIT_AUTHOR_DATE="2024-11-17T00:00:00 +0000"
export GIT_COMMITTER_DATE="$GIT_AUTHOR_DATE"
g() { git -C "$src" -c core.autocrlf=false -c gc.auto=0 "$@"; }

# 1. The pristine base, once per base version.
if ! g rev-parse -q --verify refs/tags/base >/dev/null 2>&1 ||
   [ "$(cat "$src/.base-version" 2>/dev/null)" != "$base_version" ]; then
	echo "prepare-tree: unpacking $pkg $base_version into $src"
	rm -rf "$src" "$src.tmp"
	mkdir -p "$src.tmp"
	tar -C "$src.tmp" --strip-components=1 -xJf "$tarball"
	mv "$src.tmp" "$src"
	g init -q
	# ~80k loose objects: keep git from repacking behind our back.
	g config gc.auto 0
	# Debian's .gitignore ignores everything at the top level: force.
	g add -A -f
	g commit -q -m "Linux $base_version (Debian $pkg), pristine base"
	g tag base
	echo "$base_version" > "$src/.base-version"
	echo "$base_version" > "$build/base-version"
fi
echo "$base_version" > "$build/base-version"

# 2. Fingerprint of what we would apply; nothing to do when unchanged.
fp=$( { echo "$base_version"
	[ -f "$top/patches/series" ] && cat "$top/patches/series"
	while read -r p; do
		case "$p" in ''|'#'*) continue;; esac
		cat "$top/patches/$p"
	done < <(cat "$top/patches/series" 2>/dev/null)
	cd "$top" && git ls-files -co --exclude-standard $overlay_dirs 2>/dev/null |
		sort | while read -r f; do [ -f "$f" ] && { echo "$f"; cat "$f"; }; done
      } | sha256sum | cut -d' ' -f1)
if [ "$(cat "$src/.series-fp" 2>/dev/null)" = "$fp" ] &&
   [ -z "$(g status --porcelain --untracked-files=no)" ]; then
	echo "prepare-tree: $src up to date (base $base_version)"
	exit 0
fi

# 3. Build the series in a private index, starting from the base.
idx=$(mktemp "$build/.index.XXXXXX")
msg=$(mktemp "$build/.msg.XXXXXX")
pdir=$(mktemp -d "$build/.patch.XXXXXX")
trap 'rm -rf "$idx" "$msg" "$pdir"' EXIT
export GIT_INDEX_FILE=$idx
g read-tree base
head=$(g rev-parse base)
n=0
if [ -f "$top/patches/series" ]; then
	while read -r p; do
		case "$p" in ''|'#'*) continue;; esac
		f=$top/patches/$p
		[ -f "$f" ] || die "patches/series names $p, which does not exist"
		n=$((n + 1))
		info=$(g mailinfo "$msg" "$pdir/diff" < "$f") ||
			die "patches/$p is not a mail-formatted patch (git format-patch)"
		subject=$(sed -n 's/^Subject: //p' <<< "$info")
		author=$(sed -n 's/^Author: //p' <<< "$info")
		email=$(sed -n 's/^Email: //p' <<< "$info")
		if ! out=$(g apply --cached --whitespace=nowarn "$pdir/diff" 2>&1); then
			echo "$out" >&2
			die "patch $n ($p) does not apply to $pkg $base_version${n:+ after the patches before it}"
		fi
		tree=$(g write-tree)
		head=$(printf '%s\n\n%s\n' "$subject" "$(cat "$msg")" |
		       GIT_AUTHOR_NAME="${author:-ublk}" GIT_AUTHOR_EMAIL="${email:-ublk@localhost}" \
		       g commit-tree "$tree" -p "$head")
	done < "$top/patches/series"
fi

# 4. The overlay: files that are wholly ours replace the base's. Directories
# that are wholly ours lose whatever the base had in them, and the base's
# files that ours replace under another name go (the base's ublk_drv.c:
# our driver lives in drivers/block/ublk/, patches/0010 builds it there).
for d in $owned_dirs; do
	[ -d "$top/$d" ] && g rm -r -q -f --cached --ignore-unmatch "$d" >/dev/null
done
for f in $replaced_files; do
	[ -e "$top/$f" ] || g rm -q -f --cached --ignore-unmatch "$f" >/dev/null
done
files=$(cd "$top" && git ls-files -co --exclude-standard $overlay_dirs 2>/dev/null | sort)
if [ -n "$files" ]; then
	while read -r f; do
		[ -f "$top/$f" ] || continue
		mode=100644
		[ -x "$top/$f" ] && mode=100755
		blob=$(g hash-object -w --path="$f" "$top/$f")
		g update-index --add --cacheinfo "$mode,$blob,$f"
	done <<< "$files"
	tree=$(g write-tree)
	if [ "$tree" != "$(g rev-parse "$head^{tree}")" ]; then
		head=$(printf '%s\n\n%s\n' "ublk: our driver, UAPI header, selftests and documentation" \
			"Overlay of the files that are wholly ours, at their kernel paths." |
			g commit-tree "$tree" -p "$head")
	fi
fi
unset GIT_INDEX_FILE

# 5. Move the work tree; only changed files get new mtimes.
g reset -q --hard "$head"
g update-ref refs/heads/ours "$head"
echo "$fp" > "$src/.series-fp"
echo "prepare-tree: $src = base $base_version + $n patch(es) + overlay ($(g rev-parse --short HEAD))"
