/* The C twin of the no_main proof (core/nostd-proof): a freestanding program (-ffreestanding -nostdlib,
 * its own _start, no C library) linked against the no_std build of libringfork_c.a. It runs the whole
 * self-test (selftest_body.h) in a static buffer: every primitive, with timed waits that go through
 * the core's own futex and clock system calls. Exit status 0 = all as expected, else the failed
 * check's number. Built and run by .ci/run ("freestanding C"). */
#include "selftest_body.h"

/* The C library functions the compiler (and the Rust code) may call. */
void *memcpy(void *dst, const void *src, size_t n) {
    unsigned char *d = dst;
    const unsigned char *s = src;
    while (n--) *d++ = *s++;
    return dst;
}

void *memmove(void *dst, const void *src, size_t n) {
    unsigned char *d = dst;
    const unsigned char *s = src;
    if (d < s) {
        while (n--) *d++ = *s++;
    } else {
        while (n--) d[n] = s[n];
    }
    return dst;
}

void *memset(void *dst, int c, size_t n) {
    unsigned char *d = dst;
    while (n--) *d++ = (unsigned char)c;
    return dst;
}

int memcmp(const void *a, const void *b, size_t n) {
    const unsigned char *x = a, *y = b;
    for (; n; n--, x++, y++) {
        if (*x != *y) return *x - *y;
    }
    return 0;
}

int bcmp(const void *a, const void *b, size_t n) { return memcmp(a, b, n); }

size_t strlen(const char *s) {
    size_t n = 0;
    while (s[n]) n++;
    return n;
}

static long sys3(long nr, long a, long b, long c) {
    long ret;
    __asm__ volatile("syscall" : "=a"(ret) : "a"(nr), "D"(a), "S"(b), "d"(c) : "rcx", "r11", "memory");
    return ret;
}

static unsigned char shared[1 << 16] __attribute__((aligned(4096)));

void c_start(void) __attribute__((noreturn, used));
void c_start(void) {
    int r = rf_selftest(shared, sizeof shared);
    if (r == 0) {
        static const char ok[] = "freestanding C: every primitive ok\n";
        sys3(1 /* write */, 1, (long)ok, sizeof ok - 1);
    }
    sys3(231 /* exit_group */, r, 0, 0);
    __builtin_unreachable();
}

/* The entry point: the kernel leaves the stack 16-byte aligned without a return address. */
__asm__(".globl _start\n"
        "_start:\n"
        "  xor %ebp, %ebp\n"
        "  and $-16, %rsp\n"
        "  call c_start\n"
        "  ud2\n");
