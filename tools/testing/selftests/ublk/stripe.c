// SPDX-License-Identifier: GPL-2.0
/*
 * kublk "stripe" target: RAID-0 over two or more backing files (regular
 * files or block devices), "add -t stripe [--chunk N] file1 file2 ...".
 *
 * Layout: the device is cut into chunks of --chunk bytes (power of two,
 * default 64K); chunk k lives in file (k % n) at offset (k / n) * chunk.
 * Each file contributes the same number of whole chunks (the smallest file
 * decides), so the device size is n * rows * chunk.  The backing files are
 * fixed files 1..n of every queue ring.
 *
 *   READ/WRITE     split at chunk boundaries, one read/write per piece:
 *                  copy and user copy on the tag's bounce buffer at the
 *                  piece's offset, all pieces in parallel; zero copy:
 *                  fixed-buffer read/write on ublk_io_buf_index() at the
 *                  piece's offset in the request (0..len).  With -z (and for
 *                  AUTO_BUF_REG fallback requests) the pieces are chained
 *                  REGISTER_IO_BUF (link) -> piece 0 (hardlink) -> ... ->
 *                  piece n-1 (hardlink) -> UNREGISTER_IO_BUF, so the buffer
 *                  is dropped even when a piece fails; with --auto_zc they
 *                  run in parallel on the driver's registration.
 *   FLUSH          fdatasync of every file
 *   DISCARD        one PUNCH_HOLE per file: the pieces of a device range
 *                  that land in one file are contiguous in that file
 *   WRITE_ZEROES   not offered (max_write_zeroes_sectors = 0)
 *
 * The request completes with its full length when every piece transferred
 * its full length, otherwise with the first error (-EIO for a short piece).
 */
#include <sys/stat.h>
#include <linux/fs.h>
#include <linux/falloc.h>
#include "kublk.h"

/* target data in user_data: piece index, file index, or one of these */
#define STRIPE_REG		0xfff0
#define STRIPE_UNREG		0xfff1
#define STRIPE_F_REG_FAILED	1	/* io->tgt_flags */

struct stripe_data {
	unsigned int nr;			/* backing files */
	unsigned int chunk;			/* bytes, power of two */
	unsigned int shift;			/* log2(chunk) */
	int fds[KUBLK_MAX_FILES];
	unsigned long long rows;	/* chunks per file in use */
};

struct stripe_piece {
	unsigned int file;			/* 0..nr-1 (fixed file index - 1) */
	unsigned int buf_off;		/* offset in the request's buffer */
	unsigned int len;
	__u64 file_off;
};

static unsigned int stripe_nr_pieces(const struct stripe_data *sd, __u64 off,
				     __u64 len)
{
	if (!len)
		return 0;
	return ((off + len - 1) >> sd->shift) - (off >> sd->shift) + 1;
}

/* piece @i of the device range [off, off + len) */
static void stripe_get_piece(const struct stripe_data *sd, __u64 off,
			     __u64 len, unsigned int i, struct stripe_piece *p)
{
	__u64 chunk_no = (off >> sd->shift) + i;
	__u64 start = i ? chunk_no << sd->shift : off;
	__u64 end = (chunk_no + 1) << sd->shift;

	if (end > off + len)
		end = off + len;
	p->file = chunk_no % sd->nr;
	p->file_off = ((chunk_no / sd->nr) << sd->shift) +
		(start & (sd->chunk - 1));
	p->buf_off = start - off;
	p->len = end - start;
}

static void stripe_deinit(struct ublk_dev *dev)
{
	struct stripe_data *sd = dev->tgt_data;
	unsigned int i;

	if (!sd)
		return;
	for (i = 0; i < sd->nr; i++)
		if (sd->fds[i] >= 0)
			close(sd->fds[i]);
	free(sd);
	dev->tgt_data = NULL;
}

static int stripe_init(struct ublk_dev *dev)
{
	struct dev_ctx *ctx = dev->ctx;
	struct ublk_params *p = &dev->params;
	unsigned long long size, rows = ~0ULL;
	struct stripe_data *sd;
	unsigned int chunk = ctx->chunk_size ?: KUBLK_DEF_CHUNK;
	unsigned int max_pieces;
	int i, fd;

	if (ctx->nr_files < 2 || ctx->nr_files > KUBLK_MAX_FILES) {
		ublk_err("stripe: 2..%d backing files required\n",
			 KUBLK_MAX_FILES);
		return -EINVAL;
	}
	if (chunk < 4096 || (chunk & (chunk - 1))) {
		ublk_err("stripe: chunk size %u is not a power of two >= 4096\n",
			 chunk);
		return -EINVAL;
	}
	sd = calloc(1, sizeof(*sd));
	if (!sd)
		return -ENOMEM;
	sd->chunk = chunk;
	while ((1U << sd->shift) < chunk)
		sd->shift++;
	for (i = 0; i < KUBLK_MAX_FILES; i++)
		sd->fds[i] = -1;
	dev->tgt_data = sd;

	for (i = 0; i < ctx->nr_files; i++) {
		fd = ublk_open_backing(ctx, "stripe", ctx->files[i], &size,
				       NULL);
		if (fd < 0)
			return fd;	/* deinit closes what is open */
		sd->fds[i] = fd;
		sd->nr++;
		if (dev->nr_fds > KUBLK_MAX_FILES)
			return -EMFILE;
		dev->fds[dev->nr_fds++] = fd;	/* fixed file i + 1 */
		if (size >> sd->shift < rows)
			rows = size >> sd->shift;
		ublk_dbg("stripe: file %d %s size %llu\n", i, ctx->files[i],
			 size);
	}
	sd->rows = rows;

	/* a request of max_io_buf bytes may touch max/chunk + 1 chunks */
	max_pieces = dev->info.max_io_buf_bytes / chunk + 2;
	dev->tgt_sqes_per_io = max_pieces + 2;	/* + REGISTER, UNREGISTER */
	if (dev->tgt_sqes_per_io < (int)sd->nr)
		dev->tgt_sqes_per_io = sd->nr;	/* FLUSH, DISCARD */

	if (ctx->recovering)
		return 0;
	if (!rows) {
		ublk_err("stripe: a backing file is smaller than the chunk size %u\n",
			 chunk);
		return -EINVAL;
	}
	ublk_set_basic_params(dev, (rows << sd->shift) * sd->nr);
	p->basic.attrs |= UBLK_ATTR_VOLATILE_CACHE;
	p->types |= UBLK_PARAM_TYPE_DISCARD;
	p->discard.discard_granularity = 4096;
	p->discard.max_discard_sectors = UINT32_MAX >> 9;
	p->discard.max_write_zeroes_sectors = 0;
	p->discard.max_discard_segments = 1;
	ublk_dbg("stripe: %u files, chunk %u, %llu rows, size %llu\n", sd->nr,
		 chunk, rows, dev->dev_size);
	return 0;
}

static int stripe_queue_rw(struct ublk_queue *q, int tag,
			   const struct ublksrv_io_desc *iod)
{
	const struct stripe_data *sd = q->dev->tgt_data;
	unsigned int op = ublksrv_get_op(iod);
	__u64 len = (__u64)iod->nr_sectors << 9;
	__u64 off = iod->start_sector << 9;
	bool is_read = op == UBLK_IO_OP_READ;
	bool zc = ublk_io_zc(q, iod);
	bool manual_reg = ublk_io_need_reg(q, iod);
	unsigned int buf_index = ublk_io_buf_index(q, tag);
	unsigned int i, nr = stripe_nr_pieces(sd, off, len);
	char *buf = ublk_io_buf(q, tag);
	struct io_uring_sqe *sqe;

	if (!nr)
		return -EINVAL;
	if (!ublk_queue_reserve_sqes(q, nr + (manual_reg ? 2 : 0))) {
		ublk_err("q%d tag %d: %u pieces do not fit the ring\n",
			 q->q_id, tag, nr);
		return -ENOMEM;
	}
	if (!zc && !buf)
		return -EINVAL;
	if (manual_reg) {
		sqe = ublk_prep_buf_reg(q, tag, true, STRIPE_REG);
		if (!sqe)	/* cannot happen: reserved above */
			return -ENOMEM;
		q->ios[tag].tgt_inflight++;
		/* a failed registration cancels the pieces and the unregister */
		sqe->flags |= IOSQE_IO_LINK;
	}
	for (i = 0; i < nr; i++) {
		struct stripe_piece p;
		unsigned int fidx;

		stripe_get_piece(sd, off, len, i, &p);
		fidx = p.file + 1;
		sqe = ublk_tgt_io_sqe(q, tag, op, i);
		if (!sqe)	/* cannot happen: reserved above */
			break;
		if (zc && is_read)
			io_uring_prep_read_fixed(sqe, fidx,
						 (void *)(uintptr_t)p.buf_off,
						 p.len, p.file_off, buf_index);
		else if (zc)
			io_uring_prep_write_fixed(sqe, fidx,
						  (void *)(uintptr_t)p.buf_off,
						  p.len, p.file_off, buf_index);
		else if (is_read)
			io_uring_prep_read(sqe, fidx, buf + p.buf_off, p.len,
					   p.file_off);
		else
			io_uring_prep_write(sqe, fidx, buf + p.buf_off, p.len,
					    p.file_off);
		ublk_tgt_io_sqe_file(sqe, tag, op, i);
		/* keep the chain going to the unregister even on failure */
		if (manual_reg)
			sqe->flags |= IOSQE_IO_HARDLINK;
	}
	if (manual_reg && ublk_prep_buf_reg(q, tag, false, STRIPE_UNREG))
		q->ios[tag].tgt_inflight++;
	return q->ios[tag].tgt_inflight ? 0 : -ENOMEM;
}

static int stripe_queue_flush(struct ublk_queue *q, int tag, unsigned int op)
{
	const struct stripe_data *sd = q->dev->tgt_data;
	struct io_uring_sqe *sqe;
	unsigned int i;

	if (!ublk_queue_reserve_sqes(q, sd->nr))
		return -ENOMEM;
	for (i = 0; i < sd->nr; i++) {
		sqe = ublk_tgt_io_sqe(q, tag, op, i);
		if (!sqe)
			break;
		io_uring_prep_fsync(sqe, i + 1, IORING_FSYNC_DATASYNC);
		ublk_tgt_io_sqe_file(sqe, tag, op, i);
	}
	return q->ios[tag].tgt_inflight ? 0 : -ENOMEM;
}

static int stripe_queue_discard(struct ublk_queue *q, int tag,
				const struct ublksrv_io_desc *iod)
{
	const struct stripe_data *sd = q->dev->tgt_data;
	unsigned int op = ublksrv_get_op(iod);
	__u64 len = (__u64)iod->nr_sectors << 9;
	__u64 off = iod->start_sector << 9;
	__u64 lo[KUBLK_MAX_FILES], hi[KUBLK_MAX_FILES];
	unsigned int i, nr = stripe_nr_pieces(sd, off, len), nr_sqes = 0;
	struct io_uring_sqe *sqe;

	if (!nr)
		return -EINVAL;
	for (i = 0; i < sd->nr; i++) {
		lo[i] = ~0ULL;
		hi[i] = 0;
	}
	/* the pieces of one file form one contiguous range in that file */
	for (i = 0; i < nr && i < 2 * sd->nr; i++) {
		struct stripe_piece p;

		stripe_get_piece(sd, off, len, i, &p);
		if (p.file_off < lo[p.file])
			lo[p.file] = p.file_off;
	}
	for (i = nr > 2 * sd->nr ? nr - 2 * sd->nr : 0; i < nr; i++) {
		struct stripe_piece p;

		stripe_get_piece(sd, off, len, i, &p);
		if (p.file_off + p.len > hi[p.file])
			hi[p.file] = p.file_off + p.len;
	}
	for (i = 0; i < sd->nr; i++)
		if (hi[i] > lo[i])
			nr_sqes++;
	if (!ublk_queue_reserve_sqes(q, nr_sqes))
		return -ENOMEM;
	for (i = 0; i < sd->nr; i++) {
		if (hi[i] <= lo[i])
			continue;
		sqe = ublk_tgt_io_sqe(q, tag, op, i);
		if (!sqe)
			break;
		io_uring_prep_fallocate(sqe, i + 1,
					FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE,
					lo[i], hi[i] - lo[i]);
		ublk_tgt_io_sqe_file(sqe, tag, op, i);
	}
	return q->ios[tag].tgt_inflight ? 0 : -ENOMEM;
}

static int stripe_queue_io(struct ublk_queue *q, int tag)
{
	const struct ublksrv_io_desc *iod = ublk_get_iod(q, tag);
	unsigned int op = ublksrv_get_op(iod);

	q->ios[tag].tgt_inflight = 0;
	q->ios[tag].tgt_res = 0;
	switch (op) {
	case UBLK_IO_OP_READ:
	case UBLK_IO_OP_WRITE:
		return stripe_queue_rw(q, tag, iod);
	case UBLK_IO_OP_FLUSH:
		return stripe_queue_flush(q, tag, op);
	case UBLK_IO_OP_DISCARD:
		return stripe_queue_discard(q, tag, iod);
	default:
		return -EOPNOTSUPP;
	}
}

static void stripe_io_done(struct ublk_queue *q, int tag,
			   const struct io_uring_cqe *cqe)
{
	const struct stripe_data *sd = q->dev->tgt_data;
	const struct ublksrv_io_desc *iod = ublk_get_iod(q, tag);
	struct ublk_io *io = &q->ios[tag];
	unsigned int kind = user_data_to_tgt_data(cqe->user_data);
	unsigned int op = ublksrv_get_op(iod);
	__u64 len = (__u64)iod->nr_sectors << 9;
	int res = cqe->res;

	switch (kind) {
	case STRIPE_REG:
		if (res < 0) {
			ublk_err("q%d tag %d: register buffer: %s\n", q->q_id,
				 tag, strerror(-res));
			io->tgt_flags |= STRIPE_F_REG_FAILED;
			io->tgt_res = res;
		}
		break;
	case STRIPE_UNREG:
		if (res < 0 && res != -ECANCELED)
			ublk_err("q%d tag %d: unregister buffer: %s\n", q->q_id,
				 tag, strerror(-res));
		break;
	default:
		if (op == UBLK_IO_OP_READ || op == UBLK_IO_OP_WRITE) {
			struct stripe_piece p;

			stripe_get_piece(sd, iod->start_sector << 9, len, kind,
					 &p);
			if (res >= 0 && (unsigned int)res != p.len) {
				ublk_err("q%d tag %d: piece %u: %d of %u bytes\n",
					 q->q_id, tag, kind, res, p.len);
				res = -EIO;
			}
		}
		/* keep the first error; the register's error wins */
		if (res < 0 && !(io->tgt_flags & STRIPE_F_REG_FAILED) &&
		    io->tgt_res >= 0)
			io->tgt_res = res;
		break;
	}
	if (--io->tgt_inflight == 0) {
		res = io->tgt_res;
		if (res >= 0)
			res = (op == UBLK_IO_OP_READ || op == UBLK_IO_OP_WRITE) ?
				(int)len : 0;
		ublk_complete_io(q, tag, res);
	}
}

const struct target_ops stripe_tgt_ops = {
	.name = "stripe",
	.id = 3,
	.init = stripe_init,
	.deinit = stripe_deinit,
	.queue_io = stripe_queue_io,
	.tgt_io_done = stripe_io_done,
	.sqes_per_io = 11,	/* 512K / 64K + 1 pieces + 2; see init */
};
