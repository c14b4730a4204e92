#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Soak: ublk loop devices carrying ext4 under a checksum-verified workload
# while their servers are killed and recovered, the devices quiesced and
# resumed, and resized.  Used by test_soak_01.sh (short) and by
# "make soak SECONDS=N" (vm/soak.sh).
#
# Devices (each with USER_RECOVERY_REISSUE, QUIESCE and UPDATE_SIZE):
#   zc      -t loop -z        (zero copy, buffers registered by the server)
#   autozc  -t loop --auto_zc (zero copy, automatic buffer registration)
# On each, ext4 with
#   - fio passes on a file in the fs: random writes then a crc32c verify of
#     every block (fio's header also names the pass and offset, so a stale
#     or misplaced block fails too);
#   - a file tree: random files written with dd conv=fsync, each recorded
#     with its sha256 once dd (and so the fsync) succeeded; an earlier file
#     is read back with O_DIRECT and checked after every write.
# Meanwhile, every SOAK_PERIOD seconds, one disruption on one device in turn:
#   kill -9 of the server + "kublk recover", "kublk quiesce" + "kublk
#   recover", "kublk update_size" (between two sizes beyond the end of the
#   fs, the backing file grown first).
# At the end: all workers passed, a remount, every recorded file checksum
# and the last fio pass verified again from the device, umount, fsck -n,
# no I/O error in the kernel log (REISSUE promises none), the sizes as set.
#
# Environment: SOAK_SECONDS (default 20) disruption time, SOAK_MIN_STEPS
# (default 4: one cycle) disruptions at least, SOAK_PERIOD (default 2) seconds between
# disruptions, SOAK_DEVS (default "zc autozc"), SOAK_FS_MB (default 64) fs
# size, SOAK_FIO_MB (default 8) fio file size, SOAK_TREE_SLOTS (default
# 64) files in the tree (up to 512k each).
# The disruptions go round the devices; each device in turn gets kill,
# quiesce, resize, kill, ...
# Prints one line "soak: ..." with the figures; exit 0 pass, 4 skip, else
# fail (test_common.sh conventions).

# shellcheck disable=SC2317	# the workers run through _bg
. "$(dirname "$0")/test_common.sh"

: "${SOAK_SECONDS:=20}"
: "${SOAK_PERIOD:=2}"
: "${SOAK_DEVS:=zc autozc}"
: "${SOAK_FS_MB:=64}"
: "${SOAK_FIO_MB:=8}"
: "${SOAK_TREE_SLOTS:=64}"
: "${SOAK_MIN_STEPS:=4}"

_prep_test
_need_cmd fio mkfs.ext4 fsck.ext4 sha256sum blockdev
_need_feature USER_RECOVERY_REISSUE
_need_feature QUIESCE
_need_feature UPDATE_SIZE

S=$UBLK_TEST_DIR
cd "$S" || _fail "cd $S"	# fio may leave state files in its cwd
STOP=$S/stop
# the two sizes a resize toggles between, both beyond the end of the fs
SIZE_A=$(((SOAK_FS_MB + 32) << 20))
SIZE_B=$(((SOAK_FS_MB + 64) << 20))

names=()
ids=()
mnts=()

T0=$(date +%s)
_tlog() { # message, with the seconds since the start
	_log "t=$(($(date +%s) - T0))s $*"
}

count() { # file: a counter in the state dir, from the workers
	cat "$S/$1" 2>/dev/null || echo 0
}
add_to() { # file n
	echo $(($(count "$1") + $2)) >"$S/$1"
}

# fio pass P on device index I, verify-only when $3 is set
fio_pass() {
	local i=$1 p=$2 vo=${3:-}
	local a=(--name="soak${i}" --filename="${mnts[i]}/fio.dat"
		--ioengine=io_uring --direct=1 --rw=randwrite
		--bsrange=4k-64k --iodepth=8 --size="${SOAK_FIO_MB}M"
		--randseed=$((1000 * i + p)) --verify=crc32c --verify_fatal=1
		--do_verify=1 --output="$S/fio.$i.out")
	[ -n "$vo" ] && a+=(--verify_only)
	fio "${a[@]}" >/dev/null 2>&1
}

# continuous fio passes until the stop file appears
fio_worker() {
	local i=$1 p=0
	while [ ! -e "$STOP" ]; do
		p=$((p + 1))
		if ! fio_pass "$i" "$p"; then
			echo "fio pass $p on ${names[i]} failed:"
			tail -n 30 "$S/fio.$i.out"
			add_to "errors.fio.$i" 1
			return 1
		fi
		echo "$p" >"$S/fio.$i.last"
		add_to "bytes.fio.$i" $((SOAK_FIO_MB << 20))
	done
	return 0
}

# the file tree: SOAK_TREE_SLOTS slots, each rewritten in turn with a
# random size up to 512k
tree_worker() {
	local i=$1
	local m=${mnts[i]} n=0 slot f src=$S/src.$i sum j k=() sz rc=0
	local bytes=0 slots=$SOAK_TREE_SLOTS
	local -A sums=() szs=()
	mkdir -p "$m/tree" || return 1
	while [ ! -e "$STOP" ]; do
		slot=$((n % slots))
		f=tree/d$((slot % 8))/f$slot
		[ -d "$m/tree/d$((slot % 8))" ] || mkdir "$m/tree/d$((slot % 8))"
		sz=$((RANDOM * 16 + RANDOM % 4096 + 1))
		head -c "$sz" /dev/urandom >"$src"
		sum=$(sha256sum <"$src")
		unset "sums[$f]"	# its old contents are gone whatever happens
		if ! dd if="$src" of="$m/$f" bs=256k conv=fsync 2>"$S/dd.$i.err"; then
			echo "tree write $f on ${names[i]} failed:"
			cat "$S/dd.$i.err"
			echo 1 >"$S/errors.tree.$i"
			rc=1
			break
		fi
		sums[$f]=${sum%% *}
		szs[$f]=$sz
		n=$((n + 1))
		# an earlier file, from the device
		k=("${!sums[@]}")
		j=${k[RANDOM % ${#k[@]}]}
		sum=$(dd if="$m/$j" bs=1M iflag=direct 2>/dev/null | sha256sum)
		if [ "${sum%% *}" != "${sums[$j]}" ]; then
			echo "tree: $j on ${names[i]} reads back wrong"
			echo 1 >"$S/corrupt.tree.$i"
			rc=1
			break
		fi
		bytes=$((bytes + szs[$j]))
	done
	for f in "${!sums[@]}"; do
		echo "${sums[$f]}  $f"
	done >"$S/manifest.$i"
	echo "$n" >"$S/tree.$i.files"
	echo "$bytes" >"$S/bytes.tree.$i"
	return "$rc"
}

setup_dev() { # index name
	local i=$1 name=$2 mode
	case $name in
	zc) _need_feature SUPPORT_ZERO_COPY; mode=(-z) ;;
	autozc) _need_feature AUTO_BUF_REG; mode=(--auto_zc) ;;
	*) _fail "unknown soak device '$name'" ;;
	esac
	_create_file "$S/backing.$i" "$SOAK_FS_MB"
	_add_dev -t loop -q 2 "${mode[@]}" -r 1 -i 1 --quiesce \
		--update-size-flag "$S/backing.$i" ||
		_fail "add $name failed"
	names[i]=$name
	ids[i]=$UBLK_DEV_ID
	echo $((SOAK_FS_MB << 20)) >"$S/size.$i"
	: >"$S/events.$i"
	mnts[i]=$S/mnt.$i
	mkdir -p "${mnts[i]}"
	mkfs.ext4 -q -F "/dev/ublkb${ids[i]}" || _fail "mkfs on $name failed"
	mount -t ext4 "/dev/ublkb${ids[i]}" "${mnts[i]}" || _fail "mount $name failed"
	_UBLK_MOUNTS+=("${mnts[i]}")
	# grow the backing file now: a resize needs no server-side step
	truncate -s "$SIZE_B" "$S/backing.$i" || _fail "truncate failed"
}

# The disruptions run in subshells, one per device at a time: they note
# what they did in $S/events.I and the size they set in $S/size.I.
event() { # index what
	echo "$2" >>"$S/events.$1"
}

kill_recover() { # index
	local i=$1
	local id=${ids[i]} old new t0 t1 t2 t3
	t0=$(date +%s)
	old=$(_daemon_pid "$id")
	[ -n "$old" ] || _fail "${names[i]}: no server pid"
	kill -9 "$old" || _fail "${names[i]}: kill -9 $old failed"
	_wait_pid_gone "$old" 60 || _fail "${names[i]}: server survived kill -9"
	event "$i" kill
	t1=$(date +%s)
	_wait_state "$id" QUIESCED 60 || _fail "${names[i]}: not QUIESCED after kill"
	t2=$(date +%s)
	timeout 120 "$KUBLK" recover -n "$id" >/dev/null ||
		_fail "${names[i]}: recover failed"
	t3=$(date +%s)
	_wait_state "$id" LIVE 60 || _fail "${names[i]}: not LIVE after recover"
	new=$(_daemon_pid "$id")
	[ "$new" != "$old" ] || _fail "${names[i]}: no new server"
	event "$i" recovery
	_tlog "${names[i]}: kill + recover took $(($(date +%s) - t0))s (server gone $((t1 - t0))s, QUIESCED $((t2 - t1))s, recover $((t3 - t2))s, LIVE $(($(date +%s) - t3))s)"
}

quiesce_resume() { # index
	local i=$1
	local id=${ids[i]} old t0
	t0=$(date +%s)
	old=$(_daemon_pid "$id")
	timeout 120 "$KUBLK" quiesce -n "$id" --timeout 60000 ||
		_fail "${names[i]}: quiesce failed"
	_wait_state "$id" QUIESCED 60 || _fail "${names[i]}: not QUIESCED after quiesce"
	_wait_pid_gone "$old" 60 || _fail "${names[i]}: server did not exit on quiesce"
	event "$i" quiesce
	timeout 120 "$KUBLK" recover -n "$id" >/dev/null ||
		_fail "${names[i]}: resume failed"
	_wait_state "$id" LIVE 60 || _fail "${names[i]}: not LIVE after resume"
	event "$i" recovery
	_tlog "${names[i]}: quiesce + resume took $(($(date +%s) - t0))s"
}

resize() { # index
	local i=$1
	local id=${ids[i]} want=$SIZE_A k
	[ "$(cat "$S/size.$i")" = "$SIZE_A" ] && want=$SIZE_B
	"$KUBLK" update_size -n "$id" -s "$want" || _fail "${names[i]}: update_size $want failed"
	for ((k = 0; k < 300; k++)); do
		[ "$(_dev_size "$id")" = "$want" ] && break
		sleep 0.1
	done
	[ "$(_dev_size "$id")" = "$want" ] ||
		_fail "${names[i]}: size $(_dev_size "$id") after update_size $want"
	echo "$want" >"$S/size.$i"
	event "$i" resize
	_tlog "${names[i]}: resized to $((want >> 20))M"
}

workers_alive() {
	local p
	for p in "${wpids[@]}"; do
		kill -0 "$p" 2>/dev/null || return 1
	done
}

# ---- set up
i=0
for name in $SOAK_DEVS; do
	setup_dev $i "$name"
	_tlog "${names[i]}: dev ${ids[i]} with ext4 ready"
	i=$((i + 1))
done
ndev=${#ids[@]}
dmesg_before=$(dmesg | wc -l)
start=$(date +%s)
wpids=()
for ((i = 0; i < ndev; i++)); do
	_bg fio_worker $i
	wpids+=("$BG_PID")
	_bg tree_worker $i
	wpids+=("$BG_PID")
done
_log "devices ${ids[*]} (${names[*]}) up, ext4 mounted, workload running"

# ---- disruptions: each step, every device gets the next of its cycle
step=0
while (($(date +%s) - start < SOAK_SECONDS || step < SOAK_MIN_STEPS)); do
	sleep "$SOAK_PERIOD"
	workers_alive || break
	dpids=()
	for ((i = 0; i < ndev; i++)); do
		case $(((step + i) % 4)) in
		0 | 3) kill_recover $i & ;;
		1) quiesce_resume $i & ;;
		2) resize $i & ;;
		esac
		dpids+=($!)
	done
	for p in "${dpids[@]}"; do
		wait "$p" || _fail "a disruption failed"
	done
	step=$((step + 1))
done
secs=$(($(date +%s) - start))
touch "$STOP"
rc=0
for p in "${wpids[@]}"; do
	wait "$p" || rc=1
done
_tlog "disruptions done after ${secs}s, workers stopped (rc $rc)"

# ---- final checks, the devices in parallel: $S/final.I gets
# "bytes corruption files"
final_check() { # index
	local i=$1
	local id=${ids[i]} m=${mnts[i]} bytes corrupt=0 n last
	[ "$(_dev_state "$id")" = LIVE ] || _fail "${names[i]}: state $(_dev_state "$id") at the end"
	[ "$(_dev_size "$id")" = "$(cat "$S/size.$i")" ] ||
		_fail "${names[i]}: size $(_dev_size "$id"), last set $(cat "$S/size.$i")"
	bytes=$(($(count "bytes.fio.$i") + $(count "bytes.tree.$i")))
	umount "$m" || _fail "${names[i]}: umount failed"
	blockdev --flushbufs "/dev/ublkb$id"
	mount -t ext4 "/dev/ublkb$id" "$m" || _fail "${names[i]}: remount failed"
	n=$(grep -c . "$S/manifest.$i")
	if ! (cd "$m" && sha256sum -c --quiet "$S/manifest.$i"); then
		corrupt=$((corrupt + 1))
		echo "${names[i]}: file checksums differ after remount"
	fi
	bytes=$((bytes + $(cd "$m" && cut -c67- "$S/manifest.$i" |
		xargs -r stat -c %s | awk '{ s += $1 } END { print s + 0 }')))
	last=$(count "fio.$i.last")
	if [ "$last" -gt 0 ]; then
		if fio_pass "$i" "$last" verify_only; then
			bytes=$((bytes + (SOAK_FIO_MB << 20)))
		else
			echo "${names[i]}: fio pass $last does not verify after remount"
			tail -n 20 "$S/fio.$i.out"
			corrupt=$((corrupt + 1))
		fi
	fi
	umount "$m" || _fail "${names[i]}: umount failed"
	fsck.ext4 -n -f "/dev/ublkb$id" >"$S/fsck.$i" 2>&1 || {
		cat "$S/fsck.$i"
		corrupt=$((corrupt + 1))
		echo "${names[i]}: fsck.ext4 -n reports errors"
	}
	_tlog "${names[i]}: $n files and fio pass $last verified after remount, fsck done; fio passes $last, tree files written $(count "tree.$i.files")"
	echo "$bytes $corrupt $n" >"$S/final.$i"
}

dpids=()
for ((i = 0; i < ndev; i++)); do
	final_check $i &
	dpids+=($!)
done
for p in "${dpids[@]}"; do
	wait "$p" || _fail "final checks failed"
done
bytes=0
errors=0
corrupt=0
nfiles=0
for ((i = 0; i < ndev; i++)); do
	read -r b c n <"$S/final.$i"
	bytes=$((bytes + b))
	corrupt=$((corrupt + c + $(count "corrupt.tree.$i")))
	nfiles=$((nfiles + n))
	errors=$((errors + $(count "errors.fio.$i") + $(count "errors.tree.$i")))
done
kills=$(cat "$S"/events.* | grep -c '^kill$')
recoveries=$(cat "$S"/events.* | grep -c '^recovery$')
quiesces=$(cat "$S"/events.* | grep -c '^quiesce$')
resizes=$(cat "$S"/events.* | grep -c '^resize$')
ioerr=$(dmesg | tail -n +$((dmesg_before + 1)) |
	grep -E 'I/O error|EXT4-fs (error|warning)|Buffer I/O|blk_update_request' |
	head -n 5)
if [ -n "$ioerr" ]; then
	echo "kernel log:"
	echo "$ioerr"
	errors=$((errors + $(grep -c . <<<"$ioerr")))
fi
echo "soak: seconds=$secs devices=${names[*]// /,} kills=$kills" \
	"recoveries=$recoveries quiesces=$quiesces resizes=$resizes" \
	"files=$nfiles bytes_verified=$bytes errors=$errors corruption=$corrupt"
[ "$corrupt" = 0 ] || _fail "data corruption"
[ "$errors" = 0 ] || _fail "I/O errors under USER_RECOVERY_REISSUE"
[ "$rc" = 0 ] || _fail "a worker failed"
_pass
