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
