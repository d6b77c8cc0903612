//! The Bicep parser against real files: every `.bicep` and `.bicepparam` file of the shared
//! corpus must parse without a syntax error.

use basegate::bicep::{self, NodeRef, TextRange};
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
    for stmt in &parsed.program.statements {
        let h = NodeRef::Statement(stmt).height();
        if h > bicep::MAX_TREE_HEIGHT {
            return Err(format!("tree {h} levels deep"));
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

mod properties {
    use super::*;
    use proptest::prelude::*;
    use std::sync::OnceLock;

    /// A sample of corpus files (every 25th), read once, for prefix and mutation properties.
    fn samples() -> &'static [String] {
        static SAMPLES: OnceLock<Vec<String>> = OnceLock::new();
        SAMPLES.get_or_init(|| {
            corpus_files()
                .iter()
                .step_by(25)
                .filter_map(|p| std::fs::read_to_string(p).ok())
                .collect()
        })
    }

    /// Bicep-ish fragments, so random text hits real constructs and their edges.
    const PIECES: &[&str] = &[
        "param ",
        "var ",
        "resource ",
        "module ",
        "output ",
        "type ",
        "func ",
        "import ",
        "extension ",
        "using ",
        "targetScope",
        "metadata ",
        "assert ",
        "existing ",
        "if ",
        "for ",
        " in ",
        "@description",
        "@secure()",
        "x",
        "y1",
        "'",
        "'''",
        "${",
        "}",
        "{",
        "[",
        "]",
        "(",
        ")",
        ":",
        "::",
        ",",
        ".",
        ".?",
        "[?",
        "!",
        "?",
        "??",
        "=",
        "==",
        "!=",
        "=~",
        "&&",
        "||",
        "=>",
        "...",
        "|",
        "-",
        "+",
        "*",
        "<",
        ">=",
        "\n",
        "\r\n",
        " ",
        "//c",
        "/*",
        "*/",
        "#disable-next-line x\n",
        "\\",
        "\\u{",
        "1",
        "true",
        "null",
        "é",
        "✓",
        "\t",
        "string",
        "resource<'T@1'>",
        "'a${b}c'",
        "{\n a: 1\n}",
        "[for x in y: x]",
    ];

    fn check(text: &str) -> Result<(), TestCaseError> {
        let parsed = bicep::parse(text);
        if let Err(e) = check_ranges(text, &parsed) {
            return Err(TestCaseError::fail(e));
        }
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

        #[test]
        fn random_bicepish_text_is_total(pieces in prop::collection::vec(0..PIECES.len(), 0..120)) {
            let text: String = pieces.iter().map(|&i| PIECES[i]).collect();
            check(&text)?;
        }

        #[test]
        fn random_chars_are_total(text in r"[a-z0-9 {}\[\]():=,.'@\n/*?!|&<>$\\#-]{0,300}") {
            check(&text)?;
        }

        #[test]
        fn arbitrary_unicode_is_total(text in any::<String>()) {
            check(&text)?;
        }

        #[test]
        fn corpus_prefixes_are_total(file in any::<prop::sample::Index>(), cut in any::<prop::sample::Index>()) {
            let samples = samples();
            prop_assume!(!samples.is_empty());
            let text = &samples[file.index(samples.len())];
            let mut end = cut.index(text.len() + 1);
            while !text.is_char_boundary(end) {
                end -= 1;
            }
            check(&text[..end])?;
        }

        #[test]
        fn corpus_with_a_splice_is_total(
            file in any::<prop::sample::Index>(),
            at in any::<prop::sample::Index>(),
            len in 0usize..40,
            piece in 0..PIECES.len(),
        ) {
            let samples = samples();
            prop_assume!(!samples.is_empty());
            let text = &samples[file.index(samples.len())];
            let mut start = at.index(text.len() + 1);
            while !text.is_char_boundary(start) {
                start -= 1;
            }
            let mut end = (start + len).min(text.len());
            while !text.is_char_boundary(end) {
                end -= 1;
            }
            let spliced = format!("{}{}{}", &text[..start], PIECES[piece], &text[end..]);
            check(&spliced)?;
        }
    }

    /// Every prefix of a few real files (at line and token-ish boundaries).
    #[test]
    fn every_line_prefix_of_some_files_is_total() {
        for text in samples().iter().take(8) {
            for (i, _) in text.match_indices(['\n', '\'', '{', '(', '[', '$']) {
                let parsed = bicep::parse(&text[..i]);
                check_ranges(&text[..i], &parsed).unwrap();
            }
        }
    }
}

/// Parse throughput on the corpus. Run with
/// `cargo test --release --test bicep_parse -- --ignored --nocapture throughput`.
#[test]
#[ignore]
fn throughput() {
    let texts: Vec<String> = corpus_files()
        .iter()
        .filter_map(|p| std::fs::read_to_string(p).ok())
        .collect();
    let bytes: usize = texts.iter().map(|t| t.len()).sum();
    let rounds = 5;
    let start = std::time::Instant::now();
    let mut statements = 0;
    for _ in 0..rounds {
        for t in &texts {
            statements += bicep::parse(t).program.statements.len();
        }
    }
    let secs = start.elapsed().as_secs_f64();
    let mb = (bytes * rounds) as f64 / 1e6;
    eprintln!(
        "bicep parse: {} files, {:.1} MB x {rounds} in {secs:.2}s = {:.0} MB/s ({statements} statements)",
        texts.len(),
        bytes as f64 / 1e6,
        mb / secs
    );
}
