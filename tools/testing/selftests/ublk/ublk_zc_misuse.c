// SPDX-License-Identifier: GPL-2.0
/*
 * ublk_zc_misuse: exact error codes of zero-copy misuse (UBLK_F_SUPPORT_ZERO_COPY).
 *
 * Sets up a device by hand with raw commands (1 queue, depth 4, zero copy),
 * serves it from a single-threaded loop backed by a memfd, and lets a helper
 * process issue O_DIRECT pread/pwrite on /dev/ublkbN so that a READ and a
 * WRITE request are owned by this server at the same time.  Then:
 *
 *   REGISTER_IO_BUF at an index outside the table            -EINVAL
 *   REGISTER_IO_BUF twice at the same index                   -EBUSY
 *   REGISTER_IO_BUF of a tag whose FETCH is pending (not ours) -EINVAL
 *   WRITE_FIXED from a READ request's buffer                  -EFAULT
 *   READ_FIXED into a WRITE request's buffer                  -EFAULT
 *   READ_FIXED/WRITE_FIXED beyond the request                 -EFAULT
 *   IORING_REGISTER_BUFFERS_UPDATE over a kernel slot         -EBUSY
 *   UNREGISTER_IO_BUF of an empty or a user-buffer slot       -EINVAL
 *   UNREGISTER_IO_BUF linked behind a slow request, its SQ ring entry
 *   reused before it is issued: acts on its own SQE                0
 *   COMMIT_AND_FETCH with a buffer address                    -EINVAL
 *   READ_FIXED into the READ request + COMMIT: the reader gets that data
 *   WRITE_FIXED of the WRITE request to a file: the writer's data
 *   ring and char device closed with a buffer registered and the request
 *   not committed: the reader's I/O fails, STOP_DEV/DEL_DEV still work,
 *   nothing hangs.
 *
 * One line per check ("PASS: what: got X, expected Y" / "FAIL: ..."), a
 * summary "N passed, N failed".  Exit: 0 all passed, 1 a check failed,
 * 4 skipped (no ublk, or no SUPPORT_ZERO_COPY in GET_FEATURES).
 *
 * The helper process is forked before any ring or ublk file is opened, so
 * that it holds no reference on them (a child holding the ring's fd or
 * mmap would keep the ring alive and defeat the teardown check).
 */
#include <signal.h>
#include <poll.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include "ublk_check.h"

#define IDX_USER	3		/* a user buffer for a while */

static struct srv msrv;		/* the io ring: a tiny zero-copy server */

/*
 * A COMMIT_AND_FETCH that must fail at once; if the driver accepts it
 * instead, the tag is parked under a user_data nobody waits for: give it up.
 */
static int commit_must_fail(unsigned int tag, int res, __u64 addr)
{
	struct io_uring_sqe *sqe = get_sqe(&msrv);
	__u64 ud = ++msrv.seq;
	int ret;

	prep_io_cmd(sqe, UBLK_U_IO_COMMIT_AND_FETCH_REQ, 0, tag, res, addr);
	sqe->user_data = ud;
	ret = reap(&msrv, ud, 1000);
	if (ret == PENDING) {
		msrv.tstate[tag] = T_DEAD;
		msrv.claimed[tag] = false;
	}
	return ret;
}

static int buffers_update(unsigned int index, void *base, size_t len)
{
	struct iovec iov = { .iov_base = base, .iov_len = len };

	return io_uring_register_buffers_update_tag(&msrv.ring, index, &iov, NULL, 1);
}

/* ------------------------------------------------------------------ */
/* the checks                                                           */
/* ------------------------------------------------------------------ */

/* REGISTER at an index that must fail; undo it if it unexpectedly worked */
static void check_reg_fails(const char *what, unsigned int q_id, unsigned int tag,
			    unsigned int index, int exp)
{
	int ret = buf_cmd(&msrv, UBLK_U_IO_REGISTER_IO_BUF, q_id, tag, index);

	check(what, ret, exp);
	if (ret == 0 && index < NBUF)
		unreg_buf(&msrv, tag, index);
}

/*
 * UNREGISTER_IO_BUF of @tag at @index, linked (hard) behind a pipe read
 * that completes only when we write to the pipe, so the command is issued
 * well after io_uring_enter() consumed its SQE. Meanwhile its SQ ring entry
 * is reused for another UNREGISTER_IO_BUF, of @other_index, as a busy
 * server does: the deferred command must still act on its own SQE.
 * Returns the linked command's result.
 */
static int unreg_buf_linked_reused(unsigned int tag, unsigned int index,
				   unsigned int other_index)
{
	struct io_uring_sqe *rd, *un;
	__u64 ud_rd = ++msrv.seq, ud_un = ++msrv.seq;
	char byte = 0;
	int fds[2], ret;

	if (pipe(fds))
		return -errno;
	rd = get_sqe(&msrv);
	un = get_sqe(&msrv);
	io_uring_prep_read(rd, fds[0], &byte, 1, 0);
	rd->flags |= IOSQE_IO_HARDLINK;
	rd->user_data = ud_rd;
	prep_io_cmd(un, UBLK_U_IO_UNREGISTER_IO_BUF, 0, tag, 0, index);
	un->user_data = ud_un;
	io_uring_submit(&msrv.ring);
	/* consumed by the kernel: the entry is ours to fill again */
	memset(un, 0, sizeof(*un));
	prep_io_cmd(un, UBLK_U_IO_UNREGISTER_IO_BUF, 0, tag, 0, other_index);
	un->user_data = ud_un + 1000;
	usleep(100 * 1000);
	if (write(fds[1], "x", 1) != 1)
		printf("INFO: pipe write failed: %s\n", strerror(errno));
	ret = reap(&msrv, ud_rd, 5000);
	if (ret != 1)
		printf("INFO: the pipe read completed with %d\n", ret);
	ret = reap(&msrv, ud_un, 5000);
	close(fds[0]);
	close(fds[1]);
	return ret;
}

/* what check() reports for unreg_buf_linked_reused() */
#define LINKED_REUSED_WHAT "UNREGISTER_IO_BUF of the READ request, linked behind a pipe read, its SQ entry reused before it runs"

static void run_checks(unsigned int dev_id)
{
	char what[160], got[64];
	unsigned char *data;
	void *ubuf;
	int tr, tw, tt, t, ret, idle = -1;
	bool reg_r, reg_w;

	if (posix_memalign((void **)&data, 4096, IO_LEN) ||
	    posix_memalign(&ubuf, 4096, IO_LEN)) {
		check("memory for the checks", -ENOMEM, 0);
		return;
	}

	/* a READ and a WRITE request, both owned by us at the same time */
	tr = request_arrives(&msrv, "the helper's O_DIRECT pread arrives as one READ request",
			     1, false, dev_id, OFF_READ, SEED_READ);
	tw = request_arrives(&msrv, "the helper's O_DIRECT pwrite arrives as one WRITE request",
			     2, true, dev_id, OFF_WRITE, SEED_WRITE);
	if (tr < 0 || tw < 0)
		return;
	for (t = 0; t < DEPTH; t++)
		if (t != tr && t != tw && msrv.tstate[t] == T_FETCHING)
			idle = t;
	printf("INFO: READ request at tag %d, WRITE request at tag %d, idle tag %d\n",
	       tr, tw, idle);

	/* ---- REGISTER_IO_BUF ---- */
	snprintf(what, sizeof(what),
		 "REGISTER_IO_BUF at index %u (table of %u)", NBUF, NBUF);
	check_reg_fails(what, 0, tr, NBUF, -EINVAL);
	check_reg_fails("REGISTER_IO_BUF at index 0xffff", 0, tr, 0xffff,
			-EINVAL);
	reg_r = check("REGISTER_IO_BUF of the READ request at index 0",
		      reg_buf(&msrv, tr, IDX_READ), 0);
	if (reg_r) {
		check("REGISTER_IO_BUF of the READ request again at index 0",
		      reg_buf(&msrv, tr, IDX_READ), -EBUSY);
		check_reg_fails("REGISTER_IO_BUF of the WRITE request over occupied index 0",
				0, tw, IDX_READ, -EBUSY);
	}
	/* a user buffer in the table: not ours to replace or unregister */
	ret = buffers_update(IDX_USER, ubuf, IO_LEN);
	check("IORING_REGISTER_BUFFERS_UPDATE: user buffer at index 3", ret, 1);
	if (ret == 1) {
		check_reg_fails("REGISTER_IO_BUF of the WRITE request over a user-buffer slot",
				0, tw, IDX_USER, -EBUSY);
		check("UNREGISTER_IO_BUF of a user-buffer slot",
		      unreg_buf(&msrv, tr, IDX_USER), -EINVAL);
		check("IORING_REGISTER_BUFFERS_UPDATE clearing the user slot",
		      buffers_update(IDX_USER, NULL, 0), 1);
	}
	reg_w = check("REGISTER_IO_BUF of the WRITE request at index 1",
		      reg_buf(&msrv, tw, IDX_WRITE), 0);
	if (idle >= 0) {
		snprintf(what, sizeof(what),
			 "REGISTER_IO_BUF of tag %d, FETCH pending (not owned)",
			 idle);
		check_reg_fails(what, 0, idle, IDX_EMPTY, -EINVAL);
	} else {
		printf("SKIP: REGISTER_IO_BUF of a tag not owned: no idle tag\n");
	}
	check_reg_fails("REGISTER_IO_BUF with tag >= queue depth", 0, DEPTH,
			IDX_EMPTY, -EINVAL);
	check_reg_fails("REGISTER_IO_BUF with q_id >= nr_hw_queues", 1, tr,
			IDX_EMPTY, -EINVAL);

	/* ---- direction and bounds ---- */
	if (reg_r) {
		check("WRITE_FIXED to a file from the READ request's buffer",
		      rw_fixed(&msrv, false, scratch, IDX_READ, 0, IO_LEN, 0), -EFAULT);
		snprintf(what, sizeof(what),
			 "READ_FIXED into the READ request, len %u > request %u",
			 IO_LEN + 4096, IO_LEN);
		check(what, rw_fixed(&msrv, true, memfd, IDX_READ, 0, IO_LEN + 4096,
				     OFF_READ), -EFAULT);
		check("READ_FIXED into the READ request, offset 4096 len 8192",
		      rw_fixed(&msrv, true, memfd, IDX_READ, 4096, IO_LEN, OFF_READ),
		      -EFAULT);
		check("READ_FIXED into the READ request, offset == request length",
		      rw_fixed(&msrv, true, memfd, IDX_READ, IO_LEN, 512, OFF_READ),
		      -EFAULT);
	}
	if (reg_w) {
		check("READ_FIXED from a file into the WRITE request's buffer",
		      rw_fixed(&msrv, true, memfd, IDX_WRITE, 0, IO_LEN, 0), -EFAULT);
		check("WRITE_FIXED from the WRITE request, len beyond the request",
		      rw_fixed(&msrv, false, scratch, IDX_WRITE, 0, IO_LEN + 4096, 0),
		      -EFAULT);
	}

	/* ---- userspace table operations on kernel slots ---- */
	if (reg_r) {
		check("IORING_REGISTER_BUFFERS_UPDATE replacing kernel slot 0",
		      buffers_update(IDX_READ, ubuf, IO_LEN), -EBUSY);
		check("IORING_REGISTER_BUFFERS_UPDATE clearing kernel slot 0",
		      buffers_update(IDX_READ, NULL, 0), -EBUSY);
	}

	/* ---- UNREGISTER_IO_BUF ---- */
	check("UNREGISTER_IO_BUF of an empty slot",
	      unreg_buf(&msrv, tr, IDX_EMPTY), -EINVAL);

	/* ---- the correct READ path ---- */
	if (reg_r) {
		check("READ_FIXED into the READ request, offset 4096 len 4096",
		      rw_fixed(&msrv, true, memfd, IDX_READ, 4096, 4096,
			       OFF_READ + 4096), 4096);
		check("READ_FIXED of the whole READ request",
		      rw_fixed(&msrv, true, memfd, IDX_READ, 0, IO_LEN, OFF_READ),
		      IO_LEN);
		check("WRITE_FIXED from the READ request's buffer, once filled",
		      rw_fixed(&msrv, false, scratch, IDX_READ, 0, IO_LEN, 0),
		      -EFAULT);
		check(LINKED_REUSED_WHAT,
		      unreg_buf_linked_reused(tr, IDX_READ, IDX_EMPTY), 0);
		check("UNREGISTER_IO_BUF of the READ request's slot again (empty)",
		      unreg_buf(&msrv, tr, IDX_READ), -EINVAL);
		commit(&msrv, tr, IO_LEN);
	} else {
		commit(&msrv, tr, -EIO);
	}
	serve_pending(&msrv);
	if (!io_wait(1, 10000)) {
		check("the reader's pread completes after COMMIT", PENDING,
		      IO_LEN);
	} else if (reg_r) {
		check("the reader's pread returns the request length",
		      results[1].ret, IO_LEN);
		snprintf(got, sizeof(got), results[1].mismatch < 0 ?
			 "equal" : "first difference at byte %d",
			 results[1].mismatch);
		check_cond("the reader's data is what READ_FIXED put there",
			   results[1].ret == (int)IO_LEN &&
			   results[1].mismatch < 0, got, "equal");
	}

	/* ---- the correct WRITE path ---- */
	if (reg_w) {
		int mism;

		check("WRITE_FIXED of the WRITE request's data to a file",
		      rw_fixed(&msrv, false, scratch, IDX_WRITE, 0, IO_LEN, 0), IO_LEN);
		memset(data, 0, IO_LEN);
		ret = pread(scratch, data, IO_LEN, 0);
		mism = cmp_pattern(data, IO_LEN, SEED_WRITE);
		if (ret != (int)IO_LEN)
			snprintf(got, sizeof(got), "short file (%d)", ret);
		else
			snprintf(got, sizeof(got), mism < 0 ? "equal" :
				 "first difference at byte %d", mism);
		check_cond("the file holds what the writer wrote",
			   ret == (int)IO_LEN && mism < 0, got, "equal");
		check("UNREGISTER_IO_BUF of the WRITE request",
		      unreg_buf(&msrv, tw, IDX_WRITE), 0);
		/* no-copy modes: addr must be 0, the request stays ours */
		ret = commit_must_fail(tw, IO_LEN, 0x10000);
		check("COMMIT_AND_FETCH with a buffer address (zero copy)", ret,
		      -EINVAL);
		if (ret != PENDING)
			commit(&msrv, tw, IO_LEN);
	} else {
		commit(&msrv, tw, -EIO);
	}
	serve_pending(&msrv);
	if (!io_wait(2, 10000))
		check("the writer's pwrite completes after COMMIT", PENDING,
		      IO_LEN);
	else if (reg_w)
		check("the writer's pwrite returns the request length",
		      results[2].ret, IO_LEN);

	/* ---- ring closed with a registered, uncommitted request ---- */
	tt = request_arrives(&msrv, "a third READ request arrives", 3, false,
			     dev_id, OFF_TEAR, SEED_READ);
	if (tt < 0)
		return;
	check("REGISTER_IO_BUF of the request that will not be committed",
	      reg_buf(&msrv, tt, IDX_READ), 0);
	/*
	 * A crash, step by step: the ring goes first (its parked commands
	 * are cancelled, its table and so this registration are dropped);
	 * the request is still owned by this live task, so the driver
	 * aborts it when /dev/ublkcN is released (mainline 6.12 may abort
	 * it already at the cancel: either is fine, not checked).
	 */
	srv_close(&msrv);
	if (io_wait(3, 2000))
		printf("INFO: the reader finished right after the ring close: %s\n",
		       ename(results[3].ret, got, sizeof(got)));
	else
		printf("INFO: the reader is still waiting after the ring close\n");
	cdev_close();
	printf("INFO: /dev/ublkc%u closed as well\n", dev_id);
	if (io_wait(3, 30000))
		check_cond("the uncommitted request's I/O fails after ring + char device close",
			   results[3].ret < 0,
			   ename(results[3].ret, got, sizeof(got)),
			   "an error (-EIO)");
	else
		check("the uncommitted request's I/O fails after ring + char device close",
		      PENDING, -EIO);
}

int main(void)
{
	struct ublksrv_ctrl_dev_info info;
	__u64 f = 0;
	int ret, t;
	__u32 id;

	setvbuf(stdout, NULL, _IOLBF, 0);

	/* before anything that a child must not inherit */
	if (helper_start()) {
		printf("FAIL: cannot start the I/O helper\n");
		return 1;
	}
	signal(SIGALRM, alarm_handler);
	alarm(220);

	ret = open_ctrl();
	if (ret) {
		helper_stop();
		return ret;
	}
	ret = ctrl_cmd(UBLK_U_CMD_GET_FEATURES, (__u32)-1, &f, sizeof(f), 0);
	if (ret < 0) {
		printf("FAIL: GET_FEATURES: %d\n", ret);
		helper_stop();
		return 1;
	}
	if (!(f & UBLK_F_SUPPORT_ZERO_COPY)) {
		printf("SKIP: no SUPPORT_ZERO_COPY in GET_FEATURES (0x%llx)\n",
		       (unsigned long long)f);
		helper_stop();
		return 4;
	}

	/* the device's data and the WRITE_FIXED target */
	if (!setup_files("ublk_zc_misuse", IO_LEN)) {
		helper_stop();
		return 1;
	}
	if (fill_memfd(OFF_READ, IO_LEN, SEED_READ)) {
		printf("FAIL: filling the memfd: %s\n", strerror(errno));
		helper_stop();
		return 1;
	}

	ret = add_dev(UBLK_F_SUPPORT_ZERO_COPY, &info);
	if (!check("ADD_DEV with SUPPORT_ZERO_COPY", ret < 0 ? ret : 0, 0)) {
		helper_stop();
		goto summary;
	}
	id = info.dev_id;
	printf("INFO: device %u, flags 0x%llx\n", id,
	       (unsigned long long)info.flags);
	if (!check("SUPPORT_ZERO_COPY granted",
		   info.flags & UBLK_F_SUPPORT_ZERO_COPY ? 0 : -EINVAL, 0))
		goto out_del;
	if (!check("SET_PARAMS", set_basic_params(id), 0))
		goto out_del;
	if (!cdev_setup(id))
		goto out_del;
	if (!check("io ring with a sparse table", srv_open(&msrv, "main"), 0))
		goto out_del;

	/* FETCH every tag (zero copy: no buffer address) */
	for (t = 0; t < DEPTH; t++) {
		struct io_uring_sqe *sqe = get_sqe(&msrv);

		prep_io_cmd(sqe, UBLK_U_IO_FETCH_REQ, 0, t, 0, 0);
		sqe->user_data = UD_FETCH(t);
		msrv.tstate[t] = T_FETCHING;
	}
	io_uring_submit(&msrv.ring);
	reap(&msrv, 0, 200);
	for (t = 0; t < DEPTH; t++)
		if (msrv.tstate[t] == T_DEAD)
			break;
	if (!check("FETCH of every tag stays pending",
		   t < DEPTH ? -EINVAL : 0, 0))
		goto out_del;

	/*
	 * START_DEV adds the disk, whose partition scan reads the device:
	 * serve those while waiting for START_DEV's completion.
	 */
	ret = start_dev(&msrv, UBLK_U_CMD_START_DEV, id);
	printf("INFO: %u request(s) served during START_DEV\n", nr_served);
	if (!check("START_DEV", ret, 0))
		goto out_del;

	run_checks(id);

out_del:
	/* whatever happened above: tear down, and nothing may hang */
	serve_pending(&msrv);
	srv_close(&msrv);
	cdev_close();
	check("STOP_DEV", ctrl_cmd(UBLK_U_CMD_STOP_DEV, id, NULL, 0, 0), 0);
	helper_stop();
	check("DEL_DEV", ctrl_cmd(UBLK_U_CMD_DEL_DEV, id, NULL, 0, 0), 0);
summary:
	printf("%d passed, %d failed\n", nr_pass, nr_fail);
	return nr_fail ? 1 : 0;
}
