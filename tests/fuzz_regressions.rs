//! Inputs the fuzz targets (`fuzz/`, see fuzz/README.md) found, or that their harnesses
//! guard against, run through the public API the same way the targets do. Each test names
//! the target and what went wrong before the fix.

use basegate::model::Diagnostic;
use basegate::source::{SourceMap, Span};
use std::path::{Path, PathBuf};

/// Every span inside its file's text and on character boundaries (the targets' invariant).
fn assert_spans(sources: &SourceMap, spans: impl IntoIterator<Item = Span>) {
    for span in spans {
        let f = sources.get(span.file);
        let (s, e) = (span.start as usize, span.end as usize);
        assert!(s <= e && e <= f.text.len(), "span {s}..{e} out of the text");
        assert!(f.text.is_char_boundary(s) && f.text.is_char_boundary(e));
    }
}

/// The `bicep` target: `text` as `/fuzz/main.bicep`, evaluated.
fn bicep(text: &str) -> (SourceMap, basegate::bicep::Output) {
    let parsed = basegate::bicep::parse(text);
    for e in &parsed.errors {
        assert!(e.range.start <= e.range.end && e.range.end as usize <= text.len());
    }
    let sources = SourceMap::default();
    let id = sources.add(
        PathBuf::from("/fuzz/main.bicep"),
        "main.bicep".into(),
        text.to_owned(),
    );
    let out = basegate::bicep::evaluate(&sources, &[id], Path::new("/fuzz"));
    assert_spans(&sources, out.diagnostics.iter().map(|d| d.span));
    assert_spans(&sources, out.resources.iter().map(|r| r.header));
    (sources, out)
}

fn messages(diags: &[Diagnostic]) -> Vec<&str> {
    diags.iter().map(|d| d.message.as_str()).collect()
}

/// Found reading the `bicep` harness: a module path is written in the scanned code and was
/// read with `fs::read` whatever it named, so `module m '../../../dev/zero'` made the gate
/// read forever (and a FIFO blocked it). Now only regular files are read. `/dev/null` is the
/// harmless stand-in: before the fix it read as an empty module, without a word.
#[cfg(unix)]
#[test]
fn bicep_module_path_naming_a_device_is_not_read() {
    for path in ["/dev/null", "../../../../../../../../dev/null"] {
        let (_, out) = bicep(&format!("module m '{path}' = {{\n  name: 'm'\n}}\n"));
        let msgs = messages(&out.diagnostics);
        assert!(
            msgs.iter().any(|m| m.contains("is not a regular file")),
            "{path}: {msgs:?}"
        );
    }
}

/// The `arm_json` target: `text` parsed and evaluated as a template, every span checked.
fn arm_json(text: &str) -> basegate::arm::template::Output {
    let sources = SourceMap::default();
    let file = sources.add(
        PathBuf::from("/fuzz/azuredeploy.json"),
        "azuredeploy.json".into(),
        text.to_owned(),
    );
    let doc = basegate::json::parse(text, file).expect("the input parses");
    let out = basegate::arm::template::evaluate(file, &doc.root, &Default::default());
    assert_spans(&sources, out.diagnostics.iter().map(|d| d.span));
    assert_spans(&sources, out.resources.iter().map(|r| r.header));
    out
}

/// Found by `arm_json` (crash-495f7e23…, minimized): an expression error's offset counts
/// bytes of the decoded string, but was added to the start of the literal as written. With
/// an escape (`\"`) before a multi-byte character the diagnostic's span fell inside that
/// character. Now the whole string is pointed at when the literal has escapes.
#[test]
fn arm_expression_error_after_an_escape_stays_on_char_boundaries() {
    // The minimized fuzz input (its 0xFF bytes read as U+FFFD, as the target does).
    let min: &[u8] = b"{\n   \"variables\": {\n \"copy\": [\n  {   \"name\": \"subnets\",      \"count\":{\n \"prs\": {\n\"S\": \"[ie('vNts{\\\"id\\\"ork\xff\xff'\xff))]\"\n}   }  }\n   ]}, \"resources\": [\n{\n   \"type\": \"01\",    \"prop\": {\n \"subns\":\"[variables('subnets')]\" }\n    }\n   ],\n}\n";
    let out = arm_json(&String::from_utf8_lossy(min));
    assert!(!out.diagnostics.is_empty());

    // The same, written plainly: errors after `\"` and `\u00e9` escapes, before `é`.
    let text = r#"{
  "$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#",
  "variables": {
    "a": "[concat('\"x\"', 'éé' é)]",
    "b": "[nope('\u00e9\u00e9', 'éé')]"
  },
  "resources": [{ "type": "Microsoft.Storage/storageAccounts", "apiVersion": "2023-01-01",
    "name": "[concat(variables('a'), variables('b'))]" }]
}"#;
    let out = arm_json(text);
    assert!(out.diagnostics.len() >= 2, "{:?}", out.diagnostics);
    // Without escapes the error still points inside the string, at the offending token.
    let text = r#"{"$schema": "deploymentTemplate", "variables": {"a": "[concat('é', é)]"},
      "resources": [{"type": "T/t", "apiVersion": "1", "name": "[variables('a')]"}]}"#;
    let out = arm_json(text);
    let d = out
        .diagnostics
        .iter()
        .find(|d| d.message.contains("does not parse"))
        .expect("a syntax error");
    assert_eq!(
        &text[d.span.start as usize..],
        &text[text.find(", é)").unwrap() + 2..]
    );
}
