/*
 * fw_memread: checked copies of this process's own memory.
 *
 * Design. The sampler thread reads CPython's frames, code objects and strings while the threads
 * that own them keep running (or exit and free them). A direct load from a pointer found in
 * such a structure could fault, and a fault in the host program is the one thing a profiler may
 * never cause. process_vm_readv(2) pointed at our own pid lets the kernel do the copy: it copies
 * whatever is mapped and stops with EFAULT (or a short count) at the first unmapped byte, and it
 * never raises a signal. That turns "maybe freed" into an ordinary false return, without a
 * SIGSEGV handler (which would fight the application's own handlers) and without any lock.
 *
 * The pid is cached because getpid() is called on every read; fw_memread_init() must be called
 * again in a fork child (the cached pid would otherwise name the parent, and the reads would
 * silently copy the parent's memory). The cache is a relaxed atomic so that the sampler thread
 * and the thread running fork handlers never race in the C11 sense.
 *
 * A copy may be torn or stale: callers validate what they read. Reads of zero bytes succeed,
 * reads at address 0 fail without a system call (a NULL pointer is the most common "nothing
 * here" value in CPython structures and costs nothing to reject). If the kernel forbids
 * process_vm_readv (seccomp, old kernels), every read fails and the sampler reports nothing,
 * which is safe.
 */
#include "fw_memread.h"

#include <limits.h>
#include <string.h>
#include <stdatomic.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

/* One read of at most this many ranges per system call (the kernel's UIO_MAXIOV is 1024). */
#define FW_MEMREAD_MAX_IOV 1024

static _Atomic pid_t fw_memread_pid;

/* initial-exec: one instruction to reach it, as for the allocator hooks' state. */
static __thread bool fw_memread_direct_mode __attribute__((tls_model("initial-exec")));

bool fw_memread_direct_begin(void) {
    bool prev = fw_memread_direct_mode;
    fw_memread_direct_mode = true;
    return prev;
}

void fw_memread_direct_end(bool previous) { fw_memread_direct_mode = previous; }

bool fw_memread_is_direct(void) { return fw_memread_direct_mode; }

void fw_memread_init(void) {
    atomic_store_explicit(&fw_memread_pid, getpid(), memory_order_relaxed);
}

static pid_t fw_memread_self(void) {
    pid_t pid = atomic_load_explicit(&fw_memread_pid, memory_order_relaxed);
    if (pid == 0) {
        /* Not initialised yet: getpid() is always right, only slower. */
        pid = getpid();
        atomic_store_explicit(&fw_memread_pid, pid, memory_order_relaxed);
    }
    return pid;
}

bool fw_memread(void *dst, uintptr_t addr, size_t len) {
    if (fw_memread_direct_mode) {
        if (len == 0) {
            return true;
        }
        if (dst == NULL || addr == 0 || addr + len < addr) {
            return false;
        }
        /* Direct mode (see fw_memread.h): the caller vouches that the range is alive. */
        memcpy(dst, (const void *)addr, len); // NOLINT(performance-no-int-to-ptr)
        return true;
    }
    return fw_memread_checked(dst, addr, len);
}

bool fw_memread_checked(void *dst, uintptr_t addr, size_t len) {
    if (len == 0) {
        return true;
    }
    if (dst == NULL || addr == 0 || len > (size_t)SSIZE_MAX || addr + len < addr) {
        return false;
    }
    struct iovec local = {.iov_base = dst, .iov_len = len};
    /* The address is another thread's data, never dereferenced here: the kernel copies it. */
    struct iovec remote = {.iov_base = (void *)addr, .iov_len = len}; // NOLINT(performance-no-int-to-ptr)
    ssize_t n = process_vm_readv(fw_memread_self(), &local, 1, &remote, 1, 0);
    return n == (ssize_t)len;
}

bool fw_memread_many(void *const *dst, const uintptr_t *addr, const size_t *len, size_t n) {
    struct iovec local[64];
    struct iovec remote[64];
    size_t done = 0;
    if (n == 0) {
        return true;
    }
    if (dst == NULL || addr == NULL || len == NULL) {
        return false;
    }
    if (fw_memread_direct_mode) {
        for (size_t i = 0; i < n; i++) {
            if (!fw_memread(dst[i], addr[i], len[i])) {
                return false;
            }
        }
        return true;
    }
    /* Batches of 64 ranges keep the iovec arrays on the stack small; each batch is one call. */
    while (done < n) {
        size_t batch = n - done;
        if (batch > 64) {
            batch = 64;
        }
        size_t total = 0;
        size_t k = 0;
        for (size_t i = 0; i < batch; i++) {
            size_t l = len[done + i];
            uintptr_t a = addr[done + i];
            if (l == 0) {
                continue;
            }
            if (dst[done + i] == NULL || a == 0 || a + l < a || l > (size_t)SSIZE_MAX - total) {
                return false;
            }
            local[k].iov_base = dst[done + i];
            local[k].iov_len = l;
            remote[k].iov_base = (void *)a; // NOLINT(performance-no-int-to-ptr)
            remote[k].iov_len = l;
            total += l;
            k++;
        }
        if (k > 0) {
            ssize_t got = process_vm_readv(fw_memread_self(), local, (unsigned long)k, remote,
                                           (unsigned long)k, 0);
            if (got != (ssize_t)total) {
                return false;
            }
        }
        done += batch;
    }
    _Static_assert(64 <= FW_MEMREAD_MAX_IOV, "batch fits the kernel's iovec limit");
    return true;
}
