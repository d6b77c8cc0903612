//! Hostile input: every case ends in a bounded, clear result — a diagnostic naming the file,
//! or a capped and reported expansion — and the rest of the scan goes on. Run through the
//! real binary, so a crash or a hang is a test failure (each run has a time limit).

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const ARM_SCHEMA: &str =
    "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#";

struct Run {
    code: i32,
    json: serde_json::Value,
    elapsed: Duration,
}

fn scan(dir: &Path, extra: &[&str]) -> Run {
    let start = Instant::now();
    let child = Command::new(env!("CARGO_BIN_EXE_basegate"))
        .args(["scan", ".", "--format", "json"])
        .args(extra)
        .current_dir(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    // A hang is a failure: wait (reading the pipes) on another thread, with a deadline.
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    let out = match rx.recv_timeout(Duration::from_secs(120)) {
        Ok(out) => out.unwrap(),
        Err(_) => {
            let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
            panic!("basegate did not finish within 120 s");
        }
    };
    let code = out.status.code().unwrap_or(-1);
    let json = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "no JSON report (exit {code}): {e}\nstderr: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    Run {
        code,
        json,
        elapsed: start.elapsed(),
    }
}

fn repo() -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    std::fs::create_dir(d.path().join(".git")).unwrap();
    // One good file, whose finding must survive whatever else is in the repository.
    std::fs::write(
        d.path().join("good.json"),
        format!(
            r#"{{"$schema": "{ARM_SCHEMA}", "resources": [{{"type": "Microsoft.Storage/storageAccounts", "apiVersion": "2023-05-01", "name": "ok", "properties": {{"supportsHttpsTrafficOnly": false}}}}]}}"#
        ),
    )
    .unwrap();
    d
}

fn diag_for<'a>(r: &'a Run, file: &str) -> Vec<&'a str> {
    r.json["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["file"] == file)
        .map(|d| d["message"].as_str().unwrap())
        .collect()
}

/// The JSON report of a wrapped run (`sh -c`, `unshare`) whose gate failed on findings:
/// exit 1, not 2.
fn failed_gate_report(out: &std::process::Output) -> serde_json::Value {
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn good_finding_survives(r: &Run) {
    assert!(
        r.json["findings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["file"] == "good.json" && f["rule_id"] == "BG1001"),
        "the good file's finding is missing"
    );
}

#[test]
fn deep_nesting_in_every_language() {
    let d = repo();
    let n = 10_000;
    std::fs::write(
        d.path().join("deep.json"),
        format!(
            "{{\"$schema\": \"{ARM_SCHEMA}\", \"x\": {}{}}}",
            "[".repeat(n),
            "]".repeat(n)
        ),
    )
    .unwrap();
    std::fs::write(
        d.path().join("deep.bicep"),
        format!("var x = {}1{}\n", "(".repeat(n), ")".repeat(n)),
    )
    .unwrap();
    std::fs::write(
        d.path().join("deep.tf"),
        format!("locals {{\n  x = {}1{}\n}}\n", "[".repeat(n), "]".repeat(n)),
    )
    .unwrap();
    let r = scan(d.path(), &[]);
    assert!(
        diag_for(&r, "deep.json")
            .iter()
            .any(|m| m.contains("nesting")),
        "{:?}",
        diag_for(&r, "deep.json")
    );
    assert!(!diag_for(&r, "deep.bicep").is_empty());
    assert!(!diag_for(&r, "deep.tf").is_empty());
    good_finding_survives(&r);
}

#[test]
fn size_limit_binary_and_invalid_utf8() {
    let d = repo();
    // Over a 1 MB limit (the default is 32 MB; the flag makes the test cheap).
    let big = format!(
        "{{\"$schema\": \"{ARM_SCHEMA}\", \"pad\": \"{}\"}}",
        "x".repeat(2 * 1024 * 1024)
    );
    std::fs::write(d.path().join("big.json"), big).unwrap();
    std::fs::write(
        d.path().join("binary.tf"),
        [0x7f, b'E', b'L', b'F', 0, 0, 1, 2],
    )
    .unwrap();
    std::fs::write(
        d.path().join("latin1.tf"),
        b"resource \"a\" \"b\" { name = \"caf\xe9\" }\n",
    )
    .unwrap();
    let r = scan(d.path(), &["--max-file-size", "1"]);
    assert!(diag_for(&r, "big.json")[0].contains("size limit"));
    assert!(diag_for(&r, "binary.tf")[0].contains("binary"));
    assert!(diag_for(&r, "latin1.tf")[0].contains("UTF-8"));
    assert_eq!(r.code, 1, "unscanned files fail the gate");
    good_finding_survives(&r);
}

/// Discovery reads a JSON file's first 64 KB to tell what it is. A character cut by that
/// limit panicked the scanner (any repository with such a JSON file); a template that is not
/// valid UTF-8 is read by the ARM stage and still reported.
#[test]
fn json_head_cut_inside_a_character() {
    let d = repo();
    let mut cut = b"{\"a\": \"".to_vec();
    cut.resize(65535, b'x');
    cut.extend_from_slice("é\"}".as_bytes()); // é spans bytes 65535..65537
    std::fs::write(d.path().join("package.json"), &cut).unwrap();
    let mut latin1 = format!("{{\"$schema\": \"{ARM_SCHEMA}\", \"name\": \"caf").into_bytes();
    latin1.extend_from_slice(b"\xe9\"}");
    std::fs::write(d.path().join("latin1.json"), latin1).unwrap();
    let r = scan(d.path(), &[]);
    assert!(diag_for(&r, "package.json").is_empty(), "not IaC: no word");
    assert!(
        diag_for(&r, "latin1.json")
            .iter()
            .any(|m| m.contains("UTF-8")),
        "{:?}",
        diag_for(&r, "latin1.json")
    );
    good_finding_survives(&r);
}

#[cfg(unix)]
#[test]
fn symlinks_are_not_followed() {
    let d = repo();
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(
        outside.path().join("secret.json"),
        format!(r#"{{"$schema": "{ARM_SCHEMA}", "resources": [{{"type": "Microsoft.Storage/storageAccounts", "apiVersion": "2023-05-01", "name": "outside", "properties": {{}}}}]}}"#),
    )
    .unwrap();
    std::os::unix::fs::symlink(outside.path(), d.path().join("link-out")).unwrap();
    std::fs::create_dir(d.path().join("loop")).unwrap();
    std::os::unix::fs::symlink("..", d.path().join("loop/up")).unwrap();
    let r = scan(d.path(), &[]);
    assert!(
        !r.json.to_string().contains("outside"),
        "a file outside the root was read"
    );
    good_finding_survives(&r);
}

#[test]
fn explosive_expansion_is_capped() {
    let d = repo();
    std::fs::write(
        d.path().join("copy.json"),
        // Types no rule checks: the test is about the caps, not about 20,000 × 170 verdicts.
        format!(r#"{{"$schema": "{ARM_SCHEMA}", "resources": [{{"type": "Microsoft.Resources/tags", "apiVersion": "2023-05-01", "name": "[concat('s', copyIndex())]", "copy": {{"name": "c", "count": 10000000}}, "properties": {{}}}}]}}"#),
    )
    .unwrap();
    std::fs::write(
        d.path().join("count.tf"),
        "resource \"azurerm_resource_group\" \"many\" {\n  count = 10000000\n  name  = \"s${count.index}\"\n}\n",
    )
    .unwrap();
    let mut locals = String::from("locals {\n  l0 = \"xxxxxxxx\"\n");
    for i in 1..=64 {
        locals.push_str(&format!(
            "  l{i} = \"${{local.l{}}}${{local.l{}}}\"\n",
            i - 1,
            i - 1
        ));
    }
    locals.push_str("  self = local.self\n}\nresource \"azurerm_storage_account\" \"x\" {\n  name = local.l64\n  tags = { a = local.self }\n}\n");
    std::fs::write(d.path().join("exp.tf"), locals).unwrap();
    let r = scan(d.path(), &[]);
    assert!(
        diag_for(&r, "copy.json")
            .iter()
            .any(|m| m.contains("10000000")),
        "{:?}",
        diag_for(&r, "copy.json")
    );
    assert!(
        diag_for(&r, "count.tf")
            .iter()
            .any(|m| m.contains("10000") || m.contains("cap")),
        "{:?}",
        diag_for(&r, "count.tf")
    );
    // Bounded: 20,000 capped instances, each checked, within the run's deadline.
    assert!(r.elapsed < Duration::from_secs(120), "took {:?}", r.elapsed);
    good_finding_survives(&r);
}

#[test]
fn module_cycles_and_escapes() {
    let d = repo();
    std::fs::create_dir_all(d.path().join("a")).unwrap();
    std::fs::write(
        d.path().join("a/main.tf"),
        "module \"self\" {\n  source = \"./\"\n}\n",
    )
    .unwrap();
    std::fs::write(
        d.path().join("escape.tf"),
        "module \"out\" {\n  source = \"../../../../../../etc\"\n}\n",
    )
    .unwrap();
    std::fs::write(
        d.path().join("self.bicep"),
        "module m 'self.bicep' = {\n  name: 'm'\n}\n",
    )
    .unwrap();
    let r = scan(d.path(), &[]);
    let all = r.json["diagnostics"].to_string();
    assert!(all.contains("cycle") || all.contains("itself"), "{all}");
    good_finding_survives(&r);
}

/// Under a limit on address space that forbids threads with 256 MB stacks (`ulimit -v`,
/// as some CI runners and containers set), the worker pool starts with ordinary stacks and
/// the scan goes on: it must not stop at "cannot start the worker threads".
#[test]
fn a_limit_on_address_space_does_not_stop_the_scan() {
    let d = repo();
    std::fs::write(
        d.path().join("main.bicep"),
        "resource st 'Microsoft.Storage/storageAccounts@2023-05-01' = {\n  name: 'st'\n  location: 'westeurope'\n  properties: {\n    supportsHttpsTrafficOnly: false\n  }\n}\n",
    )
    .unwrap();
    let out = Command::new("sh")
        .args([
            "-c",
            "ulimit -v 600000 && exec \"$0\" scan . --format json --threads 2",
            env!("CARGO_BIN_EXE_basegate"),
        ])
        .current_dir(d.path())
        .output()
        .unwrap();
    let v = failed_gate_report(&out);
    let found = |file: &str| {
        v["findings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["file"] == file && f["rule_id"] == "BG1001")
    };
    assert!(found("good.json") && found("main.bicep"), "{v}");
}

#[test]
fn the_scan_needs_no_network() {
    // In a network namespace of its own there is no interface but a down loopback: any
    // connection attempt would fail. Skipped where unprivileged namespaces are not allowed.
    let ok = Command::new("unshare")
        .args(["-n", "true"])
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !ok {
        eprintln!("unshare -n is not available here: skipped");
        return;
    }
    let d = repo();
    let out = Command::new("unshare")
        .args([
            "-n",
            env!("CARGO_BIN_EXE_basegate"),
            "scan",
            ".",
            "--format",
            "json",
        ])
        .current_dir(d.path())
        .output()
        .unwrap();
    let v = failed_gate_report(&out);
    assert!(v["summary"]["findings"].as_u64().unwrap() > 0);
}

#[test]
fn pathological_hcl_is_bounded() {
    // Found by the `terraform` fuzz target: unclosed objects after binary operators make
    // hcl-edit backtrack, in time exponential in the input's length (this input, 227 bytes,
    // took 2.4 s in a release build; each few more bytes doubled it). With a few more
    // repetitions it would run for hours: the parse has a deadline, and the file is
    // reported as not scanned.
    let found = r#"rr=rtypeesr+X%{d=ype||eesr+X%{d=ype||esr+X%{l=rAsr+X%{  id=rAsr+X%{ rAr+X%{ esr+X%{l=rAs/r+X%{  id=peesr+X%{d=ype||eesr+X%{d=ype||esr+X%{l=rAsr+X%{  id=rAsr+X%{ rAr+X%{ esr+X%{l=rAs/r+X%{  id=rAsr+X%{ rAr+X%{ rAsr+X%{ rAr+X%{ d"#;
    let d = repo();
    // Each more ` rAr+X%{` doubles the time: 10 more would take an hour.
    let stem = found.strip_suffix(" d").unwrap();
    let slow = format!("{stem}{} d", " rAr+X%{".repeat(10));
    std::fs::write(d.path().join("slow.tf"), slow).unwrap();
    let r = scan(d.path(), &[]);
    assert!(r.elapsed < Duration::from_secs(60), "took {:?}", r.elapsed);
    let diags = diag_for(&r, "slow.tf");
    assert!(
        diags.iter().any(|m| m.contains("did not finish")),
        "{diags:?}"
    );
    good_finding_survives(&r);
}
