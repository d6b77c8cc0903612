//! Generated documentation stays current: docs/rules.md is what `basegate rules --markdown`
//! prints. Regenerate with `BASEGATE_REGENERATE=1 cargo test --test docs`.

#[test]
fn rules_reference_is_current() {
    let rules = basegate::rules::builtin();
    let generated = basegate::rules::doc::reference_markdown(&rules);
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/rules.md");
    if std::env::var_os("BASEGATE_REGENERATE").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &generated).unwrap();
    }
    let current = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        current == generated,
        "docs/rules.md is stale: run `BASEGATE_REGENERATE=1 cargo test --test docs` and commit it"
    );
}

#[test]
fn every_rule_is_documented_in_fixed_sections() {
    for r in basegate::rules::builtin() {
        let md = basegate::rules::doc::help_markdown(&r);
        for section in ["### What it does", "### Why it matters", "### How to fix"] {
            assert!(md.contains(section), "{}: no `{section}`", r.id);
        }
        for (lang, snippet) in [
            ("bicep", &r.remediation.bicep),
            ("arm", &r.remediation.arm),
            ("terraform", &r.remediation.terraform),
        ] {
            let has_check = match lang {
                "terraform" => r
                    .check_for(basegate::model::Dialect::Terraform)
                    .next()
                    .is_some(),
                _ => r.check_for(basegate::model::Dialect::Arm).next().is_some(),
            };
            if has_check {
                assert!(snippet.is_some(), "{}: no {lang} remediation snippet", r.id);
            }
        }
        assert!(
            !r.controls.cis.is_empty()
                || !r.controls.mcsb.is_empty()
                || !r.controls.policy.is_empty(),
            "{}: maps to no control",
            r.id
        );
    }
}

/// Rules whose `remediation.bicep` snippet is known not to pass its own rule; each must still
/// fail (remove it once fixed). Empty: every Bicep snippet parses and passes.
const BICEP_SNIPPET_KNOWN_FAILURES: &[&str] = &[];

/// Each rule's fixed snippets pass the rule itself: remediation that does not remediate is
/// worse than none. ARM snippets may be one resource object; they are wrapped in a template.
#[test]
fn remediation_snippets_pass_their_rule() {
    let mut failures = Vec::new();
    let mut bicep_snippets = 0;
    for rule in basegate::rules::builtin() {
        let dir = tempfile::tempdir().unwrap();
        let mut files = Vec::new();
        if let Some(arm) = &rule.remediation.arm {
            let text = if arm.contains("deploymentTemplate.json") {
                arm.clone()
            } else {
                let body = arm.trim();
                let resources = if body.starts_with('[') {
                    body.to_string()
                } else {
                    format!("[{body}]")
                };
                format!(
                    r#"{{"$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#", "contentVersion": "1.0.0.0", "resources": {resources}}}"#
                )
            };
            std::fs::write(dir.path().join("snippet.json"), text).unwrap();
            files.push("snippet.json");
        }
        if let Some(tf) = &rule.remediation.terraform {
            std::fs::write(dir.path().join("snippet.tf"), tf).unwrap();
            files.push("snippet.tf");
        }
        // A Bicep snippet is a complete file: symbols it does not declare (an `existing`
        // parent, a workspace) only warn, and evaluate to unknown.
        if let Some(bicep) = &rule.remediation.bicep {
            std::fs::write(dir.path().join("snippet.bicep"), bicep).unwrap();
            files.push("snippet.bicep");
            bicep_snippets += 1;
        }
        let known = BICEP_SNIPPET_KNOWN_FAILURES.contains(&rule.id.as_str());
        for f in files {
            let result = basegate::scan(&basegate::ScanOptions {
                paths: vec![dir.path().join(f)],
                root: Some(dir.path().to_path_buf()),
                rules: vec![rule.clone()],
                ..Default::default()
            });
            let mut problems = Vec::new();
            for e in result.errors() {
                problems.push(format!("{} {f}: does not parse: {}", rule.id, e.message));
            }
            for finding in &result.findings {
                problems.push(format!("{} {f}: {}", rule.id, finding.message));
            }
            if known && f == "snippet.bicep" {
                if problems.is_empty() {
                    failures.push(format!(
                        "{}: listed in BICEP_SNIPPET_KNOWN_FAILURES but passes: remove it",
                        rule.id
                    ));
                }
            } else {
                failures.extend(problems);
            }
        }
    }
    assert!(bicep_snippets > 0, "no Bicep snippet was checked");
    assert!(
        failures.is_empty(),
        "{} snippet problem(s):\n{}",
        failures.len(),
        failures.join("\n")
    );
}
