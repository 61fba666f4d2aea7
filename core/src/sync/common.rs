//! Shared plumbing for the header-plus-fixed-body objects of this module.

use crate::error::{AttachError, InitError};
use crate::header::{Header, Kind, ObjectParams, HEADER_SIZE};
use crate::region::Region;
use crate::time::Deadline;
use crate::wait::Wait;

/// Claims `region` for an object of `kind` whose body is a `B` at offset 64, lets `fill` write the
/// body, and publishes it. Returns the header and the body.
pub(crate) fn init_body<'a, B, W: Wait>(
    region: Region<'a>,
    mut params: ObjectParams,
    fill: impl FnOnce(&'a B),
) -> Result<(&'a Header, &'a B), InitError> {
    params.size = (HEADER_SIZE + core::mem::size_of::<B>()) as u64;
    let claim = Header::claim(region, &params, core::mem::align_of::<B>())?;
    // SAFETY: the claim checked that the region holds HEADER_SIZE + size_of::<B>() bytes aligned to
    // align_of::<B>() (≤ 8 for every body, so offset 64 is aligned too); every body is made of atomics
    // (and a RawMutex), so any bytes are a valid B and other processes' accesses are not data races.
    let body = unsafe { &*(region.as_ptr().add(HEADER_SIZE) as *const B) };
    fill(body);
    Ok((claim.publish::<W>(), body))
}

/// Attaches to an object of `kind` whose body is a `B` at offset 64; checks the size.
pub(crate) fn attach_body<'a, B, W: Wait>(
    region: Region<'a>,
    kind: Kind,
    deadline: Deadline,
) -> Result<(&'a Header, &'a B), AttachError> {
    let header = Header::attach::<W>(region, kind, deadline)?;
    Header::expect("size", (HEADER_SIZE + core::mem::size_of::<B>()) as u64, header.size())?;
    crate::sync::mutex::check_align(region, core::mem::align_of::<B>())?;
    // SAFETY: attach checked header.size() <= region.len(), and size == HEADER_SIZE + size_of::<B>()
    // (above), so the body is in bounds; aligned (checked above; B's align ≤ 8 and 64 % 8 == 0); all
    // atomics, so any bytes are a valid B.
    let body = unsafe { &*(region.as_ptr().add(HEADER_SIZE) as *const B) };
    Ok((header, body))
}
