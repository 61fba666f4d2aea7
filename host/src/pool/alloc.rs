//! The parent's allocator for the pool arena. Only the parent allocates and frees (workers just read
//! and write the blocks named in their tasks), so the allocator's state lives in the parent's own
//! memory, never in shared memory.

use std::collections::BTreeMap;

/// Blocks are multiples of this (a cache line, so two tasks' blocks never share one).
pub const BLOCK_ALIGN: usize = 64;

/// First-fit allocator over `0..len` with coalescing of freed neighbours.
#[derive(Debug)]
pub struct ArenaAlloc {
    /// Free ranges: offset → length.
    free: BTreeMap<usize, usize>,
    #[cfg_attr(not(test), allow(dead_code))]
    len: usize,
}

impl ArenaAlloc {
    /// All of `0..len` free.
    pub fn new(len: usize) -> ArenaAlloc {
        let mut free = BTreeMap::new();
        if len > 0 {
            free.insert(0, len);
        }
        ArenaAlloc { free, len }
    }

    /// Total size.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.len
    }

    /// A block of at least `size` bytes, or `None` if no free range is large enough now.
    pub fn alloc(&mut self, size: usize) -> Option<(usize, usize)> {
        let size = size.max(1).div_ceil(BLOCK_ALIGN) * BLOCK_ALIGN;
        let (&off, &len) = self.free.iter().find(|(_, &l)| l >= size)?;
        self.free.remove(&off);
        if len > size {
            self.free.insert(off + size, len - size);
        }
        Some((off, size))
    }

    /// Returns a block from [`ArenaAlloc::alloc`].
    pub fn free(&mut self, off: usize, size: usize) {
        let mut off = off;
        let mut size = size;
        if let Some((&next_off, &next_len)) = self.free.range(off + size..).next() {
            if next_off == off + size {
                self.free.remove(&next_off);
                size += next_len;
            }
        }
        if let Some((&prev_off, &prev_len)) = self.free.range(..off).next_back() {
            if prev_off + prev_len == off {
                self.free.remove(&prev_off);
                off = prev_off;
                size += prev_len;
            }
        }
        self.free.insert(off, size);
    }

    /// Whether every byte is free.
    #[cfg(test)]
    pub fn all_free(&self) -> bool {
        self.free.get(&0) == Some(&self.len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_never_overlap_and_coalesce_back() {
        let mut a = ArenaAlloc::new(64 * 100);
        let mut blocks = Vec::new();
        while let Some(b) = a.alloc(100) {
            for &(o, s) in &blocks {
                let (o2, s2) = b;
                assert!(o2 >= o + s || o2 + s2 <= o);
            }
            assert!(b.0 + b.1 <= a.len());
            blocks.push(b);
        }
        assert_eq!(blocks.len(), 50);
        for (i, &(o, s)) in blocks.iter().enumerate().rev() {
            if i % 2 == 0 {
                a.free(o, s);
            }
        }
        for (i, &(o, s)) in blocks.iter().enumerate() {
            if i % 2 == 1 {
                a.free(o, s);
            }
        }
        assert!(a.all_free());
        assert_eq!(a.alloc(64 * 100), Some((0, 6400)));
        assert_eq!(a.alloc(1), None);
    }
}
