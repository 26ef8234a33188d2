// Linux APIs that Swift's Glibc module does not import (epoll, accept4, eventfd, timerfd, signalfd), wrapped as
// static inline functions prefixed CFreshetLinux_. Build with _GNU_SOURCE (Package.swift sets it).
#ifndef CFRESHETLINUX_H
#define CFRESHETLINUX_H

#ifndef _GNU_SOURCE
#error "CFreshetLinux needs _GNU_SOURCE"
#endif

#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <sys/uio.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <time.h>
#include <unistd.h>
#include <sched.h>

_Static_assert(sizeof(struct epoll_event) == 12, "x86_64 epoll_event is packed to 12 bytes");

static inline int CFreshetLinux_errno(void) { return errno; }

static inline int CFreshetLinux_epoll_create(void) { return epoll_create1(EPOLL_CLOEXEC); }

static inline int CFreshetLinux_epoll_ctl(int epfd, int op, int fd, uint32_t events, uint64_t data) {
    struct epoll_event event;
    event.events = events;
    event.data.u64 = data;
    return epoll_ctl(epfd, op, fd, &event);
}

static inline int CFreshetLinux_epoll_wait(int epfd, struct epoll_event *events, int max, int timeout_ms) {
    return epoll_wait(epfd, events, max, timeout_ms);
}

static inline uint32_t CFreshetLinux_epoll_event_events(const struct epoll_event *events, int index) {
    return events[index].events;
}

static inline uint64_t CFreshetLinux_epoll_event_data(const struct epoll_event *events, int index) {
    return events[index].data.u64;
}

static inline int CFreshetLinux_accept4(int fd) {
    return accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
}

static inline int CFreshetLinux_socket_stream(int domain) {
    return socket(domain, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
}

static inline int CFreshetLinux_eventfd(void) { return eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC); }

static inline int CFreshetLinux_timerfd(void) {
    return timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
}

/// Arms a one-shot monotonic timer `ns` nanoseconds from now; 0 disarms it.
static inline int CFreshetLinux_timerfd_arm(int fd, int64_t ns) {
    struct itimerspec spec = {0};
    spec.it_value.tv_sec = ns / 1000000000;
    spec.it_value.tv_nsec = ns % 1000000000;
    return timerfd_settime(fd, 0, &spec, NULL);
}

/// Blocks SIGTERM, SIGINT and SIGHUP in the calling thread (threads created afterwards inherit the mask) and
/// returns a signalfd that reads them, or -1.
static inline int CFreshetLinux_signalfd_termination(void) {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    if (pthread_sigmask(SIG_BLOCK, &set, NULL) != 0) {
        return -1;
    }
    return signalfd(-1, &set, SFD_CLOEXEC);
}

/// Reads one signal from a signalfd; returns its number, or -1 with errno set.
static inline int CFreshetLinux_signalfd_read(int fd) {
    struct signalfd_siginfo info;
    ssize_t n = read(fd, &info, sizeof(info));
    if (n != (ssize_t)sizeof(info)) {
        return -1;
    }
    return (int)info.ssi_signo;
}

static inline void CFreshetLinux_ignore_sigpipe(void) { signal(SIGPIPE, SIG_IGN); }

static inline int CFreshetLinux_set_int_option(int fd, int level, int name, int value) {
    return setsockopt(fd, level, name, &value, sizeof(value));
}

/// Pins the calling thread to one CPU; returns 0 or an errno.
static inline int CFreshetLinux_pin_to_cpu(int cpu) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    return pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
}

#endif
