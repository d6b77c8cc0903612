//! ARM JSON: `json::parse` on arbitrary bytes, then `arm::template::evaluate` on what parses.
#![no_main]

#[path = "common.rs"]
mod common;

use basegate::source::{FileId, SourceMap};
use libfuzzer_sys::fuzz_target;
use std::path::PathBuf;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data).into_owned();
    let sources = SourceMap::default();
    let file = sources.add(
        PathBuf::from("/fuzz/azuredeploy.json"),
        "azuredeploy.json".into(),
        text.clone(),
    );
    assert_eq!(file, FileId(0));
    let doc = match basegate::json::parse(&text, file) {
        Ok(doc) => doc,
        Err(e) => {
            assert!(e.offset <= text.len(), "error offset past the end");
            return;
        }
    };
    common::check_node(&sources, &doc.root, "json node");
    for &(s, e) in &doc.comments {
        assert!(
            s <= e && e as usize <= text.len(),
            "comment range out of the text"
        );
    }
    let out = basegate::arm::template::evaluate(file, &doc.root, &Default::default());
    common::check_resources(&sources, &out.resources);
    common::check_diagnostics(&sources, &out.diagnostics);
});
