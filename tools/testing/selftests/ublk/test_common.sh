#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Helpers shared by the ublk test scripts.  A test sources this file, calls
# _prep_test, adds devices with _add_dev (they are deleted by the EXIT trap
# whatever happens), asserts with _fail/_check_*, and ends with _pass.
#
# Environment: KUBLK (path of the kublk binary; default: next to this file),
# TMPDIR (scratch, default /tmp).  Exit codes: 0 pass, 4 skip, other fail.

UBLK_SKIP=4
: "${TMPDIR:=/tmp}"
export TMPDIR
UBLK_SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
: "${KUBLK:=$UBLK_SCRIPT_DIR/kublk}"
: "${UBLK_BADINPUT:=$(dirname "$KUBLK")/ublk_badinput}"
: "${UBLK_ZC_MISUSE:=$(dirname "$KUBLK")/ublk_zc_misuse}"
: "${UBLK_ZC_MORE:=$(dirname "$KUBLK")/ublk_zc_more}"
: "${UBLK_FIXEDBUF:=$(dirname "$KUBLK")/ublk_fixedbuf}"
: "${UBLK_FUZZ:=$(dirname "$KUBLK")/ublk_fuzz}"
: "${UBLK_FAULT:=$(dirname "$KUBLK")/ublk_fault}"
TEST_NAME=$(basename "$0" .sh)
UBLK_TEST_DIR=
UBLK_DEV_ID=
_UBLK_DEVS=()
_UBLK_PIDS=()
_UBLK_CLEANUP=()
_UBLK_MOUNTS=()
_UBLK_CTRL_MODE=

# unprivileged users provided by the harness
UBLK_USER1=1001
UBLK_USER2=1002

# Every program started costs a fork and an exec, slow on a debug kernel
# under emulation: the helpers below use bash builtins where they can.

# _sleep SECONDS: sleep without starting a process (read on a pipe that
# never gets data times out)
_UBLK_SLEEP_FD=
_sleep() {
	if [ -z "$_UBLK_SLEEP_FD" ]; then
		exec {_UBLK_SLEEP_FD}<> <(:)
	fi
	read -r -t "$1" -u "$_UBLK_SLEEP_FD" _
	return 0
}

_log() { echo "[$TEST_NAME] $*"; }
_fail() {
	echo "FAIL: $TEST_NAME: $*"
	exit 1
}
_skip() {
	echo "SKIP: $TEST_NAME: $*"
	exit $UBLK_SKIP
}
_pass() {
	echo "PASS: $TEST_NAME"
	exit 0
}

# run a command as an unprivileged user: _as_user UID cmd...
_as_user() {
	local uid=$1
	shift
	setpriv --reuid="$uid" --regid="$uid" --clear-groups "$@"
}

_dump_logs() {
	local f
	for f in "$UBLK_TEST_DIR"/state/*.log; do
		[ -s "$f" ] || continue
		echo "---- daemon log $f"
		tail -n 40 "$f"
	done
}

_cleanup() {
	local rc=$? i id
	set +e
	trap - EXIT
	for ((i = ${#_UBLK_CLEANUP[@]} - 1; i >= 0; i--)); do
		eval "${_UBLK_CLEANUP[$i]}" >/dev/null 2>&1
	done
	for i in "${_UBLK_PIDS[@]}"; do
		kill -9 "$i" 2>/dev/null
	done
	for i in "${_UBLK_PIDS[@]}"; do
		wait "$i" 2>/dev/null
	done
	for ((i = ${#_UBLK_MOUNTS[@]} - 1; i >= 0; i--)); do
		mountpoint -q "${_UBLK_MOUNTS[$i]}" && umount -l "${_UBLK_MOUNTS[$i]}"
	done
	for id in "${_UBLK_DEVS[@]}"; do
		if [ -e "/dev/ublkc$id" ]; then
			if ! timeout 90 "$KUBLK" del -n "$id" >/dev/null 2>&1; then
				echo "cleanup: kublk del -n $id failed"
				[ "$rc" = 0 ] && rc=1
			fi
		fi
	done
	[ -n "$_UBLK_CTRL_MODE" ] && chmod "$_UBLK_CTRL_MODE" /dev/ublk-control
	if [ "$rc" != 0 ] && [ "$rc" != "$UBLK_SKIP" ] && [ -n "$UBLK_TEST_DIR" ]; then
		_dump_logs
	fi
	[ -n "$UBLK_TEST_DIR" ] && rm -rf "$UBLK_TEST_DIR"
	exit "$rc"
}

# _on_exit "shell command": run at cleanup, before devices are deleted
_on_exit() {
	_UBLK_CLEANUP+=("$1")
}

_prep_test() {
	[ "$EUID" = 0 ] || _skip "must run as root"
	[ -x "$KUBLK" ] || _fail "kublk binary not found at '$KUBLK' (set KUBLK)"
	if [ ! -c /dev/ublk-control ]; then
		modprobe ublk_drv >/dev/null 2>&1
		[ -c /dev/ublk-control ] || _skip "/dev/ublk-control missing (ublk_drv not available)"
	fi
	UBLK_TEST_DIR=$(mktemp -d "$TMPDIR/ublk-$TEST_NAME.XXXXXX") ||
		_fail "mktemp failed"
	chmod 0755 "$UBLK_TEST_DIR"
	mkdir -p "$UBLK_TEST_DIR/state"
	chmod 1777 "$UBLK_TEST_DIR/state"
	export UBLK_STATE_DIR=$UBLK_TEST_DIR/state
	trap _cleanup EXIT
	trap 'exit 130' INT TERM
}

_need_cmd() {
	local c
	for c in "$@"; do
		command -v "$c" >/dev/null 2>&1 || _skip "$c not installed"
	done
}

# the GET_FEATURES flag names, asked once per test
_UBLK_FEATURES=
_have_feature() {
	[ -n "$_UBLK_FEATURES" ] ||
		_UBLK_FEATURES=" $(echo $("$KUBLK" features 2>/dev/null)) "
	[[ $_UBLK_FEATURES == *" $1 "* ]]
}

_need_feature() {
	_have_feature "$1" || _skip "kernel lacks UBLK_F_$1"
}

_wait_blkdev() {
	local id=$1 i
	for ((i = 0; i < 100; i++)); do
		[ -b "/dev/ublkb$id" ] && return 0
		_sleep 0.1
	done
	return 1
}

# _dev_id_of "kublk add output": the dev_id= it reports
_dev_id_of() {
	[[ $1 =~ (^|$'\n')dev_id=([0-9]+)\  ]] && echo "${BASH_REMATCH[2]}"
}

# _add_dev [kublk add args...]: sets UBLK_DEV_ID, registers it for cleanup
_add_dev() {
	local out err=$UBLK_TEST_DIR/add.err
	UBLK_DEV_ID=
	out=$(timeout 120 "$KUBLK" add "$@" 2>"$err")
	local rc=$?
	UBLK_DEV_ID=$(_dev_id_of "$out")
	[ -n "$UBLK_DEV_ID" ] && _UBLK_DEVS+=("$UBLK_DEV_ID")
	if [ $rc != 0 ] || [ -z "$UBLK_DEV_ID" ]; then
		echo "kublk add $* failed (rc $rc): $out"
		cat "$err"
		return 1
	fi
	_wait_blkdev "$UBLK_DEV_ID" || {
		echo "/dev/ublkb$UBLK_DEV_ID did not appear"
		return 1
	}
	_log "added dev $UBLK_DEV_ID: $out"
	return 0
}

# like _add_dev but as an unprivileged user: _add_dev_as UID args...
_add_dev_as() {
	local uid=$1 out err=$UBLK_TEST_DIR/add.err
	shift
	UBLK_DEV_ID=
	out=$(timeout 120 setpriv --reuid="$uid" --regid="$uid" --clear-groups \
		"$KUBLK" add "$@" 2>"$err")
	local rc=$?
	UBLK_DEV_ID=$(_dev_id_of "$out")
	[ -n "$UBLK_DEV_ID" ] && _UBLK_DEVS+=("$UBLK_DEV_ID")
	if [ $rc != 0 ] || [ -z "$UBLK_DEV_ID" ]; then
		echo "kublk add $* as uid $uid failed (rc $rc): $out"
		cat "$err"
		return 1
	fi
	_wait_blkdev "$UBLK_DEV_ID" || return 1
	_log "added dev $UBLK_DEV_ID as uid $uid: $out"
	return 0
}

_del_dev() {
	timeout 90 "$KUBLK" del -n "$1"
}

# _dev_field ID FIELD: a key=value field of "kublk list -n ID"
_dev_field() {
	local out kv
	out=$("$KUBLK" list -n "$1" 2>/dev/null)
	for kv in ${out%%$'\n'*}; do
		[[ $kv == "$2="* ]] && { echo "${kv#*=}"; return 0; }
	done
	return 0
}

_dev_state() {
	_dev_field "$1" state
}

# _wait_state ID STATE [seconds]
_wait_state() {
	local id=$1 want=$2 secs=${3:-30} i
	for ((i = 0; i < secs * 10; i++)); do
		[ "$(_dev_state "$id")" = "$want" ] && return 0
		_sleep 0.1
	done
	echo "dev $id: state $(_dev_state "$id"), wanted $want"
	return 1
}

_wait_pid_gone() {
	local pid=$1 secs=${2:-30} i st
	for ((i = 0; i < secs * 10; i++)); do
		kill -0 "$pid" 2>/dev/null || return 0
		st=
		read -r st 2>/dev/null <"/proc/$pid/stat"
		st=${st##*) }
		[ "${st%% *}" = Z ] && return 0
		_sleep 0.1
	done
	return 1
}

_check_dev_gone() {
	local id=$1 i
	for ((i = 0; i < 50; i++)); do
		[ ! -e "/dev/ublkb$id" ] && [ ! -e "/dev/ublkc$id" ] && return 0
		_sleep 0.1
	done
	return 1
}

# number of ublk devices (char devices) that exist
_dev_count() {
	local d n=0
	for d in /sys/class/ublk-char/*; do
		[ -e "$d" ] && n=$((n + 1))
	done
	echo "$n"
}

# " ublkc0 ublkc3 ": the ublk char devices that exist now
_ublk_char_ids() {
	local c ids=" "
	for c in /sys/class/ublk-char/ublkc*; do
		[ -e "$c" ] && ids+="${c##*/} "
	done
	echo "$ids"
}

# _adopt_new_devs "IDS": devices that are not in IDS (from _ublk_char_ids)
# are deleted at cleanup, as if added with _add_dev
_adopt_new_devs() {
	local c
	for c in /sys/class/ublk-char/ublkc*; do
		[ -e "$c" ] || continue
		c=${c##*/}
		case "$1" in *" $c "*) continue ;; esac
		_UBLK_DEVS+=("${c#ublkc}")
	done
}

# _run_checker SECONDS PROGRAM [ARG...]: run one of the raw checkers
# (ublk_zc_more MODE, ublk_zc_misuse, ublk_badinput), which print one
# PASS/FAIL line per check and exit 0 (all passed), 4 (skipped, with a
# "SKIP: why" line) or anything else (a check failed), and end the test
# with that verdict. The devices it leaves behind after a failure are
# deleted.
_run_checker() {
	local secs=$1 prog=$2 what ids_before out rc why
	shift 2
	what="${prog##*/}${1:+ $*}"
	[ -x "$prog" ] || _fail "${prog##*/} not found at $prog"
	ids_before=$(_ublk_char_ids)
	out=$UBLK_TEST_DIR/${prog##*/}.out
	# to a file, not a pipe: a reader stuck on the device must not hold it open
	timeout "$secs" "$prog" "$@" > "$out" 2>&1
	rc=$?
	cat "$out"
	_adopt_new_devs "$ids_before"
	case $rc in
	0) _pass ;;
	4)	why=$(sed -n 's/^SKIP: //p' "$out" | tail -n1)
		_skip "$what: ${why:-skipped}" ;;
	124) _fail "$what timed out" ;;
	*) _fail "$what reported failures (rc $rc)" ;;
	esac
}

_dev_size() {
	blockdev --getsize64 "/dev/ublkb$1"
}

# _create_file PATH SIZE_MB: sparse backing file
_create_file() {
	truncate -s "${2}M" "$1" || _fail "cannot create $1"
}

#
# fio helpers.  _run_fio NAME fio-args...: runs fio with terse output; sets
# FIO_RC, FIO_ERR (fio's error field), FIO_RIOPS, FIO_WIOPS.
#
_run_fio() {
	local name=$1 out
	shift
	out=$UBLK_TEST_DIR/fio.$name.out
	fio --output-format=terse --terse-version=3 --group_reporting \
		--name="$name" "$@" >"$out" 2>&1
	FIO_RC=$?
	_parse_fio "$out"
}

# _parse_fio FILE [JOB]: the last terse line of FILE, or the one of JOB
# (one fio run with several stonewalled jobs prints a line per job)
_parse_fio() {
	local l line= f
	while IFS= read -r l; do
		[[ $l == "3;"* ]] || continue
		[ -z "$2" ] || [[ $l == "3;"*";$2;"* ]] && line=$l
	done <"$1"
	IFS=';' read -r -a f <<<"$line"
	FIO_ERR=${f[4]:--1}
	FIO_RIOPS=${f[7]:-0}
	FIO_WIOPS=${f[48]:-0}
}

_fio_out() {
	if [ -f "$UBLK_TEST_DIR/fio.$1.out" ]; then
		cat "$UBLK_TEST_DIR/fio.$1.out"
	else
		cat "$UBLK_TEST_DIR/fio.perf.out"
	fi
}

# fio must have succeeded, without errors, with non-zero IOPS for each
# direction named: _check_fio NAME read|write|rw
_check_fio() {
	local name=$1 dir=$2
	if [ "$FIO_RC" != 0 ] || [ "$FIO_ERR" != 0 ]; then
		_fio_out "$name"
		_fail "fio $name failed (rc $FIO_RC, err $FIO_ERR)"
	fi
	case $dir in
	read | rw) [ "${FIO_RIOPS%.*}" -gt 0 ] 2>/dev/null ||
		{ _fio_out "$name"; _fail "fio $name: no read IOPS"; } ;;
	esac
	case $dir in
	write | rw) [ "${FIO_WIOPS%.*}" -gt 0 ] 2>/dev/null ||
		{ _fio_out "$name"; _fail "fio $name: no write IOPS"; } ;;
	esac
	_log "fio $name ok: read iops $FIO_RIOPS write iops $FIO_WIOPS"
}

# random read, random write, then mixed 64k, on a device: checks IOPS and
# no errors. One fio process (stonewalled jobs): fio is slow to start.
_fio_perf_check() {
	local dev=$1 jobs=${2:-1} out=$UBLK_TEST_DIR/fio.perf.out j
	fio --output-format=terse --terse-version=3 --group_reporting \
		--filename="$dev" --ioengine=io_uring --direct=1 \
		--numjobs="$jobs" --runtime=2 --time_based \
		--name=randread --rw=randread --bs=4k --iodepth=32 \
		--name=randwrite --stonewall --rw=randwrite --bs=4k --iodepth=32 \
		--name=randrw --stonewall --rw=randrw --bs=64k --iodepth=16 \
		>"$out" 2>&1
	FIO_RC=$?
	for j in randread:read randwrite:write randrw:rw; do
		_parse_fio "$out" "${j%%:*}"
		_check_fio "${j%%:*}" "${j#*:}"
	done
}

# write then verify with crc32c: _fio_verify_check DEV SIZE [extra fio args]
_fio_verify_check() {
	local dev=$1 size=$2
	shift 2
	_run_fio verify --filename="$dev" --ioengine=io_uring --direct=1 \
		--rw=randwrite --bsrange=4k-128k --iodepth=16 \
		--size="$size" --verify=crc32c --verify_fatal=1 \
		--do_verify=1 "$@"
	_check_fio verify write
}

# ext4 round trip: mkfs, files with checksums, remount, verify, fsck
_ext4_check() {
	local dev=$1 mnt=$UBLK_TEST_DIR/mnt i
	_need_cmd mkfs.ext4 fsck.ext4 sha256sum
	mkdir -p "$mnt"
	mkfs.ext4 -q -F "$dev" || _fail "mkfs.ext4 $dev failed"
	mount -t ext4 "$dev" "$mnt" || _fail "mount $dev failed"
	_UBLK_MOUNTS+=("$mnt")
	for i in 1 2 3 4 5 6; do
		head -c $((i * 300 * 1024 + 777)) /dev/urandom >"$mnt/file$i" ||
			_fail "writing file$i failed"
	done
	mkdir -p "$mnt/dir/sub"
	cp "$mnt/file3" "$mnt/dir/sub/copy3"
	(cd "$mnt" && sha256sum file* dir/sub/copy3 >"$UBLK_TEST_DIR/sums") ||
		_fail "sha256sum failed"
	sync
	umount "$mnt" || _fail "umount failed"
	echo 3 >/proc/sys/vm/drop_caches
	mount -t ext4 "$dev" "$mnt" || _fail "remount $dev failed"
	(cd "$mnt" && sha256sum -c --quiet "$UBLK_TEST_DIR/sums") ||
		_fail "checksums differ after remount"
	umount "$mnt" || _fail "umount failed"
	fsck.ext4 -n -f "$dev" >"$UBLK_TEST_DIR/fsck.out" 2>&1 || {
		cat "$UBLK_TEST_DIR/fsck.out"
		_fail "fsck.ext4 -n reports errors"
	}
	_log "ext4 round trip ok on $dev"
}

# background process tracked for cleanup: _bg cmd...; pid in BG_PID
_bg() {
	"$@" &
	BG_PID=$!
	_UBLK_PIDS+=("$BG_PID")
}

# make /dev/ublk-control usable by unprivileged users for this test
_open_ctrl_to_users() {
	_UBLK_CTRL_MODE=$(stat -c %a /dev/ublk-control)
	chmod 0666 /dev/ublk-control
}

# Stand-in for the udev rule of unprivileged ublk: give /dev/ublkcN and
# /dev/ublkbN to the device's owner as recorded by the driver.
_start_chown_helper() {
	(
		while :; do
			for c in /dev/ublkc[0-9]*; do
				[ -e "$c" ] || continue
				id=${c#/dev/ublkc}
				owner=$("$KUBLK" list -n "$id" 2>/dev/null |
					tr ' ' '\n' | sed -n 's/^owner=//p')
				[ -n "$owner" ] && [ "$owner" != 0:0 ] || continue
				[ "$(stat -c %u:%g "$c")" = "$owner" ] ||
					chown "$owner" "$c"
				if [ -b "/dev/ublkb$id" ] &&
				   [ "$(stat -c %u:%g "/dev/ublkb$id")" != "$owner" ]; then
					chown "$owner" "/dev/ublkb$id"
				fi
			done
			_sleep 0.2
		done
	) >/dev/null 2>&1 &
	_UBLK_PIDS+=($!)
}

_daemon_pid() {
	_dev_field "$1" pid
}

# the daemon log of device ID (complete once the daemon has exited)
# _kill_daemon ID [WHAT]: kill -9 the daemon of device ID (its pid in
# KILLED_PID) and wait until it is gone
_kill_daemon() {
	local what=${2:+ ($2)}
	KILLED_PID=$(_daemon_pid "$1")
	kill -9 "$KILLED_PID" || _fail "kill -9 $KILLED_PID failed$what"
	_wait_pid_gone "$KILLED_PID" 20 || _fail "daemon survived kill -9$what"
}

# _recover_dev ID [WHAT]: a device whose daemon died with USER_RECOVERY:
# QUIESCED, then kublk recover, then LIVE
_recover_dev() {
	local what=${2:+ ($2)}
	_wait_state "$1" QUIESCED 30 || _fail "device not QUIESCED$what"
	"$KUBLK" recover -n "$1" || _fail "recover failed$what"
	_wait_state "$1" LIVE 30 || _fail "device not LIVE after recover$what"
}

# _wait_bg_fio PID SECS MESSAGE: a fio started with _bg must end within SECS
# (else fail with MESSAGE); its exit status in FIO_RC
_wait_bg_fio() {
	_wait_pid_gone "$1" "$2" || _fail "$3"
	wait "$1"
	FIO_RC=$?
}

# _bg_fio_verify DEV SIZE IOPS [FIO_ARGS...]: randwrite with crc32c verify
# in the background (BG_PID), rate-limited so that a crash lands in its
# write phase; _parse_fio "$UBLK_TEST_DIR/fio.verify.out" reads its result
_bg_fio_verify() {
	local dev=$1 size=$2 iops=$3
	shift 3
	_bg fio --name=verify --filename="$dev" --ioengine=io_uring --direct=1 \
		--rw=randwrite --bs=4k --iodepth=16 --size="$size" \
		--rate_iops="$iops" --verify=crc32c --verify_fatal=1 \
		--do_verify=1 --output-format=terse --terse-version=3 \
		--output="$UBLK_TEST_DIR/fio.verify.out" "$@"
}

# _kill_recover_under_fio ID SIZE IOPS: _bg_fio_verify on device ID (its
# pid in BG_PID), kill -9 of the daemon in fio's write phase, recovery
_kill_recover_under_fio() {
	_bg_fio_verify "/dev/ublkb$1" "$2" "$3"
	_sleep 2
	kill -0 "$BG_PID" 2>/dev/null ||
		_fail "fio finished before the crash, test is void"
	_kill_daemon "$1"
	_recover_dev "$1"
}

# _crash_without_recovery ID WHAT BS: kill -9 the daemon of device ID (no
# recovery) under fio randrw of BS blocks: fio ends with an error instead
# of hanging, the disk goes away or is not LIVE, a read fails, del works
_crash_without_recovery() {
	local id=$1 what=$2 bs=$3 fio_pid i st
	_bg fio --name=crash --filename="/dev/ublkb$id" --ioengine=io_uring \
		--direct=1 --rw=randrw --bs="$bs" --iodepth=32 --runtime=60 \
		--time_based --output="$UBLK_TEST_DIR/fio.crash.out"
	fio_pid=$BG_PID
	_sleep 2
	kill -0 "$fio_pid" 2>/dev/null || _fail "fio ended before the kill ($what)"
	_kill_daemon "$id" "$what"
	_wait_bg_fio "$fio_pid" 30 "fio hangs after the daemon died ($what)"
	[ "$FIO_RC" != 0 ] || _fail "fio saw no error after the daemon died ($what)"
	for ((i = 0; i < 100; i++)); do
		[ -b "/dev/ublkb$id" ] || break
		_sleep 0.1
	done
	st=$(_dev_state "$id")
	[ "$st" = LIVE ] && [ -b "/dev/ublkb$id" ] &&
		_fail "disk present and LIVE without a daemon ($what)"
	timeout 20 dd if="/dev/ublkb$id" of=/dev/null bs=4k count=1 iflag=direct 2>/dev/null &&
		_fail "read succeeded without a daemon ($what)"
	timeout 60 "$KUBLK" del -n "$id" || _fail "del after crash failed ($what)"
	_check_dev_gone "$id" || _fail "nodes left ($what)"
	_log "$what: crash without recovery ok (state was $st)"
}

_daemon_log() {
	echo "$UBLK_STATE_DIR/ublk$1.log"
}

# sum of "need_reg_buf=N" over the queues in the daemon log of device ID:
# requests that arrived with UBLK_IO_F_NEED_REG_BUF (AUTO_BUF_REG fallback)
_need_reg_count() {
	sed -n 's/.* exit: .*need_reg_buf=\([0-9]*\).*/\1/p' "$(_daemon_log "$1")" |
		awk '{ s += $1 } END { print s + 0 }'
}

# _loop_fio_check ADD_ARGS...: a loop device on a new 256 MB file added with
# ADD_ARGS: its size, fio write + crc32c verify of 48 MB, which must then be
# in the backing file; del
_loop_fio_check() {
	local backing=$UBLK_TEST_DIR/backing id
	_create_file "$backing" 256
	_add_dev -t loop "$@" "$backing" || _fail "add -t loop $* failed"
	id=$UBLK_DEV_ID
	[ "$(_dev_size "$id")" = $((256 << 20)) ] || _fail "size $(_dev_size "$id")"
	_fio_verify_check "/dev/ublkb$id" 48M
	dd if="/dev/ublkb$id" of="$UBLK_TEST_DIR/dev.img" bs=1M count=48 iflag=direct 2>/dev/null ||
		_fail "reading the device back failed"
	cmp -n $((48 << 20)) "$UBLK_TEST_DIR/dev.img" "$backing" ||
		_fail "device content differs from the backing file"
	_del_dev "$id" || _fail "del failed"
	_check_dev_gone "$id" || _fail "nodes left after del"
}

# _loop_check_del MB ADD_ARGS...: a loop device on a new MB megabyte file
# (LOOP_BACKING) added with ADD_ARGS: its size, fio write + crc32c verify,
# the ext4 round trip; after del the file holds what the device showed.
# The device id stays in UBLK_DEV_ID.
_loop_check_del() {
	local mb=$1 id sum
	shift
	LOOP_BACKING=$UBLK_TEST_DIR/backing
	_create_file "$LOOP_BACKING" "$mb"
	_add_dev -t loop "$@" "$LOOP_BACKING" || _fail "add -t loop $* failed"
	id=$UBLK_DEV_ID
	[ "$(_dev_size "$id")" = $((mb << 20)) ] || _fail "size $(_dev_size "$id")"
	_fio_verify_check "/dev/ublkb$id" 32M
	_ext4_check "/dev/ublkb$id"
	sum=$(_sum_mb "/dev/ublkb$id" "$mb")
	_del_dev "$id" || _fail "del failed"
	_check_dev_gone "$id" || _fail "nodes left after del"
	[ "$(_sum_mb "$LOOP_BACKING" "$mb")" = "$sum" ] ||
		_fail "backing file differs from what the device showed"
}

# _loop_readd_fsck ADD_ARGS...: the file system of _loop_check_del survives
# a re-add of LOOP_BACKING with ADD_ARGS (fsck -n), then del
_loop_readd_fsck() {
	_add_dev -t loop "$@" "$LOOP_BACKING" || _fail "re-add failed"
	fsck.ext4 -n -f "/dev/ublkb$UBLK_DEV_ID" >"$UBLK_TEST_DIR/fsck2.out" 2>&1 || {
		cat "$UBLK_TEST_DIR/fsck2.out"
		_fail "fsck after re-add reports errors"
	}
	_del_dev "$UBLK_DEV_ID" || _fail "del after re-add failed"
}

# sha256 of the first MB megabytes of a device (O_DIRECT) or file
_sum_mb() {
	local f=$1 mb=$2 flag=
	[ -b "$f" ] && flag=iflag=direct
	# shellcheck disable=SC2086
	dd if="$f" bs=1M count="$mb" $flag 2>/dev/null | sha256sum | cut -d' ' -f1
}

#
# Stripe layout checks.  Device chunk k lives in file (k % n) at offset
# (k / n) * chunk.  _stripe_write_patterns DEV CHUNK N writes a random
# chunk-sized pattern at device chunks 0..2N+1 and one write that crosses
# three chunk boundaries (starting 4k before the end of chunk 3N), reads
# them back through the device (_stripe_readback_patterns, which may be
# called again later), and keeps the patterns in the test dir;
# after the device is gone, _stripe_verify_files CHUNK FILE... checks that
# each piece landed in the right file at the right offset.
#
_stripe_write_patterns() {
	local dev=$1 chunk=$2 n=$3 k d=$UBLK_TEST_DIR/stripe
	mkdir -p "$d"
	for ((k = 0; k < 2 * n + 2; k++)); do
		head -c "$chunk" /dev/urandom >"$d/pat.$k"
		dd if="$d/pat.$k" of="$dev" bs="$chunk" seek="$k" count=1 \
			oflag=direct conv=notrunc 2>/dev/null ||
			_fail "stripe: writing chunk $k failed"
	done
	_STRIPE_X_OFF=$(((3 * n + 1) * chunk - 4096))
	_STRIPE_X_LEN=$((2 * chunk + 8192))
	head -c "$_STRIPE_X_LEN" /dev/urandom >"$d/pat.x"
	dd if="$d/pat.x" of="$dev" bs="$_STRIPE_X_LEN" count=1 \
		seek="$_STRIPE_X_OFF" oflag=direct,seek_bytes conv=notrunc \
		2>/dev/null || _fail "stripe: the cross-chunk write failed"
	_stripe_readback_patterns "$dev" "$chunk" "$n"
}

# _stripe_readback_patterns DEV CHUNK N: the patterns read back through DEV
_stripe_readback_patterns() {
	local dev=$1 chunk=$2 n=$3 k d=$UBLK_TEST_DIR/stripe
	for ((k = 0; k < 2 * n + 2; k++)); do
		cmp -s "$d/pat.$k" <(dd if="$dev" bs="$chunk" skip="$k" count=1 \
			iflag=direct 2>/dev/null) ||
			_fail "stripe: chunk $k reads back wrong through the device"
	done
	cmp -s "$d/pat.x" <(dd if="$dev" bs="$_STRIPE_X_LEN" count=1 \
		skip="$_STRIPE_X_OFF" iflag=direct,skip_bytes 2>/dev/null) ||
		_fail "stripe: the cross-chunk write reads back wrong"
	_log "stripe: $((2 * n + 2)) chunk patterns + a ${_STRIPE_X_LEN}-byte write across 3 chunk boundaries read back ok"
}

# _stripe_piece_cmp FILE FILE_OFF PATTERN PAT_OFF LEN
_stripe_piece_cmp() {
	cmp -s <(dd if="$1" iflag=skip_bytes,count_bytes skip="$2" count="$5" \
		bs=64k 2>/dev/null) \
		<(dd if="$3" iflag=skip_bytes,count_bytes skip="$4" count="$5" \
		bs=64k 2>/dev/null)
}

_stripe_verify_files() {
	local chunk=$1 d=$UBLK_TEST_DIR/stripe k n pos end c l
	shift
	local files=("$@")
	n=${#files[@]}
	for ((k = 0; k < 2 * n + 2; k++)); do
		_stripe_piece_cmp "${files[k % n]}" $(((k / n) * chunk)) \
			"$d/pat.$k" 0 "$chunk" ||
			_fail "stripe: device chunk $k is not in file $((k % n)) at offset $(((k / n) * chunk))"
	done
	pos=$_STRIPE_X_OFF
	end=$((_STRIPE_X_OFF + _STRIPE_X_LEN))
	while ((pos < end)); do
		c=$((pos / chunk))
		l=$(((c + 1) * chunk - pos))
		((pos + l > end)) && l=$((end - pos))
		_stripe_piece_cmp "${files[c % n]}" $(((c / n) * chunk + pos % chunk)) \
			"$d/pat.x" $((pos - _STRIPE_X_OFF)) "$l" ||
			_fail "stripe: piece at device offset $pos ($l bytes) is not in file $((c % n))"
		pos=$((pos + l))
	done
	_log "stripe: data found striped over $n files with chunk $chunk"
}

# _stripe_add NF ADD_ARGS...: NF backing files of 64 MB (STRIPE_FILES) and
# a stripe device over them, added with ADD_ARGS (UBLK_DEV_ID); checks its
# size and target
_stripe_add() {
	local nf=$1 i
	shift
	STRIPE_FILES=()
	for ((i = 0; i < nf; i++)); do
		_create_file "$UBLK_TEST_DIR/stripe$i" 64
		STRIPE_FILES+=("$UBLK_TEST_DIR/stripe$i")
	done
	_add_dev -t stripe "$@" "${STRIPE_FILES[@]}" ||
		_fail "add -t stripe $* failed"
	[ "$(_dev_size "$UBLK_DEV_ID")" = $((nf * (64 << 20))) ] ||
		_fail "size $(_dev_size "$UBLK_DEV_ID"), expected $((nf * (64 << 20)))"
	[ "$(_dev_field "$UBLK_DEV_ID" target)" = stripe ] ||
		_fail "target not stripe"
}

# _stripe_io_check DEV CHUNK NF: fio write + crc32c verify, the ext4 round
# trip, then the known patterns at device chunks (_stripe_write_patterns)
_stripe_io_check() {
	_fio_verify_check "$1" 32M
	_ext4_check "$1"
	_stripe_write_patterns "$1" "$2" "$3"
}

# _stripe_del_check ID CHUNK: delete the device; each piece of the patterns
# must then be in its file of STRIPE_FILES
_stripe_del_check() {
	_del_dev "$1" || _fail "del failed"
	_check_dev_gone "$1" || _fail "nodes left after del"
	_stripe_verify_files "$2" "${STRIPE_FILES[@]}"
}

#
# zoned helpers (blkzone from util-linux).  Zones are addressed by index;
# ZONE_SECTORS must be set by the test (zone size in 512-byte sectors).
# Few processes: they are expensive in the emulated guest.
#
ZONE_SECTORS=
# _zone_line DEV IDX: the "blkzone report" line of zone IDX
_zone_line() {
	local l
	l=$(blkzone report -o $(($2 * ZONE_SECTORS)) -c 1 "$1" 2>&1)
	echo "${l%%$'\n'*}"
}
# _zone_parse LINE: sets ZCOND (em oi oe cl fu nw ...) and ZWP (sectors
# from the zone start) from a "blkzone report" line
_zone_parse() {
	ZCOND= ZWP=
	[[ $1 =~ zcond:\ *[0-9]+\(([a-z]+)\) ]] && ZCOND=${BASH_REMATCH[1]}
	[[ $1 =~ wptr\ 0x([0-9a-f]+) ]] && ZWP=$((16#${BASH_REMATCH[1]}))
}
# _zone_check DEV IDX COND [WP]: fail unless zone IDX is in that state
_zone_check() {
	local line
	line=$(_zone_line "$1" "$2")
	_zone_parse "$line"
	[ "$ZCOND" = "$3" ] ||
		_fail "zone $2: condition '$ZCOND', expected '$3': $line"
	[ -z "$4" ] || [ "$ZWP" = "$4" ] ||
		_fail "zone $2: write pointer '$ZWP', expected '$4': $line"
}
# _zone_write DEV IDX OFF_KB KB: direct write of KB KiB at OFF_KB into zone IDX
_zone_write() {
	dd if=/dev/urandom of="$1" bs=4k count=$(($4 / 4)) \
		seek=$((($2 * ZONE_SECTORS * 512 + $3 * 1024) / 4096)) \
		oflag=direct status=none 2>/dev/null
}

# NBD servers for the nbd target, on 127.0.0.1.  _nbd_port picks a port
# (NBD_PORT); _start_nbdkit PLUGIN ARGS... and _start_qemu_nbd FILE
# [qemu-nbd args] start a server that is listening when they return and is
# killed at cleanup; NBD_SRV_PID is its pid.
#
_nbd_port() {
	NBD_PORT=$((20000 + ($$ + RANDOM) % 20000))
}

_nbd_wait_port() {
	local i
	for ((i = 0; i < 100; i++)); do
		(exec 3<>"/dev/tcp/127.0.0.1/$NBD_PORT") 2>/dev/null && return 0
		sleep 0.1
	done
	return 1
}

_start_nbdkit() {
	local pidf=$UBLK_TEST_DIR/nbdkit.$NBD_PORT.pid
	_need_cmd nbdkit
	rm -f "$pidf"
	nbdkit -P "$pidf" -i 127.0.0.1 -p "$NBD_PORT" "$@" ||
		_fail "nbdkit $* failed to start"
	NBD_SRV_PID=$(cat "$pidf")
	_on_exit "kill -9 $NBD_SRV_PID"
	_log "nbdkit $* on port $NBD_PORT, pid $NBD_SRV_PID"
}

_start_qemu_nbd() {
	local file=$1 pidf=$UBLK_TEST_DIR/qemu-nbd.$NBD_PORT.pid
	shift
	_need_cmd qemu-nbd
	rm -f "$pidf"
	qemu-nbd --fork --persistent --shared=8 --pid-file="$pidf" \
		-b 127.0.0.1 -p "$NBD_PORT" "$@" "$file" ||
		_fail "qemu-nbd $file failed to start"
	NBD_SRV_PID=$(cat "$pidf")
	_on_exit "kill -9 $NBD_SRV_PID"
	_nbd_wait_port || _fail "qemu-nbd not listening on $NBD_PORT"
	_log "qemu-nbd $* $file on port $NBD_PORT, pid $NBD_SRV_PID"
}

# _start_fake_nbd MODE: nbd_fake_server.py on NBD_PORT (see there)
_start_fake_nbd() {
	local py=python3 out=$UBLK_TEST_DIR/fake.$NBD_PORT.out i
	[ -x /usr/bin/python3 ] && py=/usr/bin/python3
	_need_cmd "$py"
	"$py" "$UBLK_SCRIPT_DIR/nbd_fake_server.py" "$NBD_PORT" "$1" >"$out" 2>&1 &
	NBD_SRV_PID=$!
	_UBLK_PIDS+=("$NBD_SRV_PID")
	for ((i = 0; i < 100; i++)); do
		grep -q ready "$out" && return 0
		sleep 0.1
	done
	cat "$out"
	_fail "fake NBD server ($1) did not start"
}
