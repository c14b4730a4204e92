// SPDX-License-Identifier: GPL-2.0
/*
 * ublk_check: the helpers the raw zero-copy checkers share (ublk_zc_misuse,
 * ublk_zc_more); see ublk_check.h.
 */
#include <signal.h>
#include <poll.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include "ublk_check.h"

int kublk_verbose;
int nr_fail, nr_pass;

/* ------------------------------------------------------------------ */
/* reporting                                                            */
/* ------------------------------------------------------------------ */

const char *ename(int e, char *buf, size_t len)
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

bool check2(const char *what, int got, int exp1, int exp2)
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

bool check(const char *what, int got, int exp)
{
	return check2(what, got, exp, NOEXP);
}

/* a check whose expectation is not a single value */
bool check_cond(const char *what, bool ok, const char *got,
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

void alarm_handler(int sig)
{
	(void)sig;
	printf("FAIL: timed out (driver or io_uring hang?)\n");
	printf("%d passed, %d failed\n", nr_pass, nr_fail + 1);
	fflush(stdout);
	_exit(1);
}

unsigned long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000ULL + ts.tv_nsec / 1000000;
}

unsigned char pattern(unsigned int seed, unsigned int i)
{
	unsigned int x = seed * 2654435761u + i * 40503u;

	x ^= x >> 13;
	x *= 0x5bd1e995u;
	x ^= x >> 15;
	return x;
}

void fill_pattern(unsigned char *p, unsigned int len, unsigned int seed)
{
	unsigned int i;

	for (i = 0; i < len; i++)
		p[i] = pattern(seed, i);
}

/* first differing byte, -1 if equal */
int cmp_pattern(const unsigned char *p, unsigned int len, unsigned int seed)
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

static int helper_cmd_fd = -1, helper_res_fd = -1;
pid_t helper_pid = -1;
struct io_result results[NRES];
static bool have_result[NRES];

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
			prctl(PR_SET_PDEATHSIG, SIGKILL);
			close(cmd_fd);
			helper_do_io(&r, res_fd);
		}
	}
	_exit(0);
}

int helper_start(void)
{
	int cmd[2], res[2];

	if (pipe(cmd) || pipe(res))
		return -errno;
	helper_pid = fork();
	if (helper_pid < 0)
		return -errno;
	if (helper_pid == 0) {
		/* a checker that crashed must not leave us behind */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
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

void helper_stop(void)
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

int io_start(int id, bool is_write, unsigned int dev_id, unsigned int off,
	     unsigned int len, unsigned int seed)
{
	struct io_req r = {
		.id = id, .is_write = is_write, .dev_id = dev_id, .off = off,
		.len = len, .seed = seed,
	};

	return write(helper_cmd_fd, &r, sizeof(r)) == sizeof(r) ? 0 : -EIO;
}

/* collect results for up to @ms; true once result @id is in */
bool io_wait(int id, unsigned int ms)
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
		if (r.id >= 0 && r.id < NRES) {
			results[r.id] = r;
			have_result[r.id] = true;
		}
	}
	return true;
}

/* ------------------------------------------------------------------ */
/* control ring                                                         */
/* ------------------------------------------------------------------ */

struct io_uring ctrl;
int ctrl_fd = -1;

int open_ctrl(void)
{
	ctrl_fd = open("/dev/ublk-control", O_RDWR | O_CLOEXEC);
	if (ctrl_fd < 0) {
		printf("SKIP: /dev/ublk-control: %s\n", strerror(errno));
		return 4;
	}
	if (io_uring_queue_init(4, &ctrl, IORING_SETUP_SQE128)) {
		printf("FAIL: cannot create an SQE128 ring\n");
		return 1;
	}
	return 0;
}

void ctrl_prep(unsigned int op, __u32 dev_id, void *addr, unsigned int len,
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

int ctrl_cmd(unsigned int op, __u32 dev_id, void *addr, unsigned int len,
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
/* servers: a ring that fetches some tags, in the task that owns them   */
/* ------------------------------------------------------------------ */

int cdev = -1;
const struct ublksrv_io_desc *iods;
static size_t iods_len;
int memfd = -1;
int scratch = -1;
unsigned int nr_served;

struct expect expected[NEXPECT];

int srv_open(struct srv *s, const char *name)
{
	return srv_open_flags(s, name, 0);
}

/* a server ring with io_uring setup @flags (e.g. SQE128 | CQE32) */
int srv_open_flags(struct srv *s, const char *name, unsigned int flags)
{
	int ret;

	memset(s, 0, sizeof(*s));
	s->name = name;
	s->seq = UD_SYNC_BASE;
	ret = io_uring_queue_init(64, &s->ring, flags);
	if (ret)
		return ret;
	s->open = true;
	return io_uring_register_buffers_sparse(&s->ring, NBUF);
}

void srv_close(struct srv *s)
{
	if (s->open)
		io_uring_queue_exit(&s->ring);
	s->open = false;
}

struct io_uring_sqe *get_sqe(struct srv *s)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&s->ring);

	if (!sqe) {
		io_uring_submit(&s->ring);
		sqe = io_uring_get_sqe(&s->ring);
	}
	if (!sqe) {
		printf("FAIL: %s: io ring full\n", s->name);
		exit(1);
	}
	memset(sqe, 0, sizeof(*sqe));
	return sqe;
}

void prep_io_cmd(struct io_uring_sqe *sqe, unsigned int op, unsigned int q_id,
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

static void handle_fetch_cqe(struct srv *s, const struct io_uring_cqe *cqe)
{
	unsigned int tag = cqe->user_data - UD_FETCH(0);

	if (cqe->res == UBLK_IO_RES_OK) {
		s->tstate[tag] = T_OWNED;
	} else {
		if (cqe->res != UBLK_IO_RES_ABORT)
			printf("INFO: %s: tag %u: FETCH/COMMIT completed with %d\n",
			       s->name, tag, cqe->res);
		s->tstate[tag] = T_DEAD;
	}
}

/*
 * Wait up to @ms for the CQE with user_data @ud (0: just collect FETCH
 * completions for @ms).  Returns its res, or PENDING.  @flags gets the
 * CQE flags.
 */
int reap_fl(struct srv *s, __u64 ud, unsigned int ms, __u32 *flags)
{
	unsigned long long end = now_ms() + ms;

	if (!s->open) {
		usleep(ms * 1000);
		return PENDING;
	}
	io_uring_submit(&s->ring);
	for (;;) {
		struct io_uring_cqe *cqe;
		long long left = end - now_ms();
		struct __kernel_timespec ts;
		int ret;

		if (left < 0)
			left = 0;
		ts.tv_sec = left / 1000;
		ts.tv_nsec = (left % 1000) * 1000000LL;
		ret = io_uring_wait_cqe_timeout(&s->ring, &cqe, &ts);
		if (ret == -ETIME || (ret < 0 && left == 0))
			return PENDING;
		if (ret == -EINTR)
			continue;
		if (ret < 0) {
			printf("INFO: %s: io_uring_wait_cqe: %s\n", s->name,
			       strerror(-ret));
			return ret;
		}
		if (ud && cqe->user_data == ud) {
			ret = cqe->res;
			if (flags)
				*flags = cqe->flags;
			io_uring_cqe_seen(&s->ring, cqe);
			return ret;
		}
		if (UD_IS_FETCH(cqe->user_data)) {
			handle_fetch_cqe(s, cqe);
		} else {
			printf("INFO: %s: stray completion ud 0x%llx res %d\n",
			       s->name, (unsigned long long)cqe->user_data,
			       cqe->res);
		}
		io_uring_cqe_seen(&s->ring, cqe);
	}
}

int reap(struct srv *s, __u64 ud, unsigned int ms)
{
	return reap_fl(s, ud, ms, NULL);
}

int buf_cmd(struct srv *s, unsigned int op, unsigned int q_id, unsigned int tag,
	    unsigned int index)
{
	struct io_uring_sqe *sqe = get_sqe(s);
	__u64 ud = ++s->seq;

	prep_io_cmd(sqe, op, q_id, tag, 0, index);
	sqe->user_data = ud;
	return reap(s, ud, 5000);
}

int reg_buf(struct srv *s, unsigned int tag, unsigned int index)
{
	return buf_cmd(s, UBLK_U_IO_REGISTER_IO_BUF, 0, tag, index);
}

int unreg_buf(struct srv *s, unsigned int tag, unsigned int index)
{
	return buf_cmd(s, UBLK_U_IO_UNREGISTER_IO_BUF, 0, tag, index);
}

int rw_fixed(struct srv *s, bool is_read, int fd, unsigned int index,
	     unsigned int buf_off, unsigned int len, __u64 file_off)
{
	struct io_uring_sqe *sqe = get_sqe(s);
	__u64 ud = ++s->seq;

	if (is_read)
		io_uring_prep_read_fixed(sqe, fd, (void *)(uintptr_t)buf_off,
					 len, file_off, index);
	else
		io_uring_prep_write_fixed(sqe, fd, (void *)(uintptr_t)buf_off,
					  len, file_off, index);
	sqe->user_data = ud;
	return reap(s, ud, 5000);
}

void commit(struct srv *s, unsigned int tag, int res)
{
	struct io_uring_sqe *sqe = get_sqe(s);

	prep_io_cmd(sqe, UBLK_U_IO_COMMIT_AND_FETCH_REQ, 0, tag, res, 0);
	sqe->user_data = UD_FETCH(tag);
	s->tstate[tag] = T_FETCHING;
	s->claimed[tag] = false;
	io_uring_submit(&s->ring);
}

/* a FETCH or COMMIT that is expected to fail at once (or PENDING) */
int io_cmd_must_fail(struct srv *s, unsigned int op, unsigned int tag, int res)
{
	struct io_uring_sqe *sqe = get_sqe(s);
	__u64 ud = ++s->seq;

	prep_io_cmd(sqe, op, 0, tag, res, 0);
	sqe->user_data = ud;
	return reap(s, ud, 1000);
}

int fetch(struct srv *s, unsigned int tag)
{
	struct io_uring_sqe *sqe = get_sqe(s);

	prep_io_cmd(sqe, UBLK_U_IO_FETCH_REQ, 0, tag, 0, 0);
	sqe->user_data = UD_FETCH(tag);
	s->tstate[tag] = T_FETCHING;
	reap(s, 0, 200);
	return s->tstate[tag] == T_FETCHING ? 0 : -EINVAL;
}

bool is_expected(const struct ublksrv_io_desc *iod)
{
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(expected); i++)
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
static void serve_other(struct srv *s, unsigned int tag)
{
	const struct ublksrv_io_desc *iod = &iods[tag];
	unsigned int op = ublksrv_get_op(iod), len = iod->nr_sectors << 9;
	__u64 off = iod->start_sector << 9;
	int res = 0, ret;

	if (op == UBLK_IO_OP_READ || op == UBLK_IO_OP_WRITE) {
		ret = reg_buf(s, tag, IDX_SERVE);
		if (ret) {
			printf("INFO: %s: serving tag %u: REGISTER_IO_BUF: %d\n",
			       s->name, tag, ret);
			res = -EIO;
		} else {
			res = rw_fixed(s, op == UBLK_IO_OP_READ, memfd,
				       IDX_SERVE, 0, len, off);
			if (res != (int)len) {
				printf("INFO: %s: serving tag %u: %s_FIXED: %d\n",
				       s->name, tag, op == UBLK_IO_OP_READ ?
				       "READ" : "WRITE", res);
				res = res < 0 ? res : -EIO;
			}
			ret = unreg_buf(s, tag, IDX_SERVE);
			if (ret)
				printf("INFO: %s: serving tag %u: UNREGISTER_IO_BUF: %d\n",
				       s->name, tag, ret);
		}
	} else if (op != UBLK_IO_OP_FLUSH) {
		res = -EOPNOTSUPP;
	}
	__atomic_add_fetch(&nr_served, 1, __ATOMIC_RELAXED);
	commit(s, tag, res);
}

void serve_pending(struct srv *s)
{
	bool again = true;
	unsigned int t;

	if (!s->open)
		return;
	while (again) {
		again = false;
		for (t = 0; t < DEPTH; t++) {
			if (s->tstate[t] != T_OWNED || s->claimed[t] ||
			    is_expected(&iods[t]))
				continue;
			serve_other(s, t);
			again = true;
		}
	}
}

/* an owned request (op, off, len); op ~0U: any expected one */
int find_request(struct srv *s, unsigned int op, unsigned int off,
		 unsigned int len)
{
	unsigned int t;

	for (t = 0; t < DEPTH; t++) {
		const struct ublksrv_io_desc *iod = &iods[t];

		if (s->tstate[t] != T_OWNED || s->claimed[t])
			continue;
		if (op == ~0U ? is_expected(iod) :
		    ublksrv_get_op(iod) == op && iod->start_sector << 9 == off &&
		    iod->nr_sectors << 9 == len) {
			s->claimed[t] = true;
			return t;
		}
	}
	return -1;
}

/* wait until a request (op, off, len) is owned by @s; its tag or -1 */
int wait_request(struct srv *s, unsigned int op, unsigned int off,
		 unsigned int len, unsigned int ms)
{
	unsigned long long end = now_ms() + ms;
	int t;

	for (;;) {
		serve_pending(s);
		t = find_request(s, op, off, len);
		if (t >= 0 || now_ms() >= end)
			return t;
		reap(s, 0, 50);
	}
}

void expect_io(int slot, unsigned int op, unsigned int off, unsigned int len)
{
	expected[slot].used = true;
	expected[slot].op = op;
	expected[slot].off = off;
	expected[slot].len = len;
}

/*
 * The helper's I/O @id: IO_LEN bytes at @off of device @dev_id, a write of
 * pattern @seed or a read. Its request is expected in slot @id - 1, so that
 * serve_pending() leaves it alone, and waited for on @s for 20 s; checked
 * as @what. Its tag, or -1.
 */
int request_arrives(struct srv *s, const char *what, int id, bool is_write,
		    unsigned int dev_id, unsigned int off, unsigned int seed)
{
	unsigned int op = is_write ? UBLK_IO_OP_WRITE : UBLK_IO_OP_READ;
	int tag = -1;

	expect_io(id - 1, op, off, IO_LEN);
	if (!io_start(id, is_write, dev_id, off, IO_LEN, seed))
		tag = wait_request(s, op, off, IO_LEN, 20000);
	check(what, tag < 0 ? PENDING : 0, 0);
	return tag;
}

/* ------------------------------------------------------------------ */
/* device setup                                                         */
/* ------------------------------------------------------------------ */

/* the device's data (a memfd) and a scratch file of @scratch_len bytes */
bool setup_files(const char *name, unsigned int scratch_len)
{
	const char *tmpdir = getenv("TMPDIR");
	char tmpl[PATH_MAX];

	memfd = memfd_create(name, MFD_CLOEXEC);
	snprintf(tmpl, sizeof(tmpl), "%s/%s.XXXXXX",
		 tmpdir && *tmpdir ? tmpdir : "/tmp", name);
	scratch = mkostemp(tmpl, O_CLOEXEC);
	if (scratch >= 0)
		unlink(tmpl);
	if (memfd < 0 || scratch < 0 || ftruncate(memfd, DEV_BYTES) ||
	    ftruncate(scratch, scratch_len)) {
		printf("FAIL: memfd/scratch file: %s\n", strerror(errno));
		return false;
	}
	return true;
}

int fill_memfd(unsigned int off, unsigned int len, unsigned int seed)
{
	unsigned char *p = malloc(len);
	int ret;

	if (!p)
		return -ENOMEM;
	fill_pattern(p, len, seed);
	ret = pwrite(memfd, p, len, off) == (ssize_t)len ? 0 : -EIO;
	free(p);
	return ret;
}

/* ADD_DEV of a 1 queue, DEPTH deep device with @flags; fills @info */
int add_dev(__u64 flags, struct ublksrv_ctrl_dev_info *info)
{
	memset(info, 0, sizeof(*info));
	info->nr_hw_queues = 1;
	info->queue_depth = DEPTH;
	info->max_io_buf_bytes = MAX_IO;
	info->dev_id = (__u32)-1;
	info->ublksrv_pid = getpid();
	info->flags = UBLK_F_CMD_IOCTL_ENCODE | flags;
	return ctrl_cmd(UBLK_U_CMD_ADD_DEV, (__u32)-1, info, sizeof(*info), 0);
}

/* SET_PARAMS: DEV_BYTES, 512-byte logical and 4 KiB physical blocks */
int set_basic_params(__u32 id)
{
	struct ublk_params p;

	memset(&p, 0, sizeof(p));
	p.len = sizeof(p);
	p.types = UBLK_PARAM_TYPE_BASIC;
	p.basic.logical_bs_shift = 9;
	p.basic.physical_bs_shift = 12;
	p.basic.io_min_shift = 9;
	p.basic.io_opt_shift = 12;
	p.basic.max_sectors = MAX_IO >> 9;
	p.basic.dev_sectors = DEV_BYTES >> 9;
	return ctrl_cmd(UBLK_U_CMD_SET_PARAMS, id, &p, sizeof(p), 0);
}

/* open /dev/ublkcN (udev may be late): the fd or -errno */
int open_cdev(__u32 id)
{
	char path[64];
	int t, fd = -1;

	snprintf(path, sizeof(path), "/dev/ublkc%u", id);
	for (t = 0; t < 100; t++) {
		fd = open(path, O_RDWR | O_CLOEXEC);
		if (fd >= 0 || errno != ENOENT)
			break;
		usleep(50000);
	}
	return fd < 0 ? -errno : fd;
}

/* open /dev/ublkcN and map its descriptors, checked */
bool cdev_setup(__u32 id)
{
	cdev = open_cdev(id);
	if (!check("open /dev/ublkcN", cdev < 0 ? cdev : 0, 0))
		return false;
	iods_len = (DEPTH * sizeof(struct ublksrv_io_desc) + 4095) & ~4095UL;
	iods = mmap(NULL, iods_len, PROT_READ, MAP_SHARED | MAP_POPULATE, cdev,
		    UBLKSRV_CMD_BUF_OFFSET);
	if (iods == MAP_FAILED) {
		iods = NULL;
		check("mmap of the descriptors", -errno, 0);
		return false;
	}
	return true;
}

void cdev_close(void)
{
	if (iods)
		munmap((void *)iods, iods_len);
	iods = NULL;
	if (cdev >= 0)
		close(cdev);
	cdev = -1;
}

/*
 * START_DEV (or END_USER_RECOVERY): the disk's partition scan reads the
 * device, serve that on @s while waiting; other servers serve their own
 * tags by themselves.  Returns the command's result, or PENDING.
 */
int start_dev(struct srv *s, unsigned int op, __u32 id)
{
	struct io_uring_cqe *cqe;
	unsigned long long end;
	int ret = PENDING;

	ctrl_prep(op, id, NULL, 0, getpid());
	io_uring_submit(&ctrl);
	end = now_ms() + 60000;
	while (ret == PENDING && now_ms() < end) {
		serve_pending(s);
		reap(s, 0, 20);
		if (io_uring_peek_cqe(&ctrl, &cqe) == 0) {
			ret = cqe->res;
			io_uring_cqe_seen(&ctrl, cqe);
		}
	}
	return ret;
}
