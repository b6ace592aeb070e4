/*
 * libtcpnodelay.so - LD_PRELOAD shim for pcscd + the vsmartcard vpcd driver.
 *
 * Why: Debian's libifdvpcd (vsmartcard 0.8 / 3.3) talks to virtual cards over TCP
 * without TCP_NODELAY. Every APDU is a small write followed by a small read, so
 * Nagle's algorithm plus delayed ACKs cost ~40-48 ms per APDU. With TCP_NODELAY an
 * APDU round trip over loopback is ~0.2 ms.
 *
 * What it does (nothing else):
 *   - accept()/accept4(): sets TCP_NODELAY on the returned socket if it is TCP
 *     (vpcd is the server: virtual cards connect to it);
 *   - connect(): sets TCP_NODELAY on TCP sockets (vpcd's "reverse" mode, where the
 *     driver connects to a card host);
 *   - bind(): if KADI_SHIM_BIND_ADDR is set to an IPv4 address (services.sh sets
 *     127.0.0.1), an IPv4 bind to INADDR_ANY is rewritten to that address, so the
 *     vpcd ports listen on loopback only (vpcd itself always binds 0.0.0.0).
 * Unix-domain sockets (pcscd's client socket) are never touched.
 *
 * Build: gcc -shared -fPIC -O2 -o build/libtcpnodelay.so scripts/tcp_nodelay.c -ldl
 * Use:   LD_PRELOAD=$PWD/build/libtcpnodelay.so pcscd -f -c DIR
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dlfcn.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>

typedef int (*accept_fn)(int, struct sockaddr *, socklen_t *);
typedef int (*accept4_fn)(int, struct sockaddr *, socklen_t *, int);
typedef int (*connect_fn)(int, const struct sockaddr *, socklen_t);
typedef int (*bind_fn)(int, const struct sockaddr *, socklen_t);

/* Looks up the next definition of a libc symbol (the real one). */
static void *next_symbol(const char *name)
{
	return dlsym(RTLD_NEXT, name);
}

/* True when fd is a TCP (IPv4 or IPv6 stream) socket. */
static int is_tcp_socket(int fd)
{
	int domain = 0, type = 0;
	socklen_t len = sizeof domain;

	if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &len) != 0)
		return 0;
	len = sizeof type;
	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) != 0)
		return 0;
	return (domain == AF_INET || domain == AF_INET6) && type == SOCK_STREAM;
}

/* Sets TCP_NODELAY on fd if it is a TCP socket; preserves errno for the caller. */
static void set_nodelay(int fd)
{
	int saved_errno = errno;
	int one = 1;

	if (fd >= 0 && is_tcp_socket(fd))
		(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	errno = saved_errno;
}

int accept(int fd, struct sockaddr *addr, socklen_t *addrlen)
{
	static accept_fn real_accept;
	int client;

	if (!real_accept)
		real_accept = (accept_fn)next_symbol("accept");
	if (!real_accept) {
		errno = ENOSYS;
		return -1;
	}
	client = real_accept(fd, addr, addrlen);
	set_nodelay(client);
	return client;
}

int accept4(int fd, struct sockaddr *addr, socklen_t *addrlen, int flags)
{
	static accept4_fn real_accept4;
	int client;

	if (!real_accept4)
		real_accept4 = (accept4_fn)next_symbol("accept4");
	if (!real_accept4) {
		errno = ENOSYS;
		return -1;
	}
	client = real_accept4(fd, addr, addrlen, flags);
	set_nodelay(client);
	return client;
}

int connect(int fd, const struct sockaddr *addr, socklen_t addrlen)
{
	static connect_fn real_connect;
	int rv;

	if (!real_connect)
		real_connect = (connect_fn)next_symbol("connect");
	if (!real_connect) {
		errno = ENOSYS;
		return -1;
	}
	rv = real_connect(fd, addr, addrlen);
	/* Also on EINPROGRESS (non-blocking connect): the option sticks to the socket. */
	if (rv == 0 || errno == EINPROGRESS)
		set_nodelay(fd);
	return rv;
}

int bind(int fd, const struct sockaddr *addr, socklen_t addrlen)
{
	static bind_fn real_bind;
	const char *want;

	if (!real_bind)
		real_bind = (bind_fn)next_symbol("bind");
	if (!real_bind) {
		errno = ENOSYS;
		return -1;
	}

	want = getenv("KADI_SHIM_BIND_ADDR");
	if (want && *want && addr && addr->sa_family == AF_INET &&
	    addrlen >= (socklen_t)sizeof(struct sockaddr_in)) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)addr;

		if (in->sin_addr.s_addr == htonl(INADDR_ANY)) {
			struct sockaddr_in copy;

			memcpy(&copy, in, sizeof copy);
			if (inet_pton(AF_INET, want, &copy.sin_addr) == 1)
				return real_bind(fd, (const struct sockaddr *)&copy, sizeof copy);
		}
	}
	return real_bind(fd, addr, addrlen);
}
