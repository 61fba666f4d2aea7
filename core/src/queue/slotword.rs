//! The MPMC ring's slot word (see [`super::mpmc`]) in its two ABI variants, as plain functions with
//! no atomics, so that both encodings are unit-tested on every host:
//!
//! - [`w64`]: a `u64` word over 64-bit positions, where the target has 64-bit atomics (the layout
//!   x86_64 and aarch64 use; unchanged);
//! - [`w32`]: a `u32` word over 32-bit positions ([`crate::atomic::Word`]), where it does not.
//!
//! [`native`] is the one this target's ring uses. Both store the position modulo `2^POS_BITS` and
//! compare it as a signed distance, exact while the true distance is below `2^(POS_BITS - 1)` in
//! magnitude; the ring keeps every legitimate distance far below that (see the module docs of
//! [`super::mpmc`], "Positions modulo 2^k").

#[cfg(not(target_has_atomic = "64"))]
pub(crate) use w32 as native;
#[cfg(target_has_atomic = "64")]
pub(crate) use w64 as native;

/// The 64-bit slot word: state (bits 0-1), skip (2), the 17-bit peer tag (3-19), position modulo 2^44
/// (20-63).
#[cfg_attr(not(target_has_atomic = "64"), allow(dead_code))]
pub(crate) mod w64 {
    use crate::queue::peers::TAG_BITS;

    /// The slot word.
    pub(crate) type SlotWord = u64;

    /// The state bits of a slot word.
    pub(crate) const STATE: u64 = 0b11;
    /// State: free for the producer of the slot's position.
    pub(crate) const FREE: u64 = 0;
    /// State: claimed by a producer, being written.
    pub(crate) const WRITING: u64 = 1;
    /// State: committed, waiting for a consumer.
    pub(crate) const FULL: u64 = 2;
    /// State: claimed by a consumer, being read.
    pub(crate) const READING: u64 = 3;
    /// With the "full" state: the position was skipped by recovery and carries no message.
    pub const SKIP: u64 = 1 << 2;
    /// Where the owner tag starts.
    pub(crate) const TAG_SHIFT: u32 = 3;
    /// Where the position starts; below it: state, skip, tag.
    pub(crate) const POS_SHIFT: u32 = TAG_SHIFT + TAG_BITS;
    /// Bits of position the word keeps.
    pub(crate) const POS_BITS: u32 = u64::BITS - POS_SHIFT;
    /// Capacities must stay far below the position field's range (2^44), so that signed distances
    /// between positions are exact.
    pub(crate) const MAX_CAPACITY: u64 = 1 << 40;

    const _: () = assert!(POS_SHIFT == 20 && POS_BITS == 44);

    /// The slot word for position `pos` with state/skip/tag `bits`.
    #[inline(always)]
    pub(crate) const fn word(pos: u64, bits: u64) -> u64 {
        pos << POS_SHIFT | bits
    }

    /// The signed distance from `pos` to the position held in slot word `w` (exact while the true
    /// distance is below 2^43 in magnitude).
    #[inline(always)]
    pub(crate) const fn dist(w: u64, pos: u64) -> i64 {
        (w & !((1 << POS_SHIFT) - 1)).wrapping_sub(pos << POS_SHIFT) as i64 >> POS_SHIFT
    }

    /// The owner tag in slot word `w`.
    #[inline(always)]
    pub(crate) const fn tag_of(w: u64) -> u32 {
        ((w >> TAG_SHIFT) & ((1 << TAG_BITS) - 1)) as u32
    }

    /// The slot-word bits of peer tag `tag` ([`crate::queue::peers::PeerTable::tag`]).
    #[inline(always)]
    pub(crate) const fn tag_bits(tag: u32) -> u64 {
        (tag as u64) << TAG_SHIFT
    }

    /// The position held in slot word `w`, modulo 2^44 (enough for [`word`]).
    #[inline(always)]
    pub(crate) const fn pos_of(w: u64) -> u64 {
        w >> POS_SHIFT
    }
}

/// The 32-bit slot word: state (bits 0-1), skip (2), the peer tag packed into 14 bits (3-16: presence,
/// 2 bits of entry index, 11 bits of generation), position modulo 2^15 (17-31).
#[cfg_attr(target_has_atomic = "64", allow(dead_code))]
pub(crate) mod w32 {
    use crate::queue::peers::TAG_BITS;

    /// The slot word.
    pub(crate) type SlotWord = u32;

    /// The state bits of a slot word.
    pub(crate) const STATE: u32 = 0b11;
    /// State: free for the producer of the slot's position.
    pub(crate) const FREE: u32 = 0;
    /// State: claimed by a producer, being written.
    pub(crate) const WRITING: u32 = 1;
    /// State: committed, waiting for a consumer.
    pub(crate) const FULL: u32 = 2;
    /// State: claimed by a consumer, being read.
    pub(crate) const READING: u32 = 3;
    /// With the "full" state: the position was skipped by recovery and carries no message.
    pub const SKIP: u32 = 1 << 2;
    /// Where the owner tag starts.
    pub(crate) const TAG_SHIFT: u32 = 3;
    /// Entry-index bits kept: peer tables have 4 entries where layouts use 32-bit words.
    pub(crate) const INDEX_BITS: u32 = 2;
    /// Generation bits of a peer tag (`1 | index << 1 | gen << 6`, [`TAG_BITS`] wide), all kept.
    pub(crate) const GEN_BITS: u32 = TAG_BITS - 6;
    /// Bits of the packed tag: presence, index, generation.
    pub(crate) const SLOT_TAG_BITS: u32 = 1 + INDEX_BITS + GEN_BITS;
    /// Where the position starts; below it: state, skip, packed tag.
    pub(crate) const POS_SHIFT: u32 = TAG_SHIFT + SLOT_TAG_BITS;
    /// Bits of position the word keeps.
    pub(crate) const POS_BITS: u32 = u32::BITS - POS_SHIFT;
    /// Capacities are powers of two below this (at most 2^12 slots), a quarter of the signed range
    /// of a distance (2^14), so that every legitimate distance is exact (see the ring's docs).
    pub(crate) const MAX_CAPACITY: u64 = 1 << 13;

    const _: () = {
        assert!(SLOT_TAG_BITS == 14 && POS_SHIFT == 17 && POS_BITS == 15);
        assert!(MAX_CAPACITY <= 1 << (POS_BITS - 2));
    };

    /// The slot word for position `pos` with state/skip/tag `bits` (the position's high bits fall
    /// off: it is kept modulo 2^15).
    #[inline(always)]
    pub(crate) const fn word(pos: u32, bits: u32) -> u32 {
        pos << POS_SHIFT | bits
    }

    /// The signed distance from `pos` to the position held in slot word `w`, computed modulo 2^15
    /// (exact while the true distance is below 2^14 in magnitude).
    #[inline(always)]
    pub(crate) const fn dist(w: u32, pos: u32) -> i32 {
        (w & !((1 << POS_SHIFT) - 1)).wrapping_sub(pos << POS_SHIFT) as i32 >> POS_SHIFT
    }

    /// The owner's peer tag ([`crate::queue::peers::PeerTable::tag`]) in slot word `w`, unpacked.
    #[inline(always)]
    pub(crate) const fn tag_of(w: u32) -> u32 {
        let t = (w >> TAG_SHIFT) & ((1 << SLOT_TAG_BITS) - 1);
        (t & 1) | ((t >> 1) & ((1 << INDEX_BITS) - 1)) << 1 | (t >> (1 + INDEX_BITS)) << 6
    }

    /// The slot-word bits of peer tag `tag`, packed: lossless for every tag of a table with at most
    /// `2^INDEX_BITS` entries (the ring asserts `PEERS` fits at compile time).
    #[inline(always)]
    pub(crate) const fn tag_bits(tag: u32) -> u32 {
        let gen = (tag >> 6) & ((1 << GEN_BITS) - 1);
        let packed = (tag & 1) | ((tag >> 1) & ((1 << INDEX_BITS) - 1)) << 1 | gen << (1 + INDEX_BITS);
        packed << TAG_SHIFT
    }

    /// The position held in slot word `w`, modulo 2^15 (enough for [`word`]).
    #[inline(always)]
    pub(crate) const fn pos_of(w: u32) -> u32 {
        w >> POS_SHIFT
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::{w32, w64};

    /// A peer tag as `PeerTable::tag` builds it.
    fn peer_tag(index: u32, gen: u32) -> u32 {
        1 | index << 1 | (gen & ((1 << w32::GEN_BITS) - 1)) << 6
    }

    #[test]
    fn w64_words_encode_positions_modulo_2_44() {
        for pos in [0u64, 1, 5, (1 << 44) - 1, 1 << 44, u64::MAX - 3, u64::MAX] {
            for d in [-5i64, -1, 0, 1, 1024, -(1 << 40), (1 << 43) - 1, -(1 << 43)] {
                let w = w64::word(pos.wrapping_add(d as u64), w64::READING | w64::tag_bits(0x1234));
                assert_eq!(w64::dist(w, pos), d, "pos {pos} d {d}");
                assert_eq!(w & w64::STATE, w64::READING);
                assert_eq!(w & w64::SKIP, 0);
                assert_eq!(w64::tag_of(w), 0x1234);
                assert_eq!(w64::word(w64::pos_of(w), 0), w64::word(pos.wrapping_add(d as u64), 0));
            }
        }
        // Beyond 2^43 the distance aliases: the documented bound, not an accident.
        assert_eq!(w64::dist(w64::word(1 << 43, 0), 0), -(1 << 43));
        assert_eq!(w64::dist(w64::word(1 << 44, 0), 0), 0);
    }

    #[test]
    fn w32_words_encode_positions_modulo_2_15_across_the_word_wrap() {
        // Positions around 0, around the 2^15 wrap of the field and around the 2^32 wrap of `Word`.
        let around = |p: u32| (0..8u32).map(move |i| p.wrapping_sub(4).wrapping_add(i));
        let positions = around(0)
            .chain(around(1 << 15))
            .chain(around(1 << 16))
            .chain(around(u32::MAX));
        for pos in positions {
            for d in [-4096i32, -5, -1, 0, 1, 4095, 4096, (1 << 14) - 1, -(1 << 14)] {
                let at = pos.wrapping_add(d as u32);
                for st in [w32::FREE, w32::WRITING, w32::FULL, w32::READING] {
                    let w = w32::word(at, st | w32::tag_bits(peer_tag(3, 0x7ff)));
                    assert_eq!(w32::dist(w, pos), d, "pos {pos:#x} d {d}");
                    assert_eq!(w & w32::STATE, st);
                    assert_eq!(w & w32::SKIP, 0);
                    assert_eq!(w32::tag_of(w), peer_tag(3, 0x7ff));
                    // What recovery rebuilds from the word is the same position, modulo 2^15.
                    assert_eq!(w32::word(w32::pos_of(w), st), w32::word(at, st));
                    assert_eq!(w32::dist(w32::word(w32::pos_of(w), st), pos), d);
                }
            }
        }
        // A free position `p` and the same slot's position `p + cap` one lap later, across 2^32.
        let cap = 4096u32;
        let p = u32::MAX - 100;
        let next_lap = w32::word(p.wrapping_add(cap), w32::FREE);
        assert_eq!(w32::dist(next_lap, p), cap as i32);
        assert_eq!(w32::dist(next_lap, p.wrapping_add(cap)), 0);
        assert_eq!(w32::dist(w32::word(p, w32::FULL), p.wrapping_add(cap)), -(cap as i32));
        // Positions 2^15 apart are the same word: the aliasing the ring's bound is about.
        assert_eq!(w32::word(7, w32::FULL), w32::word(7 + (1 << 15), w32::FULL));
        assert_eq!(w32::dist(w32::word(1 << 14, 0), 0), -(1 << 14));
    }

    #[test]
    fn w32_packs_every_peer_tag_of_a_four_entry_table_losslessly() {
        assert_eq!(w32::tag_bits(0), 0, "unregistered stays 0");
        assert_eq!(w32::tag_of(w32::word(123, w32::WRITING)), 0);
        for index in 0..4 {
            for gen in [0u32, 1, 2, 0x3ff, 0x400, 0x7fe, 0x7ff, 0x800, 12345] {
                let tag = peer_tag(index, gen);
                let w = w32::word(u32::MAX, w32::FULL | w32::SKIP | w32::tag_bits(tag));
                assert_eq!(w32::tag_of(w), tag, "index {index} gen {gen}");
                assert_eq!(w & w32::STATE, w32::FULL);
                assert_ne!(w & w32::SKIP, 0);
                assert_eq!(w32::dist(w, u32::MAX), 0, "the tag does not leak into the position");
                assert!(w32::tag_bits(tag) >> w32::POS_SHIFT == 0, "nor into the position bits");
            }
        }
    }

    /// The ring with positions modulo 2^15: a slot cycled through full laps, across 2^32.
    #[test]
    fn w32_a_slot_cycles_through_the_wrap() {
        for cap in [1u32, 2, 64, 4096] {
            let start = 0u32.wrapping_sub(3 * cap);
            let mut w = w32::word(start, w32::FREE);
            let mut pos = start;
            for _ in 0..(1 << 16) / cap.min(64) {
                assert_eq!(w32::dist(w, pos), 0);
                w = w32::word(pos, w32::WRITING | w32::tag_bits(peer_tag(1, 9)));
                assert_eq!(w32::dist(w, pos), 0);
                w = w32::word(pos, w32::FULL);
                // A producer one lap ahead sees the previous lap: full.
                assert_eq!(w32::dist(w, pos.wrapping_add(cap)), -(cap as i32));
                w = w32::word(pos, w32::READING | w32::tag_bits(peer_tag(2, 9)));
                assert_eq!((w32::dist(w, pos), w32::tag_of(w)), (0, peer_tag(2, 9)));
                w = w32::word(pos.wrapping_add(cap), w32::FREE);
                // A consumer still at `pos` sees the next lap: stale, step forward.
                assert_eq!(w32::dist(w, pos), cap as i32);
                pos = pos.wrapping_add(cap);
            }
        }
    }
}
