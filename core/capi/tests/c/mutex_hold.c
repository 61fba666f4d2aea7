/* Opens segment argv[1], attaches the ringfork::Mutex<u64> called "m", locks it, stores 42 in its data,
 * prints "locked" and waits to be killed (the test SIGKILLs it while it holds the lock). */
#include "ringfork.h"
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc < 2) return 2;
    ringfork_segment_t *seg;
    void *mem;
    size_t len;
    ringfork_mutex_t m;
    if (ringfork_segment_open(argv[1], &seg) != 0) return 10;
    if (ringfork_segment_find(seg, "m", &mem, &len) != 0) return 11;
    if (ringfork_mutex_attach(&m, mem, len, sizeof(uint64_t), _Alignof(uint64_t), 2000000000LL) != 0) return 12;
    if (ringfork_mutex_lock(&m, -1) != RINGFORK_OK) return 13;
    *(volatile uint64_t *)ringfork_mutex_data(&m) = 42;
    printf("locked\n");
    fflush(stdout);
    for (;;) pause();
}
