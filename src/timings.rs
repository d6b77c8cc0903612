//! Stage timings for profiling: with `BASEGATE_TIMINGS` set in the environment, each
//! pipeline stage's wall time goes to standard error as it ends (`bench/README.md` shows how
//! they were used). Off by default: nothing is measured or printed.

use std::sync::OnceLock;
use std::time::Instant;

fn enabled() -> bool {
    static ON: OnceLock<bool> = OnceLock::new();
    *ON.get_or_init(|| std::env::var_os("BASEGATE_TIMINGS").is_some())
}

/// Measures consecutive stages: each [`Stopwatch::lap`] reports the time since the last.
pub struct Stopwatch {
    last: Option<(Instant, f64, u64)>,
}

impl Stopwatch {
    pub fn start() -> Stopwatch {
        Stopwatch {
            last: enabled().then(|| (Instant::now(), cpu_seconds(), page_faults())),
        }
    }

    pub fn lap(&mut self, stage: &str) {
        if let Some((last, last_cpu, last_faults)) = self.last {
            let (now, cpu, faults) = (Instant::now(), cpu_seconds(), page_faults());
            eprintln!(
                "timing: {stage:<12} {:>8.1} ms  cpu {:>6.1} ms  faults {:>6}  {}",
                (now - last).as_secs_f64() * 1e3,
                (cpu - last_cpu) * 1e3,
                faults.saturating_sub(last_faults),
                memory()
            );
            self.last = Some((now, cpu, faults));
        }
    }
}

/// Resident memory now and at the peak so far (Linux `/proc/self/status`), for the same
/// report: which stage holds the peak.
fn memory() -> String {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .map(|v| v.trim().to_string())
            .unwrap_or_default()
    };
    format!("rss {} peak {}", field("VmRSS:"), field("VmHWM:"))
}

/// Page faults of the whole process so far (`/proc/self/stat`, minor and major): memory
/// touched for the first time costs a fault per 4 KiB page, and on the benchmark machine
/// they were a third of a scan's CPU time (bench/README.md).
fn page_faults() -> u64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // The command name (field 2) is in parentheses and may hold spaces: count after it.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // After the name: state (3), ppid, pgrp, session, tty_nr, tpgid, flags, minflt (10),
    // cminflt, majflt (12).
    let get = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    get(7) + get(9)
}

/// CPU time of the whole process, all threads, user and system: with the wall time of a
/// stage, how well it used the cores.
#[cfg(target_os = "linux")]
fn cpu_seconds() -> f64 {
    #[repr(C)]
    struct Timespec {
        sec: i64,
        nsec: i64,
    }
    unsafe extern "C" {
        fn clock_gettime(clock: i32, tp: *mut Timespec) -> i32;
    }
    const CLOCK_PROCESS_CPUTIME_ID: i32 = 2;
    let mut t = Timespec { sec: 0, nsec: 0 };
    // SAFETY: clock_gettime writes one timespec to the pointer it is given, which points to
    // a live, properly laid out value (64-bit Linux: two 64-bit fields).
    if unsafe { clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &mut t) } != 0 {
        return 0.0;
    }
    t.sec as f64 + t.nsec as f64 * 1e-9
}

#[cfg(not(target_os = "linux"))]
fn cpu_seconds() -> f64 {
    0.0
}
