// SPDX-License-Identifier: GPL-2.0
/*
 * kublk "loop" target: the device is backed by a file (or block device),
 * accessed with io_uring from the queue thread's ring.  The backing file is
 * fixed file 1 of every queue ring.  O_DIRECT is used when the file accepts
 * it (probed at init), buffered I/O otherwise or with --buffered.
 *
 *   READ/WRITE     read/write on the bounce buffer; zero copy: fixed-buffer
 *                  read/write on ublk_io_buf_index(), buffer offset 0,
 *                  bracketed by REGISTER_IO_BUF -> I/O -> UNREGISTER_IO_BUF
 *                  in one linked submission (-z, AUTO_BUF_REG fallback
 *                  requests) or registered by the driver (--auto_zc)
 *   FLUSH          fdatasync
 *   DISCARD        fallocate(PUNCH_HOLE | KEEP_SIZE)
 *   WRITE_ZEROES   fallocate(ZERO_RANGE | KEEP_SIZE) with NOUNMAP, else
 *                  PUNCH_HOLE; ZERO_RANGE falls back to PUNCH_HOLE where the
 *                  file system lacks it (tmpfs)
 */
#include <sys/stat.h>
#include <linux/fs.h>
#include <linux/falloc.h>
#include "kublk.h"

#define LOOP_FILE_IDX	1	/* fixed file index of the backing file */

/* target data in user_data */
#define LOOP_MAIN	0
#define LOOP_REG	1
#define LOOP_UNREG	2
#define LOOP_RETRY	3	/* ZERO_RANGE retried as PUNCH_HOLE */

struct loop_data {
	int fd;
	bool direct;
	unsigned long long size;
};

static int probe_direct(int fd, unsigned int bs)
{
	void *buf;
	ssize_t n;

	if (posix_memalign(&buf, 4096, 4096))
		return -ENOMEM;
	n = pread(fd, buf, bs, 0);
	free(buf);
	return n < 0 ? -errno : 0;
}

int ublk_open_backing(const struct dev_ctx *ctx, const char *tgt,
		      const char *path, unsigned long long *size, bool *direct)
{
	struct stat st;
	int fd = -1, err;

	if (!ctx->buffered) {
		fd = open(path, O_RDWR | O_DIRECT | O_CLOEXEC);
		if (fd >= 0 && probe_direct(fd, ctx->logical_bs ?: 512)) {
			close(fd);
			fd = -1;
		}
	}
	if (direct)
		*direct = fd >= 0;
	if (fd < 0)
		fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		err = -errno;
		ublk_err("%s: open %s: %s\n", tgt, path, strerror(errno));
		return err;
	}
	if (fstat(fd, &st))
		goto err_errno;
	if (S_ISBLK(st.st_mode)) {
		if (ioctl(fd, BLKGETSIZE64, size))
			goto err_errno;
	} else if (S_ISREG(st.st_mode)) {
		*size = st.st_size;
	} else {
		ublk_err("%s: %s is not a regular file or block device\n", tgt,
			 path);
		close(fd);
		return -EINVAL;
	}
	return fd;

err_errno:
	err = -errno;
	ublk_err("%s: %s: %s\n", tgt, path, strerror(errno));
	close(fd);
	return err;
}

static int loop_init(struct ublk_dev *dev)
{
	struct dev_ctx *ctx = dev->ctx;
	struct ublk_params *p = &dev->params;
	struct loop_data *ld;
	unsigned long long size;
	int fd;

	if (ctx->nr_files < 1) {
		ublk_err("loop: backing file required\n");
		return -EINVAL;
	}
	ld = calloc(1, sizeof(*ld));
	if (!ld)
		return -ENOMEM;

	fd = ublk_open_backing(ctx, "loop", ctx->files[0], &size, &ld->direct);
	if (fd < 0) {
		free(ld);
		return fd;
	}
	if (dev->nr_fds > KUBLK_MAX_FILES) {
		close(fd);
		free(ld);
		return -EMFILE;
	}
	ld->fd = fd;
	ld->size = size;
	dev->tgt_data = ld;
	dev->fds[dev->nr_fds++] = fd;	/* == LOOP_FILE_IDX */
	ublk_dbg("loop: %s size %llu %s\n", ctx->files[0], size,
		 ld->direct ? "O_DIRECT" : "buffered");

	if (ctx->recovering)
		return 0;
	size -= size % (ctx->logical_bs ?: 512);
	if (!size) {
		ublk_err("loop: backing file %s is too small\n", ctx->files[0]);
		return -EINVAL;
	}
	ublk_set_basic_params(dev, size);
	p->basic.attrs |= UBLK_ATTR_VOLATILE_CACHE;
	p->types |= UBLK_PARAM_TYPE_DISCARD;
	p->discard.discard_granularity = 4096;
	p->discard.max_discard_sectors = UINT32_MAX >> 9;
	p->discard.max_write_zeroes_sectors = UINT32_MAX >> 9;
	p->discard.max_discard_segments = 1;
	return 0;
}

static void loop_deinit(struct ublk_dev *dev)
{
	struct loop_data *ld = dev->tgt_data;

	if (!ld)
		return;
	close(ld->fd);
	free(ld);
	dev->tgt_data = NULL;
}

static int loop_queue_rw(struct ublk_queue *q, int tag,
			 const struct ublksrv_io_desc *iod)
{
	unsigned int op = ublksrv_get_op(iod);
	unsigned int len = iod->nr_sectors << 9;
	__u64 off = iod->start_sector << 9;
	bool is_read = op == UBLK_IO_OP_READ;
	bool auto_reg = ublk_io_auto_reg(q, iod);
	bool manual_reg = ublk_io_need_reg(q, iod);
	/* test hook: leave this request's buffer registered */
	bool leak = manual_reg && q->dev->ctx->zc_leak_unreg &&
		iod->start_sector == q->dev->ctx->zc_leak_sector;
	unsigned int buf_index = ublk_io_buf_index(q, tag);
	struct io_uring_sqe *sqe, *reg = NULL;

	/* the chain reg -> rw -> unreg must reach the kernel in one piece */
	if (!ublk_queue_reserve_sqes(q, manual_reg ? 3 : 1))
		return -ENOMEM;
	if (manual_reg) {
		reg = ublk_prep_buf_reg(q, tag, true, LOOP_REG);
		if (!reg)
			return -ENOMEM;
		q->ios[tag].tgt_inflight++;
		reg->flags |= IOSQE_IO_LINK;
	}
	sqe = ublk_tgt_io_sqe(q, tag, op, LOOP_MAIN);
	if (!sqe)
		return -ENOMEM;
	if (manual_reg || auto_reg) {
		/* kernel buffer, offsets in the request start at 0 */
		if (is_read)
			io_uring_prep_read_fixed(sqe, LOOP_FILE_IDX, NULL, len,
						 off, buf_index);
		else
			io_uring_prep_write_fixed(sqe, LOOP_FILE_IDX, NULL, len,
						  off, buf_index);
	} else {
		void *buf = ublk_io_buf(q, tag);

		if (is_read)
			io_uring_prep_read(sqe, LOOP_FILE_IDX, buf, len, off);
		else
			io_uring_prep_write(sqe, LOOP_FILE_IDX, buf, len, off);
	}
	ublk_tgt_io_sqe_file(sqe, tag, op, LOOP_MAIN);
	if (leak)
		ublk_err("q%d tag %d: test hook: no unregister (sector %llu)\n",
			 q->q_id, tag, (unsigned long long)iod->start_sector);
	if (manual_reg && !leak) {
		struct io_uring_sqe *unreg;

		/* unregister even when the read/write fails */
		sqe->flags |= IOSQE_IO_HARDLINK;
		unreg = ublk_prep_buf_reg(q, tag, false, LOOP_UNREG);
		if (!unreg)	/* cannot happen: reserved above */
			return 0;
		q->ios[tag].tgt_inflight++;
	}
	return 0;
}

static int loop_queue_io(struct ublk_queue *q, int tag)
{
	const struct ublksrv_io_desc *iod = ublk_get_iod(q, tag);
	unsigned int op = ublksrv_get_op(iod);
	unsigned int len = iod->nr_sectors << 9;
	__u64 off = iod->start_sector << 9;
	struct io_uring_sqe *sqe;
	int mode;

	q->ios[tag].tgt_inflight = 0;
	q->ios[tag].tgt_res = 0;
	switch (op) {
	case UBLK_IO_OP_READ:
	case UBLK_IO_OP_WRITE:
		return loop_queue_rw(q, tag, iod);
	case UBLK_IO_OP_FLUSH:
		sqe = ublk_tgt_io_sqe(q, tag, op, LOOP_MAIN);
		if (!sqe)
			return -ENOMEM;
		io_uring_prep_fsync(sqe, LOOP_FILE_IDX, IORING_FSYNC_DATASYNC);
		ublk_tgt_io_sqe_file(sqe, tag, op, LOOP_MAIN);
		return 0;
	case UBLK_IO_OP_DISCARD:
	case UBLK_IO_OP_WRITE_ZEROES:
		mode = FALLOC_FL_KEEP_SIZE;
		if (op == UBLK_IO_OP_WRITE_ZEROES &&
		    (iod->op_flags & UBLK_IO_F_NOUNMAP))
			mode |= FALLOC_FL_ZERO_RANGE;
		else
			mode |= FALLOC_FL_PUNCH_HOLE;
		sqe = ublk_tgt_io_sqe(q, tag, op, LOOP_MAIN);
		if (!sqe)
			return -ENOMEM;
		io_uring_prep_fallocate(sqe, LOOP_FILE_IDX, mode, off, len);
		ublk_tgt_io_sqe_file(sqe, tag, op, LOOP_MAIN);
		return 0;
	default:
		return -EOPNOTSUPP;
	}
}

static void loop_io_done(struct ublk_queue *q, int tag,
			 const struct io_uring_cqe *cqe)
{
	const struct ublksrv_io_desc *iod = ublk_get_iod(q, tag);
	struct ublk_io *io = &q->ios[tag];
	unsigned int kind = user_data_to_tgt_data(cqe->user_data);
	unsigned int op = user_data_to_op(cqe->user_data);
	int res = cqe->res;

	switch (kind) {
	case LOOP_REG:
		if (res < 0) {
			ublk_err("q%d tag %d: register buffer: %s\n", q->q_id,
				 tag, strerror(-res));
			io->tgt_flags |= 1;
			io->tgt_res = res;
		}
		break;
	case LOOP_UNREG:
		if (res < 0 && res != -ECANCELED)
			ublk_err("q%d tag %d: unregister buffer: %s\n", q->q_id,
				 tag, strerror(-res));
		break;
	case LOOP_MAIN:
		if (res == -EOPNOTSUPP && op == UBLK_IO_OP_WRITE_ZEROES) {
			/* no ZERO_RANGE here: punching a hole reads back zeroes */
			struct io_uring_sqe *sqe = ublk_tgt_io_sqe(q, tag, op, LOOP_RETRY);

			if (sqe) {
				int mode = FALLOC_FL_KEEP_SIZE |
					   FALLOC_FL_PUNCH_HOLE;

				io_uring_prep_fallocate(sqe, LOOP_FILE_IDX, mode,
							iod->start_sector << 9,
							(__u64)iod->nr_sectors << 9);
				ublk_tgt_io_sqe_file(sqe, tag, op, LOOP_RETRY);
				break;
			}
		}
		fallthrough;
	case LOOP_RETRY:
		if (res == 0 && (op == UBLK_IO_OP_READ || op == UBLK_IO_OP_WRITE) &&
		    iod->nr_sectors)
			res = -EIO;	/* beyond the end of the backing file */
		if (!(io->tgt_flags & 1))
			io->tgt_res = res;
		break;
	}
	if (--io->tgt_inflight == 0)
		ublk_complete_io(q, tag, io->tgt_res);
}

const struct target_ops loop_tgt_ops = {
	.name = "loop",
	.id = 2,
	.init = loop_init,
	.deinit = loop_deinit,
	.queue_io = loop_queue_io,
	.tgt_io_done = loop_io_done,
	.sqes_per_io = 3,
};
