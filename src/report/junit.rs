//! JUnit XML for CI systems that show test reports (GitLab, Azure Pipelines, Jenkins): one
//! test suite per rule, one test case per resource it was evaluated on — failed, passed, or
//! skipped (unknown, or accepted by a suppression) — plus a suite for files not scanned.

use super::region;
use crate::check::Outcome;
use crate::model::DiagSeverity;
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
            '\'' => o.push_str("&apos;"),
            // XML 1.0 forbids most control characters, even escaped.
            c if (c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r') => o.push(' '),
            c => o.push(c),
        }
    }
    o
}

pub fn render(result: &ScanResult, sink: &mut dyn Write) -> std::io::Result<()> {
    // Suites are written to a buffer first: the root element carries their totals.
    let mut buf: Vec<u8> = Vec::new();
    let out: &mut dyn Write = &mut buf;
    let mut total_tests = 0;
    let mut total_failures = 0;
    for (ri, rule) in result.rules.iter().enumerate() {
        let evals: Vec<_> = result.evaluations.iter().filter(|e| e.rule == ri).collect();
        if evals.is_empty() {
            continue;
        }
        let findings: Vec<_> = result.findings.iter().filter(|f| f.rule == ri).collect();
        let failures = evals
            .iter()
            .filter(|e| {
                findings
                    .iter()
                    .any(|f| f.resource == e.resource && f.suppression.is_none())
            })
            .count();
        let skipped =
            evals.len() - failures - evals.iter().filter(|e| e.outcome == Outcome::Pass).count();
        total_tests += evals.len();
        total_failures += failures;
        writeln!(
            out,
            "  <testsuite name=\"{} {}\" tests=\"{}\" failures=\"{failures}\" skipped=\"{skipped}\">",
            esc(&rule.id),
            esc(&rule.title),
            evals.len()
        )?;
        for e in evals {
            let res = result.model.get(e.resource);
            let file = result.rel_path(res.file);
            write!(
                out,
                "    <testcase classname=\"{}\" name=\"{}\" file=\"{}\"",
                esc(&rule.id),
                esc(&res.address),
                esc(&file)
            )?;
            let mine: Vec<_> = findings
                .iter()
                .filter(|f| f.resource == e.resource)
                .collect();
            let active: Vec<_> = mine.iter().filter(|f| f.suppression.is_none()).collect();
            if !active.is_empty() {
                writeln!(out, ">")?;
                for f in active {
                    let r = region(result, f.span);
                    writeln!(
                        out,
                        "      <failure type=\"{}\" message=\"{}\">{}:{}:{}: {}</failure>",
                        f.severity.as_str(),
                        esc(&f.message),
                        esc(&result.rel_path(f.span.file)),
                        r.line,
                        r.col,
                        esc(&f.message)
                    )?;
                }
                writeln!(out, "    </testcase>")?;
            } else if let Some(s) = mine.iter().find_map(|f| f.suppression.as_deref()) {
                writeln!(
                    out,
                    "><skipped message=\"accepted: {}\"/></testcase>",
                    esc(&s.justification)
                )?;
            } else if e.outcome == Outcome::Unknown {
                writeln!(
                    out,
                    "><skipped message=\"unknown: {}\"/></testcase>",
                    esc(e
                        .note
                        .as_deref()
                        .unwrap_or("not decidable before deployment"))
                )?;
            } else {
                writeln!(out, "/>")?;
            }
        }
        writeln!(out, "  </testsuite>")?;
    }
    let errors: Vec<_> = result
        .diagnostics
        .iter()
        .filter(|d| d.severity == DiagSeverity::Error)
        .collect();
    if !errors.is_empty() {
        total_tests += errors.len();
        total_failures += errors.len();
        writeln!(
            out,
            "  <testsuite name=\"input files\" tests=\"{0}\" failures=\"{0}\">",
            errors.len()
        )?;
        for d in errors {
            let r = region(result, d.span);
            let file = result.rel_path(d.span.file);
            writeln!(
                out,
                "    <testcase classname=\"input\" name=\"{}\" file=\"{}\"><failure type=\"error\" message=\"{}\">{}:{}:{}: {}</failure></testcase>",
                esc(&file),
                esc(&file),
                esc(&d.message),
                esc(&file),
                r.line,
                r.col,
                esc(&d.message)
            )?;
        }
        writeln!(out, "  </testsuite>")?;
    }
    writeln!(sink, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>")?;
    writeln!(
        sink,
        "<testsuites name=\"basegate\" tests=\"{total_tests}\" failures=\"{total_failures}\">"
    )?;
    sink.write_all(&buf)?;
    writeln!(sink, "</testsuites>")
}
