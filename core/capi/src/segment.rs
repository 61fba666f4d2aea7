//! Named segments (std builds): exactly `ringfork::Segment` (POSIX `shm_open`, mode 0600, the
//! segment header with its attacher registry and object directory), so a segment made from C is
//! opened by `ringfork::Segment::open` and the other way round, and objects are placed and found by
//! name through the same directory (with its robust lock).

use crate::error::{self, RINGFORK_E_INVALID_ARGUMENT, RINGFORK_OK};
use core::ffi::{c_char, c_void, CStr};
use ringfork::{Segment, SegmentError};
use ringfork_core::{ArenaError, Kind};

/// `ringfork_segment_t`: an open segment (a `ringfork::Segment` on the heap). Opaque to C.
#[derive(Debug)]
pub struct SegmentHandle(Segment);

/// The code of a segment failure.
pub fn code(e: SegmentError) -> i32 {
    match e {
        SegmentError::Os { .. } => error::RINGFORK_E_OS,
        SegmentError::AlreadyExists { .. } => error::RINGFORK_E_EXISTS,
        SegmentError::NotFound { .. } => error::RINGFORK_E_NOT_FOUND,
        SegmentError::InvalidName { .. } => error::RINGFORK_E_INVALID_NAME,
        SegmentError::InvalidLength { .. } => error::RINGFORK_E_INVALID_PARAMETER,
        SegmentError::Attach { source, .. } => error::attach(source),
        SegmentError::Init(e) | SegmentError::ObjectInit(e) => error::init(e),
        SegmentError::ObjectExists { .. } => error::RINGFORK_E_OBJECT_EXISTS,
        SegmentError::ReadOnly { .. } => error::RINGFORK_E_INVALID_ARGUMENT,
        SegmentError::NoSuchObject { .. } => error::RINGFORK_E_NO_SUCH_OBJECT,
        SegmentError::Alloc(ArenaError::NameTooLong { .. }) => error::RINGFORK_E_INVALID_NAME,
        SegmentError::Alloc(ArenaError::NameTaken { .. }) => error::RINGFORK_E_OBJECT_EXISTS,
        SegmentError::Alloc(ArenaError::BadAlign { .. }) => error::RINGFORK_E_INVALID_PARAMETER,
        SegmentError::Alloc(ArenaError::DirectoryBusy) => error::RINGFORK_E_TIMED_OUT,
        SegmentError::Alloc(_) => error::RINGFORK_E_NO_SPACE,
        SegmentError::SizeChanged { .. } => error::RINGFORK_E_SIZE_CHANGED,
        SegmentError::Unsafe { .. } => error::RINGFORK_E_UNSAFE,
        _ => error::RINGFORK_E_OS,
    }
}

/// The UTF-8 name at `name`.
///
/// # Safety
/// `name` is null or a NUL-terminated string.
unsafe fn name<'a>(name: *const c_char) -> Option<&'a str> {
    if name.is_null() {
        return None;
    }
    // SAFETY: C contract: a NUL-terminated string.
    unsafe { CStr::from_ptr(name) }.to_str().ok()
}

/// Stores a new segment handle in `*out`.
///
/// # Safety
/// `out` is writable.
unsafe fn give(r: Result<Segment, SegmentError>, out: *mut *mut SegmentHandle) -> i32 {
    match r {
        Ok(s) => {
            // SAFETY: C contract: `out` is writable.
            unsafe { out.write(Box::into_raw(Box::new(SegmentHandle(s)))) };
            RINGFORK_OK
        }
        Err(e) => code(e),
    }
}

/// Creates the named segment `name` with at least `len` usable bytes and maps it; `*out` gets the
/// handle (free it with `ringfork_segment_close`).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ringfork_segment_create(
    name_: *const c_char,
    len: usize,
    out: *mut *mut SegmentHandle,
) -> i32 {
    // SAFETY: C contract.
    let Some(n) = (unsafe { name(name_) }) else {
        return RINGFORK_E_INVALID_ARGUMENT;
    };
    if out.is_null() {
        return RINGFORK_E_INVALID_ARGUMENT;
    }
    // SAFETY: `out` is writable (C contract).
    unsafe { give(Segment::create(n, len), out) }
}

/// Opens and maps the named segment `name` (validated; waits up to 2 s for one being created).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ringfork_segment_open(name_: *const c_char, out: *mut *mut SegmentHandle) -> i32 {
    // SAFETY: C contract.
    let Some(n) = (unsafe { name(name_) }) else {
        return RINGFORK_E_INVALID_ARGUMENT;
    };
    if out.is_null() {
        return RINGFORK_E_INVALID_ARGUMENT;
    }
    // SAFETY: `out` is writable (C contract).
    unsafe { give(Segment::open(n), out) }
}

/// Unmaps the segment and frees the handle (every object handle made in it becomes invalid).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ringfork_segment_close(seg: *mut SegmentHandle) -> i32 {
    if seg.is_null() {
        return RINGFORK_E_INVALID_ARGUMENT;
    }
    // SAFETY: C contract: a handle from create/open, closed once.
    drop(unsafe { Box::from_raw(seg) });
    RINGFORK_OK
}

/// Removes the name `name` (mappings stay valid until closed).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ringfork_segment_unlink(name_: *const c_char) -> i32 {
    // SAFETY: C contract.
    let Some(n) = (unsafe { name(name_) }) else {
        return RINGFORK_E_INVALID_ARGUMENT;
    };
    error::code(Segment::unlink(n), code)
}

/// The segment's usable mapping length in bytes (0 for a null handle).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ringfork_segment_len(seg: *const SegmentHandle) -> usize {
    if seg.is_null() {
        return 0;
    }
    // SAFETY: C contract: a live handle.
    unsafe { &*seg }.0.len()
}

/// Reserves `size` bytes aligned to `align` for an object of kind `kind` called `name` in the
/// segment's directory; `*mem` gets its (zeroed) memory, ready for `ringfork_X_init`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ringfork_segment_alloc(
    seg: *const SegmentHandle,
    kind: u32,
    name_: *const c_char,
    size: usize,
    align: usize,
    mem: *mut *mut c_void,
) -> i32 {
    // SAFETY: C contract.
    let Some(n) = (unsafe { name(name_) }) else {
        return RINGFORK_E_INVALID_ARGUMENT;
    };
    if seg.is_null() || mem.is_null() {
        return RINGFORK_E_INVALID_ARGUMENT;
    }
    let Some(kind) = Kind::from_raw(kind) else {
        return error::RINGFORK_E_INVALID_PARAMETER;
    };
    // SAFETY: C contract: a live handle.
    let s = &unsafe { &*seg }.0;
    let r = s.alloc(kind, n, size, align).and_then(|off| s.sub_region(off, size));
    match r {
        Ok(region) => {
            // SAFETY: `mem` is writable (C contract).
            unsafe { mem.write(region.as_ptr().cast()) };
            RINGFORK_OK
        }
        Err(e) => code(e),
    }
}

/// Finds the object called `name`: `*mem` gets its memory and `*len` its size (bounds-checked
/// against the mapping), ready for `ringfork_X_attach`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ringfork_segment_find(
    seg: *const SegmentHandle,
    name_: *const c_char,
    mem: *mut *mut c_void,
    len: *mut usize,
) -> i32 {
    // SAFETY: C contract.
    let Some(n) = (unsafe { name(name_) }) else {
        return RINGFORK_E_INVALID_ARGUMENT;
    };
    if seg.is_null() || mem.is_null() || len.is_null() {
        return RINGFORK_E_INVALID_ARGUMENT;
    }
    // SAFETY: C contract: a live handle.
    let s = &unsafe { &*seg }.0;
    let Some(e) = s.find(n) else {
        return error::RINGFORK_E_NO_SUCH_OBJECT;
    };
    match s.sub_region(e.offset, e.size) {
        Ok(region) => {
            // SAFETY: `mem` and `len` are writable (C contract).
            unsafe {
                mem.write(region.as_ptr().cast());
                len.write(region.len());
            }
            RINGFORK_OK
        }
        Err(e) => code(e),
    }
}
