// SPDX-License-Identifier: GPL-2.0
/*
 * ublk_badinput: issue malformed or out-of-state ublk commands and check the
 * exact error the driver returns (mainline ublk semantics).  Prints one line
 * per check ("PASS: ..." / "FAIL: ..." / "SKIP: ...").  Exit: 0 all passed,
 * 1 a check failed, 4 ublk is not available.
 *
 * It creates one device (1 queue, depth 2, USER_COPY when supported) and
 * serves it from its own io thread, so the checks on FETCH/COMMIT, mmap and
 * user copy run against a real driver state machine.
 */
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <sys/sysinfo.h>
#include "kublk.h"

int kublk_verbose;

#define NOEXP	INT_MIN
#define PENDING	(INT_MIN + 1)

static int nr_fail, nr_pass;
static unsigned long long features;
static bool uc;			/* device uses USER_COPY */

static const char *ename(int e)
{
	switch (e) {
	case 0: return "0";
	case -EINVAL: return "-EINVAL";
	case -ENODEV: return "-ENODEV";
	case -EBUSY: return "-EBUSY";
	case -EACCES: return "-EACCES";
	case -EPERM: return "-EPERM";
	case -EOPNOTSUPP: return "-EOPNOTSUPP";
	case -EEXIST: return "-EEXIST";
	case -EFAULT: return "-EFAULT";
	case -ENOENT: return "-ENOENT";
	case -EAGAIN: return "-EAGAIN";
	case -ENOMEM: return "-ENOMEM";
	case -ECANCELED: return "-ECANCELED";
	case -ETIMEDOUT: return "-ETIMEDOUT";
	case PENDING: return "pending";
	}
	return "other";
}

static void check2(const char *what, int got, int exp1, int exp2)
{
	bool ok = got == exp1 || (exp2 != NOEXP && got == exp2);

	if (ok)
		nr_pass++;
	else
		nr_fail++;
	printf("%s: %s: got %s (%d), expected %s%s%s\n", ok ? "PASS" : "FAIL",
	       what, ename(got), got == PENDING ? 0 : got, ename(exp1),
	       exp2 != NOEXP ? " or " : "", exp2 != NOEXP ? ename(exp2) : "");
	fflush(stdout);
}

static void check(const char *what, int got, int exp)
{
	check2(what, got, exp, NOEXP);
}

static void skip(const char *what, const char *why)
{
	printf("SKIP: %s: %s\n", what, why);
	fflush(stdout);
}

/* ---------------- control commands ---------------- */

static struct io_uring ctrl;
static int ctrl_fd;

static int ring_cmd(struct io_uring *ring, int fd, unsigned int op, const void *cmd,
		    size_t cmd_len, bool sqe128)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(ring);
	struct io_uring_cqe *cqe;
	int ret;

	if (!sqe)
		return -EBUSY;
	memset(sqe, 0, sqe128 ? 128 : 64);
	sqe->opcode = IORING_OP_URING_CMD;
	sqe->fd = fd;
	sqe->cmd_op = op;
	memcpy((char *)sqe + offsetof(struct io_uring_sqe, addr3), cmd, cmd_len);
	ret = io_uring_submit(ring);
	if (ret < 0)
		return ret;
	ret = io_uring_wait_cqe(ring, &cqe);
	if (ret < 0)
		return ret;
	ret = cqe->res;
	io_uring_cqe_seen(ring, cqe);
	return ret;
}

static int ctrl_cmd(unsigned int op, __u32 dev_id, __u16 q_id, void *addr,
		    unsigned int len, __u64 data0)
{
	struct ublksrv_ctrl_cmd c = {
		.dev_id = dev_id, .queue_id = q_id, .len = len,
		.addr = (__u64)(uintptr_t)addr, .data = { data0 },
	};

	return ring_cmd(&ctrl, ctrl_fd, op, &c, sizeof(c), true);
}

static int add_dev(struct ublksrv_ctrl_dev_info *info, __u32 hdr_id, unsigned int len)
{
	return ctrl_cmd(UBLK_U_CMD_ADD_DEV, hdr_id, (__u16)-1, info, len, 0);
}

static void del_dev(__u32 id)
{
	ctrl_cmd(UBLK_U_CMD_STOP_DEV, id, (__u16)-1, NULL, 0, 0);
	ctrl_cmd(UBLK_U_CMD_DEL_DEV, id, (__u16)-1, NULL, 0, 0);
}

static void init_info(struct ublksrv_ctrl_dev_info *info, unsigned int nrq,
		      unsigned int depth)
{
	memset(info, 0, sizeof(*info));
	info->nr_hw_queues = nrq;
	info->queue_depth = depth;
	info->max_io_buf_bytes = 64 << 10;
	info->dev_id = (__u32)-1;
	info->flags = UBLK_F_CMD_IOCTL_ENCODE;
}

/* SET_PARAMS argument of a 1 MB device, 512-byte logical blocks */
static void fill_basic_params(struct ublk_params *p,
			      const struct ublksrv_ctrl_dev_info *info)
{
	memset(p, 0, sizeof(*p));
	p->len = sizeof(*p);
	p->types = UBLK_PARAM_TYPE_BASIC;
	p->basic.logical_bs_shift = 9;
	p->basic.physical_bs_shift = 12;
	p->basic.max_sectors = info->max_io_buf_bytes >> 9;
	p->basic.dev_sectors = 2048;
}

/* ADD_DEV that must fail; deletes the device if it unexpectedly succeeds */
static void add_must_fail(const char *what, struct ublksrv_ctrl_dev_info *info,
			  __u32 hdr_id, unsigned int len, int exp)
{
	int ret = add_dev(info, hdr_id, len);

	check(what, ret < 0 ? ret : 0, exp);
	if (ret >= 0 && info)
		del_dev(info->dev_id);
}

/* ---------------- io thread ---------------- */

struct io_state {
	__u32 dev_id;
	int cdev;
	const struct ublksrv_io_desc *iods;
	void *buf[2];
	struct io_uring ring;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool ready;
	bool failed;
	bool read_checked, write_checked;
	unsigned long served;
};

static __u64 uc_off(int q, int tag)
{
	return UBLKSRV_IO_BUF_OFFSET + ((__u64)q << UBLK_QID_OFF) +
		((__u64)tag << UBLK_TAG_OFF);
}

static void io_prep(struct io_state *s, unsigned int op, int q, int tag,
		    int result, __u64 addr, __u64 ud)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&s->ring);
	struct ublksrv_io_cmd c = {
		.q_id = q, .tag = tag, .result = result, .addr = addr,
	};

	if (!sqe) {
		io_uring_submit(&s->ring);
		sqe = io_uring_get_sqe(&s->ring);
		if (!sqe) {
			printf("FAIL: io ring full\n");
			exit(1);
		}
	}
	memset(sqe, 0, sizeof(*sqe));
	sqe->opcode = IORING_OP_URING_CMD;
	sqe->fd = s->cdev;
	sqe->cmd_op = op;
	memcpy((char *)sqe + offsetof(struct io_uring_sqe, addr3), &c, sizeof(c));
	sqe->user_data = ud;
}

/* submit one io command and wait up to @ms for its CQE */
static int io_sync(struct io_state *s, unsigned int op, int q, int tag, int result,
		   __u64 addr, __u64 ud, unsigned int ms)
{
	struct __kernel_timespec ts = { ms / 1000, (ms % 1000) * 1000000LL };
	struct io_uring_cqe *cqe;
	int ret;

	io_prep(s, op, q, tag, result, addr, ud);
	io_uring_submit(&s->ring);
	for (;;) {
		ret = io_uring_wait_cqe_timeout(&s->ring, &cqe, &ts);
		if (ret == -ETIME)
			return PENDING;
		if (ret < 0)
			return ret;
		if (cqe->user_data == ud) {
			ret = cqe->res;
			io_uring_cqe_seen(&s->ring, cqe);
			return ret;
		}
		printf("FAIL: unexpected completion ud %llu res %d\n",
		       (unsigned long long)cqe->user_data, cqe->res);
		nr_fail++;
		io_uring_cqe_seen(&s->ring, cqe);
	}
}

static __u64 fetch_addr(struct io_state *s, int tag)
{
	return uc ? 0 : (__u64)(uintptr_t)s->buf[tag];
}

/*
 * USER_COPY of a request's data: the copy in the wrong direction fails
 * with -EACCES (checked once for each), then the right one moves @len bytes
 */
static int uc_copy(struct io_state *s, int tag, unsigned int len, bool is_read)
{
	bool *checked = is_read ? &s->read_checked : &s->write_checked;
	__u64 off = uc_off(0, tag);
	ssize_t n;

	if (!*checked) {
		*checked = true;
		n = is_read ? pread(s->cdev, s->buf[tag], len, off) :
			      pwrite(s->cdev, s->buf[tag], len, off);
		check(is_read ? "USER_COPY pread on a READ request" :
				"USER_COPY pwrite on a WRITE request",
		      n < 0 ? -errno : 0, -EACCES);
	}
	n = is_read ? pwrite(s->cdev, s->buf[tag], len, off) :
		      pread(s->cdev, s->buf[tag], len, off);
	return n == (ssize_t)len ? (int)len : -EIO;
}

static void serve_one(struct io_state *s, int tag)
{
	const struct ublksrv_io_desc *iod = &s->iods[tag];
	unsigned int op = ublksrv_get_op(iod), len = iod->nr_sectors << 9;
	int res = 0;

	if (op == UBLK_IO_OP_READ) {
		memset(s->buf[tag], 0, len);
		res = uc ? uc_copy(s, tag, len, true) : (int)len;
	} else if (op == UBLK_IO_OP_WRITE) {
		res = uc ? uc_copy(s, tag, len, false) : (int)len;
	}
	s->served++;
	io_prep(s, UBLK_U_IO_COMMIT_AND_FETCH_REQ, 0, tag, res,
		fetch_addr(s, tag), 1000 + tag);
}

static void *io_thread(void *arg)
{
	struct io_state *s = arg;
	int ret, done = 0;

	if (io_uring_queue_init(16, &s->ring, 0)) {
		s->failed = true;
		goto ready;
	}

	check("FETCH with bad q_id",
	      io_sync(s, UBLK_U_IO_FETCH_REQ, 1, 0, 0, fetch_addr(s, 0), 1, 500),
	      -EINVAL);
	check("FETCH with bad tag",
	      io_sync(s, UBLK_U_IO_FETCH_REQ, 0, 2, 0, fetch_addr(s, 0), 2, 500),
	      -EINVAL);
	check("COMMIT_AND_FETCH without FETCH",
	      io_sync(s, UBLK_U_IO_COMMIT_AND_FETCH_REQ, 0, 1, 0,
		      fetch_addr(s, 1), 3, 500), -EINVAL);
	if (uc)
		check("FETCH with a buffer address under USER_COPY",
		      io_sync(s, UBLK_U_IO_FETCH_REQ, 0, 0, 0, 0x10000, 4, 500),
		      -EINVAL);
	else
		check("FETCH without buffer in copy mode",
		      io_sync(s, UBLK_U_IO_FETCH_REQ, 0, 0, 0, 0, 4, 500),
		      -EINVAL);

	ret = io_sync(s, UBLK_U_IO_FETCH_REQ, 0, 0, 0, fetch_addr(s, 0), 1000, 300);
	check("FETCH tag 0 stays pending", ret, PENDING);
	if (ret != PENDING) {
		s->failed = true;
		goto ready;
	}
	/* mainline: -EBUSY (command active); newer refactors say -EINVAL */
	check2("second FETCH on the same tag",
	       io_sync(s, UBLK_U_IO_FETCH_REQ, 0, 0, 0, fetch_addr(s, 0), 5, 500),
	       -EBUSY, -EINVAL);
	ret = io_sync(s, UBLK_U_IO_FETCH_REQ, 0, 1, 0, fetch_addr(s, 1), 1001, 300);
	check("FETCH tag 1 stays pending", ret, PENDING);
	if (ret != PENDING)
		s->failed = true;
ready:
	pthread_mutex_lock(&s->lock);
	s->ready = true;
	pthread_cond_broadcast(&s->cond);
	pthread_mutex_unlock(&s->lock);
	if (s->failed)
		return NULL;

	/* serve until both tags are aborted */
	while (done < 2) {
		struct io_uring_cqe *cqe;
		int tag;

		ret = io_uring_submit_and_wait(&s->ring, 1);
		if (ret < 0 && ret != -EINTR)
			break;
		while (io_uring_peek_cqe(&s->ring, &cqe) == 0) {
			__u64 ud = cqe->user_data;

			ret = cqe->res;
			io_uring_cqe_seen(&s->ring, cqe);
			if (ud < 1000 || ud > 1001) {
				printf("FAIL: stray completion ud %llu res %d\n",
				       (unsigned long long)ud, ret);
				nr_fail++;
				continue;
			}
			tag = ud - 1000;
			if (ret == 0)
				serve_one(s, tag);
			else
				done++;	/* -ENODEV: aborted by STOP_DEV */
		}
	}
	io_uring_queue_exit(&s->ring);
	return NULL;
}

static void alarm_handler(int sig)
{
	(void)sig;
	printf("FAIL: timed out (driver hang?)\n");
	fflush(stdout);
	_exit(1);
}

/*
 * A server that closes its io ring with a request delivered, but keeps
 * /dev/ublkcN open (it neither commits nor exits): STOP_DEV must fail the
 * orphaned request and return, not wait for it with the control mutex held.
 */
struct orphan_state {
	int cdev;
	struct io_uring ring;
	int fetch_res;		/* res of the FETCH that delivered the read */
	int setup_res;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int stage;		/* 1 fetched, 2 ring closed */
	void *buf;		/* copy mode: the server's buffers */
	int depth;
};

static void orphan_stage(struct orphan_state *o, int stage)
{
	pthread_mutex_lock(&o->lock);
	o->stage = stage;
	pthread_cond_broadcast(&o->cond);
	pthread_mutex_unlock(&o->lock);
}

static void *orphan_thread(void *arg)
{
	struct orphan_state *o = arg;
	struct io_uring_sqe *sqe;
	struct io_uring_cqe *cqe;
	int tag;

	o->setup_res = io_uring_queue_init(4, &o->ring, 0);
	if (o->setup_res) {
		orphan_stage(o, 2);
		return NULL;
	}
	for (tag = 0; tag < o->depth; tag++) {
		struct ublksrv_io_cmd c = {
			.q_id = 0, .tag = tag,
			.addr = o->buf ? (__u64)(uintptr_t)o->buf + (tag << 16) : 0,
		};

		sqe = io_uring_get_sqe(&o->ring);
		if (!sqe) {
			o->setup_res = -EBUSY;
			io_uring_queue_exit(&o->ring);
			orphan_stage(o, 2);
			return NULL;
		}
		io_uring_prep_rw(IORING_OP_URING_CMD, sqe, o->cdev, NULL, 0, 0);
		sqe->cmd_op = UBLK_U_IO_FETCH_REQ;
		memcpy((char *)sqe + offsetof(struct io_uring_sqe, addr3), &c,
		       sizeof(c));
	}
	io_uring_submit(&o->ring);
	orphan_stage(o, 1);
	/* the FETCH completes when the reader's request arrives */
	o->fetch_res = io_uring_wait_cqe(&o->ring, &cqe);
	if (!o->fetch_res) {
		o->fetch_res = cqe->res;
		io_uring_cqe_seen(&o->ring, cqe);
	}
	/* close the ring without committing; the char device stays open */
	io_uring_queue_exit(&o->ring);
	orphan_stage(o, 2);
	return NULL;
}

static void orphaned_request(int depth)
{
	struct timespec t0, t1;
	long ms;
	struct ublksrv_ctrl_dev_info info;
	struct orphan_state o;
	struct ublk_params p;
	char path[64];
	pthread_t th;
	pid_t reader;
	int ret, st;
	__u32 id;

	init_info(&info, 1, depth);
	if (uc)
		info.flags |= UBLK_F_USER_COPY;
	if (features & UBLK_F_NO_AUTO_PART_SCAN)
		info.flags |= UBLK_F_NO_AUTO_PART_SCAN;
	ret = add_dev(&info, (__u32)-1, sizeof(info));
	printf("INFO: orphaned request, depth %d\n", depth);
	check("orphan: ADD_DEV", ret < 0 ? ret : 0, 0);
	if (ret < 0)
		return;
	id = info.dev_id;
	fill_basic_params(&p, &info);
	check("orphan: SET_PARAMS",
	      ctrl_cmd(UBLK_U_CMD_SET_PARAMS, id, (__u16)-1, &p, sizeof(p), 0), 0);

	memset(&o, 0, sizeof(o));
	o.depth = depth;
	pthread_mutex_init(&o.lock, NULL);
	pthread_cond_init(&o.cond, NULL);
	if (!uc && posix_memalign(&o.buf, 4096, depth << 16))
		return;
	snprintf(path, sizeof(path), "/dev/ublkc%u", id);
	o.cdev = open(path, O_RDWR);
	if (o.cdev < 0 || pthread_create(&th, NULL, orphan_thread, &o)) {
		printf("FAIL: orphan: cannot open %s or start the io thread\n", path);
		nr_fail++;
		del_dev(id);
		return;
	}
	pthread_mutex_lock(&o.lock);
	while (o.stage < 1)
		pthread_cond_wait(&o.cond, &o.lock);
	pthread_mutex_unlock(&o.lock);
	if (o.setup_res) {
		printf("FAIL: orphan: io ring setup failed\n");
		nr_fail++;
		pthread_join(th, NULL);
		close(o.cdev);
		del_dev(id);
		return;
	}
	check("orphan: START_DEV",
	      ctrl_cmd(UBLK_U_CMD_START_DEV, id, (__u16)-1, NULL, 0, getpid()), 0);

	/* a reader whose request the server takes and never answers */
	reader = fork();
	if (reader == 0) {
		void *b;
		int fd;

		/*
		 * The fork copied the server's ring (fd and mappings): let go
		 * of it, or the ring outlives the server's close.
		 */
		io_uring_queue_exit(&o.ring);
		close(o.cdev);

		snprintf(path, sizeof(path), "/dev/ublkb%u", id);
		fd = open(path, O_RDONLY | O_DIRECT);
		if (fd < 0 || posix_memalign(&b, 4096, 4096))
			_exit(2);
		_exit(pread(fd, b, 4096, 0) < 0 && errno == EIO ? 0 : 1);
	}
	pthread_join(th, NULL);
	check("orphan: the read reached the server", o.fetch_res, 0);
	/* io_uring cancels the parked commands in its ring exit work */
	if (depth > 1)
		sleep(3);

	/* must return (the alarm catches a hang) and fail the read */
	clock_gettime(CLOCK_MONOTONIC, &t0);
	check("orphan: STOP_DEV with a request owned by a closed ring",
	      ctrl_cmd(UBLK_U_CMD_STOP_DEV, id, (__u16)-1, NULL, 0, 0), 0);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
	printf("INFO: STOP_DEV took %ld ms\n", ms);
	if (depth > 1)
		check("orphan: STOP_DEV failed the request at once (< 20 s)",
		      ms < 20000 ? 0 : -ETIMEDOUT, 0);
	ret = waitpid(reader, &st, 0) == reader && WIFEXITED(st) ?
		WEXITSTATUS(st) : -1;
	check("orphan: the orphaned read failed with EIO", ret ? -EINVAL : 0, 0);
	close(o.cdev);
	check("orphan: DEL_DEV",
	      ctrl_cmd(UBLK_U_CMD_DEL_DEV, id, (__u16)-1, NULL, 0, 0), 0);
	free(o.buf);
}

int main(void)
{
	struct ublksrv_ctrl_dev_info info, info2;
	struct ublk_params p;
	struct io_state s;
	struct io_uring ring64;
	pthread_t th;
	char path[64];
	void *m;
	size_t mlen;
	__u64 f = 0;
	int ret, bfd;
	__u32 id;

	setvbuf(stdout, NULL, _IOLBF, 0);
	signal(SIGALRM, alarm_handler);
	alarm(200);

	ctrl_fd = open("/dev/ublk-control", O_RDWR);
	if (ctrl_fd < 0) {
		printf("SKIP: /dev/ublk-control: %s\n", strerror(errno));
		return 4;
	}
	if (io_uring_queue_init(4, &ctrl, IORING_SETUP_SQE128)) {
		printf("FAIL: cannot create an SQE128 ring\n");
		return 1;
	}

	ret = ctrl_cmd(UBLK_U_CMD_GET_FEATURES, (__u32)-1, (__u16)-1, &f, sizeof(f), 0);
	check("GET_FEATURES", ret < 0 ? ret : 0, 0);
	features = f;
	uc = features & UBLK_F_USER_COPY;

	/* a control command on a ring without SQE128 */
	if (io_uring_queue_init(4, &ring64, 0) == 0) {
		struct {
			__u32 dev_id; __u16 q_id; __u16 len; __u64 addr;
		} c16 = { (__u32)-1, (__u16)-1, 8, (__u64)(uintptr_t)&f };

		ret = ring_cmd(&ring64, ctrl_fd, UBLK_U_CMD_GET_FEATURES, &c16,
			       sizeof(c16), false);
		check("control command on a non-SQE128 ring", ret, -EINVAL);
		io_uring_queue_exit(&ring64);
	}

	/* ADD_DEV argument checks */
	init_info(&info, 1, 0);
	add_must_fail("ADD_DEV with queue_depth 0", &info, (__u32)-1, sizeof(info), -EINVAL);
	init_info(&info, 1, UBLK_MAX_QUEUE_DEPTH + 1);
	add_must_fail("ADD_DEV with queue_depth > 4096", &info, (__u32)-1, sizeof(info), -EINVAL);
	init_info(&info, 0, 4);
	add_must_fail("ADD_DEV with 0 queues", &info, (__u32)-1, sizeof(info), -EINVAL);
	init_info(&info, 1, 4);
	add_must_fail("ADD_DEV with header dev_id != info dev_id", &info, 7, sizeof(info), -EINVAL);
	init_info(&info, 1, 4);
	add_must_fail("ADD_DEV with short len", &info, (__u32)-1, 16, -EINVAL);
	add_must_fail("ADD_DEV with addr 0", NULL, (__u32)-1, sizeof(info), -EINVAL);
	{
		/* mainline clamps to nr_cpu_ids; refusing is fine too */
		long ncpu = get_nprocs_conf();

		init_info(&info, ncpu + 1, 4);
		ret = add_dev(&info, (__u32)-1, sizeof(info));
		if (ret < 0) {
			check("ADD_DEV with queues > nr_cpus refused", ret, -EINVAL);
		} else {
			check("ADD_DEV with queues > nr_cpus clamped",
			      info.nr_hw_queues <= ncpu ? 0 : -EINVAL, 0);
			del_dev(info.dev_id);
		}
	}

	/* the device used for the rest */
	init_info(&info, 1, 2);
	if (uc)
		info.flags |= UBLK_F_USER_COPY;
	ret = add_dev(&info, (__u32)-1, sizeof(info));
	check("ADD_DEV valid", ret < 0 ? ret : 0, 0);
	if (ret < 0)
		return 1;
	id = info.dev_id;
	printf("INFO: device %u, %s mode\n", id, uc ? "user copy" : "copy");
	if (uc && !(info.flags & UBLK_F_USER_COPY)) {
		printf("FAIL: USER_COPY advertised but not granted\n");
		nr_fail++;
		uc = false;
	}

	init_info(&info2, 1, 2);
	info2.dev_id = id;
	add_must_fail("ADD_DEV with an id in use", &info2, id, sizeof(info2), -EEXIST);

	check("GET_DEV_INFO with len too small",
	      ctrl_cmd(UBLK_U_CMD_GET_DEV_INFO, id, (__u16)-1, &info2, 16, 0), -EINVAL);
	check("GET_DEV_INFO with addr 0",
	      ctrl_cmd(UBLK_U_CMD_GET_DEV_INFO, id, (__u16)-1, NULL, sizeof(info2), 0),
	      -EINVAL);
	check("GET_DEV_INFO valid",
	      ctrl_cmd(UBLK_U_CMD_GET_DEV_INFO, id, (__u16)-1, &info2, sizeof(info2), 0), 0);
	check("GET_DEV_INFO on a bad dev_id",
	      ctrl_cmd(UBLK_U_CMD_GET_DEV_INFO, 0xfffff0, (__u16)-1, &info2,
		       sizeof(info2), 0), -ENODEV);
	check("unknown control opcode",
	      ctrl_cmd(_IOWR('u', 0x7e, struct ublksrv_ctrl_cmd), id, (__u16)-1,
		       NULL, 0, 0), -EOPNOTSUPP);
	{
		unsigned long long mask[16];

		check("GET_QUEUE_AFFINITY on a bad queue",
		      ctrl_cmd(UBLK_U_CMD_GET_QUEUE_AFFINITY, id, 5, mask,
			       sizeof(mask), 5), -EINVAL);
	}

	fill_basic_params(&p, &info);
	p.basic.logical_bs_shift = 13;
	p.basic.physical_bs_shift = 13;
	check("SET_PARAMS with logical block size 8192",
	      ctrl_cmd(UBLK_U_CMD_SET_PARAMS, id, (__u16)-1, &p, sizeof(p), 0), -EINVAL);
	fill_basic_params(&p, &info);
	check("SET_PARAMS valid",
	      ctrl_cmd(UBLK_U_CMD_SET_PARAMS, id, (__u16)-1, &p, sizeof(p), 0), 0);

	memset(&s, 0, sizeof(s));
	s.dev_id = id;
	pthread_mutex_init(&s.lock, NULL);
	pthread_cond_init(&s.cond, NULL);
	snprintf(path, sizeof(path), "/dev/ublkc%u", id);
	s.cdev = open(path, O_RDWR);
	if (s.cdev < 0) {
		printf("FAIL: open %s: %s\n", path, strerror(errno));
		del_dev(id);
		return 1;
	}
	ret = open(path, O_RDWR);
	check("second open of the char device", ret < 0 ? -errno : 0, -EBUSY);
	if (ret >= 0)
		close(ret);

	mlen = sysconf(_SC_PAGESIZE);
	m = mmap(NULL, mlen, PROT_READ | PROT_WRITE, MAP_SHARED, s.cdev, 0);
	check("mmap of descriptors with PROT_WRITE", m == MAP_FAILED ? -errno : 0, -EPERM);
	if (m != MAP_FAILED)
		munmap(m, mlen);
	m = mmap(NULL, mlen, PROT_READ, MAP_SHARED, s.cdev, 0);
	check("mmap of descriptors read-only", m == MAP_FAILED ? -errno : 0, 0);
	if (m == MAP_FAILED) {
		del_dev(id);
		return 1;
	}
	s.iods = m;
	if (posix_memalign(&s.buf[0], 4096, info.max_io_buf_bytes) ||
	    posix_memalign(&s.buf[1], 4096, info.max_io_buf_bytes))
		return 1;

	if (pthread_create(&th, NULL, io_thread, &s))
		return 1;
	pthread_mutex_lock(&s.lock);
	while (!s.ready)
		pthread_cond_wait(&s.cond, &s.lock);
	pthread_mutex_unlock(&s.lock);
	if (s.failed) {
		printf("FAIL: io thread setup failed, not starting the device\n");
		nr_fail++;
		close(s.cdev);
		_exit(1);	/* tears down the rings; then delete */
	}

	ret = ctrl_cmd(UBLK_U_CMD_START_DEV, id, (__u16)-1, NULL, 0, 0);
	check("START_DEV with pid 0", ret, -EINVAL);
	if (ret != 0) {
		ret = ctrl_cmd(UBLK_U_CMD_START_DEV, id, (__u16)-1, NULL, 0, getpid());
		check("START_DEV valid", ret, 0);
	}
	check("GET_DEV_INFO after START: state LIVE",
	      ctrl_cmd(UBLK_U_CMD_GET_DEV_INFO, id, (__u16)-1, &info2, sizeof(info2), 0) ||
	      info2.state != UBLK_S_DEV_LIVE ? -EINVAL : 0, 0);
	check("SET_PARAMS on a LIVE device",
	      ctrl_cmd(UBLK_U_CMD_SET_PARAMS, id, (__u16)-1, &p, sizeof(p), 0), -EACCES);
	check("START_USER_RECOVERY without USER_RECOVERY",
	      ctrl_cmd(UBLK_U_CMD_START_USER_RECOVERY, id, (__u16)-1, NULL, 0, 0), -EINVAL);

	snprintf(path, sizeof(path), "/dev/ublkb%u", id);
	bfd = open(path, O_RDWR | O_DIRECT);
	if (bfd >= 0) {
		void *b;

		if (!posix_memalign(&b, 4096, 4096)) {
			memset(b, 0x5a, 4096);
			check("direct write to the block device",
			      pwrite(bfd, b, 4096, 8192) == 4096 ? 0 : -errno, 0);
			check("direct read from the block device",
			      pread(bfd, b, 4096, 4096) == 4096 ? 0 : -errno, 0);
			free(b);
		}
		close(bfd);
	} else {
		printf("FAIL: open %s: %s\n", path, strerror(errno));
		nr_fail++;
	}
	if (uc && !s.read_checked)
		skip("USER_COPY pread on a READ request", "no READ was served");
	if (uc && !s.write_checked)
		skip("USER_COPY pwrite on a WRITE request", "no WRITE was served");

	check("STOP_DEV", ctrl_cmd(UBLK_U_CMD_STOP_DEV, id, (__u16)-1, NULL, 0, 0), 0);
	pthread_join(th, NULL);
	munmap(m, mlen);
	close(s.cdev);
	check("DEL_DEV", ctrl_cmd(UBLK_U_CMD_DEL_DEV, id, (__u16)-1, NULL, 0, 0), 0);
	check("GET_DEV_INFO after DEL_DEV",
	      ctrl_cmd(UBLK_U_CMD_GET_DEV_INFO, id, (__u16)-1, &info2, sizeof(info2), 0),
	      -ENODEV);
	check("DEL_DEV twice",
	      ctrl_cmd(UBLK_U_CMD_DEL_DEV, id, (__u16)-1, NULL, 0, 0), -ENODEV);

	alarm(150);	/* STOP may wait for a request timeout (30 s) */
	orphaned_request(2);
	orphaned_request(1);

	printf("%d passed, %d failed (%lu requests served)\n", nr_pass, nr_fail,
	       s.served);
	return nr_fail ? 1 : 0;
}
