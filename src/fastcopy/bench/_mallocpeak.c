/* _mallocpeak.c: malloc-level memory accounting for `python -m fastcopy.bench memory`.
 *
 * Linux with glibc only.  Loaded with LD_PRELOAD into a child process that
 * also runs with PYTHONMALLOC=malloc, so that every allocation -- Python
 * objects, fastcopy's memo, a Rust extension's (copium's) own tables -- goes
 * through the functions below.  Each one forwards to glibc's real allocator
 * through its exported __libc_* entry points (no dlsym(RTLD_NEXT): dlsym may
 * itself allocate, which would recurse into us), and accounts the block's
 * malloc_usable_size(), i.e. what the allocator really handed out (the request
 * rounded up; the chunk header itself is not counted).
 *
 * Exports, read from Python with ctypes:
 *   long long fcmem_current(void)     bytes allocated now
 *   long long fcmem_peak(void)        highest value of current since the last reset
 *   long long fcmem_reset_peak(void)  peak := current; returns that value
 *   long long fcmem_allocs(void)      number of successful allocations so far
 *
 * Two more things a copy uses that malloc does not see:
 *
 * - The interpreter's frame stack (CPython >= 3.11 keeps Python frames in
 *   chunks from the "arena allocator", which is mmap, not malloc).  The driver
 *   points PyObject_SetArenaAllocator at fcmem_arena_alloc/fcmem_arena_free,
 *   which still mmap/munmap but add the size to the same counters.
 * - The C stack of the calling thread (a recursive copier keeps its state
 *   there).  fcmem_stack_paint(n) fills n bytes below its own frame with a
 *   pattern; fcmem_stack_used() returns how many of them were overwritten
 *   since, i.e. how deep the C stack went below the painting call's depth.
 *
 * realloc that moves a block counts the new block before the old one is
 * released, as glibc really holds both for a moment.
 *
 * Built on first use by fastcopy/bench/memory.py with `cc -O2 -shared -fPIC`.
 */

#define _GNU_SOURCE
#include <errno.h>
#include <malloc.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

extern void *__libc_malloc(size_t);
extern void __libc_free(void *);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);
extern void *__libc_valloc(size_t);
extern void *__libc_pvalloc(size_t);

#define EXPORT __attribute__((visibility("default")))

static long long cur_bytes;
static long long peak_bytes;
static long long n_allocs;

static void
account_add(void *p)
{
    if (p == NULL)
        return;
    long long n = (long long)malloc_usable_size(p);
    long long now = __atomic_add_fetch(&cur_bytes, n, __ATOMIC_RELAXED);
    __atomic_add_fetch(&n_allocs, 1, __ATOMIC_RELAXED);
    long long old = __atomic_load_n(&peak_bytes, __ATOMIC_RELAXED);
    while (now > old &&
           !__atomic_compare_exchange_n(&peak_bytes, &old, now, 1, __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {
    }
}

static void
account_sub(long long n)
{
    __atomic_sub_fetch(&cur_bytes, n, __ATOMIC_RELAXED);
}

EXPORT void *
malloc(size_t size)
{
    void *p = __libc_malloc(size);
    account_add(p);
    return p;
}

EXPORT void
free(void *p)
{
    if (p == NULL)
        return;
    account_sub((long long)malloc_usable_size(p));
    __libc_free(p);
}

EXPORT void *
calloc(size_t n, size_t size)
{
    void *p = __libc_calloc(n, size);
    account_add(p);
    return p;
}

EXPORT void *
realloc(void *old, size_t size)
{
    if (old == NULL)
        return malloc(size);
    if (size == 0) {
        /* glibc frees the block and returns NULL */
        free(old);
        return NULL;
    }
    long long old_n = (long long)malloc_usable_size(old);
    void *p = __libc_realloc(old, size);
    if (p == NULL)
        return NULL; /* the old block is untouched */
    if (p == old) {
        long long new_n = (long long)malloc_usable_size(p);
        long long d = new_n - old_n;
        if (d > 0) {
            /* grown in place: account the growth like an allocation */
            long long now = __atomic_add_fetch(&cur_bytes, d, __ATOMIC_RELAXED);
            long long pk = __atomic_load_n(&peak_bytes, __ATOMIC_RELAXED);
            while (now > pk &&
                   !__atomic_compare_exchange_n(&peak_bytes, &pk, now, 1, __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {
            }
        }
        else if (d < 0) {
            account_sub(-d);
        }
        return p;
    }
    /* moved: new block allocated, old one copied and freed */
    account_add(p);
    __atomic_sub_fetch(&n_allocs, 1, __ATOMIC_RELAXED); /* not a new allocation */
    account_sub(old_n);
    return p;
}

EXPORT void *
reallocarray(void *old, size_t n, size_t size)
{
    size_t total;
    if (__builtin_mul_overflow(n, size, &total)) {
        errno = ENOMEM;
        return NULL;
    }
    return realloc(old, total);
}

EXPORT void *
memalign(size_t align, size_t size)
{
    void *p = __libc_memalign(align, size);
    account_add(p);
    return p;
}

EXPORT int
posix_memalign(void **out, size_t align, size_t size)
{
    if (align < sizeof(void *) || (align & (align - 1)) != 0)
        return EINVAL;
    void *p = __libc_memalign(align, size);
    if (p == NULL)
        return ENOMEM;
    account_add(p);
    *out = p;
    return 0;
}

EXPORT void *
aligned_alloc(size_t align, size_t size)
{
    if (align == 0 || (align & (align - 1)) != 0) {
        errno = EINVAL;
        return NULL;
    }
    void *p = __libc_memalign(align, size);
    account_add(p);
    return p;
}

EXPORT void *
valloc(size_t size)
{
    void *p = __libc_valloc(size);
    account_add(p);
    return p;
}

EXPORT void *
pvalloc(size_t size)
{
    void *p = __libc_pvalloc(size);
    account_add(p);
    return p;
}

EXPORT long long
fcmem_current(void)
{
    return __atomic_load_n(&cur_bytes, __ATOMIC_RELAXED);
}

EXPORT long long
fcmem_peak(void)
{
    return __atomic_load_n(&peak_bytes, __ATOMIC_RELAXED);
}

EXPORT long long
fcmem_reset_peak(void)
{
    long long now = __atomic_load_n(&cur_bytes, __ATOMIC_RELAXED);
    __atomic_store_n(&peak_bytes, now, __ATOMIC_RELAXED);
    return now;
}

EXPORT long long
fcmem_allocs(void)
{
    return __atomic_load_n(&n_allocs, __ATOMIC_RELAXED);
}

/* ---- the interpreter's frame-stack chunks (PyObject_SetArenaAllocator) */

EXPORT void *
fcmem_arena_alloc(void *ctx, size_t size)
{
    (void)ctx;
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return NULL;
    long long now = __atomic_add_fetch(&cur_bytes, (long long)size, __ATOMIC_RELAXED);
    __atomic_add_fetch(&n_allocs, 1, __ATOMIC_RELAXED);
    long long pk = __atomic_load_n(&peak_bytes, __ATOMIC_RELAXED);
    while (now > pk &&
           !__atomic_compare_exchange_n(&peak_bytes, &pk, now, 1, __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {
    }
    return p;
}

EXPORT void
fcmem_arena_free(void *ctx, void *p, size_t size)
{
    (void)ctx;
    /* also for chunks mmap'd before the allocator was switched: a real release */
    munmap(p, size);
    account_sub((long long)size);
}

/* ---- C stack high-water mark by painting */

#define PAINT 0xA5
static unsigned char *paint_lo;
static size_t paint_len;

EXPORT __attribute__((noinline)) void
fcmem_stack_paint(size_t len)
{
    unsigned char *buf = __builtin_alloca(len);
    memset(buf, PAINT, len);
    __asm__ __volatile__("" : : "r"(buf) : "memory"); /* keep the memset */
    paint_lo = buf;
    paint_len = len;
}

EXPORT long long
fcmem_stack_used(void)
{
    if (paint_lo == NULL)
        return -1;
    const volatile unsigned char *p = paint_lo;
    size_t i = 0;
    while (i < paint_len && p[i] == PAINT)
        i++;
    return (long long)(paint_len - i);
}
