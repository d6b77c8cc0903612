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
    last: Option<Instant>,
}

impl Stopwatch {
    pub fn start() -> Stopwatch {
        Stopwatch {
            last: enabled().then(Instant::now),
        }
    }

    pub fn lap(&mut self, stage: &str) {
        if let Some(last) = self.last {
            let now = Instant::now();
            eprintln!(
                "timing: {stage:<12} {:>8.1} ms  {}",
                (now - last).as_secs_f64() * 1e3,
                memory()
            );
            self.last = Some(now);
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
