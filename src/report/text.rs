//! Text output: rustc-style diagnostics (`file:line:col`, the source line, a caret, a hint),
//! then a summary.

use super::{gate, region, Gate, RenderOptions};
use crate::model::DiagSeverity;
use crate::rules::Severity;
use crate::ScanResult;
use std::io::Write;

struct Style {
    on: bool,
}

impl Style {
    fn paint(&self, code: &str, s: &str) -> String {
        if self.on {
            format!("\x1b[{code}m{s}\x1b[0m")
        } else {
            s.to_string()
        }
    }
    fn sev(&self, sev: Severity) -> String {
        let code = match sev {
            Severity::Critical | Severity::High => "1;31",
            Severity::Medium => "1;33",
            Severity::Low | Severity::Info => "1;36",
        };
        self.paint(code, sev.as_str())
    }
    fn blue(&self, s: &str) -> String {
        self.paint("1;34", s)
    }
    fn bold(&self, s: &str) -> String {
        self.paint("1", s)
    }
}

pub fn render(
    result: &ScanResult,
    opts: &RenderOptions,
    out: &mut dyn Write,
) -> std::io::Result<()> {
    let st = Style { on: opts.color };
    if !opts.quiet {
        for d in &result.diagnostics {
            let (label, code) = match d.severity {
                DiagSeverity::Error => ("error", "1;31"),
                DiagSeverity::Warning => ("warning", "1;33"),
            };
            writeln!(out, "{}: {}", st.paint(code, label), st.bold(&d.message))?;
            snippet(result, d.span, "", &st, out)?;
            if let Some(h) = &d.help {
                writeln!(out, "   {} help: {h}", st.blue("="))?;
            }
            writeln!(out)?;
        }
    }
    for f in result.active() {
        let rule = &result.rules[f.rule];
        writeln!(
            out,
            "{}{}: {}",
            st.sev(f.severity),
            st.bold(&format!("[{}]", f.rule_id)),
            st.bold(&f.message)
        )?;
        let label = match (&f.found, f.path.is_empty()) {
            (_, true) => String::new(),
            (Some(v), false) => format!("`{}` is {v} here", f.path),
            (None, false) => format!("`{}` is not set", f.path),
        };
        snippet(result, f.span, &label, &st, out)?;
        let res = result.model.get(f.resource);
        writeln!(out, "   {} resource: {}", st.blue("="), res.address)?;
        for call in &res.call_chain {
            let r = region(result, *call);
            writeln!(
                out,
                "   {} instantiated at {}:{}:{}",
                st.blue("="),
                result.rel_path(call.file),
                r.line,
                r.col
            )?;
        }
        let controls = crate::rules::doc::control_list(rule);
        if !controls.is_empty() {
            writeln!(out, "   {} controls: {controls}", st.blue("="))?;
        }
        if !rule.remediation.text.is_empty() {
            let first = rule.remediation.text.lines().next().unwrap_or("");
            writeln!(out, "   {} help: {first}", st.blue("="))?;
        }
        writeln!(
            out,
            "   {} see: basegate explain {}",
            st.blue("="),
            f.rule_id
        )?;
        writeln!(out)?;
    }
    summary(result, opts, &st, out)
}

fn snippet(
    result: &ScanResult,
    span: crate::source::Span,
    label: &str,
    st: &Style,
    out: &mut dyn Write,
) -> std::io::Result<()> {
    let file = result.sources.get(span.file);
    let r = region(result, span);
    let width = r.line.to_string().len();
    let pad = " ".repeat(width);
    writeln!(
        out,
        "{pad}{} {}:{}:{}",
        st.blue("-->"),
        file.rel_path,
        r.line,
        r.col
    )?;
    let Some(text) = file.full_text() else {
        return Ok(());
    };
    if text.is_empty() {
        return Ok(());
    }
    let line_text = file.lines().line_text(&text, r.line as usize - 1);
    // Tabs would misalign the caret: show them as one space each.
    let shown: String = line_text
        .chars()
        .map(|c| if c == '\t' { ' ' } else { c })
        .collect();
    let shown = if shown.chars().count() > 200 {
        shown.chars().take(200).collect::<String>() + "…"
    } else {
        shown
    };
    writeln!(out, "{pad} {}", st.blue("|"))?;
    writeln!(
        out,
        "{} {} {}",
        st.blue(&r.line.to_string()),
        st.blue("|"),
        shown
    )?;
    let caret_len = if r.end_line == r.line {
        (r.end_col - r.col).max(1) as usize
    } else {
        line_text
            .chars()
            .count()
            .saturating_sub(r.col as usize - 1)
            .max(1)
    };
    let caret_len = caret_len.min(120);
    writeln!(
        out,
        "{pad} {} {}{} {}",
        st.blue("|"),
        " ".repeat(r.col as usize - 1),
        st.paint("1;31", &"^".repeat(caret_len)),
        st.paint("1;31", label)
    )?;
    Ok(())
}

fn summary(
    result: &ScanResult,
    opts: &RenderOptions,
    st: &Style,
    out: &mut dyn Write,
) -> std::io::Result<()> {
    let s = &result.stats;
    let files = s.arm.files + s.bicep.files + s.terraform.files;
    let resources = result.model.resources.len();
    let mut by_sev = Vec::new();
    for sev in [
        Severity::Critical,
        Severity::High,
        Severity::Medium,
        Severity::Low,
        Severity::Info,
    ] {
        let n = result.active().filter(|f| f.severity == sev).count();
        if n > 0 {
            by_sev.push(format!("{n} {}", sev.as_str()));
        }
    }
    let active = result.active().count();
    let suppressed = result.findings.len() - active;
    let errors = result.errors().count();
    let warnings = result.diagnostics.len() - errors;
    write!(
        out,
        "Scanned {files} file{} (ARM {}, Bicep {}, Terraform {}), {resources} resource{}: ",
        plural(files),
        s.arm.files,
        s.bicep.files,
        s.terraform.files,
        plural(resources)
    )?;
    if active == 0 {
        write!(out, "no findings")?;
    } else {
        write!(
            out,
            "{active} finding{} ({})",
            plural(active),
            by_sev.join(", ")
        )?;
    }
    if suppressed > 0 {
        write!(out, ", {suppressed} suppressed")?;
    }
    if !result.fixed.is_empty() {
        write!(out, ", {} fixed since the baseline", result.fixed.len())?;
    }
    if result.outside_change > 0 {
        write!(
            out,
            ", {} outside the change not shown",
            result.outside_change
        )?;
    }
    if errors > 0 {
        write!(
            out,
            ", {errors} error{} (input not scanned)",
            plural(errors)
        )?;
    }
    if warnings > 0 {
        write!(out, ", {warnings} warning{}", plural(warnings))?;
    }
    writeln!(out, ".")?;
    match gate(result, opts.fail_on) {
        Gate::Pass => writeln!(
            out,
            "{} no finding at or above `{}`.",
            st.paint("1;32", "Gate passed:"),
            opts.fail_on.as_str()
        ),
        Gate::Fail => {
            let mut why = Vec::new();
            let n = result
                .findings
                .iter()
                .filter(|f| f.severity >= opts.fail_on)
                .count();
            if n > 0 {
                why.push(format!(
                    "{n} finding{} at or above `{}`",
                    plural(n),
                    opts.fail_on.as_str()
                ));
            }
            if errors > 0 {
                why.push(format!("{errors} input error{}", plural(errors)));
            }
            writeln!(
                out,
                "{} {}.",
                st.paint("1;31", "Gate failed:"),
                why.join(" and ")
            )
        }
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}
