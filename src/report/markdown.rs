//! Markdown: a pull-request comment or `$GITHUB_STEP_SUMMARY` body — the gate, the
//! findings as a table, and the posture per control.

use super::compliance::{self, Status};
use super::{gate, region, Gate, RenderOptions};
use crate::ScanResult;
use std::io::Write;

/// Table cells: no pipes or line breaks.
fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

pub fn render(
    result: &ScanResult,
    opts: &RenderOptions,
    out: &mut dyn Write,
) -> std::io::Result<()> {
    let plan = compliance::Plan::new(result, result.enforced);
    let posture = plan.posture();
    let active: Vec<_> = result.active().collect();
    let verdict = match gate(result, opts.fail_on) {
        Gate::Pass => "✅ **Gate passed**",
        Gate::Fail => "❌ **Gate failed**",
    };
    writeln!(out, "## basegate: security baseline\n")?;
    writeln!(
        out,
        "{verdict} (fails on `{}` and above) · {} resources in {} files · {} findings · {} suppressed · {} input errors\n",
        opts.fail_on.as_str(),
        result.model.resources.len(),
        result.stats.arm.files + result.stats.bicep.files + result.stats.terraform.files,
        active.len(),
        result.findings.len() - active.len(),
        result.errors().count()
    )?;
    if !active.is_empty() {
        writeln!(out, "### Findings\n")?;
        writeln!(out, "| Severity | Rule | Location | Resource | Message |")?;
        writeln!(out, "|---|---|---|---|---|")?;
        for f in active.iter().take(200) {
            let r = region(result, f.span);
            writeln!(
                out,
                "| {} | `{}` | `{}:{}` | `{}` | {} |",
                f.severity.as_str(),
                f.rule_id,
                cell(&result.rel_path(f.span.file)),
                r.line,
                cell(&result.model.get(f.resource).address),
                cell(&f.message)
            )?;
        }
        if active.len() > 200 {
            writeln!(
                out,
                "\n…and {} more (see the SARIF or JSON report).",
                active.len() - 200
            )?;
        }
        writeln!(out)?;
    }
    let errors: Vec<_> = result.errors().collect();
    if !errors.is_empty() {
        writeln!(out, "### Files not scanned\n")?;
        for d in errors.iter().take(50) {
            let r = region(result, d.span);
            writeln!(
                out,
                "- `{}:{}`: {}",
                cell(&result.rel_path(d.span.file)),
                r.line,
                cell(&d.message)
            )?;
        }
        writeln!(out)?;
    }
    for framework in ["CIS", "MCSB"] {
        let counts = posture.counts(framework);
        if counts.is_empty() {
            continue;
        }
        let title = if framework == "CIS" {
            format!(
                "CIS Microsoft Azure Foundations v3.0.0 (level {})",
                if posture.enforced.cis_level >= 2 {
                    "1 + 2"
                } else {
                    "1"
                }
            )
        } else {
            "Microsoft cloud security benchmark".to_string()
        };
        writeln!(out, "### {title}\n")?;
        writeln!(
            out,
            "{}\n",
            counts
                .iter()
                .map(|(s, n)| format!("**{n}** {}", s.label()))
                .collect::<Vec<_>>()
                .join(" · ")
        )?;
        writeln!(
            out,
            "| Section | Failed | Unknown | Passed | N/A | Not covered | Manual |"
        )?;
        writeln!(out, "|---|---|---|---|---|---|---|")?;
        for (section, controls) in posture.sections(framework) {
            let n = |s: Status| controls.iter().filter(|c| c.status == s).count();
            writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} | {} |",
                cell(&section),
                n(Status::Failed),
                n(Status::Unknown),
                n(Status::Passed) + n(Status::Accepted),
                n(Status::NotApplicable),
                n(Status::NotCovered),
                n(Status::Manual)
            )?;
        }
        let failed: Vec<_> = posture
            .controls
            .iter()
            .filter(|c| c.framework == framework && c.status == Status::Failed)
            .collect();
        if !failed.is_empty() {
            writeln!(
                out,
                "\n<details><summary>Failed controls ({})</summary>\n",
                failed.len()
            )?;
            for c in failed {
                let bad: Vec<_> = c
                    .resources
                    .iter()
                    .filter(|r| r.outcome == "failed")
                    .collect();
                writeln!(
                    out,
                    "- **{} {}** — {} ({} resource{}: {})",
                    framework,
                    c.id,
                    cell(&c.title),
                    bad.len(),
                    if bad.len() == 1 { "" } else { "s" },
                    bad.iter()
                        .take(5)
                        .map(|r| format!("`{}:{}`", r.file, r.line))
                        .collect::<Vec<_>>()
                        .join(", ")
                )?;
            }
            writeln!(out, "\n</details>")?;
        }
        writeln!(out)?;
    }
    Ok(())
}
