/*
 * fw_memread: checked copies of this process's own memory.
 *
 * The sampler reads CPython's structures while other threads mutate and free them. A plain
 * load from a freed page would crash the host program, so every such read goes through
 * process_vm_readv(2) on our own pid: the kernel copies what is mapped and reports EFAULT for
 * what is not. The copy may still be stale or torn (the memory can change under us); callers
 * validate what they read and treat nonsense as "skip this frame", never as a fatal error.
 * No signal handler is installed and no lock is taken.
 */
#ifndef FW_MEMREAD_H
#define FW_MEMREAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Must be called after fork() in the child: the pid used for reads changes. */
void fw_memread_init(void);
/* Copies len bytes from addr into dst. False if any byte could not be read. */
bool fw_memread(void *dst, uintptr_t addr, size_t len);
/* Several copies in one system call; false unless every byte of every range was read. */
bool fw_memread_many(void *const *dst, const uintptr_t *addr, const size_t *len, size_t n);

/* Direct mode, for the calling thread only. A thread that holds the GIL and reads ITS OWN
 * thread state, frames, code objects and context (the memory profiler, inside an allocation
 * made by that thread) reads memory that cannot be freed under it: everything on its own
 * Python stack is kept alive by that stack, and no other thread runs Python. tracemalloc walks
 * the same structures with plain loads from inside its allocator hooks. In direct mode
 * fw_memread and fw_memread_many are memcpy (no system call). Only exact-size reads of
 * objects known to be alive may run in direct mode; a read that may go past the end of an
 * object (a string header read at its largest size, a C string of unknown length, a code
 * object read before its type is known) uses fw_memread_checked, which is always the system
 * call. fw_memread_direct_begin returns the previous mode, for fw_memread_direct_end. */
bool fw_memread_direct_begin(void);
void fw_memread_direct_end(bool previous);
bool fw_memread_is_direct(void);
/* Like fw_memread, but always through the kernel, even in direct mode. */
bool fw_memread_checked(void *dst, uintptr_t addr, size_t len);

#endif
