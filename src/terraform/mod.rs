//! terraform: the Terraform frontend. `.tf`, `.tf.json` and `.tfvars` files in; resources
//! out, evaluated the way `terraform plan` would fold them as far as that is possible
//! without running anything: variables, locals, module calls, `count`/`for_each`,
//! `dynamic` blocks and the pure built-in functions. What depends on apply-time values,
//! data sources or unset variables is *unknown*, never a guess.
//!
//! Phases: `parse` (and `json`) build a small syntax tree with spans; `modules` groups files
//! into modules and instantiates them; `eval` and `functions` fold expressions; `expand`
//! turns blocks into resource instances; `azapi` lowers azapi resources to the ARM dialect;
//! `plan` reads `terraform show -json` output, whose resources replace those evaluated from
//! the root module beside it (keeping that configuration's spans).

mod azapi;
mod eval;
mod expand;
mod functions;
mod json;
mod modules;
mod parse;
mod plan;
mod types;
mod version;

use crate::model::{Diagnostic, Node, Resource, Str, Value};
use crate::source::{FileId, Span};
use eval::{Eval, Scope};
use foldhash::{HashMap, HashMapExt};
use std::path::{Path, PathBuf};

pub struct Input<'a> {
    /// All discovered files are already in it; module files outside the scan root that a
    /// local module source leads to are added.
    pub sources: &'a crate::source::SourceMap,
    /// Every discovered `.tf`, `.tf.json`, `.tfvars`, `.tfvars.json` file, and plan JSON
    /// (`terraform show -json`; other `.json` files are ignored).
    pub files: Vec<FileId>,
    /// The scan root.
    pub root: &'a Path,
    /// `--var-file`, in command-line order.
    pub var_files: Vec<PathBuf>,
    /// `--var NAME=VALUE` (value parsed as an HCL expression, else taken as a string).
    pub vars: Vec<(String, String)>,
    /// azurerm provider version to assume when the code does not say.
    pub assume_azurerm: Option<String>,
}

pub struct Output {
    pub resources: Vec<Resource>,
    pub diagnostics: Vec<Diagnostic>,
}

/// Parses and evaluates every Terraform configuration among `input.files`.
pub fn evaluate(input: &Input) -> Output {
    // Expression trees recurse once per nesting level while they are lowered and
    // evaluated; a dedicated thread with a large stack keeps deep but legal input safe, and
    // a panic there becomes a diagnostic instead of taking the scan down.
    let out = std::thread::scope(|s| {
        std::thread::Builder::new()
            .name("terraform-eval".into())
            .stack_size(256 << 20)
            .spawn_scoped(s, || run(input))
            .ok()
            .and_then(|h| h.join().ok())
    });
    out.unwrap_or_else(|| {
        let span = input
            .files
            .first()
            .map(|&f| Span::file_start(f))
            .unwrap_or_default();
        Output {
            resources: Vec::new(),
            diagnostics: vec![Diagnostic::error(
                span,
                "internal error while evaluating Terraform: results are incomplete",
            )],
        }
    })
}

/// Parses one file by its extension.
pub(crate) fn parse_file(f: FileId, path: &Path, text: &str) -> (parse::Body, Vec<Diagnostic>) {
    if path.to_string_lossy().ends_with(".json") {
        json::parse_tf_json(f, text)
    } else {
        parse::parse_hcl(f, text)
    }
}

/// The repository the scan root is in (the nearest folder with `.git`), absolute; `None`
/// when there is none, and so no telling where the repository ends.
fn repo_root(root: &Path) -> Option<PathBuf> {
    let abs = modules::normalize(&std::path::absolute(root).ok()?);
    let mut cur: Option<&Path> = Some(&abs);
    while let Some(d) = cur {
        if d.join(".git").exists() {
            return Some(d.to_path_buf());
        }
        cur = d.parent();
    }
    None
}

fn run(input: &Input) -> Output {
    let mut watch = crate::timings::Stopwatch::start();
    let mut diags = Vec::new();
    let repo = repo_root(input.root);
    let defs = modules::load(input, &mut diags, repo.as_deref());
    watch.lap("  tf modules");
    // Problems found before evaluation, command-line values and plans: on an evaluator of
    // their own. Each configuration is evaluated on its own (below).
    let ev = Eval::new(input, &defs);
    for d in diags {
        ev.diag(d);
    }

    // tfvars files by directory
    let mut tfvars: HashMap<PathBuf, Vec<(String, FileId)>> = HashMap::new();
    for &f in &input.files {
        let file = input.sources.get(f);
        let name = file
            .path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("")
            .to_string();
        if name.ends_with(".tfvars") || name.ends_with(".tfvars.json") {
            let dir = modules::normalize(file.path.parent().unwrap_or(Path::new("")));
            tfvars.entry(dir).or_default().push((name, f));
        }
    }

    let roots: Vec<usize> = (0..ev.defs.len())
        .filter(|&i| {
            let d = &ev.defs[i];
            d.in_scan && !d.called && !d.dir.components().any(|c| c.as_os_str() == ".terraform")
        })
        .collect();

    let cli = cli_values(&ev, input, &roots);
    // Configurations share nothing but the module definitions (references never cross
    // them, link.rs), so each is evaluated on its own evaluator, in parallel, and the
    // results are put together in root order: the same output whatever the thread count.
    // A monorepo of examples was evaluated on one thread (the Terraform set's largest
    // stage). Expressions recurse once per nesting level: the threads get large stacks.
    let one = |r: usize, cap: usize| -> (Vec<Resource>, Vec<usize>, Vec<Diagnostic>) {
        let ev = Eval::new(input, &defs);
        ev.resource_cap.set(cap);
        let mut values: HashMap<String, Node> = HashMap::new();
        let scratch = ev.blank_inst(r);
        let declared = |n: &str| ev.defs[r].variables.iter().any(|v| v.labels[0] == n);
        // Terraform's order: terraform.tfvars, terraform.tfvars.json, then *.auto.tfvars(.json)
        // in lexical order; the command line last
        let mut files = tfvars.get(&ev.defs[r].dir).cloned().unwrap_or_default();
        files.retain(|(n, _)| {
            n == "terraform.tfvars"
                || n == "terraform.tfvars.json"
                || n.ends_with(".auto.tfvars")
                || n.ends_with(".auto.tfvars.json")
        });
        files.sort_by_key(|(n, _)| (!n.starts_with("terraform.tfvars"), n.clone()));
        for (_, f) in files {
            for (name, node, span) in read_tfvars(&ev, f, scratch) {
                if !declared(&name) {
                    ev.diag(Diagnostic::warning(
                        span,
                        format!("value for undeclared variable '{name}': the root module does not declare it"),
                    ));
                    continue;
                }
                values.insert(name, node);
            }
        }
        for (name, node) in &cli {
            if declared(name) {
                values.insert(name.to_string(), node.clone());
            }
        }
        ev.instantiate_root(r, values);
        let mut resources = Vec::new();
        let mut origin = Vec::new();
        ev.build_all(&mut resources, &mut origin);
        (resources, origin, ev.diags.into_inner())
    };
    //
    // The limit on resource instances holds for the whole scan: configurations are
    // evaluated a few at a time, in order, each allowed what the ones before it left, so
    // the cut falls at the same place whatever the thread count, and memory stays bounded
    // (a few configurations over the limit at most, then cut). Eight per thread: with two,
    // each batch waited on its largest configuration (Terraform set, roots 1.65 cores of 2;
    // -4 % wall with eight).
    let threads = rayon::current_num_threads(); // `--threads`
    let pool = crate::threads::Deep::get();
    let mut resources = Vec::new();
    let mut origin = Vec::new();
    for batch in roots.chunks(8 * threads.max(1)) {
        let left = expand::MAX_RESOURCES.saturating_sub(resources.len());
        if left == 0 {
            let first = ev.defs[batch[0]].files.first().copied().unwrap_or_default();
            ev.diag(expand::too_many(Span::file_start(first)));
            break;
        }
        let each = || -> Vec<_> {
            use rayon::prelude::*;
            batch.par_iter().map(|&r| one(r, left)).collect()
        };
        // On threads with deep stacks, or else one at a time on this one (which has one).
        let results: Vec<_> = pool
            .install(each)
            .unwrap_or_else(|| batch.iter().map(|&r| one(r, left)).collect());
        for (rs, os, ds) in results {
            resources.extend(rs);
            origin.extend(os);
            for d in ds {
                ev.diag(d);
            }
        }
        if resources.len() > expand::MAX_RESOURCES {
            ev.diag(expand::too_many(resources[expand::MAX_RESOURCES].header));
            resources.truncate(expand::MAX_RESOURCES);
            origin.truncate(expand::MAX_RESOURCES);
        }
    }
    watch.lap("  tf roots");
    apply_plans(&ev, input, &roots, &mut resources, &mut origin);
    watch.lap("  tf plans");
    let diagnostics = ev.diags.into_inner();
    let o = Output {
        resources,
        diagnostics,
    };
    // The parsed module definitions are garbage now; freeing them took 6 ms on one thread
    // on the Terraform set. A thread of their own frees them while linking and checking run.
    let _ = std::thread::Builder::new()
        .name("terraform-free".into())
        .spawn(move || drop(defs));
    watch.lap("  tf done");
    o
}

/// The `Resource::root` of a plan's resources when no root module lies beside the plan
/// (module definitions are numbered from 0 and never reach this bit).
const PLAN_ROOT: u32 = 1 << 31;

/// Plan JSON files (`terraform show -json`): their resources replace those evaluated from
/// the root module in the same directory, keeping the configuration's spans.
fn apply_plans(
    ev: &Eval,
    input: &Input,
    roots: &[usize],
    resources: &mut Vec<Resource>,
    origin: &mut Vec<usize>,
) {
    for &f in &input.files {
        let file = input.sources.get(f);
        let name = file.path.to_string_lossy();
        if !name.ends_with(".json") || name.ends_with(".tf.json") || name.ends_with(".tfvars.json")
        {
            continue;
        }
        let mut diags = Vec::new();
        let parsed = plan::parse(f, &file.text, &mut diags);
        for d in diags {
            ev.diag(d);
        }
        let Some(p) = parsed else { continue };
        let dir = modules::normalize(file.path.parent().unwrap_or(Path::new("")));
        let root = roots.iter().copied().find(|&r| ev.defs[r].dir == dir);
        let version = std::fs::read_to_string(dir.join(".terraform.lock.hcl"))
            .ok()
            .and_then(|t| version::lock_version(&t))
            .or_else(|| plan::version_constraint(&p))
            .or_else(|| root.and_then(|r| ev.defs[r].azurerm_min.clone()))
            .or_else(|| input.assume_azurerm.clone());
        let mut planned = plan::resources(&p, version);
        if let Some(r) = root {
            let evaluated: HashMap<&str, &Resource> = resources
                .iter()
                .zip(origin.iter())
                .filter(|(_, &o)| o == r)
                .map(|(res, _)| (res.address.as_str(), res))
                .collect();
            for pr in &mut planned {
                let Some(er) = evaluated.get(pr.address.as_str()) else {
                    continue;
                };
                pr.file = er.file;
                pr.header = er.header;
                pr.call_chain = er.call_chain.clone();
                plan::map_to_source(&mut pr.body, &er.body, er.header);
                for l in &er.links {
                    if !pr.links.contains(l) {
                        pr.links.push(l.clone());
                    }
                }
            }
            let mut keep = origin.iter().map(|&o| o != r);
            resources.retain(|_| keep.next().unwrap_or(true));
            origin.retain(|&o| o != r);
        }
        // A plan is one configuration: its resources share the root's key space, or one of
        // their own when no configuration lies beside the plan.
        let unit = root.map_or(PLAN_ROOT | f.0, |r| r as u32);
        for pr in &mut planned {
            pr.root = unit;
        }
        origin.extend(std::iter::repeat_n(usize::MAX, planned.len()));
        resources.extend(planned);
    }
}

/// Variable values of one tfvars file, each with the span where it was set.
fn read_tfvars(ev: &Eval, f: FileId, scratch: usize) -> Vec<(String, Node, Span)> {
    let file = ev.input.sources.get(f);
    let mut out = Vec::new();
    if file.path.to_string_lossy().ends_with(".json") {
        match json::parse(f, &file.text) {
            Ok(j) => {
                if let json::J::Obj(items) = &j.v {
                    for (k, ks, v) in items {
                        out.push((k.clone(), json::to_node(v), ks.cover(v.span)));
                    }
                }
            }
            Err((off, msg)) => ev.diag(Diagnostic::error(
                Span::new(f, off.min(file.text.len()), off.min(file.text.len())),
                format!("JSON syntax error: {msg}"),
            )),
        }
        return out;
    }
    let (body, ds) = parse::parse_hcl(f, &file.text);
    for d in ds {
        ev.diag(d);
    }
    let mut scope = Scope::new(scratch);
    for a in &body.attrs {
        let n = ev.eval_lenient(&a.expr, &mut scope);
        out.push((a.name.clone(), n, a.span));
    }
    out
}

/// Values from `--var-file` and `--var`, in command-line order (later wins).
fn cli_values(ev: &Eval, input: &Input, roots: &[usize]) -> Vec<(Str, Node)> {
    let mut out: Vec<(Str, Node)> = Vec::new();
    if input.var_files.is_empty() && input.vars.is_empty() {
        return out;
    }
    let Some(&first) = roots.first() else {
        return out;
    };
    let scratch = ev.blank_inst(first);
    let declared_anywhere = |n: &str| {
        roots
            .iter()
            .any(|&r| ev.defs[r].variables.iter().any(|v| v.labels[0] == n))
    };
    // a pseudo-file gives command-line values a span to point at
    let mut text = String::new();
    for p in &input.var_files {
        text.push_str(&format!("--var-file={}\n", p.display()));
    }
    let mut offsets = Vec::new();
    for (k, v) in &input.vars {
        let start = text.len() + "--var ".len() + k.len() + 1;
        offsets.push((start, start + v.len()));
        text.push_str(&format!("--var {k}={v}\n"));
    }
    let cli = input.sources.add(
        PathBuf::from("<command line>"),
        "<command line>".into(),
        text,
    );
    let mut line_start = 0usize;
    for p in &input.var_files {
        let line = format!("--var-file={}\n", p.display());
        let span = Span::new(cli, line_start, line_start + line.len() - 1);
        line_start += line.len();
        let id = input.sources.find_by_path(p).or_else(|| {
            std::fs::read_to_string(p).ok().map(|t| {
                input
                    .sources
                    .add(p.clone(), p.to_string_lossy().replace('\\', "/"), t)
            })
        });
        let Some(id) = id else {
            ev.diag(Diagnostic::error(
                span,
                format!("cannot read variable file {}", p.display()),
            ));
            continue;
        };
        for (name, node, span) in read_tfvars(ev, id, scratch) {
            if !declared_anywhere(&name) {
                ev.diag(Diagnostic::warning(
                    span,
                    format!("value for undeclared variable '{name}'"),
                ));
            }
            out.push((Str::from(name), node));
        }
    }
    for ((k, v), (s, e)) in input.vars.iter().zip(offsets) {
        let span = Span::new(cli, s, e);
        let parsed = parse::parse_expr(cli, v, Some(span)).and_then(|x| {
            let mut scope = Scope::new(scratch);
            ev.eval(&x, &mut scope)
                .ok()
                .filter(|n| eval::deep_unknown(n).is_none())
        });
        let node = parsed.unwrap_or_else(|| Node::new(Value::String(Str::from(v.as_str())), span));
        if !declared_anywhere(k) {
            ev.diag(Diagnostic::warning(
                span,
                format!("value for undeclared variable '{k}'"),
            ));
        }
        out.push((Str::from(k.as_str()), node));
    }
    out
}

#[cfg(test)]
mod tests;
