//! discover: paths in, classified files out (with their text). No syntax.
//!
//! Walks the given paths with the `ignore` crate's parallel walker (honouring `.gitignore`),
//! applies the exclude globs, and classifies each file by name and, for JSON, by content.
//! Files that are not infrastructure code are skipped silently; an IaC file that cannot be
//! read or decoded becomes a [`Problem`] so it is reported, never silently passed.

use globset::{Glob, GlobSet, GlobSetBuilder};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FileKind {
    /// `*.json` whose `$schema` names `deploymentTemplate`.
    ArmTemplate,
    /// `*.json` whose `$schema` names `deploymentParameters`.
    ArmParameters,
    Bicep,
    BicepParam,
    /// `*.tf`
    Terraform,
    /// `*.tf.json`
    TerraformJson,
    /// `*.tfvars`, `*.tfvars.json`
    TerraformVars,
    /// `terraform show -json` output.
    TerraformPlan,
}

impl FileKind {
    pub fn language_name(self) -> &'static str {
        match self {
            FileKind::ArmTemplate | FileKind::ArmParameters => "arm",
            FileKind::Bicep | FileKind::BicepParam => "bicep",
            _ => "terraform",
        }
    }
}

/// One file to scan.
#[derive(Debug)]
pub struct Discovered {
    pub path: PathBuf,
    /// Relative to the scan root, `/`-separated.
    pub rel_path: String,
    pub kind: FileKind,
    /// None for an ARM template: the ARM stage reads each template when it evaluates it,
    /// so the texts of all templates are never in memory together.
    pub text: Option<String>,
    /// An ARM template's bytes, if the head read to classify it was all of it.
    pub prefetched: Option<crate::prefetch::Prefetched>,
    /// Its size in bytes when it was found.
    pub size: u64,
}

/// A file that looks like infrastructure code but could not be read (an error), or a path
/// that discovery did not enter and says so (a warning: a symbolic link).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Problem {
    pub rel_path: String,
    pub path: PathBuf,
    pub message: String,
    pub warning: bool,
}

#[derive(Debug, Default)]
pub struct Discovery {
    /// Sorted by `rel_path`, so everything downstream is deterministic.
    pub files: Vec<Discovered>,
    pub problems: Vec<Problem>,
    /// What [`Discovered::prefetched`] points into.
    pub prefetched: crate::prefetch::Blocks,
}

#[derive(Debug, Clone)]
pub struct Filter {
    pub exclude: GlobSet,
    pub include: Option<GlobSet>,
    /// Larger files are reported, not read.
    pub max_file_size: u64,
    pub threads: usize,
}

impl Default for Filter {
    fn default() -> Self {
        Filter {
            exclude: GlobSet::empty(),
            include: None,
            max_file_size: DEFAULT_MAX_FILE_SIZE,
            threads: 0,
        }
    }
}

/// 32 MiB: the largest real template we have seen is under 5 MB; anything bigger is more
/// likely generated or hostile, and is reported rather than read.
pub const DEFAULT_MAX_FILE_SIZE: u64 = 32 * 1024 * 1024;

pub fn build_globset(patterns: &[String]) -> Result<GlobSet, globset::Error> {
    let mut b = GlobSetBuilder::new();
    for p in patterns {
        // A bare name like `tests` should exclude that folder anywhere, as in .gitignore.
        let p = p.trim_end_matches('/');
        b.add(Glob::new(p)?);
        if !p.contains('/') {
            b.add(Glob::new(&format!("**/{p}"))?);
        }
        b.add(Glob::new(&format!("{p}/**"))?);
        if !p.contains('/') {
            b.add(Glob::new(&format!("**/{p}/**"))?);
        }
    }
    b.build()
}

/// The folder all reported paths are relative to: the git repository containing the first
/// path, else that path itself (or its folder, for a file).
pub fn scan_root(paths: &[PathBuf]) -> PathBuf {
    let first = paths.first().cloned().unwrap_or_else(|| PathBuf::from("."));
    let abs = std::path::absolute(&first).unwrap_or(first);
    let start = if abs.is_file() {
        abs.parent().map(Path::to_path_buf).unwrap_or(abs.clone())
    } else {
        abs.clone()
    };
    let mut dir = Some(start.as_path());
    while let Some(d) = dir {
        if d.join(".git").exists() {
            return normalize(d);
        }
        dir = d.parent();
    }
    normalize(&start)
}

/// Removes `.` and `..` components lexically (no symlink resolution: paths must stay as the
/// user sees them).
pub fn normalize(p: &Path) -> PathBuf {
    if is_clean(p) {
        return p.to_path_buf();
    }
    resolved_bytes(p).unwrap_or_else(|| lexical(p))
}

/// [`normalize`] on the bytes of a `/`-separated path, as module references need it
/// (`dir/../../modules/x.bicep`). None for what only [`lexical`] answers: a `..` above the
/// start, nothing left.
#[cfg(unix)]
fn resolved_bytes(p: &Path) -> Option<PathBuf> {
    let b = p.as_os_str().as_encoded_bytes();
    let mut parts: Vec<&[u8]> = Vec::new();
    for c in b.split(|&c| c == b'/') {
        match c {
            b"" | b"." => {}
            b".." => {
                parts.pop()?;
            }
            c => parts.push(c),
        }
    }
    if parts.is_empty() {
        return None;
    }
    let mut out = Vec::with_capacity(b.len());
    for c in parts {
        if !out.is_empty() || b.starts_with(b"/") {
            out.push(b'/');
        }
        out.extend_from_slice(c);
    }
    Some(PathBuf::from(
        <std::ffi::OsString as std::os::unix::ffi::OsStringExt>::from_vec(out),
    ))
}

/// Elsewhere paths have other separators and prefixes: [`lexical`] answers.
#[cfg(not(unix))]
fn resolved_bytes(_: &Path) -> Option<PathBuf> {
    None
}

/// `p` made absolute (against the current folder) and [`normalize`]d.
pub fn absolute(p: &Path) -> PathBuf {
    if p.is_absolute() && is_clean(p) {
        return p.to_path_buf();
    }
    normalize(&std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf()))
}

/// [`normalize`] the long way, component by component.
fn lexical(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            std::path::Component::CurDir => {}
            std::path::Component::ParentDir => {
                if !out.pop() {
                    out.push("..");
                }
            }
            c => out.push(c),
        }
    }
    out
}

/// True when `p` is already what [`normalize`] (and, if absolute, `std::path::absolute`)
/// makes of it: `/`-separated with no `.`, `..` or empty component. Splitting a path into
/// components was 5 ms of CPU on the Bicep set (every module reference is keyed by its
/// absolute path); most paths are clean, and a byte scan says so.
pub fn is_clean(p: &Path) -> bool {
    if cfg!(not(unix)) {
        return false;
    }
    let b = p.as_os_str().as_encoded_bytes();
    !b.is_empty()
        && (b.len() == 1 || !b.ends_with(b"/"))
        && b.split(|&c| c == b'/')
            .enumerate()
            .all(|(i, c)| !matches!(c, b"." | b"..") && (i == 0 || !c.is_empty()))
}

/// `path` relative to `root`, `/`-separated; `../` segments when it lies outside.
pub fn relative(root: &Path, path: &Path) -> String {
    let path = absolute(path);
    if let Ok(rel) = path.strip_prefix(root) {
        return slash(rel);
    }
    let root_parts: Vec<_> = root.components().collect();
    let path_parts: Vec<_> = path.components().collect();
    let common = root_parts
        .iter()
        .zip(&path_parts)
        .take_while(|(a, b)| a == b)
        .count();
    let mut out = PathBuf::new();
    for _ in common..root_parts.len() {
        out.push("..");
    }
    for c in &path_parts[common..] {
        out.push(c);
    }
    slash(&out)
}

fn slash(p: &Path) -> String {
    let s = p.to_string_lossy().replace('\\', "/");
    if s.is_empty() {
        ".".to_string()
    } else {
        s
    }
}

/// Classification by name alone; JSON needs its content (see [`classify_json`]).
fn kind_by_name(name: &str) -> Option<NameKind> {
    let lower = name.to_ascii_lowercase();
    Some(if lower.ends_with(".tf") {
        NameKind::Known(FileKind::Terraform)
    } else if lower.ends_with(".tf.json") {
        NameKind::Known(FileKind::TerraformJson)
    } else if lower.ends_with(".tfvars") || lower.ends_with(".tfvars.json") {
        NameKind::Known(FileKind::TerraformVars)
    } else if lower.ends_with(".bicep") {
        NameKind::Known(FileKind::Bicep)
    } else if lower.ends_with(".bicepparam") {
        NameKind::Known(FileKind::BicepParam)
    } else if lower.ends_with(".json") || lower.ends_with(".jsonc") {
        NameKind::Json
    } else {
        return None;
    })
}

enum NameKind {
    Known(FileKind),
    Json,
}

/// How much of a JSON file's beginning decides what it is: `$schema` (and a plan's
/// `format_version`) come first in every file the corpora hold.
const CLASSIFY_HEAD: usize = 64 * 1024;

/// ARM files declare what they are in `$schema`; plan JSON has `planned_values`. Works on
/// bytes (the needles are ASCII), so a cut through a multi-byte character cannot matter:
/// cutting the text at 64 KB as a `str` panicked on such a file.
fn classify_json(bytes: &[u8]) -> Option<FileKind> {
    // A substring test is enough to decide whether to parse; the ARM frontend checks the
    // root `$schema` again after parsing and drops a false match.
    // Compiled once; a regex finds a literal with a vectorized prefilter, where a
    // byte-by-byte case-insensitive scan was most of discovery's own CPU time.
    static TEMPLATE: OnceLock<Option<regex::bytes::Regex>> = OnceLock::new();
    static PARAMETERS: OnceLock<Option<regex::bytes::Regex>> = OnceLock::new();
    let head = &bytes[..bytes.len().min(CLASSIFY_HEAD)];
    let ci = |cell: &'static OnceLock<Option<regex::bytes::Regex>>, needle: &str| match cell
        .get_or_init(|| regex::bytes::Regex::new(&format!("(?i-u){}", regex::escape(needle))).ok())
    {
        Some(re) => re.is_match(head),
        None => contains_ci(head, needle.as_bytes()),
    };
    if ci(&TEMPLATE, "deploymenttemplate.json") {
        Some(FileKind::ArmTemplate)
    } else if ci(&PARAMETERS, "deploymentparameters.json") {
        Some(FileKind::ArmParameters)
    } else if has_plan_head(head)
        && (contains(bytes, b"\"planned_values\"") || contains(bytes, b"\"resource_changes\""))
    {
        Some(FileKind::TerraformPlan)
    } else {
        None
    }
}

fn has_plan_head(head: &[u8]) -> bool {
    contains(head, b"\"format_version\"")
}

fn contains_ci(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len())
        .any(|w| w.eq_ignore_ascii_case(needle))
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// Reads the head of a file into `buf` (cleared first): its first `limit` bytes and one more
/// if there is one. Returns whether that is all of it.
fn read_head(file: &std::fs::File, limit: usize, buf: &mut Vec<u8>) -> std::io::Result<bool> {
    use std::io::Read;
    buf.clear();
    buf.reserve(limit + 1);
    file.take(limit as u64 + 1).read_to_end(buf)?;
    // One byte past the limit says whether there is more; it stays in the buffer, which
    // `read_rest` continues.
    Ok(buf.len() <= limit)
}

/// The rest of an open file after `head`, sized to the file up front.
fn read_rest(mut file: &std::fs::File, mut head: Vec<u8>, size: u64) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    head.reserve_exact((size as usize).saturating_sub(head.len()) + 1);
    file.read_to_end(&mut head)?;
    Ok(head)
}

pub use crate::source::decode;

pub fn run(paths: &[PathBuf], root: &Path, filter: &Filter) -> Discovery {
    let found = Mutex::new(Discovery::default());
    let packer = crate::prefetch::Packer::default();
    let mut explicit_files = Vec::new();
    let mut dirs = Vec::new();
    for p in paths {
        match std::fs::metadata(p) {
            Ok(m) if m.is_file() => explicit_files.push(p.clone()),
            Ok(_) => dirs.push(p.clone()),
            Err(e) => found.lock().unwrap().problems.push(Problem {
                rel_path: relative(root, p),
                path: p.clone(),
                message: format!("cannot read: {e}"),
                warning: false,
            }),
        }
    }
    let mut local = packer.local();
    for f in explicit_files {
        visit(&f, root, filter, true, &found, &mut local);
    }
    drop(local);
    if !dirs.is_empty() {
        let mut builder = ignore::WalkBuilder::new(&dirs[0]);
        for d in &dirs[1..] {
            builder.add(d);
        }
        builder
            .hidden(false)
            .follow_links(false)
            .require_git(false)
            .threads(filter.threads)
            // `.git` internals and downloaded Terraform modules are never the user's code.
            .filter_entry(|e| {
                let n = e.file_name();
                !(n == ".git" || n == ".terraform" || n == "node_modules")
            });
        builder.build_parallel().run(|| {
            let found = &found;
            let mut local = packer.local();
            Box::new(move |entry| {
                match entry {
                    Ok(e) if e.file_type().is_some_and(|t| t.is_file()) => {
                        visit(e.path(), root, filter, false, found, &mut local);
                    }
                    // Links are not followed: a link may lead out of what was asked to be
                    // scanned, or in a loop. One to a folder or to a file basegate reads is
                    // said, so that nothing is left out in silence.
                    Ok(e) if e.path_is_symlink() => {
                        let path = e.path();
                        let rel_path = relative(root, path);
                        if would_read(path) && !filter.exclude.is_match(&rel_path) {
                            found.lock().unwrap().problems.push(Problem {
                                rel_path,
                                path: path.to_path_buf(),
                                message: "symbolic link not followed: not scanned".to_string(),
                                warning: true,
                            });
                        }
                    }
                    Ok(_) => {}
                    Err(err) => {
                        // Loops and permission errors: say so, keep walking.
                        let path = match &err {
                            ignore::Error::WithPath { path, .. } => path.clone(),
                            _ => PathBuf::new(),
                        };
                        if path.as_os_str().is_empty() || would_read(&path) {
                            found.lock().unwrap().problems.push(Problem {
                                rel_path: relative(root, &path),
                                path,
                                message: format!("cannot read: {err}"),
                                warning: false,
                            });
                        }
                    }
                }
                ignore::WalkState::Continue
            })
        });
    }
    let mut d = found.into_inner().unwrap_or_else(|e| e.into_inner());
    d.prefetched = packer.finish();
    d.files.sort_by(|a, b| a.rel_path.cmp(&b.rel_path));
    d.files.dedup_by(|a, b| a.rel_path == b.rel_path);
    d.problems.sort();
    d.problems.dedup();
    d
}

/// A folder, or a file named as infrastructure code: what the walk would have read, so what
/// it must say it could not (an error) or did not (a link).
fn would_read(path: &Path) -> bool {
    let named = path
        .file_name()
        .and_then(|n| n.to_str())
        .and_then(kind_by_name)
        .is_some();
    named || path.is_dir()
}

fn visit(
    path: &Path,
    root: &Path,
    filter: &Filter,
    explicit: bool,
    found: &Mutex<Discovery>,
    local: &mut crate::prefetch::Local,
) {
    let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
        return;
    };
    let Some(name_kind) = kind_by_name(name) else {
        if explicit {
            found.lock().unwrap().problems.push(Problem {
                rel_path: relative(root, path),
                path: path.to_path_buf(),
                message: "not a Bicep, ARM JSON or Terraform file: not scanned".to_string(),
                warning: false,
            });
        }
        return;
    };
    let rel_path = relative(root, path);
    if !explicit {
        if filter.exclude.is_match(&rel_path) {
            return;
        }
        if let Some(inc) = &filter.include {
            if !inc.is_match(&rel_path) {
                return;
            }
        }
    }
    let report = |message: String| {
        found.lock().unwrap().problems.push(Problem {
            rel_path: rel_path.clone(),
            path: path.to_path_buf(),
            message,
            warning: false,
        })
    };
    // Opened once: its size comes from the open file, not from a second lookup of the path
    // (each lookup walks the path in the kernel, twice per file of a deep tree).
    let file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) => {
            report(format!("cannot read: {e}"));
            return;
        }
    };
    let size = file.metadata().map(|m| m.len()).unwrap_or(0);
    if size > filter.max_file_size {
        // A large JSON file may be anything; only report it when its name says IaC.
        if matches!(name_kind, NameKind::Known(_)) || explicit || looks_like_arm_head(path) {
            report(format!(
                "{} MB is over the {} MB file size limit: not scanned (raise it with --max-file-size)",
                size / (1024 * 1024),
                filter.max_file_size / (1024 * 1024)
            ));
        }
        return;
    }
    // A JSON file found by the walk is read only as far as its head first: most are not
    // IaC. A template whose head is all of it is handed on to the ARM stage (prefetch.rs); a
    // larger one is read whole by the ARM stage, which evaluates it (reading and decoding
    // every template here was a third of discovery on the corpus).
    let read = if matches!(name_kind, NameKind::Json) && !explicit {
        // Into the thread's reused buffer: most heads are dropped or packed right away.
        let mut buf = std::mem::take(&mut local.head);
        let read = read_head(&file, CLASSIFY_HEAD, &mut buf).and_then(|whole| {
            let head = &buf[..buf.len().min(CLASSIFY_HEAD)];
            // UTF-16 is classified once decoded, so read it whole (rare).
            let utf16 = head.starts_with(&[0xFF, 0xFE]) || head.starts_with(&[0xFE, 0xFF]);
            match classify_json(head) {
                Some(FileKind::ArmTemplate) if !utf16 => {
                    Ok(Head::Template(whole.then(|| local.put(&buf)).flatten()))
                }
                None if !utf16 && (whole || !has_plan_head(head)) => Ok(Head::Other),
                // Kept: sized to the file, with no slack.
                _ if whole => Ok(Head::Whole(buf.to_vec())),
                _ => read_rest(&file, buf.to_vec(), size).map(Head::Whole),
            }
        });
        local.head = buf;
        read
    } else {
        read_rest(&file, Vec::new(), size).map(Head::Whole)
    };
    let bytes = match read {
        Ok(Head::Whole(b)) => b,
        Ok(Head::Template(prefetched)) => {
            // Decoded and checked by the ARM stage (SourceMap::with_text), which reports a
            // file that is not valid text as this stage would; read there unless its head
            // was all of it.
            found.lock().unwrap().files.push(Discovered {
                path: path.to_path_buf(),
                rel_path,
                kind: FileKind::ArmTemplate,
                text: None,
                prefetched,
                size,
            });
            return;
        }
        Ok(Head::Other) => return,
        Err(e) => {
            report(format!("cannot read: {e}"));
            return;
        }
    };
    // Kept for the error path: a JSON file is only IaC if its content says so.
    let lossy_is_arm = matches!(name_kind, NameKind::Json)
        && std::str::from_utf8(&bytes).is_err()
        && classify_json(String::from_utf8_lossy(&bytes).as_bytes()).is_some();
    let text = match decode(bytes) {
        Ok(t) => t,
        Err(msg) => {
            if matches!(name_kind, NameKind::Known(_)) || explicit || lossy_is_arm {
                report(msg);
            }
            return;
        }
    };
    let kind = match name_kind {
        NameKind::Known(k) => k,
        NameKind::Json => match classify_json(text.as_bytes()) {
            Some(k) => k,
            None => {
                if explicit {
                    report(
                        "JSON file without an ARM `$schema` or Terraform plan shape: not scanned"
                            .to_string(),
                    );
                }
                return;
            }
        },
    };
    found.lock().unwrap().files.push(Discovered {
        path: path.to_path_buf(),
        rel_path,
        kind,
        text: (kind != FileKind::ArmTemplate).then_some(text),
        prefetched: None,
        size,
    });
}

fn looks_like_arm_head(path: &Path) -> bool {
    use std::io::Read;
    let mut buf = vec![0u8; 4096];
    let n = std::fs::File::open(path)
        .and_then(|mut f| f.read(&mut buf))
        .unwrap_or(0);
    classify_json(&buf[..n]).is_some()
}

/// What reading a JSON file's head decided.
enum Head {
    /// Its bytes, all of them.
    Whole(Vec<u8>),
    /// An ARM template, and its bytes if the head was all of it (else the ARM stage reads it).
    Template(Option<crate::prefetch::Prefetched>),
    /// Not infrastructure code.
    Other,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_paths_are_what_normalize_makes_of_them() {
        let cases = [
            "/a/b.bicep",
            "a/b",
            "/",
            "/a/",
            "a//b",
            "/a/./b",
            "/a/../b",
            "../a",
            "./a",
            ".",
            "..",
            "a/.",
            "a/..",
            "/a/.b/c..",
            "",
            "//a",
            "/a/b/",
            "/r/m/.test/x/../../main.bicep",
            "a/../../b",
            "/a/../..",
            "a/b/../",
            "./a/./b",
        ];
        for c in cases {
            let p = Path::new(c);
            if let Some(r) = resolved_bytes(p) {
                assert_eq!(r, lexical(p), "{c}");
            }
            if is_clean(p) {
                assert_eq!(lexical(p), p, "{c}");
                if p.is_absolute() {
                    assert_eq!(std::path::absolute(p).unwrap(), p, "{c}");
                }
            }
        }
        assert!(is_clean(Path::new("/a/.b/c..")));
        assert!(!is_clean(Path::new("/a/../b")));
        assert!(!is_clean(Path::new("a//b")));
        assert_eq!(normalize(Path::new("/a/./b/../c")), Path::new("/a/c"));
    }

    #[test]
    fn classifies_by_name_and_content() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::write(d.join("main.tf"), "resource \"a\" \"b\" {}").unwrap();
        std::fs::write(d.join("x.bicep"), "param a string").unwrap();
        std::fs::write(
            d.join("azuredeploy.json"),
            r#"{"$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#"}"#,
        )
        .unwrap();
        std::fs::write(d.join("package.json"), r#"{"name": "x"}"#).unwrap();
        std::fs::write(d.join("bad.tf"), [0xff, 0xfe, 0x00, 0x41]).unwrap();
        std::fs::write(d.join("bin.tf"), [0x41, 0x00, 0x42]).unwrap();
        std::fs::create_dir(d.join(".terraform")).unwrap();
        std::fs::write(d.join(".terraform/x.tf"), "").unwrap();
        let root = scan_root(&[d.to_path_buf()]);
        let found = run(&[d.to_path_buf()], &root, &Filter::default());
        let names: Vec<_> = found
            .files
            .iter()
            .map(|f| (f.rel_path.as_str(), f.kind))
            .collect();
        assert_eq!(
            names,
            [
                ("azuredeploy.json", FileKind::ArmTemplate),
                ("bad.tf", FileKind::Terraform), // a UTF-16 BOM: decoded
                ("main.tf", FileKind::Terraform),
                ("x.bicep", FileKind::Bicep)
            ]
        );
        assert_eq!(found.problems.len(), 1, "{:?}", found.problems);
        assert_eq!(found.problems[0].rel_path, "bin.tf");
        assert!(found.problems[0].message.contains("binary"));
    }

    /// A JSON file longer than the classifying head that must be read whole (a Terraform
    /// plan; a UTF-16 file): what is kept is the whole file, the bytes around the end of
    /// the head included.
    #[test]
    fn json_read_past_the_head_is_kept_whole() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let mut plan = String::from(r#"{"format_version": "1.2", "planned_values": {"x": ""#);
        while plan.len() < 3 * CLASSIFY_HEAD {
            plan.push_str("0123456789abcdef");
        }
        plan.push_str(r#""}, "resource_changes": []}"#);
        std::fs::write(d.join("tfplan.json"), &plan).unwrap();
        let utf16: Vec<u8> = [0xFF, 0xFE]
            .into_iter()
            .chain(
                r#"{"format_version": "1.2", "resource_changes": [], "pad": ""#
                    .encode_utf16()
                    .chain(std::iter::repeat_n(u16::from(b'x'), CLASSIFY_HEAD))
                    .chain(r#""}"#.encode_utf16())
                    .flat_map(u16::to_le_bytes),
            )
            .collect();
        std::fs::write(d.join("utf16.json"), &utf16).unwrap();
        let found = run(&[d.to_path_buf()], d, &Filter::default());
        assert!(found.problems.is_empty(), "{:?}", found.problems);
        let text = |name: &str| {
            found
                .files
                .iter()
                .find(|f| f.rel_path == name)
                .and_then(|f| f.text.clone())
                .unwrap_or_else(|| panic!("{name} not kept: {:?}", found.files))
        };
        assert_eq!(text("tfplan.json"), plan);
        assert!(text("utf16.json").ends_with(&format!("{}\"}}", "x".repeat(10))));
        assert_eq!(text("utf16.json").chars().count(), utf16.len() / 2 - 1);
    }

    #[test]
    fn excludes_and_size_limit() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::create_dir(d.join("vendor")).unwrap();
        std::fs::write(d.join("vendor/a.tf"), "").unwrap();
        std::fs::write(d.join("big.tf"), "x".repeat(2000)).unwrap();
        let filter = Filter {
            exclude: build_globset(&["vendor".to_string()]).unwrap(),
            max_file_size: 1000,
            ..Filter::default()
        };
        let found = run(&[d.to_path_buf()], d, &filter);
        assert!(found.files.is_empty());
        assert_eq!(found.problems.len(), 1);
        assert!(found.problems[0].message.contains("size limit"));
    }

    #[cfg(unix)]
    #[test]
    fn symbolic_links_are_not_followed_and_said() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::create_dir(d.join("real")).unwrap();
        std::fs::write(d.join("real/main.tf"), "").unwrap();
        std::fs::write(d.join("notes.txt"), "").unwrap();
        std::os::unix::fs::symlink(d.join("real"), d.join("linked")).unwrap();
        std::os::unix::fs::symlink(d.join("real/main.tf"), d.join("alias.tf")).unwrap();
        std::os::unix::fs::symlink(d.join("notes.txt"), d.join("notes-link.txt")).unwrap();
        let found = run(&[d.to_path_buf()], d, &Filter::default());
        let files: Vec<&str> = found.files.iter().map(|f| f.rel_path.as_str()).collect();
        assert_eq!(files, ["real/main.tf"]);
        let said: Vec<(&str, &str, bool)> = found
            .problems
            .iter()
            .map(|p| (p.rel_path.as_str(), p.message.as_str(), p.warning))
            .collect();
        // Not the link to a file basegate does not read.
        assert_eq!(
            said,
            [
                ("alias.tf", "symbolic link not followed: not scanned", true),
                ("linked", "symbolic link not followed: not scanned", true),
            ]
        );
    }

    #[test]
    fn relative_paths() {
        assert_eq!(
            relative(Path::new("/a/b"), Path::new("/a/b/c/d.tf")),
            "c/d.tf"
        );
        assert_eq!(relative(Path::new("/a/b"), Path::new("/a/x.tf")), "../x.tf");
    }
}
