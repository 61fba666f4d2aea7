use super::*;
use crate::cell::ShmCell;
use crate::wait::Spin;

#[repr(C, align(64))]
struct Buf([u8; 256]);

fn region(b: &mut Buf) -> Region<'_> {
    Region::from_mut(&mut b.0)
}

#[test]
fn init_then_attach_roundtrip() {
    let mut b = Buf([0; 256]);
    let r = region(&mut b);
    let c = ShmCell::<u64>::init::<Spin>(r, 42).unwrap();
    let d = ShmCell::<u64>::attach::<Spin>(r, Deadline::Immediate).unwrap();
    d.set(43);
    assert_eq!(c.get(), 43);
    assert!(matches!(
        ShmCell::<u64>::init::<Spin>(r, 1),
        Err(InitError::AlreadyInitialized { state: READY })
    ));
}

#[test]
fn each_mismatch_has_its_error() {
    let mut b = Buf([0; 256]);
    let r = region(&mut b);
    assert_eq!(
        ShmCell::<u32>::attach::<Spin>(r, Deadline::Immediate).unwrap_err(),
        AttachError::NotReady { state: 0 }
    );
    ShmCell::<u32>::init::<Spin>(r, 7).unwrap();
    // Wrong element type.
    assert!(matches!(
        ShmCell::<u64>::attach::<Spin>(r, Deadline::Immediate),
        Err(AttachError::LayoutMismatch {
            field: "elem_size",
            expected: 8,
            found: 4
        })
    ));
    // Wrong kind.
    assert_eq!(
        Header::attach::<Spin>(r, Kind::Mutex, Deadline::Immediate).unwrap_err(),
        AttachError::KindMismatch {
            expected: Kind::Mutex,
            found: Kind::Cell as u32
        }
    );
    // Too small.
    let small = r.sub(0, 32).unwrap();
    assert_eq!(
        Header::attach::<Spin>(small, Kind::Cell, Deadline::Immediate).unwrap_err(),
        AttachError::TooSmall {
            needed: 64,
            available: 32
        }
    );
    let cut = r.sub(0, 66).unwrap();
    assert!(matches!(
        Header::attach::<Spin>(cut, Kind::Cell, Deadline::Immediate),
        Err(AttachError::TooSmall { .. })
    ));
    // Misaligned.
    let mis = r.sub(4, 128).unwrap();
    assert!(matches!(
        Header::attach::<Spin>(mis, Kind::Cell, Deadline::Immediate),
        Err(AttachError::Misaligned { .. })
    ));
    // The other word width (an object written by a build for a target with(out) 64-bit atomics).
    let other = VERSION_WORD ^ WORDS32;
    b.0[4..8].copy_from_slice(&other.to_le_bytes());
    let r = region(&mut b);
    let e = Header::attach::<Spin>(r, Kind::Cell, Deadline::Immediate).unwrap_err();
    let (mine, theirs) = if crate::atomic::WORDS32 { (32, 64) } else { (64, 32) };
    assert_eq!(
        e,
        AttachError::WordWidthMismatch {
            expected: mine,
            found: theirs
        }
    );
    assert!(std::format!("{e}").contains("word width"), "{e}");
    // Version.
    b.0[4..8].copy_from_slice(&99u32.to_le_bytes());
    let r = region(&mut b);
    assert_eq!(
        Header::attach::<Spin>(r, Kind::Cell, Deadline::Immediate).unwrap_err(),
        AttachError::VersionMismatch {
            expected: VERSION_WORD,
            found: 99
        }
    );
    // Magic.
    b.0[0] = b'X';
    let r = region(&mut b);
    assert!(matches!(
        Header::attach::<Spin>(r, Kind::Cell, Deadline::Immediate),
        Err(AttachError::BadMagic { .. })
    ));
    // Every error prints something a user can act on.
    let e = Header::attach::<Spin>(r, Kind::Cell, Deadline::Immediate).unwrap_err();
    assert!(std::format!("{e}").contains("not a ringfork object"));
}

#[test]
fn attach_waits_for_ready_then_gives_up() {
    let mut b = Buf([0; 256]);
    let r = region(&mut b);
    let params = ObjectParams::new(Kind::Cell, 72).with_elem::<u64>();
    let claim = Header::claim(r, &params, 8).unwrap();
    let start = std::time::Instant::now();
    let d = Deadline::after::<crate::wait::DefaultClock>(core::time::Duration::from_millis(30));
    assert_eq!(
        Header::attach::<Spin>(r, Kind::Cell, d).unwrap_err(),
        AttachError::NotReady { state: INITIALIZING }
    );
    assert!(start.elapsed() >= core::time::Duration::from_millis(30));
    drop(claim); // rolled back: UNINIT again, so a new init can succeed
    ShmCell::<u64>::init::<Spin>(r, 5).unwrap();
}

#[test]
fn invalid_params_are_rejected() {
    let mut b = Buf([0; 256]);
    let r = region(&mut b);
    assert!(matches!(
        Header::claim(r, &ObjectParams::new(Kind::Cell, 10), 8),
        Err(InitError::InvalidParameter { name: "size", .. })
    ));
    assert!(matches!(
        Header::claim(r, &ObjectParams::new(Kind::Cell, 1000), 8),
        Err(InitError::TooSmall { .. })
    ));
    assert!(matches!(
        Header::claim(r.sub(8, 128).unwrap(), &ObjectParams::new(Kind::Cell, 64), 64),
        Err(InitError::Misaligned { .. })
    ));
}

/// Thousands of random regions: attach returns an error or a header, never panics, never reads out of
/// bounds (the regions are exact-size boxes, so an out-of-bounds read would be caught by Miri/ASan).
#[test]
fn fuzz_random_bytes_only_errors() {
    let mut seed = 0x9E37_79B9_7F4A_7C15_u64;
    let mut next = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let kinds = Kind::ALL;
    let mut ok = 0;
    for round in 0..5000 {
        let mut b = Buf([0; 256]);
        for chunk in b.0.chunks_mut(8) {
            chunk.copy_from_slice(&next().to_le_bytes()[..chunk.len()]);
        }
        // Half the rounds start from a plausible header so deeper checks are reached too.
        if round % 2 == 0 {
            b.0[..4].copy_from_slice(&MAGIC.to_le_bytes());
            b.0[4..8].copy_from_slice(&ABI_VERSION.to_le_bytes());
            b.0[8..12].copy_from_slice(&(Kind::Cell as u32).to_le_bytes());
            b.0[12..16].copy_from_slice(&(if round % 4 == 0 { READY } else { (next() % 4) as u32 }).to_le_bytes());
            let size = next() % 300;
            b.0[16..24].copy_from_slice(&size.to_le_bytes());
            if round % 8 == 0 {
                b.0[32..36].copy_from_slice(&8u32.to_le_bytes());
                b.0[36..40].copy_from_slice(&8u32.to_le_bytes());
            }
        }
        let len = 64 + (next() % 193) as usize;
        let r = Region::from_mut(&mut b.0[..len]);
        let kind = kinds[(next() % kinds.len() as u64) as usize];
        if Header::attach::<Spin>(r, kind, Deadline::Immediate).is_ok() {
            ok += 1;
        }
        match ShmCell::<u64>::attach::<Spin>(r, Deadline::Immediate) {
            Ok(c) => {
                let _ = c.get();
            }
            Err(e) => {
                let _ = std::format!("{e}");
            }
        }
        let _ = Header::peek(r).map(|h| h.snapshot());
    }
    assert!(ok > 0, "the fuzz never reached a valid header; it tests nothing deep");
}
