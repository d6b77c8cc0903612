//! Terraform: `terraform::evaluate` on one `.tf` file given through a `SourceMap`.
//!
//! The file sits (in the map only) in an empty temporary folder that is also the scan root.
//! Local module sources may point anywhere: the frontend then lists that folder and reads
//! its regular `*.tf`/`*.tf.json` files and lock file, which is read-only and harmless.
#![no_main]

#[path = "common.rs"]
mod common;

use basegate::source::SourceMap;
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

static ROOT: OnceLock<tempfile::TempDir> = OnceLock::new();

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let root = ROOT
        .get_or_init(|| tempfile::tempdir().expect("temp dir"))
        .path();
    let sources = SourceMap::default();
    let id = sources.add(root.join("main.tf"), "main.tf".into(), text.to_owned());
    let out = basegate::terraform::evaluate(&basegate::terraform::Input {
        sources: &sources,
        files: vec![id],
        root,
        var_files: Vec::new(),
        vars: Vec::new(),
        assume_azurerm: None,
    });
    common::check_resources(&sources, &out.resources);
    common::check_diagnostics(&sources, &out.diagnostics);
});
