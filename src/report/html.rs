//! HTML: a self-contained compliance report (one file, inline styles, no scripts, no
//! external assets) — every control of the enforced baseline with its status and the
//! resources behind it, then the findings.

use super::compliance::{self, Control, Status};
use super::{gate, region, Gate, RenderOptions};
use crate::ScanResult;
use std::io::Write;

fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '&' => o.push_str("&amp;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

const STYLE: &str = r#"
:root { --fail:#c62828; --unk:#8d6e00; --pass:#2e7d32; --na:#607d8b; --man:#5e35b1; --nc:#9e9e9e; --acc:#00838f; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 0; color: #1c1c1c; background: #f6f7f9; }
header { background: #14213d; color: #fff; padding: 20px 32px; }
header h1 { margin: 0 0 4px; font-size: 22px; }
header p { margin: 0; opacity: .85; }
main { padding: 16px 32px 48px; max-width: 1200px; }
.gate { display: inline-block; padding: 6px 14px; border-radius: 4px; font-weight: 600; margin: 12px 0; }
.gate.pass { background: #e8f5e9; color: var(--pass); } .gate.fail { background: #ffebee; color: var(--fail); }
.cards { display: flex; gap: 12px; flex-wrap: wrap; margin: 8px 0 16px; }
.card { background: #fff; border-radius: 6px; padding: 10px 16px; min-width: 120px; box-shadow: 0 1px 2px rgba(0,0,0,.08); }
.card b { display: block; font-size: 22px; }
h2 { margin-top: 32px; border-bottom: 2px solid #dde1e7; padding-bottom: 4px; }
h3 { margin: 20px 0 6px; font-size: 15px; }
.bar { display: flex; height: 14px; border-radius: 7px; overflow: hidden; margin: 6px 0 10px; background: #e0e0e0; }
.bar span { display: block; height: 100%; }
table { border-collapse: collapse; width: 100%; background: #fff; box-shadow: 0 1px 2px rgba(0,0,0,.06); }
th, td { text-align: left; padding: 6px 10px; border-bottom: 1px solid #eceff1; vertical-align: top; }
th { background: #eef1f5; font-weight: 600; }
code { font: 12px ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; }
.st { display: inline-block; padding: 1px 8px; border-radius: 10px; font-size: 12px; font-weight: 600; color: #fff; white-space: nowrap; }
.failed { background: var(--fail); } .unknown { background: var(--unk); } .passed { background: var(--pass); }
.not-applicable { background: var(--na); } .manual { background: var(--man); } .not-covered { background: var(--nc); } .accepted { background: var(--acc); }
.sev-critical, .sev-high { color: var(--fail); font-weight: 600; } .sev-medium { color: var(--unk); font-weight: 600; } .sev-low, .sev-info { color: var(--na); }
details summary { cursor: pointer; }
.legend span { margin-right: 14px; }
footer { color: #78909c; font-size: 12px; margin-top: 32px; }
"#;

fn class(s: Status) -> &'static str {
    match s {
        Status::Failed => "failed",
        Status::Unknown => "unknown",
        Status::Accepted => "accepted",
        Status::Passed => "passed",
        Status::NotApplicable => "not-applicable",
        Status::NotCovered => "not-covered",
        Status::Manual => "manual",
    }
}

fn color(s: Status) -> &'static str {
    match s {
        Status::Failed => "var(--fail)",
        Status::Unknown => "var(--unk)",
        Status::Accepted => "var(--acc)",
        Status::Passed => "var(--pass)",
        Status::NotApplicable => "var(--na)",
        Status::NotCovered => "var(--nc)",
        Status::Manual => "var(--man)",
    }
}

fn badge(s: Status) -> String {
    format!(
        "<span class=\"st {}\" title=\"{}\">{}</span>",
        class(s),
        esc(s.explain()),
        s.label()
    )
}

fn control_row(c: &Control, out: &mut dyn Write) -> std::io::Result<()> {
    let resources = if let Some(note) = c.note {
        format!("<small>{}</small>", esc(note))
    } else if c.resources.is_empty() {
        String::new()
    } else {
        let items: String = c
            .resources
            .iter()
            .map(|r| {
                format!(
                    "<li><span class=\"st {}\">{}</span> <code>{}</code> — <code>{}:{}</code></li>",
                    r.outcome.replace(' ', "-"),
                    esc(r.outcome),
                    esc(r.address),
                    esc(r.file),
                    r.line
                )
            })
            .collect();
        format!(
            "<details><summary>{} resource{}</summary><ul>{items}</ul></details>",
            c.resources.len(),
            if c.resources.len() == 1 { "" } else { "s" }
        )
    };
    writeln!(
        out,
        "<tr><td><code>{}</code></td><td>{}{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
        esc(&c.id),
        esc(&c.title),
        c.level
            .map(|l| format!(" <small>(L{l})</small>"))
            .unwrap_or_default(),
        badge(c.status),
        c.rules
            .iter()
            .map(|r| format!("<code>{}</code>", esc(r)))
            .collect::<Vec<_>>()
            .join(" "),
        resources
    )
}

pub fn render(
    result: &ScanResult,
    opts: &RenderOptions,
    out: &mut dyn Write,
) -> std::io::Result<()> {
    let plan = compliance::Plan::new(result, result.enforced);
    let posture = plan.posture();
    let active: Vec<_> = result.active().collect();
    let files = result.stats.arm.files + result.stats.bicep.files + result.stats.terraform.files;
    writeln!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
    )?;
    writeln!(
        out,
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
    )?;
    writeln!(
        out,
        "<title>basegate compliance report</title><style>{STYLE}</style></head><body>"
    )?;
    writeln!(
        out,
        "<header><h1>Security baseline compliance</h1><p>basegate {} · {} files · {} resources</p></header><main>",
        env!("CARGO_PKG_VERSION"),
        files,
        result.model.resources.len()
    )?;
    let (cls, text) = match gate(result, opts.fail_on) {
        Gate::Pass => ("pass", "Gate passed"),
        Gate::Fail => ("fail", "Gate failed"),
    };
    writeln!(
        out,
        "<div class=\"gate {cls}\">{text}</div> <small>fails on <b>{}</b> and above</small>",
        opts.fail_on.as_str()
    )?;
    writeln!(out, "<div class=\"cards\">")?;
    for (n, label) in [
        (active.len(), "findings"),
        (result.findings.len() - active.len(), "suppressed"),
        (result.errors().count(), "files not scanned"),
        (result.fixed.len(), "fixed since baseline"),
    ] {
        writeln!(out, "<div class=\"card\"><b>{n}</b>{label}</div>")?;
    }
    writeln!(out, "</div>")?;
    writeln!(out, "<p class=\"legend\">")?;
    for s in [
        Status::Failed,
        Status::Unknown,
        Status::Accepted,
        Status::Passed,
        Status::NotApplicable,
        Status::NotCovered,
        Status::Manual,
    ] {
        writeln!(out, "<span>{} {}</span>", badge(s), esc(s.explain()))?;
    }
    writeln!(out, "</p>")?;

    for framework in ["CIS", "MCSB"] {
        let counts = posture.counts(framework);
        let total: usize = counts.values().sum();
        if total == 0 {
            continue;
        }
        let title = if framework == "CIS" {
            format!(
                "CIS Microsoft Azure Foundations Benchmark v3.0.0 — level {}",
                if posture.enforced.cis_level >= 2 {
                    "1 and 2"
                } else {
                    "1"
                }
            )
        } else {
            "Microsoft cloud security benchmark".to_string()
        };
        writeln!(out, "<h2>{}</h2>", esc(&title))?;
        writeln!(
            out,
            "<div class=\"bar\" role=\"img\" aria-label=\"status distribution\">"
        )?;
        for (s, n) in &counts {
            writeln!(
                out,
                "<span style=\"width:{:.2}%;background:{}\" title=\"{} {}\"></span>",
                100.0 * *n as f64 / total as f64,
                color(*s),
                n,
                s.label()
            )?;
        }
        writeln!(out, "</div><p>")?;
        for (s, n) in &counts {
            write!(out, "{} <b>{n}</b> &nbsp; ", badge(*s))?;
        }
        writeln!(out, "</p>")?;
        for (section, controls) in posture.sections(framework) {
            writeln!(out, "<h3>{}</h3>", esc(&section))?;
            writeln!(out, "<table><thead><tr><th>Control</th><th>Title</th><th>Status</th><th>Rules</th><th>Resources</th></tr></thead><tbody>")?;
            for c in controls {
                control_row(c, out)?;
            }
            writeln!(out, "</tbody></table>")?;
        }
    }

    writeln!(out, "<h2>Findings</h2>")?;
    if active.is_empty() {
        writeln!(out, "<p>No findings.</p>")?;
    } else {
        writeln!(out, "<table><thead><tr><th>Severity</th><th>Rule</th><th>Location</th><th>Resource</th><th>Message</th></tr></thead><tbody>")?;
        for f in &active {
            let r = region(result, f.span);
            writeln!(
                out,
                "<tr><td class=\"sev-{}\">{}</td><td><code>{}</code></td><td><code>{}:{}:{}</code></td><td><code>{}</code></td><td>{}</td></tr>",
                f.severity.as_str(),
                f.severity.as_str(),
                esc(&f.rule_id),
                esc(&result.rel_path(f.span.file)),
                r.line,
                r.col,
                esc(&result.model.get(f.resource).address),
                esc(&f.message)
            )?;
        }
        writeln!(out, "</tbody></table>")?;
    }
    let errors: Vec<_> = result.errors().collect();
    if !errors.is_empty() {
        writeln!(out, "<h2>Files not scanned</h2><ul>")?;
        for d in errors {
            let r = region(result, d.span);
            writeln!(
                out,
                "<li><code>{}:{}</code> {}</li>",
                esc(&result.rel_path(d.span.file)),
                r.line,
                esc(&d.message)
            )?;
        }
        writeln!(out, "</ul>")?;
    }
    writeln!(out, "<footer>Generated by basegate {}. Statuses come from the rules mapped to each control; controls marked manual cannot be decided from infrastructure code.</footer>", env!("CARGO_PKG_VERSION"))?;
    writeln!(out, "</main></body></html>")
}
