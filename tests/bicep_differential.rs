//! Differential test of the Bicep frontend against the ARM frontend: every corpus folder
//! holding a `main.bicep` and the ARM JSON compiled from it (`azuredeploy.json` in the
//! quickstarts, `main.json` in ResourceModules) is scanned twice, separately, each on its
//! own defaults (no parameter file), and the two must yield the same multiset of
//! (resource type, API version) and of (rule, resource type) findings.
//!
//! Module calls compile to `Microsoft.Resources/deployments` in ARM; those are left out on
//! both sides (the resources inside them are compared). Registry modules are not fetched by
//! the Bicep frontend, and some compiled JSON is older than the Bicep beside it: such pairs
//! are counted apart. Run with `--nocapture` for the numbers.

use basegate::model::Resource;
use basegate::source::{FileId, SourceMap};
use foldhash::{HashMap, HashMapExt};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

fn shared() -> Option<PathBuf> {
    [
        std::env::var_os("BASEGATE_SHARED").map(PathBuf::from),
        Some(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared")),
    ]
    .into_iter()
    .flatten()
    .find(|p| p.join("corpus").is_dir())
    .map(|p| basegate::discover::normalize(&std::path::absolute(&p).unwrap()))
}

fn rules() -> &'static [basegate::rules::Rule] {
    static RULES: std::sync::OnceLock<Vec<basegate::rules::Rule>> = std::sync::OnceLock::new();
    RULES.get_or_init(basegate::rules::builtin)
}

type Multiset = BTreeMap<(String, String), usize>;

struct Side {
    resources: Multiset,
    findings: Multiset,
    errors: usize,
}

fn check(sources: &SourceMap, mut resources: Vec<Resource>, errors: usize) -> Side {
    resources.retain(|r| !r.is_type("Microsoft.Resources/deployments"));
    let mut res = Multiset::new();
    for r in &resources {
        *res.entry((
            r.type_name.to_ascii_lowercase(),
            r.api_version.clone().unwrap_or_default(),
        ))
        .or_default() += 1;
    }
    basegate::normalize::run(&mut resources);
    let model = basegate::link::run(resources);
    let rules = rules();
    let rel = |f: FileId| sources.get(f).rel_path.clone();
    let out = basegate::check::run(&model, rules, &rel);
    let mut findings = Multiset::new();
    for f in &out.findings {
        let r = model.get(f.resource);
        *findings
            .entry((f.rule_id.clone(), r.type_name.to_ascii_lowercase()))
            .or_default() += 1;
    }
    Side {
        resources: res,
        findings,
        errors,
    }
}

fn add(sources: &SourceMap, dir: &Path, file: &Path) -> FileId {
    let text = std::fs::read_to_string(file).unwrap_or_default();
    sources.add(
        file.to_path_buf(),
        basegate::discover::relative(dir, file),
        text,
    )
}

fn scan_bicep(dir: &Path, file: &Path) -> Side {
    let sources = SourceMap::default();
    let id = add(&sources, dir, file);
    let out = basegate::bicep::evaluate(&sources, &[id], dir);
    let errors = out
        .diagnostics
        .iter()
        .filter(|d| d.severity == basegate::model::DiagSeverity::Error)
        .count();
    check(&sources, out.resources, errors)
}

fn scan_arm(dir: &Path, file: &Path) -> Side {
    let sources = SourceMap::default();
    let id = add(&sources, dir, file);
    let out = basegate::arm::evaluate_file(&sources, &sources.get(id), &HashMap::new(), None);
    let errors = out
        .diagnostics
        .iter()
        .filter(|d| d.severity == basegate::model::DiagSeverity::Error)
        .count();
    check(&sources, out.resources, errors)
}

fn pairs(corpus: &Path) -> Vec<(PathBuf, PathBuf)> {
    let mut out = Vec::new();
    let mut stack = vec![corpus.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            }
        }
        let bicep = d.join("main.bicep");
        if !bicep.is_file() {
            continue;
        }
        for json in ["azuredeploy.json", "main.json"] {
            if d.join(json).is_file() {
                out.push((bicep.clone(), d.join(json)));
                break;
            }
        }
    }
    out.sort();
    out
}

fn diff(a: &Multiset, b: &Multiset) -> String {
    let mut parts = Vec::new();
    for (k, n) in a {
        let m = b.get(k).copied().unwrap_or(0);
        if *n > m {
            parts.push(format!("bicep+{} {} {}", n - m, k.0, k.1));
        }
    }
    for (k, n) in b {
        let m = a.get(k).copied().unwrap_or(0);
        if *n > m {
            parts.push(format!("arm+{} {} {}", n - m, k.0, k.1));
        }
    }
    parts.truncate(4);
    parts.join("; ")
}

fn api_versions_differ(a: &Multiset, b: &Multiset) -> bool {
    let versions = |m: &Multiset| {
        let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (t, v) in m.keys() {
            out.entry(t.clone()).or_default().push(v.clone());
        }
        out
    };
    let (va, vb) = (versions(a), versions(b));
    va.iter().any(|(t, v)| vb.get(t).is_some_and(|w| w != v))
}

#[test]
fn bicep_matches_compiled_arm() {
    let corpus = shared().expect("shared corpus missing").join("corpus");
    let all = pairs(&corpus);
    assert!(
        all.len() > 500,
        "expected the corpus pairs, found {}",
        all.len()
    );
    let (mut compared, mut same_res, mut same_find) = (0, 0, 0);
    let (mut registry, mut stale) = (0, 0);
    let mut disagreements = Vec::new();
    for (bicep, json) in &all {
        let dir = bicep.parent().unwrap();
        let text = std::fs::read_to_string(bicep).unwrap_or_default();
        if text.contains("'br:")
            || text.contains("'br/")
            || text.contains("'ts:")
            || text.contains("'ts/")
        {
            registry += 1;
            continue;
        }
        let b = scan_bicep(dir, bicep);
        let a = scan_arm(dir, json);
        if a.errors > 0 {
            continue;
        }
        compared += 1;
        let res_ok = b.resources == a.resources;
        let find_ok = b.findings == a.findings;
        if !res_ok && api_versions_differ(&b.resources, &a.resources) {
            // A type both declare, at other API versions: the JSON was compiled from an
            // older version of the Bicep beside it.
            stale += 1;
        }
        same_res += res_ok as usize;
        same_find += find_ok as usize;
        if !res_ok || !find_ok {
            let rel = basegate::discover::relative(&corpus, dir);
            let reason = if !res_ok {
                format!("resources: {}", diff(&b.resources, &a.resources))
            } else {
                format!("findings: {}", diff(&b.findings, &a.findings))
            };
            disagreements.push(format!("{rel}: {reason}"));
        }
    }
    let pct = |n: usize| 100.0 * n as f64 / compared.max(1) as f64;
    println!(
        "Bicep vs compiled ARM: {} pairs found, {} with registry modules skipped, {} compared; identical resource sets {:.1}% ({}), identical finding sets {:.1}% ({}); {} differ only in API versions (stale JSON)",
        all.len(),
        registry,
        compared,
        pct(same_res),
        same_res,
        pct(same_find),
        same_find,
        stale
    );
    for d in disagreements.iter().take(25) {
        println!("  {d}");
    }
    let fresh = compared - stale;
    println!(
        "  excluding stale JSON: identical resource sets {:.1}% of {fresh}",
        100.0 * same_res as f64 / fresh.max(1) as f64
    );
    // Floors a little under what is reached. The known remaining differences are by
    // design: `@secure()` parameters are unknown even with a default, `loadJsonContent()`
    // files are not read, and the ARM side leaves some nested-deployment parameters
    // unknown that the Bicep side knows.
    assert!(
        pct(same_res) >= 97.0,
        "identical resource sets {:.1}%",
        pct(same_res)
    );
    assert!(
        pct(same_find) >= 95.0,
        "identical finding sets {:.1}%",
        pct(same_find)
    );
}
