//! Which parts of a resource the rules read, so the rest can be dropped early.
//!
//! An evaluated resource body is a tree of [`Node`]s with spans: on the Azure quickstart
//! corpus the bodies of all resources took about 65 MB, most of it properties no rule looks
//! at (VM images, app settings, template metadata). The checks need every resource at once
//! (connected-resource rules cross files), so holding every full body was the peak of a
//! scan. Rules are data: their paths say exactly what they read. Each frontend's output is
//! cut down to those paths as soon as it is produced, and the peak becomes the size of what
//! is checked.
//!
//! The projection keeps, per resource type, the union of the paths of every check on that
//! type (its `when` and `assert`) and of every `related` filter that may look at that type
//! from another resource, plus `metadata` (suppressions live there). Along a kept path,
//! arrays keep all their items (a path goes through every item) and unknown values stay
//! where they are (a path that meets one is unknown, projected or not). At the end of a
//! path the whole subtree is kept: `each`, `contains` and `empty` look inside it.

use super::assert::{glob_match, Assertion};
use super::Rule;
use crate::model::{Dialect, Node, Resource, Value};
use foldhash::HashMap;

#[derive(Default, Debug)]
struct Trie {
    /// The whole subtree below is read.
    all: bool,
    /// Lower-case keys: lookups are case-insensitive.
    children: HashMap<String, Trie>,
    /// Wildcard segments (`[*]`, `[*Effect]`), by pattern (`*`, `*effect`): every object
    /// member whose name matches, and for `*` every array item.
    patterns: HashMap<String, Trie>,
}

impl Trie {
    fn insert(&mut self, segments: &[String]) {
        if self.all {
            return;
        }
        match segments.split_first() {
            None => {
                self.all = true;
                self.children.clear();
                self.patterns.clear();
            }
            Some((first, rest)) => {
                let lower = first.to_ascii_lowercase();
                let map = match lower.strip_prefix('[').and_then(|s| s.strip_suffix(']')) {
                    Some(p) if p.contains('*') => self.patterns.entry(p.to_string()),
                    _ => self.children.entry(lower),
                };
                map.or_default().insert(rest)
            }
        }
    }
}

/// The paths the loaded rules read, per dialect and resource type.
#[derive(Debug, Default)]
pub struct Projection {
    by_type: HashMap<(Dialect, String), Trie>,
    /// Read for every resource whatever its type.
    always: Trie,
}

impl Projection {
    pub fn new(rules: &[Rule]) -> Projection {
        let mut p = Projection::default();
        p.always.insert(&["metadata".to_string()]);
        for rule in rules {
            for check in &rule.checks {
                for t in &check.types {
                    let key = (check.dialect, t.to_ascii_lowercase());
                    for a in check.when.iter().chain(std::iter::once(&check.assert)) {
                        p.collect(a, &key);
                    }
                }
            }
        }
        p
    }

    fn collect(&mut self, a: &Assertion, key: &(Dialect, String)) {
        match a {
            Assertion::Leaf { path, .. } => {
                let trie = self.by_type.entry(key.clone()).or_default();
                for alt in &path.alternatives {
                    trie.insert(alt);
                }
            }
            Assertion::All(items) | Assertion::Any(items) => {
                for i in items {
                    self.collect(i, key);
                }
            }
            Assertion::Not(inner, _) => self.collect(inner, key),
            Assertion::Declared => {
                self.by_type.entry(key.clone()).or_default();
            }
            Assertion::Related {
                types,
                filter,
                select,
                ..
            } => {
                // The resource itself is read for nothing here (edges come from links), but
                // the connected resources are read by the filter. They may be of either
                // dialect (azapi resources are ARM-dialect resources of a Terraform file).
                self.by_type.entry(key.clone()).or_default();
                for f in filter.iter().chain(select.iter()) {
                    for t in types {
                        for d in [Dialect::Arm, Dialect::Terraform] {
                            self.collect(f, &(d, t.to_ascii_lowercase()));
                        }
                    }
                }
            }
        }
    }

    /// Cuts the resource's body down to what the rules read.
    pub fn apply(&self, r: &mut Resource) {
        let span = r.body.span;
        let body = std::mem::replace(&mut r.body, Node::new(Value::Null, span));
        let key = (r.dialect, r.type_name.to_ascii_lowercase());
        let mut tries = vec![&self.always];
        if let Some(t) = self.by_type.get(&key) {
            tries.push(t);
        }
        r.body = project(body, &tries);
    }
}

fn project(node: Node, tries: &[&Trie]) -> Node {
    if tries.iter().any(|t| t.all) {
        return node;
    }
    let span = node.span;
    match node.value {
        Value::Object(members) => {
            let kept = members
                .into_iter()
                .filter_map(|(k, v)| {
                    // Held inline up to 24 bytes: a member name needs no allocation.
                    let mut lower = k.clone();
                    lower.make_ascii_lowercase();
                    let mut sub: Vec<&Trie> = tries
                        .iter()
                        .filter_map(|t| t.children.get(lower.as_str()))
                        .collect();
                    for t in tries {
                        sub.extend(
                            t.patterns
                                .iter()
                                .filter(|(p, _)| glob_match(p, &k))
                                .map(|(_, t)| t),
                        );
                    }
                    (!sub.is_empty()).then(|| {
                        let v = project(v, &sub);
                        (k, v)
                    })
                })
                .collect();
            Node::new(Value::Object(kept), span)
        }
        Value::Array(items) => {
            // A path goes through every item (`rules.access` means every rule's access);
            // `[*]` says the same explicitly. (The items also keep the array's own `[*]`
            // pattern, which on an object means every member: this keeps more than `[*]`
            // on an array reads, never less.)
            let mut item_tries: Vec<&Trie> = tries.to_vec();
            item_tries.extend(tries.iter().filter_map(|t| t.patterns.get("*")));
            Node::new(
                Value::Array(items.into_iter().map(|i| project(i, &item_tries)).collect()),
                span,
            )
        }
        other => Node::new(other, span),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::load::parse_rule;

    fn rule(check: &str) -> Rule {
        let text = format!(
            "id = \"T1\"\nname = \"t\"\ntitle = \"t\"\nseverity = \"low\"\ndescription = \"d\"\n{check}"
        );
        parse_rule(&text, "T1.toml", "test").unwrap()
    }

    fn resource(type_name: &str, json: &str) -> Resource {
        use crate::model::Language;
        use crate::source::{FileId, Span};
        Resource {
            dialect: Dialect::Arm,
            language: Language::ArmJson,
            type_name: type_name.to_string(),
            api_version: None,
            address: "x".to_string(),
            name: None,
            file: FileId(0),
            header: Span::default(),
            body: crate::json::parse(json, FileId(0)).unwrap().root,
            call_chain: Vec::new(),
            partial: false,
            conditional: None,
            links: Vec::new(),
            root: 0,
        }
    }

    /// Compact JSON of a value tree (keys as written, in order).
    fn keys(n: &Node) -> String {
        match &n.value {
            Value::Object(m) => format!(
                "{{{}}}",
                m.iter()
                    .map(|(k, v)| format!("{k:?}:{}", keys(v)))
                    .collect::<Vec<_>>()
                    .join(",")
            ),
            Value::Array(a) => format!("[{}]", a.iter().map(keys).collect::<Vec<_>>().join(",")),
            Value::String(s) => format!("{s:?}"),
            Value::Int(i) => i.to_string(),
            Value::Bool(b) => b.to_string(),
            Value::Unknown(_) => "?".to_string(),
            _ => "null".to_string(),
        }
    }

    #[test]
    fn keeps_what_rules_read_and_drops_the_rest() {
        let r = rule(
            r#"[check.arm]
type = "Microsoft.Storage/storageAccounts"
when = { path = "kind", equals = "StorageV2" }
assert = { path = "properties.networkAcls.defaultAction", equals = "Deny" }
"#,
        );
        let p = Projection::new(&[r]);
        let mut res = resource(
            "Microsoft.Storage/storageAccounts",
            r#"{"name": "st", "kind": "StorageV2", "location": "x",
                "metadata": {"basegate": {"suppress": []}},
                "properties": {"big": [1, 2, 3], "NetworkAcls": {"defaultAction": "Allow", "bypass": "x"}}}"#,
        );
        p.apply(&mut res);
        assert_eq!(
            keys(&res.body),
            r#"{"kind":"StorageV2","metadata":{"basegate":{"suppress":[]}},"properties":{"NetworkAcls":{"defaultAction":"Allow"}}}"#
        );
        // Other types keep only metadata.
        let mut other = resource(
            "Microsoft.Web/sites",
            r#"{"kind": "app", "properties": {}}"#,
        );
        p.apply(&mut other);
        assert_eq!(keys(&other.body), "{}");
    }

    #[test]
    fn arrays_unknowns_and_related_filters() {
        let r = rule(
            r#"[check.arm]
type = "Microsoft.Network/networkSecurityGroups"
assert = { all = [
  { path = "properties.securityRules.properties.access", equals = "Deny" },
  { path = "properties.rules.[*].x", present = true },
  { path = "properties.parameters.[*Effect].value", not_equals = "Disabled" },
  { path = "properties.whole", each = { path = "a", equals = 1 } },
  { related = { type = "Microsoft.Insights/diagnosticSettings", edge = "scope" }, where = { path = "properties.logs", present = true } },
] }
"#,
        );
        let p = Projection::new(&[r]);
        let mut res = resource(
            "Microsoft.Network/networkSecurityGroups",
            r#"{"properties": {"securityRules": [{"name": "a", "properties": {"access": "Allow", "priority": 1}}, "[unknown]"],
                 "rules": [{"x": 1, "y": 2}], "whole": [{"a": 1, "b": 2}], "other": 1,
                 "parameters": {"aEffect": {"value": "x", "type": "s"}, "b": {"value": 1}}}}"#,
        );
        p.apply(&mut res);
        assert_eq!(
            keys(&res.body),
            r#"{"properties":{"securityRules":[{"properties":{"access":"Allow"}},"[unknown]"],"rules":[{"x":1,"y":2}],"whole":[{"a":1,"b":2}],"parameters":{"aEffect":{"value":"x"}}}}"#
        );
        let mut diag = resource(
            "Microsoft.Insights/diagnosticSettings",
            r#"{"properties": {"logs": [{"enabled": true}], "workspaceId": "w"}}"#,
        );
        p.apply(&mut diag);
        assert_eq!(
            keys(&diag.body),
            r#"{"properties":{"logs":[{"enabled":true}]}}"#
        );
    }
}
