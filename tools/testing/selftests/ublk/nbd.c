// SPDX-License-Identifier: GPL-2.0
/*
 * kublk "nbd" target: the device is an export of an NBD server, reached
 * over TCP (kublk add -t nbd --host H [--port P] [--export NAME]
 * [--conns N]).
 *
 * Each queue has its own connection (--conns N sets the number of queues),
 * set up at init with the fixed newstyle handshake and NBD_OPT_GO (falling
 * back to NBD_OPT_EXPORT_NAME for servers without GO).  The export size,
 * transmission flags and block size constraints become the device's
 * parameters.  Only simple replies are used (structured replies are never
 * negotiated).
 *
 * Transmission, per queue ring:
 *   send   requests wait in a FIFO; one link chain of IORING_OP_SEND at a
 *          time carries the 28-byte request headers of several requests,
 *          each WRITE's header followed by its payload.  MSG_WAITALL makes
 *          the kernel finish short sends itself; a chain that still ends
 *          short is resubmitted from the first byte not sent.
 *   recv   one IORING_OP_RECV at a time: a 16-byte reply header, then
 *          for a successful READ the payload straight into the request's
 *          buffer, resubmitted from where a short receive stopped.
 *   data   copy and user copy: the tag's bounce buffer.  Zero copy (-z,
 *          --auto_zc): the payload is sent from / received into the
 *          request's registered buffer with IORING_RECVSEND_FIXED_BUF
 *          (buffer offsets start at 0).  With -z (and AUTO_BUF_REG
 *          fallback requests) the buffer is registered when the request
 *          arrives and unregistered once the reply is in.
 *
 * Failures: a reset or closed connection, a failed send or receive, or a
 * malformed reply (bad magic, unknown handle) kills the connection: every
 * request on it completes with -EIO and so do the ones that follow.  With
 * USER_RECOVERY (-r 1 without -e 1) the daemon exits instead, so that the
 * driver keeps the requests until "kublk recover" brings a new daemon with
 * new connections.  Server error codes map to negative errnos.  When the
 * queue goes away (all io commands aborted, nothing in flight) the
 * connection is closed with NBD_CMD_DISC.
 */
#include <assert.h>
#include <endian.h>
#include <netdb.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include "kublk.h"

/* handshake (NBD protocol, newstyle) */
#define NBDP_INIT_MAGIC		0x4e42444d41474943ULL	/* "NBDMAGIC" */
#define NBDP_OPTS_MAGIC		0x49484156454f5054ULL	/* "IHAVEOPT" */
#define NBDP_OLD_MAGIC		0x0000420281861253ULL	/* oldstyle */
#define NBDP_REP_MAGIC		0x0003e889045565a9ULL
#define NBDP_FLAG_FIXED_NEWSTYLE	(1U << 0)
#define NBDP_FLAG_NO_ZEROES	(1U << 1)
#define NBDP_OPT_EXPORT_NAME	1
#define NBDP_OPT_ABORT		2
#define NBDP_OPT_GO		7
#define NBDP_REP_ACK		1
#define NBDP_REP_INFO		3
#define NBDP_REP_ERR		(1U << 31)
#define NBDP_REP_ERR_UNSUP	(NBDP_REP_ERR | 1)
#define NBDP_INFO_EXPORT	0
#define NBDP_INFO_BLOCK_SIZE	3

/* transmission flags (include/uapi/linux/nbd.h) */
#define NBDP_TF_HAS_FLAGS	(1U << 0)
#define NBDP_TF_READ_ONLY	(1U << 1)
#define NBDP_TF_SEND_FLUSH	(1U << 2)
#define NBDP_TF_SEND_FUA	(1U << 3)
#define NBDP_TF_ROTATIONAL	(1U << 4)
#define NBDP_TF_SEND_TRIM	(1U << 5)
#define NBDP_TF_SEND_WZ		(1U << 6)

/* transmission */
#define NBDP_REQUEST_MAGIC	0x25609513U
#define NBDP_SIMPLE_MAGIC	0x67446698U
#define NBDP_STRUCT_MAGIC	0x668e33efU
#define NBDP_CMD_READ		0
#define NBDP_CMD_WRITE		1
#define NBDP_CMD_DISC		2
#define NBDP_CMD_FLUSH		3
#define NBDP_CMD_TRIM		4
#define NBDP_CMD_WRITE_ZEROES	6
#define NBDP_CMD_FLAG_FUA	(1U << 0)
#define NBDP_CMD_FLAG_NO_HOLE	(1U << 1)

#define NBD_DEF_PORT		"10809"
#define NBD_HS_TIMEOUT		10	/* seconds, connect and handshake */
#define NBD_MAX_SEGS		32	/* send segments per link chain */
#define NBD_HANDLE_MAGIC	0x6b626c6bULL	/* "kblk", high half of handles */

/* kind of target SQE, in the tgt_data bits of user_data */
#define NBD_K_SEND		1	/* op bits: segment index */
#define NBD_K_RECV		2
#define NBD_K_REG		3
#define NBD_K_UNREG		4

/* on-the-wire structures: no padding anywhere, not even at the tail */
#pragma pack(push, 1)
struct nbd_req_hdr {
	__be32 magic;
	__be16 flags;
	__be16 type;
	__be64 handle;
	__be64 from;
	__be32 len;
};

struct nbd_reply_hdr {
	__be32 magic;
	__be32 error;
	__be64 handle;
};

/* newstyle server greeting */
struct nbd_hello {
	__be64 magic;
	__be64 opts_magic;
	__be16 flags;
};

/* client option request header */
struct nbd_opt_hdr {
	__be64 magic;
	__be32 opt;
	__be32 len;
};

/* server option reply header */
struct nbd_opt_reply {
	__be64 magic;
	__be32 opt;
	__be32 type;
	__be32 len;
};

#pragma pack(pop)

static_assert(sizeof(struct nbd_req_hdr) == 28, "nbd request header size");
static_assert(sizeof(struct nbd_reply_hdr) == 16, "nbd reply header size");
static_assert(sizeof(struct nbd_hello) == 18, "nbd greeting size");
static_assert(sizeof(struct nbd_opt_hdr) == 16, "nbd option header size");
static_assert(sizeof(struct nbd_opt_reply) == 20, "nbd option reply size");

struct nbd_tag {
	struct nbd_req_hdr hdr;
	unsigned int len;		/* payload bytes (WRITE sent, READ received) */
	int res;		/* final result once replied */
	int inflight;		/* SQEs using this tag: send, payload recv, reg */
	bool active;		/* the request is with the target */
	bool replied;		/* reply (or failure) is in, res is final */
	bool submitted;		/* handed to the send path */
	bool queued;		/* still (partly) to be sent */
	bool registered;	/* we registered the buffer: unregister it */
	bool unregistering;
	bool zc;		/* payload through the fixed buffer */
};

struct nbd_seg {
	unsigned short tag;
	bool data;		/* payload, else the request header */
	bool last;		/* the tag's last segment */
	unsigned int len, done;
	int res;		/* last CQE result */
};

struct nbd_conn {
	int fd;
	bool dead;		/* failed: everything completes with -EIO */
	bool closing;		/* disconnected on purpose */
	int depth;
	struct nbd_tag *tags;
	int nr_active;
	/* send */
	unsigned short *sendq;	/* FIFO of tags, depth entries */
	int sq_head, sq_cnt;
	struct nbd_seg segs[NBD_MAX_SEGS];
	int nr_segs, segs_inflight;
	/* receive */
	bool rx_inflight;
	int rx_tag;		/* payload of this tag, -1: reply header */
	unsigned int rx_done;
	struct nbd_reply_hdr rx_hdr;
};

struct nbd_export {
	unsigned long long size;
	unsigned int tflags;
	unsigned int min_bs, pref_bs, max_bs;
};

struct nbd_dev {
	int nr_conns;
	struct nbd_export exp;
	bool exit_on_fail;	/* USER_RECOVERY: die, let recover reconnect */
	struct nbd_conn conns[KUBLK_MAX_QUEUES];
};

/* ------------------------------------------------------------------ */
/* handshake (blocking, with timeouts)                                 */
/* ------------------------------------------------------------------ */

static int nbd_xfer(int fd, void *buf, size_t len, bool out)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n;

		if (out)
			n = send(fd, (char *)buf + done, len - done, MSG_NOSIGNAL);
		else
			n = recv(fd, (char *)buf + done, len - done, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return errno == EAGAIN ? -ETIMEDOUT : -errno;
		if (n == 0)
			return -ECONNRESET;
		done += n;
	}
	return 0;
}

static int nbd_set_timeout(int fd, int secs)
{
	struct timeval tv = { .tv_sec = secs };

	if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) ||
	    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)))
		return -errno;
	return 0;
}

static int nbd_connect(const char *host, const char *port)
{
	struct addrinfo hints = {
		.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
	};
	struct addrinfo *res, *ai;
	int fd = -1, err, one = 1;

	err = getaddrinfo(host, port, &hints, &res);
	if (err) {
		ublk_err("nbd: %s:%s: %s\n", host, port, gai_strerror(err));
		return -EHOSTUNREACH;
	}
	err = -ECONNREFUSED;
	for (ai = res; ai; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC,
			    ai->ai_protocol);
		if (fd < 0) {
			err = -errno;
			continue;
		}
		nbd_set_timeout(fd, NBD_HS_TIMEOUT);
		if (!connect(fd, ai->ai_addr, ai->ai_addrlen))
			break;
		err = -errno;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd < 0) {
		ublk_err("nbd: connect to %s:%s: %s\n", host, port,
			 strerror(-err));
		return err;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}

static const char *nbd_rep_err_name(unsigned int type)
{
	switch (type & ~NBDP_REP_ERR) {
	case 1: return "unsupported option";
	case 2: return "denied by server policy";
	case 3: return "invalid option";
	case 4: return "not supported on this platform";
	case 5: return "TLS required";
	case 6: return "unknown export";
	case 7: return "server shutting down";
	case 8: return "block size required";
	case 9: return "request too big";
	}
	return "unknown error";
}

static int nbd_send_opt(int fd, unsigned int opt, const void *data, unsigned int len)
{
	struct nbd_opt_hdr h = {
		htobe64(NBDP_OPTS_MAGIC), htobe32(opt), htobe32(len),
	};
	int ret = nbd_xfer(fd, &h, sizeof(h), true);

	if (!ret && len)
		ret = nbd_xfer(fd, (void *)data, len, true);
	return ret;
}

/* NBD_OPT_EXPORT_NAME: no replies, the export info or a closed socket */
static int nbd_export_name(int fd, const char *name, bool no_zeroes,
			   struct nbd_export *exp)
{
	unsigned char buf[8 + 2 + 124];
	size_t want = no_zeroes ? 10 : sizeof(buf);
	__be64 size;
	__be16 fl;
	int ret;

	ret = nbd_send_opt(fd, NBDP_OPT_EXPORT_NAME, name, strlen(name));
	if (ret)
		return ret;
	ret = nbd_xfer(fd, buf, want, false);
	if (ret) {
		ublk_err("nbd: server refused export '%s' (%s)\n", name,
			 strerror(-ret));
		return ret == -ECONNRESET ? -ENOENT : ret;
	}
	memcpy(&size, buf, 8);
	memcpy(&fl, buf + 8, 2);
	exp->size = be64toh(size);
	exp->tflags = be16toh(fl);
	return 0;
}

static int nbd_opt_go(int fd, const char *name, bool no_zeroes,
		      struct nbd_export *exp)
{
	size_t nlen = strlen(name);
	unsigned char *data, *p;
	bool have_export = false;
	__be32 v32;
	__be16 v16;
	int ret;

	if (nlen > 4096) {
		ublk_err("nbd: export name too long\n");
		return -EINVAL;
	}
	data = malloc(4 + nlen + 2 + 2);
	if (!data)
		return -ENOMEM;
	v32 = htobe32(nlen);
	memcpy(data, &v32, 4);
	memcpy(data + 4, name, nlen);
	v16 = htobe16(1);		/* one information request: */
	memcpy(data + 4 + nlen, &v16, 2);
	v16 = htobe16(NBDP_INFO_BLOCK_SIZE);	/* we honour block sizes */
	memcpy(data + 6 + nlen, &v16, 2);
	ret = nbd_send_opt(fd, NBDP_OPT_GO, data, 8 + nlen);
	free(data);
	if (ret)
		return ret;

	for (;;) {
		struct nbd_opt_reply r;
		unsigned int type, len;
		__be64 v64;

		ret = nbd_xfer(fd, &r, sizeof(r), false);
		if (ret)
			return ret;
		type = be32toh(r.type);
		len = be32toh(r.len);
		if (be64toh(r.magic) != NBDP_REP_MAGIC ||
		    be32toh(r.opt) != NBDP_OPT_GO || len > 65536) {
			ublk_err("nbd: malformed option reply (magic 0x%llx option %u length %u)\n",
				 (unsigned long long)be64toh(r.magic),
				 be32toh(r.opt), len);
			return -EPROTO;
		}
		p = malloc(len + 1);
		if (!p)
			return -ENOMEM;
		ret = nbd_xfer(fd, p, len, false);
		if (ret) {
			free(p);
			return ret;
		}
		p[len] = 0;
		if (type & NBDP_REP_ERR) {
			if (type == NBDP_REP_ERR_UNSUP) {
				free(p);
				return nbd_export_name(fd, name, no_zeroes, exp);
			}
			ublk_err("nbd: export '%s': %s%s%s\n", name,
				 nbd_rep_err_name(type), len ? ": " : "",
				 len ? (char *)p : "");
			free(p);
			return (type & ~NBDP_REP_ERR) == 6 ? -ENOENT : -EPROTO;
		}
		if (type == NBDP_REP_ACK) {
			free(p);
			break;
		}
		if (type == NBDP_REP_INFO && len >= 2) {
			memcpy(&v16, p, 2);
			switch (be16toh(v16)) {
			case NBDP_INFO_EXPORT:
				if (len < 12)
					goto bad_info;
				memcpy(&v64, p + 2, 8);
				memcpy(&v16, p + 10, 2);
				exp->size = be64toh(v64);
				exp->tflags = be16toh(v16);
				have_export = true;
				break;
			case NBDP_INFO_BLOCK_SIZE:
				if (len < 14)
					goto bad_info;
				memcpy(&v32, p + 2, 4);
				exp->min_bs = be32toh(v32);
				memcpy(&v32, p + 6, 4);
				exp->pref_bs = be32toh(v32);
				memcpy(&v32, p + 10, 4);
				exp->max_bs = be32toh(v32);
				break;
			}
		}
		free(p);
	}
	if (!have_export) {
		ublk_err("nbd: server acknowledged NBD_OPT_GO without the export information\n");
		return -EPROTO;
	}
	return 0;

bad_info:
	free(p);
	ublk_err("nbd: truncated NBD_REP_INFO\n");
	return -EPROTO;
}

static int nbd_handshake(int fd, const char *name, struct nbd_export *exp)
{
	struct nbd_hello g;
	unsigned int flags;
	__be32 cflags;
	int ret;

	ret = nbd_xfer(fd, &g, sizeof(g), false);
	if (ret) {
		ublk_err("nbd: no greeting from the server: %s\n",
			 strerror(-ret));
		return ret;
	}
	if (be64toh(g.magic) != NBDP_INIT_MAGIC) {
		ublk_err("nbd: not an NBD server (bad greeting magic)\n");
		return -EPROTO;
	}
	if (be64toh(g.opts_magic) == NBDP_OLD_MAGIC) {
		ublk_err("nbd: server speaks the oldstyle handshake, not supported\n");
		return -EPROTO;
	}
	flags = be16toh(g.flags);
	if (be64toh(g.opts_magic) != NBDP_OPTS_MAGIC ||
	    !(flags & NBDP_FLAG_FIXED_NEWSTYLE)) {
		ublk_err("nbd: server does not offer the fixed newstyle handshake\n");
		return -EPROTO;
	}
	flags &= NBDP_FLAG_FIXED_NEWSTYLE | NBDP_FLAG_NO_ZEROES;
	cflags = htobe32(flags);
	ret = nbd_xfer(fd, &cflags, sizeof(cflags), true);
	if (ret)
		return ret;
	memset(exp, 0, sizeof(*exp));
	ret = nbd_opt_go(fd, name, flags & NBDP_FLAG_NO_ZEROES, exp);
	if (ret)
		return ret;
	if (!(exp->tflags & NBDP_TF_HAS_FLAGS))
		exp->tflags = 0;
	return 0;
}

/* ------------------------------------------------------------------ */
/* setup                                                               */
/* ------------------------------------------------------------------ */

static void nbd_free(struct nbd_dev *nd)
{
	int i;

	for (i = 0; i < nd->nr_conns; i++) {
		if (nd->conns[i].fd >= 0)
			close(nd->conns[i].fd);
		free(nd->conns[i].tags);
		free(nd->conns[i].sendq);
	}
	free(nd);
}

static bool nbd_pow2(unsigned int v)
{
	return v && !(v & (v - 1));
}

static int nbd_init(struct ublk_dev *dev)
{
	struct dev_ctx *ctx = dev->ctx;
	struct ublk_params *p = &dev->params;
	const char *port = ctx->nbd_port[0] ? ctx->nbd_port : NBD_DEF_PORT;
	unsigned int depth = dev->info.queue_depth;
	unsigned long long size;
	struct nbd_dev *nd;
	unsigned int lbs;
	int i, ret;

	if (!ctx->nbd_host[0]) {
		ublk_err("nbd: --host required\n");
		return -EINVAL;
	}
	nd = calloc(1, sizeof(*nd));
	if (!nd)
		return -ENOMEM;
	nd->exit_on_fail = (dev->info.flags & UBLK_F_USER_RECOVERY) &&
		!(dev->info.flags & UBLK_F_USER_RECOVERY_FAIL_IO);
	for (i = 0; i < (int)dev->nr_queues; i++) {
		struct nbd_conn *c = &nd->conns[i];
		struct nbd_export exp;

		c->fd = -1;
		nd->nr_conns++;
		c->depth = depth;
		c->rx_tag = -1;
		c->tags = calloc(depth, sizeof(*c->tags));
		c->sendq = calloc(depth, sizeof(*c->sendq));
		if (!c->tags || !c->sendq) {
			ret = -ENOMEM;
			goto fail;
		}
		ret = nbd_connect(ctx->nbd_host, port);
		if (ret < 0)
			goto fail;
		c->fd = ret;
		ret = nbd_handshake(c->fd, ctx->nbd_export, &exp);
		if (ret)
			goto fail;
		/* io_uring does the waiting from here on */
		nbd_set_timeout(c->fd, 0);
		if (!i) {
			nd->exp = exp;
		} else if (exp.size != nd->exp.size || exp.tflags != nd->exp.tflags) {
			ublk_err("nbd: connection %d sees a different export (size %llu flags 0x%x)\n",
				 i, exp.size, exp.tflags);
			ret = -EPROTO;
			goto fail;
		}
	}
	ublk_dbg("nbd: %s:%s export '%s' size %llu flags 0x%x bs %u/%u/%u, %d connections\n",
		 ctx->nbd_host, port, ctx->nbd_export,
		 nd->exp.size, nd->exp.tflags, nd->exp.min_bs, nd->exp.pref_bs,
		 nd->exp.max_bs, nd->nr_conns);
	dev->tgt_data = nd;

	if (ctx->recovering) {
		if (nd->exp.size < dev->dev_size) {
			ublk_err("nbd: export has %llu bytes, the device %llu\n",
				 nd->exp.size, dev->dev_size);
			dev->tgt_data = NULL;
			nbd_free(nd);
			return -ENOSPC;
		}
		return 0;
	}

	lbs = ctx->logical_bs ?: 512;
	if (nd->exp.min_bs > lbs) {
		if (!nbd_pow2(nd->exp.min_bs) || nd->exp.min_bs > 4096) {
			ublk_err("nbd: server minimum block size %u unusable\n",
				 nd->exp.min_bs);
			ret = -EINVAL;
			goto fail_nofree;
		}
		lbs = nd->exp.min_bs;
		ctx->logical_bs = lbs;
	}
	size = nd->exp.size;
	if (ctx->size) {
		if (ctx->size > size) {
			ublk_err("nbd: export '%s' has %llu bytes, less than the requested size %llu\n",
				 ctx->nbd_export, size, ctx->size);
			ret = -ENOSPC;
			goto fail_nofree;
		}
		size = ctx->size;
	}
	size -= size % lbs;
	if (!size) {
		ublk_err("nbd: export '%s' is empty\n", ctx->nbd_export);
		ret = -EINVAL;
		goto fail_nofree;
	}
	ublk_set_basic_params(dev, size);
	if (nd->exp.max_bs >= 4096 &&
	    nd->exp.max_bs < dev->info.max_io_buf_bytes)
		p->basic.max_sectors = (nd->exp.max_bs & ~(lbs - 1)) >> 9;
	if (nd->exp.tflags & NBDP_TF_READ_ONLY)
		p->basic.attrs |= UBLK_ATTR_READ_ONLY;
	if (nd->exp.tflags & NBDP_TF_ROTATIONAL)
		p->basic.attrs |= UBLK_ATTR_ROTATIONAL;
	if (nd->exp.tflags & NBDP_TF_SEND_FLUSH) {
		p->basic.attrs |= UBLK_ATTR_VOLATILE_CACHE;
		if (nd->exp.tflags & NBDP_TF_SEND_FUA)
			p->basic.attrs |= UBLK_ATTR_FUA;
	}
	if (nd->exp.tflags & (NBDP_TF_SEND_TRIM | NBDP_TF_SEND_WZ)) {
		p->types |= UBLK_PARAM_TYPE_DISCARD;
		p->discard.discard_granularity = lbs > 4096 ? lbs : 4096;
		if (nd->exp.tflags & NBDP_TF_SEND_TRIM) {
			p->discard.max_discard_sectors = UINT32_MAX >> 9;
			p->discard.max_discard_segments = 1;
		}
		if (nd->exp.tflags & NBDP_TF_SEND_WZ)
			p->discard.max_write_zeroes_sectors = UINT32_MAX >> 9;
	}
	return 0;

fail:
	ublk_err("nbd: connection %d to %s:%s failed: %s\n", i,
		 ctx->nbd_host, port, strerror(-ret));
	nbd_free(nd);
	return ret;
fail_nofree:
	dev->tgt_data = NULL;
	nbd_free(nd);
	return ret;
}

static void nbd_deinit(struct ublk_dev *dev)
{
	struct nbd_dev *nd = dev->tgt_data;

	if (!nd)
		return;
	nbd_free(nd);
	dev->tgt_data = NULL;
}

/* ------------------------------------------------------------------ */
/* io path                                                              */
/* ------------------------------------------------------------------ */

static struct nbd_conn *nbd_conn(struct ublk_queue *q)
{
	struct nbd_dev *nd = q->dev->tgt_data;

	return &nd->conns[q->q_id];
}

static __u64 nbd_handle(const struct ublk_queue *q, int tag)
{
	return (NBD_HANDLE_MAGIC << 32) | ((__u64)q->q_id << 16) | tag;
}

static int nbd_errno(unsigned int err)
{
	switch (err) {
	case 1: return -EPERM;
	case 5: return -EIO;
	case 12: return -ENOMEM;
	case 22: return -EINVAL;
	case 28: return -ENOSPC;
	case 75: return -EOVERFLOW;
	case 95: return -EOPNOTSUPP;
	case 108: return -ESHUTDOWN;
	}
	return -EIO;
}

static void nbd_conn_fail(struct ublk_queue *q, struct nbd_conn *c,
			  const char *why, int err);

static void nbd_try_finish(struct ublk_queue *q, struct nbd_conn *c, int tag)
{
	struct nbd_tag *t = &c->tags[tag];

	if (!t->active || !t->replied || t->inflight || t->queued)
		return;
	if (t->registered) {
		struct io_uring_sqe *sqe;

		if (t->unregistering)
			return;
		t->unregistering = true;
		sqe = ublk_prep_buf_reg(q, tag, false, NBD_K_UNREG);
		if (sqe) {
			t->inflight++;
			return;
		}
		ublk_err("q%d tag %d: no sqe to unregister\n", q->q_id, tag);
	}
	t->active = false;
	c->nr_active--;
	ublk_complete_io(q, tag, t->res);
}

static struct io_uring_sqe *nbd_sqe(struct ublk_queue *q, int tag,
				    unsigned int opcode, unsigned int kind, unsigned int idx)
{
	struct io_uring_sqe *sqe = ublk_alloc_tgt_sqe(q);

	if (!sqe)
		return NULL;
	sqe->opcode = opcode;
	sqe->fd = nbd_conn(q)->fd;
	sqe->user_data = build_user_data(tag, idx, kind, true);
	return sqe;
}

static void nbd_rx_submit(struct ublk_queue *q, struct nbd_conn *c)
{
	struct io_uring_sqe *sqe;
	int tag = c->rx_tag;

	if (c->dead || c->closing || c->rx_inflight)
		return;
	sqe = nbd_sqe(q, tag < 0 ? 0 : tag, IORING_OP_RECV, NBD_K_RECV, 0);
	if (!sqe) {
		nbd_conn_fail(q, c, "no sqe for receive", -ENOMEM);
		return;
	}
	sqe->msg_flags = MSG_WAITALL;
	if (tag < 0) {
		sqe->addr = (__u64)(uintptr_t)((char *)&c->rx_hdr + c->rx_done);
		sqe->len = sizeof(c->rx_hdr) - c->rx_done;
	} else {
		struct nbd_tag *t = &c->tags[tag];

		if (t->zc) {
			sqe->ioprio = IORING_RECVSEND_FIXED_BUF;
			sqe->buf_index = ublk_io_buf_index(q, tag);
			sqe->addr = c->rx_done;
		} else {
			sqe->addr = (__u64)(uintptr_t)((char *)ublk_io_buf(q, tag) +
						       c->rx_done);
		}
		sqe->len = t->len - c->rx_done;
		t->inflight++;
	}
	c->rx_inflight = true;
}

static void nbd_send_submit(struct ublk_queue *q, struct nbd_conn *c)
{
	int i;

	if (c->dead || c->segs_inflight)
		return;
	/* top up the chain from the FIFO */
	while (c->sq_cnt) {
		int tag = c->sendq[c->sq_head];
		struct nbd_tag *t = &c->tags[tag];
		bool data = be16toh(t->hdr.type) == NBDP_CMD_WRITE && t->len;
		struct nbd_seg *s;

		if (c->nr_segs + 1 + data > NBD_MAX_SEGS)
			break;
		c->sq_head = (c->sq_head + 1) % c->depth;
		c->sq_cnt--;
		s = &c->segs[c->nr_segs++];
		*s = (struct nbd_seg){ .tag = tag, .len = sizeof(t->hdr),
				       .last = !data };
		if (data) {
			s = &c->segs[c->nr_segs++];
			*s = (struct nbd_seg){ .tag = tag, .data = true,
					       .len = t->len, .last = true };
		}
	}
	if (!c->nr_segs)
		return;
	/* the chain must go to the kernel in one piece */
	if (!ublk_queue_reserve_sqes(q, c->nr_segs)) {
		nbd_conn_fail(q, c, "send chain does not fit the ring", -ENOMEM);
		return;
	}
	for (i = 0; i < c->nr_segs; i++) {
		struct nbd_seg *s = &c->segs[i];
		struct nbd_tag *t = &c->tags[s->tag];
		struct io_uring_sqe *sqe;

		sqe = nbd_sqe(q, s->tag, IORING_OP_SEND, NBD_K_SEND, i);
		if (!sqe)	/* cannot happen: reserved */
			break;
		s->res = -ECANCELED;
		sqe->msg_flags = MSG_WAITALL | MSG_NOSIGNAL;
		if (i + 1 < c->nr_segs) {
			sqe->flags |= IOSQE_IO_LINK;
			sqe->msg_flags |= MSG_MORE;
		}
		if (!s->data) {
			sqe->addr = (__u64)(uintptr_t)((char *)&t->hdr + s->done);
		} else if (t->zc) {
			sqe->ioprio = IORING_RECVSEND_FIXED_BUF;
			sqe->buf_index = ublk_io_buf_index(q, s->tag);
			sqe->addr = s->done;
		} else {
			sqe->addr = (__u64)(uintptr_t)((char *)ublk_io_buf(q, s->tag) +
						       s->done);
		}
		sqe->len = s->len - s->done;
		t->inflight++;
		c->segs_inflight++;
	}
}

/* every CQE of the send chain is in: retire what went out, retry the rest */
static void nbd_send_chain_done(struct ublk_queue *q, struct nbd_conn *c)
{
	int i, n = c->nr_segs, first = n;
	unsigned short done_tags[NBD_MAX_SEGS];
	int nr_done = 0;

	for (i = 0; i < n; i++) {
		if (c->segs[i].done < c->segs[i].len) {
			first = i;
			break;
		}
		if (c->segs[i].last)
			done_tags[nr_done++] = c->segs[i].tag;
	}
	if (first < n && !c->dead) {
		struct nbd_seg *s = &c->segs[first];

		if (s->res > 0 || s->res == -EINTR || s->res == -EAGAIN) {
			/* short send: carry on from the first byte not sent */
			memmove(c->segs, s, (n - first) * sizeof(*s));
			c->nr_segs = n - first;
		} else {
			nbd_conn_fail(q, c, "send failed",
				      s->res ? s->res : -ECONNRESET);
		}
	}
	if (c->dead) {
		for (i = first; i < n; i++)
			if (c->segs[i].last)
				done_tags[nr_done++] = c->segs[i].tag;
		c->nr_segs = 0;
	} else if (first == n) {
		c->nr_segs = 0;
	}
	for (i = 0; i < nr_done; i++) {
		struct nbd_tag *t = &c->tags[done_tags[i]];

		/* the reply may have been seen before the send CQE */
		t->queued = false;
		nbd_try_finish(q, c, done_tags[i]);
	}
	nbd_send_submit(q, c);
}

/*
 * The connection is unusable: fail every request on it with -EIO.  SQEs
 * still in flight finish with errors after the shutdown; the requests
 * complete when their last one is in.
 */
static void nbd_conn_fail(struct ublk_queue *q, struct nbd_conn *c,
			  const char *why, int err)
{
	struct nbd_dev *nd = q->dev->tgt_data;
	int i;

	if (c->dead)
		return;
	c->dead = true;
	if (!c->closing) {
		ublk_err("q%d: nbd connection lost: %s%s%s\n", q->q_id, why,
			 err ? ": " : "", err ? strerror(-err) : "");
		if (nd->exit_on_fail) {
			/* USER_RECOVERY: the driver keeps the requests */
			ublk_err("q%d: exiting, recover the device to reconnect\n", q->q_id);
			fflush(stderr);
			kill(getpid(), SIGKILL);
		}
	}
	shutdown(c->fd, SHUT_RDWR);
	while (c->sq_cnt) {
		c->tags[c->sendq[c->sq_head]].queued = false;
		c->sq_head = (c->sq_head + 1) % c->depth;
		c->sq_cnt--;
	}
	if (!c->segs_inflight) {
		for (i = 0; i < c->nr_segs; i++)
			c->tags[c->segs[i].tag].queued = false;
		c->nr_segs = 0;
	}
	for (i = 0; i < c->depth; i++) {
		struct nbd_tag *t = &c->tags[i];

		if (t->active && !t->replied) {
			t->replied = true;
			t->res = -EIO;
		}
	}
	for (i = 0; i < c->depth; i++)
		nbd_try_finish(q, c, i);
}

static void nbd_enqueue(struct ublk_queue *q, struct nbd_conn *c, int tag)
{
	c->tags[tag].submitted = true;
	c->tags[tag].queued = true;
	c->sendq[(c->sq_head + c->sq_cnt) % c->depth] = tag;
	c->sq_cnt++;
	nbd_send_submit(q, c);
	nbd_rx_submit(q, c);
}

static int nbd_queue_io(struct ublk_queue *q, int tag)
{
	const struct ublksrv_io_desc *iod = ublk_get_iod(q, tag);
	struct nbd_dev *nd = q->dev->tgt_data;
	struct nbd_conn *c = nbd_conn(q);
	struct nbd_tag *t = &c->tags[tag];
	unsigned int op = ublksrv_get_op(iod);
	unsigned int tf = nd->exp.tflags;
	unsigned int type, flags = 0, len = iod->nr_sectors << 9;
	__u64 from = iod->start_sector << 9;

	if (c->dead || c->closing)
		return -EIO;
	switch (op) {
	case UBLK_IO_OP_READ:
		type = NBDP_CMD_READ;
		break;
	case UBLK_IO_OP_WRITE:
		type = NBDP_CMD_WRITE;
		break;
	case UBLK_IO_OP_FLUSH:
		if (!(tf & NBDP_TF_SEND_FLUSH)) {
			/* the server has no cache to flush */
			ublk_complete_io(q, tag, 0);
			return 0;
		}
		type = NBDP_CMD_FLUSH;
		len = 0;
		from = 0;
		break;
	case UBLK_IO_OP_DISCARD:
		if (!(tf & NBDP_TF_SEND_TRIM))
			return -EOPNOTSUPP;
		type = NBDP_CMD_TRIM;
		break;
	case UBLK_IO_OP_WRITE_ZEROES:
		if (!(tf & NBDP_TF_SEND_WZ))
			return -EOPNOTSUPP;
		type = NBDP_CMD_WRITE_ZEROES;
		if (iod->op_flags & UBLK_IO_F_NOUNMAP)
			flags |= NBDP_CMD_FLAG_NO_HOLE;
		break;
	default:
		return -EOPNOTSUPP;
	}
	if ((iod->op_flags & UBLK_IO_F_FUA) && (tf & NBDP_TF_SEND_FUA) &&
	    type != NBDP_CMD_READ && type != NBDP_CMD_FLUSH)
		flags |= NBDP_CMD_FLAG_FUA;

	memset(t, 0, sizeof(*t));
	t->hdr.magic = htobe32(NBDP_REQUEST_MAGIC);
	t->hdr.flags = htobe16(flags);
	t->hdr.type = htobe16(type);
	t->hdr.handle = htobe64(nbd_handle(q, tag));
	t->hdr.from = htobe64(from);
	t->hdr.len = htobe32(len);
	t->active = true;
	c->nr_active++;
	if (type != NBDP_CMD_READ && type != NBDP_CMD_WRITE)
		len = 0;
	t->len = len;
	if (len && ublk_io_zc(q, iod)) {
		t->zc = true;
		if (ublk_io_need_reg(q, iod)) {
			if (!ublk_prep_buf_reg(q, tag, true, NBD_K_REG)) {
				t->active = false;
				c->nr_active--;
				return -ENOMEM;
			}
			t->inflight++;
			t->registered = true;
			/* sent once the buffer is in the table */
			return 0;
		}
	}
	nbd_enqueue(q, c, tag);
	return 0;
}

static void nbd_rx_done(struct ublk_queue *q, struct nbd_conn *c, int res)
{
	struct nbd_tag *t;
	unsigned int err;
	__u64 handle;
	int tag;

	c->rx_inflight = false;
	if (c->rx_tag >= 0)
		c->tags[c->rx_tag].inflight--;
	if (res == -EINTR || res == -EAGAIN) {
		nbd_rx_submit(q, c);
		return;
	}
	if (res <= 0) {
		if (c->rx_tag >= 0)
			nbd_try_finish(q, c, c->rx_tag);
		if (c->closing)
			return;
		nbd_conn_fail(q, c, res ? "receive failed" :
			      "server closed the connection", res);
		return;
	}
	c->rx_done += res;
	if (c->rx_tag >= 0) {
		tag = c->rx_tag;
		t = &c->tags[tag];
		if (c->rx_done < t->len) {
			nbd_rx_submit(q, c);
			return;
		}
		t->res = t->len;
		t->replied = true;
		c->rx_tag = -1;
		c->rx_done = 0;
		nbd_try_finish(q, c, tag);
		nbd_rx_submit(q, c);
		return;
	}
	if (c->rx_done < sizeof(c->rx_hdr)) {
		nbd_rx_submit(q, c);
		return;
	}
	c->rx_done = 0;
	if (be32toh(c->rx_hdr.magic) != NBDP_SIMPLE_MAGIC) {
		ublk_err("q%d: malformed reply from the server: magic 0x%08x%s\n",
			 q->q_id, be32toh(c->rx_hdr.magic),
			 be32toh(c->rx_hdr.magic) == NBDP_STRUCT_MAGIC ?
			 " (structured reply, never negotiated)" : "");
		nbd_conn_fail(q, c, "protocol error", -EPROTO);
		return;
	}
	handle = be64toh(c->rx_hdr.handle);
	tag = handle & 0xffff;
	if ((handle & ~0xffffULL) != nbd_handle(q, 0) || tag >= c->depth ||
	    !c->tags[tag].active || !c->tags[tag].submitted ||
	    c->tags[tag].replied) {
		ublk_err("q%d: malformed reply from the server: unknown handle 0x%llx\n",
			 q->q_id, (unsigned long long)handle);
		nbd_conn_fail(q, c, "protocol error", -EPROTO);
		return;
	}
	t = &c->tags[tag];
	err = be32toh(c->rx_hdr.error);
	if (!err && be16toh(t->hdr.type) == NBDP_CMD_READ && t->len) {
		c->rx_tag = tag;
		nbd_rx_submit(q, c);
		return;
	}
	if (err)
		t->res = nbd_errno(err);
	else
		t->res = t->len;
	t->replied = true;
	nbd_try_finish(q, c, tag);
	nbd_rx_submit(q, c);
}

static void nbd_io_done(struct ublk_queue *q, int tag,
			const struct io_uring_cqe *cqe)
{
	struct nbd_conn *c = nbd_conn(q);
	struct nbd_tag *t = &c->tags[tag];
	unsigned int kind = user_data_to_tgt_data(cqe->user_data);
	int res = cqe->res;

	switch (kind) {
	case NBD_K_SEND: {
		struct nbd_seg *s = &c->segs[user_data_to_op(cqe->user_data)];

		s->res = res;
		if (res > 0)
			s->done += res;
		t->inflight--;
		if (--c->segs_inflight == 0)
			nbd_send_chain_done(q, c);
		break;
	}
	case NBD_K_RECV:
		nbd_rx_done(q, c, res);
		break;
	case NBD_K_REG:
		t->inflight--;
		if (res < 0) {
			ublk_err("q%d tag %d: register buffer: %s\n", q->q_id,
				 tag, strerror(-res));
			t->registered = false;
			if (!t->replied) {
				t->replied = true;
				t->res = res;
			}
			nbd_try_finish(q, c, tag);
		} else if (t->replied || c->dead) {
			nbd_try_finish(q, c, tag);
		} else {
			nbd_enqueue(q, c, tag);
		}
		break;
	case NBD_K_UNREG:
		t->inflight--;
		if (res < 0 && res != -ECANCELED)
			ublk_err("q%d tag %d: unregister buffer: %s\n", q->q_id,
				 tag, strerror(-res));
		t->registered = false;
		nbd_try_finish(q, c, tag);
		break;
	default:
		ublk_err("q%d tag %d: unexpected target cqe\n", q->q_id, tag);
	}
}

/*
 * Nothing can arrive any more (no io command in the kernel) and nothing is
 * in flight on this queue: say goodbye and close the connection, so that
 * the pending receive ends and the queue thread can exit.
 */
static void nbd_queue_idle(struct ublk_queue *q)
{
	struct nbd_conn *c = nbd_conn(q);
	struct nbd_req_hdr disc = {
		.magic = htobe32(NBDP_REQUEST_MAGIC),
		.type = htobe16(NBDP_CMD_DISC),
		.handle = htobe64(nbd_handle(q, 0)),
	};

	if (c->closing || c->nr_active)
		return;
	c->closing = true;
	if (!c->dead && send(c->fd, &disc, sizeof(disc),
			     MSG_DONTWAIT | MSG_NOSIGNAL) != sizeof(disc))
		ublk_dbg("q%d: NBD_CMD_DISC not sent\n", q->q_id);
	shutdown(c->fd, SHUT_RDWR);
}

const struct target_ops nbd_tgt_ops = {
	.name = "nbd",
	.id = 4,
	.init = nbd_init,
	.deinit = nbd_deinit,
	.queue_io = nbd_queue_io,
	.tgt_io_done = nbd_io_done,
	.queue_idle = nbd_queue_idle,
	.sqes_per_io = 4,
};
