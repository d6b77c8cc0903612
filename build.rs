//! Lists `rules/*.toml` so the rule files are compiled into the binary: a bare
//! `basegate scan .` needs nothing beside it. Each is compiled in as JSON (see
//! Cargo.toml's build-dependencies for why).
use std::fmt::Write;

fn main() {
    // The manifest folder of *this* build, read at run time: a build script compiled for
    // one checkout may be rerun for another sharing the target folder (pre-commit does).
    let manifest = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let dir = std::path::Path::new(&manifest).join("rules");
    println!("cargo:rerun-if-changed={}", dir.display());
    let entries = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot read the rule folder {}: {e}", dir.display()));
    let mut names: Vec<String> = entries
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".toml"))
        .collect();
    names.sort();
    // A scanner built without its rules would pass everything: refuse to build one.
    assert!(!names.is_empty(), "no rule files in {}", dir.display());
    let out_dir = std::path::PathBuf::from(std::env::var("OUT_DIR").unwrap());
    let mut out = String::from("&[\n");
    for n in &names {
        let path = dir.join(n);
        println!("cargo:rerun-if-changed={}", path.display());
        // The same document as JSON, which loads several times faster than TOML. A rule
        // file that is not valid TOML fails the build here, with the parser's message.
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
        let doc: toml::Table =
            toml::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let json_path = out_dir.join(format!("{n}.json"));
        std::fs::write(&json_path, serde_json::to_string(&doc).unwrap()).unwrap();
        writeln!(
            out,
            "    ({n:?}, include_str!({:?})),",
            json_path.display().to_string()
        )
        .unwrap();
    }
    out.push(']');
    std::fs::write(out_dir.join("builtin_rules.rs"), out).unwrap();
}
