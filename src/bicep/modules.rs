//! modules (Bicep): files parsed once per scan, module and `using` references resolved, and
//! the entry points chosen.
//!
//! A `.bicepparam` file is an entry point for the file it uses; a `.bicep` file is an entry
//! point on its own defaults unless a scanned file uses it as a module or `using` target.
//! Module files outside the scan are read when a reference leads there (and added to the
//! source map), so a module's resources are scanned through every caller.

use super::eval::{Instance, Session};
use super::skim::Refs;
use super::syntax::{ExprKind, StatementKind};
use super::Parsed;
use crate::discover;
use crate::model::{Diagnostic, Resource};
use crate::source::{FileId, SourceMap, Span};
use foldhash::{HashMap, HashMapExt, HashSet};
use rayon::prelude::*;
use std::collections::BTreeSet;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// One parsed file.
pub(crate) struct Unit {
    pub id: FileId,
    /// Absolute and normalised: the key modules are found by.
    pub path: PathBuf,
    pub parsed: Parsed,
    /// Its declarations, built on first use.
    table: std::sync::OnceLock<Arc<super::eval::Table>>,
    /// The files its module and import paths name, resolved on first use: every instance of
    /// the file resolves the same paths, and making one absolute and normal was 2 % of a
    /// Bicep scan's instructions.
    resolved: Mutex<HashMap<String, Option<PathBuf>>>,
}

impl Unit {
    pub fn new(id: FileId, path: PathBuf, parsed: Parsed) -> Unit {
        Unit {
            id,
            path,
            parsed,
            table: std::sync::OnceLock::new(),
            resolved: Mutex::new(HashMap::new()),
        }
    }

    pub fn table(&self) -> Arc<super::eval::Table> {
        self.table
            .get_or_init(|| Arc::new(super::eval::Table::of(self)))
            .clone()
    }
}

/// True for a `.bicepparam` file: an entry point for the file it uses.
fn is_param_file(path: &Path) -> bool {
    path.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("bicepparam"))
}

type JsonModule = Result<(FileId, Arc<crate::model::Node>), String>;

/// Parsed files by path, shared by the threads evaluating entry points.
///
/// The maps are keyed by the path's bytes (`OsString`), not by `PathBuf`: every key is a
/// [`key`] (absolute and normal), so equal bytes and equal paths are the same thing, and
/// hashing a `Path` walks its components (1.3 % of a Bicep scan's instructions).
pub(crate) struct Loader<'a> {
    sources: &'a SourceMap,
    root: PathBuf,
    repo_root: PathBuf,
    units: Mutex<HashMap<OsString, Result<Arc<Unit>, String>>>,
    /// The scanned files, by key: parsed from their text in the source map (their syntax
    /// errors are reported once, by the first pass), never read again from disk.
    scanned: HashMap<OsString, FileId>,
    json: Mutex<HashMap<OsString, JsonModule>>,
    /// Syntax errors of files read because a reference led there.
    pub diags: Mutex<Vec<Diagnostic>>,
    /// Scanned files whose references the first pass skimmed from their tokens (see
    /// `skim.rs`): the parse that evaluation makes of each confirms them.
    skimmed: HashMap<FileId, Skimmed>,
    /// Syntax errors of skimmed files, reported by the parse that confirms them.
    skimmed_diags: Mutex<Vec<Diagnostic>>,
    /// A parse found references other than its file's skim said.
    contradicted: AtomicBool,
}

/// What the first pass skimmed of a file, and whether a parse has confirmed it yet.
struct Skimmed {
    refs: Refs,
    confirmed: AtomicBool,
}

fn key(p: &Path) -> PathBuf {
    discover::absolute(p)
}

pub(super) fn syntax_diagnostics(id: FileId, parsed: &Parsed) -> Vec<Diagnostic> {
    parsed
        .errors
        .iter()
        .map(|e| {
            Diagnostic::error(
                Span::new(id, e.range.start as usize, e.range.end as usize),
                format!("Bicep syntax error: {}", e.message),
            )
            .with_help("the rest of the file is scanned as far as it parses")
        })
        .collect()
}

impl<'a> Loader<'a> {
    fn new(sources: &'a SourceMap, root: &Path) -> Loader<'a> {
        let root = key(root);
        let repo_root = root
            .ancestors()
            .find(|a| a.join(".git").exists())
            .unwrap_or(&root)
            .to_path_buf();
        Loader {
            sources,
            root,
            repo_root,
            units: Mutex::new(HashMap::new()),
            scanned: HashMap::new(),
            json: Mutex::new(HashMap::new()),
            diags: Mutex::new(Vec::new()),
            skimmed: HashMap::new(),
            skimmed_diags: Mutex::new(Vec::new()),
            contradicted: AtomicBool::new(false),
        }
    }

    /// The file a local module or import path names, relative to the referring file.
    pub fn resolve_local(&self, from: &Unit, rel: &str) -> Option<PathBuf> {
        let mut resolved = from.resolved.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(p) = resolved.get(rel) {
            return p.clone();
        }
        let p = resolve_from(&from.path, rel);
        resolved.insert(rel.to_string(), p.clone());
        p
    }

    /// Reports a skimmed file's syntax errors and checks its skim against its parse, the
    /// first time the file is parsed.
    fn confirm(&self, id: FileId, parsed: &Parsed) {
        let Some(s) = self.skimmed.get(&id) else {
            return;
        };
        if s.confirmed.swap(true, Ordering::AcqRel) {
            return;
        }
        let diags = syntax_diagnostics(id, parsed);
        if !diags.is_empty() {
            self.skimmed_diags
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .extend(diags);
        }
        if Refs::of(parsed) != s.refs {
            self.contradicted.store(true, Ordering::Release);
        }
    }

    pub fn in_repo(&self, p: &Path) -> bool {
        p.starts_with(&self.repo_root)
    }

    pub fn display(&self, p: &Path) -> String {
        discover::relative(&self.root, p)
    }

    /// An ARM JSON template used as a module, parsed once.
    pub fn load_json(&self, path: &Path) -> JsonModule {
        let mut json = self.json.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(j) = json.get(path.as_os_str()) {
            return j.clone();
        }
        let r = match self.sources.find_by_path(path) {
            // An ARM template the ARM stage has read and let go of is read again.
            Some(id) => Ok((
                id,
                self.sources
                    .get(id)
                    .full_text()
                    .map(|t| t.into_owned())
                    .unwrap_or_default(),
            )),
            None => read_referenced(path).map(|text| {
                let rel = discover::relative(&self.root, path);
                (
                    self.sources.add(path.to_path_buf(), rel, text.clone()),
                    text,
                )
            }),
        };
        let r = r.and_then(|(id, text)| {
            crate::json::parse(&text, id)
                .map(|doc| (id, Arc::new(doc.root)))
                .map_err(|e| format!("invalid JSON: {}", e.message))
        });
        json.insert(path.as_os_str().to_owned(), r.clone());
        r
    }

    /// The parsed file at `path`, reading it from disk the first time.
    pub fn load(&self, path: &Path) -> Result<Arc<Unit>, String> {
        if let Some(u) = self
            .units
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(path.as_os_str())
        {
            return u.clone();
        }
        if let Some(&id) = self.scanned.get(path.as_os_str()) {
            // Parsed outside the lock: entry points are parsed on the evaluation threads.
            let f = self.sources.get(id);
            let parsed = super::parse(&f.text);
            self.confirm(id, &parsed);
            let unit = Arc::new(Unit::new(id, path.to_path_buf(), parsed));
            let mut units = self.units.lock().unwrap_or_else(|e| e.into_inner());
            return units
                .entry(path.as_os_str().to_owned())
                .or_insert(Ok(unit))
                .clone();
        }
        let mut units = self.units.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(u) = units.get(path.as_os_str()) {
            return u.clone();
        }
        let r = read_referenced(path);
        let r = r.map(|text| {
            let parsed = super::parse(&text);
            let rel = discover::relative(&self.root, path);
            let id = self.sources.add(path.to_path_buf(), rel.clone(), text);
            self.diags
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .extend(syntax_diagnostics(id, &parsed));
            Arc::new(Unit::new(id, path.to_path_buf(), parsed))
        });
        units.insert(path.as_os_str().to_owned(), r.clone());
        r
    }

    /// Lets go of a parsed scanned file no other file refers to, once it has been evaluated.
    fn release(&self, path: &Path) {
        if self.scanned.contains_key(path.as_os_str()) {
            self.units
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(path.as_os_str());
        }
    }
}

/// Reads a file a module, `using` or import path leads to. The path is written in the
/// scanned code and may name anything (`'../../../dev/zero'`, a FIFO, `/dev/stdin`): reading
/// that unchecked hangs the gate or exhausts its memory. So only a regular file is read, and
/// no more of it than the discover stage's default size cap.
fn read_referenced(path: &Path) -> Result<String, String> {
    use std::io::Read;
    let meta = std::fs::metadata(path).map_err(|e| e.to_string())?;
    if meta.is_dir() {
        return Err("it is a folder".to_string());
    }
    if !meta.is_file() {
        return Err("it is not a regular file".to_string());
    }
    let cap = discover::DEFAULT_MAX_FILE_SIZE;
    let too_large = || format!("it is larger than {} MiB", cap >> 20);
    if meta.len() > cap {
        return Err(too_large());
    }
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(cap + 1).read_to_end(&mut bytes))
        .map_err(|e| e.to_string())?;
    if bytes.len() as u64 > cap {
        return Err(too_large());
    }
    discover::decode(bytes)
}

/// The file a local module or import path names, relative to the file at `from`.
fn resolve_from(from: &Path, rel: &str) -> Option<PathBuf> {
    let rel = rel.trim();
    if rel.is_empty() || rel.contains(':') && !rel.contains(":\\") && !rel.starts_with('/') {
        // `br:`, `ts:`, `br/public:`: registries, not files.
        return None;
    }
    let dir = from.parent()?;
    Some(key(&dir.join(rel)))
}

/// The local files `refs` of the file at `from` name: its module, `using` and `extends`
/// targets, and those and its import sources (what is read before evaluation).
fn resolved(from: &Path, refs: &Refs) -> (Vec<PathBuf>, Vec<PathBuf>) {
    let targets: Vec<PathBuf> = refs
        .refs
        .iter()
        .filter_map(|p| resolve_from(from, p))
        .collect();
    let mut next = targets.clone();
    next.extend(refs.imports.iter().filter_map(|p| resolve_from(from, p)));
    (targets, next)
}

/// What the first pass keeps of a scanned file.
struct Scanned {
    id: FileId,
    path: PathBuf,
    rel_path: String,
    is_param: bool,
    diags: Vec<Diagnostic>,
    /// Module, `using` and `extends` paths: what makes a file not an entry point.
    refs: Vec<PathBuf>,
    /// `refs` and import sources: what is read before evaluation.
    next: Vec<PathBuf>,
    /// What a skim found, if the file was skimmed rather than parsed.
    skim: Option<Refs>,
}

/// The Bicep results of a scan.
#[derive(Debug, Default)]
pub struct Output {
    pub resources: Vec<Resource>,
    pub diagnostics: Vec<crate::model::Diagnostic>,
}

/// Evaluates every Bicep entry point among `files` (every discovered `.bicep` and
/// `.bicepparam` file, already in `sources`). Never panics on bad input.
pub fn evaluate(sources: &SourceMap, files: &[FileId], root: &Path) -> Output {
    evaluate_with(sources, files, root, &|_| {})
}

/// [`evaluate`], with `settle` applied to each entry point's resources as soon as they are
/// evaluated (the scan cuts them down to what its rules read there, so the full resources
/// of every entry point are never held together).
pub fn evaluate_with(
    sources: &SourceMap,
    files: &[FileId],
    root: &Path,
    settle: &(dyn Fn(&mut Vec<Resource>) + Sync),
) -> Output {
    evaluate_opts(sources, files, root, settle, true)
}

/// [`evaluate_with`], skimming the files' references first (`skim`) or parsing them.
pub(super) fn evaluate_opts(
    sources: &SourceMap,
    files: &[FileId],
    root: &Path,
    settle: &(dyn Fn(&mut Vec<Resource>) + Sync),
    skim: bool,
) -> Output {
    let mut loader = Loader::new(sources, root);
    let mut out = match attempt(&mut loader, files, settle, skim) {
        Some(out) => out,
        // A skim its parse contradicted: the stage again on full parses (the files read
        // because a reference led there stay loaded, under the same ids).
        None => attempt(&mut loader, files, settle, false).unwrap_or_default(),
    };
    out.diagnostics.extend(std::mem::take(
        &mut *loader.diags.lock().unwrap_or_else(|e| e.into_inner()),
    ));
    out
}

/// One evaluation of the Bicep files: None if a skim turned out wrong (only when `skim`).
fn attempt(
    loader: &mut Loader,
    files: &[FileId],
    settle: &(dyn Fn(&mut Vec<Resource>) + Sync),
    skim: bool,
) -> Option<Output> {
    let mut watch = crate::timings::Stopwatch::start();
    let sources = loader.sources;
    loader.skimmed.clear();
    loader.contradicted.store(false, Ordering::Release);
    std::mem::take(
        &mut *loader
            .skimmed_diags
            .lock()
            .unwrap_or_else(|e| e.into_inner()),
    );
    // First pass: the files each scanned file refers to, and its syntax errors. Holding the
    // syntax trees of all files was most of the memory of a Bicep scan, and parsing each
    // here for its references was a second parse of every file: the references are skimmed
    // from the tokens where that is sure (skim.rs), and the evaluation parses each file when
    // it gets there (reporting its syntax errors then), and lets go of an entry point's tree
    // once it is evaluated.
    let mut scanned: Vec<Scanned> = files
        .par_iter()
        .map(|&id| {
            let f = sources.get(id);
            let path = key(&f.path);
            let skimmed = if skim {
                super::skim::skim(&f.text)
            } else {
                None
            };
            let parsed_refs;
            let (refs, diags) = match &skimmed {
                Some(refs) => (refs, Vec::new()),
                None => {
                    let parsed = super::parse(&f.text);
                    parsed_refs = Refs::of(&parsed);
                    (&parsed_refs, syntax_diagnostics(id, &parsed))
                }
            };
            let (targets, next) = resolved(&path, refs);
            Scanned {
                is_param: is_param_file(&path),
                diags,
                id,
                path,
                rel_path: f.rel_path.clone(),
                refs: targets,
                next,
                skim: skimmed,
            }
        })
        .collect();
    watch.lap("  bicep pass 1");
    let mut out = Output::default();
    for s in &mut scanned {
        out.diagnostics.append(&mut s.diags);
        loader.scanned.insert(s.path.clone().into_os_string(), s.id);
        if let Some(refs) = s.skim.take() {
            loader.skimmed.insert(
                s.id,
                Skimmed {
                    refs,
                    confirmed: AtomicBool::new(false),
                },
            );
        }
    }
    let loader = &*loader;
    scanned.sort_by(|a, b| a.rel_path.cmp(&b.rel_path));
    // Files that references lead to are read now, in a fixed order, so file ids do not
    // depend on which thread gets there first.
    let mut queue: std::collections::VecDeque<Vec<PathBuf>> =
        scanned.iter().map(|s| s.next.clone()).collect();
    let mut seen: HashSet<PathBuf> = scanned.iter().map(|u| u.path.clone()).collect();
    while let Some(next) = queue.pop_front() {
        for p in next {
            if seen.len() > 100_000 || !seen.insert(p.clone()) {
                continue;
            }
            if p.extension()
                .is_some_and(|e| e.eq_ignore_ascii_case("json"))
            {
                let _ = loader.load_json(&p);
            } else if let Ok(m) = loader.load(&p) {
                queue.push_back(resolved(&m.path, &Refs::of(&m.parsed)).1);
            }
        }
    }

    watch.lap("  bicep refs");
    // Entry points: parameter files, and Bicep files nothing scanned refers to. The module
    // graph is walked by position in `scanned` (hashing and comparing paths, component by
    // component, made this the largest serial step of the Bicep stage).
    let pos: HashMap<&Path, usize> = scanned
        .iter()
        .enumerate()
        .map(|(i, u)| (u.path.as_path(), i))
        .collect();
    let refs: Vec<Vec<usize>> = scanned
        .iter()
        .map(|u| {
            u.refs
                .iter()
                .filter_map(|r| pos.get(r.as_path()).copied())
                .collect()
        })
        .collect();
    let mut used = vec![false; scanned.len()];
    for &r in refs.iter().flatten() {
        used[r] = true;
    }
    let mut entries: Vec<usize> = (0..scanned.len())
        .filter(|&i| scanned[i].is_param || !used[i])
        .collect();
    // Files reached by no entry (modules of each other only) are still scanned on their own:
    // nothing is skipped in silence.
    let reached = reachable(&refs, entries.iter().copied());
    entries.extend((0..scanned.len()).filter(|i| !reached.contains(i)));
    entries.sort_by(|&a, &b| scanned[a].rel_path.cmp(&scanned[b].rel_path));
    entries.dedup_by(|a, b| scanned[*a].path == scanned[*b].path);
    // Which scanned files each entry point reaches through modules, and how many entry
    // points reach each: a scanned module is let go of once the last one is evaluated.
    let reach: Vec<BTreeSet<usize>> = entries.iter().map(|&e| reachable(&refs, [e])).collect();
    let users: Vec<std::sync::atomic::AtomicUsize> = (0..scanned.len())
        .map(|_| std::sync::atomic::AtomicUsize::new(0))
        .collect();
    for &p in reach.iter().flatten() {
        users[p].fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
    let entries: Vec<&Scanned> = entries.into_iter().map(|i| &scanned[i]).collect();

    watch.lap("  bicep entries");
    // Deep but legal nesting recurses through expressions, variables and module calls:
    // evaluate on threads with room for it.
    let run = || -> Vec<(Vec<Resource>, Vec<Diagnostic>)> {
        entries
            .par_iter()
            .enumerate()
            .map(|(i, u)| {
                let (mut rs, ds) = match loader.load(&u.path) {
                    Ok(unit) => run_entry(loader, &unit),
                    Err(e) => (
                        Vec::new(),
                        vec![Diagnostic::error(Span::file_start(u.id), e)],
                    ),
                };
                for &p in &reach[i] {
                    if users[p].fetch_sub(1, std::sync::atomic::Ordering::AcqRel) == 1 {
                        loader.release(&scanned[p].path);
                    }
                }
                settle(&mut rs);
                (rs, ds)
            })
            .collect()
    };
    let results = crate::threads::Deep::get().install(run).unwrap_or_else(run);
    watch.lap("  bicep evaluate");
    // Skimmed files the evaluation never parsed (modules called under a false condition, or
    // by no evaluated branch) are parsed now, for their syntax errors and to confirm them.
    scanned
        .par_iter()
        .filter(|s| {
            loader
                .skimmed
                .get(&s.id)
                .is_some_and(|k| !k.confirmed.load(Ordering::Acquire))
        })
        .for_each(|s| loader.confirm(s.id, &super::parse(&sources.get(s.id).text)));
    if loader.contradicted.load(Ordering::Acquire) {
        return None;
    }
    watch.lap("  bicep confirm");
    // Joined in parallel (concat.rs): grown by doubling on one thread, the list of every
    // resource (240 bytes each) was copied into fresh memory again and again, a twentieth
    // of a Bicep scan's page faults.
    let (resources, diagnostics): (Vec<_>, Vec<_>) = results.into_iter().unzip();
    out.resources = crate::concat::concat(resources);
    out.diagnostics.extend(diagnostics.into_iter().flatten());
    out.diagnostics.extend(std::mem::take(
        &mut *loader
            .skimmed_diags
            .lock()
            .unwrap_or_else(|e| e.into_inner()),
    ));
    Some(out)
}

/// The scanned files `starts` lead to through module, `using` and `extends` references
/// (`refs`, by position in the scanned files), `starts` included.
fn reachable(refs: &[Vec<usize>], starts: impl IntoIterator<Item = usize>) -> BTreeSet<usize> {
    let mut seen = BTreeSet::new();
    let mut stack: Vec<usize> = starts.into_iter().collect();
    while let Some(p) = stack.pop() {
        if seen.insert(p) {
            stack.extend(&refs[p]);
        }
    }
    seen
}

fn run_entry(loader: &Loader, unit: &Arc<Unit>) -> (Vec<Resource>, Vec<Diagnostic>) {
    let mut sess = Session::new(loader);
    let mut resources = Vec::new();
    if is_param_file(&unit.path) {
        if let Some((target, given)) = super::params::evaluate(&mut sess, unit) {
            sess.module_stack.push(target.path.clone());
            let mut inst = Instance::new(&mut sess, target, given, String::new(), Vec::new());
            inst.lower(&mut resources);
        }
    } else {
        sess.module_stack.push(unit.path.clone());
        let mut inst = Instance::new(
            &mut sess,
            unit.clone(),
            HashMap::new(),
            String::new(),
            Vec::new(),
        );
        inst.lower(&mut resources);
    }
    (resources, sess.diags)
}

/// True for a `using none` or a missing `using` (nothing to evaluate).
pub(super) fn using_target(u: &Unit) -> Option<(&super::syntax::Expr, Option<&str>)> {
    u.parsed
        .program
        .statements
        .iter()
        .find_map(|s| match &s.kind {
            StatementKind::Using(d) => d.path.as_ref().map(|p| {
                (
                    p,
                    match &p.kind {
                        ExprKind::String(s) => s.as_literal(),
                        _ => None,
                    },
                )
            }),
            _ => None,
        })
}
