//! check: every enabled rule against every resource of its type, in one pass.
//!
//! Checks are indexed by (dialect, type) once; each resource asks the index for its checks,
//! so the cost is proportional to resources × checks-that-apply, never rules × resources.
//! Connected-resource assertions ask the model's adjacency lists.

use crate::model::{Dialect, Model, ResourceId};
use crate::rules::assert::{Ctx, Failure};
use crate::rules::{Rule, Severity, Verdict};
use crate::source::Span;
use foldhash::{HashMap, HashMapExt};
use rayon::prelude::*;
use sha2::{Digest, Sha256};

#[derive(Clone, Debug, PartialEq)]
pub struct Finding {
    /// Index into the scan's rule list.
    pub rule: usize,
    pub rule_id: String,
    pub severity: Severity,
    pub resource: ResourceId,
    pub span: Span,
    /// The property path at fault (`properties.minimumTlsVersion`), empty for a missing
    /// connected resource.
    pub path: String,
    /// The offending value as written, or None when the property is not set.
    pub found: Option<String>,
    pub message: String,
    /// Stable across edits elsewhere in the file: a hash of rule, file, resource address and
    /// property path — never of line numbers.
    pub fingerprint: String,
    /// Set by triage when the finding is accepted (inline, exception, baseline). Boxed: few
    /// findings have one, and a finding is moved and sorted as a whole (272 bytes inline,
    /// 168 boxed).
    pub suppression: Option<Box<crate::triage::Suppression>>,
}

/// What a rule concluded for a resource, for the per-control compliance view.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Outcome {
    Pass,
    Fail,
    Unknown,
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Evaluation {
    pub rule: usize,
    pub resource: ResourceId,
    pub outcome: Outcome,
    /// For unknown outcomes: why.
    pub note: Option<String>,
}

#[derive(Debug, Default)]
pub struct CheckOutput {
    pub findings: Vec<Finding>,
    pub evaluations: Vec<Evaluation>,
}

pub fn run(
    model: &Model,
    rules: &[Rule],
    rel_path: &(dyn Fn(crate::source::FileId) -> String + Sync),
) -> CheckOutput {
    let mut index: HashMap<(Dialect, String), Vec<(usize, usize)>> = HashMap::new();
    for (ri, rule) in rules.iter().enumerate() {
        for (ci, check) in rule.checks.iter().enumerate() {
            for t in &check.types {
                index
                    .entry((check.dialect, t.to_ascii_lowercase()))
                    .or_default()
                    .push((ri, ci));
            }
        }
    }
    // Each thread folds its run of resources into one output, and the runs are joined once,
    // in resource order (rayon's collect keeps the order of the fold's runs), in parallel
    // (concat.rs): an output per resource, concatenated afterwards, was a serial tenth of the
    // stage; joining the runs pairwise (`reduce`) copied each finding once per level into a
    // fresh, larger vector, and those copies were a quarter of the stage's page faults
    // (`perf record -e page-faults`).
    let runs: Vec<CheckOutput> = model
        .resources
        .par_iter()
        .enumerate()
        .fold(CheckOutput::default, |mut out, (i, res)| {
            let id = ResourceId(i as u32);
            let key = (res.dialect, res.type_name.to_ascii_lowercase());
            let Some(checks) = index.get(&key) else {
                return out;
            };
            let ctx = Ctx {
                model,
                id,
                resource: res,
            };
            // Only a finding's fingerprint needs the path.
            let file = std::cell::OnceCell::new();
            for &(ri, ci) in checks {
                let rule = &rules[ri];
                let check = &rule.checks[ci];
                if let Some(when) = &check.when {
                    match when.eval(&res.body, &ctx) {
                        Verdict::Pass => {}
                        // Whether the check applies is not known before deployment: the
                        // resource is not judged, and says so (skipping it in silence made
                        // a control look not applicable, or an existence control look
                        // undeclared).
                        Verdict::Unknown(r) => {
                            out.evaluations.push(Evaluation {
                                rule: ri,
                                resource: id,
                                outcome: Outcome::Unknown,
                                note: Some(r),
                            });
                            continue;
                        }
                        _ => continue,
                    }
                }
                let (outcome, note) = match check.assert.eval(&res.body, &ctx) {
                    Verdict::Pass => (Outcome::Pass, None),
                    Verdict::NotApplicable => continue,
                    Verdict::Unknown(r) => (Outcome::Unknown, Some(r)),
                    Verdict::Fail(failures) => {
                        let failures = if failures.is_empty() {
                            vec![Failure {
                                span: res.header,
                                path: String::new(),
                                found: None,
                                expected: String::new(),
                            }]
                        } else {
                            failures
                        };
                        for f in dedup(failures) {
                            out.findings.push(Finding {
                                rule: ri,
                                rule_id: rule.id.clone(),
                                severity: rule.severity,
                                resource: id,
                                span: f.span,
                                fingerprint: fingerprint(
                                    &rule.id,
                                    file.get_or_init(|| rel_path(res.file)),
                                    &res.address,
                                    &f.path,
                                ),
                                message: message(rule, &f),
                                found: if rule.sensitive {
                                    f.found.map(|_| "(value hidden)".to_string())
                                } else {
                                    f.found
                                },
                                path: f.path,
                                suppression: None,
                            });
                        }
                        (Outcome::Fail, None)
                    }
                };
                out.evaluations.push(Evaluation {
                    rule: ri,
                    resource: id,
                    outcome,
                    note,
                });
            }
            out
        })
        .collect();
    let (findings, evaluations) = runs
        .into_iter()
        .map(|r| (r.findings, r.evaluations))
        .unzip();
    CheckOutput {
        findings: crate::concat::concat(findings),
        evaluations: crate::concat::concat(evaluations),
    }
}

/// One finding per place: a rule whose assertions fail at the same span (several missing
/// properties all reported on the resource header) says it once, on the first.
fn dedup(mut failures: Vec<Failure>) -> Vec<Failure> {
    let mut seen = foldhash::HashSet::default();
    failures.retain(|f| seen.insert(f.span));
    failures
}

fn message(rule: &crate::rules::Rule, f: &Failure) -> String {
    match (&f.found, f.path.is_empty()) {
        (_, true) if f.expected.is_empty() => rule.title.clone(),
        (_, true) => format!("{}: expected {}", rule.title, f.expected),
        (Some(_), false) if rule.sensitive => format!(
            "{}: `{}` holds a value that looks like a secret (not shown); expected {}",
            rule.title, f.path, f.expected
        ),
        (Some(found), false) => format!(
            "{}: `{}` is {}; expected {}",
            rule.title, f.path, found, f.expected
        ),
        (None, false) => format!(
            "{}: `{}` is not set, and the default does not meet the baseline; expected {}",
            rule.title, f.path, f.expected
        ),
    }
}

pub fn fingerprint(rule_id: &str, file: &str, address: &str, path: &str) -> String {
    let mut h = Sha256::new();
    for part in [rule_id, file, address, path] {
        h.update(part.as_bytes());
        h.update([0u8]);
    }
    // The digest formats itself as hex, the precision cutting it to 16 bytes (a `format!`
    // per byte was a sixth of the check stage: one fingerprint per finding).
    format!("{:.32x}", h.finalize())
}

#[cfg(test)]
mod tests {
    /// The first 16 bytes of SHA-256 over the NUL-terminated parts, in lower-case hex: a
    /// baseline file written by any earlier version must still match.
    #[test]
    fn fingerprint_is_stable() {
        assert_eq!(
            super::fingerprint(
                "BG1001",
                "main.tf",
                "azurerm_storage_account.a",
                "min_tls_version"
            ),
            "af564b86a366c4ef3e60d4a1f1bf3694"
        );
    }
}
