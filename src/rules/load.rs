//! Rule files (TOML) → [`Rule`]. Errors name the file and the field, because a team writes
//! its own rules in this format and must be able to fix them without reading our code.

use super::assert::{Absent, Assertion, Op, Path, Pattern};
use super::{Check, CisRef, Controls, Remediation, Rule, Severity, Undeclared};
use crate::model::{Dialect, EdgeKind, Node, Str, Value};
use crate::source::Span;
use toml::Value as T;

#[derive(Debug, thiserror::Error)]
#[error("{file}: {message}")]
pub struct RuleError {
    pub file: String,
    pub message: String,
}

type R<T> = Result<T, String>;

pub fn parse_rule(text: &str, file: &str, origin: &str) -> Result<Rule, RuleError> {
    let doc: toml::Table = toml::from_str(text).map_err(|e| RuleError {
        file: file.to_string(),
        message: e.to_string(),
    })?;
    from_table(doc, file, origin)
}

/// A rule file build.rs has turned into JSON (the built-in rules).
pub fn parse_rule_json(json: &str, file: &str, origin: &str) -> Result<Rule, RuleError> {
    let doc: toml::Table = serde_json::from_str(json).map_err(|e| RuleError {
        file: file.to_string(),
        message: e.to_string(),
    })?;
    from_table(doc, file, origin)
}

fn from_table(doc: toml::Table, file: &str, origin: &str) -> Result<Rule, RuleError> {
    let err = |message: String| RuleError {
        file: file.to_string(),
        message,
    };
    let mut rule = build(&doc, origin).map_err(err)?;
    rule.file = std::path::Path::new(file)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    Ok(rule)
}

const TOP_KEYS: &[&str] = &[
    "id",
    "name",
    "title",
    "severity",
    "precision",
    "sensitive",
    "undeclared",
    "description",
    "rationale",
    "controls",
    "check",
    "remediation",
];

fn build(doc: &toml::Table, origin: &str) -> R<Rule> {
    for k in doc.keys() {
        if !TOP_KEYS.contains(&k.as_str()) {
            return Err(format!(
                "unknown field `{k}` (expected one of: {})",
                TOP_KEYS.join(", ")
            ));
        }
    }
    let id = req_str(doc, "id")?;
    if !id
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        || id.is_empty()
    {
        return Err(format!("`id` {id:?} must be letters, digits, `-` or `_`"));
    }
    let name = req_str(doc, "name")?;
    if !name
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    {
        return Err(format!("`name` {name:?} must be kebab-case"));
    }
    let severity_text = req_str(doc, "severity")?;
    let severity = Severity::parse(&severity_text).ok_or_else(|| {
        format!("`severity` {severity_text:?}: expected critical, high, medium, low or info")
    })?;
    let controls = match doc.get("controls") {
        Some(T::Table(t)) => controls(t)?,
        Some(_) => return Err("`controls` must be a table".into()),
        None => Controls::default(),
    };
    let mut checks = Vec::new();
    match doc.get("check") {
        Some(T::Table(t)) => {
            for (dialect, body) in t {
                let d = match dialect.as_str() {
                    "arm" => Dialect::Arm,
                    "terraform" => Dialect::Terraform,
                    other => {
                        return Err(format!(
                            "`check.{other}`: the dialect must be `arm` or `terraform`"
                        ))
                    }
                };
                // `[[check.arm]]` (several checks) or `[check.arm]` (one).
                let bodies: Vec<&T> = match body {
                    T::Array(items) => items.iter().collect(),
                    other => vec![other],
                };
                for b in bodies {
                    let T::Table(b) = b else {
                        return Err(format!("`check.{dialect}` must be a table"));
                    };
                    checks.push(check(b, d).map_err(|e| format!("check.{dialect}: {e}"))?);
                }
            }
        }
        _ => return Err("missing `[check.arm]` or `[check.terraform]`".into()),
    }
    let remediation = match doc.get("remediation") {
        Some(T::Table(t)) => Remediation {
            text: opt_str(t, "text")?.unwrap_or_default(),
            bicep: opt_str(t, "bicep")?,
            arm: opt_str(t, "arm")?,
            terraform: opt_str(t, "terraform")?,
        },
        Some(_) => return Err("`remediation` must be a table".into()),
        None => Remediation::default(),
    };
    Ok(Rule {
        id,
        name,
        title: req_str(doc, "title")?,
        severity,
        description: req_str(doc, "description")?,
        rationale: opt_str(doc, "rationale")?.unwrap_or_default(),
        controls,
        checks,
        remediation,
        precision: opt_str(doc, "precision")?.unwrap_or_else(|| "high".to_string()),
        sensitive: match doc.get("sensitive") {
            None => false,
            Some(T::Boolean(b)) => *b,
            Some(_) => return Err("`sensitive` must be true or false".into()),
        },
        undeclared: match opt_str(doc, "undeclared")?.as_deref() {
            None | Some("not_applicable") => Undeclared::NotApplicable,
            Some("unknown") => Undeclared::Unknown,
            Some(other) => {
                return Err(format!(
                    "`undeclared` {other:?}: expected \"not_applicable\" or \"unknown\""
                ))
            }
        },
        origin: origin.to_string(),
        file: String::new(),
    })
}

fn req_str(t: &toml::Table, key: &str) -> R<String> {
    opt_str(t, key)?.ok_or_else(|| format!("missing `{key}`"))
}

fn opt_str(t: &toml::Table, key: &str) -> R<Option<String>> {
    match t.get(key) {
        None => Ok(None),
        Some(T::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(format!("`{key}` must be a string")),
    }
}

fn str_list(v: &T, what: &str) -> R<Vec<String>> {
    match v {
        T::String(s) => Ok(vec![s.clone()]),
        T::Array(items) => items
            .iter()
            .map(|i| {
                i.as_str()
                    .map(str::to_string)
                    .ok_or_else(|| format!("`{what}` must be a string or a list of strings"))
            })
            .collect(),
        _ => Err(format!("`{what}` must be a string or a list of strings")),
    }
}

fn controls(t: &toml::Table) -> R<Controls> {
    let mut c = Controls::default();
    for (k, v) in t {
        match k.as_str() {
            "cis" => {
                let T::Array(items) = v else {
                    return Err("`controls.cis` must be a list of { id, level }".into());
                };
                for i in items {
                    let id = i.get("id").and_then(T::as_str);
                    let level = i.get("level").and_then(T::as_integer);
                    match (id, level) {
                        (Some(id), Some(level @ 1..=2)) => c.cis.push(CisRef {
                            id: id.to_string(),
                            level: level as u8,
                        }),
                        _ => {
                            return Err(
                                "`controls.cis` entries need `id` (\"4.1\") and `level` (1 or 2)"
                                    .into(),
                            )
                        }
                    }
                }
            }
            "mcsb" => c.mcsb = str_list(v, "controls.mcsb")?,
            "policy" => c.policy = str_list(v, "controls.policy")?,
            other => {
                return Err(format!(
                    "unknown field `controls.{other}` (expected cis, mcsb, policy)"
                ))
            }
        }
    }
    Ok(c)
}

fn check(t: &toml::Table, dialect: Dialect) -> R<Check> {
    for k in t.keys() {
        if !["type", "when", "assert"].contains(&k.as_str()) {
            return Err(format!("unknown field `{k}` (expected type, when, assert)"));
        }
    }
    let types = str_list(t.get("type").ok_or("missing `type`")?, "type")?;
    let when = t.get("when").map(|w| assertion(w, "when")).transpose()?;
    let assert = assertion(t.get("assert").ok_or("missing `assert`")?, "assert")?;
    Ok(Check {
        dialect,
        types,
        when,
        assert,
    })
}

const OPS: &[&str] = &[
    "equals",
    "not_equals",
    "one_of",
    "not_one_of",
    "at_least",
    "at_most",
    "present",
    "matches",
    "not_matches",
    "contains",
    "not_contains",
    "empty",
    "covers",
    "each",
    "some",
];

fn assertion(v: &T, at: &str) -> R<Assertion> {
    let T::Table(t) = v else {
        return Err(format!("`{at}` must be a table"));
    };
    if let Some(items) = t.get("all") {
        return Ok(Assertion::All(list_of(items, &format!("{at}.all"))?));
    }
    if let Some(items) = t.get("any") {
        return Ok(Assertion::Any(list_of(items, &format!("{at}.any"))?));
    }
    if let Some(inner) = t.get("not") {
        return Ok(Assertion::Not(
            Box::new(assertion(inner, &format!("{at}.not"))?),
            opt_str(t, "expect")?,
        ));
    }
    if let Some(rel) = t.get("related") {
        return related(rel, t, at);
    }
    if let Some(d) = t.get("declared") {
        if t.len() != 1 {
            return Err(format!(
                "`{at}`: `declared` stands alone (no path, operator, absent or expect)"
            ));
        }
        return match d {
            T::Boolean(true) => Ok(Assertion::Declared),
            _ => Err(format!(
                "`{at}.declared` must be true (a resource that is not declared is never checked)"
            )),
        };
    }
    for k in t.keys() {
        if !OPS.contains(&k.as_str()) && !["path", "absent", "expect"].contains(&k.as_str()) {
            return Err(format!(
                "`{at}`: unknown field `{k}` (expected path, absent, expect, all, any, not, related, declared, or one of: {})",
                OPS.join(", ")
            ));
        }
    }
    let path = match t.get("path") {
        Some(T::String(s)) => Path::parse(s),
        Some(T::Array(alts)) => Path {
            alternatives: alts
                .iter()
                .map(|a| {
                    a.as_str()
                        .map(super::assert::split_path)
                        .ok_or_else(|| format!("`{at}.path` alternatives must be strings"))
                })
                .collect::<R<_>>()?,
        },
        _ => {
            return Err(format!(
                "`{at}` needs `path` (a string or a list of alternatives)"
            ))
        }
    };
    let ops: Vec<&String> = t.keys().filter(|k| OPS.contains(&k.as_str())).collect();
    if ops.len() != 1 {
        return Err(format!(
            "`{at}` needs exactly one operator (one of: {})",
            OPS.join(", ")
        ));
    }
    let name = ops[0].as_str();
    let arg = &t[name];
    let here = format!("{at}.{name}");
    let op = match name {
        "equals" => Op::Equals(value(arg)),
        "not_equals" => Op::NotEquals(value(arg)),
        "one_of" | "not_one_of" => {
            let T::Array(items) = arg else {
                return Err(format!("`{here}` must be a list"));
            };
            let vals = items.iter().map(value).collect();
            if name == "one_of" {
                Op::OneOf(vals)
            } else {
                Op::NotOneOf(vals)
            }
        }
        "at_least" | "at_most" => {
            let n = match arg {
                T::Integer(i) => *i as f64,
                T::Float(f) => *f,
                _ => return Err(format!("`{here}` must be a number")),
            };
            if name == "at_least" {
                Op::AtLeast(n)
            } else {
                Op::AtMost(n)
            }
        }
        "present" | "empty" => {
            let b = arg
                .as_bool()
                .ok_or_else(|| format!("`{here}` must be true or false"))?;
            if name == "present" {
                Op::Present(b)
            } else {
                Op::Empty(b)
            }
        }
        "matches" | "not_matches" => {
            let s = arg
                .as_str()
                .ok_or_else(|| format!("`{here}` must be a regular expression string"))?;
            let r = Pattern::new(s).map_err(|e| format!("`{here}`: {e}"))?;
            if name == "matches" {
                Op::Matches(r)
            } else {
                Op::NotMatches(r)
            }
        }
        "covers" => Op::Covers(
            arg.as_integer()
                .and_then(|i| u16::try_from(i).ok())
                .ok_or_else(|| format!("`{here}` must be a port number"))?,
        ),
        "contains" => Op::Contains(value(arg)),
        "not_contains" => Op::NotContains(value(arg)),
        "each" => Op::Each(Box::new(assertion(arg, &here)?)),
        "some" => Op::Some(Box::new(assertion(arg, &here)?)),
        _ => unreachable!("OPS lists every operator"),
    };
    // Negative operators pass when nothing is set (nothing bad was written); positive
    // operators and `present` fail. Rules override with `absent` where the platform default
    // says otherwise.
    let default_absent = match &op {
        Op::NotEquals(_)
        | Op::NotOneOf(_)
        | Op::NotMatches(_)
        | Op::NotContains(_)
        | Op::Each(_)
        | Op::Present(false)
        | Op::Empty(true) => Absent::Pass,
        _ => Absent::Fail,
    };
    let absent = match t.get("absent") {
        Some(a) => absent(a, &format!("{at}.absent"))?,
        None => default_absent,
    };
    let expect = opt_str(t, "expect").map_err(|e| format!("`{at}`: {e}"))?;
    Ok(Assertion::Leaf {
        path,
        op,
        absent,
        expect,
    })
}

fn list_of(v: &T, at: &str) -> R<Vec<Assertion>> {
    let T::Array(items) = v else {
        return Err(format!("`{at}` must be a list of assertions"));
    };
    items
        .iter()
        .enumerate()
        .map(|(i, a)| assertion(a, &format!("{at}[{i}]")))
        .collect()
}

fn related(rel: &T, t: &toml::Table, at: &str) -> R<Assertion> {
    let T::Table(r) = rel else {
        return Err(format!("`{at}.related` must be a table"));
    };
    let types = str_list(
        r.get("type")
            .ok_or_else(|| format!("`{at}.related` needs `type`"))?,
        "related.type",
    )?;
    let edge = match r.get("edge").and_then(T::as_str) {
        None => None,
        Some("scope") => Some(EdgeKind::Scope),
        Some("parent") => Some(EdgeKind::Parent),
        Some("reference") => Some(EdgeKind::Reference),
        Some("depends_on") => Some(EdgeKind::DependsOn),
        Some(o) => {
            return Err(format!(
                "`{at}.related.edge` {o:?}: expected scope, parent, reference or depends_on"
            ))
        }
    };
    let outgoing = match r.get("direction").and_then(T::as_str) {
        None | Some("incoming") => false,
        Some("outgoing") => true,
        Some(o) => {
            return Err(format!(
                "`{at}.related.direction` {o:?}: expected incoming or outgoing"
            ))
        }
    };
    for k in r.keys() {
        if !["type", "edge", "direction", "via", "select"].contains(&k.as_str()) {
            return Err(format!(
                "`{at}.related`: unknown field `{k}` (expected type, edge, direction, via, select)"
            ));
        }
    }
    let select = r
        .get("select")
        .map(|w| assertion(w, &format!("{at}.related.select")).map(Box::new))
        .transpose()?;
    let via = match r.get("via") {
        None => None,
        Some(T::String(s)) => Some(s.clone()),
        Some(_) => return Err(format!("`{at}.related.via` must be a property path")),
    };
    let filter = t
        .get("where")
        .map(|w| assertion(w, &format!("{at}.where")).map(Box::new))
        .transpose()?;
    let absent = match t.get("absent") {
        Some(a) => absent(a, &format!("{at}.absent"))?,
        None => Absent::Fail,
    };
    Ok(Assertion::Related {
        types,
        edge,
        outgoing,
        via,
        select,
        filter,
        absent,
        expect: opt_str(t, "expect")?,
    })
}

fn absent(v: &T, at: &str) -> R<Absent> {
    match v {
        T::String(s) => match s.as_str() {
            "pass" => Ok(Absent::Pass),
            "fail" => Ok(Absent::Fail),
            "unknown" => Ok(Absent::Unknown),
            "not_applicable" => Ok(Absent::NotApplicable),
            o => Err(format!(
                "`{at}` {o:?}: expected pass, fail, unknown, not_applicable or {{ from, then, else }}"
            )),
        },
        T::Table(t) => {
            let from = t
                .get("from")
                .and_then(T::as_str)
                .ok_or_else(|| format!("`{at}` needs `from` (an API or provider version)"))?;
            let then = absent(t.get("then").ok_or_else(|| format!("`{at}` needs `then`"))?, at)?;
            let otherwise =
                absent(t.get("else").ok_or_else(|| format!("`{at}` needs `else`"))?, at)?;
            Ok(Absent::Versioned {
                from: from.to_string(),
                then: Box::new(then),
                otherwise: Box::new(otherwise),
            })
        }
        _ => Err(format!("`{at}` must be a string or a table")),
    }
}

/// TOML values as model values, for comparisons.
fn value(v: &T) -> Value {
    match v {
        T::String(s) => Value::String(Str::from(s.as_str())),
        T::Integer(i) => Value::Int(*i),
        T::Float(f) => Value::Float(*f),
        T::Boolean(b) => Value::Bool(*b),
        T::Datetime(d) => Value::String(Str::from(d.to_string())),
        T::Array(items) => Value::Array(
            items
                .iter()
                .map(|i| Node::new(value(i), Span::default()))
                .collect(),
        ),
        T::Table(t) => Value::Object(
            t.iter()
                .map(|(k, v)| (Str::from(k.as_str()), Node::new(value(v), Span::default())))
                .collect(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RULE: &str = r#"
id = "BG9999"
name = "test-rule"
title = "Test"
severity = "high"
description = "d"
controls = { cis = [{ id = "4.1", level = 1 }], mcsb = ["DP-3"] }
[check.arm]
type = "Microsoft.Storage/storageAccounts"
assert = { path = "properties.supportsHttpsTrafficOnly", equals = true, absent = { from = "2019-04-01", then = "pass", else = "fail" } }
[check.terraform]
type = "azurerm_storage_account"
assert = { path = ["https_traffic_only_enabled", "enable_https_traffic_only"], equals = true, absent = "pass" }
"#;

    #[test]
    fn parses_a_rule() {
        let r = parse_rule(RULE, "x.toml", "builtin").unwrap();
        assert_eq!(r.id, "BG9999");
        assert_eq!(r.checks.len(), 2);
        assert_eq!(r.controls.cis[0].id, "4.1");
    }

    #[test]
    fn declared_is_an_existence_assertion() {
        let rule = RULE.replace(
            "assert = { path = [\"https_traffic_only_enabled\", \"enable_https_traffic_only\"], equals = true, absent = \"pass\" }",
            "assert = { declared = true }",
        );
        assert_ne!(rule, RULE);
        let r = parse_rule(&rule, "x.toml", "builtin").unwrap();
        assert!(matches!(r.checks[1].assert, Assertion::Declared));
        // The ARM check can still fail.
        assert!(r.can_fail());
        let only = rule.replace(
            "assert = { path = \"properties.supportsHttpsTrafficOnly\", equals = true, absent = { from = \"2019-04-01\", then = \"pass\", else = \"fail\" } }",
            "when = { path = \"kind\", equals = \"StorageV2\" }\nassert = { all = [{ declared = true }] }",
        );
        assert_ne!(only, rule);
        assert!(!parse_rule(&only, "x.toml", "builtin").unwrap().can_fail());
        for bad in [
            "assert = { declared = false }",
            "assert = { declared = true, path = \"name\" }",
            "assert = { declared = \"yes\" }",
        ] {
            let text = rule.replace("assert = { declared = true }", bad);
            let e = parse_rule(&text, "x.toml", "builtin")
                .unwrap_err()
                .to_string();
            assert!(e.contains("declared"), "{bad}: {e}");
        }
    }

    #[test]
    fn errors_name_the_field() {
        let bad = RULE.replace("equals = true, absent = \"pass\"", "equal = true");
        let e = parse_rule(&bad, "x.toml", "builtin")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("x.toml") && e.contains("unknown field `equal`"),
            "{e}"
        );
        let bad = RULE.replace("severity = \"high\"", "severity = \"urgent\"");
        let e = parse_rule(&bad, "x.toml", "builtin")
            .unwrap_err()
            .to_string();
        assert!(e.contains("severity"), "{e}");
    }
}
