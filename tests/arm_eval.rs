//! End-to-end behaviour of the ARM frontend on small templates: evaluation, loops, nested
//! deployments, languageVersion 2.0, child folding, and bad input.

use basegate::model::Value;
use basegate::{scan, ScanOptions, ScanResult};
use std::path::Path;

fn scan_text(name: &str, text: &str) -> (tempfile::TempDir, ScanResult) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join(name), text).unwrap();
    let opts = ScanOptions {
        paths: vec![dir.path().to_path_buf()],
        root: Some(dir.path().to_path_buf()),
        rules: basegate::rules::builtin(),
        keep_bodies: true,
        ..Default::default()
    };
    let r = scan(&opts);
    (dir, r)
}

fn template(resources: &str) -> String {
    format!(
        r#"{{"$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#", "contentVersion": "1.0.0.0", "resources": {resources}}}"#
    )
}

#[test]
fn copy_loops_expand_with_addresses() {
    let (_d, r) = scan_text(
        "main.json",
        &template(
            r#"[{"type": "Microsoft.Storage/storageAccounts", "apiVersion": "2023-01-01", "name": "[concat('st', copyIndex())]", "copy": {"name": "c", "count": 3}, "properties": {}}]"#,
        ),
    );
    let names: Vec<_> = r
        .model
        .resources
        .iter()
        .map(|x| x.name.clone().unwrap())
        .collect();
    assert_eq!(names, ["st0", "st1", "st2"]);
    assert!(r.model.resources[1].address.ends_with("[1]"));
}

#[test]
fn children_get_full_types_and_names_and_fold_into_parents() {
    let (_d, r) = scan_text(
        "main.json",
        &template(
            r#"[{"type": "Microsoft.Web/sites", "apiVersion": "2022-09-01", "name": "app", "properties": {},
                 "resources": [{"type": "config", "apiVersion": "2022-09-01", "name": "web", "properties": {"ftpsState": "AllAllowed"}}]}]"#,
        ),
    );
    let child = r
        .model
        .resources
        .iter()
        .find(|x| x.type_name == "Microsoft.Web/sites/config")
        .unwrap();
    assert_eq!(child.name.as_deref(), Some("app/web"));
    let site = r
        .model
        .resources
        .iter()
        .find(|x| x.type_name == "Microsoft.Web/sites")
        .unwrap();
    let ftps = site
        .body
        .get("properties")
        .unwrap()
        .get("siteConfig")
        .unwrap()
        .get("ftpsState")
        .unwrap();
    assert_eq!(ftps.value, Value::String("AllAllowed".into()));
    // The parent edge is in the graph.
    assert_eq!(r.model.edges.len(), 1);
}

#[test]
fn language_version_2_symbolic_resources() {
    let text = r#"{"$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#",
        "languageVersion": "2.0", "contentVersion": "1.0.0.0",
        "resources": {
          "stg": {"type": "Microsoft.Storage/storageAccounts", "apiVersion": "2023-01-01", "name": "st1", "properties": {}},
          "existingVault": {"existing": true, "type": "Microsoft.KeyVault/vaults", "apiVersion": "2023-01-01", "name": "kv"},
          "diag": {"type": "Microsoft.Insights/diagnosticSettings", "apiVersion": "2021-05-01-preview", "name": "d", "scope": "Microsoft.Storage/storageAccounts/st1", "dependsOn": ["stg"], "properties": {}}
        }}"#;
    let (_d, r) = scan_text("main.json", text);
    let addrs: Vec<_> = r
        .model
        .resources
        .iter()
        .map(|x| x.address.as_str())
        .collect();
    assert_eq!(addrs, ["stg", "diag"]);
    // scope and dependsOn both link diag → stg.
    assert!(r
        .model
        .edges
        .iter()
        .any(|e| e.kind == basegate::model::EdgeKind::Scope));
    assert!(r
        .model
        .edges
        .iter()
        .any(|e| e.kind == basegate::model::EdgeKind::DependsOn));
}

#[test]
fn nested_deployments_inner_and_outer_scope() {
    let text = r#"{"$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#", "contentVersion": "1.0.0.0",
      "parameters": {"tls": {"type": "string", "defaultValue": "TLS1_0"}},
      "resources": [
        {"type": "Microsoft.Resources/deployments", "apiVersion": "2022-09-01", "name": "outer",
         "properties": {"mode": "Incremental", "template": {"resources": [
            {"type": "Microsoft.Storage/storageAccounts", "apiVersion": "2023-01-01", "name": "a", "properties": {"minimumTlsVersion": "[parameters('tls')]"}}]}}},
        {"type": "Microsoft.Resources/deployments", "apiVersion": "2022-09-01", "name": "inner",
         "properties": {"mode": "Incremental", "expressionEvaluationOptions": {"scope": "inner"},
           "parameters": {"v": {"value": "[parameters('tls')]"}},
           "template": {"parameters": {"v": {"type": "string"}}, "resources": [
            {"type": "Microsoft.Storage/storageAccounts", "apiVersion": "2023-01-01", "name": "b", "properties": {"minimumTlsVersion": "[parameters('v')]"}}]}}}
      ]}"#;
    let (_d, r) = scan_text("main.json", text);
    for name in ["a", "b"] {
        let st = r
            .model
            .resources
            .iter()
            .find(|x| x.name.as_deref() == Some(name))
            .unwrap();
        let tls = st
            .body
            .get("properties")
            .unwrap()
            .get("minimumTlsVersion")
            .unwrap();
        assert_eq!(tls.value, Value::String("TLS1_0".into()), "{name}");
    }
}

#[test]
fn bad_input_is_a_diagnostic_and_the_scan_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let schema = "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#";
    std::fs::write(
        d.join("a-malformed.json"),
        format!("{{\"$schema\": \"{schema}\",\n \"resources\": [ }}"),
    )
    .unwrap();
    std::fs::write(
        d.join("b-resources-string.json"),
        format!("{{\"$schema\": \"{schema}\", \"resources\": \"x\"}}"),
    )
    .unwrap();
    std::fs::write(
        d.join("c-bad-expr.json"),
        template(r#"[{"type": "Microsoft.Storage/storageAccounts", "apiVersion": "2023-01-01", "name": "[concat('a']", "properties": {}}]"#),
    )
    .unwrap();
    std::fs::write(
        d.join("d-unknown-fn.json"),
        template(r#"[{"type": "Microsoft.Storage/storageAccounts", "apiVersion": "2023-01-01", "name": "[noSuchFunction('a')]", "properties": {}}]"#),
    )
    .unwrap();
    std::fs::write(
        d.join("e-latin1.json"),
        b"{\"$schema\": \"deploymentTemplate.json#\", \"x\": \"\xe9\"}",
    )
    .unwrap();
    std::fs::write(
        d.join("f-good.json"),
        template(r#"[{"type": "Microsoft.Storage/storageAccounts", "apiVersion": "2023-01-01", "name": "ok", "properties": {"supportsHttpsTrafficOnly": false}}]"#),
    )
    .unwrap();
    std::fs::write(
        d.join("g.json"),
        template(r#"[{"type": "Microsoft.Storage/storageAccounts", "apiVersion": "2023-01-01", "name": "p", "properties": {}}]"#),
    )
    .unwrap();
    std::fs::write(
        d.join("g.parameters.json"),
        r#"{"$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentParameters.json#", "parameters": {"missing": {"value": 1}}}"#,
    )
    .unwrap();
    let r = scan(&ScanOptions {
        paths: vec![d.to_path_buf()],
        root: Some(d.to_path_buf()),
        rules: basegate::rules::builtin(),
        ..Default::default()
    });
    let diag = |file: &str| {
        r.diagnostics
            .iter()
            .filter(|x| r.rel_path(x.span.file) == file)
            .map(|x| {
                let lc = r.sources.get(x.span.file).line_col(x.span.start);
                format!("{}:{}: {}", lc.line, lc.col, x.message)
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(
        diag("a-malformed.json"),
        ["2:17: invalid JSON: unexpected `}`: expected a JSON value"]
    );
    assert!(diag("b-resources-string.json")[0].contains("`resources` must be an array"));
    assert!(
        diag("c-bad-expr.json")[0].contains("does not parse"),
        "{:?}",
        diag("c-bad-expr.json")
    );
    assert!(diag("d-unknown-fn.json")[0].contains("unknown template function 'noSuchFunction'"));
    assert!(
        diag("e-latin1.json")[0].contains("not valid UTF-8"),
        "{:?}",
        diag("e-latin1.json")
    );
    assert!(diag("g.parameters.json")[0].contains("'missing' is not declared"));
    // The good file was still scanned and its finding reported.
    assert!(r
        .findings
        .iter()
        .any(|f| r.rel_path(f.span.file) == "f-good.json"));
    assert!(Path::new(d).exists());
}

#[test]
fn huge_copy_count_is_capped_and_reported() {
    let (_d, r) = scan_text(
        "main.json",
        &template(
            r#"[{"type": "Microsoft.Storage/storageAccounts", "apiVersion": "2023-01-01", "name": "[concat('st', copyIndex())]", "copy": {"name": "c", "count": 10000000}, "properties": {}}]"#,
        ),
    );
    assert_eq!(r.model.resources.len(), 10_000);
    assert!(r
        .diagnostics
        .iter()
        .any(|d| d.message.contains("10000000 iterations")));
}

#[test]
fn exponential_variables_are_bounded() {
    let mut vars = String::from(r#""v0": "xxxxxxxxxxxxxxxx""#);
    for i in 1..=64 {
        vars.push_str(&format!(
            r#", "v{i}": "[concat(variables('v{}'), variables('v{}'))]""#,
            i - 1,
            i - 1
        ));
    }
    let text = format!(
        r#"{{"$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#", "variables": {{{vars}}},
        "resources": [{{"type": "Microsoft.Storage/storageAccounts", "apiVersion": "2023-01-01", "name": "[variables('v64')]", "properties": {{}}}}]}}"#
    );
    let (_d, r) = scan_text("main.json", &text);
    assert_eq!(r.model.resources.len(), 1);
    assert!(r.model.resources[0].name.is_none());
}

#[test]
fn an_unknown_reference_elsewhere_does_not_hide_a_missing_private_endpoint() {
    // b/ holds a private endpoint whose target is a parameter without value: it may point at
    // any account — but only of its own deployment, not at the one in a.json's folder.
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::create_dir_all(d.join("a")).unwrap();
    std::fs::create_dir_all(d.join("b")).unwrap();
    std::fs::write(
        d.join("a/a.json"),
        template(r#"[{"type": "Microsoft.Storage/storageAccounts", "apiVersion": "2023-05-01", "name": "sta", "properties": {}}]"#),
    )
    .unwrap();
    let pe = r#"{"$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#", "contentVersion": "1.0.0.0",
      "parameters": {"target": {"type": "string"}},
      "resources": [{"type": "Microsoft.Network/privateEndpoints", "apiVersion": "2023-04-01", "name": "pe",
        "properties": {"privateLinkServiceConnections": [{"name": "c", "properties": {"privateLinkServiceId": "[parameters('target')]", "groupIds": ["blob"]}}]}}]}"#;
    std::fs::write(d.join("b/b.json"), pe).unwrap();
    let r = scan(&ScanOptions {
        paths: vec![d.to_path_buf()],
        root: Some(d.to_path_buf()),
        rules: basegate::rules::builtin(),
        ..Default::default()
    });
    assert!(
        r.findings.iter().any(|f| f.rule_id == "BG1011"),
        "BG1011 hidden by an unrelated template"
    );
    // In the same folder the unknown target may be this account: unknown, no finding.
    std::fs::write(d.join("a/b.json"), pe).unwrap();
    let r = scan(&ScanOptions {
        paths: vec![d.to_path_buf()],
        root: Some(d.to_path_buf()),
        rules: basegate::rules::builtin(),
        ..Default::default()
    });
    assert!(!r.findings.iter().any(|f| f.rule_id == "BG1011"));
}

#[test]
fn unknown_conditions_and_copy_counts_make_existence_conditional() {
    let t = r#"{"$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#", "contentVersion": "1.0.0.0",
      "parameters": {"deploy": {"type": "bool"}, "n": {"type": "int"}, "on": {"type": "bool", "defaultValue": true}},
      "resources": [
        {"type": "Microsoft.Network/virtualNetworks", "apiVersion": "2023-11-01", "name": "maybe", "condition": "[parameters('deploy')]",
         "resources": [{"type": "subnets", "apiVersion": "2023-11-01", "name": "sn", "dependsOn": ["maybe"]}]},
        {"type": "Microsoft.Network/virtualNetworks", "apiVersion": "2023-11-01", "name": "sure", "condition": "[parameters('on')]"},
        {"type": "Microsoft.Network/virtualNetworks", "apiVersion": "2023-11-01", "name": "[concat('v', copyIndex())]", "copy": {"name": "c", "count": "[parameters('n')]"}},
        {"type": "Microsoft.Network/virtualNetworks", "apiVersion": "2023-11-01", "name": "[concat('w', copyIndex())]", "copy": {"name": "d", "count": 2}}
      ]}"#;
    let (_d, r) = scan_text("main.json", t);
    let conditional = |name: &str| {
        r.model
            .resources
            .iter()
            .find(|x| x.name.as_deref() == Some(name) || x.address.ends_with(name))
            .unwrap_or_else(|| panic!("{name}"))
            .conditional
            .is_some()
    };
    assert!(conditional("maybe"));
    assert!(conditional("maybe/sn"));
    assert!(!conditional("sure"));
    assert!(conditional("[*]"));
    assert!(!conditional("w1"));
}

/// The outcome of `rule` on the resource at `address`, if it was judged.
fn outcome(r: &ScanResult, rule: &str, address: &str) -> Option<basegate::check::Outcome> {
    r.evaluations
        .iter()
        .find(|e| r.rules[e.rule].id == rule && r.model.get(e.resource).address.as_str() == address)
        .map(|e| e.outcome)
}

#[test]
fn language_version_2_existing_resources_pass_on_their_dependencies() {
    // Bicep with symbolic names: the setting depends on the existing service, which depends
    // on the declared account. Without symbolic names Bicep writes the dependency on the
    // account itself; both must link the setting to the account.
    let text = r#"{"$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#",
        "languageVersion": "2.0", "contentVersion": "1.0.0.0",
        "resources": {
          "stg::queue": {"existing": true, "type": "Microsoft.Storage/storageAccounts/queueServices", "apiVersion": "2023-05-01", "name": "st1/default", "dependsOn": ["stg"]},
          "stg": {"type": "Microsoft.Storage/storageAccounts", "apiVersion": "2023-05-01", "name": "st1", "kind": "StorageV2", "properties": {}},
          "diag": {"type": "Microsoft.Insights/diagnosticSettings", "apiVersion": "2021-05-01-preview", "name": "d",
                   "scope": "[format('Microsoft.Storage/storageAccounts/{0}/queueServices/{1}', 'st1', 'default')]", "dependsOn": ["stg::queue"],
                   "properties": {"logs": [{"categoryGroup": "audit", "enabled": true}]}}
        }}"#;
    let (_d, r) = scan_text("main.json", text);
    let diag = r
        .model
        .resources
        .iter()
        .position(|x| x.address == "diag")
        .unwrap();
    let stg = r
        .model
        .resources
        .iter()
        .position(|x| x.address == "stg")
        .unwrap();
    assert!(r
        .model
        .edges
        .iter()
        .any(|e| e.kind == basegate::model::EdgeKind::DependsOn
            && e.from.0 as usize == diag
            && e.to.0 as usize == stg));
    assert!(r.model.unresolved.is_empty(), "{:?}", r.model.unresolved);
    assert_eq!(
        outcome(&r, "BG1014", "stg"),
        Some(basegate::check::Outcome::Pass)
    );
}

#[test]
fn a_setting_on_a_service_of_an_unknown_account_may_be_on_this_one() {
    // The service is not declared: it exists with the account. A setting scoped to the queue
    // service of an account named by a parameter may be on this account's.
    let text = r#"{"$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#", "contentVersion": "1.0.0.0",
        "parameters": {"acct": {"type": "string"}},
        "resources": [
          {"type": "Microsoft.Storage/storageAccounts", "apiVersion": "2023-05-01", "name": "st1", "kind": "StorageV2", "properties": {}},
          {"type": "Microsoft.Insights/diagnosticSettings", "apiVersion": "2021-05-01-preview", "name": "d",
           "scope": "[format('Microsoft.Storage/storageAccounts/{0}/queueServices/{1}', parameters('acct'), 'default')]",
           "properties": {"logs": [{"categoryGroup": "audit", "enabled": true}]}}
        ]}"#;
    let (_d, r) = scan_text("main.json", text);
    let addr = "Microsoft.Storage/storageAccounts/st1";
    assert_eq!(
        outcome(&r, "BG1014", addr),
        Some(basegate::check::Outcome::Unknown)
    );
    // A rule on a declared child only (soft delete on the blob service) is not clouded: the
    // setting is not a blob service.
    assert_eq!(
        outcome(&r, "BG1012", addr),
        Some(basegate::check::Outcome::Fail)
    );
}

#[test]
fn grandchildren_and_extension_resources_on_children_are_linked() {
    // Nested grandchild (parent named `type/name`) and the `…/providers/…` extension form on
    // a child: both name a child type with two names.
    let (_d, r) = scan_text(
        "main.json",
        &template(
            r#"[{"type": "Microsoft.Storage/storageAccounts", "apiVersion": "2023-05-01", "name": "st1", "properties": {},
                 "resources": [{"type": "blobServices", "apiVersion": "2023-05-01", "name": "default", "properties": {},
                   "resources": [{"type": "containers", "apiVersion": "2023-05-01", "name": "c1", "properties": {}}]}]},
                {"type": "Microsoft.Storage/storageAccounts/blobServices/providers/diagnosticSettings", "apiVersion": "2021-05-01-preview",
                 "name": "st1/default/Microsoft.Insights/d", "properties": {}}]"#,
        ),
    );
    let pos = |t: &str| {
        r.model
            .resources
            .iter()
            .position(|x| x.type_name == t)
            .unwrap()
    };
    let (svc, cont, diag) = (
        pos("Microsoft.Storage/storageAccounts/blobServices"),
        pos("Microsoft.Storage/storageAccounts/blobServices/containers"),
        pos("Microsoft.Insights/diagnosticSettings"),
    );
    let edge = |from: usize, kind| {
        r.model
            .edges
            .iter()
            .any(|e| e.from.0 as usize == from && e.to.0 as usize == svc && e.kind == kind)
    };
    assert!(edge(cont, basegate::model::EdgeKind::Parent));
    assert!(edge(diag, basegate::model::EdgeKind::Scope));
}
