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
#include "kublk.h"

int kublk_verbose;

#define DEPTH		4
#define NBUF		8		/* sparse buffer table size */
#define IDX_READ	0		/* the READ request's buffer */
#define IDX_WRITE	1		/* the WRITE request's buffer */
#define IDX_EMPTY	2		/* stays empty */
#define IDX_USER	3		/* a user buffer for a while */
#define IDX_SERVE	6		/* serving unrelated requests */
#define MAX_IO		(64U << 10)
#define DEV_BYTES	(4U << 20)
#define IO_LEN		8192U
#define OFF_READ	(256U << 10)
#define OFF_WRITE	(512U << 10)
#define OFF_TEAR	(768U << 10)
#define SEED_READ	0x1234
#define SEED_WRITE	0xbeef

#define NOEXP		INT_MIN
#define PENDING		(INT_MIN + 1)

#define UD_FETCH(t)	(0x100ULL + (t))
#define UD_IS_FETCH(u)	((u) >= 0x100 && (u) < 0x100 + DEPTH)
#define UD_SYNC_BASE	0x10000ULL

static int nr_fail, nr_pass;

/* ------------------------------------------------------------------ */
/* reporting                                                            */
/* ------------------------------------------------------------------ */

static const char *ename(int e, char *buf, size_t len)
{
	switch (e) {
	case 0: return "0";
	case -EINVAL: return "-EINVAL";
	case -ENODEV: return "-ENODEV";
	case -EBUSY: return "-EBUSY";
	case -EFAULT: return "-EFAULT";
	case -EIO: return "-EIO";
	case -EACCES: return "-EACCES";
	case -EPERM: return "-EPERM";
	case -EOPNOTSUPP: return "-EOPNOTSUPP";
	case -ENOMEM: return "-ENOMEM";
	case -ECANCELED: return "-ECANCELED";
	case -ENXIO: return "-ENXIO";
	case PENDING: return "pending (no completion)";
	}
	snprintf(buf, len, "%d", e);
	return buf;
}

static bool check2(const char *what, int got, int exp1, int exp2)
{
	char b1[16], b2[16], b3[16];
	bool ok = got == exp1 || (exp2 != NOEXP && got == exp2);

	if (ok)
		nr_pass++;
	else
		nr_fail++;
	printf("%s: %s: got %s, expected %s%s%s\n", ok ? "PASS" : "FAIL", what,
	       ename(got, b1, sizeof(b1)), ename(exp1, b2, sizeof(b2)),
	       exp2 != NOEXP ? " or " : "",
	       exp2 != NOEXP ? ename(exp2, b3, sizeof(b3)) : "");
	fflush(stdout);
	return ok;
}

static bool check(const char *what, int got, int exp)
{
	return check2(what, got, exp, NOEXP);
}

/* a check whose expectation is not a single value */
static bool check_cond(const char *what, bool ok, const char *got,
		       const char *exp)
{
	if (ok)
		nr_pass++;
	else
		nr_fail++;
	printf("%s: %s: got %s, expected %s\n", ok ? "PASS" : "FAIL", what,
	       got, exp);
	fflush(stdout);
	return ok;
}

static void alarm_handler(int sig)
{
	(void)sig;
	printf("FAIL: timed out (driver or io_uring hang?)\n");
	printf("%d passed, %d failed\n", nr_pass, nr_fail + 1);
	fflush(stdout);
	_exit(1);
}

static unsigned long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000ULL + ts.tv_nsec / 1000000;
}

static unsigned char pattern(unsigned int seed, unsigned int i)
{
	unsigned int x = seed * 2654435761u + i * 40503u;

	x ^= x >> 13;
	x *= 0x5bd1e995u;
	x ^= x >> 15;
	return x;
}

static void fill_pattern(unsigned char *p, unsigned int len, unsigned int seed)
{
	unsigned int i;

	for (i = 0; i < len; i++)
		p[i] = pattern(seed, i);
}

/* first differing byte, -1 if equal */
static int cmp_pattern(const unsigned char *p, unsigned int len, unsigned int seed)
{
	unsigned int i;

	for (i = 0; i < len; i++)
		if (p[i] != pattern(seed, i))
			return i;
	return -1;
}

/* ------------------------------------------------------------------ */
/* the I/O helper: a process without rings that runs block device I/O  */
/* ------------------------------------------------------------------ */

struct io_req {
	int id;
	int is_write;
	unsigned int dev_id;
	unsigned int off;
	unsigned int len;
	unsigned int seed;
};

struct io_result {
	int id;
	int ret;		/* bytes, or -errno */
	int mismatch;		/* READ: first byte != pattern, -1 if none */
};

static int helper_cmd_fd = -1, helper_res_fd = -1;
static pid_t helper_pid = -1;
static struct io_result results[8];
static bool have_result[8];

static void helper_do_io(const struct io_req *r, int res_fd)
{
	struct io_result res = { .id = r->id, .mismatch = -1 };
	char path[64];
	void *buf = NULL;
	ssize_t n;
	int fd = -1, i;

	snprintf(path, sizeof(path), "/dev/ublkb%u", r->dev_id);
	for (i = 0; i < 100; i++) {
		fd = open(path, O_RDWR | O_DIRECT);
		if (fd >= 0 || errno != ENOENT)
			break;
		usleep(50000);
	}
	if (fd < 0 || posix_memalign(&buf, 4096, r->len)) {
		res.ret = -errno;
		goto out;
	}
	if (r->is_write) {
		fill_pattern(buf, r->len, r->seed);
		n = pwrite(fd, buf, r->len, r->off);
	} else {
		memset(buf, 0, r->len);
		n = pread(fd, buf, r->len, r->off);
		if (n == (ssize_t)r->len)
			res.mismatch = cmp_pattern(buf, r->len, r->seed);
	}
	res.ret = n < 0 ? -errno : (int)n;
out:
	if (write(res_fd, &res, sizeof(res)) != sizeof(res))
		_exit(2);
	_exit(0);
}

static void helper_main(int cmd_fd, int res_fd)
{
	struct io_req r;

	signal(SIGCHLD, SIG_IGN);	/* reap the I/O processes */
	signal(SIGALRM, SIG_DFL);
	alarm(0);
	while (read(cmd_fd, &r, sizeof(r)) == sizeof(r)) {
		pid_t pid = fork();

		if (pid == 0) {
			close(cmd_fd);
			helper_do_io(&r, res_fd);
		}
	}
	_exit(0);
}

static int helper_start(void)
{
	int cmd[2], res[2];

	if (pipe(cmd) || pipe(res))
		return -errno;
	helper_pid = fork();
	if (helper_pid < 0)
		return -errno;
	if (helper_pid == 0) {
		setpgid(0, 0);		/* so that the parent can kill us all */
		close(cmd[1]);
		close(res[0]);
		helper_main(cmd[0], res[1]);
	}
	setpgid(helper_pid, helper_pid);
	close(cmd[0]);
	close(res[1]);
	helper_cmd_fd = cmd[1];
	helper_res_fd = res[0];
	return 0;
}

static void helper_stop(void)
{
	if (helper_cmd_fd >= 0)
		close(helper_cmd_fd);
	helper_cmd_fd = -1;
	if (helper_pid > 0) {
		kill(-helper_pid, SIGKILL);
		waitpid(helper_pid, NULL, 0);
	}
	helper_pid = -1;
}

static int io_start(int id, bool is_write, unsigned int dev_id, unsigned int off,
		    unsigned int len, unsigned int seed)
{
	struct io_req r = {
		.id = id, .is_write = is_write, .dev_id = dev_id, .off = off,
		.len = len, .seed = seed,
	};

	return write(helper_cmd_fd, &r, sizeof(r)) == sizeof(r) ? 0 : -EIO;
}

/* collect results for up to @ms; true once result @id is in */
static bool io_wait(int id, unsigned int ms)
{
	unsigned long long end = now_ms() + ms;

	while (!have_result[id]) {
		struct pollfd pfd = { .fd = helper_res_fd, .events = POLLIN };
		struct io_result r;
		long long left = end - now_ms();

		if (left <= 0)
			return false;
		if (poll(&pfd, 1, left) <= 0)
			continue;
		if (read(helper_res_fd, &r, sizeof(r)) != sizeof(r))
			return false;
		if (r.id >= 0 && r.id < 8) {
			results[r.id] = r;
			have_result[r.id] = true;
		}
	}
	return true;
}

/* ------------------------------------------------------------------ */
/* control ring                                                         */
/* ------------------------------------------------------------------ */

static struct io_uring ctrl;
static int ctrl_fd = -1;

static void ctrl_prep(unsigned int op, __u32 dev_id, void *addr, unsigned int len,
		      __u64 data0)
{
	struct ublksrv_ctrl_cmd c = {
		.dev_id = dev_id, .queue_id = (__u16)-1, .len = len,
		.addr = (__u64)(uintptr_t)addr, .data = { data0 },
	};
	struct io_uring_sqe *sqe = io_uring_get_sqe(&ctrl);

	if (!sqe) {	/* one command at a time: cannot happen */
		printf("FAIL: control ring full\n");
		exit(1);
	}
	memset(sqe, 0, 128);
	sqe->opcode = IORING_OP_URING_CMD;
	sqe->fd = ctrl_fd;
	sqe->cmd_op = op;
	sqe->user_data = op;
	memcpy((char *)sqe + offsetof(struct io_uring_sqe, addr3), &c, sizeof(c));
}

static int ctrl_cmd(unsigned int op, __u32 dev_id, void *addr, unsigned int len,
		    __u64 data0)
{
	struct io_uring_cqe *cqe;
	int ret;

	ctrl_prep(op, dev_id, addr, len, data0);
	ret = io_uring_submit(&ctrl);
	if (ret < 0)
		return ret;
	do {
		ret = io_uring_wait_cqe(&ctrl, &cqe);
	} while (ret == -EINTR);
	if (ret < 0)
		return ret;
	ret = cqe->res;
	io_uring_cqe_seen(&ctrl, cqe);
	return ret;
}

/* ------------------------------------------------------------------ */
/* the io ring: a tiny zero-copy server                                 */
/* ------------------------------------------------------------------ */

enum { T_FETCHING, T_OWNED, T_DEAD };

static struct io_uring ring;
static bool ring_open;
static int cdev = -1;
static const struct ublksrv_io_desc *iods;
static size_t iods_len;
static int memfd = -1;		/* the device's data */
static int scratch = -1;	/* WRITE_FIXED target */
static int tstate[DEPTH];
static bool claimed[DEPTH];	/* owned and kept by a check */
static __u64 sync_seq = UD_SYNC_BASE;
static unsigned int nr_served;

/* requests the checks are waiting for; never served automatically */
struct expect {
	bool used;
	unsigned int op, off, len;
};

static struct expect expected[4];

static struct io_uring_sqe *get_sqe(void)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);

	if (!sqe) {
		io_uring_submit(&ring);
		sqe = io_uring_get_sqe(&ring);
	}
	if (!sqe) {
		printf("FAIL: io ring full\n");
		exit(1);
	}
	memset(sqe, 0, sizeof(*sqe));
	return sqe;
}

static void prep_io_cmd(struct io_uring_sqe *sqe, unsigned int op, unsigned int q_id,
			unsigned int tag, int result, __u64 addr)
{
	struct ublksrv_io_cmd c = {
		.q_id = q_id, .tag = tag, .result = result, .addr = addr,
	};

	sqe->opcode = IORING_OP_URING_CMD;
	sqe->fd = cdev;
	sqe->cmd_op = op;
	memcpy((char *)sqe + offsetof(struct io_uring_sqe, addr3), &c, sizeof(c));
}

static void handle_fetch_cqe(const struct io_uring_cqe *cqe)
{
	unsigned int tag = cqe->user_data - UD_FETCH(0);

	if (cqe->res == UBLK_IO_RES_OK) {
		tstate[tag] = T_OWNED;
	} else {
		if (cqe->res != UBLK_IO_RES_ABORT)
			printf("INFO: tag %u: FETCH/COMMIT completed with %d\n",
			       tag, cqe->res);
		tstate[tag] = T_DEAD;
	}
}

/*
 * Wait up to @ms for the CQE with user_data @ud (0: just collect FETCH
 * completions for @ms).  Returns its res, or PENDING.
 */
static int reap(__u64 ud, unsigned int ms)
{
	unsigned long long end = now_ms() + ms;

	io_uring_submit(&ring);
	for (;;) {
		struct io_uring_cqe *cqe;
		long long left = end - now_ms();
		struct __kernel_timespec ts;
		int ret;

		if (left < 0)
			left = 0;
		ts.tv_sec = left / 1000;
		ts.tv_nsec = (left % 1000) * 1000000LL;
		ret = io_uring_wait_cqe_timeout(&ring, &cqe, &ts);
		if (ret == -ETIME || (ret < 0 && left == 0))
			return PENDING;
		if (ret == -EINTR)
			continue;
		if (ret < 0) {
			printf("INFO: io_uring_wait_cqe: %s\n", strerror(-ret));
			return ret;
		}
		if (!UD_IS_FETCH(cqe->user_data) && ud && cqe->user_data == ud) {
			ret = cqe->res;
			io_uring_cqe_seen(&ring, cqe);
			return ret;
		}
		if (UD_IS_FETCH(cqe->user_data))
			handle_fetch_cqe(cqe);
		else
			printf("INFO: stray completion ud 0x%llx res %d\n",
			       (unsigned long long)cqe->user_data, cqe->res);
		io_uring_cqe_seen(&ring, cqe);
	}
}

static int buf_cmd(unsigned int op, unsigned int q_id, unsigned int tag, unsigned int index)
{
	struct io_uring_sqe *sqe = get_sqe();
	__u64 ud = ++sync_seq;

	prep_io_cmd(sqe, op, q_id, tag, 0, index);
	sqe->user_data = ud;
	return reap(ud, 5000);
}

static int reg_buf(unsigned int tag, unsigned int index)
{
	return buf_cmd(UBLK_U_IO_REGISTER_IO_BUF, 0, tag, index);
}

static int unreg_buf(unsigned int tag, unsigned int index)
{
	return buf_cmd(UBLK_U_IO_UNREGISTER_IO_BUF, 0, tag, index);
}

/* READ_FIXED from @fd into buffer @index at @buf_off (kernel buffer offset) */
static int rw_fixed(bool is_read, int fd, unsigned int index, unsigned int buf_off,
		    unsigned int len, __u64 file_off)
{
	struct io_uring_sqe *sqe = get_sqe();
	__u64 ud = ++sync_seq;

	if (is_read)
		io_uring_prep_read_fixed(sqe, fd, (void *)(uintptr_t)buf_off,
					 len, file_off, index);
	else
		io_uring_prep_write_fixed(sqe, fd, (void *)(uintptr_t)buf_off,
					  len, file_off, index);
	sqe->user_data = ud;
	return reap(ud, 5000);
}

static void commit(unsigned int tag, int res)
{
	struct io_uring_sqe *sqe = get_sqe();

	prep_io_cmd(sqe, UBLK_U_IO_COMMIT_AND_FETCH_REQ, 0, tag, res, 0);
	sqe->user_data = UD_FETCH(tag);
	tstate[tag] = T_FETCHING;
	claimed[tag] = false;
	io_uring_submit(&ring);
}

/*
 * A COMMIT_AND_FETCH that must fail at once; if the driver accepts it
 * instead, the tag is parked under a user_data nobody waits for: give it up.
 */
static int commit_must_fail(unsigned int tag, int res, __u64 addr)
{
	struct io_uring_sqe *sqe = get_sqe();
	__u64 ud = ++sync_seq;
	int ret;

	prep_io_cmd(sqe, UBLK_U_IO_COMMIT_AND_FETCH_REQ, 0, tag, res, addr);
	sqe->user_data = ud;
	ret = reap(ud, 1000);
	if (ret == PENDING) {
		tstate[tag] = T_DEAD;
		claimed[tag] = false;
	}
	return ret;
}

static int buffers_update(unsigned int index, void *base, size_t len)
{
	struct iovec iov = { .iov_base = base, .iov_len = len };

	return io_uring_register_buffers_update_tag(&ring, index, &iov, NULL, 1);
}

static bool is_expected(const struct ublksrv_io_desc *iod)
{
	unsigned int i;

	for (i = 0; i < 4; i++)
		if (expected[i].used && expected[i].op == ublksrv_get_op(iod) &&
		    expected[i].off == iod->start_sector << 9 &&
		    expected[i].len == iod->nr_sectors << 9)
			return true;
	return false;
}

/*
 * Serve a request nobody waits for (partition scan, udev probes) like a
 * plain zero-copy server: REGISTER, fixed read/write on the memfd,
 * UNREGISTER, COMMIT.
 */
static void serve_other(unsigned int tag)
{
	const struct ublksrv_io_desc *iod = &iods[tag];
	unsigned int op = ublksrv_get_op(iod), len = iod->nr_sectors << 9;
	__u64 off = iod->start_sector << 9;
	int res = 0, ret;

	if (op == UBLK_IO_OP_READ || op == UBLK_IO_OP_WRITE) {
		ret = reg_buf(tag, IDX_SERVE);
		if (ret) {
			printf("INFO: serving tag %u: REGISTER_IO_BUF: %d\n",
			       tag, ret);
			res = -EIO;
		} else {
			res = rw_fixed(op == UBLK_IO_OP_READ, memfd, IDX_SERVE,
				       0, len, off);
			if (res != (int)len) {
				printf("INFO: serving tag %u: %s_FIXED: %d\n",
				       tag, op == UBLK_IO_OP_READ ? "READ" :
				       "WRITE", res);
				res = res < 0 ? res : -EIO;
			}
			ret = unreg_buf(tag, IDX_SERVE);
			if (ret)
				printf("INFO: serving tag %u: UNREGISTER_IO_BUF: %d\n",
				       tag, ret);
		}
	} else if (op != UBLK_IO_OP_FLUSH) {
		res = -EOPNOTSUPP;
	}
	nr_served++;
	commit(tag, res);
}

static void serve_pending(void)
{
	bool again = true;
	unsigned int t;

	if (!ring_open)
		return;
	while (again) {
		again = false;
		for (t = 0; t < DEPTH; t++) {
			if (tstate[t] != T_OWNED || claimed[t] ||
			    is_expected(&iods[t]))
				continue;
			serve_other(t);
			again = true;
		}
	}
}

/* wait until a request (op, off, len) is owned by us; its tag or -1 */
static int wait_request(unsigned int op, unsigned int off, unsigned int len, unsigned int ms)
{
	unsigned long long end = now_ms() + ms;
	unsigned int t;

	for (;;) {
		serve_pending();
		for (t = 0; t < DEPTH; t++) {
			const struct ublksrv_io_desc *iod = &iods[t];

			if (tstate[t] == T_OWNED && !claimed[t] &&
			    ublksrv_get_op(iod) == op &&
			    iod->start_sector << 9 == off &&
			    iod->nr_sectors << 9 == len) {
				claimed[t] = true;
				return t;
			}
		}
		if (now_ms() >= end)
			return -1;
		reap(0, 50);
	}
}

static void expect_io(int slot, unsigned int op, unsigned int off, unsigned int len)
{
	expected[slot].used = true;
	expected[slot].op = op;
	expected[slot].off = off;
	expected[slot].len = len;
}

static void ring_close(void)
{
	if (ring_open)
		io_uring_queue_exit(&ring);
	ring_open = false;
}

static void cdev_close(void)
{
	if (iods)
		munmap((void *)iods, iods_len);
	iods = NULL;
	if (cdev >= 0)
		close(cdev);
	cdev = -1;
}

/* ------------------------------------------------------------------ */
/* the checks                                                           */
/* ------------------------------------------------------------------ */

/* REGISTER at an index that must fail; undo it if it unexpectedly worked */
static void check_reg_fails(const char *what, unsigned int q_id, unsigned int tag,
			    unsigned int index, int exp)
{
	int ret = buf_cmd(UBLK_U_IO_REGISTER_IO_BUF, q_id, tag, index);

	check(what, ret, exp);
	if (ret == 0 && index < NBUF)
		unreg_buf(tag, index);
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
	__u64 ud_rd = ++sync_seq, ud_un = ++sync_seq;
	char byte = 0;
	int fds[2], ret;

	if (pipe(fds))
		return -errno;
	rd = get_sqe();
	un = get_sqe();
	io_uring_prep_read(rd, fds[0], &byte, 1, 0);
	rd->flags |= IOSQE_IO_HARDLINK;
	rd->user_data = ud_rd;
	prep_io_cmd(un, UBLK_U_IO_UNREGISTER_IO_BUF, 0, tag, 0, index);
	un->user_data = ud_un;
	io_uring_submit(&ring);
	/* consumed by the kernel: the entry is ours to fill again */
	memset(un, 0, sizeof(*un));
	prep_io_cmd(un, UBLK_U_IO_UNREGISTER_IO_BUF, 0, tag, 0, other_index);
	un->user_data = ud_un + 1000;
	usleep(100 * 1000);
	if (write(fds[1], "x", 1) != 1)
		printf("INFO: pipe write failed: %s\n", strerror(errno));
	ret = reap(ud_rd, 5000);
	if (ret != 1)
		printf("INFO: the pipe read completed with %d\n", ret);
	ret = reap(ud_un, 5000);
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
	expect_io(0, UBLK_IO_OP_READ, OFF_READ, IO_LEN);
	expect_io(1, UBLK_IO_OP_WRITE, OFF_WRITE, IO_LEN);
	if (io_start(1, false, dev_id, OFF_READ, IO_LEN, SEED_READ) ||
	    io_start(2, true, dev_id, OFF_WRITE, IO_LEN, SEED_WRITE)) {
		check("starting the helper's I/O", -EIO, 0);
		return;
	}
	tr = wait_request(UBLK_IO_OP_READ, OFF_READ, IO_LEN, 20000);
	tw = wait_request(UBLK_IO_OP_WRITE, OFF_WRITE, IO_LEN, 20000);
	check("the helper's O_DIRECT pread arrives as one READ request",
	      tr < 0 ? PENDING : 0, 0);
	check("the helper's O_DIRECT pwrite arrives as one WRITE request",
	      tw < 0 ? PENDING : 0, 0);
	if (tr < 0 || tw < 0)
		return;
	for (t = 0; t < DEPTH; t++)
		if (t != tr && t != tw && tstate[t] == T_FETCHING)
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
		      reg_buf(tr, IDX_READ), 0);
	if (reg_r) {
		check("REGISTER_IO_BUF of the READ request again at index 0",
		      reg_buf(tr, IDX_READ), -EBUSY);
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
		      unreg_buf(tr, IDX_USER), -EINVAL);
		check("IORING_REGISTER_BUFFERS_UPDATE clearing the user slot",
		      buffers_update(IDX_USER, NULL, 0), 1);
	}
	reg_w = check("REGISTER_IO_BUF of the WRITE request at index 1",
		      reg_buf(tw, IDX_WRITE), 0);
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
		      rw_fixed(false, scratch, IDX_READ, 0, IO_LEN, 0), -EFAULT);
		snprintf(what, sizeof(what),
			 "READ_FIXED into the READ request, len %u > request %u",
			 IO_LEN + 4096, IO_LEN);
		check(what, rw_fixed(true, memfd, IDX_READ, 0, IO_LEN + 4096,
				     OFF_READ), -EFAULT);
		check("READ_FIXED into the READ request, offset 4096 len 8192",
		      rw_fixed(true, memfd, IDX_READ, 4096, IO_LEN, OFF_READ),
		      -EFAULT);
		check("READ_FIXED into the READ request, offset == request length",
		      rw_fixed(true, memfd, IDX_READ, IO_LEN, 512, OFF_READ),
		      -EFAULT);
	}
	if (reg_w) {
		check("READ_FIXED from a file into the WRITE request's buffer",
		      rw_fixed(true, memfd, IDX_WRITE, 0, IO_LEN, 0), -EFAULT);
		check("WRITE_FIXED from the WRITE request, len beyond the request",
		      rw_fixed(false, scratch, IDX_WRITE, 0, IO_LEN + 4096, 0),
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
	      unreg_buf(tr, IDX_EMPTY), -EINVAL);

	/* ---- the correct READ path ---- */
	if (reg_r) {
		check("READ_FIXED into the READ request, offset 4096 len 4096",
		      rw_fixed(true, memfd, IDX_READ, 4096, 4096,
			       OFF_READ + 4096), 4096);
		check("READ_FIXED of the whole READ request",
		      rw_fixed(true, memfd, IDX_READ, 0, IO_LEN, OFF_READ),
		      IO_LEN);
		check(LINKED_REUSED_WHAT,
		      unreg_buf_linked_reused(tr, IDX_READ, IDX_EMPTY), 0);
		check("UNREGISTER_IO_BUF of the READ request's slot again (empty)",
		      unreg_buf(tr, IDX_READ), -EINVAL);
		commit(tr, IO_LEN);
	} else {
		commit(tr, -EIO);
	}
	serve_pending();
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
		      rw_fixed(false, scratch, IDX_WRITE, 0, IO_LEN, 0), IO_LEN);
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
		      unreg_buf(tw, IDX_WRITE), 0);
		/* no-copy modes: addr must be 0, the request stays ours */
		ret = commit_must_fail(tw, IO_LEN, 0x10000);
		check("COMMIT_AND_FETCH with a buffer address (zero copy)", ret,
		      -EINVAL);
		if (ret != PENDING)
			commit(tw, IO_LEN);
	} else {
		commit(tw, -EIO);
	}
	serve_pending();
	if (!io_wait(2, 10000))
		check("the writer's pwrite completes after COMMIT", PENDING,
		      IO_LEN);
	else if (reg_w)
		check("the writer's pwrite returns the request length",
		      results[2].ret, IO_LEN);

	/* ---- ring closed with a registered, uncommitted request ---- */
	expect_io(2, UBLK_IO_OP_READ, OFF_TEAR, IO_LEN);
	if (io_start(3, false, dev_id, OFF_TEAR, IO_LEN, SEED_READ)) {
		check("starting the helper's I/O", -EIO, 0);
		return;
	}
	tt = wait_request(UBLK_IO_OP_READ, OFF_TEAR, IO_LEN, 20000);
	check("a third READ request arrives", tt < 0 ? PENDING : 0, 0);
	if (tt < 0)
		return;
	check("REGISTER_IO_BUF of the request that will not be committed",
	      reg_buf(tt, IDX_READ), 0);
	/*
	 * A crash, step by step: the ring goes first (its parked commands
	 * are cancelled, its table and so this registration are dropped);
	 * the request is still owned by this live task, so the driver
	 * aborts it when /dev/ublkcN is released (mainline 6.12 may abort
	 * it already at the cancel: either is fine, not checked).
	 */
	ring_close();
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
	struct ublk_params p;
	struct io_uring_cqe *cqe;
	char path[64], tmpl[PATH_MAX];
	const char *tmpdir = getenv("TMPDIR");
	unsigned char *pat;
	unsigned long long end;
	__u64 f = 0;
	int ret, t, start_ret = PENDING;
	__u32 id;

	setvbuf(stdout, NULL, _IOLBF, 0);

	/* before anything that a child must not inherit */
	if (helper_start()) {
		printf("FAIL: cannot start the I/O helper\n");
		return 1;
	}
	signal(SIGALRM, alarm_handler);
	alarm(220);

	ctrl_fd = open("/dev/ublk-control", O_RDWR | O_CLOEXEC);
	if (ctrl_fd < 0) {
		printf("SKIP: /dev/ublk-control: %s\n", strerror(errno));
		helper_stop();
		return 4;
	}
	if (io_uring_queue_init(4, &ctrl, IORING_SETUP_SQE128)) {
		printf("FAIL: cannot create an SQE128 ring\n");
		helper_stop();
		return 1;
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
	memfd = memfd_create("ublk_zc_misuse", MFD_CLOEXEC);
	snprintf(tmpl, sizeof(tmpl), "%s/ublk_zc_misuse.XXXXXX",
		 tmpdir && *tmpdir ? tmpdir : "/tmp");
	scratch = mkostemp(tmpl, O_CLOEXEC);
	if (scratch >= 0)
		unlink(tmpl);
	pat = malloc(IO_LEN);
	if (memfd < 0 || scratch < 0 || !pat || ftruncate(memfd, DEV_BYTES) ||
	    ftruncate(scratch, IO_LEN)) {
		printf("FAIL: memfd/scratch file: %s\n", strerror(errno));
		helper_stop();
		return 1;
	}
	fill_pattern(pat, IO_LEN, SEED_READ);
	if (pwrite(memfd, pat, IO_LEN, OFF_READ) != IO_LEN) {
		printf("FAIL: filling the memfd: %s\n", strerror(errno));
		helper_stop();
		return 1;
	}

	memset(&info, 0, sizeof(info));
	info.nr_hw_queues = 1;
	info.queue_depth = DEPTH;
	info.max_io_buf_bytes = MAX_IO;
	info.dev_id = (__u32)-1;
	info.ublksrv_pid = getpid();
	info.flags = UBLK_F_CMD_IOCTL_ENCODE | UBLK_F_SUPPORT_ZERO_COPY;
	ret = ctrl_cmd(UBLK_U_CMD_ADD_DEV, (__u32)-1, &info, sizeof(info), 0);
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

	memset(&p, 0, sizeof(p));
	p.len = sizeof(p);
	p.types = UBLK_PARAM_TYPE_BASIC;
	p.basic.logical_bs_shift = 9;
	p.basic.physical_bs_shift = 12;
	p.basic.io_min_shift = 9;
	p.basic.io_opt_shift = 12;
	p.basic.max_sectors = info.max_io_buf_bytes >> 9;
	p.basic.dev_sectors = DEV_BYTES >> 9;
	if (!check("SET_PARAMS", ctrl_cmd(UBLK_U_CMD_SET_PARAMS, id, &p,
					  sizeof(p), 0), 0))
		goto out_del;

	snprintf(path, sizeof(path), "/dev/ublkc%u", id);
	for (t = 0; t < 100; t++) {
		cdev = open(path, O_RDWR | O_CLOEXEC);
		if (cdev >= 0 || errno != ENOENT)
			break;
		usleep(50000);
	}
	if (!check("open /dev/ublkcN", cdev < 0 ? -errno : 0, 0))
		goto out_del;
	iods_len = (DEPTH * sizeof(struct ublksrv_io_desc) + 4095) & ~4095UL;
	iods = mmap(NULL, iods_len, PROT_READ, MAP_SHARED | MAP_POPULATE, cdev,
		    UBLKSRV_CMD_BUF_OFFSET);
	if (iods == MAP_FAILED) {
		iods = NULL;
		check("mmap of the descriptors", -errno, 0);
		goto out_del;
	}
	if (!check("io ring setup", io_uring_queue_init(64, &ring, 0), 0))
		goto out_del;
	ring_open = true;
	if (!check("io_uring_register_buffers_sparse",
		   io_uring_register_buffers_sparse(&ring, NBUF), 0))
		goto out_del;

	/* FETCH every tag (zero copy: no buffer address) */
	for (t = 0; t < DEPTH; t++) {
		struct io_uring_sqe *sqe = get_sqe();

		prep_io_cmd(sqe, UBLK_U_IO_FETCH_REQ, 0, t, 0, 0);
		sqe->user_data = UD_FETCH(t);
		tstate[t] = T_FETCHING;
	}
	io_uring_submit(&ring);
	reap(0, 200);
	for (t = 0; t < DEPTH; t++)
		if (tstate[t] == T_DEAD)
			break;
	if (!check("FETCH of every tag stays pending",
		   t < DEPTH ? -EINVAL : 0, 0))
		goto out_del;

	/*
	 * START_DEV adds the disk, whose partition scan reads the device:
	 * serve those while waiting for START_DEV's completion.
	 */
	ctrl_prep(UBLK_U_CMD_START_DEV, id, NULL, 0, getpid());
	io_uring_submit(&ctrl);
	end = now_ms() + 60000;
	while (start_ret == PENDING && now_ms() < end) {
		serve_pending();
		reap(0, 20);
		if (io_uring_peek_cqe(&ctrl, &cqe) == 0) {
			start_ret = cqe->res;
			io_uring_cqe_seen(&ctrl, cqe);
		}
	}
	printf("INFO: %u request(s) served during START_DEV\n", nr_served);
	if (!check("START_DEV", start_ret, 0))
		goto out_del;

	run_checks(id);

out_del:
	/* whatever happened above: tear down, and nothing may hang */
	serve_pending();
	ring_close();
	cdev_close();
	check("STOP_DEV", ctrl_cmd(UBLK_U_CMD_STOP_DEV, id, NULL, 0, 0), 0);
	helper_stop();
	check("DEL_DEV", ctrl_cmd(UBLK_U_CMD_DEL_DEV, id, NULL, 0, 0), 0);
summary:
	printf("%d passed, %d failed\n", nr_pass, nr_fail);
	return nr_fail ? 1 : 0;
}
