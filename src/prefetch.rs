//! prefetch (discover → ARM): the bytes of the templates discovery read whole while
//! classifying them, packed into large blocks for the ARM stage.
//!
//! Discovery reads the head of every JSON file to tell templates from other JSON, and most
//! templates fit in the head. Reading each again in the ARM stage cost an open, a read and a
//! close per template (2–3 % of an ARM scan). Handing on each head as an allocation of
//! its own kept the pages they freed resident through the rest of the scan (+7 MB at the
//! peak of the ARM corpus: what the ARM stage keeps was allocated among them). Packed into a
//! few large blocks, they are freed whole.

use std::sync::Mutex;

/// Size of a block. Bytes of more than a quarter block are not packed (a head is at most
/// 64 KB, so this is a bound, not a policy).
const BLOCK: usize = 4 << 20;

/// Where a file's bytes sit in the blocks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Prefetched {
    block: u32,
    start: u32,
    len: u32,
}

/// The packed bytes, once discovery is done.
#[derive(Debug, Default)]
pub struct Blocks(Vec<Vec<u8>>);

impl Blocks {
    pub fn get(&self, p: Prefetched) -> &[u8] {
        let start = p.start as usize;
        &self.0[p.block as usize][start..start + p.len as usize]
    }
}

/// The blocks, filled by the discovery threads.
#[derive(Debug, Default)]
pub struct Packer {
    blocks: Mutex<Vec<Vec<u8>>>,
}

impl Packer {
    /// A thread's packer: each thread fills a block of its own, without a lock.
    pub fn local(&self) -> Local<'_> {
        Local {
            packer: self,
            open: None,
            head: Vec::new(),
        }
    }

    /// The blocks, once every [`Local`] is gone.
    pub fn finish(self) -> Blocks {
        Blocks(self.blocks.into_inner().unwrap_or_else(|e| e.into_inner()))
    }
}

/// One thread's part of a [`Packer`]: the block it is filling, handed over when full or
/// when the thread is done with it (dropped).
#[derive(Debug)]
pub struct Local<'a> {
    packer: &'a Packer,
    /// The block's index among the packer's blocks, and the block.
    open: Option<(usize, Vec<u8>)>,
    /// The thread's buffer for the heads of files discovery classifies.
    pub head: Vec<u8>,
}

impl Local<'_> {
    /// Copies `bytes` into the thread's block (a new one when they do not fit); None when
    /// they are too large to pack.
    pub fn put(&mut self, bytes: &[u8]) -> Option<Prefetched> {
        if bytes.len() > BLOCK / 4 {
            return None;
        }
        if self
            .open
            .as_ref()
            .is_some_and(|(_, b)| b.len() + bytes.len() > b.capacity())
        {
            self.seal();
        }
        let (index, block) = self.open.get_or_insert_with(|| {
            let mut blocks = self.packer.blocks.lock().unwrap_or_else(|e| e.into_inner());
            blocks.push(Vec::new());
            (blocks.len() - 1, Vec::with_capacity(BLOCK))
        });
        let start = block.len();
        block.extend_from_slice(bytes);
        Some(Prefetched {
            block: *index as u32,
            start: start as u32,
            len: bytes.len() as u32,
        })
    }

    fn seal(&mut self) {
        if let Some((index, block)) = self.open.take() {
            self.packer.blocks.lock().unwrap_or_else(|e| e.into_inner())[index] = block;
        }
    }
}

impl Drop for Local<'_> {
    fn drop(&mut self) {
        self.seal();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packed_bytes_come_back_as_they_went_in() {
        let packer = Packer::default();
        let (mut one, mut two) = (packer.local(), packer.local());
        let big = vec![b'x'; BLOCK / 4];
        let texts: Vec<Vec<u8>> = (0..20)
            .map(|i| {
                if i % 3 == 0 {
                    big.clone()
                } else {
                    format!("{{\"n\": {i}}}").into_bytes()
                }
            })
            .collect();
        // Two threads' packers, taking turns.
        let handles: Vec<Prefetched> = texts
            .iter()
            .enumerate()
            .map(|(i, t)| if i % 2 == 0 { &mut one } else { &mut two }.put(t).unwrap())
            .collect();
        assert_eq!(one.put(&vec![0u8; BLOCK / 4 + 1]), None);
        drop((one, two));
        let blocks = packer.finish();
        // The first thread's four quarter blocks and small texts need two blocks; the
        // second thread's three and small texts fit in one.
        assert_eq!(blocks.0.len(), 3);
        assert!(blocks.0.iter().all(|b| b.len() <= BLOCK));
        for (t, h) in texts.iter().zip(handles) {
            assert_eq!(blocks.get(h), t.as_slice());
        }
    }
}
