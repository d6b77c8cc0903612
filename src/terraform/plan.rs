//! terraform/plan: `terraform show -json` output (a saved plan, or state) as input.
//!
//! A plan knows what static evaluation cannot: every variable, data source and module the
//! configuration used. `planned_values` gives each resource instance's values; what is only
//! known after apply is absent there and marked in `resource_changes[*].change.after_unknown`,
//! and becomes `Unknown`. When the configuration sits beside the plan, each resource points
//! back at its `.tf` block (see `map_to_source`).

use super::json::{self, JNode, J};
use crate::model::{Diagnostic, Dialect, EdgeKind, Language, Link, Node, Resource, Value};
use crate::source::{FileId, Span};
use foldhash::{HashMap, HashMapExt};

fn get<'a>(j: &'a JNode, key: &str) -> Option<&'a JNode> {
    match &j.v {
        J::Obj(items) => items.iter().find(|(k, _, _)| k == key).map(|(_, _, v)| v),
        _ => None,
    }
}

fn get_str<'a>(j: &'a JNode, key: &str) -> Option<&'a str> {
    match get(j, key).map(|n| &n.v) {
        Some(J::Str(s)) => Some(s),
        _ => None,
    }
}

fn items(j: Option<&JNode>) -> &[JNode] {
    match j.map(|n| &n.v) {
        Some(J::Arr(a)) => a,
        _ => &[],
    }
}

/// True when a JSON document is `terraform show -json` output.
pub fn is_plan(j: &JNode) -> bool {
    get(j, "format_version").is_some()
        && (get(j, "planned_values").is_some()
            || get(j, "values").is_some()
            || get(j, "resource_changes").is_some())
}

/// Reads a plan file; `None` when the file is JSON of another kind.
pub fn parse(file: FileId, text: &str, diags: &mut Vec<Diagnostic>) -> Option<JNode> {
    match json::parse(file, text) {
        Ok(j) if is_plan(&j) => Some(j),
        Ok(_) => None,
        Err((off, msg)) => {
            if text.contains("\"format_version\"") {
                let off = off.min(text.len());
                diags.push(Diagnostic::error(
                    Span::new(file, off, off),
                    format!("JSON syntax error in Terraform plan: {msg}"),
                ));
            }
            None
        }
    }
}

/// `module.a["x"].azurerm_b.c[0]` → `module.a.azurerm_b.c`.
pub fn strip_keys(addr: &str) -> String {
    let mut out = String::with_capacity(addr.len());
    let mut depth = 0usize;
    let mut in_str = false;
    let mut prev = '\0';
    for c in addr.chars() {
        match c {
            '"' if depth > 0 && prev != '\\' => in_str = !in_str,
            '[' if !in_str => depth += 1,
            ']' if !in_str => depth = depth.saturating_sub(1),
            _ if depth == 0 => out.push(c),
            _ => {}
        }
        prev = c;
    }
    out
}

/// The resources of a plan. `version` is the azurerm version to record.
pub fn resources(plan: &JNode, version: Option<String>) -> Vec<Resource> {
    let mut unknowns: HashMap<&str, &JNode> = HashMap::new();
    for rc in items(get(plan, "resource_changes")) {
        if let (Some(addr), Some(au)) = (
            get_str(rc, "address"),
            get(rc, "change").and_then(|c| get(c, "after_unknown")),
        ) {
            unknowns.insert(addr, au);
        }
    }
    let mut links: HashMap<String, Vec<Link>> = HashMap::new();
    if let Some(root) = get(plan, "configuration").and_then(|c| get(c, "root_module")) {
        config_links(root, "", &mut links, 0);
    }
    let root = get(plan, "planned_values")
        .or_else(|| get(plan, "values"))
        .and_then(|p| get(p, "root_module"));
    let mut out = Vec::new();
    if let Some(root) = root {
        walk_module(root, &unknowns, &links, &version, &mut out, 0);
    }
    out
}

/// azurerm's version constraint in the plan's configuration.
pub fn version_constraint(plan: &JNode) -> Option<String> {
    let pc = get(plan, "configuration").and_then(|c| get(c, "provider_config"))?;
    let J::Obj(items) = &pc.v else { return None };
    items.iter().find_map(|(_, _, p)| {
        (get_str(p, "name") == Some("azurerm"))
            .then(|| get_str(p, "version_constraint"))
            .flatten()
            .and_then(super::version::lowest_allowed)
    })
}

fn walk_module(
    m: &JNode,
    unknowns: &HashMap<&str, &JNode>,
    links: &HashMap<String, Vec<Link>>,
    version: &Option<String>,
    out: &mut Vec<Resource>,
    depth: usize,
) {
    if depth > 64 {
        return;
    }
    for r in items(get(m, "resources")) {
        if get_str(r, "mode") != Some("managed") {
            continue;
        }
        let (Some(addr), Some(ty)) = (get_str(r, "address"), get_str(r, "type")) else {
            continue;
        };
        let header = get(r, "address").map(|a| a.span).unwrap_or(r.span);
        let mut body = get(r, "values")
            .map(json::to_node)
            .unwrap_or_else(|| Node::new(Value::Object(ecow::eco_vec![]), r.span));
        if let Some(au) = unknowns.get(addr) {
            apply_unknown(&mut body, au);
        }
        let res_links = links.get(&strip_keys(addr)).cloned().unwrap_or_default();
        let mut res = Resource {
            dialect: Dialect::Terraform,
            language: Language::Terraform,
            type_name: ty.to_string(),
            api_version: version.clone(),
            address: addr.to_string(),
            name: body
                .get("name")
                .and_then(|n| n.as_str())
                .map(str::to_string),
            file: header.file,
            header,
            body,
            call_chain: Vec::new(),
            partial: ty == "azapi_update_resource",
            conditional: None,
            links: res_links,
            root: 0,
        };
        if ty == "azapi_resource" || ty == "azapi_update_resource" {
            let b = res.body.get("body").cloned();
            if let Some((t, api, name, arm)) = super::azapi::to_arm(&res.body, b, header) {
                res.dialect = Dialect::Arm;
                res.type_name = t;
                res.api_version = Some(api);
                res.name = name;
                res.body = Node::new(arm.value, r.span);
                for l in &mut res.links {
                    if l.path == "parent_id" {
                        l.kind = EdgeKind::Parent;
                    } else if l.path == "resource_id" {
                        l.kind = EdgeKind::Reference;
                    }
                }
            }
        }
        out.push(res);
    }
    for c in items(get(m, "child_modules")) {
        walk_module(c, unknowns, links, version, out, depth + 1);
    }
}

/// Marks what `after_unknown` says is known only after apply.
fn apply_unknown(node: &mut Node, au: &JNode) {
    match (&au.v, &mut node.value) {
        (J::Bool(true), _) => *node = Node::unknown("known after apply", node.span),
        (J::Obj(items), Value::Object(_)) => {
            for (k, _, v) in items {
                match node.get_mut(k) {
                    Some(child) => apply_unknown(child, v),
                    None if matches!(v.v, J::Bool(true)) => {
                        let span = node.span;
                        node.set(k, Node::unknown("known after apply", span));
                    }
                    None => {}
                }
            }
        }
        (J::Arr(items), Value::Array(a)) => {
            for (child, v) in a.make_mut().iter_mut().zip(items) {
                apply_unknown(child, v);
            }
        }
        _ => {}
    }
}

fn config_links(m: &JNode, prefix: &str, out: &mut HashMap<String, Vec<Link>>, depth: usize) {
    if depth > 64 {
        return;
    }
    for r in items(get(m, "resources")) {
        if get_str(r, "mode") != Some("managed") {
            continue;
        }
        let Some(addr) = get_str(r, "address") else {
            continue;
        };
        let mut links = Vec::new();
        if let Some(ex) = get(r, "expressions") {
            expr_links(ex, "", prefix, &mut links, 0);
        }
        for d in items(get(r, "depends_on")) {
            if let J::Str(s) = &d.v {
                if let Some(t) = ref_target(s, prefix) {
                    links.push(Link {
                        kind: EdgeKind::DependsOn,
                        path: "depends_on".into(),
                        target: t,
                    });
                }
            }
        }
        out.insert(format!("{prefix}{addr}"), links);
    }
    if let Some(J::Obj(calls)) = get(m, "module_calls").map(|c| &c.v) {
        for (name, _, call) in calls {
            if let Some(child) = get(call, "module") {
                config_links(child, &format!("{prefix}module.{name}."), out, depth + 1);
            }
        }
    }
}

fn expr_links(ex: &JNode, path: &str, prefix: &str, out: &mut Vec<Link>, depth: usize) {
    if depth > 32 {
        return;
    }
    let J::Obj(attrs) = &ex.v else { return };
    for (name, _, e) in attrs {
        let p = if path.is_empty() {
            name.clone()
        } else {
            format!("{path}.{name}")
        };
        match &e.v {
            J::Obj(_) => {
                for r in items(get(e, "references")) {
                    if let J::Str(s) = &r.v {
                        if let Some(t) = ref_target(s, prefix) {
                            if !out.iter().any(|l| l.path == p && l.target == t) {
                                out.push(Link {
                                    kind: super::expand::link_kind(name),
                                    path: p.clone(),
                                    target: t,
                                });
                            }
                        }
                    }
                }
            }
            // nested blocks: an array of expression objects
            J::Arr(blocks) => {
                for b in blocks {
                    expr_links(b, &p, prefix, out, depth + 1);
                }
            }
            _ => {}
        }
    }
}

fn ref_target(s: &str, prefix: &str) -> Option<String> {
    let s = strip_keys(s);
    let mut parts = s.split('.');
    let ty = parts.next()?;
    let name = parts.next()?;
    if matches!(
        ty,
        "var" | "local" | "module" | "data" | "each" | "count" | "path" | "terraform" | "self"
    ) {
        return None;
    }
    Some(format!("{prefix}{ty}.{name}"))
}

/// Gives plan values the spans of the evaluated configuration where both have them, and
/// the resource header elsewhere (defaults the provider filled in belong to the block).
pub fn map_to_source(plan: &mut Node, config: &Node, header: Span) {
    plan.span = config.span;
    match (&mut plan.value, &config.value) {
        (Value::Object(members), Value::Object(_)) => {
            for (k, v) in members.make_mut().iter_mut() {
                match config.get(k) {
                    Some(c) => map_to_source(v, c, header),
                    None => v.respan(header),
                }
            }
        }
        (Value::Array(items), Value::Array(citems)) => {
            for (i, v) in items.make_mut().iter_mut().enumerate() {
                match citems.get(i) {
                    Some(c) => map_to_source(v, c, header),
                    None => v.respan(header),
                }
            }
        }
        (Value::Array(items), _) => items
            .make_mut()
            .iter_mut()
            .for_each(|v| v.respan(config.span)),
        (Value::Object(members), _) => members
            .make_mut()
            .iter_mut()
            .for_each(|(_, v)| v.respan(config.span)),
        _ => {}
    }
}
