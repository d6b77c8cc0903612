//! Worker threads with room for deep recursion.
//!
//! Evaluating Bicep and Terraform recurses once per nesting level of the input, deeper
//! than a default 2 MB thread stack holds for legal but deeply nested code, so those stages
//! run on threads with [`STACK`]-sized stacks (address space only: stack pages never
//! touched cost nothing). The command line makes the global pool of such threads once
//! ([`start`]). A library caller that did not gets a pool built for the stage, as every
//! stage had before: its threads started and exited with the stage, and what they had
//! allocated (every Bicep resource) was left to the allocator as abandoned pages for other
//! threads to take over (mimalloc's statistics on the Bicep set: 356 abandoned pages, 173
//! with the one pool; Bicep −3 % wall, Terraform −4 %, in interleaved runs).

use std::sync::atomic::{AtomicBool, Ordering};

/// The stack of a thread that evaluates.
pub const STACK: usize = 256 << 20;

/// Set once the global pool's threads have deep stacks.
static DEEP: AtomicBool = AtomicBool::new(false);

/// Builds the global pool: `threads` workers (0: one per core), with deep stacks.
pub fn start(threads: usize) -> Result<(), rayon::ThreadPoolBuildError> {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .stack_size(STACK)
        .build_global()?;
    DEEP.store(true, Ordering::Release);
    Ok(())
}

/// Threads with deep stacks for a stage: the global pool's when [`start`] built it, else a
/// pool built for the stage (as many threads as the global pool has), else none (none
/// could be started).
pub enum Deep {
    Global,
    Own(rayon::ThreadPool),
    Unavailable,
}

impl Deep {
    pub fn get() -> Deep {
        if DEEP.load(Ordering::Acquire) {
            return Deep::Global;
        }
        match rayon::ThreadPoolBuilder::new()
            .num_threads(rayon::current_num_threads()) // `--threads`
            .stack_size(STACK)
            .build()
        {
            Ok(pool) => Deep::Own(pool),
            Err(_) => Deep::Unavailable,
        }
    }

    /// Runs `f` on one of the threads, its parallel iterators on them too; None when there
    /// are none.
    pub fn install<R: Send>(&self, f: impl FnOnce() -> R + Send) -> Option<R> {
        match self {
            // Called from outside the pool, a scope runs its body on one of the workers.
            Deep::Global => Some(rayon::scope(|_| f())),
            Deep::Own(pool) => Some(pool.install(f)),
            Deep::Unavailable => None,
        }
    }
}
