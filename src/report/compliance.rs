//! The posture per control: every recommendation of the enforced baseline as passed,
//! failed, unknown, not applicable, manual (not expressible in IaC) — and, honestly, "not
//! covered" where IaC could express it but no rule checks it yet — with the resources
//! behind each verdict. The JSON, Markdown and HTML reports all render this one model.

use crate::check::Outcome;
use crate::rules::Undeclared;
use crate::ScanResult;
use foldhash::{HashMap, HashMapExt};
use serde::Serialize;
use std::collections::BTreeMap;

const CIS_TSV: &str = include_str!("../../controls/cis-azure-v3.0.0.tsv");
const MCSB_TSV: &str = include_str!("../../controls/mcsb-v1.tsv");

/// Which baseline is enforced (from the configuration).
#[derive(Clone, Copy, Debug, Serialize)]
pub struct Enforced {
    pub cis: bool,
    pub cis_level: u8,
    pub mcsb: bool,
}

impl Default for Enforced {
    fn default() -> Self {
        Enforced {
            cis: true,
            cis_level: 2,
            mcsb: true,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Failed,
    Unknown,
    Accepted,
    Passed,
    NotApplicable,
    NotCovered,
    Manual,
}

impl Status {
    pub fn label(self) -> &'static str {
        match self {
            Status::Failed => "failed",
            Status::Unknown => "unknown",
            Status::Accepted => "accepted",
            Status::Passed => "passed",
            Status::NotApplicable => "not applicable",
            Status::NotCovered => "not covered",
            Status::Manual => "manual",
        }
    }

    pub fn explain(self) -> &'static str {
        match self {
            Status::Failed => "at least one resource violates it",
            Status::Unknown => "values not known before deployment decide it",
            Status::Accepted => "violations are accepted by suppressions, exceptions or the baseline file",
            Status::Passed => "every resource it applies to meets it",
            Status::NotApplicable => "no resource of the kinds it applies to is declared",
            Status::NotCovered => "expressible in IaC, but no rule of this baseline checks it yet",
            Status::Manual => "not expressible in infrastructure code (tenant, identity or runtime settings): verify by hand",
        }
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct ResourceVerdict<'a> {
    pub address: &'a str,
    pub file: &'a str,
    pub line: u32,
    pub outcome: &'static str,
}

#[derive(Clone, Debug, Serialize)]
pub struct Control<'a> {
    pub framework: &'static str,
    pub id: String,
    pub title: String,
    /// CIS section (`4 Storage Accounts`) or MCSB domain.
    pub section: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub level: Option<u8>,
    pub status: Status,
    pub rules: Vec<String>,
    pub resources: Vec<ResourceVerdict<'a>>,
    /// Why the status is what it is, when the status alone would mislead.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<&'static str>,
}

/// The note on a control whose rules judge subscription settings none of the scanned files
/// declare.
pub const UNDECLARED_NOTE: &str =
    "not declared in the scanned files: it may be managed elsewhere; verify where it is";

#[derive(Clone, Debug, Serialize)]
pub struct Posture<'a> {
    pub enforced: Enforced,
    pub controls: Vec<Control<'a>>,
}

impl<'a> Posture<'a> {
    /// Counts per status, for summaries.
    pub fn counts(&self, framework: &str) -> BTreeMap<Status, usize> {
        let mut m = BTreeMap::new();
        for c in self.controls.iter().filter(|c| c.framework == framework) {
            *m.entry(c.status).or_insert(0) += 1;
        }
        m
    }

    /// Sections in order with their controls.
    pub fn sections(&self, framework: &str) -> Vec<(String, Vec<&Control<'a>>)> {
        let mut out: Vec<(String, Vec<&Control<'a>>)> = Vec::new();
        for c in self.controls.iter().filter(|c| c.framework == framework) {
            match out.iter_mut().find(|(s, _)| *s == c.section) {
                Some((_, v)) => v.push(c),
                None => out.push((c.section.clone(), vec![c])),
            }
        }
        out
    }
}

fn cis_section(id: &str) -> &'static str {
    let mut parts = id.split('.');
    match (parts.next(), parts.next()) {
        (Some("2"), _) => "2 Identity",
        (Some("3"), Some("1")) => "3.1 Microsoft Defender for Cloud",
        (Some("3"), Some("2")) => "3.2 Microsoft Defender for IoT",
        (Some("3"), Some("3")) => "3.3 Key Vault",
        (Some("4"), _) => "4 Storage Accounts",
        (Some("5"), _) => "5 Database Services",
        (Some("6"), _) => "6 Logging and Monitoring",
        (Some("7"), _) => "7 Networking",
        (Some("8"), _) => "8 Virtual Machines",
        (Some("9"), _) => "9 App Service",
        _ => "10 Miscellaneous",
    }
}

impl Plan<'_> {
    /// Every control, judged: the posture the Markdown and HTML reports show.
    pub fn posture(&self) -> Posture<'_> {
        use rayon::prelude::*;
        let controls = (0..self.len())
            .into_par_iter()
            .map(|i| self.control(i))
            .collect();
        Posture {
            enforced: self.enforced,
            controls,
        }
    }
}

/// What each control of the enforced baseline is and which rules check it, in report order,
/// with the scan's evaluations indexed by rule: [`Plan::control`] judges one control. The
/// JSON report judges and writes controls a chunk at a time; holding every control's
/// resource list at once was the peak of a large scan.
pub struct Plan<'r> {
    result: &'r ScanResult,
    specs: Vec<Spec>,
    /// Per (rule, resource) with a finding: whether one of its findings is active.
    active_fail: HashMap<(usize, u32), bool>,
    /// Evaluations by rule, in their order: a control reads only its rules'.
    by_rule: Vec<Vec<&'r crate::check::Evaluation>>,
    files: Vec<std::sync::Arc<crate::source::SourceFile>>,
    enforced: Enforced,
}

struct Spec {
    framework: &'static str,
    id: &'static str,
    title: &'static str,
    section: &'static str,
    level: Option<u8>,
    /// Indexes of the rules that check it, ascending.
    rules: Vec<usize>,
    /// Without a rule: manual or not covered. None: judged by its rules.
    fixed: Option<Status>,
}

impl<'r> Plan<'r> {
    pub fn new(result: &'r ScanResult, enforced: Enforced) -> Plan<'r> {
        let mut active_fail: HashMap<(usize, u32), bool> = HashMap::new();
        for f in &result.findings {
            let e = active_fail.entry((f.rule, f.resource.0)).or_insert(false);
            *e |= f.suppression.is_none();
        }
        let mut by_rule: Vec<Vec<&crate::check::Evaluation>> = vec![Vec::new(); result.rules.len()];
        for ev in &result.evaluations {
            if let Some(v) = by_rule.get_mut(ev.rule) {
                v.push(ev);
            }
        }
        Plan {
            result,
            specs: specs(result, enforced),
            active_fail,
            by_rule,
            files: result.sources.files(),
            enforced,
        }
    }

    pub fn len(&self) -> usize {
        self.specs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.specs.is_empty()
    }

    /// The `i`th control with its verdict and the resources behind it.
    pub fn control(&self, i: usize) -> Control<'_> {
        let spec = &self.specs[i];
        let (status, resources, note) = match spec.fixed {
            Some(status) => (status, Vec::new(), None),
            None => self.verdicts(&spec.rules),
        };
        Control {
            framework: spec.framework,
            id: spec.id.to_string(),
            title: spec.title.to_string(),
            section: spec.section.to_string(),
            level: spec.level,
            status,
            rules: spec
                .rules
                .iter()
                .map(|&i| self.result.rules[i].id.clone())
                .collect(),
            resources,
            note,
        }
    }

    fn verdicts(
        &self,
        rules: &[usize],
    ) -> (Status, Vec<ResourceVerdict<'_>>, Option<&'static str>) {
        let result = self.result;
        // Per rule: the worst outcome, and whether any resource passed.
        let mut per_rule: BTreeMap<usize, (Status, bool)> = BTreeMap::new();
        let mut resources = Vec::new();
        // `rules` is ascending, so this is the order of the evaluations.
        for ev in rules.iter().flat_map(|&r| self.by_rule[r].iter().copied()) {
            let outcome = match ev.outcome {
                Outcome::Fail
                    if self
                        .active_fail
                        .get(&(ev.rule, ev.resource.0))
                        .copied()
                        .unwrap_or(true) =>
                {
                    Status::Failed
                }
                Outcome::Fail => Status::Accepted,
                Outcome::Unknown => Status::Unknown,
                Outcome::Pass => Status::Passed,
            };
            let r = per_rule
                .entry(ev.rule)
                .or_insert((Status::NotApplicable, false));
            r.0 = r.0.min(outcome);
            r.1 |= outcome == Status::Passed;
            let res = result.model.get(ev.resource);
            let src = &self.files[res.file.0 as usize];
            resources.push(ResourceVerdict {
                address: &res.address,
                file: &src.rel_path,
                line: src.line(res.header.start),
                outcome: outcome.label(),
            });
        }
        // An existence check (a rule made only of `declared`) is met by one resource that
        // surely exists; others that may not be deployed do not make it unknown.
        let status = per_rule
            .iter()
            .map(|(&rule, &(worst, passed))| {
                if passed && result.rules[rule].existence_only() {
                    Status::Passed
                } else {
                    worst
                }
            })
            .min()
            .unwrap_or(Status::NotApplicable);
        resources.sort_by(|a, b| (a.file, a.line, a.address).cmp(&(b.file, b.line, b.address)));
        resources
            .dedup_by(|a, b| a.address == b.address && a.file == b.file && a.outcome == b.outcome);
        if resources.is_empty()
            && rules
                .iter()
                .any(|&i| result.rules[i].undeclared == Undeclared::Unknown)
        {
            return (Status::Unknown, resources, Some(UNDECLARED_NOTE));
        }
        (status, resources, None)
    }
}

/// The enforced controls in report order: CIS (to the enforced level), then MCSB.
fn specs(result: &ScanResult, enforced: Enforced) -> Vec<Spec> {
    let mut specs = Vec::new();
    if enforced.cis {
        for line in CIS_TSV.lines().skip(1) {
            let cols: Vec<&str> = line.split('\t').collect();
            let [id, level, iac, other, _mcsb, title] = cols[..] else {
                continue;
            };
            let level: u8 = level.parse().unwrap_or(1);
            if level > enforced.cis_level {
                continue;
            }
            let rules: Vec<usize> = result
                .rules
                .iter()
                .enumerate()
                .filter(|(_, r)| r.controls.cis.iter().any(|c| c.id == id))
                .map(|(i, _)| i)
                .collect();
            specs.push(Spec {
                framework: "CIS",
                id,
                title,
                section: cis_section(id),
                level: Some(level),
                fixed: if iac == "no" || other == "yes" {
                    Some(Status::Manual)
                } else if rules.is_empty() {
                    Some(Status::NotCovered)
                } else {
                    None
                },
                rules,
            });
        }
    }
    if enforced.mcsb {
        for line in MCSB_TSV.lines().skip(1) {
            let cols: Vec<&str> = line.split('\t').collect();
            let [id, domain, title] = cols[..] else {
                continue;
            };
            let rules: Vec<usize> = result
                .rules
                .iter()
                .enumerate()
                .filter(|(_, r)| r.controls.mcsb.iter().any(|m| m == id))
                .map(|(i, _)| i)
                .collect();
            // Most MCSB controls are processes (incident response, governance): without a
            // rule they are a matter for people, not for templates.
            specs.push(Spec {
                framework: "MCSB",
                id,
                title,
                section: domain,
                level: None,
                fixed: rules.is_empty().then_some(Status::Manual),
                rules,
            });
        }
    }
    specs
}
