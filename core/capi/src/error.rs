//! Return codes: `0` success, [`RINGFORK_OWNER_DIED`] (positive: success, the lock was taken over
//! from a dead owner), negative: an error, one code per typed error of the core (and of the segment
//! layer), each with a static message from [`ringfork_strerror`].

use ringfork_core::queue::{PopError, PushError};
use ringfork_core::sync::{BarrierError, LockError, SemaphoreError, UnlockError};
use ringfork_core::{AttachError, InitError};

/// Success.
pub const RINGFORK_OK: i32 = 0;
/// Success, but the previous owner of the lock died holding it: the data may be half updated.
pub const RINGFORK_OWNER_DIED: i32 = 1;
/// A null pointer, a name that is not UTF-8, or a handle that does not fit the call.
pub const RINGFORK_E_INVALID_ARGUMENT: i32 = -1;
/// The memory is smaller than the object needs (or than its header claims).
pub const RINGFORK_E_TOO_SMALL: i32 = -2;
/// The memory is not aligned as the object needs.
pub const RINGFORK_E_MISALIGNED: i32 = -3;
/// Not a ringfork object (bad magic number).
pub const RINGFORK_E_BAD_MAGIC: i32 = -4;
/// Created by an incompatible ringfork ABI version.
pub const RINGFORK_E_VERSION_MISMATCH: i32 = -5;
/// Created by a build with another word width (32- vs 64-bit atomics).
pub const RINGFORK_E_WORD_WIDTH_MISMATCH: i32 = -6;
/// The object is another kind of primitive.
pub const RINGFORK_E_KIND_MISMATCH: i32 = -7;
/// A layout parameter differs (element size or alignment, flags, size).
pub const RINGFORK_E_LAYOUT_MISMATCH: i32 = -8;
/// The object did not become ready before the attach timeout.
pub const RINGFORK_E_NOT_READY: i32 = -9;
/// The shared state is corrupted (a process wrote over it).
pub const RINGFORK_E_CORRUPTED: i32 = -10;
/// `init` on memory that already holds an object.
pub const RINGFORK_E_ALREADY_INITIALIZED: i32 = -11;
/// A parameter is out of range (capacity 0, a bad alignment, ...).
pub const RINGFORK_E_INVALID_PARAMETER: i32 = -12;
/// The ring is full (non-blocking push).
pub const RINGFORK_E_FULL: i32 = -13;
/// The ring is empty (non-blocking pop).
pub const RINGFORK_E_EMPTY: i32 = -14;
/// The timeout passed.
pub const RINGFORK_E_TIMED_OUT: i32 = -15;
/// The ring is closed.
pub const RINGFORK_E_CLOSED: i32 = -16;
/// Every process on the other side of the ring is gone.
pub const RINGFORK_E_DISCONNECTED: i32 = -17;
/// The message or element has the wrong size (larger than the limit, or not the element size).
pub const RINGFORK_E_TOO_LARGE: i32 = -18;
/// The output buffer is smaller than the message.
pub const RINGFORK_E_BUFFER_TOO_SMALL: i32 = -19;
/// The mutex is not recoverable (unlocked after an owner died, without `mark_consistent`).
pub const RINGFORK_E_NOT_RECOVERABLE: i32 = -20;
/// The calling thread already holds this (non-reentrant) lock.
pub const RINGFORK_E_DEADLOCK: i32 = -21;
/// The calling thread does not hold the lock.
pub const RINGFORK_E_NOT_OWNER: i32 = -22;
/// `mark_consistent` on a lock whose owner did not die.
pub const RINGFORK_E_NOT_INCONSISTENT: i32 = -23;
/// A semaphore release past its bound.
pub const RINGFORK_E_OVERFLOW: i32 = -24;
/// The barrier is broken.
pub const RINGFORK_E_BROKEN: i32 = -25;
/// An operating-system call failed (shm_open, mmap, ...).
pub const RINGFORK_E_OS: i32 = -26;
/// A segment of that name exists already.
pub const RINGFORK_E_EXISTS: i32 = -27;
/// No segment of that name.
pub const RINGFORK_E_NOT_FOUND: i32 = -28;
/// The segment or object name is not valid.
pub const RINGFORK_E_INVALID_NAME: i32 = -29;
/// No object of that name in the segment.
pub const RINGFORK_E_NO_SUCH_OBJECT: i32 = -30;
/// An object of that name exists already in the segment.
pub const RINGFORK_E_OBJECT_EXISTS: i32 = -31;
/// The segment has no room (or no directory entry) left for the object.
pub const RINGFORK_E_NO_SPACE: i32 = -32;
/// The segment file's size changed under its users.
pub const RINGFORK_E_SIZE_CHANGED: i32 = -33;
/// The segment file is not a regular file owned by the caller.
pub const RINGFORK_E_UNSAFE: i32 = -34;
/// The operation is not available in this build (no `std`: no named segments).
pub const RINGFORK_E_UNSUPPORTED: i32 = -35;

/// Every code with its message, in code order (the table `ringfork_strerror` reads, and the list the
/// header test checks `ringfork.h` against).
pub const CODES: &[(&str, i32, &str)] = &[
    ("RINGFORK_OK", RINGFORK_OK, "success\0"),
    ("RINGFORK_OWNER_DIED", RINGFORK_OWNER_DIED,
     "success, but the previous owner died holding the lock: the data may be half updated; repair it and call mark_consistent before unlocking\0"),
    ("RINGFORK_E_INVALID_ARGUMENT", RINGFORK_E_INVALID_ARGUMENT,
     "invalid argument: a null pointer, a name that is not UTF-8, or a handle that does not fit the call\0"),
    ("RINGFORK_E_TOO_SMALL", RINGFORK_E_TOO_SMALL,
     "memory too small: the object needs more bytes than the region has; check the size function and the region length\0"),
    ("RINGFORK_E_MISALIGNED", RINGFORK_E_MISALIGNED,
     "memory misaligned: the region must start at the alignment the object's align function returns\0"),
    ("RINGFORK_E_BAD_MAGIC", RINGFORK_E_BAD_MAGIC,
     "not a ringfork object (bad magic): wrong name or offset, or the object was never initialized\0"),
    ("RINGFORK_E_VERSION_MISMATCH", RINGFORK_E_VERSION_MISMATCH,
     "ABI version mismatch: the object was created by an incompatible ringfork; rebuild both sides with the same version\0"),
    ("RINGFORK_E_WORD_WIDTH_MISMATCH", RINGFORK_E_WORD_WIDTH_MISMATCH,
     "word width mismatch: the object was created by a build for a target with other atomics (32- vs 64-bit)\0"),
    ("RINGFORK_E_KIND_MISMATCH", RINGFORK_E_KIND_MISMATCH,
     "kind mismatch: the object is another kind of primitive; attach it with the matching functions\0"),
    ("RINGFORK_E_LAYOUT_MISMATCH", RINGFORK_E_LAYOUT_MISMATCH,
     "layout mismatch: the element size or alignment (or flags) differ from the object's; both sides must use the same element type\0"),
    ("RINGFORK_E_NOT_READY", RINGFORK_E_NOT_READY,
     "object not ready: its creator has not finished initializing it before the timeout, or died while doing so\0"),
    ("RINGFORK_E_CORRUPTED", RINGFORK_E_CORRUPTED,
     "corrupted: the object's shared state is inconsistent (a process wrote over it); recreate it\0"),
    ("RINGFORK_E_ALREADY_INITIALIZED", RINGFORK_E_ALREADY_INITIALIZED,
     "already initialized: another object lives in this memory; attach to it instead, or use fresh zeroed memory\0"),
    ("RINGFORK_E_INVALID_PARAMETER", RINGFORK_E_INVALID_PARAMETER,
     "invalid parameter: a capacity of 0 or too large, an alignment that is not a power of two, or a size that is not a multiple of it\0"),
    ("RINGFORK_E_FULL", RINGFORK_E_FULL, "full: retry later or use the blocking call\0"),
    ("RINGFORK_E_EMPTY", RINGFORK_E_EMPTY, "empty: retry later or use the blocking call\0"),
    ("RINGFORK_E_TIMED_OUT", RINGFORK_E_TIMED_OUT, "timed out: the timeout passed before the call could complete\0"),
    ("RINGFORK_E_CLOSED", RINGFORK_E_CLOSED, "closed: the ring was closed; nothing more can be sent, and everything sent was received\0"),
    ("RINGFORK_E_DISCONNECTED", RINGFORK_E_DISCONNECTED,
     "disconnected: every process on the other side of the ring is gone and the ring is empty\0"),
    ("RINGFORK_E_TOO_LARGE", RINGFORK_E_TOO_LARGE,
     "wrong size: the message exceeds the ring's message limit, or the element is not the ring's element size\0"),
    ("RINGFORK_E_BUFFER_TOO_SMALL", RINGFORK_E_BUFFER_TOO_SMALL,
     "buffer too small for the next message (it stays queued); retry with a buffer of the ring's message limit\0"),
    ("RINGFORK_E_NOT_RECOVERABLE", RINGFORK_E_NOT_RECOVERABLE,
     "not recoverable: the mutex was unlocked after its owner died without mark_consistent; create a new one\0"),
    ("RINGFORK_E_DEADLOCK", RINGFORK_E_DEADLOCK, "deadlock: the calling thread already holds this lock; it is not reentrant\0"),
    ("RINGFORK_E_NOT_OWNER", RINGFORK_E_NOT_OWNER, "not the owner: the calling thread does not hold the lock\0"),
    ("RINGFORK_E_NOT_INCONSISTENT", RINGFORK_E_NOT_INCONSISTENT,
     "nothing to repair: mark_consistent is only for a lock taken over from a dead owner\0"),
    ("RINGFORK_E_OVERFLOW", RINGFORK_E_OVERFLOW,
     "semaphore released too many times: the release would exceed its bound; release only permits you acquired\0"),
    ("RINGFORK_E_BROKEN", RINGFORK_E_BROKEN,
     "the barrier is broken (aborted, reset, or a party timed out); reset it before using it again\0"),
    ("RINGFORK_E_OS", RINGFORK_E_OS, "an operating-system call failed (shm_open, ftruncate, mmap, fstat)\0"),
    ("RINGFORK_E_EXISTS", RINGFORK_E_EXISTS, "a segment of that name exists already; open it, or unlink it first\0"),
    ("RINGFORK_E_NOT_FOUND", RINGFORK_E_NOT_FOUND, "no segment of that name\0"),
    ("RINGFORK_E_INVALID_NAME", RINGFORK_E_INVALID_NAME,
     "invalid name: a segment name is one path component of at most 200 bytes, an object name at most 40 bytes\0"),
    ("RINGFORK_E_NO_SUCH_OBJECT", RINGFORK_E_NO_SUCH_OBJECT, "no object of that name in the segment\0"),
    ("RINGFORK_E_OBJECT_EXISTS", RINGFORK_E_OBJECT_EXISTS, "an object of that name exists already in the segment\0"),
    ("RINGFORK_E_NO_SPACE", RINGFORK_E_NO_SPACE,
     "the segment is full (no room or no directory entry left); create it larger\0"),
    ("RINGFORK_E_SIZE_CHANGED", RINGFORK_E_SIZE_CHANGED,
     "the segment file's size changed (someone truncated it); recreate the segment\0"),
    ("RINGFORK_E_UNSAFE", RINGFORK_E_UNSAFE,
     "refused: the segment file is not a regular file owned by the caller (a symlink, a FIFO, another user's file)\0"),
    ("RINGFORK_E_UNSUPPORTED", RINGFORK_E_UNSUPPORTED,
     "unsupported in this build: named segments need the std build of the library\0"),
];

/// The message for `code` (a NUL-terminated static string).
pub fn message(code: i32) -> &'static str {
    CODES
        .iter()
        .find(|c| c.1 == code)
        .map(|c| c.2)
        .unwrap_or("unknown ringfork error code\0")
}

/// Returns a static, NUL-terminated description of `code` (any value: unknown codes get a generic
/// message). Never null, never to be freed.
#[unsafe(no_mangle)]
pub extern "C" fn ringfork_strerror(code: i32) -> *const core::ffi::c_char {
    message(code).as_ptr().cast()
}

/// The code of an attach failure.
pub fn attach(e: AttachError) -> i32 {
    match e {
        AttachError::TooSmall { .. } => RINGFORK_E_TOO_SMALL,
        AttachError::Misaligned { .. } => RINGFORK_E_MISALIGNED,
        AttachError::BadMagic { .. } => RINGFORK_E_BAD_MAGIC,
        AttachError::VersionMismatch { .. } => RINGFORK_E_VERSION_MISMATCH,
        AttachError::WordWidthMismatch { .. } => RINGFORK_E_WORD_WIDTH_MISMATCH,
        AttachError::KindMismatch { .. } => RINGFORK_E_KIND_MISMATCH,
        AttachError::LayoutMismatch { .. } => RINGFORK_E_LAYOUT_MISMATCH,
        AttachError::NotReady { .. } => RINGFORK_E_NOT_READY,
        AttachError::Corrupted { .. } => RINGFORK_E_CORRUPTED,
    }
}

/// The code of an init failure.
pub fn init(e: InitError) -> i32 {
    match e {
        InitError::TooSmall { .. } => RINGFORK_E_TOO_SMALL,
        InitError::Misaligned { .. } => RINGFORK_E_MISALIGNED,
        InitError::AlreadyInitialized { .. } => RINGFORK_E_ALREADY_INITIALIZED,
        InitError::InvalidParameter { .. } => RINGFORK_E_INVALID_PARAMETER,
    }
}

/// The code of a push failure.
pub fn push(e: PushError) -> i32 {
    match e {
        PushError::Full => RINGFORK_E_FULL,
        PushError::TimedOut => RINGFORK_E_TIMED_OUT,
        PushError::Closed => RINGFORK_E_CLOSED,
        PushError::TooLarge { .. } => RINGFORK_E_TOO_LARGE,
        _ => RINGFORK_E_CORRUPTED,
    }
}

/// The code of a pop failure.
pub fn pop(e: PopError) -> i32 {
    match e {
        PopError::Empty => RINGFORK_E_EMPTY,
        PopError::TimedOut => RINGFORK_E_TIMED_OUT,
        PopError::Closed => RINGFORK_E_CLOSED,
        PopError::Disconnected => RINGFORK_E_DISCONNECTED,
        PopError::BufferTooSmall { .. } => RINGFORK_E_BUFFER_TOO_SMALL,
        _ => RINGFORK_E_CORRUPTED,
    }
}

/// The code of a lock failure.
pub fn lock(e: LockError) -> i32 {
    match e {
        LockError::TimedOut => RINGFORK_E_TIMED_OUT,
        LockError::NotRecoverable => RINGFORK_E_NOT_RECOVERABLE,
        LockError::Deadlock => RINGFORK_E_DEADLOCK,
        LockError::OwnerDied => RINGFORK_OWNER_DIED,
    }
}

/// The code of an unlock / mark_consistent failure.
pub fn unlock(e: UnlockError) -> i32 {
    match e {
        UnlockError::NotOwner { .. } => RINGFORK_E_NOT_OWNER,
        UnlockError::NotInconsistent => RINGFORK_E_NOT_INCONSISTENT,
    }
}

/// The code of a semaphore failure.
pub fn semaphore(e: SemaphoreError) -> i32 {
    match e {
        SemaphoreError::Overflow { .. } => RINGFORK_E_OVERFLOW,
    }
}

/// The code of a barrier failure.
pub fn barrier(e: BarrierError) -> i32 {
    match e {
        BarrierError::Broken => RINGFORK_E_BROKEN,
    }
}

/// `0` for `Ok(())`, the code otherwise.
pub fn code<E>(r: Result<(), E>, f: fn(E) -> i32) -> i32 {
    match r {
        Ok(()) => RINGFORK_OK,
        Err(e) => f(e),
    }
}
