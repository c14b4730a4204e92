// SPDX-License-Identifier: GPL-2.0
/*
 * ublk_sock: sockets for the checks of fixed-buffer SEND/RECV
 * (ublk_fixedbuf on user buffers, ublk_zc_more on request buffers).
 */
#include <errno.h>
#include <poll.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include "ublk_sock.h"

/* a connected pair of loopback TCP sockets in @sv: 0 or -errno */
int tcp_pair(int sv[2])
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t alen = sizeof(a);
	int l, c, s;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (l < 0 || bind(l, (void *)&a, sizeof(a)) || listen(l, 1) ||
	    getsockname(l, (void *)&a, &alen))
		return -errno;
	c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c < 0 || connect(c, (void *)&a, sizeof(a)))
		return -errno;
	s = accept4(l, NULL, NULL, SOCK_CLOEXEC);
	close(l);
	if (s < 0)
		return -errno;
	sv[0] = c;
	sv[1] = s;
	return 0;
}

/* read @len bytes from @fd, giving up after 5 s without data: count or -errno */
int read_all(int fd, unsigned char *p, unsigned int len)
{
	unsigned int done = 0;

	while (done < len) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		ssize_t n;

		if (poll(&pfd, 1, 5000) <= 0)
			break;
		n = read(fd, p + done, len - done);
		if (n <= 0)
			return n < 0 ? -errno : (int)done;
		done += n;
	}
	return done;
}

/* write @len bytes to @fd (blocking): count or -errno */
int write_all(int fd, const unsigned char *p, unsigned int len)
{
	unsigned int done = 0;

	while (done < len) {
		ssize_t n = write(fd, p + done, len - done);

		if (n <= 0)
			return n < 0 ? -errno : (int)done;
		done += n;
	}
	return done;
}
