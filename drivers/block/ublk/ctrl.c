// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * ublk: control commands on /dev/ublk-control.
 *
 * Parameters (validation, queue limits), START/STOP/TRY_STOP, device info
 * and queue affinity, UPDATE_SIZE, QUIESCE_DEV, user recovery, permission
 * checks of unprivileged devices, and the command dispatch. ADD_DEV and
 * DEL_DEV, which create and delete devices, live in main.c.
 */

#include "ublk.h"

/* ------------------------------------------------------------------ */
/* parameters                                                          */
/* ------------------------------------------------------------------ */

/* end offset of each parameter block inside struct ublk_params */
static const struct {
	u32 type;
	size_t end;
} ublk_param_ends[] = {
	{ UBLK_PARAM_TYPE_BASIC, offsetofend(struct ublk_params, basic) },
	{ UBLK_PARAM_TYPE_DISCARD, offsetofend(struct ublk_params, discard) },
	{ UBLK_PARAM_TYPE_DEVT, offsetofend(struct ublk_params, devt) },
	{ UBLK_PARAM_TYPE_ZONED, offsetofend(struct ublk_params, zoned) },
	{ UBLK_PARAM_TYPE_DMA_ALIGN, offsetofend(struct ublk_params, dma) },
	{ UBLK_PARAM_TYPE_SEGMENT, offsetofend(struct ublk_params, seg) },
	{ UBLK_PARAM_TYPE_INTEGRITY,
	  offsetofend(struct ublk_params, integrity) },
};

static int ublk_validate_basic(const struct ublk_device *ub,
			       const struct ublk_params *p)
{
	const struct ublk_param_basic *b = &p->basic;
	u32 max_sectors = ub->dev_info.max_io_buf_bytes >> SECTOR_SHIFT;

	if (b->logical_bs_shift < SECTOR_SHIFT ||
	    b->logical_bs_shift > PAGE_SHIFT)
		return -EINVAL;
	if (b->physical_bs_shift < b->logical_bs_shift ||
	    b->physical_bs_shift > 31)
		return -EINVAL;
	if (b->io_min_shift > 31 || b->io_opt_shift > 31)
		return -EINVAL;
	if (b->max_sectors > max_sectors)
		return -EINVAL;
	/* the block layer needs a page and a logical block per request */
	if (b->max_sectors &&
	    (b->max_sectors < (PAGE_SIZE >> SECTOR_SHIFT) ||
	     b->max_sectors < (1U << (b->logical_bs_shift - SECTOR_SHIFT))))
		return -EINVAL;
	if (b->virt_boundary_mask &&
	    (b->virt_boundary_mask > ULONG_MAX ||
	     b->virt_boundary_mask < SECTOR_SIZE - 1 ||
	     !is_power_of_2(b->virt_boundary_mask + 1)))
		return -EINVAL;
	return 0;
}

static int ublk_validate_discard(const struct ublk_params *p)
{
	const struct ublk_param_discard *d = &p->discard;

	/* one range per request: start_sector/nr_sectors of the descriptor */
	if (d->max_discard_sectors && d->max_discard_segments != 1)
		return -EINVAL;
	if (d->max_discard_sectors && !d->discard_granularity)
		return -EINVAL;
	return 0;
}

static int ublk_validate_zoned(const struct ublk_device *ub,
			       const struct ublk_params *p)
{
	const struct ublk_param_zoned *z = &p->zoned;
	u32 zone_sectors = p->basic.chunk_sectors;
	u64 nr_zones;

	if (!ublk_dev_zoned(ub) || !(p->types & UBLK_PARAM_TYPE_BASIC))
		return -EINVAL;
	if (!zone_sectors || !is_power_of_2(zone_sectors) ||
	    zone_sectors > p->basic.dev_sectors)
		return -EINVAL;
	if (!z->max_zone_append_sectors)
		return -EINVAL;
	nr_zones = DIV_ROUND_UP_ULL(p->basic.dev_sectors, zone_sectors);
	if (!nr_zones || nr_zones > UINT_MAX)
		return -EINVAL;
	if (z->max_open_zones > nr_zones || z->max_active_zones > nr_zones)
		return -EINVAL;
	if (z->max_active_zones && z->max_open_zones > z->max_active_zones)
		return -EINVAL;
	return 0;
}

static int ublk_validate_segment(const struct ublk_params *p)
{
	const struct ublk_param_segment *s = &p->seg;
	u64 min_seg = max_t(u64, UBLK_MIN_SEGMENT_SIZE, PAGE_SIZE);

	if (s->seg_boundary_mask != U64_MAX &&
	    (!is_power_of_2(s->seg_boundary_mask + 1) ||
	     s->seg_boundary_mask + 1 < min_seg))
		return -EINVAL;
	if (s->seg_boundary_mask > ULONG_MAX)
		return -EINVAL;
	if (s->max_segment_size < min_seg)
		return -EINVAL;
	/* a virt boundary implies unlimited segment size */
	if ((p->types & UBLK_PARAM_TYPE_BASIC) && p->basic.virt_boundary_mask &&
	    s->max_segment_size != UINT_MAX)
		return -EINVAL;
	return 0;
}

static int ublk_validate_params(const struct ublk_device *ub,
				const struct ublk_params *p)
{
	int ret;

	if (!(p->types & UBLK_PARAM_TYPE_BASIC))
		return -EINVAL;
	/* devt is read-only, integrity is not supported */
	if (p->types & (UBLK_PARAM_TYPE_DEVT | UBLK_PARAM_TYPE_INTEGRITY))
		return -EINVAL;

	ret = ublk_validate_basic(ub, p);
	if (ret)
		return ret;
	if (p->types & UBLK_PARAM_TYPE_DISCARD) {
		ret = ublk_validate_discard(p);
		if (ret)
			return ret;
	}
	if (p->types & UBLK_PARAM_TYPE_ZONED) {
		ret = ublk_validate_zoned(ub, p);
		if (ret)
			return ret;
	} else if (ublk_dev_zoned(ub)) {
		return -EINVAL;
	}
	if (p->types & UBLK_PARAM_TYPE_DMA_ALIGN) {
		if (p->dma.alignment >= PAGE_SIZE ||
		    !is_power_of_2(p->dma.alignment + 1))
			return -EINVAL;
	}
	if (p->types & UBLK_PARAM_TYPE_SEGMENT) {
		ret = ublk_validate_segment(p);
		if (ret)
			return ret;
	}
	return 0;
}

/* queue limits from the (validated) parameters */
void ublk_fill_limits(const struct ublk_device *ub,
		      struct queue_limits *lim)
{
	const struct ublk_params *p = &ub->params;
	const struct ublk_param_basic *b = &p->basic;

	memset(lim, 0, sizeof(*lim));
	lim->max_hw_sectors = ub->dev_info.max_io_buf_bytes >> SECTOR_SHIFT;
	lim->max_segments = USHRT_MAX;
	lim->max_segment_size = UINT_MAX;

	if (p->types & UBLK_PARAM_TYPE_BASIC) {
		lim->logical_block_size = 1U << b->logical_bs_shift;
		lim->physical_block_size = 1U << b->physical_bs_shift;
		lim->io_min = 1U << b->io_min_shift;
		lim->io_opt = 1U << b->io_opt_shift;
		if (b->max_sectors)
			lim->max_hw_sectors = b->max_sectors;
		lim->chunk_sectors = b->chunk_sectors;
		lim->virt_boundary_mask = b->virt_boundary_mask;
		if (b->attrs & UBLK_ATTR_ROTATIONAL)
			lim->features |= BLK_FEAT_ROTATIONAL;
		if (b->attrs & UBLK_ATTR_VOLATILE_CACHE) {
			lim->features |= BLK_FEAT_WRITE_CACHE;
			if (b->attrs & UBLK_ATTR_FUA)
				lim->features |= BLK_FEAT_FUA;
		}
	}
	if (p->types & UBLK_PARAM_TYPE_DISCARD) {
		const struct ublk_param_discard *d = &p->discard;

		lim->discard_alignment = d->discard_alignment;
		lim->discard_granularity = d->discard_granularity;
		lim->max_hw_discard_sectors = d->max_discard_sectors;
		lim->max_write_zeroes_sectors = d->max_write_zeroes_sectors;
		lim->max_discard_segments = d->max_discard_segments;
	}
#ifdef CONFIG_BLK_DEV_ZONED
	if (p->types & UBLK_PARAM_TYPE_ZONED) {
		lim->features |= BLK_FEAT_ZONED;
		lim->max_open_zones = p->zoned.max_open_zones;
		lim->max_active_zones = p->zoned.max_active_zones;
		lim->max_zone_append_sectors = p->zoned.max_zone_append_sectors;
	}
#endif
	if (p->types & UBLK_PARAM_TYPE_DMA_ALIGN)
		lim->dma_alignment = p->dma.alignment;
	if (p->types & UBLK_PARAM_TYPE_SEGMENT) {
		lim->seg_boundary_mask = p->seg.seg_boundary_mask;
		lim->max_segment_size = p->seg.max_segment_size;
		if (p->seg.max_segments)
			lim->max_segments = p->seg.max_segments;
	}
}

/* ------------------------------------------------------------------ */
/* control commands                                                    */
/* ------------------------------------------------------------------ */

/*
 * A queue whose server closed its ring (or released the char device) no
 * longer takes commands: requests it had been given can never be
 * committed. The char device may still be open, so nothing else ends them.
 */
static void ublk_abort_orphans(struct ublk_queue *ubq)
{
	unsigned long flags;
	bool orphaned;

	spin_lock_irqsave(&ubq->lock, flags);
	orphaned = ubq->fetch_closed;
	spin_unlock_irqrestore(&ubq->lock, flags);
	if (orphaned)
		ublk_abort_queue(ubq, NULL, false);
}

/* removes the disk, then completes parked FETCH commands with ABORT */
void ublk_stop_dev_locked(struct ublk_device *ub)
{
	struct gendisk *disk = ub->ub_disk;
	unsigned int i;

	lockdep_assert_held(&ub->mutex);

	if (disk) {
		/*
		 * Requests parked for a server that will not come back, and
		 * requests owned by a server that closed its ring, must fail
		 * now: del_gendisk() waits for all of them.
		 */
		ublk_set_nosrv_requeue(ub, false);
		for (i = 0; i < ub->nr_queues; i++)
			ublk_abort_orphans(ub->queues[i]);
		blk_mq_kick_requeue_list(disk->queue);
		del_gendisk(disk);
		ub->ub_disk = NULL;
		ub->dev_info.state = UBLK_S_DEV_DEAD;
		put_disk(disk);
	}

	ublk_close_queues(ub);
	for (i = 0; i < ub->nr_queues; i++)
		ublk_abort_fetches(ub->queues[i]);
}

static bool ublk_queues_ready(struct ublk_device *ub)
{
	unsigned int i;

	if (atomic_read(&ub->nr_queues_ready) != ub->nr_queues)
		return false;
	for (i = 0; i < ub->nr_queues; i++) {
		struct ublk_queue *ubq = ub->queues[i];
		unsigned long flags;
		bool ok;

		spin_lock_irqsave(&ubq->lock, flags);
		ok = !ubq->fetch_closed && ubq->nr_fetched == ubq->depth;
		spin_unlock_irqrestore(&ubq->lock, flags);
		if (!ok)
			return false;
	}
	return true;
}

static int ublk_ctrl_start_dev(struct ublk_device *ub,
			       const struct ublksrv_ctrl_cmd *hdr)
{
	int pid = (int)hdr->data[0];
	int ret;

	if (pid <= 0 || hdr->data[0] > INT_MAX)
		return -EINVAL;

	if (wait_for_completion_interruptible(&ub->completion))
		return -EINTR;

	mutex_lock(&ub->mutex);
	if (test_bit(UB_STATE_DELETED, &ub->state_bits)) {
		ret = -ENODEV;
	} else if (ub->ub_disk || ub->dev_info.state != UBLK_S_DEV_DEAD) {
		ret = -EEXIST;
	} else if (ub->started) {
		/* stopped devices are not restarted */
		ret = -EINVAL;
	} else if (!test_bit(UB_STATE_OPEN, &ub->state_bits) ||
		   !ublk_queues_ready(ub)) {
		/* the server went away, or the device was stopped before */
		ret = -ENODEV;
	} else if (ublk_dev_zoned(ub) &&
		   !(ub->params.types & UBLK_PARAM_TYPE_ZONED)) {
		/* a zoned device needs its zoned parameters (SET_PARAMS) */
		ret = -EINVAL;
	} else {
		ret = ublk_add_disk(ub, pid);
	}
	mutex_unlock(&ub->mutex);
	return ret;
}

static int ublk_ctrl_stop_dev(struct ublk_device *ub)
{
	mutex_lock(&ub->mutex);
	ublk_stop_dev_locked(ub);
	mutex_unlock(&ub->mutex);
	return 0;
}

static int ublk_ctrl_try_stop_dev(struct ublk_device *ub)
{
	struct gendisk *disk;
	int ret = 0;

	mutex_lock(&ub->mutex);
	disk = ub->ub_disk;
	if (disk) {
		mutex_lock(&disk->open_mutex);
		if (disk_openers(disk))
			ret = -EBUSY;
		else
			WRITE_ONCE(ub->block_open, true);
		mutex_unlock(&disk->open_mutex);
	}
	if (!ret)
		ublk_stop_dev_locked(ub);
	mutex_unlock(&ub->mutex);
	return ret;
}

static int ublk_ctrl_get_dev_info(struct ublk_device *ub,
				  const struct ublksrv_ctrl_cmd *hdr)
{
	struct ublksrv_ctrl_dev_info info;

	if (hdr->len < sizeof(info) || !hdr->addr)
		return -EINVAL;

	/* no ub->mutex: it may be held for long by START_DEV */
	info = ub->dev_info;

	if (copy_to_user(u64_to_user_ptr(hdr->addr), &info, sizeof(info)))
		return -EFAULT;
	return 0;
}

static int ublk_ctrl_get_queue_affinity(struct ublk_device *ub,
					const struct ublksrv_ctrl_cmd *hdr)
{
	const struct blk_mq_queue_map *map = &ub->tag_set.map[HCTX_TYPE_DEFAULT];
	cpumask_var_t mask;
	unsigned int cpu;
	size_t len;
	int ret = 0;

	if (!hdr->addr || hdr->len * BITS_PER_BYTE < nr_cpu_ids ||
	    hdr->len % sizeof(unsigned long))
		return -EINVAL;
	if (hdr->data[0] >= ub->dev_info.nr_hw_queues)
		return -EINVAL;

	if (!zalloc_cpumask_var(&mask, GFP_KERNEL))
		return -ENOMEM;
	for_each_possible_cpu(cpu) {
		if (map->mq_map[cpu] == hdr->data[0])
			cpumask_set_cpu(cpu, mask);
	}
	len = min_t(size_t, hdr->len, cpumask_size());
	if (copy_to_user(u64_to_user_ptr(hdr->addr), cpumask_bits(mask), len))
		ret = -EFAULT;
	free_cpumask_var(mask);
	return ret;
}

static int ublk_ctrl_get_params(struct ublk_device *ub,
				const struct ublksrv_ctrl_cmd *hdr)
{
	void __user *argp = u64_to_user_ptr(hdr->addr);
	struct ublk_params p;
	u32 len;

	if (!hdr->addr || hdr->len < sizeof(u32))
		return -EINVAL;
	if (get_user(len, (u32 __user *)argp))
		return -EFAULT;
	if (!len || len > hdr->len)
		return -EINVAL;
	len = min_t(u32, len, sizeof(p));

	mutex_lock(&ub->mutex);
	p = ub->params;
	p.devt.char_major = MAJOR(ub->cdev_dev.devt);
	p.devt.char_minor = MINOR(ub->cdev_dev.devt);
	if (ub->ub_disk) {
		p.devt.disk_major = ub->ub_disk->major;
		p.devt.disk_minor = ub->ub_disk->first_minor;
	} else {
		p.devt.disk_major = 0;
		p.devt.disk_minor = 0;
	}
	mutex_unlock(&ub->mutex);

	p.len = sizeof(p);
	p.types |= UBLK_PARAM_TYPE_DEVT;
	if (copy_to_user(argp, &p, len))
		return -EFAULT;
	return 0;
}

static int ublk_ctrl_set_params(struct ublk_device *ub,
				const struct ublksrv_ctrl_cmd *hdr)
{
	void __user *argp = u64_to_user_ptr(hdr->addr);
	struct ublk_params p = { };
	unsigned int i;
	u32 len;
	int ret;

	if (!hdr->addr || hdr->len < 2 * sizeof(u32))
		return -EINVAL;
	if (get_user(len, (u32 __user *)argp))
		return -EFAULT;
	if (len < 2 * sizeof(u32) || len > hdr->len)
		return -EINVAL;
	len = min_t(u32, len, sizeof(p));
	if (copy_from_user(&p, argp, len))
		return -EFAULT;

	/* unknown types are ignored, known ones must fit in what was sent */
	p.types &= UBLK_PARAM_TYPE_KNOWN;
	for (i = 0; i < ARRAY_SIZE(ublk_param_ends); i++) {
		if ((p.types & ublk_param_ends[i].type) &&
		    ublk_param_ends[i].end > len)
			return -EINVAL;
	}
	p.len = len;

	ret = ublk_validate_params(ub, &p);
	if (ret)
		return ret;

	mutex_lock(&ub->mutex);
	if (ub->ub_disk)
		ret = ub->dev_info.state == UBLK_S_DEV_LIVE ? -EACCES : -EBUSY;
	else
		ub->params = p;
	mutex_unlock(&ub->mutex);
	return ret;
}

static int ublk_ctrl_update_size(struct ublk_device *ub,
				 const struct ublksrv_ctrl_cmd *hdr)
{
	u64 sectors = hdr->data[0];
	int ret = 0;

	if (!(ub->dev_info.flags & UBLK_F_UPDATE_SIZE) || ublk_dev_zoned(ub))
		return -EOPNOTSUPP;

	mutex_lock(&ub->mutex);
	if (sectors & ((ublk_lbs(ub) >> SECTOR_SHIFT) - 1)) {
		ret = -EINVAL;
	} else {
		ub->params.basic.dev_sectors = sectors;
		if (ub->ub_disk)
			set_capacity_and_notify(ub->ub_disk, sectors);
	}
	mutex_unlock(&ub->mutex);
	return ret;
}

/* true when no request is bound to a slot or owned by the server */
static bool ublk_dev_idle(struct ublk_device *ub)
{
	unsigned int i, tag;

	for (i = 0; i < ub->nr_queues; i++) {
		struct ublk_queue *ubq = ub->queues[i];
		unsigned long flags;
		bool busy = false;

		spin_lock_irqsave(&ubq->lock, flags);
		for (tag = 0; tag < ubq->depth && !busy; tag++)
			busy = ubq->ios[tag].state == UBLK_IO_DISPATCH ||
				ubq->ios[tag].state == UBLK_IO_OWNED;
		spin_unlock_irqrestore(&ubq->lock, flags);
		if (busy)
			return false;
	}
	return true;
}

/*
 * QUIESCE_DEV: stop handing requests to the live server (they wait on the
 * requeue list), let it finish what it owns, then abort its parked
 * commands so that it exits; a new server takes over with
 * START/END_USER_RECOVERY. On timeout or signal everything is undone.
 */
static int ublk_ctrl_quiesce_dev(struct ublk_device *ub,
				 const struct ublksrv_ctrl_cmd *hdr)
{
	unsigned int timeout_ms = min_t(u64, hdr->data[0], UINT_MAX);
	unsigned long deadline;
	unsigned int i;
	int ret = 0;

	if (!(ub->dev_info.flags & UBLK_F_QUIESCE))
		return -EOPNOTSUPP;

	mutex_lock(&ub->mutex);
	if (!ub->ub_disk) {
		ret = -ENODEV;
		goto unlock;
	}
	if (ub->dev_info.state != UBLK_S_DEV_LIVE) {
		ret = ub->dev_info.state == UBLK_S_DEV_QUIESCED ? 0 : -EBUSY;
		goto unlock;
	}

	ublk_set_nosrv_requeue(ub, true);
	for (i = 0; i < ub->nr_queues; i++) {
		struct ublk_queue *ubq = ub->queues[i];
		unsigned long flags;

		spin_lock_irqsave(&ubq->lock, flags);
		ubq->canceling = true;
		spin_unlock_irqrestore(&ubq->lock, flags);
	}

	deadline = jiffies + msecs_to_jiffies(timeout_ms);
	while (!ublk_dev_idle(ub)) {
		if (signal_pending(current)) {
			ret = -EINTR;
			break;
		}
		if (timeout_ms && time_after(jiffies, deadline)) {
			ret = -ETIMEDOUT;
			break;
		}
		msleep(20);
	}

	if (ret) {
		/* back to normal service, unless the server went away */
		for (i = 0; i < ub->nr_queues; i++) {
			struct ublk_queue *ubq = ub->queues[i];
			unsigned long flags;

			spin_lock_irqsave(&ubq->lock, flags);
			if (!ubq->fetch_closed)
				ubq->canceling = false;
			spin_unlock_irqrestore(&ubq->lock, flags);
		}
		ublk_set_nosrv_requeue(ub, ublk_live_nosrv_requeue(ub));
		blk_mq_kick_requeue_list(ub->ub_disk->queue);
		goto unlock;
	}

	ub->dev_info.state = UBLK_S_DEV_QUIESCED;
	ublk_close_queues(ub);
	for (i = 0; i < ub->nr_queues; i++)
		ublk_abort_fetches(ub->queues[i]);
unlock:
	mutex_unlock(&ub->mutex);
	return ret;
}

/*
 * Forget the old server of @ubq; the queue is idle and nobody has the char
 * device open. For recovery, requests keep waiting (@canceling stays set
 * until END_USER_RECOVERY); before the first START the queue is simply
 * made ready for a new server.
 */
void ublk_reset_queue(struct ublk_queue *ubq, bool recovery)
{
	struct task_struct *daemon;
	unsigned long flags;
	unsigned int tag;

	for (tag = 0; tag < ubq->depth; tag++) {
		struct ublk_io *io = &ubq->ios[tag];
		struct task_struct *task;

		spin_lock_irqsave(&ubq->lock, flags);
		task = io->task;
		io->task = NULL;
		io->addr = 0;
		spin_unlock_irqrestore(&ubq->lock, flags);
		if (task)
			put_task_struct(task);
	}

	spin_lock_irqsave(&ubq->lock, flags);
	daemon = ubq->daemon;
	ubq->daemon = NULL;
	ubq->exit_scanned = NULL;
	ubq->kill_sent = false;
	ubq->nr_fetched = 0;
	ubq->fetch_closed = false;
	ubq->nosrv_requeue = recovery;
	if (!recovery)
		ubq->canceling = false;
	spin_unlock_irqrestore(&ubq->lock, flags);
	if (daemon)
		put_task_struct(daemon);
}

static bool ublk_queue_all_idle(struct ublk_queue *ubq)
{
	unsigned long flags;
	unsigned int tag;
	bool idle = true;

	spin_lock_irqsave(&ubq->lock, flags);
	for (tag = 0; tag < ubq->depth && idle; tag++)
		idle = ubq->ios[tag].state == UBLK_IO_IDLE;
	spin_unlock_irqrestore(&ubq->lock, flags);
	return idle;
}

static int ublk_ctrl_start_recovery(struct ublk_device *ub)
{
	unsigned int i;
	int ret = 0;

	if (!ublk_dev_recoverable(ub))
		return -EINVAL;

	mutex_lock(&ub->mutex);
	if (!ub->ub_disk || test_bit(UB_STATE_OPEN, &ub->state_bits) ||
	    (ub->dev_info.state != UBLK_S_DEV_QUIESCED &&
	     ub->dev_info.state != UBLK_S_DEV_FAIL_IO)) {
		ret = -EBUSY;
		goto unlock;
	}
	for (i = 0; i < ub->nr_queues; i++) {
		if (!ublk_queue_all_idle(ub->queues[i])) {
			ret = -EBUSY;
			goto unlock;
		}
	}

	for (i = 0; i < ub->nr_queues; i++)
		ublk_reset_queue(ub->queues[i], true);
	atomic_set(&ub->nr_queues_ready, 0);
	reinit_completion(&ub->completion);
	ub->dev_info.ublksrv_pid = -1;
	/* I/O waits for the new server from now on */
	ub->dev_info.state = UBLK_S_DEV_QUIESCED;
unlock:
	mutex_unlock(&ub->mutex);
	return ret;
}

static int ublk_ctrl_end_recovery(struct ublk_device *ub,
				  const struct ublksrv_ctrl_cmd *hdr)
{
	int pid = (int)hdr->data[0];
	unsigned int i;
	int ret = 0;

	if (!ublk_dev_recoverable(ub))
		return -EINVAL;
	if (pid <= 0 || hdr->data[0] > INT_MAX)
		return -EINVAL;

	if (wait_for_completion_interruptible(&ub->completion))
		return -EINTR;

	mutex_lock(&ub->mutex);
	if (!ub->ub_disk || ub->dev_info.state != UBLK_S_DEV_QUIESCED) {
		ret = -EBUSY;
		goto unlock;
	}
	if (!test_bit(UB_STATE_OPEN, &ub->state_bits) ||
	    !ublk_queues_ready(ub)) {
		ret = -ENODEV;
		goto unlock;
	}

	ub->dev_info.ublksrv_pid = pid;
	/* every slot is parked again: serve first, then restore the mode */
	for (i = 0; i < ub->nr_queues; i++)
		ublk_set_queue_flags(ub->queues[i], false, false);
	ublk_set_nosrv_requeue(ub, ublk_live_nosrv_requeue(ub));
	ub->dev_info.state = UBLK_S_DEV_LIVE;
	blk_mq_kick_requeue_list(ub->ub_disk->queue);
unlock:
	mutex_unlock(&ub->mutex);
	return ret;
}

static int ublk_ctrl_get_features(const struct ublksrv_ctrl_cmd *hdr)
{
	u64 features = UBLK_F_SUPPORTED;

	if (hdr->len < UBLK_FEATURES_LEN || !hdr->addr)
		return -EINVAL;
	if (copy_to_user(u64_to_user_ptr(hdr->addr), &features,
			 UBLK_FEATURES_LEN))
		return -EFAULT;
	return 0;
}

/* does @path name @ub's char device, with @mask access for the caller */
static int ublk_check_cdev_path(struct ublk_device *ub, const char *name,
				int mask)
{
	struct inode *inode;
	struct path path;
	int ret;

	ret = kern_path(name, LOOKUP_FOLLOW, &path);
	if (ret)
		return ret;

	inode = d_backing_inode(path.dentry);
	if (!S_ISCHR(inode->i_mode) || inode->i_rdev != ub->cdev_dev.devt)
		ret = -EINVAL;
	else
		ret = inode_permission(mnt_idmap(path.mnt), inode, mask);
	path_put(&path);
	return ret;
}

/*
 * Permission check for commands on an existing device. Privileged devices
 * need CAP_SYS_ADMIN. Unprivileged devices (and GET_DEV_INFO2 always)
 * carry the char device path in the first dev_path_len bytes of the buffer
 * at addr; the caller must have access to that node. The command's own
 * payload follows the path, @hdr is adjusted to point at it.
 */
static int ublk_ctrl_check_perm(struct ublk_device *ub, unsigned int nr,
				struct ublksrv_ctrl_cmd *hdr)
{
	char *name;
	int mask, ret;

	if (!ublk_dev_unprivileged(ub)) {
		if (!capable(CAP_SYS_ADMIN))
			return -EPERM;
		if (nr != UBLK_CMD_GET_DEV_INFO2)
			return 0;
	}

	switch (nr) {
	case UBLK_CMD_GET_DEV_INFO:
	case UBLK_CMD_GET_DEV_INFO2:
	case UBLK_CMD_GET_QUEUE_AFFINITY:
	case UBLK_CMD_GET_PARAMS:
		mask = MAY_READ;
		break;
	default:
		mask = MAY_READ | MAY_WRITE;
		break;
	}

	if (!hdr->dev_path_len || hdr->dev_path_len > PATH_MAX ||
	    hdr->len < hdr->dev_path_len || !hdr->addr)
		return -EINVAL;

	name = memdup_user_nul(u64_to_user_ptr(hdr->addr), hdr->dev_path_len);
	if (IS_ERR(name))
		return PTR_ERR(name);
	ret = ublk_check_cdev_path(ub, name, mask);
	kfree(name);
	if (ret)
		return ret;

	hdr->addr += hdr->dev_path_len;
	hdr->len -= hdr->dev_path_len;
	return 0;
}

/* command number from an opcode, -EOPNOTSUPP for unknown encodings */
static int ublk_ctrl_cmd_nr(u32 cmd_op)
{
	unsigned int nr = _IOC_NR(cmd_op);

	if (_IOC_TYPE(cmd_op) == 'u') {
		if (_IOC_SIZE(cmd_op) != sizeof(struct ublksrv_ctrl_cmd))
			return -EOPNOTSUPP;
		return nr;
	}
#ifdef CONFIG_BLKDEV_UBLK_LEGACY_OPCODES
	/* raw legacy numbers only exist up to GET_DEV_INFO2 */
	if (cmd_op == nr && nr <= UBLK_CMD_GET_DEV_INFO2)
		return nr;
#endif
	return -EOPNOTSUPP;
}

int ublk_ctrl_uring_cmd(struct io_uring_cmd *cmd,
			unsigned int issue_flags)
{
	struct ublk_device *ub;
	struct ublksrv_ctrl_cmd hdr;
	bool del_wait = false;
	int nr, ret;

	if (issue_flags & IO_URING_F_CANCEL)
		return 0;	/* never marked cancelable */
	if (!(issue_flags & IO_URING_F_SQE128))
		return -EINVAL;
	/* control commands may sleep: run them from io-wq */
	if (issue_flags & IO_URING_F_NONBLOCK)
		return -EAGAIN;

	memcpy(&hdr, io_uring_sqe_cmd(cmd->sqe), sizeof(hdr));

	nr = ublk_ctrl_cmd_nr(cmd->cmd_op);
	if (nr < 0)
		return nr;

	switch (nr) {
	case UBLK_NR_GET_FEATURES:
		return ublk_ctrl_get_features(&hdr);
	case UBLK_CMD_ADD_DEV:
		return ublk_ctrl_add_dev(&hdr);
	case UBLK_CMD_GET_QUEUE_AFFINITY:
	case UBLK_CMD_GET_DEV_INFO:
	case UBLK_CMD_DEL_DEV:
	case UBLK_CMD_START_DEV:
	case UBLK_CMD_STOP_DEV:
	case UBLK_CMD_SET_PARAMS:
	case UBLK_CMD_GET_PARAMS:
	case UBLK_CMD_START_USER_RECOVERY:
	case UBLK_CMD_END_USER_RECOVERY:
	case UBLK_CMD_GET_DEV_INFO2:
	case UBLK_NR_DEL_DEV_ASYNC:
	case UBLK_NR_UPDATE_SIZE:
	case UBLK_NR_QUIESCE_DEV:
	case UBLK_NR_TRY_STOP_DEV:
		break;
	default:
		return -EOPNOTSUPP;
	}

	ub = ublk_get_device_from_id(hdr.dev_id);
	if (!ub)
		return -ENODEV;

	ret = ublk_ctrl_check_perm(ub, nr, &hdr);
	if (ret)
		goto out;

	if (test_bit(UB_STATE_DELETED, &ub->state_bits) &&
	    nr != UBLK_CMD_DEL_DEV && nr != UBLK_NR_DEL_DEV_ASYNC) {
		ret = -ENODEV;
		goto out;
	}

	switch (nr) {
	case UBLK_CMD_GET_QUEUE_AFFINITY:
		ret = ublk_ctrl_get_queue_affinity(ub, &hdr);
		break;
	case UBLK_CMD_GET_DEV_INFO:
	case UBLK_CMD_GET_DEV_INFO2:
		ret = ublk_ctrl_get_dev_info(ub, &hdr);
		break;
	case UBLK_CMD_DEL_DEV:
		del_wait = true;
		fallthrough;
	case UBLK_NR_DEL_DEV_ASYNC:
		ret = ublk_ctrl_del_dev(ub);
		break;
	case UBLK_CMD_START_DEV:
		ret = ublk_ctrl_start_dev(ub, &hdr);
		break;
	case UBLK_CMD_STOP_DEV:
		ret = ublk_ctrl_stop_dev(ub);
		break;
	case UBLK_NR_TRY_STOP_DEV:
		ret = ublk_ctrl_try_stop_dev(ub);
		break;
	case UBLK_CMD_SET_PARAMS:
		ret = ublk_ctrl_set_params(ub, &hdr);
		break;
	case UBLK_CMD_GET_PARAMS:
		ret = ublk_ctrl_get_params(ub, &hdr);
		break;
	case UBLK_CMD_START_USER_RECOVERY:
		ret = ublk_ctrl_start_recovery(ub);
		break;
	case UBLK_CMD_END_USER_RECOVERY:
		ret = ublk_ctrl_end_recovery(ub, &hdr);
		break;
	case UBLK_NR_UPDATE_SIZE:
		ret = ublk_ctrl_update_size(ub, &hdr);
		break;
	case UBLK_NR_QUIESCE_DEV:
		ret = ublk_ctrl_quiesce_dev(ub, &hdr);
		break;
	}
out:
	ublk_put_device(ub);
	/* our reference is gone: wait for the others to let go of the id */
	if (!ret && del_wait &&
	    wait_event_interruptible(ublk_idr_wq, ublk_idr_freed(hdr.dev_id)))
		ret = -EINTR;
	return ret;
}
