// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * ublk: zero copy.
 *
 * The request pages go into an io_uring fixed buffer table: by the server
 * with UBLK_U_IO_REGISTER_IO_BUF and UBLK_U_IO_UNREGISTER_IO_BUF, or by the
 * driver itself with UBLK_F_AUTO_BUF_REG; ublk_io_release() drops what a
 * registration holds. See "Zero copy" in ublk.h.
 */

#include "ublk.h"

/*
 * Take the references of one io_uring registration of @rq's pages: a
 * request reference and a device reference, see "Zero copy" in ublk.h. @rq is
 * bound to its slot (DISPATCH or OWNED), so the commit reference is still
 * there and the device is alive.
 */
static void ublk_buf_reg_get_locked(struct ublk_queue *ubq,
				    struct request *rq)
{
	struct ublk_rq_data *data = blk_mq_rq_to_pdu(rq);

	lockdep_assert_held(&ubq->lock);
	refcount_inc(&data->ref);
	data->nr_regs++;
	get_device(&ubq->dev->cdev_dev);
}

/**
 * ublk_io_release - io_uring is done with one registration of a request
 * @priv: the struct request whose pages were registered
 *
 * The release callback passed to io_buffer_register_bvec(), called exactly
 * once per successful registration; also undoes the references of a
 * registration that failed. Drops what ublk_buf_reg_get_locked() took. The
 * last request reference ends the request with the result stored by COMMIT
 * or by the abort, so a request is ended once, after its COMMIT and after
 * every registration is gone.
 *
 * Context: process context. From io_uring always with the ring's
 * uring_lock held: inside io_buffer_unregister_bvec(), when the last
 * fixed-buffer request using the pages is freed, or from the ring's exit
 * work, possibly after the char device was released and the device
 * stopped (the device reference keeps the queues and the tag set alive).
 * Takes ubq->lock, may end the request, never calls into io_uring.
 */
static void ublk_io_release(void *priv)
{
	struct request *rq = priv;
	struct ublk_queue *ubq = rq->mq_hctx->driver_data;
	struct ublk_rq_data *data = blk_mq_rq_to_pdu(rq);
	struct ublk_device *ub = ubq->dev;
	unsigned long flags;

	spin_lock_irqsave(&ubq->lock, flags);
	if (!WARN_ON_ONCE(!data->nr_regs))
		data->nr_regs--;
	spin_unlock_irqrestore(&ubq->lock, flags);

	/* may end @rq; the device reference is dropped last */
	ublk_put_rq_ref(rq);
	ublk_put_device(ub);
}

/*
 * One io_uring registration of the request bound to @io at @index of @cmd's
 * ring, if the slot is in state @want (DISPATCH for the automatic one,
 * OWNED for REGISTER_IO_BUF) with a request that has data, and @cmd's task
 * is the slot's (always true for the parked command of automatic
 * registration) or the device allows off-daemon registration. The
 * references are taken under ubq->lock with the check, so the request
 * cannot end meanwhile; they are dropped again if io_uring refuses, which
 * may end the request if it was committed in between.
 */
static int ublk_reg_rq_buf(struct io_uring_cmd *cmd, struct ublk_queue *ubq,
			   struct ublk_io *io, u8 want, u16 index,
			   unsigned int issue_flags)
{
	struct task_struct *task = io_uring_cmd_get_task(cmd);
	struct request *rq = NULL;
	unsigned long flags;
	int ret;

	spin_lock_irqsave(&ubq->lock, flags);
	if (io->state == want &&
	    (ublk_q_buf_reg_off_daemon(ubq) || io->task == task) &&
	    ublk_rq_has_data(io->req)) {
		rq = io->req;
		ublk_buf_reg_get_locked(ubq, rq);
	}
	spin_unlock_irqrestore(&ubq->lock, flags);
	if (!rq)
		return -EINVAL;

	ret = io_buffer_register_bvec(cmd, rq, ublk_io_release, index,
				      issue_flags);
	if (ret)
		ublk_io_release(rq);
	return ret;
}

/**
 * ublk_auto_buf_reg - register a request's pages for UBLK_F_AUTO_BUF_REG
 * @ubq: queue
 * @tag: tag of the slot, DISPATCH with a request that has data
 * @cmd: the slot's parked command, whose ring gets the buffer
 * @index: buffer index the parked command asked for
 * @issue_flags: issue_flags of @cmd's task work (uring_lock held)
 *
 * Called from the task work delivering the slot's request, while the slot
 * is DISPATCH.
 *
 * Return: 0 when registered (the registration holds its own references),
 * else the error of io_buffer_register_bvec(); nothing is left registered.
 */
int ublk_auto_buf_reg(struct ublk_queue *ubq, u16 tag,
		      struct io_uring_cmd *cmd, u16 index,
		      unsigned int issue_flags)
{
	return ublk_reg_rq_buf(cmd, ubq, &ubq->ios[tag], UBLK_IO_DISPATCH,
			       index, issue_flags);
}

/**
 * ublk_register_io_buf - UBLK_U_IO_REGISTER_IO_BUF
 * @cmd: the command, on the ring whose fixed buffer table gets the buffer
 * @ubq: queue
 * @tag: tag of the request
 * @index: slot in the ring's fixed buffer table
 * @issue_flags: issue_flags of @cmd, passed on to io_uring
 *
 * Put the pages of the request the server owns on @tag (delivered, not yet
 * committed) into the fixed buffer table of @cmd's ring. Any number of
 * registrations, on any rings, are allowed; each holds the request until
 * io_uring releases it (ublk_io_release()). Without
 * UBLK_F_BUF_REG_OFF_DAEMON only the slot's task may register.
 *
 * Return: 0; -EINVAL if @index does not fit a fixed buffer index, the
 * caller is not the slot's task, the slot holds no request owned by the
 * server (never delivered, committed or aborted) or the request has no
 * data; else the error of io_buffer_register_bvec() (-EBUSY slot in use,
 * -EINVAL no table or @index out of range, -ENOMEM).
 */
int ublk_register_io_buf(struct io_uring_cmd *cmd,
			 struct ublk_queue *ubq, u16 tag, u64 index,
			 unsigned int issue_flags)
{
	if (index > U16_MAX)
		return -EINVAL;
	return ublk_reg_rq_buf(cmd, ubq, &ubq->ios[tag], UBLK_IO_OWNED,
			       index, issue_flags);
}

/**
 * ublk_unregister_io_buf - UBLK_U_IO_UNREGISTER_IO_BUF
 * @cmd: the command, on the ring holding the buffer
 * @ub: device
 * @q_id: queue of the request, ignored with UBLK_F_BUF_REG_OFF_DAEMON
 * @tag: tag of the request, ignored with UBLK_F_BUF_REG_OFF_DAEMON
 * @index: slot in the ring's fixed buffer table
 * @issue_flags: issue_flags of @cmd, passed on to io_uring
 *
 * Remove a kernel buffer from @cmd's ring. The slot state does not matter
 * (unregistering after COMMIT is how the server lets the request end), and
 * the buffer table does not say whose buffer it is: the server owns its
 * indexes. The release callback may run inline.
 *
 * Return: -EINVAL if @index does not fit a fixed buffer index, or, without
 * UBLK_F_BUF_REG_OFF_DAEMON, @q_id/@tag are out of range or the caller is
 * not the slot's task; else the result of io_buffer_unregister_bvec() (0,
 * or -EINVAL for an empty slot, a user buffer, no table, out of range).
 */
int ublk_unregister_io_buf(struct io_uring_cmd *cmd,
			   struct ublk_device *ub, u16 q_id, u16 tag,
			   u64 index, unsigned int issue_flags)
{
	if (index > U16_MAX)
		return -EINVAL;

	if (!(ub->dev_info.flags & UBLK_F_BUF_REG_OFF_DAEMON)) {
		struct task_struct *task = io_uring_cmd_get_task(cmd);
		struct ublk_queue *ubq;
		unsigned long flags;
		bool ok;

		if (q_id >= ub->dev_info.nr_hw_queues)
			return -EINVAL;
		ubq = ub->queues[q_id];
		if (tag >= ubq->depth)
			return -EINVAL;
		spin_lock_irqsave(&ubq->lock, flags);
		ok = ubq->ios[tag].task == task;
		spin_unlock_irqrestore(&ubq->lock, flags);
		if (!ok)
			return -EINVAL;
	}
	return io_buffer_unregister_bvec(cmd, index, issue_flags);
}
