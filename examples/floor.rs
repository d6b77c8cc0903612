//! The benchmark floor: what it costs just to find, read and parse the same files, with no
//! evaluation, no rules and no report. `bench/run.sh` compares basegate against it.
//!
//! JSON is parsed with serde_json (falling back to basegate's own JSONC parser for files
//! with comments, which serde_json rejects), HCL with hcl-edit, Bicep with basegate's own
//! parser (syntax only). Run: `cargo run --release --example floor -- PATH…`.

use rayon::prelude::*;
use std::path::PathBuf;
use std::sync::Mutex;

fn main() {
    let paths: Vec<PathBuf> = std::env::args().skip(1).map(PathBuf::from).collect();
    let files = Mutex::new(Vec::new());
    let mut builder = ignore::WalkBuilder::new(&paths[0]);
    for p in &paths[1..] {
        builder.add(p);
    }
    builder.hidden(false).build_parallel().run(|| {
        let files = &files;
        Box::new(move |e| {
            if let Ok(e) = e {
                let p = e.path();
                let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
                if name.ends_with(".json")
                    || name.ends_with(".tf")
                    || name.ends_with(".bicep")
                    || name.ends_with(".bicepparam")
                {
                    files.lock().unwrap().push(p.to_path_buf());
                }
            }
            ignore::WalkState::Continue
        })
    });
    let files = files.into_inner().unwrap();
    let bytes: usize = files
        .par_iter()
        .map(|p| {
            let Ok(data) = std::fs::read(p) else { return 0 };
            let name = p.to_string_lossy();
            if name.ends_with(".json") {
                if serde_json::from_slice::<serde_json::Value>(&data).is_err() {
                    if let Ok(text) = std::str::from_utf8(&data) {
                        let _ = basegate::json::parse(text, basegate::source::FileId(0));
                    }
                }
            } else if let Ok(text) = std::str::from_utf8(&data) {
                if name.ends_with(".tf") {
                    std::hint::black_box(hcl_edit::parser::parse_body(text).is_ok());
                } else {
                    // No other Bicep parser exists in Rust; ours (syntax only) is the floor.
                    std::hint::black_box(basegate::bicep::parse(text).errors.len());
                }
            }
            data.len()
        })
        .sum();
    println!("{} files, {} bytes", files.len(), bytes);
}
