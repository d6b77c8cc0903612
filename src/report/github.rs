//! GitHub workflow commands (`::error file=…,line=…::message`): findings show as annotations
//! on the pull request even without code scanning.

use super::{region, RenderOptions};
use crate::model::DiagSeverity;
use crate::rules::Severity;
use crate::ScanResult;
use std::io::Write;

/// Escapes a command's message (GitHub's rules: `%`, CR, LF).
fn data(s: &str) -> String {
    s.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// Escapes a command property (also `:` and `,`).
fn prop(s: &str) -> String {
    data(s).replace(':', "%3A").replace(',', "%2C")
}

pub fn render(
    result: &ScanResult,
    opts: &RenderOptions,
    out: &mut dyn Write,
) -> std::io::Result<()> {
    for f in result.active() {
        let r = region(result, f.span);
        let level = match f.severity {
            Severity::Critical | Severity::High => "error",
            Severity::Medium => "warning",
            Severity::Low | Severity::Info => "notice",
        };
        let rule = &result.rules[f.rule];
        writeln!(
            out,
            "::{level} file={},line={},endLine={},col={},endColumn={},title={}::{}",
            prop(&result.rel_path(f.span.file)),
            r.line,
            r.end_line,
            r.col,
            r.end_col,
            prop(&format!(
                "{} {} ({})",
                f.rule_id,
                rule.title,
                f.severity.as_str()
            )),
            data(&format!(
                "{}\nResource: {}\nSee: basegate explain {}",
                f.message,
                result.model.get(f.resource).address,
                f.rule_id
            ))
        )?;
    }
    for d in &result.diagnostics {
        if d.severity == DiagSeverity::Warning && opts.quiet {
            continue;
        }
        let r = region(result, d.span);
        let level = match d.severity {
            DiagSeverity::Error => "error",
            DiagSeverity::Warning => "warning",
        };
        writeln!(
            out,
            "::{level} file={},line={},col={},title={}::{}",
            prop(&result.rel_path(d.span.file)),
            r.line,
            r.col,
            prop("basegate: input"),
            data(&d.message)
        )?;
    }
    Ok(())
}
