// Linux APIs that Swift's Glibc module does not import (epoll, accept4, eventfd, signalfd, CPU affinity), wrapped
// as plain functions prefixed CFreshetLinux_. The header uses only basic C types, so that Swift imports it no matter
// how the system headers were configured; CFreshetLinux.c implements them with _GNU_SOURCE.
#ifndef CFRESHETLINUX_H
#define CFRESHETLINUX_H

#include <stdint.h>

/// The calling thread's errno (read it straight after the failing call).
int CFreshetLinux_errno(void);

/// epoll_create1(EPOLL_CLOEXEC).
int CFreshetLinux_epoll_create(void);
/// epoll_ctl with the event's data set to `data`.
int CFreshetLinux_epoll_ctl(int epfd, int op, int fd, uint32_t events, uint64_t data);
/// epoll_wait, unpacking the (packed) epoll_event array into `data[i]` and `events[i]`; returns the count or -1.
int CFreshetLinux_epoll_wait(int epfd, uint64_t *data, uint32_t *events, int max, int timeout_ms);

extern const int CFreshetLinux_EPOLL_CTL_ADD;
extern const int CFreshetLinux_EPOLL_CTL_MOD;
extern const int CFreshetLinux_EPOLL_CTL_DEL;
extern const uint32_t CFreshetLinux_EPOLLIN;
extern const uint32_t CFreshetLinux_EPOLLOUT;
extern const uint32_t CFreshetLinux_EPOLLERR;
extern const uint32_t CFreshetLinux_EPOLLHUP;
extern const uint32_t CFreshetLinux_EPOLLRDHUP;

/// accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC).
int CFreshetLinux_accept4(int fd);
/// socket(domain, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0).
int CFreshetLinux_socket_stream(int domain);
/// setsockopt with an int value.
int CFreshetLinux_set_int_option(int fd, int level, int name, int value);

/// eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC).
int CFreshetLinux_eventfd(void);

/// timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC).
int CFreshetLinux_timerfd(void);
/// Arms a one-shot timer `nanoseconds` from now (at least 1 ns); 0 disarms it. Returns 0 or -1 with errno.
int CFreshetLinux_timerfd_arm(int fd, int64_t nanoseconds);

/// Blocks SIGTERM, SIGINT and SIGHUP in the calling thread (threads created afterwards inherit the mask) and
/// returns a signalfd that reads them, or -1.
int CFreshetLinux_signalfd_termination(void);
/// Reads one signal from a signalfd; returns its number, or -1 with errno set.
int CFreshetLinux_signalfd_read(int fd);
/// signal(SIGPIPE, SIG_IGN).
void CFreshetLinux_ignore_sigpipe(void);

/// Pins the calling thread to one CPU; returns 0 or an errno value.
int CFreshetLinux_pin_to_cpu(int cpu);

/// Hints the processor to start loading `length` bytes at `address` into the cache (one prefetch per 64-byte
/// line, at most 16 lines), so that a later read does not stall on memory.
static inline void CFreshetLinux_prefetch(const void *address, unsigned long length) {
    const char *start = (const char *)address;
    unsigned long lines = (length + 63) / 64;
    if (lines > 16) {
        lines = 16;
    }
    for (unsigned long line = 0; line < lines; line++) {
        __builtin_prefetch(start + line * 64, 0, 3);
    }
}

/// pthread_setname_np on a thread (names are cut to 15 bytes by the kernel).
int CFreshetLinux_set_thread_name(unsigned long thread, const char *name);

/// Sets the nice value of the calling thread only (Linux keeps one per thread; setpriority with its tid).
/// Returns 0, or -1 with errno set.
int CFreshetLinux_set_current_thread_nice(int nice);

/// Moves the calling thread to the SCHED_IDLE policy: it runs only on CPU time no normal thread wants, and a normal
/// thread that wakes up preempts it at once. Returns 0, or -1 with errno set.
int CFreshetLinux_set_current_thread_idle(void);

#endif
