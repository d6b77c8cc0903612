//! triage: which findings the team has accepted, and on whose word.
//!
//! Three sources, in order: inline suppressions in the source (`// basegate:ignore RULE
//! reason`, `# basegate:ignore …`, or an ARM resource's `metadata`), the exceptions register
//! in `.basegate.toml` (owner, justification, expiry), and a baseline file of accepted
//! fingerprints. A suppressed finding is kept and marked, never dropped, so SARIF and JSON
//! carry the full audit trail. A suppression without a reason, an expired exception and an
//! exception that matches nothing are reported.

use crate::check::Finding;
use crate::config::{date_of, Date, Exception};
use crate::model::{Diagnostic, Model, Value};
use crate::rules::Rule;
use crate::source::{FileId, SourceMap, Span};
use foldhash::HashSet;
use globset::GlobMatcher;
use std::collections::BTreeMap;

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub enum SuppressionKind {
    /// A comment or metadata entry in the source.
    InSource,
    /// The exceptions register or the baseline file.
    External,
}

#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Suppression {
    pub kind: SuppressionKind,
    pub justification: String,
    /// `inline`, `metadata`, `exception`, `baseline`.
    pub source: &'static str,
    /// For exceptions: who owns the deviation, until when, and the ticket.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ticket: Option<String>,
}

/// An entry of the baseline file.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BaselineEntry {
    pub file: String,
    pub rule_id: String,
    pub resource: String,
    pub path: String,
    pub fingerprint: String,
    pub message: String,
}

#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BaselineFile {
    /// Format version of this file.
    pub basegate_baseline: u32,
    pub findings: Vec<BaselineEntry>,
}

pub const BASELINE_VERSION: u32 = 1;

impl BaselineFile {
    pub fn parse(text: &str) -> Result<BaselineFile, String> {
        let b: BaselineFile = serde_json::from_str(text)
            .map_err(|e| format!("line {}, column {}: {e}", e.line(), e.column()))?;
        if b.basegate_baseline != BASELINE_VERSION {
            return Err(format!(
                "baseline format version {} is not supported (this basegate writes version {BASELINE_VERSION}); recreate it with `basegate baseline create`",
                b.basegate_baseline
            ));
        }
        Ok(b)
    }
}

/// Everything triage needs besides the findings.
#[derive(Clone, Debug, Default)]
pub struct TriageOptions {
    pub exceptions: Vec<Exception>,
    /// The config file (added to the source map so diagnostics can point into it).
    pub config_file: Option<FileId>,
    pub max_exception_days: u32,
    pub baseline: Option<BaselineFile>,
    pub today: Option<Date>,
}

#[derive(Debug, Default)]
pub struct TriageOutput {
    pub diagnostics: Vec<Diagnostic>,
    /// Baseline entries no longer found: fixed since the baseline was taken.
    pub fixed: Vec<BaselineEntry>,
}

pub fn run(
    findings: &mut [Finding],
    model: &Model,
    rules: &[Rule],
    sources: &SourceMap,
    opts: &TriageOptions,
) -> TriageOutput {
    let mut out = TriageOutput::default();
    let today = opts.today.unwrap_or_else(Date::today);
    let inline = collect_inline(sources, findings, model, &mut out.diagnostics);

    // Exceptions: validated against today and the maximum term first.
    struct Ex<'a> {
        e: &'a Exception,
        resource: GlobMatcher,
        file: Option<GlobMatcher>,
        active: bool,
        used: bool,
        span: Span,
    }
    let config_text = opts.config_file.map(|f| sources.get(f));
    let mut exceptions: Vec<Ex> = Vec::new();
    for (i, e) in opts.exceptions.iter().enumerate() {
        let span = match (&config_text, opts.config_file) {
            (Some(t), Some(f)) => exception_span(&t.text, i, f),
            _ => Span::default(),
        };
        let expires = date_of(&e.expires).unwrap_or(today);
        let mut active = true;
        if expires < today {
            active = false;
            out.diagnostics.push(
                Diagnostic::warning(
                    span,
                    format!(
                        "exception for {} on `{}` (owner {}) expired on {expires}: its findings are no longer suppressed",
                        e.rule, e.resource, e.owner
                    ),
                )
                .with_help("fix the findings, or renew the exception with a new justification and date"),
            );
        } else if expires.to_days() - today.to_days() > opts.max_exception_days as i64 {
            active = false;
            out.diagnostics.push(Diagnostic::warning(
                span,
                format!(
                    "exception for {} on `{}` expires {expires}, more than {} days ahead: not applied",
                    e.rule, e.resource, opts.max_exception_days
                ),
            ));
        }
        if !rules
            .iter()
            .any(|r| r.id.eq_ignore_ascii_case(&e.rule) || r.name == e.rule)
        {
            out.diagnostics.push(Diagnostic::warning(
                span,
                format!("exception names unknown rule `{}`", e.rule),
            ));
        }
        exceptions.push(Ex {
            e,
            resource: globset::Glob::new(&e.resource)
                .map(|g| g.compile_matcher())
                .unwrap_or_else(|_| globset::Glob::new("").unwrap().compile_matcher()),
            file: e
                .file
                .as_ref()
                .and_then(|f| globset::Glob::new(f).ok())
                .map(|g| g.compile_matcher()),
            active,
            used: false,
            span,
        });
    }
    let baseline: HashSet<&str> = opts
        .baseline
        .iter()
        .flat_map(|b| b.findings.iter().map(|e| e.fingerprint.as_str()))
        .collect();
    // Set on the findings as they are matched (a list of suppressions, one slot a finding,
    // zero-filled and copied over afterwards, was a megabyte of fresh memory on the Bicep
    // set).
    for (i, f) in findings.iter_mut().enumerate() {
        if let Some(s) = inline.get(&i) {
            f.suppression = Some(Box::new(s.clone()));
            continue;
        }
        let mut matched = None;
        if !exceptions.is_empty() {
            let rule = &rules[f.rule];
            let res = model.get(f.resource);
            let file = sources.get(f.span.file);
            for ex in exceptions.iter_mut() {
                let rule_ok = ex.e.rule.eq_ignore_ascii_case(&rule.id) || ex.e.rule == rule.name;
                if !rule_ok || !ex.resource.is_match(&res.address) {
                    continue;
                }
                if ex
                    .file
                    .as_ref()
                    .is_some_and(|g| !g.is_match(&file.rel_path))
                {
                    continue;
                }
                ex.used = true;
                if ex.active && matched.is_none() {
                    matched = Some(Suppression {
                        kind: SuppressionKind::External,
                        justification: ex.e.justification.clone(),
                        source: "exception",
                        owner: Some(ex.e.owner.clone()),
                        expires: date_of(&ex.e.expires).map(|d| d.to_string()),
                        ticket: ex.e.ticket.clone(),
                    });
                }
            }
        }
        if let Some(s) = matched {
            f.suppression = Some(Box::new(s));
            continue;
        }
        if baseline.contains(f.fingerprint.as_str()) {
            f.suppression = Some(Box::new(Suppression {
                kind: SuppressionKind::External,
                justification: "accepted in the baseline file".to_string(),
                source: "baseline",
                owner: None,
                expires: None,
                ticket: None,
            }));
        }
    }
    for ex in &exceptions {
        if !ex.used {
            out.diagnostics.push(
                Diagnostic::warning(
                    ex.span,
                    format!(
                        "stale exception: no finding of {} on `{}` in this scan",
                        ex.e.rule, ex.e.resource
                    ),
                )
                .with_help("remove it if the deviation is gone"),
            );
        }
    }
    if let Some(b) = &opts.baseline {
        let seen_fingerprints: HashSet<&str> =
            findings.iter().map(|f| f.fingerprint.as_str()).collect();
        out.fixed = b
            .findings
            .iter()
            .filter(|e| !seen_fingerprints.contains(e.fingerprint.as_str()))
            .cloned()
            .collect();
    }
    out
}

/// Where the `i`-th `[[exceptions]]` table is written.
fn exception_span(text: &str, i: usize, file: FileId) -> Span {
    let mut offset = 0;
    let mut n = 0;
    for line in text.split_inclusive('\n') {
        if line.trim_start().starts_with("[[exceptions]]") {
            if n == i {
                let start = offset + (line.len() - line.trim_start().len());
                return Span::new(file, start, start + "[[exceptions]]".len());
            }
            n += 1;
        }
        offset += line.len();
    }
    Span::file_start(file)
}

/// An inline `basegate:ignore` directive.
struct Directive {
    /// 0-based line of the comment.
    line: usize,
    rules: Vec<String>,
    reason: String,
    span: Span,
    /// The comment is alone on its line (applies to the next line) or trails code (applies
    /// to its own line).
    own_line: bool,
}

pub const MARKER: &str = "basegate:ignore";

fn directives(file: &crate::source::SourceFile) -> Vec<Directive> {
    let mut out = Vec::new();
    let text = &file.text;
    let mut from = 0;
    while let Some(i) = text[from..].find(MARKER) {
        let at = from + i;
        from = at + MARKER.len();
        let line = file.lines().line_of(at as u32);
        let line_start = file.lines().line_start(line) as usize;
        let before = &text[line_start..at];
        let trimmed = before.trim_start();
        // Only in a comment: `//`, `#`, `/*` must come before the marker on its line.
        let comment_at = ["//", "#", "/*"]
            .iter()
            .filter_map(|c| before.find(c))
            .min();
        let Some(comment_at) = comment_at else {
            continue;
        };
        let own_line = before[..comment_at].trim().is_empty() || trimmed.starts_with("/*");
        let rest_end = text[from..]
            .find('\n')
            .map(|e| from + e)
            .unwrap_or(text.len());
        let rest = text[from..rest_end].trim().trim_end_matches("*/").trim();
        let mut parts = rest.splitn(2, char::is_whitespace);
        let ids = parts.next().unwrap_or("");
        let reason = parts.next().unwrap_or("").trim().to_string();
        out.push(Directive {
            line,
            rules: ids
                .split(',')
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect(),
            reason,
            span: Span::new(file.id, at, rest_end),
            own_line,
        });
    }
    out
}

/// Inline suppressions that apply to findings, by finding index. A directive applies to the
/// finding's line (trailing comment), the line below a comment on its own line, and every
/// finding of its resource when it stands above the resource's header.
fn collect_inline(
    sources: &SourceMap,
    findings: &[Finding],
    model: &Model,
    diags: &mut Vec<Diagnostic>,
) -> BTreeMap<usize, Suppression> {
    let mut out = BTreeMap::new();
    let mut files: Vec<FileId> = findings.iter().map(|f| f.span.file).collect();
    for r in &model.resources {
        files.push(r.file);
    }
    files.sort();
    files.dedup();
    // Most files have no directive: which do is searched in parallel, with a searcher built
    // once (one thread looking through every text was two fifths of the samples of triage on
    // the Bicep set).
    let finder = memchr::memmem::Finder::new(MARKER);
    let marked: Vec<FileId> = {
        use rayon::prelude::*;
        files
            .into_par_iter()
            .filter(|&fid| finder.find(sources.get(fid).text.as_bytes()).is_some())
            .collect()
    };
    for fid in marked {
        let file = sources.get(fid);
        let dirs = directives(&file);
        let mut used = vec![false; dirs.len()];
        for (di, d) in dirs.iter().enumerate() {
            if d.rules.is_empty() {
                diags.push(Diagnostic::warning(
                    d.span,
                    "`basegate:ignore` needs a rule id and a reason",
                ));
                used[di] = true;
            } else if d.reason.is_empty() {
                diags.push(
                    Diagnostic::warning(
                        d.span,
                        format!(
                            "`basegate:ignore {}` has no reason: it does not suppress anything",
                            d.rules.join(",")
                        ),
                    )
                    .with_help("say why the deviation is accepted: `basegate:ignore RULE reason…`"),
                );
                used[di] = true;
            }
        }
        for (i, f) in findings.iter().enumerate() {
            if f.span.file != fid {
                continue;
            }
            let res = model.get(f.resource);
            let line = file.lines().line_of(f.span.start);
            let header_line = (res.file == fid).then(|| file.lines().line_of(res.header.start));
            for (di, d) in dirs.iter().enumerate() {
                if d.reason.is_empty()
                    || !d.rules.iter().any(|r| r.eq_ignore_ascii_case(&f.rule_id))
                {
                    continue;
                }
                let target = if d.own_line { d.line + 1 } else { d.line };
                if target == line || Some(target) == header_line {
                    used[di] = true;
                    out.entry(i).or_insert_with(|| Suppression {
                        kind: SuppressionKind::InSource,
                        justification: d.reason.clone(),
                        source: "inline",
                        owner: None,
                        expires: None,
                        ticket: None,
                    });
                }
            }
        }
        for (di, d) in dirs.iter().enumerate() {
            if !used[di] {
                diags.push(Diagnostic::warning(
                    d.span,
                    format!(
                        "unused suppression: no {} finding on the line it applies to",
                        d.rules.join(",")
                    ),
                ));
            }
        }
    }
    // ARM JSON without comments: `"metadata": { "basegate:ignore": "BG1001 reason" }` (or a
    // list of such strings) on the resource.
    for (i, f) in findings.iter().enumerate() {
        if out.contains_key(&i) {
            continue;
        }
        let res = model.get(f.resource);
        let Some(entry) = res.body.get("metadata").and_then(|m| m.get(MARKER)) else {
            continue;
        };
        let items: Vec<&str> = match &entry.value {
            Value::String(s) => vec![s.as_str()],
            Value::Array(a) => a.iter().filter_map(|n| n.as_str()).collect(),
            _ => Vec::new(),
        };
        for item in items {
            let mut parts = item.trim().splitn(2, char::is_whitespace);
            let ids = parts.next().unwrap_or("");
            let reason = parts.next().unwrap_or("").trim();
            if !ids
                .split(',')
                .any(|r| r.trim().eq_ignore_ascii_case(&f.rule_id))
            {
                continue;
            }
            if reason.is_empty() {
                diags.push(Diagnostic::warning(
                    entry.span,
                    format!(
                        "metadata suppression of {} has no reason: it does not suppress anything",
                        f.rule_id
                    ),
                ));
                continue;
            }
            out.insert(
                i,
                Suppression {
                    kind: SuppressionKind::InSource,
                    justification: reason.to_string(),
                    source: "metadata",
                    owner: None,
                    expires: None,
                    ticket: None,
                },
            );
            break;
        }
    }
    out
}
