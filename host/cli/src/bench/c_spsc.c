/* The C side of the `c_spsc_vs_rust` bench row: the same busy single-item SPSC loops as the Rust
 * `spsc_u64` row, driven from C through the ringfork C ABI (core/capi/include/ringfork.h). */
#include "ringfork.h"

#if defined(__x86_64__) || defined(__i386__)
#define SPIN() __builtin_ia32_pause()
#else
#define SPIN() ((void)0)
#endif

/* Pushes 0 .. items-1 into the ring of uint64_t at `mem` (busy try_push). 0 = done. */
int rf_bench_c_produce(void *mem, size_t len, uint64_t items) {
    ringfork_spsc_t ring;
    ringfork_spsc_producer_t tx;
    if (ringfork_spsc_attach(&ring, mem, len, sizeof(uint64_t), _Alignof(uint64_t), -1) != 0) return 1;
    if (ringfork_spsc_producer(&ring, &tx) != 0) return 2;
    for (uint64_t i = 0; i < items;) {
        if (ringfork_spsc_try_push(&tx, &i) == 0) {
            i++;
        } else {
            SPIN();
        }
    }
    return 0;
}

/* Pops `items` values, checking they are 0, 1, 2, ... (busy try_pop). 0 = all in order. */
int rf_bench_c_consume(void *mem, size_t len, uint64_t items) {
    ringfork_spsc_t ring;
    ringfork_spsc_consumer_t rx;
    if (ringfork_spsc_attach(&ring, mem, len, sizeof(uint64_t), _Alignof(uint64_t), -1) != 0) return 1;
    if (ringfork_spsc_consumer(&ring, &rx) != 0) return 2;
    for (uint64_t expect = 0; expect < items;) {
        uint64_t v;
        if (ringfork_spsc_try_pop(&rx, &v) == 0) {
            if (v != expect) return 3;
            expect++;
        } else {
            SPIN();
        }
    }
    return 0;
}
