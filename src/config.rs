//! config: `.basegate.toml`, the team's baseline as a reviewed file — which frameworks and
//! profile levels are enforced, rules switched off, severity overrides, paths, the failure
//! threshold, and the exceptions register.
//!
//! Unknown keys and wrong types are errors with line and column (serde's
//! `deny_unknown_fields` through the toml crate, whose errors carry the span): a typo in a
//! security policy must never silently weaken it.

use crate::rules::Severity;
use serde::Deserialize;
use std::path::{Path, PathBuf};

pub const FILE_NAME: &str = ".basegate.toml";

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}: {message}", path.display())]
    Invalid { path: PathBuf, message: String },
}

#[derive(Debug, Default, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub baseline: BaselineSection,
    #[serde(default)]
    pub rules: RulesSection,
    #[serde(default)]
    pub paths: PathsSection,
    #[serde(default)]
    pub terraform: TerraformSection,
    #[serde(default)]
    pub exceptions: Vec<Exception>,
    /// Where the file was read from; exception paths and rule folders are relative to it.
    #[serde(skip)]
    pub dir: PathBuf,
    #[serde(skip)]
    pub path: Option<PathBuf>,
}

#[derive(Debug, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct BaselineSection {
    /// `cis`, `mcsb`: rules mapped to at least one enforced framework run.
    #[serde(default = "default_frameworks")]
    pub frameworks: Vec<Framework>,
    /// CIS profile level enforced: 1 runs level-1 recommendations only, 2 runs both.
    #[serde(default = "default_level")]
    pub cis_level: u8,
    pub fail_on: Option<SeverityName>,
    /// The longest an exception may run, in days from today.
    #[serde(default = "default_max_days")]
    pub max_exception_days: u32,
}

impl Default for BaselineSection {
    fn default() -> Self {
        BaselineSection {
            frameworks: default_frameworks(),
            cis_level: default_level(),
            fail_on: None,
            max_exception_days: default_max_days(),
        }
    }
}

fn default_frameworks() -> Vec<Framework> {
    vec![Framework::Cis, Framework::Mcsb]
}
fn default_level() -> u8 {
    2
}
fn default_max_days() -> u32 {
    365
}

#[derive(Debug, Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Framework {
    Cis,
    Mcsb,
}

#[derive(Debug, Deserialize, Clone, Copy)]
#[serde(rename_all = "lowercase")]
pub enum SeverityName {
    Critical,
    High,
    Medium,
    Low,
    Info,
}

impl From<SeverityName> for Severity {
    fn from(s: SeverityName) -> Severity {
        match s {
            SeverityName::Critical => Severity::Critical,
            SeverityName::High => Severity::High,
            SeverityName::Medium => Severity::Medium,
            SeverityName::Low => Severity::Low,
            SeverityName::Info => Severity::Info,
        }
    }
}

#[derive(Debug, Default, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct RulesSection {
    /// Rule ids or names switched off.
    #[serde(default)]
    pub disable: Vec<String>,
    /// Severity overrides: `BG1404 = "low"`.
    #[serde(default)]
    pub severity: std::collections::BTreeMap<String, SeverityName>,
    /// Folders of the team's own rule files, relative to this file.
    #[serde(default)]
    pub dirs: Vec<PathBuf>,
}

#[derive(Debug, Default, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct PathsSection {
    #[serde(default)]
    pub exclude: Vec<String>,
    #[serde(default)]
    pub include: Vec<String>,
}

#[derive(Debug, Default, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct TerraformSection {
    /// azurerm provider version to assume when the code does not pin one.
    pub azurerm_version: Option<String>,
    #[serde(default)]
    pub var_files: Vec<PathBuf>,
}

/// One documented deviation from the baseline.
#[derive(Debug, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct Exception {
    /// Rule id or name.
    pub rule: String,
    /// Resource address, or a glob over addresses (`module.legacy.*`).
    pub resource: String,
    /// Optional: only in this file (path relative to the scan root; a glob).
    pub file: Option<String>,
    pub justification: String,
    pub owner: String,
    /// `2026-12-31`.
    pub expires: toml::value::Datetime,
    pub ticket: Option<String>,
}

impl Config {
    /// Finds `.basegate.toml` by walking up from `start`, stopping at the repository root
    /// (a folder with `.git`) so a config outside the repository is never picked up.
    pub fn discover(start: &Path) -> Option<PathBuf> {
        let abs = std::path::absolute(start).ok()?;
        let mut dir = if abs.is_file() {
            abs.parent()?.to_path_buf()
        } else {
            abs
        };
        loop {
            let candidate = dir.join(FILE_NAME);
            if candidate.is_file() {
                return Some(candidate);
            }
            if dir.join(".git").exists() {
                return None;
            }
            dir = dir.parent()?.to_path_buf();
        }
    }

    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let mut cfg = Config::parse(&text).map_err(|message| ConfigError::Invalid {
            path: path.to_path_buf(),
            message,
        })?;
        cfg.dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        cfg.path = Some(path.to_path_buf());
        Ok(cfg)
    }

    pub fn parse(text: &str) -> Result<Config, String> {
        let cfg: Config = toml::from_str(text).map_err(|e| e.to_string().trim_end().to_string())?;
        cfg.validate(text)?;
        Ok(cfg)
    }

    /// Checks what serde cannot: required text is not blank, levels and dates make sense.
    fn validate(&self, text: &str) -> Result<(), String> {
        if !(1..=2).contains(&self.baseline.cis_level) {
            return Err(format!(
                "baseline.cis_level must be 1 or 2, not {}",
                self.baseline.cis_level
            ));
        }
        for (i, e) in self.exceptions.iter().enumerate() {
            let at = format!(
                "exception #{} (rule {}{})",
                i + 1,
                e.rule,
                line_of_exception(text, i)
                    .map(|l| format!(", line {l}"))
                    .unwrap_or_default()
            );
            if e.justification.trim().is_empty() {
                return Err(format!(
                    "{at}: `justification` must say why the deviation is accepted"
                ));
            }
            if e.owner.trim().is_empty() {
                return Err(format!("{at}: `owner` must name who answers for it"));
            }
            if e.resource.trim().is_empty() {
                return Err(format!(
                    "{at}: `resource` must name a resource address or glob"
                ));
            }
            if date_of(&e.expires).is_none() {
                return Err(format!(
                    "{at}: `expires` must be a date like 2026-12-31, not {}",
                    e.expires
                ));
            }
            globset::Glob::new(&e.resource).map_err(|err| format!("{at}: `resource`: {err}"))?;
            if let Some(f) = &e.file {
                globset::Glob::new(f).map_err(|err| format!("{at}: `file`: {err}"))?;
            }
        }
        Ok(())
    }
}

/// The line where the `i`-th `[[exceptions]]` table starts, for messages.
fn line_of_exception(text: &str, i: usize) -> Option<usize> {
    text.lines()
        .enumerate()
        .filter(|(_, l)| l.trim_start().starts_with("[[exceptions]]"))
        .nth(i)
        .map(|(n, _)| n + 1)
}

/// A calendar date, ordered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Date {
    pub year: i32,
    pub month: u8,
    pub day: u8,
}

impl std::fmt::Display for Date {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

impl Date {
    /// Today in UTC, from the system clock; `BASEGATE_TODAY=YYYY-MM-DD` overrides it (tests,
    /// and reproducing a past CI run).
    pub fn today() -> Date {
        if let Some(d) = std::env::var("BASEGATE_TODAY")
            .ok()
            .and_then(|s| Date::parse(&s))
        {
            return d;
        }
        let secs = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0);
        Date::from_days(secs.div_euclid(86_400))
    }

    pub fn parse(s: &str) -> Option<Date> {
        let mut it = s.trim().splitn(3, '-');
        let year = it.next()?.parse().ok()?;
        let month: u8 = it.next()?.parse().ok()?;
        let day: u8 = it.next()?.parse().ok()?;
        ((1..=12).contains(&month) && (1..=31).contains(&day)).then_some(Date { year, month, day })
    }

    /// Days since 1970-01-01 → date (Howard Hinnant's civil-from-days).
    pub fn from_days(z: i64) -> Date {
        let z = z + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z.rem_euclid(146_097);
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let y = yoe + era * 400;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let d = (doy - (153 * mp + 2) / 5 + 1) as u8;
        let m = if mp < 10 { mp + 3 } else { mp - 9 } as u8;
        Date {
            year: (y + if m <= 2 { 1 } else { 0 }) as i32,
            month: m,
            day: d,
        }
    }

    /// Date → days since 1970-01-01.
    pub fn to_days(self) -> i64 {
        let y = self.year as i64 - if self.month <= 2 { 1 } else { 0 };
        let era = y.div_euclid(400);
        let yoe = y.rem_euclid(400);
        let m = self.month as i64;
        let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + self.day as i64 - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        era * 146_097 + doe - 719_468
    }
}

pub fn date_of(d: &toml::value::Datetime) -> Option<Date> {
    match (&d.date, &d.time) {
        (Some(date), None) => Some(Date {
            year: date.year as i32,
            month: date.month,
            day: date.day,
        }),
        _ => None,
    }
}

/// The commented starter file `basegate init` writes.
pub const STARTER: &str = r#"# basegate configuration: the security baseline this repository holds itself to.
# Reviewed like code. Every key is optional; unknown keys are errors.

[baseline]
# Frameworks enforced: rules mapped to at least one of them run.
frameworks = ["cis", "mcsb"]
# CIS Microsoft Azure Foundations v3.0.0 profile level: 1, or 2 (level 1 + level 2).
cis_level = 2
# The gate fails on findings of this severity or higher (the --fail-on flag wins).
fail_on = "high"
# The longest an exception may be granted for, in days from today.
max_exception_days = 365

[rules]
# Rules switched off, by id or name.
disable = []
# Severity overrides.
# severity = { BG1404 = "low" }
# Folders with the team's own rule files (see rules/README.md for the format).
# dirs = ["policy/rules"]

[paths]
# Globs relative to the repository root.
exclude = []

[terraform]
# azurerm provider version to assume when the configuration does not pin one.
# azurerm_version = "4.20.0"

# Each deviation from the baseline, documented: who, why, until when.
# [[exceptions]]
# rule = "BG1001"
# resource = "Microsoft.Storage/storageAccounts/legacylogs"   # address or glob
# file = "infra/legacy.json"                                   # optional
# justification = "Legacy client needs HTTP until the migration in INFRA-123."
# owner = "platform-team@example.com"
# expires = 2026-12-31
# ticket = "https://example.com/INFRA-123"
"#;

impl Config {
    /// The rules this baseline enforces: those mapped to an enforced framework (CIS at the
    /// configured profile level), minus the disabled ones, with severity overrides applied.
    /// A team rule mapped to no framework always runs. `frameworks` overrides the file's.
    pub fn select_rules(
        &self,
        rules: Vec<crate::rules::Rule>,
        frameworks: Option<&[Framework]>,
    ) -> Result<Vec<crate::rules::Rule>, String> {
        let known = |key: &str| {
            rules
                .iter()
                .any(|r| r.id.eq_ignore_ascii_case(key) || r.name == key)
        };
        for d in &self.rules.disable {
            if !known(d) {
                return Err(format!("rules.disable names unknown rule `{d}`"));
            }
        }
        for k in self.rules.severity.keys() {
            if !known(k) {
                return Err(format!("rules.severity names unknown rule `{k}`"));
            }
        }
        let frameworks = frameworks.unwrap_or(&self.baseline.frameworks);
        let level = self.baseline.cis_level;
        Ok(rules
            .into_iter()
            .filter(|r| {
                !self
                    .rules
                    .disable
                    .iter()
                    .any(|d| r.id.eq_ignore_ascii_case(d) || &r.name == d)
            })
            .filter(|r| {
                let c = &r.controls;
                let unmapped = c.cis.is_empty() && c.mcsb.is_empty();
                let cis =
                    frameworks.contains(&Framework::Cis) && c.cis.iter().any(|x| x.level <= level);
                let mcsb = frameworks.contains(&Framework::Mcsb) && !c.mcsb.is_empty();
                unmapped || cis || mcsb
            })
            .map(|mut r| {
                let over = self
                    .rules
                    .severity
                    .iter()
                    .find(|(k, _)| r.id.eq_ignore_ascii_case(k) || &r.name == *k);
                if let Some((_, s)) = over {
                    r.severity = (*s).into();
                }
                r
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starter_parses() {
        let c = Config::parse(STARTER).unwrap();
        assert_eq!(c.baseline.cis_level, 2);
    }

    #[test]
    fn unknown_keys_are_errors_with_position() {
        let e = Config::parse("[baseline]\nframework = [\"cis\"]\n").unwrap_err();
        assert!(
            e.contains("line 2") && e.contains("unknown field `framework`"),
            "{e}"
        );
        let e = Config::parse("[baseline]\ncis_level = \"two\"\n").unwrap_err();
        assert!(e.contains("line 2"), "{e}");
    }

    #[test]
    fn exceptions_need_owner_justification_and_a_date() {
        let base = "[[exceptions]]\nrule = \"BG1001\"\nresource = \"x\"\njustification = \"because\"\nowner = \"me\"\nexpires = 2026-12-31\n";
        assert!(Config::parse(base).is_ok());
        let e = Config::parse(&base.replace("owner = \"me\"\n", "")).unwrap_err();
        assert!(e.contains("missing field `owner`"), "{e}");
        let e = Config::parse(&base.replace("\"because\"", "\"  \"")).unwrap_err();
        assert!(e.contains("justification") && e.contains("line 1"), "{e}");
        let e = Config::parse(&base.replace("2026-12-31", "\"next year\"")).unwrap_err();
        assert!(e.contains("expires"), "{e}");
    }

    #[test]
    fn dates() {
        let d = Date::parse("2026-11-25").unwrap();
        assert_eq!(Date::from_days(d.to_days()), d);
        assert_eq!(Date::from_days(0).to_string(), "1970-01-01");
        assert_eq!(
            Date::parse("2024-02-29").unwrap().to_days() + 1,
            Date::parse("2024-03-01").unwrap().to_days()
        );
    }
}
