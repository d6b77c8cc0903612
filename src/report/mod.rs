//! report / gate: render a scan in the chosen format, and decide the exit code.
//!
//! Only this module writes output, always through a `Write` handed in by `main.rs`.

pub mod baseline;
pub mod compare;
pub mod compliance;
pub mod github;
pub mod html;
pub mod inventory;
pub mod json;
pub mod junit;
pub mod markdown;
mod pretty;
pub mod sarif;
pub mod text;

use crate::rules::Severity;
use crate::ScanResult;
use std::io::Write;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Text,
    Json,
    Sarif,
    Markdown,
    Html,
    Github,
    Junit,
}

#[derive(Clone, Copy, Debug)]
pub struct RenderOptions {
    pub color: bool,
    pub quiet: bool,
    pub fail_on: Severity,
}

/// The gate's verdict.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Gate {
    Pass,
    /// An unsuppressed finding at or above the threshold, or a file that was not scanned.
    Fail,
}

pub fn gate(result: &ScanResult, fail_on: Severity) -> Gate {
    let finding = result.active().any(|f| f.severity >= fail_on);
    let unscanned = result.errors().next().is_some();
    if finding || unscanned {
        Gate::Fail
    } else {
        Gate::Pass
    }
}

pub fn render(
    result: &ScanResult,
    format: Format,
    opts: &RenderOptions,
    out: &mut dyn Write,
) -> std::io::Result<()> {
    match format {
        Format::Text => text::render(result, opts, out),
        Format::Json => json::render(result, opts, out),
        Format::Sarif => sarif::render(result, out),
        Format::Markdown => markdown::render(result, opts, out),
        Format::Html => html::render(result, opts, out),
        Format::Github => github::render(result, opts, out),
        Format::Junit => junit::render(result, out),
    }
}

/// Line, column (1-based, in chars) and end of a span, as every format reports them.
pub(crate) struct Region {
    pub line: u32,
    pub col: u32,
    pub end_line: u32,
    pub end_col: u32,
}

pub(crate) fn region(result: &ScanResult, span: crate::source::Span) -> Region {
    let f = result.sources.get(span.file);
    let s = f.line_col(span.start);
    let mut e = f.line_col(span.end);
    if e.line == s.line && e.col <= s.col {
        e.col = s.col + 1;
    }
    Region {
        line: s.line,
        col: s.col,
        end_line: e.line,
        end_col: e.col,
    }
}
