# SPDX-License-Identifier: GPL-2.0
#
# The doors of the project. Every target installs the Debian packages it
# lacks first. See README.md.
#
#   make run      build (minimal kernel), boot, show a ublk device in use
#   make check    the test suite on the debug kernel (TAP, "N passed, N failed")
#   make check-full   the same with the extended tests (vm/check-extended)
#   make kernel   prepare the tree and build both kernel flavours
#   make lint     checkpatch --strict, W=1 and sparse on our work
#   make series   the patch series against 6.12 with a cover letter
#   make bisect   build the kernel after every patch of the series
#   make bench    performance report: ours vs null_blk, loop, base 6.12
#   make soak     SECONDS=N kill/recover/quiesce/resize soak with ext4 + verify
#   make fuzz     SECONDS=N [SEED=S]: a long ublk_fuzz run on the debug kernel
#   make clean    remove build/ and results/ (ccache is kept)

TOP := $(abspath $(dir $(lastword $(MAKEFILE_LIST))))
BUILD ?= $(TOP)/build
export BUILD

# Host packages: build, guest userspace (the guest sees the host's root).
PKGS := linux-source-6.12 build-essential flex bison libelf-dev libssl-dev bc \
	cpio kmod ccache qemu-system-x86 fio e2fsprogs busybox-static \
	liburing-dev liburing2 sparse python3 xz-utils git procps util-linux \
	iproute2 coreutils rsync gnuplot-nox python3-sphinx nbdkit qemu-utils \
	nbd-client

.PHONY: all run check check-full kernel kernel-min kernel-debug prepare selftests \
	bench clean deps help lint series bisect soak fuzz

all: help

help:
	@sed -n '3,17p' $(TOP)/Makefile | sed 's/^# \{0,1\}//'

deps:
	@$(TOP)/vm/deps.sh $(PKGS)

prepare: deps
	@$(TOP)/vm/prepare-tree.sh

kernel-min: prepare
	@$(TOP)/vm/build-kernel.sh min

kernel-debug: prepare
	@$(TOP)/vm/build-kernel.sh debug

kernel: kernel-min kernel-debug

# The server and selftests, built in the prepared tree (where kselftest's
# lib.mk lives) against the kernel's installed UAPI headers.
selftests-%: kernel-%
	@if [ -f $(BUILD)/src/tools/testing/selftests/ublk/Makefile ]; then \
		$(MAKE) --no-print-directory -s \
			-C $(BUILD)/src/tools/testing/selftests/ublk \
			OUTPUT=$(BUILD)/selftests \
			KHDR_INCLUDES="-isystem $(BUILD)/kernel-$*/usr/include" \
			all; \
	else echo "selftests: no ublk selftests yet"; fi

run: selftests-min
	@$(TOP)/vm/run.sh

check: selftests-debug
	@$(TOP)/vm/check.sh

check-full: selftests-debug
	@CHECK_FULL=1 $(TOP)/vm/check.sh

lint: kernel-min
	@$(TOP)/vm/lint.sh

# The patch series for linux-block: results/series/, checked with git am.
series: prepare
	@$(TOP)/vm/series.sh

# Every patch of the series builds (minimal config, incremental, ccache).
bisect: series kernel-min
	@$(TOP)/vm/bisect.sh

# Our minimal kernel vs null_blk / kernel loop in the same boot, and vs the
# pristine base 6.12 (its own ublk driver, same config, same kublk) in a
# second boot; report in results/bench/. See README.md, "Benchmark".
bench: selftests-min
	@$(TOP)/vm/build-base-kernel.sh
	@$(TOP)/vm/bench.sh

# Soak (vm/soak.sh): SECONDS of server kills and recoveries, quiesce and
# resize under a verified ext4 workload, on the debug kernel (FLAVOUR=min
# for the minimal one).
FLAVOUR ?= debug
soak: selftests-$(FLAVOUR)
	@FLAVOUR=$(FLAVOUR) $(TOP)/vm/soak.sh $(or $(SECONDS),300)
# A long random fuzz run (tools/testing/selftests/ublk/ublk_fuzz.c) on the
# debug kernel; prints the seed, which SEED=S replays. Results in
# results/fuzz/.
fuzz: selftests-debug
	@FUZZ_SECONDS=$(or $(SECONDS),600) FUZZ_SEED=$(SEED) $(TOP)/vm/fuzz.sh

clean:
	rm -rf $(BUILD) $(TOP)/results
