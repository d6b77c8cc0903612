//! The corpus sweep: scan every file of the shared corpus (real public repositories) and
//! check that nothing panics, nothing is lost, and the counts per language do not regress.
//! The counts are printed (`cargo test --test corpus_sweep -- --nocapture`).

use basegate::model::DiagSeverity;
use std::path::PathBuf;

fn shared() -> Option<PathBuf> {
    let candidates = [
        std::env::var_os("BASEGATE_SHARED").map(PathBuf::from),
        Some(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared")),
    ];
    candidates
        .into_iter()
        .flatten()
        .find(|p| p.join("corpus").is_dir())
}

#[test]
fn arm_corpus_sweep() {
    let Some(shared) = shared() else {
        panic!("the shared corpus is missing: set BASEGATE_SHARED or place shared/ beside the repository");
    };
    let corpus = shared.join("corpus");
    let opts = basegate::ScanOptions {
        paths: vec![
            corpus.join("quickstart-templates"),
            corpus.join("resource-modules"),
        ],
        root: Some(corpus.clone()),
        rules: basegate::rules::builtin(),
        ..Default::default()
    };
    let start = std::time::Instant::now();
    let r = basegate::scan(&opts);
    let elapsed = start.elapsed();
    let s = &r.stats;
    println!(
        "ARM: {} files, {} resources, {} errors; {} findings; {} diagnostics in all; {:.2?}",
        s.arm.files,
        s.arm.resources,
        s.arm.errors,
        r.findings.len(),
        r.diagnostics.len(),
        elapsed
    );
    // Every template that declares resources yields resources or a diagnostic.
    let mut silent = Vec::new();
    for f in r.sources.files() {
        if !f.rel_path.ends_with(".json") || f.text.is_empty() {
            continue;
        }
        let Ok(doc) = basegate::json::parse(&f.text, f.id) else {
            continue;
        };
        let is_template = doc
            .root
            .get("$schema")
            .and_then(|s| s.as_str())
            .is_some_and(|s| s.to_ascii_lowercase().contains("deploymenttemplate"));
        let declares = match doc.root.get("resources").map(|r| &r.value) {
            Some(basegate::model::Value::Array(a)) => !a.is_empty(),
            Some(basegate::model::Value::Object(o)) => !o.is_empty(),
            _ => false,
        };
        if is_template && declares {
            let has_res = r.model.resources.iter().any(|x| x.file == f.id);
            let has_diag = r.diagnostics.iter().any(|d| d.span.file == f.id);
            // Every resource may be behind a known-false condition or `existing`.
            if !has_res
                && !has_diag
                && !f.text.contains("\"condition\"")
                && !f.text.contains("\"existing\"")
            {
                silent.push(f.rel_path.clone());
            }
        }
    }
    assert!(
        silent.is_empty(),
        "templates with resources but no resource and no diagnostic: {silent:#?}"
    );
    // The only ARM input errors in the corpus are real defects of the files themselves.
    let known_broken = ["orchard-cms-video-portal/azuredeploy.json"];
    let errors: Vec<String> = r
        .diagnostics
        .iter()
        .filter(|d| d.severity == DiagSeverity::Error)
        .map(|d| format!("{}: {}", r.rel_path(d.span.file), d.message))
        .filter(|m| m.contains(".json") && !known_broken.iter().any(|k| m.contains(k)))
        .collect();
    assert!(
        errors.is_empty(),
        "{} ARM errors:\n{}",
        errors.len(),
        errors.join("\n")
    );
    assert!(
        s.arm.files > 3000,
        "the walk found only {} ARM files",
        s.arm.files
    );
    assert!(
        s.arm.resources > 10_000,
        "only {} ARM resources",
        s.arm.resources
    );
}
