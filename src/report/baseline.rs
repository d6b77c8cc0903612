//! The baseline file: today's findings, accepted. Human-readable, in a stable order, so a
//! change to it reads well in review.

use crate::triage::{BaselineEntry, BaselineFile, BASELINE_VERSION};
use crate::ScanResult;

pub fn build(result: &ScanResult) -> BaselineFile {
    let mut findings: Vec<BaselineEntry> = result
        .findings
        .iter()
        .filter(|f| {
            f.suppression
                .as_ref()
                .is_none_or(|s| s.source == "baseline")
        })
        .map(|f| BaselineEntry {
            file: result.rel_path(f.span.file),
            rule_id: f.rule_id.clone(),
            resource: result.model.get(f.resource).address.clone(),
            path: f.path.clone(),
            fingerprint: f.fingerprint.clone(),
            message: f.message.clone(),
        })
        .collect();
    findings.sort();
    findings.dedup_by(|a, b| a.fingerprint == b.fingerprint);
    BaselineFile {
        basegate_baseline: BASELINE_VERSION,
        findings,
    }
}
