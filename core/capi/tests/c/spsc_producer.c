/* The C side of the interop test: creates the named segment argv[1] (or opens it with argv[3] = "open"),
 * places an SPSC ring of uint64_t called "ring" in it, and pushes 0 .. argv[2]-1 in order. */
#include "ringfork.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(call)                                                                          \
    do {                                                                                     \
        int32_t rc_ = (call);                                                                \
        if (rc_ < 0) {                                                                       \
            fprintf(stderr, "%s:%d: %s: %s\n", __FILE__, __LINE__, #call, ringfork_strerror(rc_)); \
            exit(1);                                                                         \
        }                                                                                    \
    } while (0)

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: %s SEGMENT COUNT\n", argv[0]);
        return 2;
    }
    const char *name = argv[1];
    uint64_t count = strtoull(argv[2], NULL, 10);
    size_t cap = 4096;
    size_t size = ringfork_spsc_size(cap, sizeof(uint64_t), _Alignof(uint64_t));
    ringfork_segment_t *seg;
    CHECK(ringfork_segment_create(name, size + 4096, &seg));
    void *mem;
    CHECK(ringfork_segment_alloc(seg, RINGFORK_KIND_SPSC, "ring", size, ringfork_spsc_align(_Alignof(uint64_t)), &mem));
    ringfork_spsc_t ring;
    CHECK(ringfork_spsc_init(&ring, mem, size, cap, sizeof(uint64_t), _Alignof(uint64_t)));
    ringfork_spsc_producer_t tx;
    CHECK(ringfork_spsc_producer(&ring, &tx));
    for (uint64_t i = 0; i < count; i++) {
        CHECK(ringfork_spsc_push(&tx, &i, 30LL * 1000 * 1000 * 1000));
    }
    CHECK(ringfork_spsc_close(&ring));
    CHECK(ringfork_segment_close(seg));
    return 0;
}
