//! basegate: a security-baseline scanner and CI gate for Azure infrastructure-as-code.
//!
//! The pipeline runs one way — discover → parse → evaluate → check → triage → report — and
//! [`scan`] reads as that pipeline. Each module's header names its stage.

pub mod arm;
pub mod bicep;
pub mod changes;
pub mod check;
pub mod concat;
pub mod config;
pub mod discover;
pub mod eval;
pub mod json;
pub mod link;
pub mod model;
pub mod normalize;
pub mod prefetch;
pub mod report;
pub mod rules;
pub mod source;
pub mod terraform;
pub mod threads;
pub mod timings;
pub mod triage;

use check::{Evaluation, Finding};
use discover::FileKind;
use model::{Diagnostic, Model};
use rayon::prelude::*;
use rules::Rule;
use source::{FileId, SourceMap, Span};
use std::path::PathBuf;

/// Everything a scan needs, resolved from the command line and the configuration.
#[derive(Debug, Clone, Default)]
pub struct ScanOptions {
    pub paths: Vec<PathBuf>,
    /// The folder reported paths are relative to; found from the paths when None.
    pub root: Option<PathBuf>,
    pub filter: discover::Filter,
    /// An ARM parameter file applied to the templates scanned.
    pub parameters: Option<PathBuf>,
    /// Terraform `--var-file` files, in order.
    pub var_files: Vec<PathBuf>,
    /// Terraform `--var NAME=VALUE`.
    pub vars: Vec<(String, String)>,
    /// azurerm provider version to assume when the configuration does not say.
    pub assume_azurerm: Option<String>,
    pub rules: Vec<Rule>,
    /// The configuration (its exceptions register is applied in triage).
    pub config: Option<config::Config>,
    /// Accepted findings (`--baseline`).
    pub baseline: Option<triage::BaselineFile>,
    /// Today, for exception expiry (default: the system clock).
    pub today: Option<config::Date>,
    /// The frameworks and CIS level the compliance view reports on.
    pub enforced: report::compliance::Enforced,
    /// Keep resource bodies in the result (tests and tools that inspect evaluated values);
    /// by default they are freed once the checks are done.
    pub keep_bodies: bool,
    /// Report and gate only on these changed lines (`--changed-since`, see [`changes`]).
    pub changed: Option<changes::Changes>,
    /// Called once every frontend is done, before the checks. The binary tunes its
    /// allocator there (`main.rs`): evaluation churns through short-lived values, while the
    /// checks and the report hold the scan's peak.
    pub after_evaluation: Option<fn()>,
}

/// Counts per language, printed in summaries so regressions show.
#[derive(Debug, Default, Clone, Copy, serde::Serialize)]
pub struct LanguageStats {
    pub files: usize,
    pub resources: usize,
    pub errors: usize,
}

#[derive(Debug, Default, serde::Serialize)]
pub struct Stats {
    pub arm: LanguageStats,
    pub bicep: LanguageStats,
    pub terraform: LanguageStats,
}

/// The result of a scan, before it is rendered.
pub struct ScanResult {
    pub root: PathBuf,
    pub sources: SourceMap,
    pub model: Model,
    pub rules: Vec<Rule>,
    /// Sorted by file, line, column, rule.
    pub findings: Vec<Finding>,
    pub evaluations: Vec<Evaluation>,
    /// Sorted by file and position.
    pub diagnostics: Vec<Diagnostic>,
    pub stats: Stats,
    /// Baseline entries not found any more: fixed since the baseline was taken.
    pub fixed: Vec<triage::BaselineEntry>,
    pub enforced: report::compliance::Enforced,
    /// With `--changed-since`: findings left out because their lines did not change.
    pub outside_change: usize,
}

impl ScanResult {
    pub fn rel_path(&self, file: FileId) -> String {
        self.sources.get(file).rel_path.clone()
    }

    /// Findings not accepted by a suppression, exception or baseline: what the gate judges.
    pub fn active(&self) -> impl Iterator<Item = &Finding> {
        self.findings.iter().filter(|f| f.suppression.is_none())
    }

    /// Diagnostics that mean part of the input was not scanned.
    pub fn errors(&self) -> impl Iterator<Item = &Diagnostic> {
        self.diagnostics
            .iter()
            .filter(|d| d.severity == model::DiagSeverity::Error)
    }
}

pub fn scan(opts: &ScanOptions) -> ScanResult {
    let root = opts
        .root
        .clone()
        .unwrap_or_else(|| discover::scan_root(&opts.paths));
    let mut watch = timings::Stopwatch::start();
    // discover
    let mut found = discover::run(&opts.paths, &root, &opts.filter);
    watch.lap("discover");
    let prefetched_blocks = std::mem::take(&mut found.prefetched);
    let prefetched: Vec<(Option<prefetch::Prefetched>, u64)> =
        found.files.iter().map(|f| (f.prefetched, f.size)).collect();
    let sources = SourceMap::default();
    let mut diagnostics = Vec::new();
    let (texts, kinds): (Vec<_>, Vec<_>) = found
        .files
        .into_iter()
        .map(|f| ((f.path.clone(), f.rel_path, f.text), (f.kind, f.path)))
        .unzip();
    let files: Vec<(FileId, FileKind, PathBuf)> = sources
        .add_all(texts)
        .into_iter()
        .zip(kinds)
        .map(|(id, (kind, path))| (id, kind, path))
        .collect();
    for p in found.problems {
        let id = sources.add(p.path, p.rel_path, String::new());
        diagnostics.push(if p.warning {
            Diagnostic::warning(Span::file_start(id), p.message)
                .with_help("scan the link's target by naming it on the command line")
        } else {
            Diagnostic::error(Span::file_start(id), p.message)
        });
    }
    let explicit_params = opts.parameters.as_ref().map(|p| {
        let abs = discover::normalize(&std::path::absolute(p).unwrap_or_else(|_| p.clone()));
        match files.iter().find(|(_, _, path)| {
            discover::normalize(&std::path::absolute(path).unwrap_or_else(|_| path.clone())) == abs
        }) {
            Some((id, _, _)) => *id,
            None => {
                let text = std::fs::read(p)
                    .map_err(|e| e.to_string())
                    .and_then(discover::decode)
                    .unwrap_or_else(|e| {
                        diagnostics.push(Diagnostic::error(
                            Span::default(),
                            format!("--parameters {}: {e}", p.display()),
                        ));
                        String::new()
                    });
                sources.add(p.clone(), discover::relative(&root, p), text)
            }
        }
    });

    // parse + evaluate, one task per entry point
    let mut param_index = arm::parameter_index(&files);
    // A template scanned on its own still gets the parameter file beside it.
    for (_, kind, path) in &files {
        if *kind != FileKind::ArmTemplate {
            continue;
        }
        let candidate = arm::parameter_file_for(path);
        if param_index.contains_key(&candidate) || !candidate.is_file() {
            continue;
        }
        if let Ok(text) = std::fs::read(&candidate)
            .map_err(|e| e.to_string())
            .and_then(discover::decode)
        {
            let id = sources.add(
                candidate.clone(),
                discover::relative(&root, &candidate),
                text,
            );
            param_index.insert(candidate, id);
        }
    }
    // Each frontend's output is normalized (per file) and cut down to what the rules read
    // as soon as it exists, so full bodies of every file never sit in memory together
    // (rules/projection.rs).
    let projection = (!opts.keep_bodies).then(|| rules::projection::Projection::new(&opts.rules));
    let settle = |resources: &mut Vec<model::Resource>| {
        normalize::run(resources);
        if let Some(p) = &projection {
            resources
                .iter_mut()
                .filter(|r| r.language != model::Language::Terraform)
                .for_each(|r| p.apply(r));
        }
        // The projection builds the kept arrays and objects afresh, so what is kept is
        // already packed. (Copying every resource after it used to save 9 MB at the ARM
        // peak; since arrays and objects are shared on copy it saves nothing: 65.6 against
        // 66.8 MB, and Bicep 50.9 against 50.6 MB.)
    };
    if let Some(p) = explicit_params {
        // A parameter file named on the command line may itself look like a template.
        if let Err(msg) = sources.load(p, opts.filter.max_file_size) {
            diagnostics.push(Diagnostic::error(Span::file_start(p), msg));
        }
    }
    let arm_template = |id: FileId, bytes: Option<prefetch::Prefetched>| -> arm::Output {
        // Read (unless discovery did), evaluated and let go of: only its line index is kept
        // (and its text if it has suppressions). A template also given as `--parameters` is
        // held already.
        let evaluated = sources.with_text(
            id,
            opts.filter.max_file_size,
            triage::MARKER,
            bytes.map(|b| prefetched_blocks.get(b)),
            |src| arm::evaluate_file(&sources, src, &param_index, explicit_params),
        );
        let mut o = match evaluated {
            Ok(o) => o,
            // Deleted, made unreadable or changed since it was found.
            Err(msg) => {
                return arm::Output {
                    diagnostics: vec![Diagnostic::error(Span::file_start(id), msg)],
                    ..Default::default()
                }
            }
        };
        settle(&mut o.resources);
        o
    };
    // The largest templates first: rayon hands out the list in order, and a large template
    // taken last would run alone on one core while the others wait.
    let mut templates: Vec<(usize, FileId, Option<prefetch::Prefetched>, u64)> = files
        .iter()
        .zip(&prefetched)
        .enumerate()
        .filter(|(_, ((_, k, _), _))| *k == FileKind::ArmTemplate)
        .map(|(i, ((id, _, _), (bytes, size)))| (i, *id, *bytes, *size))
        .collect();
    templates.sort_by_key(|t| std::cmp::Reverse(t.3));
    let mut arm_out: Vec<(usize, arm::Output)> = templates
        .into_par_iter()
        .map(|(i, id, bytes, _)| (i, arm_template(id, bytes)))
        .collect();
    // Back in file order: resource ids, and so the output, follow it.
    arm_out.sort_by_key(|(i, _)| *i);
    let arm_out: Vec<arm::Output> = arm_out.into_iter().map(|(_, o)| o).collect();
    SourceMap::release_buffers();
    drop(prefetched_blocks);
    watch.lap("arm");
    let bicep_files: Vec<FileId> = files
        .iter()
        .filter(|(_, k, _)| matches!(k, FileKind::Bicep | FileKind::BicepParam))
        .map(|(id, _, _)| *id)
        .collect();
    let mut bicep_out = if bicep_files.is_empty() {
        bicep::Output::default()
    } else {
        bicep::evaluate_with(&sources, &bicep_files, &root, &settle)
    };
    watch.lap("bicep");
    let tf_files: Vec<FileId> = files
        .iter()
        .filter(|(_, k, _)| {
            matches!(
                k,
                FileKind::Terraform
                    | FileKind::TerraformJson
                    | FileKind::TerraformVars
                    | FileKind::TerraformPlan
            )
        })
        .map(|(id, _, _)| *id)
        .collect();
    let mut tf_out = if tf_files.is_empty() {
        None
    } else {
        Some(terraform::evaluate(&terraform::Input {
            sources: &sources,
            files: tf_files,
            root: &root,
            var_files: opts.var_files.clone(),
            vars: opts.vars.clone(),
            assume_azurerm: opts.assume_azurerm.clone(),
        }))
    };
    if let Some(o) = &mut tf_out {
        // Terraform bodies are projected after linking: the linker reads their id
        // attributes and merges partial updates into their targets.
        settle(&mut o.resources);
    }
    watch.lap("terraform");
    if let Some(f) = opts.after_evaluation {
        f();
    }
    // One list, joined in parallel (concat.rs): appending each template's resources on
    // this thread was 5 ms of copying and page faults on the ARM set (BASEGATE_TIMINGS,
    // "stats"). Bicep's list is taken as it is when it is the only one.
    let mut parts: Vec<Vec<model::Resource>> = Vec::with_capacity(arm_out.len() + 2);
    for o in arm_out {
        parts.push(o.resources);
        diagnostics.extend(o.diagnostics);
    }
    parts.push(std::mem::take(&mut bicep_out.resources));
    diagnostics.extend(bicep_out.diagnostics);
    if let Some(o) = tf_out {
        parts.push(o.resources);
        diagnostics.extend(o.diagnostics);
    }
    parts.retain(|p| !p.is_empty());
    let resources = if parts.len() == 1 {
        parts.pop().unwrap_or_default()
    } else {
        concat::concat(parts)
    };

    let mut stats = Stats::default();
    let mut errors: foldhash::HashMap<FileId, usize> = Default::default();
    for d in &diagnostics {
        if d.severity == model::DiagSeverity::Error {
            *errors.entry(d.file()).or_default() += 1;
        }
    }
    for (id, kind, _) in &files {
        let s = match kind.language_name() {
            "arm" => &mut stats.arm,
            "bicep" => &mut stats.bicep,
            _ => &mut stats.terraform,
        };
        s.files += 1;
        s.errors += errors.get(id).copied().unwrap_or(0);
    }
    for r in &resources {
        match r.language {
            model::Language::ArmJson => stats.arm.resources += 1,
            model::Language::Bicep => stats.bicep.resources += 1,
            model::Language::Terraform => stats.terraform.resources += 1,
        }
    }

    watch.lap("stats");
    // one shape per setting, then the graph
    let mut model = link::run(resources);
    if let Some(p) = &projection {
        // In parallel: this drops the cut-off parts of every full Terraform body.
        model
            .resources
            .par_iter_mut()
            .filter(|r| r.language == model::Language::Terraform)
            .for_each(|r| p.apply(r));
    }
    {
        let mut folders: foldhash::HashMap<String, u32> = foldhash::HashMap::default();
        for f in sources.files() {
            let dir = f
                .rel_path
                .rsplit_once('/')
                .map(|(d, _)| d)
                .unwrap_or("")
                .to_string();
            let n = folders.len() as u32;
            let id = *folders.entry(dir).or_insert(n);
            model.folders.push(id);
        }
    }

    watch.lap("link");

    // check
    let rel = |f: FileId| sources.get(f).rel_path.clone();
    let mut checked = check::run(&model, &opts.rules, &rel);
    watch.lap("check");

    // triage
    let config_file = opts.config.as_ref().and_then(|c| c.path.as_ref()).map(|p| {
        let text = std::fs::read_to_string(p).unwrap_or_default();
        sources.add(p.clone(), discover::relative(&root, p), text)
    });
    let triaged = triage::run(
        &mut checked.findings,
        &model,
        &opts.rules,
        &sources,
        &triage::TriageOptions {
            exceptions: opts
                .config
                .as_ref()
                .map(|c| c.exceptions.clone())
                .unwrap_or_default(),
            config_file,
            max_exception_days: opts
                .config
                .as_ref()
                .map(|c| c.baseline.max_exception_days)
                .unwrap_or(365),
            baseline: opts.baseline.clone(),
            today: opts.today,
        },
    );
    diagnostics.extend(triaged.diagnostics);

    // Resource bodies were for the checks and triage; reports need addresses and spans only.
    // Freeing them here keeps the peak at the larger of evaluation and reporting, not both.
    if !opts.keep_bodies {
        model.resources.par_iter_mut().for_each(|r| {
            r.body = model::Node::new(model::Value::Null, r.body.span);
        });
    }

    watch.lap("triage");

    // diff-aware gate: only what the change touches
    let mut outside_change = 0;
    if let Some(ch) = &opts.changed {
        let before = checked.findings.len();
        // Strictly the changed lines: a finding on an untouched line (including a missing
        // property reported on an untouched resource header) belongs to the code as it was,
        // not to this change. A new resource has every line changed.
        checked.findings.retain(|f| {
            let src = sources.get(f.span.file);
            ch.line_changed(&src.rel_path, src.line(f.span.start))
        });
        outside_change = before - checked.findings.len();
        // Input problems are kept only for changed files.
        diagnostics.retain(|d| {
            let src = sources.get(d.span.file);
            ch.files.contains_key(&src.rel_path)
        });
    }

    // order: same input, same bytes, whatever the thread count
    // By path, then position. Each file's rank in path order is computed once (the same
    // rank for the same path): this sort runs over every finding, and comparing the paths
    // themselves was most of its time.
    let all_files = sources.files();
    let rank = {
        let mut by_path: Vec<usize> = (0..all_files.len()).collect();
        by_path.sort_by(|&a, &b| all_files[a].rel_path.cmp(&all_files[b].rel_path));
        let mut rank = vec![0u32; all_files.len()];
        let mut r = 0u32;
        for (k, &i) in by_path.iter().enumerate() {
            if k > 0 && all_files[by_path[k - 1]].rel_path != all_files[i].rel_path {
                r += 1;
            }
            rank[i] = r;
        }
        rank
    };
    let pos = |span: Span| (rank[span.file.0 as usize], span.start, span.end);
    checked.findings.par_sort_by(|a, b| {
        pos(a.span)
            .cmp(&pos(b.span))
            .then_with(|| a.rule_id.cmp(&b.rule_id))
            .then_with(|| a.path.cmp(&b.path))
            .then_with(|| a.resource.cmp(&b.resource))
    });
    checked
        .findings
        .dedup_by(|a, b| a.fingerprint == b.fingerprint && a.span == b.span);
    // Every field is compared: equal evaluations are identical.
    checked.evaluations.par_sort_unstable();
    diagnostics.sort_by(|a, b| {
        pos(a.span)
            .cmp(&pos(b.span))
            .then_with(|| a.severity.cmp(&b.severity))
            .then_with(|| a.message.cmp(&b.message))
    });
    diagnostics.dedup();
    watch.lap("order");

    ScanResult {
        root,
        sources,
        model,
        rules: opts.rules.clone(),
        findings: checked.findings,
        evaluations: checked.evaluations,
        diagnostics,
        stats,
        fixed: triaged.fixed,
        enforced: opts.enforced,
        outside_change,
    }
}
