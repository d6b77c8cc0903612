//! The Terraform frontend over the shared corpus: every folder evaluates without panics or
//! error diagnostics, and finds at least a floor of resources (so a silently empty walk
//! fails). Prints per-folder counts and the time taken.

use basegate::model::DiagSeverity;
use basegate::source::SourceMap;
use basegate::terraform::{evaluate, Input};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

fn shared() -> PathBuf {
    if let Ok(p) = std::env::var("BASEGATE_SHARED") {
        return PathBuf::from(p);
    }
    let beside = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared");
    if beside.exists() {
        return beside;
    }
    PathBuf::from("/work/shared")
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<PathBuf> = rd.filter_map(|e| e.ok()).map(|e| e.path()).collect();
    entries.sort();
    for p in entries {
        let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if p.is_dir() {
            if name != ".git" && name != ".terraform" {
                walk(&p, out);
            }
        } else if name.ends_with(".tf")
            || name.ends_with(".tf.json")
            || name.ends_with(".tfvars")
            || name.ends_with(".tfvars.json")
        {
            out.push(p);
        }
    }
}

/// (folder, minimum resources expected)
const FOLDERS: &[(&str, usize)] = &[
    ("tf-azurerm-examples", 1500),
    ("tf-avm-storageaccount", 420),
    ("tf-avm-aks", 200),
    ("tf-avm-web-site", 650),
];

#[test]
fn corpus_evaluates_cleanly() {
    let corpus = shared().join("corpus");
    if !corpus.exists() {
        eprintln!("corpus not found at {}: skipped", corpus.display());
        return;
    }
    let mut total_files = 0;
    let mut total_resources = 0;
    let mut total_time = 0.0;
    let mut failures = Vec::new();
    for (folder, floor) in FOLDERS {
        let root = corpus.join(folder);
        let mut paths = Vec::new();
        walk(&root, &mut paths);
        let sources = SourceMap::default();
        let mut files = Vec::new();
        for p in &paths {
            let text = std::fs::read_to_string(p).unwrap_or_default();
            let rel = p
                .strip_prefix(&root)
                .unwrap_or(p)
                .to_string_lossy()
                .replace('\\', "/");
            files.push(sources.add(p.clone(), rel, text));
        }
        let n_files = files.len();
        let start = Instant::now();
        let out = evaluate(&Input {
            sources: &sources,
            files,
            root: &root,
            var_files: Vec::new(),
            vars: Vec::new(),
            assume_azurerm: None,
        });
        let secs = start.elapsed().as_secs_f64();
        total_time += secs;
        total_files += n_files;
        total_resources += out.resources.len();
        let mut kinds: BTreeMap<String, usize> = BTreeMap::new();
        for d in &out.diagnostics {
            // group messages by their first words, quoted names cut out
            let key: String = d
                .message
                .split('\'')
                .step_by(2)
                .collect::<Vec<_>>()
                .join("…")
                .split_whitespace()
                .take(7)
                .collect::<Vec<_>>()
                .join(" ");
            *kinds.entry(format!("{:?}: {key}", d.severity)).or_default() += 1;
        }
        let arm = out
            .resources
            .iter()
            .filter(|r| r.dialect == basegate::model::Dialect::Arm)
            .count();
        let unknown_names = out.resources.iter().filter(|r| r.name.is_none()).count();
        println!(
            "{folder}: {n_files} files, {} resources ({arm} azapi→ARM, {unknown_names} without a known name), {} diagnostics, {:.1} ms",
            out.resources.len(),
            out.diagnostics.len(),
            secs * 1000.0
        );
        for (k, n) in &kinds {
            println!("    {n:5}  {k}");
        }
        for d in out
            .diagnostics
            .iter()
            .filter(|d| d.severity == DiagSeverity::Error)
        {
            let f = sources.get(d.span.file);
            let lc = f.line_col(d.span.start);
            failures.push(format!(
                "{}:{}:{}: {}",
                f.rel_path, lc.line, lc.col, d.message
            ));
        }
        if out.resources.len() < *floor {
            failures.push(format!(
                "{folder}: only {} resources (floor {floor})",
                out.resources.len()
            ));
        }
    }
    println!(
        "total: {total_files} files, {total_resources} resources, {:.1} ms",
        total_time * 1000.0
    );
    assert!(
        failures.is_empty(),
        "corpus failures:\n{}",
        failures.join("\n")
    );
}

/// `TF_DUMP=<dir> cargo test --test terraform_corpus dump -- --ignored --nocapture`
#[test]
#[ignore]
fn dump() {
    let Ok(dir) = std::env::var("TF_DUMP") else {
        return;
    };
    let root = PathBuf::from(dir);
    let mut paths = Vec::new();
    walk(&root, &mut paths);
    let sources = SourceMap::default();
    let files = paths
        .iter()
        .map(|p| {
            let rel = p
                .strip_prefix(&root)
                .unwrap_or(p)
                .to_string_lossy()
                .replace('\\', "/");
            sources.add(
                p.clone(),
                rel,
                std::fs::read_to_string(p).unwrap_or_default(),
            )
        })
        .collect();
    let out = evaluate(&Input {
        sources: &sources,
        files,
        root: &root,
        var_files: Vec::new(),
        vars: Vec::new(),
        assume_azurerm: None,
    });
    for r in &out.resources {
        println!(
            "{} {} {:?} name={:?} v={:?}",
            r.address, r.type_name, r.dialect, r.name, r.api_version
        );
        println!("    body: {:?}", r.body.value.to_string());
        let full = std::env::var("TF_DUMP_ADDR").is_ok_and(|a| r.address.contains(&a));
        for (k, v) in r.body.as_object().unwrap_or(&[]) {
            if full {
                print_tree(k, v, 2);
            } else {
                println!("    {k} = {}", v.value);
            }
        }
        for l in &r.links {
            println!("    link {:?} {} -> {}", l.kind, l.path, l.target);
        }
    }
    for d in &out.diagnostics {
        let f = sources.get(d.span.file);
        let lc = f.line_col(d.span.start);
        println!("{:?} {}:{}: {}", d.severity, f.rel_path, lc.line, d.message);
    }
}

/// Truncated and mangled corpus files: diagnostics at worst, never a panic or a hang.
#[test]
fn mangled_files_never_crash() {
    let corpus = shared().join("corpus");
    let mut paths = Vec::new();
    walk(&corpus.join("tf-avm-aks"), &mut paths);
    walk(&corpus.join("tf-avm-storageaccount"), &mut paths);
    if paths.is_empty() {
        return;
    }
    let start = Instant::now();
    for (i, p) in paths.iter().enumerate().step_by(3) {
        let text = std::fs::read_to_string(p).unwrap_or_default();
        for cut in 1..6 {
            let mut at = text.len() * cut / 6;
            while !text.is_char_boundary(at) {
                at -= 1;
            }
            let mangled = if i % 2 == 0 {
                text[..at].to_string()
            } else {
                format!(
                    "{}{}",
                    &text[..at],
                    &text[(at + 7).min(text.len())..].replacen('}', "", 1)
                )
            };
            let sources = SourceMap::default();
            let id = sources.add(p.with_file_name("main.tf"), "main.tf".into(), mangled);
            let out = evaluate(&Input {
                sources: &sources,
                files: vec![id],
                root: p.parent().unwrap_or(Path::new(".")),
                var_files: Vec::new(),
                vars: Vec::new(),
                assume_azurerm: None,
            });
            assert!(
                !out.diagnostics
                    .iter()
                    .any(|d| d.message.contains("internal error")),
                "panic on {} cut {cut}",
                p.display()
            );
        }
    }
    println!(
        "mangled files evaluated in {:.1} ms",
        start.elapsed().as_secs_f64() * 1000.0
    );
}

fn print_tree(k: &str, v: &basegate::model::Node, depth: usize) {
    use basegate::model::Value;
    let pad = " ".repeat(depth * 2);
    match &v.value {
        Value::Object(o) => {
            println!("{pad}{k} = {{");
            for (k2, v2) in o {
                print_tree(k2, v2, depth + 1);
            }
            println!("{pad}}}");
        }
        Value::Array(a) if a.iter().any(|x| matches!(x.value, Value::Object(_))) => {
            println!("{pad}{k} = [");
            for (i, x) in a.iter().enumerate() {
                print_tree(&i.to_string(), x, depth + 1);
            }
            println!("{pad}]");
        }
        other => println!("{pad}{k} = {other}"),
    }
}

/// Why values are unknown across the corpus: `cargo test --test terraform_corpus unknowns -- --ignored --nocapture`
#[test]
#[ignore]
fn unknowns() {
    use basegate::model::{Node, Value};
    fn walk_node(n: &Node, out: &mut BTreeMap<String, usize>, total: &mut usize, src: &SourceMap) {
        *total += 1;
        match &n.value {
            Value::Unknown(u) => {
                let key: String = u.reason.chars().take(70).collect();
                if std::env::var("TF_WHERE").is_ok_and(|w| key.contains(&w)) {
                    let f = src.get(n.span.file);
                    println!("  at {}:{}", f.rel_path, f.line_col(n.span.start).line);
                }
                *out.entry(key).or_default() += 1;
            }
            Value::Array(a) => a.iter().for_each(|x| walk_node(x, out, total, src)),
            Value::Object(o) => o.iter().for_each(|(_, x)| walk_node(x, out, total, src)),
            _ => {}
        }
    }
    let corpus = shared().join("corpus");
    let mut reasons = BTreeMap::new();
    let mut total = 0;
    for (folder, _) in FOLDERS {
        let root = corpus.join(folder);
        let mut paths = Vec::new();
        walk(&root, &mut paths);
        let sources = SourceMap::default();
        let files = paths
            .iter()
            .map(|p| {
                sources.add(
                    p.clone(),
                    p.to_string_lossy().into_owned(),
                    std::fs::read_to_string(p).unwrap_or_default(),
                )
            })
            .collect();
        let out = evaluate(&Input {
            sources: &sources,
            files,
            root: &root,
            var_files: Vec::new(),
            vars: Vec::new(),
            assume_azurerm: None,
        });
        for r in &out.resources {
            walk_node(&r.body, &mut reasons, &mut total, &sources);
        }
    }
    let mut v: Vec<_> = reasons.into_iter().collect();
    v.sort_by_key(|x| std::cmp::Reverse(x.1));
    println!("{total} nodes");
    for (k, n) in v
        .iter()
        .filter(|(k, _)| std::env::var("TF_FILTER").map_or(true, |f| k.contains(&f)))
        .take(60)
    {
        println!("{n:6} {k}");
    }
}
