//! Progress over time: two JSON reports (`scan --format json`) compared — controls whose
//! status changed, findings gained and fixed (by fingerprint, so moved lines are not
//! "new").

use serde_json::Value;
use std::collections::BTreeMap;
use std::io::Write;

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct CompareError(String);

fn findings(report: &Value) -> BTreeMap<String, &Value> {
    report["findings"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|f| f["suppression"].is_null())
        .filter_map(|f| Some((f["fingerprint"].as_str()?.to_string(), f)))
        .collect()
}

fn controls(report: &Value) -> BTreeMap<(String, String), String> {
    report["compliance"]["controls"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| {
            Some((
                (
                    c["framework"].as_str()?.to_string(),
                    c["id"].as_str()?.to_string(),
                ),
                c["status"].as_str()?.to_string(),
            ))
        })
        .collect()
}

pub fn check_report(v: &Value, name: &str) -> Result<(), CompareError> {
    if v["format_version"].as_str() != Some("1") || !v["findings"].is_array() {
        return Err(CompareError(format!(
            "{name}: not a basegate JSON report (expected `basegate scan --format json` output, format_version 1)"
        )));
    }
    Ok(())
}

pub fn render(old: &Value, new: &Value, out: &mut dyn Write) -> std::io::Result<()> {
    let (fo, fnew) = (findings(old), findings(new));
    let gained: Vec<_> = fnew.iter().filter(|(k, _)| !fo.contains_key(*k)).collect();
    let fixed: Vec<_> = fo.iter().filter(|(k, _)| !fnew.contains_key(*k)).collect();
    let (co, cn) = (controls(old), controls(new));
    writeln!(
        out,
        "Findings: {} → {} ({} new, {} fixed)",
        fo.len(),
        fnew.len(),
        gained.len(),
        fixed.len()
    )?;
    for fw in ["CIS", "MCSB"] {
        let count = |m: &BTreeMap<(String, String), String>, s: &str| {
            m.iter().filter(|((f, _), st)| f == fw && *st == s).count()
        };
        if co.keys().chain(cn.keys()).any(|(f, _)| f == fw) {
            writeln!(
                out,
                "{fw}: failed {} → {}, passed {} → {}, unknown {} → {}",
                count(&co, "failed"),
                count(&cn, "failed"),
                count(&co, "passed"),
                count(&cn, "passed"),
                count(&co, "unknown"),
                count(&cn, "unknown")
            )?;
        }
    }
    let mut changed: Vec<_> = cn
        .iter()
        .filter_map(|(k, s)| match co.get(k) {
            Some(o) if o != s => Some((k, o.as_str(), s.as_str())),
            None => Some((k, "absent", s.as_str())),
            _ => None,
        })
        .collect();
    changed.extend(
        co.iter()
            .filter(|(k, _)| !cn.contains_key(*k))
            .map(|(k, s)| (k, s.as_str(), "absent")),
    );
    if !changed.is_empty() {
        writeln!(out, "\nControls that changed status:")?;
        for ((fw, id), from, to) in changed {
            let mark = match (from, to) {
                (_, "failed") => "✗",
                ("failed", _) => "✓",
                _ => "·",
            };
            writeln!(out, "  {mark} {fw} {id}: {from} → {to}")?;
        }
    }
    let line = |f: &Value| {
        format!(
            "{} {}:{} {} — {}",
            f["rule_id"].as_str().unwrap_or("?"),
            f["file"].as_str().unwrap_or("?"),
            f["line"].as_u64().unwrap_or(0),
            f["resource"]["address"].as_str().unwrap_or("?"),
            f["message"].as_str().unwrap_or("")
        )
    };
    if !gained.is_empty() {
        writeln!(out, "\nNew findings:")?;
        for (_, f) in &gained {
            writeln!(out, "  + {}", line(f))?;
        }
    }
    if !fixed.is_empty() {
        writeln!(out, "\nFixed findings:")?;
        for (_, f) in &fixed {
            writeln!(out, "  - {}", line(f))?;
        }
    }
    Ok(())
}
