//! Bicep: `bicep::parse`, then the evaluator (`bicep::evaluate`) on the same text held in a
//! `SourceMap` as `/fuzz/main.bicep` (or `.bicepparam` when it starts with `using`).
//!
//! `/fuzz` does not exist, so a local module path resolves to a missing file (a diagnostic).
//! Paths may still climb out (`'../dev/zero'`): the loader reads only regular files of a
//! bounded size, so that is harmless (see `Loader::load` in src/bicep/modules.rs).
#![no_main]

#[path = "common.rs"]
mod common;

use basegate::source::SourceMap;
use libfuzzer_sys::fuzz_target;
use std::path::{Path, PathBuf};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let parsed = basegate::bicep::parse(text);
    for e in &parsed.errors {
        let (s, t) = (e.range.start as usize, e.range.end as usize);
        assert!(
            s <= t && t <= text.len(),
            "error range {s}..{t} out of the text"
        );
    }
    for c in &parsed.comments {
        let (s, t) = (c.start as usize, c.end as usize);
        assert!(
            s <= t && t <= text.len(),
            "comment range {s}..{t} out of the text"
        );
        assert!(text.is_char_boundary(s) && text.is_char_boundary(t));
    }
    drop(parsed);

    let name = if text.trim_start().starts_with("using") {
        "main.bicepparam"
    } else {
        "main.bicep"
    };
    let sources = SourceMap::default();
    let id = sources.add(
        PathBuf::from("/fuzz").join(name),
        name.into(),
        text.to_owned(),
    );
    let out = basegate::bicep::evaluate(&sources, &[id], Path::new("/fuzz"));
    common::check_resources(&sources, &out.resources);
    common::check_diagnostics(&sources, &out.diagnostics);
});
