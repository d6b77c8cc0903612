//! Invariants shared by the targets: every span a frontend hands out lies inside the text of
//! the file it names and on UTF-8 character boundaries (reports slice the text with them).

#![allow(dead_code)]

use basegate::model::{Diagnostic, Node, Resource, Value};
use basegate::source::{SourceMap, Span};

/// Upper bound on what one small input may turn into: an input of a few KiB expanding to
/// more than this many resources means a loop bound escaped its cap.
pub const MAX_RESOURCES: usize = 100_000;

pub fn check_span_in(text: &str, span: Span, what: &str) {
    let (s, e) = (span.start as usize, span.end as usize);
    assert!(s <= e, "{what}: span {s}..{e} is reversed");
    assert!(
        e <= text.len(),
        "{what}: span {s}..{e} past the end of the text ({} bytes)",
        text.len()
    );
    assert!(
        text.is_char_boundary(s) && text.is_char_boundary(e),
        "{what}: span {s}..{e} not on char boundaries"
    );
}

pub fn check_span(sources: &SourceMap, span: Span, what: &str) {
    // A span in a file the map does not hold would panic in `get` when reported.
    assert!(
        (span.file.0 as usize) < sources.len(),
        "{what}: span in unknown file {:?}",
        span.file
    );
    let f = sources.get(span.file);
    check_span_in(&f.text, span, what);
}

/// Every node of a value tree, iteratively (the tree may be deep).
pub fn check_node(sources: &SourceMap, node: &Node, what: &str) {
    let mut stack = vec![node];
    let mut seen = 0usize;
    while let Some(n) = stack.pop() {
        seen += 1;
        if seen > 50_000_000 {
            panic!("{what}: value tree larger than 50M nodes");
        }
        check_span(sources, n.span, what);
        match &n.value {
            Value::Array(items) => stack.extend(items.iter()),
            Value::Object(fields) => stack.extend(fields.iter().map(|(_, v)| v)),
            _ => {}
        }
    }
}

pub fn check_resources(sources: &SourceMap, resources: &[Resource]) {
    assert!(
        resources.len() <= MAX_RESOURCES,
        "{} resources from one small input",
        resources.len()
    );
    for r in resources {
        check_span(sources, r.header, "resource header");
        check_node(sources, &r.body, "resource body");
        for s in &r.call_chain {
            check_span(sources, *s, "call chain");
        }
    }
}

pub fn check_diagnostics(sources: &SourceMap, diags: &[Diagnostic]) {
    for d in diags {
        check_span(sources, d.span, "diagnostic");
    }
}
