//! The whole pipeline: `basegate::scan` with the built-in rules on a temporary folder
//! holding one fuzzed file, then every report format rendered to memory.
//! The first byte picks the file kind; the rest is the file's bytes.
#![no_main]

use basegate::report::{Format, RenderOptions};
use basegate::rules::Severity;
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

const NAMES: [&str; 6] = [
    "azuredeploy.json",
    "main.bicep",
    "main.tf",
    "main.bicepparam",
    "terraform.tfvars",
    "main.tf.json",
];

struct Fixture {
    dir: tempfile::TempDir,
    rules: Vec<basegate::rules::Rule>,
}

static FIX: OnceLock<Fixture> = OnceLock::new();

fuzz_target!(|data: &[u8]| {
    let Some((&kind, body)) = data.split_first() else {
        return;
    };
    let fix = FIX.get_or_init(|| Fixture {
        dir: tempfile::tempdir().expect("temp dir"),
        rules: basegate::rules::builtin(),
    });
    let dir = fix.dir.path();
    for n in NAMES {
        let _ = std::fs::remove_file(dir.join(n));
    }
    let name = NAMES[kind as usize % NAMES.len()];
    std::fs::write(dir.join(name), body).expect("write the input");
    let result = basegate::scan(&basegate::ScanOptions {
        paths: vec![dir.to_path_buf()],
        root: Some(dir.to_path_buf()),
        rules: fix.rules.clone(),
        ..Default::default()
    });
    let opts = RenderOptions {
        color: false,
        quiet: false,
        fail_on: Severity::Low,
    };
    for format in [
        Format::Text,
        Format::Json,
        Format::Sarif,
        Format::Markdown,
        Format::Html,
        Format::Github,
        Format::Junit,
    ] {
        let mut out = Vec::new();
        basegate::report::render(&result, format, &opts, &mut out).expect("render to memory");
    }
    let _ = basegate::report::gate(&result, Severity::Low);
});
