//! JSON output: findings, diagnostics and a summary, for scripts. The shape is documented in
//! README.md and versioned by `format_version`; fields are only ever added.

use super::pretty::Pretty;
use super::{gate, region, Gate, RenderOptions};
use crate::model::DiagSeverity;
use crate::ScanResult;
use serde::Serialize;
use std::io::Write;

// The document: `format_version`, `tool`, `summary`, `findings`, `diagnostics`, `fixed`
// (baseline entries no longer found) and `compliance` (the posture per control of the
// enforced baseline), in that order; `render` writes them one by one.

#[derive(Serialize)]
struct Tool {
    name: &'static str,
    version: &'static str,
}

#[derive(Serialize)]
struct Summary<'a> {
    files: usize,
    resources: usize,
    findings: usize,
    suppressed: usize,
    fixed_since_baseline: usize,
    by_severity: std::collections::BTreeMap<&'static str, usize>,
    errors: usize,
    warnings: usize,
    fail_on: &'static str,
    gate: &'static str,
    languages: &'a crate::Stats,
}

#[derive(Serialize)]
struct Finding<'a> {
    rule_id: &'a str,
    rule_name: &'a str,
    severity: &'static str,
    title: &'a str,
    message: &'a str,
    file: String,
    line: u32,
    column: u32,
    end_line: u32,
    end_column: u32,
    resource: Resource<'a>,
    path: &'a str,
    controls: &'a crate::rules::Controls,
    fingerprint: &'a str,
    /// Present when the finding is accepted (inline, exception, baseline): it does not fail
    /// the gate.
    suppression: Option<&'a crate::triage::Suppression>,
}

#[derive(Serialize)]
struct Resource<'a> {
    address: &'a str,
    #[serde(rename = "type")]
    type_name: &'a str,
    name: Option<&'a str>,
    language: &'static str,
    api_version: Option<&'a str>,
}

#[derive(Serialize)]
struct Diag<'a> {
    severity: &'static str,
    file: String,
    line: u32,
    column: u32,
    message: &'a str,
    help: Option<&'a str>,
}

pub fn render(
    result: &ScanResult,
    opts: &RenderOptions,
    out: &mut dyn Write,
) -> std::io::Result<()> {
    let mut by_severity = std::collections::BTreeMap::new();
    for f in result.active() {
        *by_severity.entry(f.severity.as_str()).or_insert(0) += 1;
    }
    let active = result.active().count();
    let errors = result.errors().count();
    let s = &result.stats;
    let summary = Summary {
        files: s.arm.files + s.bicep.files + s.terraform.files,
        resources: result.model.resources.len(),
        findings: active,
        suppressed: result.findings.len() - active,
        fixed_since_baseline: result.fixed.len(),
        by_severity,
        errors,
        warnings: result.diagnostics.len() - errors,
        fail_on: opts.fail_on.as_str(),
        gate: match gate(result, opts.fail_on) {
            Gate::Pass => "pass",
            Gate::Fail => "fail",
        },
        languages: &result.stats,
    };
    let finding = |i: usize| {
        let f = &result.findings[i];
        let rule = &result.rules[f.rule];
        let res = result.model.get(f.resource);
        let r = region(result, f.span);
        Finding {
            rule_id: &f.rule_id,
            rule_name: &rule.name,
            severity: f.severity.as_str(),
            title: &rule.title,
            message: &f.message,
            file: result.rel_path(f.span.file),
            line: r.line,
            column: r.col,
            end_line: r.end_line,
            end_column: r.end_col,
            resource: Resource {
                address: &res.address,
                type_name: &res.type_name,
                name: res.name.as_deref(),
                language: res.language.name(),
                api_version: res.api_version.as_deref(),
            },
            path: &f.path,
            controls: &rule.controls,
            fingerprint: &f.fingerprint,
            suppression: f.suppression.as_deref(),
        }
    };
    let diagnostic = |i: usize| {
        let d = &result.diagnostics[i];
        let r = region(result, d.span);
        Diag {
            severity: match d.severity {
                DiagSeverity::Error => "error",
                DiagSeverity::Warning => "warning",
            },
            file: result.rel_path(d.span.file),
            line: r.line,
            column: r.col,
            message: &d.message,
            help: d.help.as_deref(),
        }
    };
    let compliance = super::compliance::Plan::new(result, result.enforced);
    // Written as serde_json would write the whole document, with the long arrays rendered
    // in parallel (report/pretty.rs).
    let mut p = Pretty::new(out);
    p.object(None)?;
    p.value(Some("format_version"), "1")?;
    p.value(
        Some("tool"),
        &Tool {
            name: "basegate",
            version: env!("CARGO_PKG_VERSION"),
        },
    )?;
    p.value(Some("summary"), &summary)?;
    p.array_par(Some("findings"), result.findings.len(), 1024, finding)?;
    p.array_par(
        Some("diagnostics"),
        result.diagnostics.len(),
        1024,
        diagnostic,
    )?;
    p.value(Some("fixed"), &result.fixed)?;
    p.object(Some("compliance"))?;
    p.value(Some("enforced"), &result.enforced)?;
    // A control can list thousands of resources: a few at a time.
    p.array_par(Some("controls"), compliance.len(), 8, |i| {
        compliance.control(i)
    })?;
    p.close()?;
    p.close()
}
