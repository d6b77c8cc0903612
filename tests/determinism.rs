//! Same input, same bytes, whatever the thread count: SARIF and JSON of a scan with one
//! thread and with several are identical. Run on a slice of the shared corpus in all three
//! languages, where parallel parsing and evaluation really interleave.

use std::process::Command;

fn scan(
    threads: &str,
    format: &str,
    paths: &[std::path::PathBuf],
    root: &std::path::Path,
) -> Vec<u8> {
    let out = Command::new(env!("CARGO_BIN_EXE_basegate"))
        .arg("scan")
        .args(paths)
        .args(["--format", format, "--threads", threads, "--root"])
        .arg(root)
        .output()
        .unwrap();
    assert!(
        out.status.code().is_some_and(|c| c <= 1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

#[test]
fn output_does_not_depend_on_thread_count() {
    let corpus = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus");
    let paths: Vec<_> = [
        "quickstart-templates/quickstarts/microsoft.storage",
        "quickstart-templates/quickstarts/microsoft.web",
        "resource-modules/modules/key-vault",
        "tf-avm-storageaccount",
    ]
    .iter()
    .map(|p| corpus.join(p))
    .filter(|p| p.exists())
    .collect();
    assert!(!paths.is_empty(), "the shared corpus is missing");
    for format in ["sarif", "json"] {
        let one = scan("1", format, &paths, &corpus);
        let many = scan("4", format, &paths, &corpus);
        assert!(one.len() > 1000);
        assert!(one == many, "{format} differs between 1 and 4 threads");
        // And between two runs.
        assert!(
            many == scan("4", format, &paths, &corpus),
            "{format} differs between runs"
        );
    }
}
