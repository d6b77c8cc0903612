//! Joining the lists a parallel stage makes (one per file, one per thread) into one.
//!
//! Appended one after another on one thread, every element was copied and every page fault
//! of the new list taken on that thread while the other cores waited (perf on the Bicep
//! set: the list of resources after evaluation, the findings after the checks). Here each
//! list is moved into its own part of the result, the parts in parallel.

use rayon::prelude::*;
use std::mem::MaybeUninit;

/// `parts` joined, in order.
pub fn concat<T: Send>(parts: Vec<Vec<T>>) -> Vec<T> {
    let total = parts.iter().map(Vec::len).sum();
    let mut out: Vec<T> = Vec::with_capacity(total);
    {
        let mut rest: &mut [MaybeUninit<T>] = &mut out.spare_capacity_mut()[..total];
        let mut jobs = Vec::with_capacity(parts.len());
        for part in parts {
            let (head, tail) = std::mem::take(&mut rest).split_at_mut(part.len());
            rest = tail;
            jobs.push((part, head));
        }
        jobs.into_par_iter().for_each(|(part, slots)| {
            for (slot, v) in slots.iter_mut().zip(part) {
                slot.write(v);
            }
        });
    }
    // SAFETY: each of the first `total` slots was written: the parts were given disjoint
    // slices, each as long as its part, that together cover them. (Moving a value cannot
    // panic, so no part stops short.)
    unsafe { out.set_len(total) };
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn joins_in_order() {
        let parts = vec![
            vec!["a".to_string(), "b".to_string()],
            vec![],
            vec!["c".to_string()],
            (0..1000).map(|i| i.to_string()).collect(),
        ];
        let want: Vec<String> = parts.iter().flatten().cloned().collect();
        assert_eq!(super::concat(parts), want);
        assert!(super::concat(Vec::<Vec<u8>>::new()).is_empty());
    }
}
