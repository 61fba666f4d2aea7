/* The hosted self-test: every primitive in one process (selftest_body.h), then the named-segment
 * helpers. Run under valgrind by the tests (tests/interop.rs) and by CI. Exit 0 = all as expected. */
#include "selftest_body.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int main(void) {
    size_t len = 1 << 20;
    unsigned char *buf = aligned_alloc(4096, len);
    if (!buf) return 99;
    memset(buf, 0, len);
    int r = rf_selftest(buf, len);
    free(buf);
    if (r != 0) {
        fprintf(stderr, "selftest check %d failed\n", r);
        return r;
    }
    char name[64];
    snprintf(name, sizeof name, "/ringfork-capi-selftest-%d", (int)getpid());
    ringfork_segment_t *seg = NULL, *seg2 = NULL;
    void *mem = NULL, *found = NULL;
    size_t flen = 0;
    if (ringfork_segment_create(name, 65536, &seg) != 0) return 200;
    if (ringfork_segment_create(name, 65536, &seg2) != RINGFORK_E_EXISTS) return 201;
    if (ringfork_segment_alloc(seg, RINGFORK_KIND_EVENT, "ev", ringfork_event_size(), ringfork_event_align(), &mem) != 0)
        return 202;
    if (ringfork_segment_alloc(seg, RINGFORK_KIND_EVENT, "ev", ringfork_event_size(), 8, &mem) != RINGFORK_E_OBJECT_EXISTS)
        return 203;
    ringfork_event_t ev, ev2;
    if (ringfork_event_init(&ev, mem, ringfork_event_size()) != 0) return 204;
    if (ringfork_segment_open(name, &seg2) != 0) return 205;
    if (ringfork_segment_find(seg2, "ev", &found, &flen) != 0 || flen != ringfork_event_size()) return 206;
    if (ringfork_segment_find(seg2, "nope", &found, &flen) != RINGFORK_E_NO_SUCH_OBJECT) return 207;
    if (ringfork_event_attach(&ev2, found, flen, 0) != 0) return 208;
    if (ringfork_event_set(&ev) != 0 || ringfork_event_is_set(&ev2) != 1) return 209;
    if (ringfork_segment_len(seg) < 65536) return 210;
    if (ringfork_segment_close(seg2) != 0 || ringfork_segment_close(seg) != 0) return 211;
    if (ringfork_segment_unlink(name) != 0) return 212;
    if (ringfork_segment_open(name, &seg2) != RINGFORK_E_NOT_FOUND) return 213;
    if (ringfork_segment_unlink("a/b") != RINGFORK_E_INVALID_NAME) return 214;
    printf("selftest ok\n");
    return 0;
}
