/*
 * ringfork.h - the C ABI of ringfork-core (library: libringfork_c.a / libringfork_c.so).
 *
 * Shared-memory rings, robust locks, semaphores, events, barriers and values that a C process and a
 * Rust process (the `ringfork` crate) use together: the objects have the layouts of docs/layout.md,
 * and every attach validates the object header (magic, ABI version, kind, element layout) as the
 * Rust side does. See docs/c.md for a complete example.
 *
 * Model
 *   An object lives in memory the caller provides: a named segment (ringfork_segment_*, std builds
 *   only) or any memory the caller mapped itself (shm_open + mmap, a memfd, ...). One process
 *   initializes it (ringfork_X_init, into zeroed memory of ringfork_X_size bytes aligned to
 *   ringfork_X_align), the others attach (ringfork_X_attach). Handles (ringfork_X_t) are opaque
 *   structs the caller allocates anywhere but in the shared memory; they hold pointers into the
 *   memory, so they are valid while it stays mapped, and are local to a process.
 *
 * Return values
 *   0 (RINGFORK_OK) or a non-negative result: success. RINGFORK_OWNER_DIED (1): success, but the lock
 *   was taken over from an owner that died holding it. Negative: a RINGFORK_E_* code;
 *   ringfork_strerror() describes it.
 *
 * Timeouts
 *   Blocking calls take timeout_ns: nanoseconds to wait, -1 (any negative value) = forever,
 *   0 = try once.
 *
 * Contract
 *   Pointers are valid (a null one is rejected with RINGFORK_E_INVALID_ARGUMENT), element buffers hold
 *   the element size, handles come from the matching init/attach. Whatever another process writes into
 *   the shared memory is never trusted. A ring has one producer and one consumer at a time (SPSC,
 *   byte ring); a queue any number. A panic inside the library aborts the process: nothing unwinds
 *   into C. The library needs no C library when built without its `std` feature (no segments then).
 */
#ifndef RINGFORK_H
#define RINGFORK_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The shared-memory ABI version these functions speak (also: ringfork_abi_version()). */
#define RINGFORK_ABI_VERSION 4

/* ---- Return codes ------------------------------------------------------------------------------ */

#define RINGFORK_OK 0                       /* success */
#define RINGFORK_OWNER_DIED 1               /* locked, but the previous owner died holding the lock */
#define RINGFORK_E_INVALID_ARGUMENT (-1)    /* null pointer, non-UTF-8 name, unfitting handle */
#define RINGFORK_E_TOO_SMALL (-2)           /* the memory is smaller than the object needs */
#define RINGFORK_E_MISALIGNED (-3)          /* the memory is not aligned as the object needs */
#define RINGFORK_E_BAD_MAGIC (-4)           /* not a ringfork object */
#define RINGFORK_E_VERSION_MISMATCH (-5)    /* created by an incompatible ABI version */
#define RINGFORK_E_WORD_WIDTH_MISMATCH (-6) /* created by a build with other atomics (32/64-bit) */
#define RINGFORK_E_KIND_MISMATCH (-7)       /* another kind of primitive */
#define RINGFORK_E_LAYOUT_MISMATCH (-8)     /* element size/alignment or flags differ */
#define RINGFORK_E_NOT_READY (-9)           /* not initialized before the attach timeout */
#define RINGFORK_E_CORRUPTED (-10)          /* shared state overwritten by some process */
#define RINGFORK_E_ALREADY_INITIALIZED (-11) /* init on memory that holds an object */
#define RINGFORK_E_INVALID_PARAMETER (-12)  /* capacity 0, bad alignment, ... */
#define RINGFORK_E_FULL (-13)               /* non-blocking push on a full ring */
#define RINGFORK_E_EMPTY (-14)              /* non-blocking pop on an empty ring */
#define RINGFORK_E_TIMED_OUT (-15)          /* the timeout passed */
#define RINGFORK_E_CLOSED (-16)             /* the ring is closed (and, for a pop, drained) */
#define RINGFORK_E_DISCONNECTED (-17)       /* every process on the other side is gone */
#define RINGFORK_E_TOO_LARGE (-18)          /* message above the limit / not the element size */
#define RINGFORK_E_BUFFER_TOO_SMALL (-19)   /* output buffer smaller than the next message */
#define RINGFORK_E_NOT_RECOVERABLE (-20)    /* mutex unlocked after an owner died, not repaired */
#define RINGFORK_E_DEADLOCK (-21)           /* the calling thread already holds the lock */
#define RINGFORK_E_NOT_OWNER (-22)          /* the calling thread does not hold the lock */
#define RINGFORK_E_NOT_INCONSISTENT (-23)   /* mark_consistent without an owner death */
#define RINGFORK_E_OVERFLOW (-24)           /* semaphore released past its bound */
#define RINGFORK_E_BROKEN (-25)             /* barrier broken */
#define RINGFORK_E_OS (-26)                 /* an operating-system call failed */
#define RINGFORK_E_EXISTS (-27)             /* a segment of that name exists */
#define RINGFORK_E_NOT_FOUND (-28)          /* no segment of that name */
#define RINGFORK_E_INVALID_NAME (-29)       /* bad segment or object name */
#define RINGFORK_E_NO_SUCH_OBJECT (-30)     /* no object of that name in the segment */
#define RINGFORK_E_OBJECT_EXISTS (-31)      /* an object of that name exists in the segment */
#define RINGFORK_E_NO_SPACE (-32)           /* the segment has no room (or directory entry) left */
#define RINGFORK_E_SIZE_CHANGED (-33)       /* the segment file was resized under its users */
#define RINGFORK_E_UNSAFE (-34)             /* the segment file is not a regular file of ours */
#define RINGFORK_E_UNSUPPORTED (-35)        /* not in this build (no std: no segments) */

/* Returns a static, NUL-terminated description of any code (never NULL, never to be freed). */
const char *ringfork_strerror(int32_t code);

/* Returns the shared-memory ABI version of the library (RINGFORK_ABI_VERSION). */
uint32_t ringfork_abi_version(void);

/* ---- Object kinds (the `kind` of ringfork_segment_alloc; docs/layout.md, "Kinds") -------------- */

#define RINGFORK_KIND_MUTEX 1
#define RINGFORK_KIND_SEMAPHORE 4
#define RINGFORK_KIND_EVENT 5
#define RINGFORK_KIND_BARRIER 7
#define RINGFORK_KIND_VALUE 8
#define RINGFORK_KIND_SPSC 10
#define RINGFORK_KIND_BYTERING 12
#define RINGFORK_KIND_QUEUE 13

/* ---- Opaque handles (allocate them anywhere but in the shared memory) -------------------------- */

typedef struct ringfork_spsc { uint64_t _opaque[16]; } ringfork_spsc_t;
typedef struct ringfork_spsc_producer { uint64_t _opaque[16]; } ringfork_spsc_producer_t;
typedef struct ringfork_spsc_consumer { uint64_t _opaque[16]; } ringfork_spsc_consumer_t;
typedef struct ringfork_queue { uint64_t _opaque[16]; } ringfork_queue_t;
typedef struct ringfork_bytering { uint64_t _opaque[8]; } ringfork_bytering_t;
typedef struct ringfork_bytering_sender { uint64_t _opaque[8]; } ringfork_bytering_sender_t;
typedef struct ringfork_bytering_receiver { uint64_t _opaque[8]; } ringfork_bytering_receiver_t;
typedef struct ringfork_mutex { uint64_t _opaque[8]; } ringfork_mutex_t;
typedef struct ringfork_value { uint64_t _opaque[8]; } ringfork_value_t;
typedef struct ringfork_semaphore { uint64_t _opaque[4]; } ringfork_semaphore_t;
typedef struct ringfork_event { uint64_t _opaque[4]; } ringfork_event_t;
typedef struct ringfork_barrier { uint64_t _opaque[4]; } ringfork_barrier_t;
/* An open named segment (std builds); only ever used through a pointer. */
typedef struct ringfork_segment ringfork_segment_t;

/* ---- Named segments (std builds only) ---------------------------------------------------------- */
/* Exactly what `ringfork::Segment` makes: POSIX shm_open (mode 0600) with the ringfork segment header
 * (attacher registry, object directory). Names: one path component, at most 200 bytes ("/x" or "x").
 * Object names: UTF-8, at most 40 bytes, unique within a segment. */

/* Creates the segment `name` with at least `len` usable bytes (fails with RINGFORK_E_EXISTS if the
 * name is taken) and maps it; *out receives the handle (free it with ringfork_segment_close). */
int32_t ringfork_segment_create(const char *name, size_t len, ringfork_segment_t **out);

/* Opens and maps the existing segment `name`, validating its header and size (a regular file owned by
 * the caller only; waits up to 2 s for a segment still being created). */
int32_t ringfork_segment_open(const char *name, ringfork_segment_t **out);

/* Unmaps the segment and frees the handle. Every object handle made in it becomes invalid. */
int32_t ringfork_segment_close(ringfork_segment_t *seg);

/* Removes the name (existing mappings stay valid until closed). */
int32_t ringfork_segment_unlink(const char *name);

/* Returns the mapping length in bytes (0 for NULL). */
size_t ringfork_segment_len(const ringfork_segment_t *seg);

/* Reserves `size` bytes aligned to `align` (<= 4096) for an object of kind `kind` (RINGFORK_KIND_*)
 * called `name`; *mem receives its zeroed memory, to pass to ringfork_X_init. Names are unique:
 * RINGFORK_E_OBJECT_EXISTS if taken. */
int32_t ringfork_segment_alloc(const ringfork_segment_t *seg, uint32_t kind, const char *name, size_t size,
                               size_t align, void **mem);

/* Finds the object called `name`: *mem and *len receive its memory and size (bounds-checked), to pass
 * to ringfork_X_attach. RINGFORK_E_NO_SUCH_OBJECT if there is none. */
int32_t ringfork_segment_find(const ringfork_segment_t *seg, const char *name, void **mem, size_t *len);

/* ---- SPSC ring of fixed-size elements (kind 10; Rust: ringfork_core::queue::spsc::Spsc<T>) ----- */
/* One producer and one consumer at a time. A committed element is never lost; an element a consumer
 * was reading when it died is delivered again to the next consumer. */

/* Returns the bytes a ring of `capacity` elements of `elem_size` bytes aligned to `elem_align` needs
 * (0 if invalid: capacity 0 or >= 2^31, alignment not a power of two up to 4096, size not a
 * multiple of the alignment). */
size_t ringfork_spsc_size(size_t capacity, size_t elem_size, size_t elem_align);

/* Returns the alignment the ring's memory needs (0 if elem_align is invalid). */
size_t ringfork_spsc_align(size_t elem_align);

/* Creates a ring in `mem` (`len` bytes, zeroed) and fills *ring. */
int32_t ringfork_spsc_init(ringfork_spsc_t *ring, void *mem, size_t len, size_t capacity, size_t elem_size,
                           size_t elem_align);

/* Attaches to the ring in `mem`, waiting up to timeout_ns for it to be ready; the element size and
 * alignment must be the ring's (RINGFORK_E_LAYOUT_MISMATCH otherwise). */
int32_t ringfork_spsc_attach(ringfork_spsc_t *ring, void *mem, size_t len, size_t elem_size, size_t elem_align,
                             int64_t timeout_ns);

/* Fills *producer with the ring's writing end (starting after any element a killed producer
 * committed). */
int32_t ringfork_spsc_producer(ringfork_spsc_t *ring, ringfork_spsc_producer_t *producer);

/* Fills *consumer with the ring's reading end. */
int32_t ringfork_spsc_consumer(ringfork_spsc_t *ring, ringfork_spsc_consumer_t *consumer);

/* Pushes the element at `elem` (elem_size bytes) if there is room: 0 or RINGFORK_E_FULL. Never blocks
 * and wakes nobody (call ringfork_spsc_notify_consumer after a batch if the consumer may sleep). */
int32_t ringfork_spsc_try_push(ringfork_spsc_producer_t *producer, const void *elem);

/* Pushes the element, waiting up to timeout_ns for room (RINGFORK_E_TIMED_OUT; RINGFORK_E_CLOSED if
 * the ring is closed or every registered consumer died), and wakes a sleeping consumer. */
int32_t ringfork_spsc_push(ringfork_spsc_producer_t *producer, const void *elem, int64_t timeout_ns);

/* Wakes a consumer sleeping in ringfork_spsc_pop. */
int32_t ringfork_spsc_notify_consumer(ringfork_spsc_producer_t *producer);

/* Pops the oldest element into `out` (elem_size bytes) if there is one: 0 or RINGFORK_E_EMPTY. */
int32_t ringfork_spsc_try_pop(ringfork_spsc_consumer_t *consumer, void *out);

/* Pops the oldest element, waiting up to timeout_ns (RINGFORK_E_TIMED_OUT; RINGFORK_E_CLOSED once a
 * closed ring is drained), and wakes a sleeping producer. */
int32_t ringfork_spsc_pop(ringfork_spsc_consumer_t *consumer, void *out, int64_t timeout_ns);

/* Wakes a producer sleeping in ringfork_spsc_push. */
int32_t ringfork_spsc_notify_producer(ringfork_spsc_consumer_t *consumer);

/* Returns the number of elements in the ring at some instant (0 for NULL). */
size_t ringfork_spsc_len(ringfork_spsc_t *ring);

/* Closes the ring: pushes fail with RINGFORK_E_CLOSED; pops drain, then fail with it. Wakes all. */
int32_t ringfork_spsc_close(ringfork_spsc_t *ring);

/* ---- MPMC queue of fixed-size elements (kind 13; Rust: ringfork::Queue<T>) --------------------- */
/* Any number of producers and consumers. A handle registers the calling process as a holder of both
 * sides (so a peer's blocking get learns of its death); release it with ringfork_queue_detach. */

/* Returns the bytes a queue of `capacity` elements needs (0 if invalid). */
size_t ringfork_queue_size(size_t capacity, size_t elem_size, size_t elem_align);

/* Returns the alignment the queue's memory needs (0 if invalid). */
size_t ringfork_queue_align(size_t elem_align);

/* Creates a queue in `mem` and fills *queue (registered as a holder). */
int32_t ringfork_queue_init(ringfork_queue_t *queue, void *mem, size_t len, size_t capacity, size_t elem_size,
                            size_t elem_align);

/* Attaches to the queue in `mem` (element size and alignment validated) and registers as a holder. */
int32_t ringfork_queue_attach(ringfork_queue_t *queue, void *mem, size_t len, size_t elem_size, size_t elem_align,
                              int64_t timeout_ns);

/* Releases this handle's registration (once per init/attach, before the memory is unmapped). */
int32_t ringfork_queue_detach(ringfork_queue_t *queue);

/* Puts the element at `elem`, waiting up to timeout_ns for room (0: RINGFORK_E_FULL if full). */
int32_t ringfork_queue_put(ringfork_queue_t *queue, const void *elem, int64_t timeout_ns);

/* Gets the oldest element into `out`, waiting up to timeout_ns (0: RINGFORK_E_EMPTY if empty);
 * RINGFORK_E_DISCONNECTED once every other holder died and the queue is empty. */
int32_t ringfork_queue_get(ringfork_queue_t *queue, void *out, int64_t timeout_ns);

/* Returns the number of elements at some instant (0 for NULL). */
size_t ringfork_queue_len(ringfork_queue_t *queue);

/* Closes the queue: puts fail with RINGFORK_E_CLOSED; gets drain, then fail with it. */
int32_t ringfork_queue_close(ringfork_queue_t *queue);

/* ---- Byte ring: variable-size messages (kind 12; Rust: ringfork_core::queue::bytering) --------- */
/* One sender and one receiver at a time. */

/* Returns the bytes a ring of `capacity` data bytes with messages up to msg_limit bytes needs (0 if
 * invalid). */
size_t ringfork_bytering_size(size_t capacity, size_t msg_limit);

/* Returns the alignment the byte ring's memory needs. */
size_t ringfork_bytering_align(void);

/* Creates a byte ring in `mem`. */
int32_t ringfork_bytering_init(ringfork_bytering_t *ring, void *mem, size_t len, size_t capacity, size_t msg_limit);

/* Attaches to the byte ring in `mem`. */
int32_t ringfork_bytering_attach(ringfork_bytering_t *ring, void *mem, size_t len, int64_t timeout_ns);

/* Fills *sender with the ring's sending end. */
int32_t ringfork_bytering_sender(ringfork_bytering_t *ring, ringfork_bytering_sender_t *sender);

/* Fills *receiver with the ring's receiving end. */
int32_t ringfork_bytering_receiver(ringfork_bytering_t *ring, ringfork_bytering_receiver_t *receiver);

/* Sends the `len` bytes at `msg` (NULL allowed when len is 0), waiting up to timeout_ns for room;
 * RINGFORK_E_TOO_LARGE above the ring's message limit. */
int32_t ringfork_bytering_send(ringfork_bytering_sender_t *sender, const void *msg, size_t len, int64_t timeout_ns);

/* Receives the next message into `buf` (`cap` bytes) and stores its length in *len, waiting up to
 * timeout_ns. A message longer than `cap` stays queued: RINGFORK_E_BUFFER_TOO_SMALL, *len = its
 * length. */
int32_t ringfork_bytering_recv(ringfork_bytering_receiver_t *receiver, void *buf, size_t cap, size_t *len,
                               int64_t timeout_ns);

/* Closes the byte ring. */
int32_t ringfork_bytering_close(ringfork_bytering_t *ring);

/* ---- Robust mutex guarding data (kind 1; Rust: ringfork::Mutex<T>, ringfork::Lock = no data) --- */
/* If the owner dies holding the lock, the next locker gets RINGFORK_OWNER_DIED and holds the lock: it
 * repairs the data and calls ringfork_mutex_mark_consistent before unlocking; unlocking without that
 * makes the mutex RINGFORK_E_NOT_RECOVERABLE for everyone (pthread robust-mutex semantics). */

/* Returns the bytes a mutex guarding `data_size` bytes aligned to `data_align` needs (0 if invalid;
 * 0 and 1 for a bare lock). */
size_t ringfork_mutex_size(size_t data_size, size_t data_align);

/* Returns the alignment the mutex's memory needs (0 if invalid). */
size_t ringfork_mutex_align(size_t data_align);

/* Creates an unlocked mutex in `mem` with zeroed data. */
int32_t ringfork_mutex_init(ringfork_mutex_t *mutex, void *mem, size_t len, size_t data_size, size_t data_align);

/* Attaches to the mutex in `mem` (data size and alignment validated). */
int32_t ringfork_mutex_attach(ringfork_mutex_t *mutex, void *mem, size_t len, size_t data_size, size_t data_align,
                              int64_t timeout_ns);

/* Locks, waiting up to timeout_ns: RINGFORK_OK, RINGFORK_OWNER_DIED (locked; repair, then
 * mark_consistent), RINGFORK_E_TIMED_OUT, RINGFORK_E_NOT_RECOVERABLE or RINGFORK_E_DEADLOCK. */
int32_t ringfork_mutex_lock(ringfork_mutex_t *mutex, int64_t timeout_ns);

/* Unlocks (RINGFORK_E_NOT_OWNER unless the calling thread holds the lock). */
int32_t ringfork_mutex_unlock(ringfork_mutex_t *mutex);

/* Declares the data repaired after RINGFORK_OWNER_DIED (the caller holds the lock);
 * RINGFORK_E_NOT_INCONSISTENT if the owner did not die. */
int32_t ringfork_mutex_mark_consistent(ringfork_mutex_t *mutex);

/* Returns the guarded data (data_size bytes aligned to data_align): touch it only while holding the
 * lock. NULL for NULL. */
void *ringfork_mutex_data(ringfork_mutex_t *mutex);

/* ---- Locked value (kind 8; Rust: ringfork::Value<T>) ------------------------------------------- */

/* Returns the bytes a value of `size` bytes aligned to `align` needs (0 if invalid). */
size_t ringfork_value_size(size_t size, size_t align);

/* Returns the alignment the value's memory needs (0 if invalid). */
size_t ringfork_value_align(size_t align);

/* Creates a value in `mem` holding the `size` bytes at `init`. */
int32_t ringfork_value_init(ringfork_value_t *value, void *mem, size_t len, const void *init, size_t size,
                            size_t align);

/* Attaches to the value in `mem` (size and alignment validated). */
int32_t ringfork_value_attach(ringfork_value_t *value, void *mem, size_t len, size_t size, size_t align,
                              int64_t timeout_ns);

/* Copies the value into `out` under its lock, waiting up to timeout_ns for the lock. RINGFORK_OWNER_DIED
 * (reported once): a writer died mid-update, the value is what it left, and the lock works again. */
int32_t ringfork_value_get(ringfork_value_t *value, void *out, int64_t timeout_ns);

/* Stores the bytes at `src` into the value under its lock (RINGFORK_OWNER_DIED as for get). */
int32_t ringfork_value_set(ringfork_value_t *value, const void *src, int64_t timeout_ns);

/* ---- Semaphore (kind 4; Rust: ringfork::Semaphore / BoundedSemaphore) -------------------------- */

/* Returns the bytes a semaphore needs. */
size_t ringfork_semaphore_size(void);

/* Returns the alignment a semaphore's memory needs. */
size_t ringfork_semaphore_align(void);

/* Creates a semaphore with `value` permits (< 2^31); bounded != 0: releases past `value` fail. */
int32_t ringfork_semaphore_init(ringfork_semaphore_t *sem, void *mem, size_t len, uint32_t value, int32_t bounded);

/* Attaches to the semaphore in `mem`. */
int32_t ringfork_semaphore_attach(ringfork_semaphore_t *sem, void *mem, size_t len, int64_t timeout_ns);

/* Takes a permit, waiting up to timeout_ns (RINGFORK_E_TIMED_OUT). */
int32_t ringfork_semaphore_acquire(ringfork_semaphore_t *sem, int64_t timeout_ns);

/* Returns `n` permits (RINGFORK_E_OVERFLOW past the bound). */
int32_t ringfork_semaphore_release(ringfork_semaphore_t *sem, uint32_t n);

/* Returns the number of permits at some instant (0 for NULL). */
uint32_t ringfork_semaphore_value(ringfork_semaphore_t *sem);

/* ---- Event (kind 5; Rust: ringfork::Event) ----------------------------------------------------- */

/* Returns the bytes an event needs. */
size_t ringfork_event_size(void);

/* Returns the alignment an event's memory needs. */
size_t ringfork_event_align(void);

/* Creates a clear event in `mem`. */
int32_t ringfork_event_init(ringfork_event_t *ev, void *mem, size_t len);

/* Attaches to the event in `mem`. */
int32_t ringfork_event_attach(ringfork_event_t *ev, void *mem, size_t len, int64_t timeout_ns);

/* Sets the event and wakes every waiter. */
int32_t ringfork_event_set(ringfork_event_t *ev);

/* Clears the event. */
int32_t ringfork_event_clear(ringfork_event_t *ev);

/* Returns 1 if the event is set, else 0 (0 for NULL). */
int32_t ringfork_event_is_set(ringfork_event_t *ev);

/* Waits up to timeout_ns for the event to be set (RINGFORK_E_TIMED_OUT). */
int32_t ringfork_event_wait(ringfork_event_t *ev, int64_t timeout_ns);

/* ---- Barrier (kind 7; Rust: ringfork::Barrier) ------------------------------------------------- */

/* Returns the bytes a barrier needs. */
size_t ringfork_barrier_size(void);

/* Returns the alignment a barrier's memory needs. */
size_t ringfork_barrier_align(void);

/* Creates a barrier for `parties` (>= 1) participants in `mem`. */
int32_t ringfork_barrier_init(ringfork_barrier_t *b, void *mem, size_t len, uint32_t parties);

/* Attaches to the barrier in `mem`. */
int32_t ringfork_barrier_attach(ringfork_barrier_t *b, void *mem, size_t len, int64_t timeout_ns);

/* Waits up to timeout_ns for every party: returns this party's arrival index (0 .. parties - 1), or
 * RINGFORK_E_BROKEN (aborted, reset, or a party timed out: a timeout breaks the barrier). */
int32_t ringfork_barrier_wait(ringfork_barrier_t *b, int64_t timeout_ns);

/* Breaks the barrier: current and future waiters get RINGFORK_E_BROKEN until a reset. */
int32_t ringfork_barrier_abort(ringfork_barrier_t *b);

/* Returns the barrier to its initial state (current waiters get RINGFORK_E_BROKEN). */
int32_t ringfork_barrier_reset(ringfork_barrier_t *b);

#ifdef __cplusplus
}
#endif

#endif /* RINGFORK_H */
