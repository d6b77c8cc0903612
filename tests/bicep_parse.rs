//! The Bicep parser against real files: every `.bicep` and `.bicepparam` file of the shared
//! corpus must parse without a syntax error.

use basegate::bicep::{self, TextRange};
use basegate::source::LineIndex;
use std::path::{Path, PathBuf};

/// The shared read-only data: `BASEGATE_SHARED`, else `../shared` beside the repository
/// (how CI lays it out), else `/work/shared`.
fn shared_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("BASEGATE_SHARED") {
        return PathBuf::from(dir);
    }
    let beside = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared");
    if beside.is_dir() {
        return beside;
    }
    PathBuf::from("/work/shared")
}

/// Files excluded from the zero-errors sweep, with the reason in src/bicep/KNOWN_GAPS.md.
/// Each must still report at least one error (they are invalid on purpose).
const KNOWN_GAPS: &[&str] = &[
    "quickstart-templates/test/ci-tests/data/validate-deploymentfile-tests/bicep-error/main.bicep",
];

fn corpus_files() -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut dirs = vec![shared_dir().join("corpus")];
    while let Some(dir) = dirs.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            if kind.is_dir() {
                dirs.push(path);
            } else if kind.is_file()
                && matches!(
                    path.extension().and_then(|e| e.to_str()),
                    Some("bicep" | "bicepparam")
                )
            {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

fn check_ranges(text: &str, parsed: &bicep::Parsed) -> Result<(), String> {
    let ok = |r: TextRange| {
        r.start <= r.end
            && (r.end as usize) <= text.len()
            && text.is_char_boundary(r.start as usize)
            && text.is_char_boundary(r.end as usize)
    };
    for node in parsed.program.nodes() {
        if !ok(node.range()) {
            return Err(format!("bad node range {:?}", node.range()));
        }
    }
    for r in parsed
        .errors
        .iter()
        .map(|e| e.range)
        .chain(parsed.comments.iter().copied())
    {
        if !ok(r) {
            return Err(format!("bad range {r:?}"));
        }
    }
    Ok(())
}

#[test]
fn corpus_parses_without_errors() {
    let files = corpus_files();
    let mut failures = Vec::new();
    let mut parsed_count = 0;
    let mut skipped = 0;
    for path in &files {
        let rel = path.to_string_lossy().replace('\\', "/");
        let Ok(text) = std::fs::read_to_string(path) else {
            failures.push(format!("{rel}: not UTF-8"));
            continue;
        };
        let parsed = bicep::parse(&text);
        if KNOWN_GAPS.iter().any(|gap| rel.ends_with(gap)) {
            skipped += 1;
            if parsed.errors.is_empty() {
                failures.push(format!("{rel}: listed in KNOWN_GAPS but parses cleanly"));
            }
            continue;
        }
        parsed_count += 1;
        if let Err(e) = check_ranges(&text, &parsed) {
            failures.push(format!("{rel}: {e}"));
        }
        if !parsed.errors.is_empty() {
            let lines = LineIndex::new(&text);
            let mut msg = format!("{rel}: {} errors", parsed.errors.len());
            for e in parsed.errors.iter().take(3) {
                let lc = lines.line_col(&text, e.range.start);
                msg.push_str(&format!("\n    {rel}:{}:{} {}", lc.line, lc.col, e.message));
            }
            failures.push(msg);
        }
    }
    eprintln!(
        "bicep corpus: {parsed_count} files parsed, {skipped} known gaps, {} failing",
        failures.len()
    );
    assert!(
        failures.is_empty(),
        "{} of {parsed_count} files failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    // A silently empty walk must fail: the corpus holds about 1,700 Bicep files.
    assert!(
        parsed_count >= 1700,
        "only {parsed_count} corpus files found"
    );
    assert_eq!(skipped, KNOWN_GAPS.len());
}
