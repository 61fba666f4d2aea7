/* Opens segment argv[1], attaches the ringfork::Mutex<u64> called "m" whose holder (a Rust process) was
 * killed holding it: the lock must report RINGFORK_OWNER_DIED with the data the holder wrote (argv[2]),
 * then work normally once marked consistent. Exit 0 = all as expected. */
#include "ringfork.h"
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv) {
    if (argc < 3) return 2;
    uint64_t expected = strtoull(argv[2], NULL, 10);
    ringfork_segment_t *seg;
    void *mem;
    size_t len;
    ringfork_mutex_t m;
    if (ringfork_segment_open(argv[1], &seg) != 0) return 10;
    if (ringfork_segment_find(seg, "m", &mem, &len) != 0) return 11;
    if (ringfork_mutex_attach(&m, mem, len, sizeof(uint64_t), _Alignof(uint64_t), 2000000000LL) != 0) return 12;
    int32_t rc = ringfork_mutex_lock(&m, 10LL * 1000 * 1000 * 1000);
    if (rc != RINGFORK_OWNER_DIED) {
        fprintf(stderr, "lock: %d (%s), expected RINGFORK_OWNER_DIED\n", rc, ringfork_strerror(rc));
        return 13;
    }
    uint64_t *data = ringfork_mutex_data(&m);
    if (*data != expected) {
        fprintf(stderr, "data %llu, expected %llu\n", (unsigned long long)*data, (unsigned long long)expected);
        return 14;
    }
    *data = 7; /* repaired */
    if (ringfork_mutex_mark_consistent(&m) != 0) return 15;
    if (ringfork_mutex_unlock(&m) != 0) return 16;
    if (ringfork_mutex_lock(&m, 0) != RINGFORK_OK) return 17;
    if (ringfork_mutex_mark_consistent(&m) != RINGFORK_E_NOT_INCONSISTENT) return 18;
    if (ringfork_mutex_unlock(&m) != 0) return 19;
    ringfork_segment_close(seg);
    return 0;
}
