/* Exercises every primitive of ringfork.h in one process, in caller-provided memory (no segment, no C
 * library needed): shared by selftest.c (hosted, run under valgrind) and freestanding.c (no libc).
 * Returns 0 if all is as expected, else the number of the failed check. */
#ifndef RINGFORK_SELFTEST_BODY_H
#define RINGFORK_SELFTEST_BODY_H
#include "ringfork.h"

#define EXPECT(n, cond)    \
    do {                   \
        if (!(cond)) {     \
            return (n);    \
        }                  \
    } while (0)

static unsigned char *rf_carve(unsigned char **cursor, unsigned char *end, size_t size, size_t align) {
    uintptr_t p = ((uintptr_t)*cursor + align - 1) & ~(uintptr_t)(align - 1);
    if (align == 0 || p + size > (uintptr_t)end) return (unsigned char *)0;
    *cursor = (unsigned char *)(p + size);
    return (unsigned char *)p;
}

struct rf_pair {
    uint32_t a;
    uint16_t b;
    uint16_t c;
};

/* `buf` is zeroed memory of `len` bytes. */
static int rf_selftest(unsigned char *buf, size_t len) {
    unsigned char *cur = buf, *end = buf + len;
    EXPECT(1, ringfork_abi_version() == RINGFORK_ABI_VERSION);
    EXPECT(2, ringfork_strerror(RINGFORK_E_FULL)[0] != 0 && ringfork_strerror(-9999)[0] != 0);

    /* SPSC ring of 8-byte structs of alignment 4. */
    size_t cap = 5;
    size_t ssize = ringfork_spsc_size(cap, sizeof(struct rf_pair), _Alignof(struct rf_pair));
    EXPECT(3, ssize > 0 && ringfork_spsc_size(0, 8, 8) == 0 && ringfork_spsc_size(4, 8, 3) == 0);
    unsigned char *smem = rf_carve(&cur, end, ssize, ringfork_spsc_align(_Alignof(struct rf_pair)));
    EXPECT(4, smem != 0);
    ringfork_spsc_t ring, ring2;
    EXPECT(5, ringfork_spsc_attach(&ring, smem, ssize, 8, 4, 0) == RINGFORK_E_NOT_READY);
    EXPECT(6, ringfork_spsc_init(&ring, smem, ssize, cap, sizeof(struct rf_pair), _Alignof(struct rf_pair)) == 0);
    EXPECT(7, ringfork_spsc_init(&ring2, smem, ssize, cap, 8, 4) == RINGFORK_E_ALREADY_INITIALIZED);
    EXPECT(8, ringfork_spsc_attach(&ring2, smem, ssize, 8, 8, 0) == RINGFORK_E_LAYOUT_MISMATCH);
    EXPECT(9, ringfork_spsc_attach(&ring2, smem, ssize - 1, 8, 4, 0) == RINGFORK_E_TOO_SMALL);
    EXPECT(10, ringfork_spsc_attach(&ring2, smem, ssize, 8, 4, 0) == 0);
    ringfork_spsc_producer_t tx;
    ringfork_spsc_consumer_t rx;
    EXPECT(11, ringfork_spsc_producer(&ring, &tx) == 0 && ringfork_spsc_consumer(&ring2, &rx) == 0);
    for (uint32_t round = 0; round < 3; round++) {
        for (uint32_t i = 0; i < cap; i++) {
            struct rf_pair p = {round * 100 + i, (uint16_t)i, (uint16_t)round};
            EXPECT(12, ringfork_spsc_try_push(&tx, &p) == 0);
        }
        struct rf_pair extra = {0, 0, 0};
        EXPECT(13, ringfork_spsc_try_push(&tx, &extra) == RINGFORK_E_FULL);
        EXPECT(14, ringfork_spsc_len(&ring) == cap);
        for (uint32_t i = 0; i < cap; i++) {
            struct rf_pair p;
            EXPECT(15, ringfork_spsc_pop(&rx, &p, 1000000000LL) == 0);
            EXPECT(16, p.a == round * 100 + i && p.b == i && p.c == round);
        }
        struct rf_pair none;
        EXPECT(17, ringfork_spsc_try_pop(&rx, &none) == RINGFORK_E_EMPTY);
        EXPECT(18, ringfork_spsc_pop(&rx, &none, 1000000) == RINGFORK_E_TIMED_OUT);
    }
    EXPECT(19, ringfork_spsc_close(&ring) == 0);
    {
        struct rf_pair p = {1, 2, 3};
        EXPECT(20, ringfork_spsc_push(&tx, &p, -1) == RINGFORK_E_CLOSED);
        EXPECT(21, ringfork_spsc_pop(&rx, &p, -1) == RINGFORK_E_CLOSED);
    }
    EXPECT(22, ringfork_spsc_try_push((ringfork_spsc_producer_t *)0, &cap) == RINGFORK_E_INVALID_ARGUMENT);

    /* MPMC queue of uint64_t. */
    size_t qsize = ringfork_queue_size(3, 8, 8);
    unsigned char *qmem = rf_carve(&cur, end, qsize, ringfork_queue_align(8));
    EXPECT(30, qsize > 0 && qmem != 0);
    ringfork_queue_t q, q2;
    EXPECT(31, ringfork_queue_init(&q, qmem, qsize, 3, 8, 8) == 0);
    EXPECT(32, ringfork_queue_attach(&q2, qmem, qsize, 8, 8, 0) == 0);
    EXPECT(33, ringfork_spsc_attach(&ring2, qmem, qsize, 8, 8, 0) == RINGFORK_E_KIND_MISMATCH);
    for (uint64_t i = 0; i < 3; i++) EXPECT(34, ringfork_queue_put(&q, &i, 0) == 0);
    {
        uint64_t v = 9;
        EXPECT(35, ringfork_queue_put(&q, &v, 0) == RINGFORK_E_FULL);
        EXPECT(36, ringfork_queue_put(&q, &v, 1000000) == RINGFORK_E_TIMED_OUT);
        EXPECT(37, ringfork_queue_len(&q2) == 3);
        for (uint64_t i = 0; i < 3; i++) {
            EXPECT(38, ringfork_queue_get(&q2, &v, -1) == 0 && v == i);
        }
        EXPECT(39, ringfork_queue_get(&q2, &v, 0) == RINGFORK_E_EMPTY);
        EXPECT(40, ringfork_queue_close(&q) == 0 && ringfork_queue_get(&q2, &v, -1) == RINGFORK_E_CLOSED);
    }
    EXPECT(41, ringfork_queue_detach(&q) == 0 && ringfork_queue_detach(&q2) == 0);

    /* Byte ring. */
    size_t bsize = ringfork_bytering_size(256, 64);
    unsigned char *bmem = rf_carve(&cur, end, bsize, ringfork_bytering_align());
    EXPECT(50, bsize > 0 && bmem != 0);
    ringfork_bytering_t br, br2;
    ringfork_bytering_sender_t bs;
    ringfork_bytering_receiver_t brx;
    EXPECT(51, ringfork_bytering_init(&br, bmem, bsize, 256, 64) == 0);
    EXPECT(52, ringfork_bytering_attach(&br2, bmem, bsize, 0) == 0);
    EXPECT(53, ringfork_bytering_sender(&br, &bs) == 0 && ringfork_bytering_receiver(&br2, &brx) == 0);
    {
        static const char hello[] = "hello, rust";
        unsigned char big[65] = {0};
        unsigned char out[64];
        size_t n = 0;
        EXPECT(54, ringfork_bytering_send(&bs, hello, sizeof hello, 0) == 0);
        EXPECT(55, ringfork_bytering_send(&bs, (const void *)0, 0, -1) == 0);
        EXPECT(56, ringfork_bytering_send(&bs, big, sizeof big, 0) == RINGFORK_E_TOO_LARGE);
        EXPECT(57, ringfork_bytering_recv(&brx, out, 4, &n, 0) == RINGFORK_E_BUFFER_TOO_SMALL && n == sizeof hello);
        EXPECT(58, ringfork_bytering_recv(&brx, out, sizeof out, &n, -1) == 0 && n == sizeof hello);
        for (size_t i = 0; i < n; i++) EXPECT(59, out[i] == (unsigned char)hello[i]);
        EXPECT(60, ringfork_bytering_recv(&brx, out, sizeof out, &n, 0) == 0 && n == 0);
        EXPECT(61, ringfork_bytering_recv(&brx, out, sizeof out, &n, 0) == RINGFORK_E_EMPTY);
        EXPECT(62, ringfork_bytering_close(&br) == 0);
        EXPECT(63, ringfork_bytering_recv(&brx, out, sizeof out, &n, -1) == RINGFORK_E_CLOSED);
    }

    /* Robust mutex guarding a uint64_t, and a bare lock. */
    size_t msize = ringfork_mutex_size(8, 8);
    unsigned char *mmem = rf_carve(&cur, end, msize, ringfork_mutex_align(8));
    EXPECT(70, msize > 0 && mmem != 0);
    ringfork_mutex_t m, m2;
    EXPECT(71, ringfork_mutex_init(&m, mmem, msize, 8, 8) == 0);
    EXPECT(72, ringfork_mutex_attach(&m2, mmem, msize, 8, 8, 0) == 0);
    EXPECT(73, ringfork_mutex_lock(&m, -1) == RINGFORK_OK);
    EXPECT(74, ringfork_mutex_lock(&m2, 0) == RINGFORK_E_DEADLOCK);
    *(uint64_t *)ringfork_mutex_data(&m) += 5;
    EXPECT(75, ringfork_mutex_mark_consistent(&m) == RINGFORK_E_NOT_INCONSISTENT);
    EXPECT(76, ringfork_mutex_unlock(&m2) == 0);
    EXPECT(77, ringfork_mutex_unlock(&m) == RINGFORK_E_NOT_OWNER);
    EXPECT(78, *(uint64_t *)ringfork_mutex_data(&m2) == 5);
    size_t lsize = ringfork_mutex_size(0, 1);
    unsigned char *lmem = rf_carve(&cur, end, lsize, ringfork_mutex_align(1));
    ringfork_mutex_t lock;
    EXPECT(79, lsize > 0 && lmem != 0 && ringfork_mutex_init(&lock, lmem, lsize, 0, 1) == 0);
    EXPECT(80, ringfork_mutex_lock(&lock, 0) == 0 && ringfork_mutex_unlock(&lock) == 0);

    /* Locked value. */
    size_t vsize = ringfork_value_size(sizeof(struct rf_pair), _Alignof(struct rf_pair));
    unsigned char *vmem = rf_carve(&cur, end, vsize, ringfork_value_align(_Alignof(struct rf_pair)));
    EXPECT(90, vsize > 0 && vmem != 0);
    ringfork_value_t val;
    {
        struct rf_pair init = {7, 8, 9}, got = {0, 0, 0};
        EXPECT(91, ringfork_value_init(&val, vmem, vsize, &init, sizeof init, _Alignof(struct rf_pair)) == 0);
        EXPECT(92, ringfork_mutex_attach(&m2, vmem, vsize, sizeof init, 4, 0) == RINGFORK_E_KIND_MISMATCH);
        EXPECT(93, ringfork_value_get(&val, &got, -1) == 0 && got.a == 7 && got.b == 8 && got.c == 9);
        init.a = 70;
        EXPECT(94, ringfork_value_set(&val, &init, -1) == 0);
        EXPECT(95, ringfork_value_get(&val, &got, -1) == 0 && got.a == 70);
    }

    /* Semaphore, event, barrier. */
    unsigned char *semmem = rf_carve(&cur, end, ringfork_semaphore_size(), ringfork_semaphore_align());
    ringfork_semaphore_t sem;
    EXPECT(100, semmem != 0 && ringfork_semaphore_init(&sem, semmem, ringfork_semaphore_size(), 2, 1) == 0);
    EXPECT(101, ringfork_semaphore_acquire(&sem, 0) == 0 && ringfork_semaphore_acquire(&sem, -1) == 0);
    EXPECT(102, ringfork_semaphore_acquire(&sem, 1000000) == RINGFORK_E_TIMED_OUT);
    EXPECT(103, ringfork_semaphore_release(&sem, 2) == 0 && ringfork_semaphore_value(&sem) == 2);
    EXPECT(104, ringfork_semaphore_release(&sem, 1) == RINGFORK_E_OVERFLOW);

    unsigned char *evmem = rf_carve(&cur, end, ringfork_event_size(), ringfork_event_align());
    ringfork_event_t ev;
    EXPECT(110, evmem != 0 && ringfork_event_init(&ev, evmem, ringfork_event_size()) == 0);
    EXPECT(111, ringfork_event_is_set(&ev) == 0 && ringfork_event_wait(&ev, 1000000) == RINGFORK_E_TIMED_OUT);
    EXPECT(112, ringfork_event_set(&ev) == 0 && ringfork_event_wait(&ev, -1) == 0 && ringfork_event_is_set(&ev) == 1);
    EXPECT(113, ringfork_event_clear(&ev) == 0 && ringfork_event_is_set(&ev) == 0);

    unsigned char *bamem = rf_carve(&cur, end, ringfork_barrier_size(), ringfork_barrier_align());
    ringfork_barrier_t ba;
    EXPECT(120, bamem != 0 && ringfork_barrier_init(&ba, bamem, ringfork_barrier_size(), 1) == 0);
    EXPECT(121, ringfork_barrier_wait(&ba, -1) == 0);
    EXPECT(122, ringfork_barrier_abort(&ba) == 0 && ringfork_barrier_wait(&ba, 0) == RINGFORK_E_BROKEN);
    EXPECT(123, ringfork_barrier_reset(&ba) == 0 && ringfork_barrier_wait(&ba, 0) == 0);
    EXPECT(124, ringfork_barrier_init(&ba, bamem, ringfork_barrier_size(), 1) == RINGFORK_E_ALREADY_INITIALIZED);
    return 0;
}
#endif
