//! evaluate (ARM): a parsed template → resources in the ARM dialect.
//!
//! Folds what can be known before deployment: parameters (defaults and parameter files),
//! variables (lazily, with `copy`), user-defined functions, `copy` loops on resources and
//! properties, `condition`, nested child resources (lowered to full types and names),
//! inline nested deployments (inner and outer expression scope), `languageVersion 2.0`
//! templates whose `resources` is an object keyed by symbolic name, and extension
//! resources written as `{type}/providers/{extension}`. Everything else is *unknown*,
//! never guessed. Every resource the template declares is either modelled or reported.

use super::expr;
use crate::eval::interp::{self, EvalError, Scope};
use crate::model::{
    Diagnostic, Dialect, EdgeKind, Language, Link, Node, Resource, Seq, Str, Value,
};
use crate::source::{FileId, Span};
use foldhash::{HashMap, HashMapExt};

/// Loops larger than this are cut, with a diagnostic: a template that declares ten million
/// copies is an attack on the scanner, not infrastructure. ARM itself caps `copy` at 800.
pub const MAX_COPY: i64 = 10_000;
/// A variable whose value grows past this many bytes becomes unknown: guards against
/// exponential expansion (a variable doubling another, 64 times).
const MAX_VALUE_BYTES: usize = 4 * 1024 * 1024;
/// Nested deployments and user-function calls deeper than this are refused.
const MAX_NESTING: usize = 32;

/// Values given to a template from outside: a parameter file or an enclosing deployment.
#[derive(Clone, Debug, Default)]
pub struct ParamValues {
    /// Lower-case name → value.
    pub values: HashMap<String, Node>,
}

#[derive(Debug, Default)]
pub struct Output {
    pub resources: Vec<Resource>,
    pub diagnostics: Vec<Diagnostic>,
}

/// Evaluates one template file. `root` is the parsed JSON of the whole file.
pub fn evaluate(file: FileId, root: &Node, params: &ParamValues) -> Output {
    let mut out = Output::default();
    let mut ev = Evaluator::new(file, root, params, &mut out.diagnostics, 0);
    ev.template(root, "", &mut out.resources);
    let existing = std::mem::take(&mut ev.existing);
    drop(ev);
    resolve_symbolic_links(&mut out.resources, &existing);
    out
}

enum Slot {
    Raw(Node),
    Evaluating,
    Done(Node),
}

struct UserFn {
    params: Vec<String>,
    output: Node,
}

struct Evaluator<'d> {
    file: FileId,
    params: HashMap<String, Slot>,
    vars: HashMap<String, Slot>,
    funcs: HashMap<String, std::rc::Rc<UserFn>>,
    /// Active copy loops, innermost last: (lower-case loop name, index).
    copies: Vec<(String, Value)>,
    /// Inside a user-defined function: its arguments, which `parameters()` reads.
    fn_args: Option<HashMap<String, Value>>,
    diags: &'d mut Vec<Diagnostic>,
    /// The string being evaluated: where an expression problem is reported.
    at: Span,
    depth: usize,
    /// languageVersion 2.0 `existing` resources, by lower-case symbol: what they depend on.
    existing: HashMap<String, Vec<String>>,
}

impl<'d> Evaluator<'d> {
    fn new(
        file: FileId,
        template: &Node,
        given: &ParamValues,
        diags: &'d mut Vec<Diagnostic>,
        depth: usize,
    ) -> Evaluator<'d> {
        let mut params = HashMap::new();
        if let Some(Value::Object(decls)) = template.get("parameters").map(|p| &p.value) {
            for (name, decl) in decls {
                let key = name.as_str().to_ascii_lowercase();
                let slot = if let Some(v) = given.values.get(&key) {
                    Slot::Done(v.clone())
                } else if let Some(d) = decl.get("defaultValue") {
                    Slot::Raw(d.clone())
                } else {
                    Slot::Done(Node::unknown(
                        format!(
                            "parameter '{name}' has no default and no value in a parameter file"
                        ),
                        decl.span,
                    ))
                };
                params.insert(key, slot);
            }
        }
        let mut vars = HashMap::new();
        if let Some(Value::Object(decls)) = template.get("variables").map(|v| &v.value) {
            for (name, value) in decls {
                if name.eq_ignore_ascii_case("copy") {
                    // Variable iteration: `"copy": [{ "name", "count", "input" }]` defines
                    // one array variable per entry.
                    if let Value::Array(loops) = &value.value {
                        for l in loops {
                            if let Some(n) = l.get("name").and_then(Node::as_str) {
                                let mut spec = l.clone();
                                // Marked so `variable()` knows to expand it.
                                spec.set("$copyVariable", Node::new(Value::Bool(true), l.span));
                                vars.insert(n.to_ascii_lowercase(), Slot::Raw(spec));
                            }
                        }
                    }
                    continue;
                }
                vars.insert(name.as_str().to_ascii_lowercase(), Slot::Raw(value.clone()));
            }
        }
        let mut funcs = HashMap::new();
        if let Some(Value::Array(namespaces)) = template.get("functions").map(|f| &f.value) {
            for ns in namespaces {
                let Some(prefix) = ns.get("namespace").and_then(Node::as_str) else {
                    continue;
                };
                if let Some(Value::Object(members)) = ns.get("members").map(|m| &m.value) {
                    for (fname, def) in members {
                        let params = def
                            .get("parameters")
                            .and_then(Node::as_array)
                            .map(|ps| {
                                ps.iter()
                                    .filter_map(|p| p.get("name").and_then(Node::as_str))
                                    .map(str::to_ascii_lowercase)
                                    .collect()
                            })
                            .unwrap_or_default();
                        if let Some(output) = def.get("output").and_then(|o| o.get("value")) {
                            funcs.insert(
                                format!(
                                    "{}.{}",
                                    prefix.to_ascii_lowercase(),
                                    fname.to_ascii_lowercase()
                                ),
                                std::rc::Rc::new(UserFn {
                                    params,
                                    output: output.clone(),
                                }),
                            );
                        }
                    }
                }
            }
        }
        Evaluator {
            file,
            params,
            vars,
            funcs,
            copies: Vec::new(),
            fn_args: None,
            diags,
            at: Span::file_start(file),
            depth,
            existing: HashMap::new(),
        }
    }

    fn warn(&mut self, span: Span, message: String) {
        self.diags.push(Diagnostic::warning(span, message));
    }

    // ---------------------------------------------------------------- values

    /// Evaluates a JSON value: expression strings are folded, objects and arrays walked,
    /// property `copy` loops expanded.
    fn value(&mut self, node: &Node) -> Node {
        match &node.value {
            Value::String(s) => {
                if expr::is_expression(s) {
                    self.expression(s, node.span)
                } else if s.starts_with("[[") {
                    Node::new(
                        Value::String(Str::from(expr::unescape_literal(s))),
                        node.span,
                    )
                } else {
                    node.clone()
                }
            }
            Value::Array(items) => Node::new(
                Value::Array(items.iter().map(|i| self.value(i)).collect()),
                node.span,
            ),
            Value::Object(members) => {
                let mut out: Seq<(Str, Node)> = Seq::with_capacity(members.len());
                for (k, v) in members {
                    if k.eq_ignore_ascii_case("copy") {
                        if let Some(expanded) = self.property_copy(v) {
                            out.extend(expanded);
                            continue;
                        }
                    }
                    out.push((k.clone(), self.value(v)));
                }
                Node::new(Value::Object(out), node.span)
            }
            _ => node.clone(),
        }
    }

    /// `"copy": [{ "name": "dataDisks", "count": 2, "input": {…} }]` inside properties.
    /// Returns None when the member is not a property-copy array (then it is kept as is).
    fn property_copy(&mut self, v: &Node) -> Option<Vec<(Str, Node)>> {
        let loops = v.as_array()?;
        if loops.is_empty() || !loops.iter().all(|l| l.get("input").is_some()) {
            return None;
        }
        let mut out = Vec::new();
        for l in loops {
            let name = l
                .get("name")
                .and_then(Node::as_str)
                .unwrap_or("copy")
                .to_string();
            let input = l
                .get("input")
                .cloned()
                .unwrap_or_else(|| Node::new(Value::Null, l.span));
            let items = self.iterate(&name, l.get("count"), l.span, |ev| ev.value(&input));
            out.push((Str::from(name), items));
        }
        Some(out)
    }

    /// Runs `body` once per index of a copy loop; an unknown count gives one item whose
    /// index is unknown (so properties that do not depend on it are still checked).
    fn iterate(
        &mut self,
        name: &str,
        count: Option<&Node>,
        span: Span,
        mut body: impl FnMut(&mut Self) -> Node,
    ) -> Node {
        let count = count
            .map(|c| self.value(c))
            .unwrap_or_else(|| Node::new(Value::Int(0), span));
        let n = match &count.value {
            Value::Int(n) => Some(*n),
            Value::Float(f) => Some(*f as i64),
            Value::String(s) => s.parse().ok(),
            _ => None,
        };
        let mut items = Seq::new();
        match n {
            Some(n) => {
                let n = self.cap_copy(n, count.span, name);
                for i in 0..n {
                    self.copies.push((name.to_ascii_lowercase(), Value::Int(i)));
                    items.push(body(self));
                    self.copies.pop();
                }
                Node::new(Value::Array(items), span)
            }
            None => {
                let reason = format!("copy loop '{name}' has a count not known before deployment");
                self.copies.push((
                    name.to_ascii_lowercase(),
                    Value::Unknown(crate::model::Unknown {
                        reason: reason.clone(),
                    }),
                ));
                let item = body(self);
                self.copies.pop();
                // The array's length is unknown but its items look like this one: keep the
                // item so a rule can still check what does not depend on the index.
                Node::new(Value::Array(ecow::eco_vec![item]), span)
            }
        }
    }

    fn cap_copy(&mut self, n: i64, span: Span, name: &str) -> i64 {
        if n > MAX_COPY {
            self.warn(
                span,
                format!(
                    "copy loop '{name}' has {n} iterations; only the first {MAX_COPY} are scanned"
                ),
            );
            MAX_COPY
        } else {
            n.max(0)
        }
    }

    fn expression(&mut self, src: &str, span: Span) -> Node {
        let parsed = match expr::parse(src) {
            Ok(e) => e,
            Err(e) => {
                self.diags.push(
                    Diagnostic::error(
                        offset_span(span, src, e.offset),
                        format!("template expression does not parse: {}", e.message),
                    )
                    .with_help("Azure rejects this template at deployment; fix the expression"),
                );
                return Node::unknown("expression does not parse", span);
            }
        };
        let saved = self.at;
        self.at = span;
        let result = interp::eval(&parsed, self);
        self.at = saved;
        match result {
            Ok(v) => {
                let mut n = Node::new(v, span);
                n.respan(span);
                n
            }
            Err(e) => {
                let msg = match &e {
                    EvalError::UnknownFunction { name, .. } => format!(
                        "unknown template function '{name}': the value is treated as unknown"
                    ),
                    other => format!("template expression cannot be evaluated: {other}"),
                };
                self.warn(offset_span(span, src, e.offset()), msg);
                Node::unknown(format!("expression error: {e}"), span)
            }
        }
    }

    fn parameter(&mut self, name: &str) -> Result<Value, EvalError> {
        let key = name.to_ascii_lowercase();
        if let Some(args) = &self.fn_args {
            return args.get(&key).cloned().ok_or_else(|| EvalError::Other {
                message: format!("the function has no parameter '{name}'"),
                offset: 0,
            });
        }
        self.slot(true, &key, name)
    }

    fn variable(&mut self, name: &str) -> Result<Value, EvalError> {
        let key = name.to_ascii_lowercase();
        self.slot(false, &key, name)
    }

    /// Lazy, memoised evaluation of a parameter default or a variable, with cycle detection.
    fn slot(&mut self, is_param: bool, key: &str, name: &str) -> Result<Value, EvalError> {
        let kind = if is_param { "parameter" } else { "variable" };
        let table = if is_param {
            &mut self.params
        } else {
            &mut self.vars
        };
        let raw = match table.get_mut(key) {
            None => {
                return Err(EvalError::Other {
                    message: format!("the template declares no {kind} '{name}'"),
                    offset: 0,
                })
            }
            Some(Slot::Done(n)) => return Ok(n.value.clone()),
            Some(Slot::Evaluating) => {
                let span = self.at;
                self.warn(span, format!("{kind} '{name}' refers to itself"));
                return Ok(Value::Unknown(crate::model::Unknown {
                    reason: format!("{kind} '{name}' refers to itself"),
                }));
            }
            Some(slot) => match std::mem::replace(slot, Slot::Evaluating) {
                Slot::Raw(n) => n,
                _ => unreachable!("Done and Evaluating handled above"),
            },
        };
        // Inside a copy loop or function, variables still see the template's scope only.
        let saved_copies = std::mem::take(&mut self.copies);
        let saved_args = self.fn_args.take();
        let mut value = if raw.get("$copyVariable").is_some() {
            let input = raw
                .get("input")
                .cloned()
                .unwrap_or_else(|| Node::new(Value::Null, raw.span));
            let count = raw.get("count").cloned();
            self.iterate(name, count.as_ref(), raw.span, |ev| ev.value(&input))
        } else {
            self.value(&raw)
        };
        self.copies = saved_copies;
        self.fn_args = saved_args;
        if approx_size(&value.value, MAX_VALUE_BYTES) > MAX_VALUE_BYTES {
            self.warn(
                raw.span,
                format!(
                    "{kind} '{name}' grows beyond {} MB: treated as unknown",
                    MAX_VALUE_BYTES >> 20
                ),
            );
            value = Node::unknown(
                format!("{kind} '{name}' is too large to evaluate"),
                raw.span,
            );
        }
        let v = value.value.clone();
        let table = if is_param {
            &mut self.params
        } else {
            &mut self.vars
        };
        table.insert(key.to_string(), Slot::Done(value));
        Ok(v)
    }

    fn copy_index(&mut self, args: &[Value]) -> Result<Value, EvalError> {
        let (name, offset) = match args {
            [] => (None, 0),
            [Value::Int(o)] => (None, *o),
            [Value::String(n)] => (Some(n.to_ascii_lowercase()), 0),
            [Value::String(n), Value::Int(o)] => (Some(n.to_ascii_lowercase()), *o),
            [Value::Unknown(u), ..] | [_, Value::Unknown(u)] => {
                return Ok(Value::Unknown(u.clone()))
            }
            _ => {
                return Err(EvalError::Other {
                    message: "copyIndex() takes an optional loop name and an optional offset"
                        .into(),
                    offset: 0,
                })
            }
        };
        let found = match &name {
            None => self.copies.last(),
            Some(n) => self.copies.iter().rev().find(|(l, _)| l == n),
        };
        match found {
            Some((_, Value::Int(i))) => Ok(Value::Int(i + offset)),
            Some((_, v)) => Ok(v.clone()),
            None => Err(EvalError::Other {
                message: match name {
                    Some(n) => format!("copyIndex('{n}') outside a copy loop of that name"),
                    None => "copyIndex() outside a copy loop".to_string(),
                },
                offset: 0,
            }),
        }
    }

    fn user_function(&mut self, ns: &str, name: &str, args: &[Value]) -> Result<Value, EvalError> {
        let key = format!("{}.{}", ns.to_ascii_lowercase(), name.to_ascii_lowercase());
        let Some(f) = self.funcs.get(&key).cloned() else {
            return Err(EvalError::UnknownFunction {
                name: format!("{ns}.{name}"),
                offset: 0,
            });
        };
        if self.depth >= MAX_NESTING {
            return Ok(Value::Unknown(crate::model::Unknown {
                reason: "user-defined functions nested too deeply".into(),
            }));
        }
        let bound: HashMap<String, Value> =
            f.params.iter().cloned().zip(args.iter().cloned()).collect();
        let saved = self.fn_args.replace(bound);
        self.depth += 1;
        let out = self.value(&f.output);
        self.depth -= 1;
        self.fn_args = saved;
        Ok(out.value)
    }

    // ---------------------------------------------------------------- resources

    fn template(&mut self, template: &Node, prefix: &str, out: &mut Vec<Resource>) {
        match template.get("resources") {
            None => {}
            Some(r) => self.resources(r, None, prefix, out),
        }
    }

    fn resources(
        &mut self,
        list: &Node,
        parent: Option<&Parent>,
        prefix: &str,
        out: &mut Vec<Resource>,
    ) {
        match &list.value {
            Value::Array(items) => {
                for item in items {
                    self.resource(item, None, parent, prefix, out);
                }
            }
            // languageVersion 2.0: `"resources": { "symbolicName": {…} }`.
            Value::Object(members) => {
                for (sym, item) in members {
                    self.resource(item, Some(sym), parent, prefix, out);
                }
            }
            _ => self.diags.push(Diagnostic::error(
                list.span,
                format!(
                    "`resources` must be an array (or an object keyed by symbolic name, languageVersion 2.0), not {}: no resource of this template is scanned",
                    list.value.type_name()
                ),
            )),
        }
    }

    fn resource(
        &mut self,
        decl: &Node,
        symbol: Option<&str>,
        parent: Option<&Parent>,
        prefix: &str,
        out: &mut Vec<Resource>,
    ) {
        if decl.as_object().is_none() {
            self.diags.push(Diagnostic::error(
                decl.span,
                format!(
                    "a resource must be an object, not {}: not scanned",
                    decl.value.type_name()
                ),
            ));
            return;
        }
        if decl
            .get("existing")
            .is_some_and(|e| e.value == Value::Bool(true))
        {
            // A reference to a resource deployed elsewhere: nothing is declared here. What
            // it depends on is kept: a resource that depends on it depends on those (as
            // Bicep compiles it without symbolic names).
            if let Some(sym) = symbol {
                let looped = decl.get("copy").is_some();
                let mut deps = Vec::new();
                for d in decl
                    .get("dependsOn")
                    .and_then(Node::as_array)
                    .unwrap_or(&[])
                {
                    let v = match d.as_str() {
                        Some(s) if !expr::is_expression(s) => d.clone(),
                        // Expressions of a looped one may need its copyIndex().
                        Some(_) if !looped => self.value(d),
                        _ => continue,
                    };
                    if let Some(t) = v.as_str() {
                        deps.push(t.to_string());
                    }
                }
                self.existing.insert(sym.to_ascii_lowercase(), deps);
            }
            return;
        }
        match decl.get("copy") {
            Some(copy) if copy.as_object().is_some() => {
                let name = copy
                    .get("name")
                    .and_then(Node::as_str)
                    .unwrap_or("copy")
                    .to_string();
                let count = self.value(
                    copy.get("count")
                        .unwrap_or(&Node::new(Value::Int(0), copy.span)),
                );
                let n = match &count.value {
                    Value::Int(n) => Some(*n),
                    Value::String(s) => s.parse().ok(),
                    _ => None,
                };
                match n {
                    Some(n) => {
                        let n = self.cap_copy(n, count.span, &name);
                        for i in 0..n {
                            self.copies.push((name.to_ascii_lowercase(), Value::Int(i)));
                            self.instance(decl, symbol, parent, prefix, Some(i.to_string()), out);
                            self.copies.pop();
                        }
                    }
                    None => {
                        let reason =
                            format!("copy loop '{name}' has a count not known before deployment");
                        self.copies.push((
                            name.to_ascii_lowercase(),
                            Value::Unknown(crate::model::Unknown {
                                reason: reason.clone(),
                            }),
                        ));
                        let start = out.len();
                        self.instance(decl, symbol, parent, prefix, Some("*".into()), out);
                        self.copies.pop();
                        // The count may be 0: none of these may be deployed.
                        mark_conditional(&mut out[start..], &reason);
                    }
                }
            }
            _ => self.instance(decl, symbol, parent, prefix, None, out),
        }
    }

    fn instance(
        &mut self,
        decl: &Node,
        symbol: Option<&str>,
        parent: Option<&Parent>,
        prefix: &str,
        index: Option<String>,
        out: &mut Vec<Resource>,
    ) {
        // A known-false condition drops the resource; an unknown one keeps it (it may be
        // deployed, so it must meet the baseline), marked as conditional with its children.
        let mut conditional = None;
        if let Some(c) = decl.get("condition") {
            match &self.value(c).value {
                Value::Bool(false) => return,
                Value::String(s) if s.eq_ignore_ascii_case("false") => return,
                Value::Bool(true) => {}
                Value::String(s) if s.eq_ignore_ascii_case("true") => {}
                _ => {
                    conditional =
                        Some("deployed only if a condition not known before deployment holds");
                }
            }
        }
        let start = out.len();
        self.instance_inner(decl, symbol, parent, prefix, index, out);
        if let Some(reason) = conditional {
            mark_conditional(&mut out[start..], reason);
        }
    }

    fn instance_inner(
        &mut self,
        decl: &Node,
        symbol: Option<&str>,
        parent: Option<&Parent>,
        prefix: &str,
        index: Option<String>,
        out: &mut Vec<Resource>,
    ) {
        let Some(type_node) = decl.get("type") else {
            self.diags.push(Diagnostic::error(
                decl.span,
                "resource without `type`: not scanned",
            ));
            return;
        };
        let type_value = self.value(type_node);
        let Some(raw_type) = type_value.as_str().map(str::to_string) else {
            self.warn(
                type_node.span,
                "resource type is not known before deployment: this resource is not checked".into(),
            );
            return;
        };
        let name_node = decl.get("name").map(|n| self.value(n));
        let raw_name = decl
            .get("name")
            .and_then(Node::as_str)
            .unwrap_or("")
            .to_string();
        let mut name = name_node
            .as_ref()
            .and_then(|n| n.as_str().map(str::to_string));
        let mut type_name = raw_type.clone();
        if let Some(p) = parent {
            // A nested extension resource (`providers/diagnosticSettings` named
            // `Microsoft.Insights/x`) is relative to its parent although both contain `/`.
            if raw_type.to_ascii_lowercase().starts_with("providers/") {
                type_name = format!("{}/{}", p.type_name, raw_type);
                name = match (&p.name, name) {
                    (Some(pn), Some(n)) => Some(format!("{pn}/{n}")),
                    _ => None,
                };
            } else if !raw_type.contains('/') {
                type_name = format!("{}/{}", p.type_name, raw_type);
                name = match (&p.name, name) {
                    (Some(pn), Some(n)) if !n.contains('/') => Some(format!("{pn}/{n}")),
                    (_, Some(n)) if n.contains('/') => Some(n),
                    _ => None,
                };
            }
        }
        let mut links = Vec::new();
        // `Microsoft.Storage/storageAccounts/providers/diagnosticSettings` named
        // `acct/Microsoft.Insights/diag`: an extension resource on the account.
        if let Some((scope_type, ext_type)) = split_ci(&type_name, "/providers/") {
            let scope_segments = scope_type.split('/').count() - 1;
            if let Some(n) = &name {
                let parts: Vec<&str> = n.split('/').collect();
                if parts.len() > scope_segments + 1 {
                    let scope_name = parts[..scope_segments].join("/");
                    let namespace = parts[scope_segments];
                    let ext_name = parts[scope_segments + 1..].join("/");
                    links.push(Link {
                        kind: EdgeKind::Scope,
                        path: "name".into(),
                        target: format!("{scope_type}/{scope_name}"),
                    });
                    type_name = format!("{namespace}/{ext_type}");
                    name = Some(ext_name);
                }
            } else {
                type_name = ext_type.to_string();
            }
        }
        let api_version = decl
            .get("apiVersion")
            .map(|a| self.value(a))
            .and_then(|a| a.as_str().map(str::to_string));
        let mut body_members = Seq::new();
        let mut children = None;
        let mut nested_template = None;
        let is_deployment = type_name.eq_ignore_ascii_case("Microsoft.Resources/deployments");
        if let Value::Object(members) = &decl.value {
            for (k, v) in members {
                let lk = k.to_ascii_lowercase();
                match lk.as_str() {
                    "resources" => children = Some(v),
                    "copy" | "condition" | "comments" => {}
                    "properties" if is_deployment => {
                        // The inline template becomes resources of its own; the deployment
                        // keeps its other properties.
                        let mut props = Vec::new();
                        if let Value::Object(pm) = &v.value {
                            for (pk, pv) in pm {
                                if pk.eq_ignore_ascii_case("template") {
                                    nested_template = Some(pv);
                                } else {
                                    props.push((pk.clone(), self.value(pv)));
                                }
                            }
                        }
                        body_members
                            .push((k.clone(), Node::new(Value::Object(props.into()), v.span)));
                    }
                    "name" => body_members
                        .push((k.clone(), name_node.clone().unwrap_or_else(|| v.clone()))),
                    "type" => body_members.push((
                        k.clone(),
                        Node::new(Value::String(Str::from(type_name.as_str())), v.span),
                    )),
                    _ => body_members.push((k.clone(), self.value(v))),
                }
            }
        }
        let body = Node::new(Value::Object(body_members), decl.span);
        // Links: dependsOn, scope, parent, and resource ids in properties.
        if let Some(deps) = body.get("dependsOn").and_then(Node::as_array) {
            for d in deps {
                let target = match (&d.value, d.as_str()) {
                    (_, Some(s)) => s.to_string(),
                    (Value::Unknown(_), _) => String::new(),
                    _ => continue,
                };
                links.push(Link {
                    kind: EdgeKind::DependsOn,
                    path: "dependsOn".into(),
                    target,
                });
            }
        }
        if let Some(scope) = body.get("scope") {
            match scope.as_str() {
                Some(s) => links.push(Link {
                    kind: EdgeKind::Scope,
                    path: "scope".into(),
                    target: s.to_string(),
                }),
                None if scope.is_unknown() => links.push(Link {
                    kind: EdgeKind::Scope,
                    path: "scope".into(),
                    target: String::new(),
                }),
                None => {}
            }
        }
        if let Some(p) = parent {
            if let Some(pn) = &p.name {
                links.push(Link {
                    kind: EdgeKind::Parent,
                    path: String::new(),
                    target: format!("{}/{}", p.type_name, pn),
                });
            }
        } else if let (None, Some((parent_type, _))) = (&name, type_name.rsplit_once('/')) {
            // A top-level child whose name is not known: its parent cannot be named, but it
            // has one, so "no child configures this" must stay unknown.
            if parent_type.contains('/') && !type_name.to_ascii_lowercase().contains("/providers/")
            {
                links.push(Link {
                    kind: EdgeKind::Parent,
                    path: String::new(),
                    target: String::new(),
                });
            }
        } else if let (Some(n), Some((parent_type, _))) = (&name, type_name.rsplit_once('/')) {
            // A top-level child (`Microsoft.Sql/servers/databases` named `srv/db`) belongs
            // to its parent just as a nested one does.
            if parent_type.contains('/') {
                if let Some((parent_name, _)) = n.rsplit_once('/') {
                    links.push(Link {
                        kind: EdgeKind::Parent,
                        path: String::new(),
                        target: format!("{parent_type}/{parent_name}"),
                    });
                }
            }
        }
        if let Some(props) = body.get("properties") {
            collect_id_links(props, "properties", &mut links);
        }
        let mut address = format!(
            "{prefix}{}",
            symbol.map(str::to_string).unwrap_or_else(|| {
                format!(
                    "{}/{}",
                    type_name,
                    if raw_name.is_empty() { "?" } else { &raw_name }
                )
            })
        );
        if let Some(p) = parent {
            if symbol.is_none() {
                address = format!("{}/{}", p.address, address.trim_start_matches(prefix));
            }
        }
        if let Some(i) = &index {
            address.push_str(&format!("[{i}]"));
        }
        let header = type_node.span;
        let resource = Resource {
            dialect: Dialect::Arm,
            language: Language::ArmJson,
            type_name: type_name.clone(),
            api_version,
            address: address.clone(),
            name: name.clone(),
            file: self.file,
            header,
            body,
            call_chain: Vec::new(),
            partial: false,
            conditional: None,
            links,
            root: 0,
        };
        // Symbolic names (2.0) are resolved to type/name after the whole template is read.
        let this = Parent {
            type_name: type_name.clone(),
            name: name.clone(),
            address: address.clone(),
        };
        let sym_entry = symbol.map(|s| (s.to_string(), out.len()));
        out.push(resource);
        if let Some((s, i)) = sym_entry {
            out[i].links.push(Link {
                kind: EdgeKind::Reference,
                path: "$symbol".into(),
                target: s,
            });
        }
        if let Some(children) = children {
            self.resources(children, Some(&this), prefix, out);
        }
        if let Some(t) = nested_template {
            self.nested_deployment(decl, t, &address, out);
        }
    }

    /// An inline nested deployment. With `expressionEvaluationOptions.scope = inner` its
    /// expressions see only its own parameters (given by the deployment); otherwise
    /// (`outer`, the default) they see the enclosing template's.
    fn nested_deployment(
        &mut self,
        decl: &Node,
        template: &Node,
        address: &str,
        out: &mut Vec<Resource>,
    ) {
        if self.depth >= MAX_NESTING {
            self.warn(
                decl.span,
                "nested deployments deeper than 32 levels: the inner ones are not scanned".into(),
            );
            return;
        }
        let props = decl.get("properties");
        let inner = props
            .and_then(|p| p.get("expressionEvaluationOptions"))
            .and_then(|o| o.get("scope"))
            .and_then(Node::as_str)
            .is_some_and(|s| s.eq_ignore_ascii_case("inner"));
        let prefix = format!("{address}/");
        if inner {
            let mut given = ParamValues::default();
            if let Some(Value::Object(ps)) =
                props.and_then(|p| p.get("parameters")).map(|p| &p.value)
            {
                for (k, v) in ps {
                    let value = match v.get("value") {
                        Some(val) => self.value(val),
                        None => Node::unknown(
                            format!("parameter '{k}' is given by reference (Key Vault)"),
                            v.span,
                        ),
                    };
                    given.values.insert(k.as_str().to_ascii_lowercase(), value);
                }
            }
            let file = self.file;
            let depth = self.depth + 1;
            let mut nested = Vec::new();
            let existing = {
                let mut ev = Evaluator::new(file, template, &given, self.diags, depth);
                ev.template(template, &prefix, &mut nested);
                ev.existing
            };
            resolve_symbolic_links(&mut nested, &existing);
            out.extend(nested);
        } else {
            self.depth += 1;
            self.template(template, &prefix, out);
            self.depth -= 1;
        }
    }
}

/// Marks resources whose deployment depends on something not known before deployment
/// (keeping the innermost reason already recorded).
pub(crate) fn mark_conditional(resources: &mut [Resource], reason: &str) {
    for r in resources {
        if r.conditional.is_none() {
            r.conditional = Some(reason.to_string());
        }
    }
}

struct Parent {
    type_name: String,
    name: Option<String>,
    address: String,
}

impl Evaluator<'_> {
    /// Evaluates a parameter or variable if needed, without copying its value out.
    fn force(&mut self, is_param: bool, name: &str) -> Option<&Node> {
        let key = name.to_ascii_lowercase();
        let done = matches!(
            (if is_param { &self.params } else { &self.vars }).get(&key),
            Some(Slot::Done(_))
        );
        if !done {
            // Evaluates and memoises (or reports a cycle / a missing name).
            self.slot(is_param, &key, name).ok()?;
        }
        match (if is_param { &self.params } else { &self.vars }).get(&key) {
            Some(Slot::Done(n)) => Some(n),
            _ => None,
        }
    }
}

impl Scope for Evaluator<'_> {
    fn call_path(
        &mut self,
        name: &str,
        args: &[Value],
        path: &[interp::PathStep],
    ) -> Option<Value> {
        let is_param = name.eq_ignore_ascii_case("parameters");
        if is_param && self.fn_args.is_some() {
            return None;
        }
        let [Value::String(arg)] = args else {
            return None;
        };
        let mut node = self.force(is_param, arg)?;
        for step in path {
            match (&node.value, step) {
                (Value::Unknown(u), _) => return Some(Value::Unknown(u.clone())),
                (Value::Object(_), interp::PathStep::Member(m)) => node = node.get(m)?,
                (Value::Array(items), interp::PathStep::Index(i)) => {
                    node = items.get(usize::try_from(*i).ok()?)?
                }
                // Anything else (a missing member, a string index) takes the usual path,
                // which reports the error.
                _ => return None,
            }
        }
        Some(node.value.clone())
    }

    fn call(
        &mut self,
        namespace: Option<&str>,
        name: &str,
        args: &[Value],
    ) -> Option<Result<Value, EvalError>> {
        if let Some(ns) = namespace {
            return Some(self.user_function(ns, name, args));
        }
        let lname = name.to_ascii_lowercase();
        match lname.as_str() {
            "parameters" | "variables" => {
                let arg = match args {
                    [Value::String(s)] => s.clone(),
                    [Value::Unknown(u)] => return Some(Ok(Value::Unknown(u.clone()))),
                    _ => {
                        return Some(Err(EvalError::Other {
                            message: format!("{lname}() takes one name"),
                            offset: 0,
                        }))
                    }
                };
                Some(if lname == "parameters" {
                    self.parameter(&arg)
                } else {
                    self.variable(&arg)
                })
            }
            "copyindex" => Some(self.copy_index(args)),
            _ => None,
        }
    }
}

/// Points inside an expression string: the string's span starts at its opening quote.
///
/// `offset` counts bytes of the decoded string `src`, the span covers the literal as
/// written: the two line up only when the literal has no escapes. With one (`\"`,
/// `\u00e9`), or when the span is not the literal's, the offset could land past the
/// string or inside a character (found by the `arm_json` fuzz target: a wrong column, and a
/// panic for any code slicing the text there), so the whole span is pointed at instead.
fn offset_span(span: Span, src: &str, offset: u32) -> Span {
    if span.end.saturating_sub(span.start) as usize != src.len() + 2 {
        return span;
    }
    let start = (span.start + 1 + offset).min(span.end);
    Span {
        file: span.file,
        start,
        end: start.max(span.start),
    }
}

fn split_ci<'a>(s: &'a str, sep: &str) -> Option<(&'a str, &'a str)> {
    let i = s.to_ascii_lowercase().find(&sep.to_ascii_lowercase())?;
    Some((&s[..i], &s[i + sep.len()..]))
}

/// Resource ids written in properties (`privateLinkServiceId`, `workspaceId`, …) become
/// reference links, so rules can ask "is this vault behind a private endpoint".
pub(crate) fn collect_id_links(node: &Node, path: &str, links: &mut Vec<Link>) {
    node.walk_leaves(&mut path.to_string(), 16, &mut |path, leaf| {
        match &leaf.value {
            Value::String(s) if s.contains("/providers/") || s.starts_with("/subscriptions/") => {
                links.push(Link {
                    kind: EdgeKind::Reference,
                    path: path.to_string(),
                    target: s.to_string(),
                });
            }
            // An id not known before deployment may point at anything: keep it as a link
            // with an unknown target, so a rule asking "is anything linked here" says
            // unknown.
            Value::Unknown(_) if looks_like_id_property(path) => links.push(Link {
                kind: EdgeKind::Reference,
                path: path.to_string(),
                target: String::new(),
            }),
            _ => {}
        }
    });
}

fn looks_like_id_property(path: &str) -> bool {
    let last = path.rsplit('.').next().unwrap_or(path).to_ascii_lowercase();
    last.ends_with("id") || last.ends_with("ids") || last == "scope"
}

/// languageVersion 2.0 `dependsOn` and `scope` name resources by symbol; so does 1.0's
/// `dependsOn` by plain resource name. Rewrite them to `type/name` targets, which the
/// linker understands across files. A dependency on an `existing` resource becomes one on
/// what it depends on (it is not deployed), as Bicep writes it without symbolic names.
fn resolve_symbolic_links(resources: &mut [Resource], existing: &HashMap<String, Vec<String>>) {
    let mut by_symbol: HashMap<String, String> = HashMap::new();
    let mut by_name: HashMap<String, Vec<String>> = HashMap::new();
    for r in resources.iter() {
        let Some(name) = &r.name else { continue };
        let target = format!("{}/{}", r.type_name, name);
        for l in &r.links {
            if l.path == "$symbol" {
                by_symbol.insert(l.target.to_ascii_lowercase(), target.clone());
            }
        }
        by_name
            .entry(name.to_ascii_lowercase())
            .or_default()
            .push(target);
    }
    for r in resources.iter_mut() {
        r.links.retain(|l| l.path != "$symbol");
        if !existing.is_empty() {
            let mut links = Vec::with_capacity(r.links.len());
            for l in r.links.drain(..) {
                match existing.get(&l.target.to_ascii_lowercase()) {
                    Some(_) if l.kind == EdgeKind::DependsOn => {
                        for target in existing_deps(existing, &l.target) {
                            links.push(Link {
                                target,
                                ..l.clone()
                            });
                        }
                    }
                    _ => links.push(l),
                }
            }
            r.links = links;
        }
        for l in &mut r.links {
            if l.target.contains('/') || l.target.is_empty() {
                continue;
            }
            let key = l.target.to_ascii_lowercase();
            if let Some(t) = by_symbol.get(&key) {
                l.target = t.clone();
            } else if let Some(ts) = by_name.get(&key) {
                if ts.len() == 1 {
                    l.target = ts[0].clone();
                }
            }
        }
    }
}

/// What an `existing` symbol depends on, through other `existing` ones (a cycle or a long
/// chain stops).
fn existing_deps(existing: &HashMap<String, Vec<String>>, symbol: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut seen = vec![symbol.to_ascii_lowercase()];
    let mut todo = vec![symbol.to_ascii_lowercase()];
    while let Some(s) = todo.pop() {
        for d in existing.get(&s).map(Vec::as_slice).unwrap_or(&[]) {
            let key = d.to_ascii_lowercase();
            if existing.contains_key(&key) {
                if !seen.contains(&key) && seen.len() < 64 {
                    seen.push(key.clone());
                    todo.push(key);
                }
            } else if !out.contains(d) {
                out.push(d.clone());
            }
        }
    }
    out
}

/// Rough size of a value in bytes, stopping early past `limit`.
fn approx_size(v: &Value, limit: usize) -> usize {
    match v {
        Value::String(s) => s.len(),
        Value::Array(items) => {
            let mut n = 0;
            for i in items {
                n += 8 + approx_size(&i.value, limit);
                if n > limit {
                    break;
                }
            }
            n
        }
        Value::Object(members) => {
            let mut n = 0;
            for (k, v) in members {
                n += k.len() + 8 + approx_size(&v.value, limit);
                if n > limit {
                    break;
                }
            }
            n
        }
        _ => 8,
    }
}
