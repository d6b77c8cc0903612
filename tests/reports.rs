//! The compliance views (JSON `compliance`, Markdown, HTML) on a small repository: every
//! CIS v3.0.0 recommendation appears with a status, and the verdicts follow the findings.

use std::process::Command;

fn run(dir: &std::path::Path, args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_basegate"))
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    String::from_utf8(out.stdout).unwrap()
}

fn repo() -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    std::fs::create_dir(d.path().join(".git")).unwrap();
    std::fs::write(
        d.path().join("main.json"),
        r#"{"$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#", "contentVersion": "1.0.0.0",
        "parameters": {"tls": {"type": "string"}},
        "resources": [{"type": "Microsoft.Storage/storageAccounts", "apiVersion": "2023-05-01", "name": "st", "location": "westeurope",
          "properties": {"supportsHttpsTrafficOnly": false, "minimumTlsVersion": "[parameters('tls')]"}}]}"#,
    )
    .unwrap();
    d
}

#[test]
fn json_compliance_lists_every_control_with_a_status() {
    let d = repo();
    let v: serde_json::Value =
        serde_json::from_str(&run(d.path(), &["scan", ".", "--format", "json"])).unwrap();
    let controls = v["compliance"]["controls"].as_array().unwrap();
    let cis: Vec<_> = controls
        .iter()
        .filter(|c| c["framework"] == "CIS")
        .collect();
    assert_eq!(cis.len(), 159, "every CIS v3.0.0 recommendation");
    let status = |id: &str| {
        cis.iter().find(|c| c["id"] == id).unwrap()["status"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert_eq!(status("4.1"), "failed"); // HTTP allowed
    assert_eq!(status("4.15"), "unknown"); // TLS from a parameter without default
    assert_eq!(status("3.3.5"), "not_applicable"); // no key vault declared
    assert_eq!(status("2.1.1"), "manual"); // Entra setting
                                           // A Defender plan is a subscription setting, often kept in another repository: not
                                           // declared here is "unknown, look where it is", not "does not apply".
    assert_eq!(status("3.1.3.1"), "unknown");
    let c = cis.iter().find(|c| c["id"] == "3.1.3.1").unwrap();
    assert!(c["note"].as_str().unwrap().contains("not declared"));
    assert!(cis.iter().find(|c| c["id"] == "4.1").unwrap()["note"].is_null());
    let c41 = cis.iter().find(|c| c["id"] == "4.1").unwrap();
    assert_eq!(
        c41["resources"][0]["address"],
        "Microsoft.Storage/storageAccounts/st"
    );
    assert!(controls
        .iter()
        .any(|c| c["framework"] == "MCSB" && c["id"] == "DP-3"));
}

/// The JSON report writes the compliance view field by field (so its controls render in
/// parallel); the Markdown and HTML reports render `Plan::posture`. Both must be the same
/// posture: a field added to one and not the other would show here.
#[test]
fn json_compliance_is_the_posture_the_other_reports_render() {
    let d = repo();
    let v: serde_json::Value =
        serde_json::from_str(&run(d.path(), &["scan", ".", "--format", "json"])).unwrap();
    let result = basegate::scan(&basegate::ScanOptions {
        paths: vec![d.path().to_path_buf()],
        root: Some(d.path().to_path_buf()),
        rules: basegate::rules::builtin(),
        ..Default::default()
    });
    let plan = basegate::report::compliance::Plan::new(&result, result.enforced);
    let posture = plan.posture();
    assert_eq!(v["compliance"], serde_json::to_value(&posture).unwrap());
}

#[test]
fn cis_level_1_leaves_out_level_2() {
    let d = repo();
    std::fs::write(
        d.path().join(".basegate.toml"),
        "[baseline]\ncis_level = 1\nframeworks = [\"cis\"]\n",
    )
    .unwrap();
    let v: serde_json::Value =
        serde_json::from_str(&run(d.path(), &["scan", ".", "--format", "json"])).unwrap();
    let controls = v["compliance"]["controls"].as_array().unwrap();
    assert!(controls
        .iter()
        .all(|c| c["framework"] == "CIS" && c["level"] == 1));
    assert!(!controls.iter().any(|c| c["id"] == "4.9")); // a level-2 recommendation
}

#[test]
fn markdown_and_html_render_the_posture() {
    let d = repo();
    let md = run(d.path(), &["scan", ".", "--format", "markdown"]);
    assert!(md.contains("❌ **Gate failed**"));
    assert!(md.contains("| 4 Storage Accounts |"));
    assert!(md.contains("`BG1001`"));
    let html = run(d.path(), &["scan", ".", "--format", "html"]);
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert!(html.contains("4 Storage Accounts") && html.contains("class=\"st failed\""));
    // Self-contained: no external scripts, styles or images.
    for needle in ["<script", "src=\"http", "href=\"http", "<link "] {
        assert!(!html.contains(needle), "{needle}");
    }
}

fn cis_control(dir: &std::path::Path, id: &str) -> serde_json::Value {
    let v: serde_json::Value =
        serde_json::from_str(&run(dir, &["scan", ".", "--format", "json"])).unwrap();
    v["compliance"]["controls"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["framework"] == "CIS" && c["id"] == id)
        .unwrap()
        .clone()
}

const BASTION: &str = r#"{"type": "Microsoft.Network/bastionHosts", "apiVersion": "2023-11-01", "name": "bas-hub", "location": "westeurope", "sku": {"name": "Developer"}, "properties": {}}"#;

fn template(params: &str, resources: &[&str]) -> String {
    format!(
        r#"{{"$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#", "contentVersion": "1.0.0.0", "parameters": {{{params}}}, "resources": [{}]}}"#,
        resources.join(", ")
    )
}

#[test]
fn existence_controls_pass_when_declared_and_are_unknown_otherwise() {
    // A Bastion host declared: 8.1 ("an Azure Bastion host exists") passes, with no finding.
    let d = repo();
    std::fs::write(d.path().join("hub.json"), template("", &[BASTION])).unwrap();
    let c = cis_control(d.path(), "8.1");
    assert_eq!(c["status"], "passed");
    assert_eq!(c["rules"][0], "BG1806");
    assert_eq!(c["resources"][0]["outcome"], "passed");
    assert!(c["note"].is_null());
    let v: serde_json::Value =
        serde_json::from_str(&run(d.path(), &["scan", ".", "--format", "json"])).unwrap();
    assert!(!v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .any(|f| f["rule_id"] == "BG1806"));

    // None declared: unknown, with the note, never failed.
    let d = repo();
    let c = cis_control(d.path(), "8.1");
    assert_eq!(c["status"], "unknown");
    assert!(c["note"].as_str().unwrap().contains("not declared"));
    assert!(c["resources"].as_array().unwrap().is_empty());
}

#[test]
fn existence_controls_with_a_conditional_resource() {
    let conditional = BASTION.replace(
        r#""name": "bas-hub""#,
        r#""name": "bas-maybe", "condition": "[parameters('deployBastion')]""#,
    );
    // Only a host deployed under a condition not known before deployment: unknown.
    let d = repo();
    std::fs::write(
        d.path().join("hub.json"),
        template(r#""deployBastion": {"type": "bool"}"#, &[&conditional]),
    )
    .unwrap();
    let c = cis_control(d.path(), "8.1");
    assert_eq!(c["status"], "unknown");
    assert_eq!(c["resources"][0]["outcome"], "unknown");
    // One that surely exists as well: the control is met.
    std::fs::write(
        d.path().join("hub.json"),
        template(
            r#""deployBastion": {"type": "bool"}"#,
            &[&conditional, BASTION],
        ),
    )
    .unwrap();
    let c = cis_control(d.path(), "8.1");
    assert_eq!(c["status"], "passed");
    assert_eq!(c["resources"].as_array().unwrap().len(), 2);
}

#[test]
fn per_machine_checks_that_cannot_fail_judge_every_machine() {
    // 8.8 asks for endpoint protection on every machine: one protected machine does not
    // make an unprotected one pass, and the unprotected one is unknown, not failed.
    let vm = |name: &str| {
        format!(
            r#"{{"type": "Microsoft.Compute/virtualMachines", "apiVersion": "2024-07-01", "name": "{name}", "location": "westeurope", "properties": {{}}}}"#
        )
    };
    let mde = r#"{"type": "Microsoft.Compute/virtualMachines/extensions", "apiVersion": "2024-07-01", "name": "vm-a/MDE.Windows", "location": "westeurope", "properties": {"publisher": "Microsoft.Azure.AzureDefenderForServers", "type": "MDE.Windows"}}"#;
    let d = repo();
    std::fs::write(
        d.path().join("vms.json"),
        template("", &[&vm("vm-a"), mde, &vm("vm-b")]),
    )
    .unwrap();
    let c = cis_control(d.path(), "8.8");
    assert_eq!(c["status"], "unknown");
    let outcomes: Vec<_> = c["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["outcome"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(outcomes, ["passed", "unknown"]);
    // No machine declared: nothing to protect.
    let d = repo();
    assert_eq!(cis_control(d.path(), "8.8")["status"], "not_applicable");
}
