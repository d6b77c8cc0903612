//! The Bicep corpus sweep: every `.bicep` file of the shared corpus is parsed and evaluated
//! (as an entry point or through its callers) with no error diagnostic; warnings are fine.
//! Counts and throughput are printed (`cargo test --release --test bicep_sweep -- --nocapture`).

use basegate::model::DiagSeverity;
use std::path::PathBuf;

fn shared() -> Option<PathBuf> {
    [
        std::env::var_os("BASEGATE_SHARED").map(PathBuf::from),
        Some(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared")),
    ]
    .into_iter()
    .flatten()
    .find(|p| p.join("corpus").is_dir())
}

/// Intentionally invalid corpus files (see `src/bicep/KNOWN_GAPS.md`).
const KNOWN_INVALID: &[&str] = &[
    "quickstart-templates/test/ci-tests/data/validate-deploymentfile-tests/bicep-error/main.bicep",
];

#[test]
fn bicep_corpus_sweep() {
    let shared = shared().expect("the shared corpus is missing: set BASEGATE_SHARED");
    let corpus =
        basegate::discover::normalize(&std::path::absolute(shared.join("corpus")).unwrap());
    let opts = basegate::ScanOptions {
        paths: vec![
            corpus.join("quickstart-templates"),
            corpus.join("resource-modules"),
        ],
        root: Some(corpus.clone()),
        filter: basegate::discover::Filter {
            include: Some(
                basegate::discover::build_globset(&["*.bicep".into(), "*.bicepparam".into()])
                    .unwrap(),
            ),
            ..Default::default()
        },
        rules: basegate::rules::builtin(),
        ..Default::default()
    };
    let start = std::time::Instant::now();
    let r = basegate::scan(&opts);
    let elapsed = start.elapsed();
    let bytes: usize = r
        .sources
        .files()
        .iter()
        .filter(|f| f.rel_path.ends_with(".bicep"))
        .map(|f| f.text.len())
        .sum();
    let warnings = r
        .diagnostics
        .iter()
        .filter(|d| d.severity == DiagSeverity::Warning)
        .count();
    let s = &r.stats.bicep;
    println!(
        "Bicep: {} files ({:.1} MB), {} resources, {} errors, {} warnings; {} findings; {:.2?} ({:.1} MB/s scan incl. checks)",
        s.files,
        bytes as f64 / 1e6,
        s.resources,
        s.errors,
        warnings,
        r.findings.len(),
        elapsed,
        bytes as f64 / 1e6 / elapsed.as_secs_f64()
    );
    // Parse + evaluate alone (no discovery, no checks), over the same files.
    let ids: Vec<basegate::source::FileId> = r
        .sources
        .files()
        .iter()
        .filter(|f| f.rel_path.ends_with(".bicep") || f.rel_path.ends_with(".bicepparam"))
        .map(|f| f.id)
        .collect();
    let sources = basegate::source::SourceMap::default();
    let mut fresh = Vec::new();
    for id in &ids {
        let f = r.sources.get(*id);
        fresh.push(sources.add(f.path.clone(), f.rel_path.clone(), f.text.clone()));
    }
    let start = std::time::Instant::now();
    let out = basegate::bicep::evaluate(&sources, &fresh, &corpus);
    let t = start.elapsed();
    println!(
        "parse + evaluate: {} files, {:.1} MB, {} resources in {:.2?}: {:.1} MB/s, {:.0} files/s",
        fresh.len(),
        bytes as f64 / 1e6,
        out.resources.len(),
        t,
        bytes as f64 / 1e6 / t.as_secs_f64(),
        fresh.len() as f64 / t.as_secs_f64()
    );
    let mut by_message: std::collections::BTreeMap<String, usize> = Default::default();
    for d in r
        .diagnostics
        .iter()
        .filter(|d| d.severity == DiagSeverity::Warning)
    {
        let m: String = d.message.chars().take(60).collect();
        *by_message.entry(m).or_default() += 1;
    }
    let mut top: Vec<_> = by_message.into_iter().collect();
    top.sort_by_key(|x| std::cmp::Reverse(x.1));
    for (m, n) in top.iter().take(15) {
        println!("  warning x{n}: {m}");
    }
    let errors: Vec<String> = r
        .errors()
        .filter(|d| {
            let rel = r.rel_path(d.file());
            !KNOWN_INVALID.contains(&rel.as_str())
        })
        .map(|d| {
            let f = r.sources.get(d.file());
            let lc = f.line_col(d.span.start);
            format!("{}:{}:{}: {}", f.rel_path, lc.line, lc.col, d.message)
        })
        .collect();
    assert!(
        s.files > 1000,
        "the corpus should hold over 1000 Bicep files"
    );
    assert!(
        errors.is_empty(),
        "{} error diagnostic(s):\n{}",
        errors.len(),
        errors
            .iter()
            .take(40)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
    // Every known-invalid file is reported, never passed in silence.
    for k in KNOWN_INVALID {
        assert!(
            r.errors().any(|d| r.rel_path(d.file()) == *k),
            "{k} should report a syntax error"
        );
    }
}
