// SPDX-License-Identifier: GPL-2.0
/*
 * kublk "null" target: every request completes at once with its full length
 * (READ/WRITE) or 0 (FLUSH/DISCARD/WRITE_ZEROES).  The data of READs is
 * whatever the bounce buffer holds; in user-copy mode the core still copies
 * it, so the copy path is exercised.  Zero copy: with -z (and for AUTO_BUF_REG
 * fallback requests) the request buffer is registered and unregistered in
 * one linked submission, to exercise that path; the data is not touched.
 * With --auto_zc the driver registers it and drops it at COMMIT.
 */
#include "kublk.h"

#define NULL_TGT_REG	1
#define NULL_TGT_UNREG	2

static int null_init(struct ublk_dev *dev)
{
	struct ublk_params *p = &dev->params;

	if (dev->ctx->recovering)
		return 0;
	ublk_set_basic_params(dev, dev->ctx->size);
	p->types |= UBLK_PARAM_TYPE_DISCARD;
	p->discard.discard_granularity = 4096;
	p->discard.max_discard_sectors = UINT32_MAX >> 9;
	p->discard.max_write_zeroes_sectors = UINT32_MAX >> 9;
	p->discard.max_discard_segments = 1;
	return 0;
}

static void null_deinit(struct ublk_dev *dev)
{
	(void)dev;
}

static int null_result(const struct ublksrv_io_desc *iod)
{
	switch (ublksrv_get_op(iod)) {
	case UBLK_IO_OP_READ:
	case UBLK_IO_OP_WRITE:
		return iod->nr_sectors << 9;
	case UBLK_IO_OP_FLUSH:
	case UBLK_IO_OP_DISCARD:
	case UBLK_IO_OP_WRITE_ZEROES:
		return 0;
	default:
		return -EOPNOTSUPP;
	}
}

static int null_queue_io(struct ublk_queue *q, int tag)
{
	const struct ublksrv_io_desc *iod = ublk_get_iod(q, tag);
	struct ublk_io *io = &q->ios[tag];
	unsigned int op = ublksrv_get_op(iod);

	if (ublk_io_need_reg(q, iod) &&
	    (op == UBLK_IO_OP_READ || op == UBLK_IO_OP_WRITE)) {
		struct io_uring_sqe *reg, *unreg;

		if (!ublk_queue_reserve_sqes(q, 2))
			return -ENOMEM;
		reg = ublk_prep_buf_reg(q, tag, true, NULL_TGT_REG);
		unreg = ublk_prep_buf_reg(q, tag, false, NULL_TGT_UNREG);
		if (!reg || !unreg)
			return -ENOMEM;
		reg->flags |= IOSQE_IO_LINK;
		io->tgt_inflight = 2;
		io->tgt_res = null_result(iod);
		return 0;
	}
	ublk_complete_io(q, tag, null_result(iod));
	return 0;
}

static void null_io_done(struct ublk_queue *q, int tag,
			 const struct io_uring_cqe *cqe)
{
	struct ublk_io *io = &q->ios[tag];
	unsigned int kind = user_data_to_tgt_data(cqe->user_data);

	if (cqe->res < 0) {
		if (kind == NULL_TGT_REG)
			io->tgt_res = cqe->res;
		else if (cqe->res != -ECANCELED)
			ublk_err("q%d tag %d: unregister buffer: %s\n", q->q_id,
				 tag, strerror(-cqe->res));
	}
	if (--io->tgt_inflight == 0)
		ublk_complete_io(q, tag, io->tgt_res);
}

const struct target_ops null_tgt_ops = {
	.name = "null",
	.id = 1,
	.init = null_init,
	.deinit = null_deinit,
	.queue_io = null_queue_io,
	.tgt_io_done = null_io_done,
	.sqes_per_io = 2,
};
