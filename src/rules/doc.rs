//! Rule documentation, generated from the rule file alone: the SARIF `help`, `basegate
//! explain` and docs/rules.md all come from here, so the text is never written twice.

use super::Rule;

/// The rule's documentation as Markdown, in fixed sections (as ruff and Clippy do).
pub fn help_markdown(rule: &Rule) -> String {
    let mut out = String::new();
    out.push_str(&format!(
        "## {} ({}): {}\n\n",
        rule.id, rule.name, rule.title
    ));
    out.push_str(&format!("**Severity:** {}", rule.severity.as_str()));
    let controls = control_list(rule);
    if !controls.is_empty() {
        out.push_str(&format!(" · **Controls:** {controls}"));
    }
    out.push_str("\n\n### What it does\n\n");
    out.push_str(rule.description.trim());
    out.push_str("\n\n");
    if !rule.rationale.trim().is_empty() {
        out.push_str("### Why it matters\n\n");
        out.push_str(rule.rationale.trim());
        out.push_str("\n\n");
    }
    let langs = [
        ("Bicep", "bicep", &rule.remediation.bicep),
        ("ARM JSON", "json", &rule.remediation.arm),
        ("Terraform", "hcl", &rule.remediation.terraform),
    ];
    if !rule.remediation.text.trim().is_empty() || langs.iter().any(|l| l.2.is_some()) {
        out.push_str("### How to fix\n\n");
        if !rule.remediation.text.trim().is_empty() {
            out.push_str(rule.remediation.text.trim());
            out.push_str("\n\n");
        }
        for (title, fence, snippet) in langs {
            if let Some(s) = snippet {
                out.push_str(&format!(
                    "{title}:\n\n```{fence}\n{}\n```\n\n",
                    s.trim_end()
                ));
            }
        }
    }
    if !rule.controls.policy.is_empty() {
        out.push_str("### Azure Policy\n\n");
        for p in &rule.controls.policy {
            out.push_str(&format!("- built-in definition `{p}`\n"));
        }
        out.push('\n');
    }
    out
}

/// `CIS 4.1 (L1), MCSB DP-3`.
pub fn control_list(rule: &Rule) -> String {
    let mut parts: Vec<String> = rule
        .controls
        .cis
        .iter()
        .map(|c| format!("CIS {} (L{})", c.id, c.level))
        .collect();
    parts.extend(rule.controls.mcsb.iter().map(|m| format!("MCSB {m}")));
    parts.join(", ")
}

/// The same text without Markdown, for SARIF `help.text` and terminals.
pub fn help_text(rule: &Rule) -> String {
    help_markdown(rule)
        .lines()
        .filter(|l| !l.starts_with("```"))
        .map(|l| l.trim_start_matches('#').trim_start().replace("**", ""))
        .collect::<Vec<_>>()
        .join("\n")
}

const CIS_TSV: &str = include_str!("../../controls/cis-azure-v3.0.0.tsv");

/// CIS v3.0.0 coverage: (recommendations expressible in ARM/Bicep/azurerm, covered by a
/// rule, covered with an ARM check, covered with a Terraform check).
pub fn cis_coverage(rules: &[Rule]) -> (usize, usize, usize, usize) {
    let mut expressible = 0;
    let (mut any, mut arm, mut tf) = (0, 0, 0);
    for line in CIS_TSV.lines().skip(1) {
        let cols: Vec<&str> = line.split('\t').collect();
        let [id, _level, iac, other, _mcsb, _title] = cols[..] else {
            continue;
        };
        if iac == "no" || other == "yes" {
            continue;
        }
        expressible += 1;
        let mapped: Vec<&Rule> = rules
            .iter()
            .filter(|r| r.controls.cis.iter().any(|c| c.id == id))
            .collect();
        if !mapped.is_empty() {
            any += 1;
        }
        if mapped
            .iter()
            .any(|r| r.check_for(crate::model::Dialect::Arm).next().is_some())
        {
            arm += 1;
        }
        if mapped.iter().any(|r| {
            r.check_for(crate::model::Dialect::Terraform)
                .next()
                .is_some()
        }) {
            tf += 1;
        }
    }
    (expressible, any, arm, tf)
}

/// The one-line coverage summary `basegate rules` prints and the reference opens with.
pub fn coverage_line(rules: &[Rule]) -> String {
    let (n, any, arm, tf) = cis_coverage(rules);
    format!(
        "CIS v3.0.0: {any}/{n} IaC-expressible recommendations covered (Bicep/ARM/azapi {arm}, Terraform azurerm {tf})"
    )
}

/// docs/rules.md: every rule, generated from the rule files (kept current by a test).
pub fn reference_markdown(rules: &[Rule]) -> String {
    let mut out = String::new();
    out.push_str("# basegate rules\n\n");
    out.push_str("Generated from `rules/*.toml` by `basegate rules --markdown`; a test fails when it is stale.\n\n");
    out.push_str(&format!("{}.  \n", coverage_line(rules)));
    let mcsb: std::collections::BTreeSet<&str> = rules
        .iter()
        .flat_map(|r| r.controls.mcsb.iter().map(String::as_str))
        .collect();
    out.push_str(&format!(
        "{} rules; {} MCSB controls referenced.\n\n",
        rules.len(),
        mcsb.len()
    ));
    out.push_str("| Rule | Name | Severity | Title | CIS | MCSB | Bicep/ARM | Terraform |\n");
    out.push_str("|---|---|---|---|---|---|---|---|\n");
    for r in rules {
        let cis: Vec<String> = r
            .controls
            .cis
            .iter()
            .map(|c| format!("{} (L{})", c.id, c.level))
            .collect();
        let yes = |d| {
            if r.check_for(d).next().is_some() {
                "✓"
            } else {
                "—"
            }
        };
        out.push_str(&format!(
            "| [{id}](#{anchor}) | `{name}` | {sev} | {title} | {cis} | {mcsb} | {arm} | {tf} |\n",
            id = r.id,
            anchor = r.id.to_ascii_lowercase(),
            name = r.name,
            sev = r.severity.as_str(),
            title = r.title.replace('|', "\\|"),
            cis = cis.join(", "),
            mcsb = r.controls.mcsb.join(", "),
            arm = yes(crate::model::Dialect::Arm),
            tf = yes(crate::model::Dialect::Terraform),
        ));
    }
    out.push('\n');
    for r in rules {
        out.push_str(&format!("<a id=\"{}\"></a>\n\n", r.id.to_ascii_lowercase()));
        // One heading level down inside the reference.
        for line in help_markdown(r).lines() {
            if line.starts_with('#') {
                out.push('#');
            }
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}
