//! rules: the rule file format (data in `rules/`, compiled in), loading, and the
//! declarative assertion language that checks evaluate.
//!
//! A rule is one TOML file: identity, documentation in fixed fields, the controls it
//! implements, one check per dialect, and a remediation snippet per language. See
//! `rules/README.md` for the format; `load.rs` turns a file into a [`Rule`] with errors that
//! name the file and the field.

pub mod assert;
pub mod doc;
pub mod load;
pub mod projection;

use crate::model::Dialect;
pub use assert::{Assertion, Verdict};

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    pub fn parse(s: &str) -> Option<Severity> {
        Some(match s.to_ascii_lowercase().as_str() {
            "critical" => Severity::Critical,
            "high" => Severity::High,
            "medium" => Severity::Medium,
            "low" => Severity::Low,
            "info" => Severity::Info,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Critical => "critical",
            Severity::High => "high",
            Severity::Medium => "medium",
            Severity::Low => "low",
            Severity::Info => "info",
        }
    }

    /// GitHub code scanning's `security-severity` scale: critical > 9.0, high 7.0–8.9,
    /// medium 4.0–6.9, low 0.1–3.9.
    pub fn security_severity(self) -> &'static str {
        match self {
            Severity::Critical => "9.5",
            Severity::High => "8.0",
            Severity::Medium => "5.5",
            Severity::Low => "3.0",
            Severity::Info => "1.0",
        }
    }
}

/// A CIS Azure Foundations v3.0.0 recommendation a rule implements.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct CisRef {
    pub id: String,
    pub level: u8,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Controls {
    pub cis: Vec<CisRef>,
    pub mcsb: Vec<String>,
    /// Azure Policy built-in definition ids the rule mirrors.
    pub policy: Vec<String>,
}

/// One check of a rule, for one dialect.
#[derive(Clone, Debug)]
pub struct Check {
    pub dialect: Dialect,
    /// Resource types the check applies to (case-insensitive for ARM).
    pub types: Vec<String>,
    /// Applicability: when it fails the resource is not in scope; when unknown, neither.
    pub when: Option<Assertion>,
    pub assert: Assertion,
}

/// The verdict on a control when no resource a rule applies to is declared.
///
/// Most rules judge a workload's own resources: none declared, nothing to judge. Settings
/// of the subscription (Defender plans, security contacts, the activity-log diagnostic
/// setting, a Bastion host in the hub) usually live in another repository, and "we did not
/// see it" must not read as "it does not apply": those rules say `unknown`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Undeclared {
    #[default]
    NotApplicable,
    Unknown,
}

#[derive(Clone, Debug, Default)]
pub struct Remediation {
    pub text: String,
    pub bicep: Option<String>,
    pub arm: Option<String>,
    pub terraform: Option<String>,
}

#[derive(Clone, Debug)]
pub struct Rule {
    /// `BG1001`: never changes once published.
    pub id: String,
    /// kebab-case, names the bad pattern: `storage-http-traffic`.
    pub name: String,
    pub title: String,
    pub severity: Severity,
    pub description: String,
    pub rationale: String,
    pub controls: Controls,
    pub checks: Vec<Check>,
    pub remediation: Remediation,
    /// `high` when the check decides from declared values alone; `medium` when it relies on
    /// a heuristic (SARIF `precision`).
    pub precision: String,
    /// The checked values may be secrets: messages never print them.
    pub sensitive: bool,
    /// What the compliance view says when the scanned files declare no resource the rule
    /// applies to.
    pub undeclared: Undeclared,
    /// Where the rule came from: `builtin` or the path of the team's rule file.
    pub origin: String,
    /// The file name it was read from (`BG1001.toml`).
    pub file: String,
}

impl Rule {
    pub fn origin_file(&self) -> &str {
        &self.file
    }

    pub fn check_for(&self, dialect: Dialect) -> impl Iterator<Item = &Check> {
        self.checks.iter().filter(move |c| c.dialect == dialect)
    }

    /// Whether any check can fail. A rule whose every check is made of `declared` checks
    /// that something exists: it passes or is unknown, and has no failing case.
    pub fn can_fail(&self) -> bool {
        self.checks.iter().any(|c| c.assert.can_fail())
    }

    /// Whether every check only asks that something exists (`declared`): one resource that
    /// surely does meets the rule's controls.
    pub fn existence_only(&self) -> bool {
        self.checks.iter().all(|c| c.assert.existence_only())
    }

    pub fn frameworks(&self) -> Vec<&'static str> {
        let mut f = Vec::new();
        if !self.controls.cis.is_empty() {
            f.push("cis");
        }
        if !self.controls.mcsb.is_empty() {
            f.push("mcsb");
        }
        f
    }
}

/// The rule files shipped in the binary (`rules/*.toml`, listed by build.rs), as JSON.
pub fn builtin_sources() -> &'static [(&'static str, &'static str)] {
    include!(concat!(env!("OUT_DIR"), "/builtin_rules.rs"))
}

/// Loads the built-in rules. They are tested at build time, so an error here is a bug.
pub fn builtin() -> Vec<Rule> {
    use rayon::prelude::*;
    // In parallel, from the JSON build.rs made of them: reading the rules is most of what a
    // single-file scan costs (the ≤ 20 ms target).
    let mut rules: Vec<Rule> = builtin_sources()
        .par_iter()
        .map(
            |(name, json)| match load::parse_rule_json(json, name, "builtin") {
                Ok(r) => r,
                Err(e) => panic!("built-in rule {name} is invalid: {e}"),
            },
        )
        .collect();
    rules.sort_by(|a, b| a.id.cmp(&b.id));
    rules
}
