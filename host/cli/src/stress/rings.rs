//! Stress targets for the raw rings: `spsc` (`Spsc<u64>`) and `bytes` (`ByteRing` messages of random
//! sizes with checksums), each as `procs / 2` producer/consumer pairs. A killed peer must be reported
//! to the survivor (`Disconnected`/`Closed`) instead of a hang; `max_detect_ms` is kill → that error.
//!
//! Each end registers its process in the ring's peer table right after attaching, before its first
//! operation. A participant killed before it even attached is invisible to its partner, which then
//! gives up at its 2-second deadline (`TimedOut`) — reported as a recovery with that detection time,
//! never a hang.

use super::sync::{supervise_pairs, PairEnd};
use super::{StressOpts, StressReport};
use ringfork::Segment;
use ringfork_core::queue::bytering::ByteRing;
use ringfork_core::queue::spsc::Spsc;
use ringfork_core::wait::DefaultWait;
use ringfork_core::{Deadline, Kind, Region};
use std::time::Duration;

fn region<'a>(seg: &'a Segment, name: &str) -> Option<Region<'a>> {
    let e = seg.find(name)?;
    seg.sub_region(e.offset, e.size).ok()
}

fn deadline() -> Deadline {
    Deadline::after::<<DefaultWait as ringfork_core::Wait>::Clock>(Duration::from_secs(2))
}

/// `spsc`: each pair moves `--ops` sequence numbers; the consumer checks their order.
pub fn spsc(o: &StressOpts) -> StressReport {
    let pairs = (o.procs / 2).max(1);
    let cap = 256;
    let Some(size) = Spsc::<u64>::size(cap) else {
        return StressReport::new("spsc", o.procs, &["completed"]);
    };
    let seg = Segment::anonymous((size + 4096) * pairs);
    let seg = match seg {
        Ok(s) => s,
        Err(_) => return StressReport::new("spsc", o.procs, &["completed"]),
    };
    for p in 0..pairs {
        let name = format!("ring{p}");
        let ok = seg.alloc(Kind::Spsc, &name, size, Spsc::<u64>::align()).is_ok()
            && region(&seg, &name).is_some_and(|r| Spsc::<u64>::init::<DefaultWait>(r, cap).is_ok());
        if !ok {
            return StressReport::new("spsc", o.procs, &["completed"]);
        }
    }
    let ops = o.ops;
    supervise_pairs(o, "spsc", pairs, move |pair, end, report| {
        let Some(q) =
            region(&seg, &format!("ring{pair}")).and_then(|r| Spsc::<u64>::attach::<DefaultWait>(r, deadline()).ok())
        else {
            return;
        };
        match end {
            PairEnd::Producer => {
                q.ctrl().producers.register_current();
                let mut p = q.producer();
                for i in 0..ops {
                    if p.push::<DefaultWait>(i, deadline()).is_err() {
                        report.peer_died();
                        return;
                    }
                    report.progress();
                }
            }
            PairEnd::Consumer => {
                q.ctrl().consumers.register_current();
                let mut c = q.consumer();
                for i in 0..ops {
                    match c.pop::<DefaultWait>(deadline()) {
                        Ok(v) if v == i => {}
                        Ok(_) => report.violation(),
                        Err(_) => {
                            report.peer_died();
                            return;
                        }
                    }
                    report.progress();
                }
            }
        }
    })
}

fn checksum(b: &[u8]) -> u8 {
    b.iter().fold(0x5Au8, |a, x| a.rotate_left(1) ^ x)
}

/// `bytes`: each pair moves `--ops` messages of 0..=200 bytes: `[seq: u64 LE][payload][checksum]`.
pub fn bytes(o: &StressOpts) -> StressReport {
    let pairs = (o.procs / 2).max(1);
    let (cap, limit) = (8192, 256);
    let Some(size) = ByteRing::size(cap, limit) else {
        return StressReport::new("bytes", o.procs, &["completed"]);
    };
    let Ok(seg) = Segment::anonymous((size + 4096) * pairs) else {
        return StressReport::new("bytes", o.procs, &["completed"]);
    };
    for p in 0..pairs {
        let name = format!("bytes{p}");
        let ok = seg.alloc(Kind::ByteRing, &name, size, ByteRing::align()).is_ok()
            && region(&seg, &name)
                .is_some_and(|r| ByteRing::init::<DefaultWait>(r, Kind::ByteRing, cap, limit).is_ok());
        if !ok {
            return StressReport::new("bytes", o.procs, &["completed"]);
        }
    }
    let ops = o.ops;
    supervise_pairs(o, "bytes", pairs, move |pair, end, report| {
        let Some(r) = region(&seg, &format!("bytes{pair}"))
            .and_then(|r| ByteRing::attach::<DefaultWait>(r, Kind::ByteRing, deadline()).ok())
        else {
            return;
        };
        match end {
            PairEnd::Producer => {
                r.ctrl().producers.register_current();
                let mut tx = r.sender();
                let mut msg = Vec::with_capacity(limit);
                for i in 0..ops {
                    let len = (i.wrapping_mul(0x9E37_79B9) >> 7) as usize % 201;
                    msg.clear();
                    msg.extend_from_slice(&i.to_le_bytes());
                    msg.extend((0..len).map(|k| (k as u64 ^ i) as u8));
                    let c = checksum(&msg);
                    msg.push(c);
                    if tx.send::<DefaultWait>(&msg, deadline()).is_err() {
                        report.peer_died();
                        return;
                    }
                    report.progress();
                }
            }
            PairEnd::Consumer => {
                r.ctrl().consumers.register_current();
                let mut rx = r.receiver();
                let mut buf = vec![0u8; limit];
                for i in 0..ops {
                    match rx.recv_into::<DefaultWait>(&mut buf, deadline()) {
                        Ok(n) if n >= 9 => {
                            let (body, c) = buf[..n].split_at(n - 1);
                            let seq = u64::from_le_bytes(body[..8].try_into().unwrap_or([0; 8]));
                            if seq != i || checksum(body) != c[0] {
                                report.violation();
                            }
                        }
                        Ok(_) => report.violation(),
                        Err(_) => {
                            report.peer_died();
                            return;
                        }
                    }
                    report.progress();
                }
            }
        }
    })
}
