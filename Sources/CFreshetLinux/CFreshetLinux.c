// Implementations of the Linux wrappers declared in CFreshetLinux.h.
#ifndef _GNU_SOURCE
#error "CFreshetLinux needs _GNU_SOURCE (Package.swift defines it)"
#endif

#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>
#include "CFreshetLinux.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <unistd.h>

_Static_assert(sizeof(struct epoll_event) == 12, "x86_64 epoll_event is packed to 12 bytes");

const int CFreshetLinux_EPOLL_CTL_ADD = EPOLL_CTL_ADD;
const int CFreshetLinux_EPOLL_CTL_MOD = EPOLL_CTL_MOD;
const int CFreshetLinux_EPOLL_CTL_DEL = EPOLL_CTL_DEL;
const uint32_t CFreshetLinux_EPOLLIN = EPOLLIN;
const uint32_t CFreshetLinux_EPOLLOUT = EPOLLOUT;
const uint32_t CFreshetLinux_EPOLLERR = EPOLLERR;
const uint32_t CFreshetLinux_EPOLLHUP = EPOLLHUP;
const uint32_t CFreshetLinux_EPOLLRDHUP = EPOLLRDHUP;

int CFreshetLinux_errno(void) { return errno; }

int CFreshetLinux_epoll_create(void) { return epoll_create1(EPOLL_CLOEXEC); }

int CFreshetLinux_epoll_ctl(int epfd, int op, int fd, uint32_t events, uint64_t data) {
    struct epoll_event event;
    event.events = events;
    event.data.u64 = data;
    return epoll_ctl(epfd, op, fd, &event);
}

int CFreshetLinux_epoll_wait(int epfd, uint64_t *data, uint32_t *events, int max, int timeout_ms) {
    struct epoll_event ready[256];
    if (max > 256) {
        max = 256;
    }
    int count = epoll_wait(epfd, ready, max, timeout_ms);
    for (int i = 0; i < count; i++) {
        data[i] = ready[i].data.u64;
        events[i] = ready[i].events;
    }
    return count;
}

int CFreshetLinux_accept4(int fd) { return accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC); }

int CFreshetLinux_socket_stream(int domain) { return socket(domain, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0); }

int CFreshetLinux_set_int_option(int fd, int level, int name, int value) {
    return setsockopt(fd, level, name, &value, sizeof(value));
}

int CFreshetLinux_eventfd(void) { return eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC); }

int CFreshetLinux_timerfd(void) { return timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC); }

int CFreshetLinux_timerfd_arm(int fd, int64_t nanoseconds) {
    struct itimerspec spec = {0};
    spec.it_value.tv_sec = nanoseconds / 1000000000;
    spec.it_value.tv_nsec = nanoseconds % 1000000000;
    return timerfd_settime(fd, 0, &spec, NULL);
}

int CFreshetLinux_signalfd_termination(void) {
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

int CFreshetLinux_signalfd_read(int fd) {
    struct signalfd_siginfo info;
    ssize_t n = read(fd, &info, sizeof(info));
    if (n != (ssize_t)sizeof(info)) {
        return -1;
    }
    return (int)info.ssi_signo;
}

void CFreshetLinux_ignore_sigpipe(void) { signal(SIGPIPE, SIG_IGN); }

int CFreshetLinux_pin_to_cpu(int cpu) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    return pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
}

int CFreshetLinux_set_thread_name(unsigned long thread, const char *name) {
    return pthread_setname_np((pthread_t)thread, name);
}

int CFreshetLinux_set_current_thread_nice(int nice) {
    return setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), nice);
}

int CFreshetLinux_set_current_thread_idle(void) {
    struct sched_param param = {.sched_priority = 0};
    return pthread_setschedparam(pthread_self(), SCHED_IDLE, &param) == 0 ? 0 : -1;
}
