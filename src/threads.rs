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
use std::sync::{Arc, Mutex};

/// The stack of a thread that evaluates.
pub const STACK: usize = 256 << 20;

/// Set once the global pool's threads have deep stacks.
static DEEP: AtomicBool = AtomicBool::new(false);

/// Builds the global pool: `threads` workers (0: one per core), with deep stacks when they
/// can start. A limit on address space (`ulimit -v`) may forbid threads that large: a
/// worker that cannot get one starts with an ordinary stack instead, and then each stage
/// tries a pool of its own and falls back as it did before there was one pool. (The global
/// pool must build at the first try: one that fails leaves rayon without a global pool for
/// good, and its next use panics.)
pub fn start(threads: usize) -> Result<(), rayon::ThreadPoolBuildError> {
    let all_deep = AtomicBool::new(true);
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .spawn_handler(|worker| {
            let name = worker.name().map(str::to_owned);
            // Shared with the thread, so that a failed spawn, which drops what it was
            // given, leaves the worker for the second try.
            let worker = Arc::new(Mutex::new(Some(worker)));
            let body = |w: Arc<Mutex<Option<rayon::ThreadBuilder>>>| {
                move || {
                    let taken = w.lock().unwrap_or_else(|e| e.into_inner()).take();
                    if let Some(worker) = taken {
                        worker.run();
                    }
                }
            };
            let builder = || {
                let b = std::thread::Builder::new();
                match &name {
                    Some(n) => b.name(n.clone()),
                    None => b,
                }
            };
            if builder()
                .stack_size(STACK)
                .spawn(body(worker.clone()))
                .is_err()
            {
                all_deep.store(false, Ordering::Relaxed);
                builder().spawn(body(worker))?;
            }
            Ok(())
        })
        .build_global()?;
    DEEP.store(all_deep.load(Ordering::Relaxed), Ordering::Release);
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
