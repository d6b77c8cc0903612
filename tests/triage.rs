//! The baseline as policy, run as a team would through the real binary: inline suppressions,
//! the exceptions register with owners and expiry, and accepted findings in a baseline file.

use std::path::Path;
use std::process::Command;

fn basegate(dir: &Path, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_basegate"))
        .args(args)
        .current_dir(dir)
        .env("BASEGATE_TODAY", "2026-11-25")
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

const TEMPLATE: &str = r#"{
  "$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#",
  "contentVersion": "1.0.0.0",
  "resources": [
    {
      "type": "Microsoft.Storage/storageAccounts",
      "apiVersion": "2023-05-01",
      "name": "stlegacy",
      "location": "westeurope",
      "properties": {
        // basegate:ignore BG1001 the legacy uploader speaks HTTP until INFRA-42 lands
        "supportsHttpsTrafficOnly": false,
        // basegate:ignore BG1002
        "minimumTlsVersion": "TLS1_0"
      }
    }
  ]
}
"#;

fn repo() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join(".git")).unwrap();
    std::fs::write(dir.path().join("main.json"), TEMPLATE).unwrap();
    dir
}

fn json(stdout: &str) -> serde_json::Value {
    serde_json::from_str(stdout).unwrap()
}

fn active_rules(report: &serde_json::Value) -> Vec<String> {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["suppression"].is_null())
        .map(|f| f["rule_id"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn inline_suppressions_need_a_reason() {
    let d = repo();
    let (_, out, _) = basegate(d.path(), &["scan", ".", "--format", "json"]);
    let r = json(&out);
    let f1001 = r["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["rule_id"] == "BG1001")
        .unwrap();
    assert_eq!(f1001["suppression"]["kind"], "inSource");
    assert!(f1001["suppression"]["justification"]
        .as_str()
        .unwrap()
        .contains("INFRA-42"));
    // No reason: BG1002 is not suppressed, and the bare directive is reported.
    assert!(active_rules(&r).contains(&"BG1002".to_string()));
    assert!(r["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .any(|d| d["message"].as_str().unwrap().contains("has no reason")));
    // SARIF carries the suppression.
    let (_, sarif, _) = basegate(d.path(), &["scan", ".", "--format", "sarif"]);
    let s = json(&sarif);
    let results = s["runs"][0]["results"].as_array().unwrap();
    let sup = results.iter().find(|x| x["ruleId"] == "BG1001").unwrap();
    assert_eq!(sup["suppressions"][0]["kind"], "inSource");
    assert_eq!(sup["suppressions"][0]["status"], "accepted");
}

#[test]
fn exceptions_suppress_until_they_expire() {
    let d = repo();
    let config = |expires: &str, resource: &str| {
        format!(
            "[[exceptions]]\nrule = \"BG1002\"\nresource = \"{resource}\"\njustification = \"TLS 1.0 client until Q1\"\nowner = \"platform@example.com\"\nexpires = {expires}\n"
        )
    };
    std::fs::write(
        d.path().join(".basegate.toml"),
        config("2026-12-31", "Microsoft.Storage/storageAccounts/*"),
    )
    .unwrap();
    let (_, out, _) = basegate(d.path(), &["scan", ".", "--format", "json"]);
    let r = json(&out);
    assert!(!active_rules(&r).contains(&"BG1002".to_string()), "{out}");
    let f = r["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["rule_id"] == "BG1002")
        .unwrap();
    assert_eq!(f["suppression"]["owner"], "platform@example.com");

    // Expired: no longer suppresses, and says so.
    std::fs::write(
        d.path().join(".basegate.toml"),
        config("2026-11-01", "Microsoft.Storage/storageAccounts/*"),
    )
    .unwrap();
    let (code, out, _) = basegate(d.path(), &["scan", ".", "--format", "json"]);
    let r = json(&out);
    assert_eq!(code, 1);
    assert!(active_rules(&r).contains(&"BG1002".to_string()));
    assert!(r["diagnostics"]
        .to_string()
        .contains("expired on 2026-11-01"));

    // Stale: matches nothing.
    std::fs::write(
        d.path().join(".basegate.toml"),
        config("2026-12-31", "nothing/*"),
    )
    .unwrap();
    let (_, out, _) = basegate(d.path(), &["scan", ".", "--format", "json"]);
    assert!(json(&out)["diagnostics"]
        .to_string()
        .contains("stale exception"));

    // Malformed: exit 2 with the file and the field.
    std::fs::write(
        d.path().join(".basegate.toml"),
        config("2026-12-31", "x").replace("owner", "ownr"),
    )
    .unwrap();
    let (code, _, err) = basegate(d.path(), &["scan", "."]);
    assert_eq!(code, 2);
    assert!(
        err.contains(".basegate.toml") && err.contains("ownr"),
        "{err}"
    );
}

#[test]
fn baseline_accepts_todays_findings_and_gates_on_new_ones() {
    let d = repo();
    let (code, _, err) = basegate(d.path(), &["baseline", "create", "."]);
    assert_eq!(code, 0, "{err}");
    let (code, out, _) = basegate(
        d.path(),
        &[
            "scan",
            ".",
            "--baseline",
            ".basegate-baseline.json",
            "--format",
            "json",
        ],
    );
    assert_eq!(code, 0, "{out}");
    assert!(active_rules(&json(&out)).is_empty());

    // Reformat and move lines: fingerprints hold.
    let moved = TEMPLATE
        .replace("\"location\": \"westeurope\",\n", "")
        .replace(
            "\"name\": \"stlegacy\",",
            "\"name\": \"stlegacy\", \"location\": \"westeurope\",",
        );
    std::fs::write(d.path().join("main.json"), format!("\n\n{moved}")).unwrap();
    let (code, _, _) = basegate(
        d.path(),
        &["scan", ".", "--baseline", ".basegate-baseline.json"],
    );
    assert_eq!(code, 0);

    // A new resource with problems, and one old problem fixed: only the new resource's
    // findings fail the gate; the fixed one is reported.
    let changed = moved
        .replace("\"minimumTlsVersion\": \"TLS1_0\"", "\"minimumTlsVersion\": \"TLS1_2\"")
        .replace(
            "  \"resources\": [\n",
            "  \"resources\": [\n    {\"type\": \"Microsoft.Storage/storageAccounts\", \"apiVersion\": \"2023-05-01\", \"name\": \"stnew\", \"properties\": {\"supportsHttpsTrafficOnly\": false}},\n",
        );
    std::fs::write(d.path().join("main.json"), changed).unwrap();
    let (code, out, _) = basegate(
        d.path(),
        &[
            "scan",
            ".",
            "--baseline",
            ".basegate-baseline.json",
            "--format",
            "json",
        ],
    );
    let r = json(&out);
    assert_eq!(code, 1);
    let active: Vec<_> = r["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["suppression"].is_null())
        .collect();
    assert!(active.iter().any(|f| f["rule_id"] == "BG1001"));
    assert!(
        active.iter().all(|f| f["resource"]["name"] == "stnew"),
        "{active:#?}"
    );
    assert_eq!(r["fixed"][0]["rule_id"], "BG1002");

    // A hand-broken baseline is an error naming the file and position.
    std::fs::write(
        d.path().join("bad.json"),
        "{\"basegate_baseline\": 1, \"findings\": [}",
    )
    .unwrap();
    let (code, _, err) = basegate(d.path(), &["scan", ".", "--baseline", "bad.json"]);
    assert_eq!(code, 2);
    assert!(err.contains("bad.json") && err.contains("line 1"), "{err}");
}

#[test]
fn init_writes_a_config_that_loads() {
    let d = repo();
    let (code, _, _) = basegate(d.path(), &["init"]);
    assert_eq!(code, 0);
    let (code, _, err) = basegate(d.path(), &["scan", "."]);
    assert_eq!(code, 1, "{err}");
    let (code, _, _) = basegate(d.path(), &["init"]);
    assert_eq!(code, 2);
}

#[test]
fn changed_since_gates_only_on_changed_lines() {
    let d = repo();
    std::fs::remove_dir(d.path().join(".git")).unwrap();
    let git = |args: &[&str]| {
        let ok = Command::new("git")
            .args(args)
            .current_dir(d.path())
            .env("GIT_AUTHOR_NAME", "t")
            .env("GIT_AUTHOR_EMAIL", "t@example.com")
            .env("GIT_COMMITTER_NAME", "t")
            .env("GIT_COMMITTER_EMAIL", "t@example.com")
            .output()
            .unwrap()
            .status
            .success();
        assert!(ok, "git {args:?}");
    };
    git(&["init", "-q"]);
    git(&["add", "."]);
    git(&["commit", "-q", "-m", "base"]);
    // Nothing changed: nothing to report, the gate passes.
    let (code, out, _) = basegate(
        d.path(),
        &["scan", ".", "--changed-since", "HEAD", "--format", "json"],
    );
    assert_eq!(code, 0, "{out}");
    // Change one line: only its finding is reported.
    let changed = TEMPLATE.replace(
        "\"minimumTlsVersion\": \"TLS1_0\"",
        "\"minimumTlsVersion\": \"TLS1_1\"",
    );
    std::fs::write(d.path().join("main.json"), changed).unwrap();
    let (code, out, _) = basegate(
        d.path(),
        &["scan", ".", "--changed-since", "HEAD", "--format", "json"],
    );
    assert_eq!(code, 1);
    let r = json(&out);
    let rules: Vec<_> = r["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["rule_id"].as_str().unwrap())
        .collect();
    assert_eq!(rules, ["BG1002"]);
    // A bad ref is a usage error.
    let (code, _, err) = basegate(d.path(), &["scan", ".", "--changed-since", "no-such-ref"]);
    assert_eq!(code, 2);
    assert!(err.contains("no-such-ref"), "{err}");
}
