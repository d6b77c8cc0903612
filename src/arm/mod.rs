//! The ARM JSON frontend: templates and parameter files → resources in the ARM dialect.

pub mod expr;
pub mod params;
pub mod template;

use crate::discover::FileKind;
use crate::model::{Diagnostic, Node};
use crate::source::{FileId, SourceFile, SourceMap};
use foldhash::HashMap;
use std::path::{Path, PathBuf};

/// The ARM results of a scan.
#[derive(Debug, Default)]
pub struct Output {
    pub resources: Vec<crate::model::Resource>,
    pub diagnostics: Vec<Diagnostic>,
}

/// Parses a JSON file, turning a syntax error into a diagnostic at its line and column.
pub fn parse_json(file: &SourceFile) -> Result<crate::json::JsonDoc, Diagnostic> {
    crate::json::parse(&file.text, file.id).map_err(|e| {
        Diagnostic::error(
            crate::source::Span::new(file.id, e.offset, e.offset),
            format!("invalid JSON: {}", e.message),
        )
        .with_help("this file is not scanned until it parses")
    })
}

/// Whether the parsed root really is a template (the discover stage matched text only).
fn is_template(root: &Node) -> bool {
    root.get("$schema")
        .and_then(Node::as_str)
        .is_some_and(|s| s.to_ascii_lowercase().contains("deploymenttemplate"))
}

/// Evaluates one template with its parameter file: `X.parameters.json` beside `X.json`, or
/// the file given with `--parameters`.
pub fn evaluate_file(
    sources: &SourceMap,
    src: &SourceFile,
    param_files: &HashMap<PathBuf, FileId>,
    explicit_params: Option<FileId>,
) -> Output {
    let mut out = Output::default();
    let file = src.id;
    let doc = match parse_json(src) {
        Ok(d) => d,
        Err(d) => {
            out.diagnostics.push(d);
            return out;
        }
    };
    if !is_template(&doc.root) {
        return out;
    }
    if doc.root.as_object().is_none() {
        out.diagnostics.push(Diagnostic::error(
            doc.root.span,
            "a template must be a JSON object",
        ));
        return out;
    }
    let param_file =
        explicit_params.or_else(|| param_files.get(&parameter_file_for(&src.path)).copied());
    let mut given = template::ParamValues::default();
    if let Some(pf) = param_file {
        let psrc = sources.get(pf);
        match parse_json(&psrc) {
            Ok(pdoc) => {
                given = params::read(&pdoc.root, &mut out.diagnostics);
                params::check_declared(&doc.root, &given, &pdoc.root, &mut out.diagnostics);
            }
            Err(d) => out.diagnostics.push(d),
        }
    }
    let result = template::evaluate(file, &doc.root, &given);
    out.resources = result.resources;
    out.diagnostics.extend(result.diagnostics);
    out
}

/// `dir/azuredeploy.json` → `dir/azuredeploy.parameters.json`.
pub fn parameter_file_for(template: &Path) -> PathBuf {
    let stem = template
        .file_name()
        .and_then(|n| n.to_str())
        .map(|n| n.trim_end_matches(".json").trim_end_matches(".jsonc"))
        .unwrap_or("");
    template.with_file_name(format!("{stem}.parameters.json"))
}

/// Index of the parameter files of a scan, by path.
pub fn parameter_index(files: &[(FileId, FileKind, PathBuf)]) -> HashMap<PathBuf, FileId> {
    files
        .iter()
        .filter(|(_, k, _)| *k == FileKind::ArmParameters)
        .map(|(id, _, p)| (p.clone(), *id))
        .collect()
}
