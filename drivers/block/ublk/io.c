// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * ublk: the I/O path.
 *
 * blk-mq (queue_rq, queue_rqs, timeout), delivering requests to the server
 * in task work, the io commands FETCH, COMMIT_AND_FETCH and NEED_GET_DATA,
 * ending requests, aborting them when the server goes away, and copying
 * data between request pages and the server (copy mode, user copy).
 */

#include "ublk.h"

/* ------------------------------------------------------------------ */
/* copying between request pages and an iov_iter                       */
/* ------------------------------------------------------------------ */

/**
 * ublk_copy_rq_data - copy between a request's pages and an iov_iter
 * @rq: request with data
 * @offset: byte offset into the request data to start at
 * @max: bytes to copy at most
 * @iter: user memory (the server's buffer or a pread/pwrite iterator)
 * @to_user: true copies request -> @iter, false copies @iter -> request
 *
 * Must run in the context of the task owning the memory behind @iter; may
 * fault and sleep.
 *
 * Return: number of bytes copied, stops early on a fault.
 */
size_t ublk_copy_rq_data(struct request *rq, size_t offset, size_t max,
			 struct iov_iter *iter, bool to_user)
{
	struct req_iterator rq_iter;
	struct bio_vec bv;
	size_t done = 0;

	rq_for_each_segment(bv, rq, rq_iter) {
		size_t len, copied;

		if (offset >= bv.bv_len) {
			offset -= bv.bv_len;
			continue;
		}
		len = min_t(size_t, bv.bv_len - offset, max - done);
		if (to_user)
			copied = copy_page_to_iter(bv.bv_page,
						   bv.bv_offset + offset, len,
						   iter);
		else
			copied = copy_page_from_iter(bv.bv_page,
						     bv.bv_offset + offset, len,
						     iter);
		done += copied;
		offset = 0;
		if (copied < len || done == max || !iov_iter_count(iter))
			break;
	}
	return done;
}

/**
 * ublk_copy_with_server_buf - copy mode transfer with the server buffer
 * @rq: request with data
 * @addr: server virtual address
 * @len: bytes to transfer at most
 * @to_server: true for WRITE data going to the server
 *
 * Runs in the server task (task work or its own io command), so @addr is
 * resolved in the server's mm.
 *
 * Return: bytes copied.
 */
static size_t ublk_copy_with_server_buf(struct request *rq, u64 addr,
					size_t len, bool to_server)
{
	struct iov_iter iter;

	if (!current->mm || !len)
		return 0;
	if (import_ubuf(to_server ? ITER_DEST : ITER_SOURCE,
			u64_to_user_ptr(addr), len, &iter))
		return 0;
	return ublk_copy_rq_data(rq, 0, len, &iter, to_server);
}

/* ------------------------------------------------------------------ */
/* ending requests                                                     */
/* ------------------------------------------------------------------ */

/*
 * ublk_end_rq - end a request after its last reference was dropped
 *
 * Success results shorter than the request complete what was done and
 * requeue the rest (it will be dispatched again, possibly on another tag).
 * A result of zero bytes for a data request is an error, so that a server
 * that always returns 0 cannot livelock the request.
 */
void ublk_end_rq(struct request *rq)
{
	struct ublk_rq_data *data = blk_mq_rq_to_pdu(rq);
	struct ublk_queue *ubq = rq->mq_hctx->driver_data;
	unsigned int lbs = ublk_lbs(ubq->dev);
	unsigned int done;
	int res = data->res;

	if (data->abort == UBLK_ABORT_REQUEUE) {
		blk_mq_requeue_request(rq, true);
		return;
	}
	if (data->abort == UBLK_ABORT_FAIL) {
		blk_mq_end_request(rq, BLK_STS_IOERR);
		return;
	}
	if (res < 0) {
		blk_mq_end_request(rq, errno_to_blk_status(res));
		return;
	}

	switch (req_op(rq)) {
	case REQ_OP_READ:
	case REQ_OP_WRITE:
		done = min_t(unsigned int, res, data->deliv_bytes);
		if (done >= blk_rq_bytes(rq)) {
			blk_mq_end_request(rq, BLK_STS_OK);
			return;
		}
		done = round_down(done, lbs);
		if (!done) {
			blk_mq_end_request(rq, BLK_STS_IOERR);
			return;
		}
		if (blk_update_request(rq, BLK_STS_OK, done))
			blk_mq_requeue_request(rq, true);
		else
			__blk_mq_end_request(rq, BLK_STS_OK);
		return;
	case REQ_OP_ZONE_APPEND:
		rq->__sector = data->zone_lba;
		blk_mq_end_request(rq, BLK_STS_OK);
		return;
	default:
		blk_mq_end_request(rq, BLK_STS_OK);
		return;
	}
}

/*
 * Detach the request of a DISPATCH or OWNED slot that no server will
 * complete, and tell ublk_end_rq() what to do with it. Called with
 * ubq->lock held; the caller drops the commit reference after unlocking.
 */
static struct request *ublk_detach_rq_locked(struct ublk_queue *ubq,
					     struct ublk_io *io)
{
	struct request *rq = io->req;
	struct ublk_rq_data *data = blk_mq_rq_to_pdu(rq);
	bool delivered = io->state == UBLK_IO_OWNED;

	lockdep_assert_held(&ubq->lock);

	/*
	 * Requests the server never saw are queued for the next server when
	 * recovery keeps I/O; delivered ones only with REISSUE.
	 */
	if (ubq->nosrv_requeue &&
	    (!delivered || (ubq->flags & UBLK_F_USER_RECOVERY_REISSUE)))
		data->abort = UBLK_ABORT_REQUEUE;
	else
		data->abort = UBLK_ABORT_FAIL;

	io->req = NULL;
	io->need_get_data = false;
	/* the registration, if any, stays until its ring lets go of it */
	io->auto_reg = false;
	return rq;
}

/*
 * Abort every request a vanished server still owns on @ubq. With @task set
 * only those owned by that task. Parked commands are aborted too when
 * @abort_cmds (used when no io command can be pending any more).
 */
void ublk_abort_queue(struct ublk_queue *ubq, struct task_struct *task,
		      bool abort_cmds)
{
	unsigned int tag;

	for (tag = 0; tag < ubq->depth; tag++) {
		struct ublk_io *io = &ubq->ios[tag];
		struct io_uring_cmd *cmd = NULL;
		struct request *rq = NULL;
		unsigned long flags;

		spin_lock_irqsave(&ubq->lock, flags);
		if (io->state == UBLK_IO_OWNED && (!task || io->task == task)) {
			rq = ublk_detach_rq_locked(ubq, io);
			io->state = UBLK_IO_IDLE;
		} else if (abort_cmds && io->state == UBLK_IO_FETCHED) {
			cmd = io->cmd;
			io->cmd = NULL;
			io->state = UBLK_IO_IDLE;
		}
		spin_unlock_irqrestore(&ubq->lock, flags);

		if (rq)
			ublk_put_rq_ref(rq);
		if (cmd)
			io_uring_cmd_done(cmd, UBLK_IO_RES_ABORT, 0,
					  IO_URING_F_UNLOCKED);
	}
}

/* complete every parked FETCH command of @ubq with UBLK_IO_RES_ABORT */
void ublk_abort_fetches(struct ublk_queue *ubq)
{
	unsigned int tag;

	for (tag = 0; tag < ubq->depth; tag++) {
		struct ublk_io *io = &ubq->ios[tag];
		struct io_uring_cmd *cmd = NULL;
		unsigned long flags;

		spin_lock_irqsave(&ubq->lock, flags);
		if (io->state == UBLK_IO_FETCHED) {
			cmd = io->cmd;
			io->cmd = NULL;
			io->state = UBLK_IO_IDLE;
		}
		spin_unlock_irqrestore(&ubq->lock, flags);

		if (cmd)
			io_uring_cmd_done(cmd, UBLK_IO_RES_ABORT, 0,
					  IO_URING_F_UNLOCKED);
	}
}

void ublk_set_queue_flags(struct ublk_queue *ubq, bool canceling,
			  bool fetch_closed)
{
	unsigned long flags;

	spin_lock_irqsave(&ubq->lock, flags);
	ubq->canceling = canceling;
	ubq->fetch_closed = fetch_closed;
	spin_unlock_irqrestore(&ubq->lock, flags);
}

/* no server: mark every queue so that nothing is bound to a slot any more */
void ublk_close_queues(struct ublk_device *ub)
{
	unsigned int i;

	for (i = 0; i < ub->nr_queues; i++)
		ublk_set_queue_flags(ub->queues[i], true, true);
}

void ublk_set_nosrv_requeue(struct ublk_device *ub, bool requeue)
{
	unsigned int i;

	for (i = 0; i < ub->nr_queues; i++) {
		struct ublk_queue *ubq = ub->queues[i];
		unsigned long flags;

		spin_lock_irqsave(&ubq->lock, flags);
		ubq->nosrv_requeue = requeue;
		spin_unlock_irqrestore(&ubq->lock, flags);
	}
}

/* what a LIVE device does with I/O when its server disappears */
bool ublk_live_nosrv_requeue(const struct ublk_device *ub)
{
	return ublk_dev_recoverable(ub) &&
		!(ub->dev_info.flags & UBLK_F_USER_RECOVERY_FAIL_IO);
}

/* ------------------------------------------------------------------ */
/* blk-mq                                                              */
/* ------------------------------------------------------------------ */

static u32 ublk_rq_op_flags(struct request *rq)
{
	u32 flags = 0;

	if (rq->cmd_flags & REQ_FAILFAST_DEV)
		flags |= UBLK_IO_F_FAILFAST_DEV;
	if (rq->cmd_flags & REQ_FAILFAST_TRANSPORT)
		flags |= UBLK_IO_F_FAILFAST_TRANSPORT;
	if (rq->cmd_flags & REQ_FAILFAST_DRIVER)
		flags |= UBLK_IO_F_FAILFAST_DRIVER;
	if (rq->cmd_flags & REQ_META)
		flags |= UBLK_IO_F_META;
	if (rq->cmd_flags & REQ_FUA)
		flags |= UBLK_IO_F_FUA;
	if (rq->cmd_flags & REQ_NOUNMAP)
		flags |= UBLK_IO_F_NOUNMAP;
	if (rq->cmd_flags & REQ_SWAP)
		flags |= UBLK_IO_F_SWAP;
	return flags;
}

/*
 * Fill the descriptor of @rq's tag. The server only reads it after the
 * tag's command completes, and the tag belongs to @rq until it ends.
 */
static blk_status_t ublk_setup_iod(struct ublk_queue *ubq, struct request *rq)
{
	struct ublksrv_io_desc *iod = &ubq->io_cmd_buf[rq->tag];
	struct ublk_rq_data *data = blk_mq_rq_to_pdu(rq);
	u32 op;

	switch (req_op(rq)) {
	case REQ_OP_READ:
		op = UBLK_IO_OP_READ;
		break;
	case REQ_OP_WRITE:
		op = UBLK_IO_OP_WRITE;
		break;
	case REQ_OP_FLUSH:
		op = UBLK_IO_OP_FLUSH;
		break;
	case REQ_OP_DISCARD:
		op = UBLK_IO_OP_DISCARD;
		break;
	case REQ_OP_WRITE_ZEROES:
		op = UBLK_IO_OP_WRITE_ZEROES;
		break;
#ifdef CONFIG_BLK_DEV_ZONED
	case REQ_OP_ZONE_OPEN:
		op = UBLK_IO_OP_ZONE_OPEN;
		break;
	case REQ_OP_ZONE_CLOSE:
		op = UBLK_IO_OP_ZONE_CLOSE;
		break;
	case REQ_OP_ZONE_FINISH:
		op = UBLK_IO_OP_ZONE_FINISH;
		break;
	case REQ_OP_ZONE_RESET:
		op = UBLK_IO_OP_ZONE_RESET;
		break;
	case REQ_OP_ZONE_RESET_ALL:
		op = UBLK_IO_OP_ZONE_RESET_ALL;
		break;
	case REQ_OP_ZONE_APPEND:
		op = UBLK_IO_OP_ZONE_APPEND;
		break;
	case REQ_OP_DRV_IN:
		/* only issued by ublk_report_zones() */
		if (!ublk_dev_zoned(ubq->dev))
			return BLK_STS_NOTSUPP;
		iod->op_flags = UBLK_IO_OP_REPORT_ZONES;
		iod->nr_zones = data->nr_zones;
		iod->start_sector = blk_rq_pos(rq);
		iod->addr = 0;
		data->deliv_bytes = blk_rq_bytes(rq);
		return BLK_STS_OK;
#endif
	default:
		return BLK_STS_NOTSUPP;
	}

	iod->op_flags = op | ublk_rq_op_flags(rq);
	iod->nr_sectors = blk_rq_sectors(rq);
	iod->start_sector = blk_rq_pos(rq);
	iod->addr = 0;
	data->deliv_bytes = ublk_rq_has_data(rq) ? blk_rq_bytes(rq) : 0;
	return BLK_STS_OK;
}

/* outcome of trying to bind a request to its slot */
enum ublk_bind {
	UBLK_BIND_OK,		/* bound, task work must be queued */
	UBLK_BIND_REQUEUE,	/* no server, park it on the requeue list */
	UBLK_BIND_FAIL,		/* fail the request */
};

/* Bind @rq (started) to its slot, unless the queue has no server. */
static enum ublk_bind ublk_bind_rq(struct ublk_queue *ubq, struct request *rq,
				   struct io_uring_cmd **cmdp)
{
	struct ublk_rq_data *data = blk_mq_rq_to_pdu(rq);
	struct ublk_io *io = &ubq->ios[rq->tag];
	enum ublk_bind ret = UBLK_BIND_OK;
	unsigned long flags;

	spin_lock_irqsave(&ubq->lock, flags);
	if (unlikely(ubq->canceling)) {
		ret = ubq->nosrv_requeue ? UBLK_BIND_REQUEUE : UBLK_BIND_FAIL;
	} else if (unlikely(io->state != UBLK_IO_FETCHED)) {
		/* cannot happen while the queue is not canceling */
		ret = UBLK_BIND_FAIL;
	} else {
		refcount_set(&data->ref, 1);
		data->res = 0;
		data->abort = UBLK_ABORT_NONE;
		data->nr_regs = 0;
		io->state = UBLK_IO_DISPATCH;
		io->req = rq;
		*cmdp = io->cmd;
	}
	spin_unlock_irqrestore(&ubq->lock, flags);
	return ret;
}

static void ublk_dispatch_tw(struct io_uring_cmd *cmd, unsigned int issue_flags);

/*
 * Park a request for the next server without kicking the requeue list.
 * END_USER_RECOVERY and STOP change the queue flags under ubq->lock and
 * then kick the list; a request added after their kick is caught by
 * looking at the flags again here, so none is left behind.
 */
static void ublk_park_rq(struct ublk_queue *ubq, struct request *rq)
{
	struct request_queue *q = rq->q;
	unsigned long flags;
	bool kick;

	blk_mq_requeue_request(rq, false);

	spin_lock_irqsave(&ubq->lock, flags);
	kick = !ubq->canceling || !ubq->nosrv_requeue;
	spin_unlock_irqrestore(&ubq->lock, flags);
	if (kick)
		blk_mq_kick_requeue_list(q);
}

static blk_status_t ublk_prep_and_bind(struct ublk_queue *ubq,
				       struct request *rq,
				       struct io_uring_cmd **cmdp)
{
	blk_status_t sts;

	sts = ublk_setup_iod(ubq, rq);
	if (unlikely(sts != BLK_STS_OK))
		return sts;

	blk_mq_start_request(rq);
	switch (ublk_bind_rq(ubq, rq, cmdp)) {
	case UBLK_BIND_OK:
		return BLK_STS_OK;
	case UBLK_BIND_REQUEUE:
		*cmdp = NULL;
		ublk_park_rq(ubq, rq);
		return BLK_STS_OK;
	default:
		*cmdp = NULL;
		blk_mq_end_request(rq, BLK_STS_IOERR);
		return BLK_STS_OK;
	}
}

static blk_status_t ublk_queue_rq(struct blk_mq_hw_ctx *hctx,
				  const struct blk_mq_queue_data *bd)
{
	struct ublk_queue *ubq = hctx->driver_data;
	struct io_uring_cmd *cmd = NULL;
	blk_status_t sts;

	sts = ublk_prep_and_bind(ubq, bd->rq, &cmd);
	if (cmd)
		io_uring_cmd_complete_in_task(cmd, ublk_dispatch_tw);
	return sts;
}

/*
 * Batch submission: bind all requests first, then queue the task work,
 * lazily except for the last request of each queue in the batch, which
 * wakes the server up.
 */
static void ublk_queue_rqs(struct rq_list *rqlist)
{
	struct rq_list bound = { };
	struct rq_list rest = { };
	struct request *rq;

	while ((rq = rq_list_pop(rqlist))) {
		struct ublk_queue *ubq = rq->mq_hctx->driver_data;
		struct io_uring_cmd *cmd = NULL;

		if (ublk_prep_and_bind(ubq, rq, &cmd) != BLK_STS_OK)
			rq_list_add_tail(&rest, rq);
		else if (cmd)
			rq_list_add_tail(&bound, rq);
	}

	while ((rq = rq_list_pop(&bound))) {
		struct ublk_queue *ubq = rq->mq_hctx->driver_data;
		struct request *next = rq_list_peek(&bound);
		/* stable: the slot stays DISPATCH until its task work runs */
		struct io_uring_cmd *cmd = ubq->ios[rq->tag].cmd;

		if (next && next->mq_hctx == rq->mq_hctx)
			io_uring_cmd_do_in_task_lazy(cmd, ublk_dispatch_tw);
		else
			io_uring_cmd_complete_in_task(cmd, ublk_dispatch_tw);
	}
	*rqlist = rest;
}

/*
 * Requests owned by a live server are its business: the timer is reset.
 * If the server is gone (queue canceling and the owning task exiting) the
 * request is aborted here, in case the char device is never released
 * (e.g. its fd was inherited by another process). An unprivileged server
 * that sits on a request is killed, its exit then cleans up.
 *
 * A request that was committed (or aborted) but is still pinned by io_uring
 * registrations of its pages cannot be ended by us: only the ring holding
 * them can let go, when the server unregisters them or the ring goes away.
 * While the device lives that is the server's business too. But once the
 * disk is being deleted (STOP_DEV, DEL_DEV) del_gendisk() waits for this
 * request, with ub->mutex held, and a server that never unregisters (a
 * bug, or an UNREGISTER_IO_BUF that failed) typically waits for its parked
 * commands to be aborted before it exits and closes its rings, which
 * STOP_DEV does only after del_gendisk(): nothing would move again. So a
 * pinned request that times out on a dying disk closes all queues and
 * aborts their parked commands; the server exits, its rings release the
 * pages and the request ends.
 */
static enum blk_eh_timer_return ublk_timeout(struct request *rq)
{
	struct ublk_queue *ubq = rq->mq_hctx->driver_data;
	struct ublk_rq_data *data = blk_mq_rq_to_pdu(rq);
	struct ublk_io *io = &ubq->ios[rq->tag];
	struct ublk_device *ub = ubq->dev;
	struct request *abort_rq = NULL;
	bool pinned = false;
	unsigned long flags;
	unsigned int i;

	spin_lock_irqsave(&ubq->lock, flags);
	if (io->state == UBLK_IO_OWNED && io->req == rq) {
		/*
		 * A request whose server is exiting, or one not committed
		 * within its timeout while the disk is being deleted (the
		 * server may have closed its ring but kept /dev/ublkcN open,
		 * and del_gendisk() waits for every request), is failed.
		 */
		if ((ubq->canceling && (io->task->flags & PF_EXITING)) ||
		    test_bit(GD_DEAD, &rq->q->disk->state)) {
			abort_rq = ublk_detach_rq_locked(ubq, io);
			io->state = UBLK_IO_IDLE;
		} else if ((ubq->flags & UBLK_F_UNPRIVILEGED_DEV) &&
			   !ubq->kill_sent) {
			send_sig(SIGKILL, io->task, 0);
			ubq->kill_sent = true;
		}
	} else if (io->req != rq && data->nr_regs) {
		/* no longer the slot's: committed or aborted, pinned */
		pinned = true;
	}
	spin_unlock_irqrestore(&ubq->lock, flags);

	if (abort_rq) {
		ublk_put_rq_ref(abort_rq);
		return BLK_EH_DONE;
	}
	if (pinned && test_bit(GD_DEAD, &rq->q->disk->state)) {
		/* the queues and their parked commands outlive the request */
		for (i = 0; i < ub->nr_queues; i++) {
			ublk_set_queue_flags(ub->queues[i], true, true);
			ublk_abort_fetches(ub->queues[i]);
		}
	}
	return BLK_EH_RESET_TIMER;
}

static int ublk_init_hctx(struct blk_mq_hw_ctx *hctx, void *driver_data,
			  unsigned int hctx_idx)
{
	struct ublk_device *ub = driver_data;

	hctx->driver_data = ub->queues[hctx_idx];
	return 0;
}

const struct blk_mq_ops ublk_mq_ops = {
	.queue_rq	= ublk_queue_rq,
	.queue_rqs	= ublk_queue_rqs,
	.init_hctx	= ublk_init_hctx,
	.timeout	= ublk_timeout,
};

/* ------------------------------------------------------------------ */
/* io commands                                                         */
/* ------------------------------------------------------------------ */

/*
 * ublk_dispatch_tw - deliver a bound request to the server
 *
 * Task work queued by ->queue_rq(), runs in the task that issued the
 * parked command (or in io_uring's fallback context with
 * IO_URING_F_TASK_DEAD when that task is gone), with the ring's uring_lock
 * held in 6.12. Copy mode WRITE data is copied into the server buffer
 * here, in the server's mm. With UBLK_F_AUTO_BUF_REG the request pages are
 * registered on the command's ring before the command completes; if that
 * fails the request is failed with -EIO and the command stays parked, or,
 * with UBLK_AUTO_BUF_REG_FALLBACK, delivered with UBLK_IO_F_NEED_REG_BUF.
 */
static void ublk_dispatch_tw(struct io_uring_cmd *cmd, unsigned int issue_flags)
{
	struct ublk_uring_cmd_pdu *pdu = ublk_cmd_pdu(cmd);
	struct ublk_queue *ubq = pdu->ubq;
	struct ublk_io *io = &ubq->ios[pdu->tag];
	struct request *rq = io->req;	/* stable while DISPATCH */
	struct ublk_rq_data *data = blk_mq_rq_to_pdu(rq);
	struct ublksrv_io_desc *iod = &ubq->io_cmd_buf[pdu->tag];
	bool dead = issue_flags & IO_URING_F_TASK_DEAD;
	/* set by the parked command, stable while DISPATCH */
	u16 auto_index = io->auto_index;
	struct io_uring_cmd *abort_cmd = NULL;
	struct request *put_rq = NULL;
	int res = UBLK_IO_RES_OK;
	bool copy_failed = false;
	bool reg_failed = false;
	bool registered = false;
	unsigned long flags;

	if (!dead && ublk_q_auto_buf_reg(ubq) && ublk_rq_has_data(rq)) {
		if (!ublk_auto_buf_reg(ubq, pdu->tag, cmd, auto_index,
				       issue_flags))
			registered = true;
		else if (io->auto_flags & UBLK_AUTO_BUF_REG_FALLBACK)
			iod->op_flags |= UBLK_IO_F_NEED_REG_BUF;
		else
			reg_failed = true;
	}

	if (!dead && !ublk_q_no_copy(ubq)) {
		iod->addr = io->addr;
		if (req_op(rq) == REQ_OP_WRITE && ublk_rq_has_data(rq)) {
			if (ubq->flags & UBLK_F_NEED_GET_DATA) {
				res = UBLK_IO_RES_NEED_GET_DATA;
			} else {
				size_t done;

				done = ublk_copy_with_server_buf(rq, io->addr,
								 blk_rq_bytes(rq),
								 true);
				if (done < blk_rq_bytes(rq)) {
					done = round_down(done,
							  ublk_lbs(ubq->dev));
					iod->nr_sectors = done >> SECTOR_SHIFT;
					data->deliv_bytes = done;
					copy_failed = !done;
				}
			}
		}
	}

	spin_lock_irqsave(&ubq->lock, flags);
	if (dead) {
		/* the issuing task or its ring is gone: no server any more */
		ubq->canceling = true;
		ubq->fetch_closed = true;
	}
	if (ubq->canceling || copy_failed || reg_failed) {
		put_rq = ublk_detach_rq_locked(ubq, io);
		if (!ubq->canceling) {
			/*
			 * Bad server buffer or failed registration: fail the
			 * request, keep the cmd.
			 */
			data->abort = UBLK_ABORT_NONE;
			data->res = copy_failed ? -EFAULT : -EIO;
		}
		if (ubq->fetch_closed) {
			io->state = UBLK_IO_IDLE;
			io->cmd = NULL;
			abort_cmd = cmd;
		} else {
			/* keep the command parked for the next request */
			io->state = UBLK_IO_FETCHED;
		}
	} else {
		io->state = UBLK_IO_OWNED;
		io->cmd = NULL;
		io->need_get_data = res == UBLK_IO_RES_NEED_GET_DATA;
		io->auto_reg = registered;
		io->reg_index = auto_index;
		io->reg_ring = ublk_cmd_ring(cmd);
	}
	spin_unlock_irqrestore(&ubq->lock, flags);

	if (put_rq) {
		/* never delivered: take the registration back, then end it */
		if (registered)
			io_buffer_unregister_bvec(cmd, auto_index, issue_flags);
		ublk_put_rq_ref(put_rq);
		if (abort_cmd)
			io_uring_cmd_done(abort_cmd, UBLK_IO_RES_ABORT, 0,
					  issue_flags);
		return;
	}
	io_uring_cmd_done(cmd, res, 0, issue_flags);
}

/*
 * ublk_cancel_cmd - io_uring cancels a parked command (ring exit or the
 * issuing task exits). The queue loses its server: nothing is bound to its
 * slots any more and the command is completed with UBLK_IO_RES_ABORT,
 * unless a request is bound to it already (DISPATCH), in which case the
 * queued task work completes it. If the issuing task is exiting, the
 * requests it owns can never be committed and are aborted now.
 */
void ublk_cancel_cmd(struct io_uring_cmd *cmd, unsigned int issue_flags)
{
	struct ublk_uring_cmd_pdu *pdu = ublk_cmd_pdu(cmd);
	struct ublk_queue *ubq = pdu->ubq;
	struct ublk_io *io = &ubq->ios[pdu->tag];
	struct task_struct *task = io_uring_cmd_get_task(cmd);
	bool scan = false, done = false;
	unsigned long flags;

	spin_lock_irqsave(&ubq->lock, flags);
	ubq->canceling = true;
	ubq->fetch_closed = true;
	if (io->state == UBLK_IO_FETCHED && io->cmd == cmd) {
		io->state = UBLK_IO_IDLE;
		io->cmd = NULL;
		done = true;
	}
	if ((task->flags & PF_EXITING) && ubq->exit_scanned != task) {
		ubq->exit_scanned = task;
		scan = true;
	}
	spin_unlock_irqrestore(&ubq->lock, flags);

	if (done)
		io_uring_cmd_done(cmd, UBLK_IO_RES_ABORT, 0, issue_flags);
	if (scan)
		ublk_abort_queue(ubq, task, false);
}

static void ublk_queue_fetched_one(struct ublk_queue *ubq)
{
	struct ublk_device *ub = ubq->dev;

	if (++ubq->nr_fetched == ubq->depth &&
	    atomic_inc_return(&ub->nr_queues_ready) == ub->nr_queues)
		complete_all(&ub->completion);
}

/*
 * Remember @task as the slot's task, returning the reference to drop
 * (after unlocking) for the previous one.
 */
static struct task_struct *ublk_io_set_task(struct ublk_io *io,
					    struct task_struct *task)
{
	struct task_struct *old = io->task;

	if (old == task)
		return NULL;
	io->task = get_task_struct(task);
	return old;
}

/*
 * UBLK_F_AUTO_BUF_REG: the registration a FETCH/COMMIT_AND_FETCH asks for,
 * in the SQE's addr field (not in the 16-byte io command). Reserved bits
 * and unknown flags must be zero.
 */
static int ublk_get_auto_buf_reg(struct io_uring_cmd *cmd, u16 *index,
				 u8 *flags)
{
	struct ublk_auto_buf_reg reg;

	reg = ublk_sqe_addr_to_auto_buf_reg(READ_ONCE(cmd->sqe->addr));
	if (reg.reserved0 || reg.reserved1 ||
	    (reg.flags & ~UBLK_AUTO_BUF_REG_F_MASK))
		return -EINVAL;
	*index = reg.index;
	*flags = reg.flags;
	return 0;
}

/*
 * The start of FETCH and COMMIT_AND_FETCH, which both park @cmd on slot
 * @tag: read the automatic registration it asks for (for the next request
 * of the slot), then make it cancelable. Nothing is published before the
 * command can be canceled, and nothing is changed on error.
 */
static int ublk_prep_park(struct io_uring_cmd *cmd, struct ublk_queue *ubq,
			  u16 tag, u16 *auto_index, u8 *auto_flags,
			  unsigned int issue_flags)
{
	*auto_index = 0;
	*auto_flags = 0;
	if (ublk_q_auto_buf_reg(ubq)) {
		int ret = ublk_get_auto_buf_reg(cmd, auto_index, auto_flags);

		if (ret)
			return ret;
	}

	ublk_cmd_pdu(cmd)->ubq = ubq;
	ublk_cmd_pdu(cmd)->tag = tag;
	io_uring_cmd_mark_cancelable(cmd, issue_flags);
	return 0;
}

int ublk_fetch(struct io_uring_cmd *cmd, struct ublk_queue *ubq,
	       u16 tag, u64 addr, unsigned int issue_flags)
{
	struct task_struct *task = io_uring_cmd_get_task(cmd);
	struct ublk_io *io = &ubq->ios[tag];
	struct task_struct *old = NULL;
	unsigned long flags;
	u16 auto_index;
	u8 auto_flags;
	int ret;

	/* the server moves the data itself: no buffer to name */
	if (ublk_q_no_copy(ubq) ? addr :
	    !addr && !(ubq->flags & UBLK_F_NEED_GET_DATA))
		return -EINVAL;
	ret = ublk_prep_park(cmd, ubq, tag, &auto_index, &auto_flags,
			     issue_flags);
	if (ret)
		return ret;

	spin_lock_irqsave(&ubq->lock, flags);
	if (ubq->fetch_closed) {
		ret = UBLK_IO_RES_ABORT;
	} else if (io->state != UBLK_IO_IDLE) {
		ret = -EBUSY;
	} else if (!ublk_per_io_daemon(ubq) && ubq->daemon &&
		   ubq->daemon != task) {
		ret = -EINVAL;
	} else {
		if (!ublk_per_io_daemon(ubq) && !ubq->daemon)
			ubq->daemon = get_task_struct(task);
		old = ublk_io_set_task(io, task);
		io->cmd = cmd;
		io->addr = addr;
		io->auto_index = auto_index;
		io->auto_flags = auto_flags;
		io->state = UBLK_IO_FETCHED;
		ublk_queue_fetched_one(ubq);
	}
	spin_unlock_irqrestore(&ubq->lock, flags);

	if (old)
		put_task_struct(old);
	if (ret)
		io_uring_cmd_done(cmd, ret, 0, issue_flags);
	return -EIOCBQUEUED;
}

int ublk_commit_and_fetch(struct io_uring_cmd *cmd,
			  struct ublk_queue *ubq, u16 tag, int result,
			  u64 addr, unsigned int issue_flags)
{
	struct task_struct *task = io_uring_cmd_get_task(cmd);
	struct ublk_io *io = &ubq->ios[tag];
	struct ublk_rq_data *data = NULL;
	struct request *rq = NULL;
	bool abort_cmd = false;
	bool unreg = false;
	u16 unreg_index = 0;
	u16 auto_index;
	u8 auto_flags;
	unsigned long flags;
	int ret;

	/* nothing is committed on error */
	ret = ublk_prep_park(cmd, ubq, tag, &auto_index, &auto_flags,
			     issue_flags);
	if (ret)
		return ret;

	spin_lock_irqsave(&ubq->lock, flags);
	if (io->state != UBLK_IO_OWNED || io->task != task) {
		ret = -EINVAL;
		goto unlock;
	}
	rq = io->req;
	data = blk_mq_rq_to_pdu(rq);

	if (req_op(rq) == REQ_OP_ZONE_APPEND) {
		/* the addr field carries the LBA the data was written at */
		if (result >= 0 && !ublk_zone_lba_valid(ubq, rq, addr))
			result = -EIO;
		data->zone_lba = addr;
		addr = 0;
	} else if (ublk_q_no_copy(ubq)) {
		if (addr) {
			ret = -EINVAL;
			rq = NULL;
			goto unlock;
		}
	} else if (!addr && (!(ubq->flags & UBLK_F_NEED_GET_DATA) ||
			     req_op(rq) == REQ_OP_READ)) {
		/* copy mode needs the buffer holding READ data */
		ret = -EINVAL;
		rq = NULL;
		goto unlock;
	}

	data->res = result;
	if (io->auto_reg) {
		/*
		 * Only the ring that got the automatic registration can take
		 * it back (a COMMIT from another ring leaves that to the
		 * server). If no registration of the request is left, the
		 * server removed it already and the index may hold another
		 * buffer by now: leave it alone.
		 */
		unreg = io->reg_ring == ublk_cmd_ring(cmd) && data->nr_regs;
		unreg_index = io->reg_index;
		io->auto_reg = false;
	}
	io->req = NULL;
	io->need_get_data = false;
	if (ubq->fetch_closed) {
		io->state = UBLK_IO_IDLE;
		abort_cmd = true;
	} else {
		io->state = UBLK_IO_FETCHED;
		io->cmd = cmd;
		io->addr = addr;
		io->auto_index = auto_index;
		io->auto_flags = auto_flags;
	}
unlock:
	spin_unlock_irqrestore(&ubq->lock, flags);

	if (ret) {
		io_uring_cmd_done(cmd, ret, 0, issue_flags);
		return -EIOCBQUEUED;
	}

	/*
	 * -EINVAL: the server unregistered it itself. The release callback
	 * may run right here and drop a reference, never the last one: the
	 * commit reference is still ours.
	 */
	if (unreg)
		io_buffer_unregister_bvec(cmd, unreg_index, issue_flags);

	/*
	 * Copy mode READ: the data is in the buffer passed with this command.
	 * The slot may already hold the re-parked command, but no new request
	 * can be bound to it before this one ends and frees the tag, which
	 * cannot happen before we drop the commit reference below.
	 */
	if (req_op(rq) == REQ_OP_READ && ublk_need_copy(ubq, rq) &&
	    data->res > 0) {
		size_t len = min_t(size_t, data->res, data->deliv_bytes);
		size_t done = ublk_copy_with_server_buf(rq, addr, len, false);

		if (done < len)
			data->res = done;
	}
	ublk_put_rq_ref(rq);

	if (abort_cmd)
		io_uring_cmd_done(cmd, UBLK_IO_RES_ABORT, 0, issue_flags);
	return -EIOCBQUEUED;
}

/*
 * UBLK_F_NEED_GET_DATA: the server supplies the buffer for a WRITE that was
 * delivered with UBLK_IO_RES_NEED_GET_DATA; copy the data into it. Completes
 * synchronously with UBLK_IO_RES_OK.
 */
int ublk_need_get_data(struct io_uring_cmd *cmd, struct ublk_queue *ubq,
		       u16 tag, u64 addr)
{
	struct task_struct *task = io_uring_cmd_get_task(cmd);
	struct ublk_io *io = &ubq->ios[tag];
	struct ublksrv_io_desc *iod = &ubq->io_cmd_buf[tag];
	struct ublk_rq_data *data;
	struct request *rq = NULL;
	unsigned long flags;
	size_t done;
	int ret = 0;

	if (!addr)
		return -EINVAL;

	spin_lock_irqsave(&ubq->lock, flags);
	if (io->state != UBLK_IO_OWNED || !io->need_get_data ||
	    io->task != task) {
		ret = -EINVAL;
	} else {
		rq = io->req;
		data = blk_mq_rq_to_pdu(rq);
		refcount_inc(&data->ref);
		io->need_get_data = false;
		io->addr = addr;
		iod->addr = addr;
	}
	spin_unlock_irqrestore(&ubq->lock, flags);
	if (ret)
		return ret;

	done = ublk_copy_with_server_buf(rq, addr, blk_rq_bytes(rq), true);
	if (done < blk_rq_bytes(rq)) {
		done = round_down(done, ublk_lbs(ubq->dev));
		iod->nr_sectors = done >> SECTOR_SHIFT;
		data->deliv_bytes = done;
		if (!done)
			ret = -EFAULT;
	}
	ublk_put_rq_ref(rq);
	return ret ? ret : UBLK_IO_RES_OK;
}
