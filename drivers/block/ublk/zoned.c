// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * ublk: zoned devices (UBLK_F_ZONED), built with CONFIG_BLK_DEV_ZONED.
 *
 * Zone reports (->report_zones() as UBLK_IO_OP_REPORT_ZONES requests) and
 * the check of zone append results. The zoned parameters are validated in
 * ctrl.c, the zone operations are passed on in io.c.
 */

#include "ublk.h"

/* a zone append result must lie inside the zone the request targeted */
bool ublk_zone_lba_valid(struct ublk_queue *ubq, struct request *rq,
			 u64 lba)
{
	u64 zone_sectors = ubq->dev->params.basic.chunk_sectors;
	u64 zone_start = blk_rq_pos(rq) & ~(zone_sectors - 1);

	return lba >= zone_start &&
		lba + blk_rq_sectors(rq) <= zone_start + zone_sectors;
}

/* zone report buffer: as many zones as one request can carry, at most */
static void *ublk_alloc_report_buf(struct gendisk *disk, unsigned int nr_zones,
				   size_t *lenp)
{
	struct request_queue *q = disk->queue;
	size_t len = (size_t)nr_zones * sizeof(struct blk_zone);
	void *buf;

	len = min_t(size_t, len, queue_max_hw_sectors(q) << SECTOR_SHIFT);
	len = min_t(size_t, len, (size_t)queue_max_segments(q) << PAGE_SHIFT);
	len = min_t(size_t, len, (size_t)BIO_MAX_VECS << PAGE_SHIFT);
	len = round_down(len, sizeof(struct blk_zone));

	while (len >= sizeof(struct blk_zone)) {
		buf = __vmalloc(len, GFP_KERNEL | __GFP_ZERO | __GFP_NORETRY);
		if (buf) {
			*lenp = len;
			return buf;
		}
		len = round_down(len / 2, sizeof(struct blk_zone));
	}
	return NULL;
}

/*
 * ->report_zones(): ask the server with UBLK_IO_OP_REPORT_ZONES requests;
 * it writes struct blk_zone entries into the request with pwrite(), a
 * zeroed entry (or the end of the data) ends the report.
 */
int ublk_report_zones(struct gendisk *disk, sector_t sector,
		      unsigned int nr_zones, report_zones_cb cb,
		      void *cb_data)
{
	struct ublk_device *ub = disk->private_data;
	unsigned int zone_sectors = ub->params.basic.chunk_sectors;
	unsigned int shift = ilog2(zone_sectors);
	unsigned int total = (get_capacity(disk) + zone_sectors - 1) >> shift;
	unsigned int first = sector >> shift;
	unsigned int done = 0;
	size_t buf_len;
	void *buf;
	int ret = 0;

	if (first >= total)
		return 0;
	nr_zones = min(nr_zones, total - first);
	buf = ublk_alloc_report_buf(disk, nr_zones, &buf_len);
	if (!buf)
		return -ENOMEM;

	while (done < nr_zones) {
		unsigned int want = min_t(unsigned int, nr_zones - done,
					  buf_len / sizeof(struct blk_zone));
		struct ublk_rq_data *data;
		struct blk_zone *zones = buf;
		struct request *rq;
		blk_status_t sts;
		unsigned int i;

		memset(buf, 0, buf_len);
		rq = blk_mq_alloc_request(disk->queue, REQ_OP_DRV_IN, 0);
		if (IS_ERR(rq)) {
			ret = PTR_ERR(rq);
			break;
		}
		data = blk_mq_rq_to_pdu(rq);
		data->nr_zones = want;
		ret = blk_rq_map_kern(disk->queue, rq, buf,
				      want * sizeof(struct blk_zone),
				      GFP_KERNEL);
		if (ret) {
			blk_mq_free_request(rq);
			break;
		}
		rq->__sector = sector;
		sts = blk_execute_rq(rq, false);
		blk_mq_free_request(rq);
		if (sts != BLK_STS_OK) {
			ret = blk_status_to_errno(sts);
			break;
		}

		for (i = 0; i < want; i++) {
			struct blk_zone zone = zones[i];

			if (!zone.len)
				break;
			ret = cb(&zone, done, cb_data);
			if (ret)
				goto out;
			done++;
			sector = zone.start + zone.len;
		}
		if (i < want || sector >= get_capacity(disk))
			break;
	}
out:
	kvfree(buf);
	return ret ? ret : done;
}
