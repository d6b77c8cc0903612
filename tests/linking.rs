//! References between resources, end to end: what links and what must not. A connected-
//! resource check (a diagnostic setting on a key vault) passes only on a link the
//! deployment really makes.

use std::process::Command;

/// Rule ids of the findings, by the file they point at.
fn findings(dir: &std::path::Path) -> Vec<(String, String)> {
    let out = Command::new(env!("CARGO_BIN_EXE_basegate"))
        .args(["scan", ".", "--format", "json"])
        .current_dir(dir)
        .output()
        .unwrap();
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!("{e}: {}", String::from_utf8_lossy(&out.stderr));
    });
    let mut v: Vec<(String, String)> = json["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["file"].as_str().unwrap().to_string(),
                f["rule_id"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    v.sort();
    v
}

const VAULT: &str = r#"
resource "azurerm_key_vault" "example" {
  name                          = "kv"
  location                      = "westeurope"
  resource_group_name           = "rg"
  tenant_id                     = "00000000-0000-0000-0000-000000000000"
  sku_name                      = "standard"
  purge_protection_enabled      = true
  public_network_access_enabled = false
}
"#;

const AUDIT: &str = r#"
resource "azurerm_monitor_diagnostic_setting" "audit" {
  name                       = "audit"
  target_resource_id         = azurerm_key_vault.example.id
  log_analytics_workspace_id = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.OperationalInsights/workspaces/w"
  enabled_log {
    category_group = "audit"
  }
}
"#;

/// Two Terraform configurations in one repository (a monorepo of examples) may use the same
/// address; a reference in one never reaches a resource of the other. The vault in `a/` has
/// no diagnostic setting even though `b/` sets one on its own `azurerm_key_vault.example`.
#[test]
fn terraform_references_stay_within_their_configuration() {
    let d = tempfile::tempdir().unwrap();
    std::fs::create_dir(d.path().join(".git")).unwrap();
    for dir in ["a", "b"] {
        std::fs::create_dir(d.path().join(dir)).unwrap();
    }
    std::fs::write(d.path().join("a/main.tf"), VAULT).unwrap();
    std::fs::write(d.path().join("b/main.tf"), format!("{VAULT}{AUDIT}")).unwrap();
    let got = findings(d.path());
    let audit = "BG1603"; // key vault audit events logged
    assert!(
        got.contains(&("a/main.tf".into(), audit.into())),
        "the vault in a/ has no diagnostic setting: {got:?}"
    );
    assert!(
        !got.contains(&("b/main.tf".into(), audit.into())),
        "the vault in b/ has one: {got:?}"
    );
}

/// A local module called by a root is part of that configuration: a reference from the root
/// into the module's output reaches the module's resource.
#[test]
fn terraform_references_reach_into_called_modules() {
    let d = tempfile::tempdir().unwrap();
    std::fs::create_dir(d.path().join(".git")).unwrap();
    std::fs::create_dir_all(d.path().join("modules/vault")).unwrap();
    std::fs::write(
        d.path().join("modules/vault/main.tf"),
        format!("{VAULT}\noutput \"id\" {{ value = azurerm_key_vault.example.id }}\n"),
    )
    .unwrap();
    std::fs::write(
        d.path().join("main.tf"),
        AUDIT.replace("azurerm_key_vault.example.id", "module.vault.id")
            + "\nmodule \"vault\" {\n  source = \"./modules/vault\"\n}\n",
    )
    .unwrap();
    let got = findings(d.path());
    assert!(
        !got.iter().any(|(_, r)| r == "BG1603"),
        "the module's vault has the root's diagnostic setting: {got:?}"
    );
}
