//! SARIF 2.1.0 output, shaped for GitHub code scanning: every rule with help and tags,
//! `security-severity`, repository-relative URIs under `%SRCROOT%`, tight regions, stable
//! `partialFingerprints`, and unscanned files as tool execution notifications.
//!
//! A private serde mirror of the parts of the schema we emit (as ruff does): smaller and
//! steadier than a generated binding of the whole schema.

use crate::model::DiagSeverity;
use crate::rules::{doc, Rule, Severity};
use crate::ScanResult;
use serde::Serialize;
use std::io::Write;

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct AutomationDetails {
    id: String,
}

#[derive(Serialize)]
struct Tool<'a> {
    driver: Driver<'a>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Driver<'a> {
    name: &'static str,
    version: &'static str,
    semantic_version: &'static str,
    information_uri: &'static str,
    rules: Vec<ReportingDescriptor<'a>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ReportingDescriptor<'a> {
    id: &'a str,
    name: String,
    short_description: Text,
    full_description: Text,
    help: Help,
    default_configuration: Configuration,
    properties: RuleProperties,
}

#[derive(Serialize)]
struct Text {
    text: String,
}

#[derive(Serialize)]
struct Help {
    text: String,
    markdown: String,
}

#[derive(Serialize)]
struct Configuration {
    level: &'static str,
}

#[derive(Serialize)]
struct RuleProperties {
    tags: Vec<String>,
    #[serde(rename = "security-severity")]
    security_severity: &'static str,
    precision: String,
    #[serde(rename = "problem.severity")]
    problem_severity: &'static str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SarifResult {
    rule_id: String,
    rule_index: usize,
    level: &'static str,
    message: Text,
    locations: [Location; 1],
    #[serde(skip_serializing_if = "Vec::is_empty")]
    related_locations: Vec<RelatedLocation>,
    partial_fingerprints: Fingerprints,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    suppressions: Vec<SarifSuppression>,
    properties: ResultProperties,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SarifSuppression {
    kind: &'static str,
    status: &'static str,
    justification: String,
}

#[derive(Serialize)]
struct ResultProperties {
    resource: String,
    #[serde(rename = "resourceType")]
    resource_type: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    path: String,
}

#[derive(Serialize)]
struct Fingerprints {
    /// The name GitHub reads; our hash is of rule, file, resource address and property path.
    #[serde(rename = "basegate/v1")]
    basegate: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Location {
    physical_location: PhysicalLocation,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct RelatedLocation {
    id: usize,
    physical_location: PhysicalLocation,
    message: Text,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PhysicalLocation {
    artifact_location: ArtifactLocation,
    region: Region,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ArtifactLocation {
    uri: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    uri_base_id: Option<&'static str>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Region {
    start_line: u32,
    start_column: u32,
    end_line: u32,
    end_column: u32,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Notification {
    level: &'static str,
    message: Text,
    locations: [Location; 1],
}

fn level(sev: Severity) -> &'static str {
    match sev {
        Severity::Critical | Severity::High => "error",
        Severity::Medium => "warning",
        Severity::Low | Severity::Info => "note",
    }
}

/// `storage-http-traffic` → `StorageHttpTraffic`: SARIF rule names are identifiers.
fn pascal(name: &str) -> String {
    name.split('-')
        .map(|w| {
            let mut c = w.chars();
            match c.next() {
                Some(f) => f.to_ascii_uppercase().to_string() + c.as_str(),
                None => String::new(),
            }
        })
        .collect()
}

fn tags(rule: &Rule) -> Vec<String> {
    let mut t = vec!["security".to_string()];
    for c in &rule.controls.cis {
        t.push(format!("CIS-Azure-3.0.0:{}", c.id));
        t.push(format!("CIS-Azure-3.0.0:L{}", c.level));
    }
    for m in &rule.controls.mcsb {
        t.push(format!("MCSB:{m}"));
    }
    t.sort();
    t.dedup();
    t
}

/// SARIF messages are sentences: they end with a period (validator rule SARIF2001).
fn sentence(s: &str) -> String {
    let s = s.trim_end();
    if s.ends_with(['.', '!', '?']) {
        s.to_string()
    } else {
        format!("{s}.")
    }
}

fn root_uri(root: &std::path::Path) -> String {
    let mut s = root.to_string_lossy().replace('\\', "/");
    if !s.starts_with('/') {
        s.insert(0, '/');
    }
    if !s.ends_with('/') {
        s.push('/');
    }
    format!("file://{}", percent_encode_path(&s))
}

/// Percent-encodes what may not stand in a URI path (spaces, `#`, `%`, non-ASCII, …).
pub fn percent_encode_path(p: &str) -> String {
    let mut out = String::with_capacity(p.len());
    for b in p.bytes() {
        if b.is_ascii_alphanumeric() || b"/-._~!$&'()*+,;=:@".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn location(result: &ScanResult, span: crate::source::Span) -> PhysicalLocation {
    let r = super::region(result, span);
    PhysicalLocation {
        artifact_location: ArtifactLocation {
            uri: percent_encode_path(&result.rel_path(span.file)),
            uri_base_id: Some("%SRCROOT%"),
        },
        region: Region {
            start_line: r.line,
            start_column: r.col,
            end_line: r.end_line,
            end_column: r.end_col,
        },
    }
}

pub fn render(result: &ScanResult, out: &mut dyn Write) -> std::io::Result<()> {
    let rules = result
        .rules
        .iter()
        .map(|r| ReportingDescriptor {
            id: &r.id,
            name: pascal(&r.name),
            short_description: Text {
                text: sentence(&r.title),
            },
            full_description: Text {
                text: sentence(&r.description),
            },
            help: Help {
                text: doc::help_text(r),
                markdown: doc::help_markdown(r),
            },
            default_configuration: Configuration {
                level: level(r.severity),
            },
            properties: RuleProperties {
                tags: tags(r),
                security_severity: r.severity.security_severity(),
                precision: r.precision.clone(),
                problem_severity: match r.severity {
                    Severity::Critical | Severity::High => "error",
                    Severity::Medium => "warning",
                    _ => "recommendation",
                },
            },
        })
        .collect();
    let result_at = |i: usize| {
        let f = &result.findings[i];
        let res = result.model.get(f.resource);
        SarifResult {
            rule_id: f.rule_id.clone(),
            rule_index: f.rule,
            level: level(f.severity),
            message: Text {
                text: sentence(&f.message),
            },
            locations: [Location {
                physical_location: location(result, f.span),
            }],
            related_locations: res
                .call_chain
                .iter()
                .enumerate()
                .map(|(i, s)| RelatedLocation {
                    id: i + 1,
                    physical_location: location(result, *s),
                    message: Text {
                        text: "The module call that instantiates this resource.".into(),
                    },
                })
                .collect(),
            partial_fingerprints: Fingerprints {
                basegate: f.fingerprint.clone(),
            },
            suppressions: f
                .suppression
                .iter()
                .map(|s| SarifSuppression {
                    kind: match s.kind {
                        crate::triage::SuppressionKind::InSource => "inSource",
                        crate::triage::SuppressionKind::External => "external",
                    },
                    status: "accepted",
                    justification: match (&s.owner, &s.expires) {
                        (Some(o), Some(e)) => {
                            format!("{} (owner {o}, expires {e})", s.justification)
                        }
                        _ => s.justification.clone(),
                    },
                })
                .collect(),
            properties: ResultProperties {
                resource: res.address.clone(),
                resource_type: res.type_name.clone(),
                path: f.path.clone(),
            },
        }
    };
    let notification_at = |i: usize| {
        let d = &result.diagnostics[i];
        Notification {
            level: match d.severity {
                DiagSeverity::Error => "error",
                DiagSeverity::Warning => "warning",
            },
            message: Text {
                text: sentence(&d.message),
            },
            locations: [Location {
                physical_location: location(result, d.span),
            }],
        }
    };
    let mut bases = std::collections::BTreeMap::new();
    bases.insert(
        "%SRCROOT%",
        ArtifactLocation {
            uri: root_uri(&result.root),
            uri_base_id: None,
        },
    );
    // Written as serde_json writes the whole log, field by field in the schema's order, with
    // results and notifications rendered in parallel a batch at a time (report/pretty.rs).
    // Built whole and written on one thread, the log was the peak of a scan with SARIF
    // output, and its slowest stage.
    let mut p = super::pretty::Pretty::new(out);
    p.object(None)?;
    p.value(
        Some("$schema"),
        "https://json.schemastore.org/sarif-2.1.0.json",
    )?;
    p.value(Some("version"), "2.1.0")?;
    p.array(Some("runs"))?;
    p.object(None)?;
    p.value(
        Some("tool"),
        &Tool {
            driver: Driver {
                name: "basegate",
                version: env!("CARGO_PKG_VERSION"),
                semantic_version: env!("CARGO_PKG_VERSION"),
                information_uri: "https://github.com/basegate/basegate",
                rules,
            },
        },
    )?;
    p.value(
        Some("automationDetails"),
        &AutomationDetails {
            id: "basegate/".to_string(),
        },
    )?;
    p.value(Some("originalUriBaseIds"), &bases)?;
    p.array_par(Some("results"), result.findings.len(), 1024, result_at)?;
    p.array(Some("invocations"))?;
    p.object(None)?;
    p.value(Some("executionSuccessful"), &true)?;
    p.array_par(
        Some("toolExecutionNotifications"),
        result.diagnostics.len(),
        1024,
        notification_at,
    )?;
    p.close()?; // the invocation
    p.close()?; // invocations
    p.value(Some("columnKind"), "unicodeCodePoints")?;
    p.close()?; // the run
    p.close()?; // runs
    p.close()
}
