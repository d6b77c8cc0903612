//! Inventory: the declared resources by type and file, and which rules and controls apply
//! to each — what the baseline can see of the estate.

use crate::ScanResult;
use std::collections::BTreeMap;
use std::io::Write;

#[derive(serde::Serialize)]
struct Entry<'a> {
    #[serde(rename = "type")]
    type_name: &'a str,
    address: &'a str,
    file: String,
    line: u32,
    language: &'static str,
    rules: Vec<&'a str>,
    controls: Vec<String>,
}

fn entries(result: &ScanResult) -> Vec<Entry<'_>> {
    let mut out: Vec<Entry> = result
        .model
        .resources
        .iter()
        .map(|r| {
            let rules: Vec<&crate::rules::Rule> = result
                .rules
                .iter()
                .filter(|rule| {
                    rule.checks
                        .iter()
                        .any(|c| c.dialect == r.dialect && c.types.iter().any(|t| r.is_type(t)))
                })
                .collect();
            let mut controls: Vec<String> = rules
                .iter()
                .flat_map(|rule| {
                    rule.controls
                        .cis
                        .iter()
                        .map(|c| format!("CIS {}", c.id))
                        .chain(rule.controls.mcsb.iter().map(|m| format!("MCSB {m}")))
                })
                .collect();
            controls.sort();
            controls.dedup();
            let src = result.sources.get(r.file);
            Entry {
                type_name: &r.type_name,
                address: &r.address,
                file: src.rel_path.clone(),
                line: src.line(r.header.start),
                language: r.language.name(),
                rules: rules.iter().map(|r| r.id.as_str()).collect(),
                controls,
            }
        })
        .collect();
    out.sort_by(|a, b| {
        (a.type_name.to_ascii_lowercase(), &a.file, a.line).cmp(&(
            b.type_name.to_ascii_lowercase(),
            &b.file,
            b.line,
        ))
    });
    out
}

pub fn render_text(result: &ScanResult, out: &mut dyn Write) -> std::io::Result<()> {
    let entries = entries(result);
    let mut by_type: BTreeMap<String, Vec<&Entry>> = BTreeMap::new();
    for e in &entries {
        by_type.entry(e.type_name.to_string()).or_default().push(e);
    }
    for (t, list) in &by_type {
        let rules = list[0].rules.len();
        writeln!(
            out,
            "{t} ({} resource{}, {} rule{})",
            list.len(),
            if list.len() == 1 { "" } else { "s" },
            rules,
            if rules == 1 { "" } else { "s" }
        )?;
        for e in list {
            writeln!(out, "  {}:{}  {}", e.file, e.line, e.address)?;
        }
        if !list[0].controls.is_empty() {
            writeln!(out, "  controls: {}", list[0].controls.join(", "))?;
        }
    }
    let unchecked = by_type.values().filter(|l| l[0].rules.is_empty()).count();
    writeln!(
        out,
        "\n{} resources of {} types; {} types have no rule.",
        entries.len(),
        by_type.len(),
        unchecked
    )
}

pub fn render_json(result: &ScanResult, out: &mut dyn Write) -> std::io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, &entries(result))?;
    writeln!(out)
}
