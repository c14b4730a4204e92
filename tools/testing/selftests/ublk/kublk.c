// SPDX-License-Identifier: GPL-2.0
/*
 * kublk - userspace ublk server for the ublk selftests.
 *
 * Usage: see print_usage() below or "kublk help".
 *
 * Process model of "add"/"recover": the command forks; the child becomes the
 * daemon (ADD_DEV or START_USER_RECOVERY, SET_PARAMS, one io thread per
 * queue, START_DEV or END_USER_RECOVERY) and tells the parent through a pipe
 * once the device is LIVE (or why it failed).  The parent prints the device
 * and exits; if the child failed after ADD_DEV the parent deletes the
 * half-created device.  The daemon exits when all its io commands have been
 * aborted by the driver (STOP_DEV/DEL_DEV/QUIESCE_DEV from anybody), or on
 * SIGTERM/SIGINT, in which case it stops and deletes the device itself.
 */
#include <getopt.h>
#include <signal.h>
#include <limits.h>
#include <dirent.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sys/sysinfo.h>
#include <time.h>
#include "kublk.h"

int kublk_verbose;

static const struct target_ops *tgt_list[] = {
	&null_tgt_ops,
	&loop_tgt_ops,
	&stripe_tgt_ops,
	&zoned_tgt_ops,
	&nbd_tgt_ops,
};

static const char *const feature_names[] = {
	"SUPPORT_ZERO_COPY", "URING_CMD_COMP_IN_TASK", "NEED_GET_DATA",
	"USER_RECOVERY", "USER_RECOVERY_REISSUE", "UNPRIVILEGED_DEV",
	"CMD_IOCTL_ENCODE", "USER_COPY", "ZONED", "USER_RECOVERY_FAIL_IO",
	"UPDATE_SIZE", "AUTO_BUF_REG", "QUIESCE", "PER_IO_DAEMON",
	"BUF_REG_OFF_DAEMON", "BATCH_IO", "INTEGRITY", "SAFE_STOP_DEV",
	"NO_AUTO_PART_SCAN", "SHMEM_ZC",
};

#define NR_FEATURE_NAMES ARRAY_SIZE(feature_names)

static const char *state_name(unsigned int s)
{
	switch (s) {
	case UBLK_S_DEV_DEAD: return "DEAD";
	case UBLK_S_DEV_LIVE: return "LIVE";
	case UBLK_S_DEV_QUIESCED: return "QUIESCED";
	case UBLK_S_DEV_FAIL_IO: return "FAIL_IO";
	}
	return "UNKNOWN";
}

static void print_flag_names(FILE *f, unsigned long long flags, const char *sep)
{
	bool first = true;
	unsigned int i;

	for (i = 0; i < 64; i++) {
		if (!(flags & (1ULL << i)))
			continue;
		if (!first)
			fputs(sep, f);
		first = false;
		if (i < NR_FEATURE_NAMES)
			fputs(feature_names[i], f);
		else
			fprintf(f, "BIT%u", i);
	}
}

static unsigned int page_size(void)
{
	static unsigned int ps;

	if (!ps)
		ps = sysconf(_SC_PAGESIZE);
	return ps;
}

static size_t round_up_sz(size_t v, size_t a)
{
	return (v + a - 1) / a * a;
}

static int ilog2_u(unsigned int v)
{
	int r = -1;

	while (v) {
		v >>= 1;
		r++;
	}
	return r;
}

static void sleep_ms(unsigned int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

/* ------------------------------------------------------------------ */
/* control ring                                                         */
/* ------------------------------------------------------------------ */

static struct io_uring ctrl_ring;
static int ctrl_fd = -1;

static int ctrl_init(void)
{
	int ret;

	if (ctrl_fd >= 0)
		return 0;
	ctrl_fd = open("/dev/ublk-control", O_RDWR | O_CLOEXEC);
	if (ctrl_fd < 0) {
		ret = -errno;
		ublk_err("open /dev/ublk-control: %s\n", strerror(errno));
		return ret;
	}
	ret = io_uring_queue_init(4, &ctrl_ring, IORING_SETUP_SQE128);
	if (ret < 0) {
		ublk_err("control ring setup: %s\n", strerror(-ret));
		close(ctrl_fd);
		ctrl_fd = -1;
		return ret;
	}
	return 0;
}

static void ctrl_deinit(void)
{
	if (ctrl_fd < 0)
		return;
	io_uring_queue_exit(&ctrl_ring);
	close(ctrl_fd);
	ctrl_fd = -1;
}

struct ctrl_req {
	unsigned int op;			/* UBLK_U_CMD_* */
	__u32 dev_id;
	__u16 q_id;
	void *buf;			/* payload (in or out) */
	unsigned int len;
	__u64 data0;
	bool with_path;			/* UNPRIVILEGED_DEV / GET_DEV_INFO2 */
};

/* Issue one control command and wait for it; returns cqe->res. */
static int ctrl_cmd(const struct ctrl_req *r)
{
	struct ublksrv_ctrl_cmd cmd;
	struct io_uring_sqe *sqe;
	struct io_uring_cqe *cqe;
	char *tmp = NULL;
	int ret;

	ret = ctrl_init();
	if (ret)
		return ret;

	memset(&cmd, 0, sizeof(cmd));
	cmd.dev_id = r->dev_id;
	cmd.queue_id = r->q_id;
	cmd.data[0] = r->data0;
	if (r->with_path) {
		/*
		 * The char device path goes first in the buffer, the real
		 * payload right after it; the driver checks the path and then
		 * skips it (addr += dev_path_len, len -= dev_path_len).
		 */
		size_t tot = KUBLK_PATH_MAX + r->len;

		tmp = calloc(1, tot);
		if (!tmp)
			return -ENOMEM;
		snprintf(tmp, KUBLK_PATH_MAX, "/dev/ublkc%u", r->dev_id);
		if (r->buf && r->len)
			memcpy(tmp + KUBLK_PATH_MAX, r->buf, r->len);
		cmd.addr = (__u64)(uintptr_t)tmp;
		cmd.len = tot;
		cmd.dev_path_len = KUBLK_PATH_MAX;
	} else {
		cmd.addr = (__u64)(uintptr_t)r->buf;
		cmd.len = r->len;
	}

	sqe = io_uring_get_sqe(&ctrl_ring);
	if (!sqe) {
		free(tmp);
		return -EBUSY;
	}
	memset(sqe, 0, 128);		/* SQE128 */
	sqe->opcode = IORING_OP_URING_CMD;
	sqe->fd = ctrl_fd;
	sqe->cmd_op = r->op;
	memcpy((char *)sqe + offsetof(struct io_uring_sqe, addr3), &cmd,
	       sizeof(cmd));
	sqe->user_data = r->op;

	ret = io_uring_submit(&ctrl_ring);
	if (ret < 0) {
		free(tmp);
		return ret;
	}
	do {
		ret = io_uring_wait_cqe(&ctrl_ring, &cqe);
	} while (ret == -EINTR);
	if (ret < 0) {
		free(tmp);
		return ret;
	}
	ret = cqe->res;
	io_uring_cqe_seen(&ctrl_ring, cqe);

	if (tmp) {
		if (ret >= 0 && r->buf && r->len)
			memcpy(r->buf, tmp + KUBLK_PATH_MAX, r->len);
		free(tmp);
	}
	ublk_dbg("ctrl op 0x%x dev %u -> %d\n", r->op, r->dev_id, ret);
	return ret;
}

static int ctrl_simple(unsigned int op, __u32 dev_id, __u64 data0, bool path)
{
	struct ctrl_req r = {
		.op = op, .dev_id = dev_id, .q_id = (__u16)-1,
		.data0 = data0, .with_path = path,
	};
	return ctrl_cmd(&r);
}

static int ctrl_get_features(unsigned long long *features)
{
	__u64 f = 0;
	struct ctrl_req r = {
		.op = UBLK_U_CMD_GET_FEATURES, .dev_id = (__u32)-1,
		.q_id = (__u16)-1, .buf = &f, .len = sizeof(f),
	};
	int ret = ctrl_cmd(&r);

	if (ret >= 0)
		*features = f;
	return ret < 0 ? ret : 0;
}

/* GET_DEV_INFO2 (carries the path, works for both kinds of device) */
static int ctrl_get_info(__u32 dev_id, struct ublksrv_ctrl_dev_info *info)
{
	struct ctrl_req r = {
		.op = UBLK_U_CMD_GET_DEV_INFO2, .dev_id = dev_id,
		.q_id = (__u16)-1, .buf = info, .len = sizeof(*info),
		.with_path = true,
	};
	int ret;

	memset(info, 0, sizeof(*info));
	ret = ctrl_cmd(&r);
	if (ret == -EOPNOTSUPP) {
		r.op = UBLK_U_CMD_GET_DEV_INFO;
		r.with_path = false;
		ret = ctrl_cmd(&r);
	}
	return ret < 0 ? ret : 0;
}

static int ctrl_get_params(const struct ublksrv_ctrl_dev_info *info,
			   struct ublk_params *p)
{
	struct ctrl_req r = {
		.op = UBLK_U_CMD_GET_PARAMS, .dev_id = info->dev_id,
		.q_id = (__u16)-1, .buf = p, .len = sizeof(*p),
		.with_path = info->flags & UBLK_F_UNPRIVILEGED_DEV,
	};
	int ret;

	memset(p, 0, sizeof(*p));
	p->len = sizeof(*p);
	ret = ctrl_cmd(&r);
	return ret < 0 ? ret : 0;
}

static bool dev_unpriv(const struct ublk_dev *dev)
{
	return dev->info.flags & UBLK_F_UNPRIVILEGED_DEV;
}

/* ------------------------------------------------------------------ */
/* state files: target arguments survive for "recover"                  */
/* ------------------------------------------------------------------ */

static const char *state_dir(void)
{
	static char dir[PATH_MAX];
	const char *env = getenv("UBLK_STATE_DIR");
	const char *tmp = getenv("TMPDIR");

	if (dir[0])
		return dir;
	if (!tmp || !*tmp)
		tmp = "/tmp";
	if (env && *env) {
		snprintf(dir, sizeof(dir), "%s", env);
	} else if (geteuid() == 0) {
		snprintf(dir, sizeof(dir), "/run/ublk");
		mkdir(dir, 0755);
		if (access(dir, W_OK))
			snprintf(dir, sizeof(dir), "%s/ublk-state", tmp);
	} else {
		snprintf(dir, sizeof(dir), "%s/ublk-state-%u", tmp,
			 (unsigned int)geteuid());
	}
	mkdir(dir, 0755);
	return dir;
}

static void state_path(int dev_id, const char *ext, char *buf, size_t len)
{
	snprintf(buf, len, "%s/ublk%d.%s", state_dir(), dev_id, ext);
}

static int state_save(const struct dev_ctx *ctx, int dev_id)
{
	char path[PATH_MAX];
	FILE *f;
	int i;

	state_path(dev_id, "args", path, sizeof(path));
	f = fopen(path, "w");
	if (!f)
		return -errno;
	fprintf(f, "tgt=%s\nqueues=%u\ndepth=%u\nmax_io_buf=%u\nsize=%llu\n"
		"logical_bs=%u\nphysical_bs=%u\nbuffered=%d\nauto_zc_fallback=%d\n"
		"auto_zc_force_fallback=%d\nchunk=%u\nper_io_tasks=%u\n",
		ctx->tgt_type, ctx->nr_queues, ctx->depth,
		ctx->max_io_buf_bytes, ctx->size, ctx->logical_bs,
		ctx->physical_bs, ctx->buffered, ctx->auto_zc_fallback,
		ctx->auto_zc_force_fallback, ctx->chunk_size,
		ctx->per_io_tasks);
	if (ctx->nbd_host[0])
		fprintf(f, "nbd_host=%s\nnbd_port=%s\nnbd_export=%s\n",
			ctx->nbd_host, ctx->nbd_port, ctx->nbd_export);
	for (i = 0; i < ctx->nr_files; i++)
		fprintf(f, "file=%s\n", ctx->files[i]);
	if (fclose(f))
		return -errno;
	return 0;
}

static int state_load(struct dev_ctx *ctx, int dev_id)
{
	char path[PATH_MAX], line[4200];
	FILE *f;

	state_path(dev_id, "args", path, sizeof(path));
	f = fopen(path, "r");
	if (!f)
		return -errno;
	ctx->nr_files = 0;
	while (fgets(line, sizeof(line), f)) {
		char *v = strchr(line, '=');

		if (!v)
			continue;
		*v++ = 0;
		v[strcspn(v, "\n")] = 0;
		if (!strcmp(line, "tgt"))
			snprintf(ctx->tgt_type, sizeof(ctx->tgt_type), "%s", v);
		else if (!strcmp(line, "queues"))
			ctx->nr_queues = strtoul(v, NULL, 0);
		else if (!strcmp(line, "depth"))
			ctx->depth = strtoul(v, NULL, 0);
		else if (!strcmp(line, "max_io_buf"))
			ctx->max_io_buf_bytes = strtoul(v, NULL, 0);
		else if (!strcmp(line, "size"))
			ctx->size = strtoull(v, NULL, 0);
		else if (!strcmp(line, "logical_bs"))
			ctx->logical_bs = strtoul(v, NULL, 0);
		else if (!strcmp(line, "physical_bs"))
			ctx->physical_bs = strtoul(v, NULL, 0);
		else if (!strcmp(line, "buffered"))
			ctx->buffered = atoi(v);
		else if (!strcmp(line, "auto_zc_fallback"))
			ctx->auto_zc_fallback = atoi(v);
		else if (!strcmp(line, "auto_zc_force_fallback"))
			ctx->auto_zc_force_fallback = atoi(v);
		else if (!strcmp(line, "chunk"))
			ctx->chunk_size = strtoul(v, NULL, 0);
		else if (!strcmp(line, "per_io_tasks"))
			ctx->per_io_tasks = strtoul(v, NULL, 0);
		else if (!strcmp(line, "nbd_host"))
			snprintf(ctx->nbd_host, sizeof(ctx->nbd_host), "%s", v);
		else if (!strcmp(line, "nbd_port"))
			snprintf(ctx->nbd_port, sizeof(ctx->nbd_port), "%s", v);
		else if (!strcmp(line, "nbd_export"))
			snprintf(ctx->nbd_export, sizeof(ctx->nbd_export), "%s", v);
		else if (!strcmp(line, "file") && ctx->nr_files < KUBLK_MAX_FILES)
			snprintf(ctx->files[ctx->nr_files++], sizeof(ctx->files[0]),
				 "%s", v);
	}
	fclose(f);
	return 0;
}

static void state_remove(int dev_id)
{
	char path[PATH_MAX];

	state_path(dev_id, "args", path, sizeof(path));
	unlink(path);
}

/* ------------------------------------------------------------------ */
/* io path                                                              */
/* ------------------------------------------------------------------ */

static inline __u64 user_copy_off(int q_id, int tag)
{
	return ublk_user_copy_off(q_id, tag);
}

/* does the driver copy to/from ios[tag].buf (addr in FETCH/COMMIT)? */
static inline bool queue_maps_io(const struct ublk_queue *q)
{
	return !(q->dev->info.flags & (UBLK_F_USER_COPY |
				       UBLK_F_SUPPORT_ZERO_COPY |
				       UBLK_F_AUTO_BUF_REG));
}

struct io_uring_sqe *ublk_queue_alloc_sqe(struct ublk_queue *q)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&q->ring);

	if (!sqe) {
		io_uring_submit(&q->ring);
		sqe = io_uring_get_sqe(&q->ring);
	}
	if (sqe)
		memset(sqe, 0, sizeof(*sqe));
	return sqe;
}

bool ublk_queue_reserve_sqes(struct ublk_queue *q, unsigned int nr)
{
	if (nr > q->ring.sq.ring_entries)
		return false;
	if (io_uring_sq_space_left(&q->ring) < nr)
		io_uring_submit(&q->ring);
	return io_uring_sq_space_left(&q->ring) >= nr;
}

struct io_uring_sqe *ublk_alloc_tgt_sqe(struct ublk_queue *q)
{
	struct io_uring_sqe *sqe = ublk_queue_alloc_sqe(q);

	if (sqe)
		q->tgt_inflight++;
	return sqe;
}

struct io_uring_sqe *ublk_tgt_io_sqe(struct ublk_queue *q, int tag,
				     unsigned int op, unsigned int kind)
{
	struct io_uring_sqe *sqe = ublk_alloc_tgt_sqe(q);

	if (!sqe)
		return NULL;
	q->ios[tag].tgt_inflight++;
	sqe->user_data = build_user_data(tag, op, kind, true);
	return sqe;
}

void ublk_tgt_io_sqe_file(struct io_uring_sqe *sqe, unsigned int tag,
			  unsigned int op, unsigned int kind)
{
	sqe->flags |= IOSQE_FIXED_FILE;
	sqe->user_data = build_user_data(tag, op, kind, true);
}

static void prep_io_cmd(struct ublk_queue *q, struct io_uring_sqe *sqe,
			unsigned int op, int tag, int result, __u64 addr)
{
	struct ublksrv_io_cmd cmd = {
		.q_id = q->q_id, .tag = tag, .result = result, .addr = addr,
	};

	sqe->opcode = IORING_OP_URING_CMD;
	sqe->fd = 0;			/* fixed file 0: /dev/ublkcN */
	sqe->flags = IOSQE_FIXED_FILE;
	sqe->cmd_op = op;
	memcpy((char *)sqe + offsetof(struct io_uring_sqe, addr3), &cmd,
	       sizeof(cmd));
}

/*
 * Zero copy helpers for targets: REGISTER_IO_BUF / UNREGISTER_IO_BUF of
 * request @tag at buffer-table index ublk_io_buf_index(); the CQE goes to
 * the target with @tgt_data in user_data.
 */
struct io_uring_sqe *ublk_prep_buf_reg(struct ublk_queue *q, int tag,
				       bool reg, unsigned int tgt_data)
{
	struct io_uring_sqe *sqe = ublk_queue_alloc_sqe(q);
	unsigned int op = reg ? UBLK_U_IO_REGISTER_IO_BUF : UBLK_U_IO_UNREGISTER_IO_BUF;

	if (!sqe)
		return NULL;
	prep_io_cmd(q, sqe, op, tag, 0, ublk_io_buf_index(q, tag));
	sqe->user_data = build_user_data(tag, _IOC_NR(op), tgt_data, true);
	q->tgt_inflight++;
	return sqe;
}

static int queue_io_cmd(struct ublk_queue *q, int tag, unsigned int op, int result)
{
	struct ublk_io *io = &q->ios[tag];
	struct io_uring_sqe *sqe;
	__u64 addr = 0;

	if (io->flags & IO_F_DONE)
		return -ENODEV;
	sqe = ublk_queue_alloc_sqe(q);
	if (!sqe) {
		ublk_err("q%d tag %d: no sqe\n", q->q_id, tag);
		return -ENOMEM;
	}
	/*
	 * Copy mode: every command carries the tag's buffer (with
	 * NEED_GET_DATA the FETCH one is optional, passing it is harmless).
	 * User copy and zero copy: addr must be 0.
	 */
	if (queue_maps_io(q))
		addr = (__u64)(uintptr_t)io->buf;
	else if (op == UBLK_U_IO_COMMIT_AND_FETCH_REQ)
		addr = io->commit_addr;
	io->commit_addr = 0;
	prep_io_cmd(q, sqe, op, tag, result, addr);
	if (ublk_queue_auto_zc(q) && op != UBLK_U_IO_NEED_GET_DATA) {
		/*
		 * automatic buffer registration for the next request of this
		 * tag (struct ublk_auto_buf_reg): index in bits 0..15, flags
		 * in bits 16..23 of sqe->addr, the rest zero
		 */
		__u16 index = ublk_io_buf_index(q, tag);
		__u8 flags = 0;

		if (q->dev->ctx->auto_zc_fallback)
			flags |= UBLK_AUTO_BUF_REG_FALLBACK;
		/* test hook: beyond the table, so every registration fails */
		if (q->dev->ctx->auto_zc_force_fallback)
			index = q->depth + tag;
		sqe->addr = (__u64)index | ((__u64)flags << 16);
	}
	sqe->user_data = build_user_data(tag, _IOC_NR(op), 0, false);
	io->flags |= IO_F_CMD_INFLIGHT;
	q->cmd_inflight++;
	return 0;
}

int ublk_complete_io(struct ublk_queue *q, int tag, int res)
{
	struct ublk_io *io = &q->ios[tag];
	const struct ublksrv_io_desc *iod = ublk_get_iod(q, tag);

	if (ublk_queue_user_copy(q) && io->buf && res > 0 &&
	    ublksrv_get_op(iod) == UBLK_IO_OP_READ) {
		ssize_t n = pwrite(q->dev->cdev_fd, io->buf, res,
				   user_copy_off(q->q_id, tag));
		if (n != res) {
			ublk_err("q%d tag %d: user copy pwrite: %s\n", q->q_id,
				 tag, n < 0 ? strerror(errno) : "short");
			res = n < 0 ? -errno : -EIO;
		}
	}
	io->flags &= ~IO_F_IN_SERVER;
	io->result = res;
	q->nr_ios++;
	return queue_io_cmd(q, tag, UBLK_U_IO_COMMIT_AND_FETCH_REQ, res);
}

static void handle_request(struct ublk_queue *q, int tag)
{
	const struct ublksrv_io_desc *iod = ublk_get_iod(q, tag);
	struct ublk_io *io = &q->ios[tag];
	unsigned int op = ublksrv_get_op(iod);
	unsigned int len = iod->nr_sectors << 9;
	int ret;

	io->flags |= IO_F_IN_SERVER;
	io->tgt_res = 0;
	io->tgt_flags = 0;
	if (iod->op_flags & UBLK_IO_F_NEED_REG_BUF)
		q->nr_need_reg++;
	io->commit_addr = 0;
	/* a zone append carries data like a write */
	if (op == UBLK_IO_OP_ZONE_APPEND)
		op = UBLK_IO_OP_WRITE;
	if ((op == UBLK_IO_OP_READ || op == UBLK_IO_OP_WRITE) && io->buf &&
	    len > q->dev->info.max_io_buf_bytes) {
		ublk_err("q%d tag %d: request of %u bytes > buffer\n",
			 q->q_id, tag, len);
		ublk_complete_io(q, tag, -EINVAL);
		return;
	}
	if (ublk_queue_user_copy(q) && io->buf && op == UBLK_IO_OP_WRITE) {
		ssize_t n = pread(q->dev->cdev_fd, io->buf, len,
				  user_copy_off(q->q_id, tag));
		if (n != (ssize_t)len) {
			ublk_err("q%d tag %d: user copy pread: %s\n", q->q_id,
				 tag, n < 0 ? strerror(errno) : "short");
			ublk_complete_io(q, tag, n < 0 ? -errno : -EIO);
			return;
		}
	}
	ret = q->dev->tgt->queue_io(q, tag);
	if (ret < 0)
		ublk_complete_io(q, tag, ret);
}

static void handle_cqe(struct ublk_queue *q, const struct io_uring_cqe *cqe)
{
	unsigned int tag = user_data_to_tag(cqe->user_data);
	struct ublk_io *io;

	if (tag >= (unsigned int)q->depth) {
		ublk_err("q%d: cqe with bad tag %u\n", q->q_id, tag);
		return;
	}
	io = &q->ios[tag];

	if (user_data_is_tgt(cqe->user_data)) {
		q->tgt_inflight--;
		q->dev->tgt->tgt_io_done(q, tag, cqe);
		return;
	}

	q->cmd_inflight--;
	io->flags &= ~IO_F_CMD_INFLIGHT;
	switch (cqe->res) {
	case UBLK_IO_RES_OK:
		handle_request(q, tag);
		break;
	case UBLK_IO_RES_NEED_GET_DATA:
		if (queue_io_cmd(q, tag, UBLK_U_IO_NEED_GET_DATA, 0))
			goto done;
		break;
	default:
		if (cqe->res != UBLK_IO_RES_ABORT)
			ublk_err("q%d tag %u: io command %u failed: %s\n",
				 q->q_id, tag, user_data_to_op(cqe->user_data),
				 strerror(-cqe->res));
		goto done;
	}
	return;
done:
	io->flags |= IO_F_DONE;
	q->nr_done++;
}

static void queue_deinit(struct ublk_queue *q)
{
	int i;

	if (q->ring_ok) {
		io_uring_queue_exit(&q->ring);
		q->ring_ok = false;
	}
	if (q->iods) {
		munmap((void *)q->iods, q->iods_len);
		q->iods = NULL;
	}
	for (i = 0; i < q->depth; i++) {
		free(q->ios[i].buf);
		q->ios[i].buf = NULL;
	}
}

static int queue_init(struct ublk_queue *q)
{
	struct ublk_dev *dev = q->dev;
	unsigned int entries, per_io;
	size_t off;
	void *p;
	int i, ret;

	/* the tag's io command + what the target may chain for it */
	per_io = 1 + (dev->tgt_sqes_per_io ?: (dev->tgt->sqes_per_io ?: 1));
	entries = 1;
	while (entries < q->depth * per_io && entries < KUBLK_MAX_RING_ENTRIES)
		entries <<= 1;
	/* one request's chain must always fit (ublk_queue_reserve_sqes) */
	while (entries < per_io)
		entries <<= 1;
	ret = io_uring_queue_init(entries, &q->ring, IORING_SETUP_COOP_TASKRUN);
	if (ret == -EINVAL)
		ret = io_uring_queue_init(entries, &q->ring, 0);
	if (ret < 0) {
		ublk_err("q%d: io_uring_queue_init(%u): %s\n", q->q_id, entries,
			 strerror(-ret));
		return ret;
	}
	q->ring_ok = true;

	ret = io_uring_register_files(&q->ring, dev->fds, dev->nr_fds);
	if (ret) {
		ublk_err("q%d: register files: %s\n", q->q_id, strerror(-ret));
		return ret;
	}
	if (dev->info.flags & (UBLK_F_SUPPORT_ZERO_COPY | UBLK_F_AUTO_BUF_REG)) {
		ret = io_uring_register_buffers_sparse(&q->ring, q->depth);
		if (ret) {
			ublk_err("q%d: register sparse buffers: %s\n", q->q_id,
				 strerror(-ret));
			return ret;
		}
	}

	off = (size_t)q->q_id * round_up_sz(UBLK_MAX_QUEUE_DEPTH *
					    sizeof(struct ublksrv_io_desc),
					    page_size());
	q->iods_len = round_up_sz(q->depth * sizeof(struct ublksrv_io_desc),
				  page_size());
	p = mmap(NULL, q->iods_len, PROT_READ, MAP_SHARED | MAP_POPULATE,
		 dev->cdev_fd, UBLKSRV_CMD_BUF_OFFSET + off);
	if (p == MAP_FAILED) {
		ret = -errno;
		ublk_err("q%d: mmap descriptors: %s\n", q->q_id, strerror(errno));
		return ret;
	}
	q->iods = p;

	if (!(dev->info.flags & (UBLK_F_SUPPORT_ZERO_COPY | UBLK_F_AUTO_BUF_REG))) {
		for (i = 0; i < q->depth; i++) {
			if (!ublk_queue_owns_tag(q, i))
				continue;
			ret = posix_memalign(&q->ios[i].buf, page_size(),
					     dev->info.max_io_buf_bytes);
			if (ret) {
				ublk_err("q%d: buffer allocation failed\n", q->q_id);
				return -ret;
			}
		}
	}
	return 0;
}

/* readiness barrier between the queue threads and the daemon main thread */
static pthread_mutex_t ready_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t ready_cond = PTHREAD_COND_INITIALIZER;
static unsigned int nr_ready;
static int ready_err;

static void queue_report_ready(int ret)
{
	pthread_mutex_lock(&ready_lock);
	nr_ready++;
	if (ret && !ready_err)
		ready_err = ret;
	pthread_cond_broadcast(&ready_cond);
	pthread_mutex_unlock(&ready_lock);
}

static void *queue_thread(void *arg)
{
	struct ublk_queue *q = arg;
	int i, ret, idle = 0;

	ret = queue_init(q);
	for (i = 0; !ret && i < q->depth; i++)
		if (ublk_queue_owns_tag(q, i))
			ret = queue_io_cmd(q, i, UBLK_U_IO_FETCH_REQ, 0);
	if (!ret) {
		ret = io_uring_submit(&q->ring);
		ret = ret < 0 ? ret : 0;
	}
	queue_report_ready(ret);
	if (ret)
		goto out;

	ublk_dbg("q%d: started, %d fetches\n", q->q_id, q->cmd_inflight);
	while (q->cmd_inflight > 0 || q->tgt_inflight > 0) {
		struct io_uring_cqe *cqe;
		unsigned int head, n = 0;

		if (!q->cmd_inflight && q->dev->tgt->queue_idle)
			q->dev->tgt->queue_idle(q);
		if (!q->nr_done) {
			ret = io_uring_submit_and_wait(&q->ring, 1);
		} else {
			/*
			 * The device is going away (some tags were aborted):
			 * don't wait forever for commands the driver may keep;
			 * tearing the ring down cancels them.
			 */
			struct __kernel_timespec ts = { .tv_sec = 1 };

			io_uring_submit(&q->ring);
			ret = io_uring_wait_cqe_timeout(&q->ring, &cqe, &ts);
			if (ret == -ETIME) {
				if (++idle < 5)
					continue;
				ublk_err("q%d: giving up on %d commands, %d target ios still in flight\n",
					 q->q_id, q->cmd_inflight, q->tgt_inflight);
				ret = 0;
				break;
			}
			idle = 0;
		}
		if (ret < 0 && ret != -EINTR && ret != -EAGAIN && ret != -EBUSY) {
			ublk_err("q%d: io_uring wait: %s\n", q->q_id,
				 strerror(-ret));
			break;
		}
		io_uring_for_each_cqe(&q->ring, head, cqe) {
			handle_cqe(q, cqe);
			n++;
		}
		io_uring_cq_advance(&q->ring, n);
	}
	ret = ret < 0 && ret != -EINTR && ret != -EAGAIN && ret != -EBUSY ? ret : 0;
	/* always logged: the tests read need_reg_buf from the daemon log */
	fprintf(stderr, "kublk: q%d: exit: ios=%llu need_reg_buf=%llu aborted=%d\n",
		q->q_id, q->nr_ios, q->nr_need_reg, q->nr_done);
out:
	q->ret = ret;
	queue_deinit(q);
	if (write(q->dev->wake_fd[1], "q", 1) < 0)
		ublk_err("q%d: wake main: %s\n", q->q_id, strerror(errno));
	return NULL;
}

/* ------------------------------------------------------------------ */
/* daemon                                                               */
/* ------------------------------------------------------------------ */

struct ready_msg {
	int ret;
	int dev_id;
	int pid;
	int added;		/* the device was created by this daemon */
};

static int daemon_wake_fd = -1;

static void daemon_sig(int sig)
{
	char c = 's';

	(void)sig;
	if (daemon_wake_fd < 0)
		return;
	/* nothing useful to do in a signal handler if the write fails */
	if (write(daemon_wake_fd, &c, 1) < 0)
		return;
}

static const struct target_ops *find_tgt(const char *name)
{
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(tgt_list); i++)
		if (!strcmp(tgt_list[i]->name, name))
			return tgt_list[i];
	return NULL;
}

static const struct target_ops *find_tgt_id(int id)
{
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(tgt_list); i++)
		if (tgt_list[i]->id == id)
			return tgt_list[i];
	return NULL;
}

void ublk_set_basic_params(struct ublk_dev *dev, unsigned long long size)
{
	struct ublk_params *p = &dev->params;
	struct dev_ctx *ctx = dev->ctx;
	unsigned int pbs = ctx->physical_bs ? ctx->physical_bs :
		(ctx->logical_bs > 4096 ? ctx->logical_bs : 4096);

	memset(p, 0, sizeof(*p));
	p->len = sizeof(*p);
	p->types = UBLK_PARAM_TYPE_BASIC;
	p->basic.logical_bs_shift = ilog2_u(ctx->logical_bs);
	p->basic.physical_bs_shift = ilog2_u(pbs);
	p->basic.io_min_shift = ilog2_u(ctx->logical_bs);
	p->basic.io_opt_shift = ilog2_u(pbs);
	p->basic.max_sectors = dev->info.max_io_buf_bytes >> 9;
	p->basic.dev_sectors = size >> 9;
	dev->dev_size = size;
}

static int open_cdev(struct ublk_dev *dev)
{
	int i, fd = -1;

	/*
	 * The node may not be accessible yet for an unprivileged owner (udev
	 * or the test's helper chowns it), and after a crash the old daemon
	 * may still hold it: retry for a while.
	 */
	for (i = 0; i < 200; i++) {
		fd = open(dev->cdev_path, O_RDWR | O_CLOEXEC);
		if (fd >= 0)
			break;
		if (errno != EACCES && errno != ENOENT && errno != EBUSY &&
		    errno != EPERM)
			break;
		sleep_ms(50);
	}
	if (fd < 0) {
		int err = -errno;

		ublk_err("open %s: %s\n", dev->cdev_path, strerror(errno));
		return err;
	}
	dev->cdev_fd = fd;
	dev->fds[0] = fd;
	dev->nr_fds = 1;
	return 0;
}

static int add_device(struct ublk_dev *dev, bool *added)
{
	struct dev_ctx *ctx = dev->ctx;
	struct ublksrv_ctrl_dev_info *info = &dev->info;
	unsigned long long want = UBLK_F_CMD_IOCTL_ENCODE;
	struct ctrl_req r;
	int ret;

	if (ctx->user_copy)
		want |= UBLK_F_USER_COPY;
	if (ctx->get_data)
		want |= UBLK_F_NEED_GET_DATA;
	if (ctx->recovery)
		want |= UBLK_F_USER_RECOVERY;
	if (ctx->recovery_reissue)
		want |= UBLK_F_USER_RECOVERY | UBLK_F_USER_RECOVERY_REISSUE;
	if (ctx->recovery_fail_io)
		want |= UBLK_F_USER_RECOVERY | UBLK_F_USER_RECOVERY_FAIL_IO;
	if (ctx->unprivileged)
		want |= UBLK_F_UNPRIVILEGED_DEV;
	if (ctx->quiesce)
		want |= UBLK_F_QUIESCE;
	if (ctx->update_size)
		want |= UBLK_F_UPDATE_SIZE;
	if (ctx->zero_copy)
		want |= UBLK_F_SUPPORT_ZERO_COPY;
	if (ctx->per_io_tasks > 1)
		want |= UBLK_F_PER_IO_DAEMON;
	if (ctx->auto_zc || ctx->auto_zc_fallback)
		want |= UBLK_F_AUTO_BUF_REG;
	if (dev->tgt == &zoned_tgt_ops && !ctx->zoned_no_flag)
		want |= UBLK_F_ZONED;
	/*
	 * A fallback request (UBLK_IO_F_NEED_REG_BUF) is registered with
	 * REGISTER_IO_BUF, which (mainline) needs SUPPORT_ZERO_COPY too.
	 */
	if (ctx->auto_zc_fallback && (dev->features & UBLK_F_SUPPORT_ZERO_COPY))
		want |= UBLK_F_SUPPORT_ZERO_COPY;
	/* harmless to ask: unknown flags are dropped by the driver */
	if ((dev->features & UBLK_F_SAFE_STOP_DEV) && !ctx->no_safe_stop)
		want |= UBLK_F_SAFE_STOP_DEV;

	memset(info, 0, sizeof(*info));
	info->nr_hw_queues = ctx->nr_queues;
	info->queue_depth = ctx->depth;
	info->max_io_buf_bytes = ctx->max_io_buf_bytes;
	info->dev_id = ctx->dev_id;
	info->ublksrv_pid = getpid();
	info->flags = want;
	info->ublksrv_flags = KUBLK_SRV_FLAGS(dev->tgt->id);

	memset(&r, 0, sizeof(r));
	r.op = UBLK_U_CMD_ADD_DEV;
	r.dev_id = ctx->dev_id;
	r.q_id = (__u16)-1;
	r.buf = info;
	r.len = sizeof(*info);
	ret = ctrl_cmd(&r);
	if (ret < 0) {
		ublk_err("ADD_DEV: %s\n", strerror(-ret));
		return ret;
	}
	*added = true;
	/* flags we need but didn't get are fatal (the rest are hints) */
	want &= ~(UBLK_F_SAFE_STOP_DEV | UBLK_F_CMD_IOCTL_ENCODE);
	if ((info->flags & want) != want) {
		fprintf(stderr, "kublk: dev %u: driver did not grant flags: ",
			info->dev_id);
		print_flag_names(stderr, want & ~info->flags, ",");
		fputc('\n', stderr);
		return -EOPNOTSUPP;
	}
	if (info->nr_hw_queues != ctx->nr_queues ||
	    info->queue_depth != ctx->depth) {
		ublk_err("dev %u: driver changed queues/depth to %u/%u\n",
			 info->dev_id, info->nr_hw_queues, info->queue_depth);
		return -EINVAL;
	}
	return 0;
}

static int start_recovery(struct ublk_dev *dev)
{
	struct dev_ctx *ctx = dev->ctx;
	int i, ret;

	ret = ctrl_get_info(ctx->dev_id, &dev->info);
	if (ret) {
		ublk_err("dev %d: get info: %s\n", ctx->dev_id, strerror(-ret));
		return ret;
	}
	if (!(dev->info.flags & UBLK_F_USER_RECOVERY)) {
		ublk_err("dev %d: not created with USER_RECOVERY\n", ctx->dev_id);
		return -EINVAL;
	}
	/* the driver notices the old daemon's death asynchronously */
	for (i = 0; i < 400; i++) {
		ret = ctrl_simple(UBLK_U_CMD_START_USER_RECOVERY, ctx->dev_id,
				  0, dev_unpriv(dev));
		if (ret != -EBUSY)
			break;
		sleep_ms(50);
	}
	if (ret < 0) {
		ublk_err("dev %d: START_USER_RECOVERY: %s\n", ctx->dev_id,
			 strerror(-ret));
		return ret;
	}
	ret = ctrl_get_info(ctx->dev_id, &dev->info);
	if (ret)
		return ret;
	ret = ctrl_get_params(&dev->info, &dev->params);
	if (ret) {
		ublk_err("dev %d: GET_PARAMS: %s\n", ctx->dev_id, strerror(-ret));
		return ret;
	}
	dev->dev_size = dev->params.basic.dev_sectors << 9;
	return 0;
}

static void notify_parent(int fd, const struct ready_msg *m)
{
	if (fd < 0)
		return;
	if (write(fd, m, sizeof(*m)) != sizeof(*m))
		ublk_err("notify parent: %s\n", strerror(errno));
	close(fd);
}

static void redirect_stdio(int dev_id)
{
	char path[PATH_MAX];
	int fd;

	state_path(dev_id, "log", path, sizeof(path));
	fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (fd < 0)
		fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
	if (fd >= 0) {
		dup2(fd, STDOUT_FILENO);
		dup2(fd, STDERR_FILENO);
		close(fd);
	}
	fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		dup2(fd, STDIN_FILENO);
		close(fd);
	}
}

/* Runs in the forked daemon.  Returns the daemon's exit status. */
static int run_daemon(struct dev_ctx *ctx, int notify_fd)
{
	struct ready_msg msg = { .ret = -EINVAL, .dev_id = -1, .pid = getpid() };
	struct ublk_dev *dev;
	struct sigaction sa;
	sigset_t set, old;
	bool stopping = false, tgt_inited = false;
	unsigned int i, nr_started = 0, nr_exited = 0;
	unsigned int nr_tasks = ctx->per_io_tasks > 1 ? ctx->per_io_tasks : 1;
	int ret, status = 0;

	dev = calloc(1, sizeof(*dev));
	if (!dev)
		goto fail;
	dev->ctx = ctx;
	dev->cdev_fd = -1;
	dev->tgt = find_tgt(ctx->tgt_type);
	if (!dev->tgt) {
		ublk_err("unknown target %s\n", ctx->tgt_type);
		goto fail;
	}
	if (pipe2(dev->wake_fd, O_CLOEXEC)) {
		msg.ret = -errno;
		goto fail;
	}
	daemon_wake_fd = dev->wake_fd[1];
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = daemon_sig;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	signal(SIGHUP, SIG_IGN);

	ret = ctrl_get_features(&dev->features);
	if (ret) {
		ublk_err("GET_FEATURES: %s\n", strerror(-ret));
		msg.ret = ret;
		goto fail;
	}

	if (ctx->recovering) {
		msg.dev_id = ctx->dev_id;
		ret = start_recovery(dev);
	} else {
		bool added = false;

		ret = add_device(dev, &added);
		if (added) {
			/* from here on, a failure makes the parent delete it */
			msg.dev_id = dev->info.dev_id;
			msg.added = 1;
		}
		if (!ret)
			state_save(ctx, dev->info.dev_id);
	}
	if (ret) {
		msg.ret = ret;
		goto fail;
	}
	snprintf(dev->cdev_path, sizeof(dev->cdev_path), "/dev/ublkc%u",
		 dev->info.dev_id);
	dev->nr_queues = dev->info.nr_hw_queues;
	if (dev->nr_queues > KUBLK_MAX_QUEUES) {
		ublk_err("too many queues %u\n", dev->nr_queues);
		goto fail;
	}

	ret = open_cdev(dev);
	if (ret) {
		msg.ret = ret;
		goto fail;
	}
	ret = dev->tgt->init(dev);
	if (ret) {
		ublk_err("target %s init: %s\n", dev->tgt->name, strerror(-ret));
		msg.ret = ret;
		goto fail;
	}
	tgt_inited = true;
	if (!ctx->recovering && !ctx->zoned_skip_params) {
		struct ctrl_req r = {
			.op = UBLK_U_CMD_SET_PARAMS, .dev_id = dev->info.dev_id,
			.q_id = (__u16)-1, .buf = &dev->params,
			.len = sizeof(dev->params), .with_path = dev_unpriv(dev),
		};

		ret = ctrl_cmd(&r);
		if (ret < 0) {
			ublk_err("SET_PARAMS: %s\n", strerror(-ret));
			msg.ret = ret;
			goto fail;
		}
	}

	/* io threads: SIGTERM/SIGINT only go to the main thread */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, &old);
	for (i = 0; i < dev->nr_queues * nr_tasks; i++) {
		struct ublk_queue *q;

		q = calloc(1, sizeof(*q));
		if (!q)
			break;
		q->ios = calloc(dev->info.queue_depth, sizeof(struct ublk_io));
		if (!q->ios) {
			free(q);
			break;
		}
		q->dev = dev;
		q->q_id = i / nr_tasks;
		q->task_idx = i % nr_tasks;
		q->nr_tasks = nr_tasks;
		q->depth = dev->info.queue_depth;
		dev->q[i] = q;
		if (pthread_create(&q->thread, NULL, queue_thread, q)) {
			dev->q[i] = NULL;
			free(q->ios);
			free(q);
			break;
		}
		nr_started++;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);

	pthread_mutex_lock(&ready_lock);
	while (nr_ready < nr_started)
		pthread_cond_wait(&ready_cond, &ready_lock);
	ret = ready_err;
	pthread_mutex_unlock(&ready_lock);
	if (nr_started != dev->nr_queues * nr_tasks) {
		ublk_err("could not start all queue threads\n");
		ret = -ENOMEM;
	}
	if (ret) {
		msg.ret = ret;
		goto fail;
	}

	if (ctx->recovering)
		ret = ctrl_simple(UBLK_U_CMD_END_USER_RECOVERY, dev->info.dev_id,
				  getpid(), dev_unpriv(dev));
	else
		ret = ctrl_simple(UBLK_U_CMD_START_DEV, dev->info.dev_id,
				  getpid(), dev_unpriv(dev));
	if (ret < 0) {
		ublk_err("%s: %s\n", ctx->recovering ? "END_USER_RECOVERY" :
			 "START_DEV", strerror(-ret));
		msg.ret = ret;
		goto fail;
	}

	/* LIVE: detach from the caller's terminal/pipes and report */
	msg.ret = 0;
	msg.dev_id = dev->info.dev_id;
	if (!ctx->foreground)
		redirect_stdio(dev->info.dev_id);
	notify_parent(notify_fd, &msg);
	notify_fd = -1;

	while (nr_exited < nr_started) {
		char c;
		ssize_t n = read(dev->wake_fd[0], &c, 1);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		if (c == 'q') {
			nr_exited++;
		} else if (c == 's' && !stopping) {
			stopping = true;
			ublk_dbg("dev %u: signal, stopping\n", dev->info.dev_id);
			ret = ctrl_simple(UBLK_U_CMD_STOP_DEV, dev->info.dev_id,
					  0, dev_unpriv(dev));
			if (ret < 0)
				ublk_err("STOP_DEV: %s\n", strerror(-ret));
		}
	}
	for (i = 0; i < nr_started; i++) {
		pthread_join(dev->q[i]->thread, NULL);
		if (dev->q[i]->ret)
			status = 1;
	}
	dev->tgt->deinit(dev);
	close(dev->cdev_fd);
	if (stopping) {
		ret = ctrl_simple(UBLK_U_CMD_DEL_DEV, dev->info.dev_id, 0,
				  dev_unpriv(dev));
		if (ret < 0) {
			ublk_err("DEL_DEV: %s\n", strerror(-ret));
			status = 1;
		} else {
			state_remove(dev->info.dev_id);
		}
	}
	ctrl_deinit();
	return status;

fail:
	/* the threads may be blocked in the kernel: let exit tear it all down */
	(void)tgt_inited;
	notify_parent(notify_fd, &msg);
	fflush(stderr);
	_exit(1);
}

/* output of "add" / "recover" and "list": the test scripts parse these lines */
#define ADD_OUT_FMT "dev_id=%d ublkb=/dev/ublkb%d ublkc=/dev/ublkc%d pid=%d state=%s flags=0x%llx\n"
#define ADD_OUT_SHORT_FMT "dev_id=%d ublkb=/dev/ublkb%d ublkc=/dev/ublkc%d pid=%d\n"
#define LIST_OUT_FMT "dev_id=%u state=%s pid=%d queues=%u depth=%u flags=0x%llx size=%llu max_io_buf=%u owner=%u:%u target=%s\n"

/* Fork a daemon; wait until it is LIVE or failed. */
static int spawn_daemon(struct dev_ctx *ctx)
{
	struct ready_msg msg;
	int p[2], status;
	ssize_t n;
	pid_t pid;

	if (pipe2(p, O_CLOEXEC)) {
		ublk_err("pipe: %s\n", strerror(errno));
		return 1;
	}
	fflush(stdout);
	fflush(stderr);
	pid = fork();
	if (pid < 0) {
		ublk_err("fork: %s\n", strerror(errno));
		return 1;
	}
	if (pid == 0) {
		close(p[0]);
		/* --foreground: stay in the caller's session, ^C stops the device */
		if (!ctx->foreground)
			setsid();
		exit(run_daemon(ctx, p[1]));
	}
	close(p[1]);
	do {
		n = read(p[0], &msg, sizeof(msg));
	} while (n < 0 && errno == EINTR);
	close(p[0]);

	if (n != sizeof(msg) || msg.ret) {
		waitpid(pid, &status, 0);
		if (n == sizeof(msg) && msg.added && msg.dev_id >= 0) {
			int ret = ctrl_simple(UBLK_U_CMD_DEL_DEV, msg.dev_id, 0,
					      ctx->unprivileged);
			if (ret < 0)
				ublk_err("cleanup: DEL_DEV %d: %s\n", msg.dev_id,
					 strerror(-ret));
			state_remove(msg.dev_id);
		}
		ublk_err("%s failed: %s\n", ctx->recovering ? "recover" : "add",
			 n == sizeof(msg) ? strerror(-msg.ret) : "daemon died");
		return 1;
	}

	{
		struct ublksrv_ctrl_dev_info info;

		if (ctrl_get_info(msg.dev_id, &info) == 0)
			printf(ADD_OUT_FMT,
			       msg.dev_id, msg.dev_id, msg.dev_id, msg.pid,
			       state_name(info.state),
			       (unsigned long long)info.flags);
		else
			printf(ADD_OUT_SHORT_FMT,
			       msg.dev_id, msg.dev_id, msg.dev_id, msg.pid);
	}
	fflush(stdout);
	if (ctx->foreground) {
		/* stay the daemon's parent until it exits; ^C goes to both */
		signal(SIGINT, SIG_IGN);
		if (waitpid(pid, &status, 0) < 0)
			return 1;
		return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
	}
	return 0;
}

/* ------------------------------------------------------------------ */
/* commands                                                             */
/* ------------------------------------------------------------------ */

static bool pid_alive(int pid)
{
	char path[64], buf[256], *p;
	FILE *f;
	bool alive;

	if (pid <= 0)
		return false;
	if (kill(pid, 0) && errno != EPERM)
		return false;
	/* a zombie is dead for us */
	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	f = fopen(path, "r");
	if (!f)
		return true;
	alive = true;
	if (fgets(buf, sizeof(buf), f)) {
		p = strrchr(buf, ')');
		if (p && p[1] == ' ' && (p[2] == 'Z' || p[2] == 'X'))
			alive = false;
	}
	fclose(f);
	return alive;
}

static int del_one(int id, bool async)
{
	struct ublksrv_ctrl_dev_info info;
	int i, ret;
	bool unpriv;

	ret = ctrl_get_info(id, &info);
	if (ret) {
		ublk_err("dev %d: %s\n", id, strerror(-ret));
		return ret;
	}
	unpriv = info.flags & UBLK_F_UNPRIVILEGED_DEV;
	ret = ctrl_simple(UBLK_U_CMD_STOP_DEV, id, 0, unpriv);
	if (ret < 0) {
		ublk_err("dev %d: STOP_DEV: %s\n", id, strerror(-ret));
		if (ret == -EPERM || ret == -EACCES)
			return ret;
	}
	/* the daemon exits once its io commands are aborted */
	for (i = 0; i < 600 && pid_alive(info.ublksrv_pid); i++)
		sleep_ms(50);
	if (pid_alive(info.ublksrv_pid))
		ublk_err("dev %d: daemon %d still alive, deleting anyway\n", id,
			 info.ublksrv_pid);
	ret = ctrl_simple(async ? UBLK_U_CMD_DEL_DEV_ASYNC : UBLK_U_CMD_DEL_DEV,
			  id, 0, unpriv);
	if (ret < 0) {
		ublk_err("dev %d: DEL_DEV: %s\n", id, strerror(-ret));
		return ret;
	}
	state_remove(id);
	return 0;
}

static int collect_ids(int *ids, int max)
{
	static const char * const dirs[] = { "/sys/class/ublk-char", "/dev" };
	unsigned int d;
	int n = 0;

	for (d = 0; d < ARRAY_SIZE(dirs) && !n; d++) {
		DIR *dir = opendir(dirs[d]);
		struct dirent *de;

		if (!dir)
			continue;
		while ((de = readdir(dir)) && n < max) {
			char *end;
			long v;

			if (strncmp(de->d_name, "ublkc", 5) || !de->d_name[5])
				continue;
			v = strtol(de->d_name + 5, &end, 10);
			if (*end || v < 0)
				continue;
			ids[n++] = v;
		}
		closedir(dir);
	}
	/* sort for stable output */
	for (int i = 1; i < n; i++)
		for (int j = i; j > 0 && ids[j - 1] > ids[j]; j--) {
			int t = ids[j];

			ids[j] = ids[j - 1];
			ids[j - 1] = t;
		}
	return n;
}

static int list_one(int id, bool verbose)
{
	struct ublksrv_ctrl_dev_info info;
	struct ublk_params p;
	const struct target_ops *t;
	int ret;

	ret = ctrl_get_info(id, &info);
	if (ret) {
		ublk_err("dev %d: %s\n", id, strerror(-ret));
		return ret;
	}
	ret = ctrl_get_params(&info, &p);
	t = find_tgt_id(KUBLK_SRV_TGT(info.ublksrv_flags));
	printf(LIST_OUT_FMT,
	       info.dev_id, state_name(info.state), info.ublksrv_pid,
	       info.nr_hw_queues, info.queue_depth,
	       (unsigned long long)info.flags,
	       ret ? 0ULL : (unsigned long long)p.basic.dev_sectors << 9,
	       info.max_io_buf_bytes, info.owner_uid, info.owner_gid,
	       t ? t->name : "unknown");
	if (verbose) {
		printf("\tflags: ");
		print_flag_names(stdout, info.flags, " ");
		printf("\n");
		if (!ret)
			printf("\tlogical_bs=%u physical_bs=%u max_sectors=%u\n",
			       1U << p.basic.logical_bs_shift,
			       1U << p.basic.physical_bs_shift,
			       p.basic.max_sectors);
	}
	return 0;
}

static int parse_size(const char *s, unsigned long long *out)
{
	char *end;
	unsigned long long v;

	errno = 0;
	if (*s == '-')
		return -EINVAL;
	v = strtoull(s, &end, 0);
	if (errno || end == s)
		return -EINVAL;
	switch (*end) {
	case 'k':
	case 'K':
		v <<= 10;
		end++;
		break;
	case 'm':
	case 'M':
		v <<= 20;
		end++;
		break;
	case 'g':
	case 'G':
		v <<= 30;
		end++;
		break;
	case 't':
	case 'T':
		v <<= 40;
		end++;
		break;
	}
	if (*end)
		return -EINVAL;
	*out = v;
	return 0;
}

static int parse_int(const char *s, long *out)
{
	char *end;

	errno = 0;
	*out = strtol(s, &end, 0);
	if (errno || end == s || *end)
		return -EINVAL;
	return 0;
}

static void print_usage(FILE *f)
{
	fputs("usage: kublk <command> [options]\n", f);
	fputs("  add -t null|loop|stripe|zoned|nbd [-q queues] [-d depth] [-u] [-g]\n", f);
	fputs("      [-r 1] [-i 1] [-e 1] [--unprivileged] [-n id|-1] [--size bytes]\n", f);
	fputs("      [-b logical_bs] [--physical_bs bytes] [--max_io_buf bytes]\n", f);
	fputs("      [--quiesce] [--update-size-flag] [-z] [--auto_zc]\n", f);
	fputs("      [--auto_zc_fallback] [--buffered] [--chunk bytes]\n", f);
	fputs("      [--per_io_tasks n] [--foreground]\n", f);
	fputs("      [--host H [--port P] [--export NAME] [--conns N]] [file...]\n", f);
	fputs("        -u user copy, -g NEED_GET_DATA, -r 1 USER_RECOVERY,\n", f);
	fputs("        -i 1 USER_RECOVERY_REISSUE, -e 1 USER_RECOVERY_FAIL_IO,\n", f);
	fputs("        -z zero copy, --auto_zc AUTO_BUF_REG (--auto_zc_fallback: with\n", f);
	fputs("        UBLK_AUTO_BUF_REG_FALLBACK)\n", f);
	fputs("        test hooks: --auto_zc_force_fallback; --zc_leak_unreg sector\n", f);
	fputs("        (loop -z: no UNREGISTER_IO_BUF for requests at that sector)\n", f);
	fprintf(f, "        loop: one backing file; stripe: 2..%d backing files, --chunk\n",
		KUBLK_MAX_FILES);
	fputs("        power of two >= 4096 (default 64k)\n", f);
	fputs("        zoned: RAM-backed zoned device, user copy (default) or -z,\n", f);
	fputs("        --size (default 256M), --zone_size MB (default 16, or with a\n", f);
	fputs("        k/M/G suffix), --conv_zones N, --max_open N, --max_active N,\n", f);
	fputs("        --max_zone_append bytes (default: the max I/O size)\n", f);
	fprintf(f, "        --per_io_tasks n: PER_IO_DAEMON, n threads per queue (2..%d),\n",
		KUBLK_MAX_PER_IO_TASKS);
	fputs("        thread k serves the tags t with t % n == k\n", f);
	fputs("        nbd: export NAME (default \"\") of the NBD server at H:P (port\n", f);
	fputs("        10809), one connection per queue (--conns N: N queues); --size\n", f);
	fputs("        may ask for less than the export\n", f);
	fputs("  del -n id | -a [--async]\n", f);
	fputs("  list [-n id] [-v]\n", f);
	fputs("  recover -n id [add options, default: those the device was added with]\n", f);
	fputs("  features\n", f);
	fputs("  update_size -n id -s bytes\n", f);
	fputs("  quiesce -n id [--timeout ms]\n", f);
	fputs("  stop -n id [--safe]\n", f);
	fputs("  global: -v/--verbose (debug to stderr / the daemon log)\n", f);
}

enum {
	OPT_UNPRIV = 256, OPT_SIZE, OPT_QUIESCE, OPT_UPDATE_SIZE, OPT_AUTO_ZC,
	OPT_AUTO_ZC_FB, OPT_PBS, OPT_MAX_IO, OPT_FOREGROUND, OPT_BUFFERED,
	OPT_SAFE, OPT_TIMEOUT, OPT_ASYNC, OPT_NO_SAFE_STOP, OPT_CHUNK,
	OPT_AUTO_ZC_FORCE_FB, OPT_ZC_LEAK_UNREG, OPT_ZONE_SIZE, OPT_CONV_ZONES,
	OPT_MAX_OPEN,
	OPT_MAX_ACTIVE, OPT_MAX_APPEND, OPT_ZONED_NO_FLAG, OPT_ZONED_NO_PARAMS,
	OPT_ZONED_SKIP_PARAMS, OPT_ZONED_BAD_APPEND, OPT_PER_IO_TASKS,
	OPT_HOST, OPT_PORT, OPT_EXPORT, OPT_CONNS,
};

static const struct option long_opts[] = {
	{ "type",		required_argument, NULL, 't' },
	{ "queues",		required_argument, NULL, 'q' },
	{ "depth",		required_argument, NULL, 'd' },
	{ "user_copy",		no_argument,	   NULL, 'u' },
	{ "get_data",		no_argument,	   NULL, 'g' },
	{ "recovery",		required_argument, NULL, 'r' },
	{ "recovery_reissue",	required_argument, NULL, 'i' },
	{ "recovery_fail_io",	required_argument, NULL, 'e' },
	{ "number",		required_argument, NULL, 'n' },
	{ "all",		no_argument,	   NULL, 'a' },
	{ "size",		required_argument, NULL, 's' },
	{ "logical_bs",		required_argument, NULL, 'b' },
	{ "zero_copy",		no_argument,	   NULL, 'z' },
	{ "verbose",		no_argument,	   NULL, 'v' },
	{ "help",		no_argument,	   NULL, 'h' },
	{ "unprivileged",	no_argument,	   NULL, OPT_UNPRIV },
	{ "quiesce",		no_argument,	   NULL, OPT_QUIESCE },
	{ "update-size-flag",	no_argument,	   NULL, OPT_UPDATE_SIZE },
	{ "auto_zc",		no_argument,	   NULL, OPT_AUTO_ZC },
	{ "auto_zc_fallback",	no_argument,	   NULL, OPT_AUTO_ZC_FB },
	{ "physical_bs",	required_argument, NULL, OPT_PBS },
	{ "max_io_buf",		required_argument, NULL, OPT_MAX_IO },
	{ "foreground",		no_argument,	   NULL, OPT_FOREGROUND },
	{ "buffered",		no_argument,	   NULL, OPT_BUFFERED },
	{ "safe",		no_argument,	   NULL, OPT_SAFE },
	{ "timeout",		required_argument, NULL, OPT_TIMEOUT },
	{ "async",		no_argument,	   NULL, OPT_ASYNC },
	{ "per_io_tasks",	required_argument, NULL, OPT_PER_IO_TASKS },
	{ "no_safe_stop",	no_argument,	   NULL, OPT_NO_SAFE_STOP },
	{ "chunk",		required_argument, NULL, OPT_CHUNK },
	{ "auto_zc_force_fallback", no_argument,   NULL, OPT_AUTO_ZC_FORCE_FB },
	{ "zc_leak_unreg",	required_argument, NULL, OPT_ZC_LEAK_UNREG },
	{ "zone_size",		required_argument, NULL, OPT_ZONE_SIZE },
	{ "conv_zones",		required_argument, NULL, OPT_CONV_ZONES },
	{ "max_open",		required_argument, NULL, OPT_MAX_OPEN },
	{ "max_active",		required_argument, NULL, OPT_MAX_ACTIVE },
	{ "max_zone_append",	required_argument, NULL, OPT_MAX_APPEND },
	/* test hooks: malformed zoned setups the driver must refuse */
	{ "zoned_no_flag",	no_argument,	   NULL, OPT_ZONED_NO_FLAG },
	{ "zoned_no_params",	no_argument,	   NULL, OPT_ZONED_NO_PARAMS },
	{ "zoned_skip_params",	no_argument,	   NULL, OPT_ZONED_SKIP_PARAMS },
	{ "zoned_bad_append",	no_argument,	   NULL, OPT_ZONED_BAD_APPEND },
	{ "host",		required_argument, NULL, OPT_HOST },
	{ "port",		required_argument, NULL, OPT_PORT },
	{ "export",		required_argument, NULL, OPT_EXPORT },
	{ "conns",		required_argument, NULL, OPT_CONNS },
	{ NULL, 0, NULL, 0 },
};

struct cli {
	struct dev_ctx ctx;
	bool have_id, all, safe, async, list_verbose, tgt_given;
	bool size_given, zone_size_given, queues_given, nbd_given;
	long conns;
	unsigned long long size;
	long timeout_ms;
};

static int parse_cli(int argc, char **argv, struct cli *c)
{
	struct dev_ctx *ctx = &c->ctx;
	unsigned long long v;
	long l;
	int opt;

	memset(c, 0, sizeof(*c));
	ctx->dev_id = -1;
	ctx->nr_queues = KUBLK_DEF_QUEUES;
	ctx->depth = KUBLK_DEF_DEPTH;
	ctx->max_io_buf_bytes = KUBLK_DEF_IO_BYTES;
	ctx->logical_bs = 512;

	optind = 1;
	while ((opt = getopt_long(argc, argv, "t:q:d:ugr:i:e:n:as:b:zvh",
				  long_opts, NULL)) != -1) {
		switch (opt) {
		case 't':
			snprintf(ctx->tgt_type, sizeof(ctx->tgt_type), "%s", optarg);
			c->tgt_given = true;
			break;
		case 'q':
			if (parse_int(optarg, &l) || l < 0 || l > 65535)
				goto bad;
			ctx->nr_queues = l;
			c->queues_given = true;
			break;
		case 'd':
			if (parse_int(optarg, &l) || l < 0 || l > 65535)
				goto bad;
			ctx->depth = l;
			break;
		case 'u':
			ctx->user_copy = true;
			break;
		case 'g':
			ctx->get_data = true;
			break;
		case 'r':
			if (parse_int(optarg, &l))
				goto bad;
			ctx->recovery = l;
			break;
		case 'i':
			if (parse_int(optarg, &l))
				goto bad;
			ctx->recovery_reissue = l;
			break;
		case 'e':
			if (parse_int(optarg, &l))
				goto bad;
			ctx->recovery_fail_io = l;
			break;
		case 'n':
			if (parse_int(optarg, &l) || l < -1 || l > INT_MAX)
				goto bad;
			ctx->dev_id = l;
			c->have_id = true;
			break;
		case 'a':
			c->all = true;
			break;
		case 's':
			if (parse_size(optarg, &v))
				goto bad;
			ctx->size = v;
			c->size = v;
			c->size_given = true;
			break;
		case 'b':
			if (parse_int(optarg, &l) || l <= 0)
				goto bad;
			ctx->logical_bs = l;
			break;
		case 'z':
			ctx->zero_copy = true;
			break;
		case 'v':
			kublk_verbose = 1;
			c->list_verbose = true;
			break;
		case 'h':
			print_usage(stdout);
			exit(0);
		case OPT_UNPRIV:
			ctx->unprivileged = true;
			break;
		case OPT_QUIESCE:
			ctx->quiesce = true;
			break;
		case OPT_UPDATE_SIZE:
			ctx->update_size = true;
			break;
		case OPT_AUTO_ZC:
			ctx->auto_zc = true;
			break;
		case OPT_AUTO_ZC_FB:
			ctx->auto_zc = true;
			ctx->auto_zc_fallback = true;
			break;
		case OPT_PBS:
			if (parse_int(optarg, &l) || l <= 0)
				goto bad;
			ctx->physical_bs = l;
			break;
		case OPT_MAX_IO:
			if (parse_size(optarg, &v) || v > UINT_MAX)
				goto bad;
			ctx->max_io_buf_bytes = v;
			break;
		case OPT_FOREGROUND:
			ctx->foreground = true;
			break;
		case OPT_BUFFERED:
			ctx->buffered = true;
			break;
		case OPT_SAFE:
			c->safe = true;
			break;
		case OPT_TIMEOUT:
			if (parse_int(optarg, &l) || l < 0)
				goto bad;
			c->timeout_ms = l;
			break;
		case OPT_ASYNC:
			c->async = true;
			break;
		case OPT_NO_SAFE_STOP:
			ctx->no_safe_stop = true;
			break;
		case OPT_CHUNK:
			if (parse_size(optarg, &v) || !v || v > (1ULL << 30))
				goto bad;
			ctx->chunk_size = v;
			break;
		case OPT_PER_IO_TASKS:
			if (parse_size(optarg, &v) || v < 1 ||
			    v > KUBLK_MAX_PER_IO_TASKS)
				goto bad;
			ctx->per_io_tasks = v;
			break;
		case OPT_AUTO_ZC_FORCE_FB:
			ctx->auto_zc = true;
			ctx->auto_zc_fallback = true;
			ctx->auto_zc_force_fallback = true;
			break;
		case OPT_ZC_LEAK_UNREG:
			if (parse_size(optarg, &v))
				goto bad;
			ctx->zc_leak_unreg = true;
			ctx->zc_leak_sector = v;
			break;
		case OPT_ZONE_SIZE:
			/* a bare number is in MiB */
			if (parse_size(optarg, &v))
				goto bad;
			if (optarg[strspn(optarg, "0123456789")] == '\0')
				v <<= 20;
			ctx->zone_size = v;
			c->zone_size_given = true;
			break;
		case OPT_CONV_ZONES:
			if (parse_int(optarg, &l) || l < 0 || l > INT_MAX)
				goto bad;
			ctx->conv_zones = l;
			break;
		case OPT_MAX_OPEN:
			if (parse_int(optarg, &l) || l < 0 || l > INT_MAX)
				goto bad;
			ctx->max_open = l;
			break;
		case OPT_MAX_ACTIVE:
			if (parse_int(optarg, &l) || l < 0 || l > INT_MAX)
				goto bad;
			ctx->max_active = l;
			break;
		case OPT_MAX_APPEND:
			if (parse_size(optarg, &v) || v > UINT_MAX)
				goto bad;
			ctx->max_append = v;
			ctx->max_append_given = true;
			break;
		case OPT_ZONED_NO_FLAG:
			ctx->zoned_no_flag = true;
			break;
		case OPT_ZONED_NO_PARAMS:
			ctx->zoned_no_params = true;
			break;
		case OPT_ZONED_SKIP_PARAMS:
			ctx->zoned_skip_params = true;
			break;
		case OPT_ZONED_BAD_APPEND:
			ctx->zoned_bad_append = true;
			break;
		case OPT_HOST:
		case OPT_PORT:
		case OPT_EXPORT: {
			char *dst = opt == OPT_HOST ? ctx->nbd_host :
				opt == OPT_PORT ? ctx->nbd_port : ctx->nbd_export;
			size_t max = opt == OPT_HOST ? sizeof(ctx->nbd_host) :
				opt == OPT_PORT ? sizeof(ctx->nbd_port) :
				sizeof(ctx->nbd_export);

			size_t len = strlen(optarg);

			if (len >= max || (opt != OPT_EXPORT && !len))
				goto bad;
			memcpy(dst, optarg, len + 1);
			c->nbd_given = true;
			break;
		}
		case OPT_CONNS:
			if (parse_int(optarg, &l) || l < 1 ||
			    l > KUBLK_MAX_QUEUES)
				goto bad;
			c->conns = l;
			c->nbd_given = true;
			break;
		default:
			print_usage(stderr);
			return -EINVAL;
		}
	}
	for (; optind < argc; optind++) {
		if (ctx->nr_files >= KUBLK_MAX_FILES) {
			ublk_err("too many files\n");
			return -EINVAL;
		}
		if (!realpath(argv[optind], ctx->files[ctx->nr_files]))
			snprintf(ctx->files[ctx->nr_files], sizeof(ctx->files[0]),
				 "%s", argv[optind]);
		ctx->nr_files++;
	}
	return 0;
bad:
	ublk_err("invalid argument '%s' for option -%c\n", optarg,
		 opt < 256 ? opt : '-');
	return -EINVAL;
}

static bool is_pow2(unsigned long long v)
{
	return v && !(v & (v - 1));
}

/* checks that need no kernel; the kernel validates the rest again */
static int validate_add(struct dev_ctx *ctx)
{
	long ncpu = get_nprocs_conf();

	if (!ctx->tgt_type[0]) {
		ublk_err("add: target type (-t null|loop|stripe|zoned|nbd) required\n");
		return -EINVAL;
	}
	if (!find_tgt(ctx->tgt_type)) {
		ublk_err("add: unknown target type '%s'\n", ctx->tgt_type);
		return -EINVAL;
	}
	if (ctx->nr_queues < 1 || ctx->nr_queues > ncpu ||
	    ctx->nr_queues > KUBLK_MAX_QUEUES) {
		ublk_err("add: number of queues %u out of range 1..%ld (nr_cpus)\n",
			 ctx->nr_queues, ncpu < KUBLK_MAX_QUEUES ? ncpu :
			 (long)KUBLK_MAX_QUEUES);
		return -EINVAL;
	}
	if (ctx->per_io_tasks > ctx->depth) {
		ublk_err("add: --per_io_tasks %u > queue depth %u\n",
			 ctx->per_io_tasks, ctx->depth);
		return -EINVAL;
	}
	if (ctx->depth < 1 || ctx->depth > UBLK_MAX_QUEUE_DEPTH) {
		ublk_err("add: queue depth %u out of range 1..%d\n", ctx->depth,
			 UBLK_MAX_QUEUE_DEPTH);
		return -EINVAL;
	}
	if (!is_pow2(ctx->logical_bs) ||
	    (ctx->physical_bs && !is_pow2(ctx->physical_bs))) {
		ublk_err("add: block size must be a power of two\n");
		return -EINVAL;
	}
	if (ctx->max_io_buf_bytes < 4096 || ctx->max_io_buf_bytes % 4096) {
		ublk_err("add: max_io_buf must be a multiple of 4096\n");
		return -EINVAL;
	}
	if (ctx->dev_id < -1) {
		ublk_err("add: bad device id\n");
		return -EINVAL;
	}
	if (ctx->nbd_host[0] && strcmp(ctx->tgt_type, "nbd")) {
		ublk_err("add: --host/--port/--export/--conns are only for the nbd target\n");
		return -EINVAL;
	}
	if (ctx->chunk_size && strcmp(ctx->tgt_type, "stripe")) {
		ublk_err("add: --chunk is only for the stripe target\n");
		return -EINVAL;
	}
	return 0;
}

static int check_zc_features(struct dev_ctx *ctx)
{
	unsigned long long f;
	int ret;

	if (!ctx->zero_copy && !ctx->auto_zc)
		return 0;
	ret = ctrl_get_features(&f);
	if (ret) {
		ublk_err("GET_FEATURES: %s\n", strerror(-ret));
		return ret;
	}
	if (ctx->zero_copy && !(f & UBLK_F_SUPPORT_ZERO_COPY)) {
		ublk_err("zero copy (-z) not supported by this kernel (no SUPPORT_ZERO_COPY in GET_FEATURES)\n");
		return -EOPNOTSUPP;
	}
	if (ctx->auto_zc && !(f & UBLK_F_AUTO_BUF_REG)) {
		ublk_err("automatic buffer registration (--auto_zc) not supported by this kernel (no AUTO_BUF_REG in GET_FEATURES)\n");
		return -EOPNOTSUPP;
	}
	if (ctx->zero_copy && ctx->auto_zc) {
		ublk_err("-z and --auto_zc are exclusive\n");
		return -EINVAL;
	}
	if ((ctx->zero_copy || ctx->auto_zc) && (ctx->user_copy || ctx->get_data)) {
		ublk_err("zero copy excludes -u and -g\n");
		return -EINVAL;
	}
	return 0;
}

static int cmd_add(struct cli *c)
{
	struct dev_ctx *ctx = &c->ctx;
	struct stat st;

	if (validate_add(ctx))
		return 1;
	if (!strcmp(ctx->tgt_type, "null")) {
		if (ctx->nr_files) {
			ublk_err("add: null target takes no files\n");
			return 1;
		}
		if (!c->size_given)
			ctx->size = KUBLK_DEF_NULL_SIZE;
		if (!ctx->size || ctx->size % ctx->logical_bs) {
			ublk_err("add: size %llu must be a non-zero multiple of the logical block size %u\n",
				 ctx->size, ctx->logical_bs);
			return 1;
		}
	} else if (!strcmp(ctx->tgt_type, "loop")) {
		if (ctx->nr_files != 1) {
			ublk_err("add: loop target needs exactly one backing file\n");
			return 1;
		}
		if (stat(ctx->files[0], &st)) {
			ublk_err("add: %s: %s\n", ctx->files[0], strerror(errno));
			return 1;
		}
		if (S_ISREG(st.st_mode) && st.st_size < ctx->logical_bs) {
			ublk_err("add: backing file %s is too small (%lld bytes)\n",
				 ctx->files[0], (long long)st.st_size);
			return 1;
		}
		if (c->size_given) {
			ublk_err("add: --size is not supported for loop (the backing file's size is used)\n");
			return 1;
		}
	} else if (!strcmp(ctx->tgt_type, "nbd")) {
		if (ctx->nr_files) {
			ublk_err("add: nbd target takes no files\n");
			return 1;
		}
		if (!ctx->nbd_host[0]) {
			ublk_err("add: nbd target needs --host\n");
			return 1;
		}
		if (c->conns) {
			if (c->queues_given && (long)ctx->nr_queues != c->conns) {
				ublk_err("add: nbd: --conns %ld and -q %u differ (one connection per queue)\n",
					 c->conns, ctx->nr_queues);
				return 1;
			}
			ctx->nr_queues = c->conns;
		}
		if (c->size_given && (!ctx->size || ctx->size % ctx->logical_bs)) {
			ublk_err("add: size %llu must be a non-zero multiple of the logical block size %u\n",
				 ctx->size, ctx->logical_bs);
			return 1;
		}
	} else if (!strcmp(ctx->tgt_type, "stripe")) {
		int i;

		if (ctx->nr_files < 2) {
			ublk_err("add: stripe target needs at least two backing files\n");
			return 1;
		}
		if (!ctx->chunk_size)
			ctx->chunk_size = KUBLK_DEF_CHUNK;
		if (!is_pow2(ctx->chunk_size) || ctx->chunk_size < 4096 ||
		    ctx->chunk_size < ctx->logical_bs) {
			ublk_err("add: --chunk %u must be a power of two >= 4096 and >= the logical block size\n",
				 ctx->chunk_size);
			return 1;
		}
		for (i = 0; i < ctx->nr_files; i++) {
			if (stat(ctx->files[i], &st)) {
				ublk_err("add: %s: %s\n", ctx->files[i],
					 strerror(errno));
				return 1;
			}
		}
		if (c->size_given) {
			ublk_err("add: --size is not supported for stripe (the backing files' sizes are used)\n");
			return 1;
		}
	} else if (!strcmp(ctx->tgt_type, "zoned")) {
		if (ctx->nr_files) {
			ublk_err("add: zoned target takes no files\n");
			return 1;
		}
		if (!c->size_given)
			ctx->size = KUBLK_DEF_ZONED_SIZE;
		if (!c->zone_size_given)
			ctx->zone_size = KUBLK_DEF_ZONE_SIZE;
		if (!ctx->size || ctx->size % ctx->logical_bs) {
			ublk_err("add: size %llu must be a non-zero multiple of the logical block size %u\n",
				 ctx->size, ctx->logical_bs);
			return 1;
		}
		if (ctx->get_data || ctx->auto_zc || ctx->recovery ||
		    ctx->recovery_reissue || ctx->recovery_fail_io) {
			ublk_err("add: zoned target: no -g, --auto_zc or recovery\n");
			return 1;
		}
		/* the zone append LBA needs user copy or zero copy */
		if (!ctx->zero_copy)
			ctx->user_copy = true;
	}
	if (c->zone_size_given && strcmp(ctx->tgt_type, "zoned")) {
		ublk_err("add: --zone_size is only for the zoned target\n");
		return 1;
	}
	if (check_zc_features(ctx))
		return 1;
	ctrl_deinit();		/* the daemon opens its own */
	return spawn_daemon(ctx);
}

static int cmd_recover(struct cli *c)
{
	struct dev_ctx *ctx = &c->ctx;
	int id = ctx->dev_id;

	if (!c->have_id || id < 0) {
		ublk_err("recover: -n id required\n");
		return 1;
	}
	if (!c->tgt_given) {
		struct ublksrv_ctrl_dev_info info;
		bool fg = ctx->foreground;
		int ret;

		if (state_load(ctx, id)) {
			const struct target_ops *t;

			ret = ctrl_get_info(id, &info);
			if (ret) {
				ublk_err("recover: dev %d: %s\n", id, strerror(-ret));
				return 1;
			}
			t = find_tgt_id(KUBLK_SRV_TGT(info.ublksrv_flags));
			if (!t || strcmp(t->name, "null")) {
				ublk_err("recover: no saved arguments for dev %d; give -t and the target arguments\n",
					 id);
				return 1;
			}
			snprintf(ctx->tgt_type, sizeof(ctx->tgt_type), "%s",
				 t->name);
		}
		ctx->foreground = fg;
	}
	if (!find_tgt(ctx->tgt_type)) {
		ublk_err("recover: unknown target '%s'\n", ctx->tgt_type);
		return 1;
	}
	ctx->dev_id = id;
	ctx->recovering = true;
	ctrl_deinit();
	return spawn_daemon(ctx);
}

static int cmd_del(struct cli *c)
{
	int ids[1024], n, i, rc = 0;

	if (c->all) {
		n = collect_ids(ids, 1024);
		for (i = 0; i < n; i++)
			if (del_one(ids[i], c->async))
				rc = 1;
		return rc;
	}
	if (!c->have_id || c->ctx.dev_id < 0) {
		ublk_err("del: -n id or -a required\n");
		return 1;
	}
	return del_one(c->ctx.dev_id, c->async) ? 1 : 0;
}

static int cmd_list(struct cli *c)
{
	int ids[1024], n, i, rc = 0;

	if (c->have_id) {
		if (c->ctx.dev_id < 0) {
			ublk_err("list: bad id\n");
			return 1;
		}
		return list_one(c->ctx.dev_id, c->list_verbose) ? 1 : 0;
	}
	n = collect_ids(ids, 1024);
	for (i = 0; i < n; i++)
		if (list_one(ids[i], c->list_verbose))
			rc = 1;
	return rc;
}

static int cmd_features(void)
{
	unsigned long long f;
	unsigned int i;
	int ret = ctrl_get_features(&f);

	if (ret) {
		ublk_err("GET_FEATURES: %s\n", strerror(-ret));
		return 1;
	}
	printf("features: 0x%llx\n", f);
	for (i = 0; i < 64; i++) {
		if (!(f & (1ULL << i)))
			continue;
		if (i < NR_FEATURE_NAMES)
			printf("\t%-24s (bit %u)\n", feature_names[i], i);
		else
			printf("\tBIT%-21u (bit %u)\n", i, i);
	}
	return 0;
}

/* single-device control command that needs only data[0] */
static int dev_cmd(struct cli *c, const char *name, unsigned int op, __u64 data0)
{
	struct ublksrv_ctrl_dev_info info;
	int ret, id = c->ctx.dev_id;

	if (!c->have_id || id < 0) {
		ublk_err("%s: -n id required\n", name);
		return 1;
	}
	ret = ctrl_get_info(id, &info);
	if (ret) {
		ublk_err("%s: dev %d: %s\n", name, id, strerror(-ret));
		return 1;
	}
	ret = ctrl_simple(op, id, data0, info.flags & UBLK_F_UNPRIVILEGED_DEV);
	if (ret < 0) {
		ublk_err("%s: dev %d: %s\n", name, id, strerror(-ret));
		return 1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct cli c;
	const char *cmd;
	int ret;

	if (argc < 2) {
		print_usage(stderr);
		return 1;
	}
	cmd = argv[1];
	if (!strcmp(cmd, "help") || !strcmp(cmd, "-h") || !strcmp(cmd, "--help")) {
		print_usage(stdout);
		return 0;
	}
	if (parse_cli(argc - 1, argv + 1, &c))
		return 1;

	if (!strcmp(cmd, "add")) {
		ret = cmd_add(&c);
	} else if (!strcmp(cmd, "recover")) {
		ret = cmd_recover(&c);
	} else if (!strcmp(cmd, "del")) {
		ret = cmd_del(&c);
	} else if (!strcmp(cmd, "list")) {
		ret = cmd_list(&c);
	} else if (!strcmp(cmd, "features")) {
		ret = cmd_features();
	} else if (!strcmp(cmd, "update_size")) {
		if (!c.size_given || !c.size || c.size % 512) {
			ublk_err("update_size: -s bytes (non-zero multiple of 512) required\n");
			return 1;
		}
		ret = dev_cmd(&c, "update_size", UBLK_U_CMD_UPDATE_SIZE,
			      c.size >> 9);
	} else if (!strcmp(cmd, "quiesce")) {
		ret = dev_cmd(&c, "quiesce", UBLK_U_CMD_QUIESCE_DEV,
			      c.timeout_ms);
	} else if (!strcmp(cmd, "stop")) {
		ret = dev_cmd(&c, "stop", c.safe ? UBLK_U_CMD_TRY_STOP_DEV :
			      UBLK_U_CMD_STOP_DEV, 0);
	} else {
		ublk_err("unknown command '%s'\n", cmd);
		print_usage(stderr);
		ret = 1;
	}
	ctrl_deinit();
	return ret;
}
