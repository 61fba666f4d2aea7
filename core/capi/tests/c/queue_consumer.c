/* The C side of the Rust -> C queue test: opens segment argv[1], attaches the ringfork::Queue<u64> called
 * "queue", gets argv[2] values and checks they are 0, 1, 2, ... (one Rust producer), then exits 0. */
#include "ringfork.h"
#include <stdio.h>
#include <stdlib.h>

#define CHECK(call)                                                                          \
    do {                                                                                     \
        int32_t rc_ = (call);                                                                \
        if (rc_ < 0) {                                                                       \
            fprintf(stderr, "%s:%d: %s: %s\n", __FILE__, __LINE__, #call, ringfork_strerror(rc_)); \
            exit(1);                                                                         \
        }                                                                                    \
    } while (0)

int main(int argc, char **argv) {
    if (argc < 3) return 2;
    uint64_t count = strtoull(argv[2], NULL, 10);
    ringfork_segment_t *seg;
    CHECK(ringfork_segment_open(argv[1], &seg));
    void *mem;
    size_t len;
    CHECK(ringfork_segment_find(seg, "queue", &mem, &len));
    ringfork_queue_t q;
    /* The wrong element type is refused with a typed error, not misread. */
    int32_t rc = ringfork_queue_attach(&q, mem, len, sizeof(uint32_t), _Alignof(uint32_t), 0);
    if (rc != RINGFORK_E_LAYOUT_MISMATCH) {
        fprintf(stderr, "attach with the wrong element size gave %d\n", rc);
        return 3;
    }
    CHECK(ringfork_queue_attach(&q, mem, len, sizeof(uint64_t), _Alignof(uint64_t), 2000000000LL));
    for (uint64_t i = 0; i < count; i++) {
        uint64_t v = ~(uint64_t)0;
        CHECK(ringfork_queue_get(&q, &v, 30LL * 1000 * 1000 * 1000));
        if (v != i) {
            fprintf(stderr, "got %llu, expected %llu\n", (unsigned long long)v, (unsigned long long)i);
            return 4;
        }
    }
    CHECK(ringfork_queue_detach(&q));
    CHECK(ringfork_segment_close(seg));
    return 0;
}
