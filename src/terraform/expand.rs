//! terraform/expand: `count` / `for_each` into instances with addresses, `dynamic` blocks
//! into nested blocks, and resource blocks into model resources with their links.

use super::eval::{self, unknown, Eval, Scope};
use super::parse::{Block, Body, Expr, ExprKind, Op};
use crate::model::{Diagnostic, Dialect, EdgeKind, Language, Link, Node, Resource, Str, Value};
use crate::source::Span;

/// Instances per resource, module call or dynamic block before the rest are dropped.
pub const MAX_INSTANCES: usize = 10_000;
/// Resource instances in one scan.
pub(super) const MAX_RESOURCES: usize = 200_000;

/// The warning where the limit on resource instances cuts the scan.
pub(super) fn too_many(at: Span) -> Diagnostic {
    Diagnostic::warning(
        at,
        format!("more than {MAX_RESOURCES} resource instances: the rest are not scanned"),
    )
}

/// An instance key as it appears in an address.
#[derive(Clone, Debug)]
pub enum Key {
    Index(usize),
    Str(String),
    /// Expanded over an unknown collection.
    Unknown,
}

impl Key {
    pub fn suffix(&self) -> String {
        match self {
            Key::Index(i) => format!("[{i}]"),
            Key::Str(s) => {
                let mut out = String::from("[\"");
                for c in s.chars() {
                    match c {
                        '"' => out.push_str("\\\""),
                        '\\' => out.push_str("\\\\"),
                        '\n' => out.push_str("\\n"),
                        c => out.push(c),
                    }
                }
                out.push_str("\"]");
                out
            }
            Key::Unknown => "[*]".into(),
        }
    }
}

pub enum Expansion {
    Single,
    Counted(usize),
    /// Keys and values; with the (type, name) of the resource iterated when `for_each`
    /// names another resource's instances.
    Keyed(Vec<(Str, Node)>, Option<(String, String)>),
    Unknown(String),
}

/// Meta-arguments: not part of a resource's configuration body.
const META_ATTRS: &[&str] = &["count", "for_each", "provider", "depends_on"];
const META_BLOCKS: &[&str] = &["lifecycle", "provisioner", "connection"];

pub fn link_kind(attr: &str) -> EdgeKind {
    match attr {
        "target_resource_id" | "scope" | "resource_id" => EdgeKind::Scope,
        "depends_on" => EdgeKind::DependsOn,
        _ => EdgeKind::Reference,
    }
}

fn join(prefix: &str, name: &str) -> String {
    if prefix.is_empty() {
        name.to_string()
    } else {
        format!("{prefix}.{name}")
    }
}

impl Eval<'_> {
    /// How a block with `count`/`for_each` expands.
    pub fn expansion(&self, body: &Body, scope: &mut Scope, header: Span, what: &str) -> Expansion {
        // a block whose count/for_each refers back to the block itself (directly or through
        // another resource) is a cycle Terraform rejects
        let key = (scope.inst, header);
        if self.expanding.borrow().contains(&key) {
            return Expansion::Unknown(format!("{what}: count/for_each depends on itself"));
        }
        self.expanding.borrow_mut().push(key);
        let e = self.expansion_inner(body, scope, what);
        self.expanding.borrow_mut().pop();
        e
    }

    fn expansion_inner(&self, body: &Body, scope: &mut Scope, what: &str) -> Expansion {
        if let Some(c) = body.attr("count") {
            let v = self.eval_lenient(&c.expr, scope);
            return match &v.value {
                Value::Unknown(u) => Expansion::Unknown(format!("count unknown: {}", u.reason)),
                other => match eval::as_f64(other) {
                    Some(n) if n <= 0.0 => Expansion::Counted(0),
                    Some(n) => {
                        let n = if n > MAX_INSTANCES as f64 {
                            self.diag(Diagnostic::warning(
                                c.expr.span,
                                format!("{what}: count {n} capped at {MAX_INSTANCES} instances"),
                            ));
                            MAX_INSTANCES
                        } else {
                            n as usize
                        };
                        Expansion::Counted(n)
                    }
                    None => Expansion::Unknown(format!(
                        "count is a {}, not a number",
                        other.type_name()
                    )),
                },
            };
        }
        if let Some(fe) = body.attr("for_each") {
            if let Some(e) = self.over_resource(&fe.expr, scope, what) {
                return e;
            }
            let v = self.eval_lenient(&fe.expr, scope);
            let mut items: Vec<(Str, Node)> = match &v.value {
                Value::Object(o) => eval::sorted_entries(o)
                    .into_iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect(),
                Value::Array(a) => {
                    let mut out = Vec::new();
                    for x in a {
                        match eval::to_string(x) {
                            Ok(s) => out.push((Str::from(s), x.clone())),
                            Err(eval::Flow::Unknown(r)) => {
                                return Expansion::Unknown(format!("for_each element unknown: {r}"))
                            }
                            Err(eval::Flow::Error(_)) => {
                                return Expansion::Unknown(
                                    "for_each over a list of non-strings".into(),
                                )
                            }
                        }
                    }
                    // a set of strings: sorted, without duplicates
                    out.sort_by(|a, b| a.0.cmp(&b.0));
                    out.dedup_by(|a, b| a.0 == b.0);
                    out
                }
                Value::Unknown(u) => {
                    return Expansion::Unknown(format!("for_each unknown: {}", u.reason))
                }
                Value::Null => return Expansion::Unknown("for_each is null".into()),
                other => {
                    return Expansion::Unknown(format!("for_each over a {}", other.type_name()))
                }
            };
            if items.len() > MAX_INSTANCES {
                self.diag(Diagnostic::warning(
                    fe.expr.span,
                    format!(
                        "{what}: for_each over {} items capped at {MAX_INSTANCES}",
                        items.len()
                    ),
                ));
                items.truncate(MAX_INSTANCES);
            }
            return Expansion::Keyed(items, None);
        }
        Expansion::Single
    }

    /// `for_each = azurerm_x.y` over a resource that itself has `for_each`: Terraform knows
    /// its instance keys at plan time, so the instances here are known too.
    fn over_resource(&self, e: &Expr, scope: &mut Scope, what: &str) -> Option<Expansion> {
        let ExprKind::Traversal(root, ops) = &e.kind else {
            return None;
        };
        let (ExprKind::Var(ty), [Op::Attr(name)]) = (&root.kind, ops.as_slice()) else {
            return None;
        };
        if scope.bindings.iter().any(|(n, _)| n == ty) {
            return None;
        }
        let inst = self.inst(scope.inst);
        let block = self.defs[inst.def].resource(ty, name)?;
        block.body.attr("for_each")?;
        let d = self.expand_depth.get();
        if d > 16 {
            return None;
        }
        self.expand_depth.set(d + 1);
        let inner = self.expansion(&block.body, &mut Scope::new(scope.inst), block.header, what);
        self.expand_depth.set(d);
        match inner {
            Expansion::Keyed(items, _) => Some(Expansion::Keyed(
                items
                    .into_iter()
                    .map(|(k, v)| (k, unknown(format!("instance of {ty}.{name}"), v.span)))
                    .collect(),
                Some((ty.clone(), name.clone())),
            )),
            _ => None,
        }
    }

    /// Builds the resources of every module instance, creating nested instances as it goes.
    /// `roots` receives, per resource, the root module it was instantiated from.
    pub fn build_all(&self, out: &mut Vec<Resource>, roots: &mut Vec<usize>) {
        let mut id = 0;
        while id < self.insts.borrow().len() {
            let inst = self.inst(id);
            if inst.scratch {
                id += 1;
                continue;
            }
            let def = &self.defs[inst.def];
            for call in &def.calls {
                self.child(id, &call.labels[0]);
            }
            for block in &def.resources {
                self.build_resource(id, block, out);
            }
            roots.resize(out.len(), inst.root_def);
            id += 1;
        }
    }

    fn build_resource(&self, id: usize, block: &Block, out: &mut Vec<Resource>) {
        if out.len() >= self.resource_cap.get() {
            self.diag(too_many(block.header));
            return;
        }
        let inst = self.inst(id);
        let ty = &block.labels[0];
        let rname = &block.labels[1];
        let mut scope = Scope::new(id);
        let base = format!("{}{ty}.{rname}", inst.addr);
        let what = base.clone();
        let instances: Vec<(Key, Scope)> =
            match self.expansion(&block.body, &mut scope, block.header, &what) {
                Expansion::Single => vec![(Key::Index(usize::MAX), scope)],
                Expansion::Counted(n) => (0..n)
                    .map(|i| {
                        let mut s = Scope::new(id);
                        s.count = Some(Node::new(Value::Int(i as i64), block.header));
                        (Key::Index(i), s)
                    })
                    .collect(),
                Expansion::Keyed(items, of) => items
                    .into_iter()
                    .map(|(k, v)| {
                        let mut s = Scope::new(id);
                        s.each = Some((Node::new(Value::String(Str::from(k.as_str())), v.span), v));
                        s.each_of = of.clone();
                        (Key::Str(k.to_string()), s)
                    })
                    .collect(),
                Expansion::Unknown(reason) => {
                    let mut s = Scope::new(id);
                    s.each = Some((
                        unknown(reason.clone(), block.header),
                        unknown(reason.clone(), block.header),
                    ));
                    s.count = Some(unknown(reason, block.header));
                    vec![(Key::Unknown, s)]
                }
            };
        for (key, mut scope) in instances {
            let address = match key {
                Key::Index(usize::MAX) => base.clone(),
                ref k => format!("{base}{}", k.suffix()),
            };
            let mut links = Vec::new();
            let mut res = if ty == "azapi_resource" || ty == "azapi_update_resource" {
                super::azapi::lower(self, block, &mut scope, &mut links)
            } else {
                let body =
                    self.eval_body(&block.body, &mut scope, "", &mut links, block.span, true);
                let name = body
                    .get("name")
                    .and_then(|n| n.as_str())
                    .map(str::to_string);
                Resource {
                    dialect: Dialect::Terraform,
                    language: Language::Terraform,
                    type_name: ty.clone(),
                    api_version: inst.version.clone(),
                    address: String::new(),
                    name,
                    file: block.header.file,
                    header: block.header,
                    body,
                    call_chain: Vec::new(),
                    partial: false,
                    conditional: None,
                    links: Vec::new(),
                    root: 0,
                }
            };
            if let Some(dep) = block.body.attr("depends_on") {
                if let ExprKind::Array(items) = &dep.expr.kind {
                    for it in items {
                        // pre-0.12 configurations quote the reference
                        let quoted = match &it.kind {
                            ExprKind::Str(s) => {
                                Some(s.split('.').map(str::to_string).collect::<Vec<_>>())
                            }
                            _ => None,
                        };
                        if let Some(path) = quoted.or_else(|| it.as_path()) {
                            let target = match path.first().map(String::as_str) {
                                Some("module") if path.len() >= 2 => {
                                    format!("{}module.{}", inst.target, path[1])
                                }
                                Some("data") | None => continue,
                                Some(_) if path.len() >= 2 => {
                                    format!("{}{}.{}", inst.target, path[0], path[1])
                                }
                                _ => continue,
                            };
                            links.push(Link {
                                kind: EdgeKind::DependsOn,
                                path: "depends_on".into(),
                                target,
                            });
                        }
                    }
                }
            }
            let own = format!("{}{ty}.{rname}", inst.target);
            links.retain(|l| l.target != own);
            let mut seen = foldhash::HashSet::default();
            links.retain(|l| seen.insert((l.kind, l.path.clone(), l.target.clone())));
            // `count`/`for_each` not known before apply (here or on an enclosing module
            // call) may mean no instance at all.
            if matches!(key, Key::Unknown) {
                res.conditional =
                    Some("count/for_each not known before apply: there may be no instance".into());
            } else if inst.addr.contains("[*]") {
                res.conditional = Some(
                    "module count/for_each not known before apply: there may be no instance".into(),
                );
            }
            res.address = address;
            res.root = inst.root_def as u32;
            res.call_chain = inst.call_chain.clone();
            res.links = links;
            out.push(res);
        }
    }

    /// A block body as an object: attributes as values, nested blocks as arrays of objects.
    pub fn eval_body(
        &self,
        body: &Body,
        scope: &mut Scope,
        prefix: &str,
        links: &mut Vec<Link>,
        span: Span,
        top: bool,
    ) -> Node {
        let mut members: Vec<(Str, Node)> = Vec::new();
        for a in &body.attrs {
            if top && META_ATTRS.contains(&a.name.as_str()) {
                continue;
            }
            let path = join(prefix, &a.name);
            let (r, refs) = self.eval_recorded(&a.expr, scope);
            let n = r.unwrap_or_else(|e| self.failed(&e, a.expr.span));
            for t in refs {
                links.push(Link {
                    kind: link_kind(&a.name),
                    path: path.clone(),
                    target: t,
                });
            }
            // an argument set to null is an omitted argument: the provider default applies
            if matches!(n.value, Value::Null) {
                continue;
            }
            members.push((Str::from(a.name.as_str()), n));
        }
        for b in &body.blocks {
            if top && META_BLOCKS.contains(&b.kind.as_str()) {
                continue;
            }
            if b.kind == "dynamic" && b.labels.len() == 1 {
                self.dynamic(b, scope, prefix, links, &mut members);
                continue;
            }
            let path = join(prefix, &b.kind);
            let obj = self.eval_body(&b.body, scope, &path, links, b.header, false);
            push_block(&mut members, &b.kind, obj);
        }
        Node::new(Value::Object(members.into()), span)
    }

    fn dynamic(
        &self,
        b: &Block,
        scope: &mut Scope,
        prefix: &str,
        links: &mut Vec<Link>,
        members: &mut Vec<(Str, Node)>,
    ) {
        let label = &b.labels[0];
        let path = join(prefix, label);
        let iter_name = match b.body.attr("iterator").map(|a| &a.expr.kind) {
            Some(ExprKind::Var(v)) | Some(ExprKind::Str(v)) => v.clone(),
            _ => label.clone(),
        };
        let Some(content) = b.body.blocks_of("content").next() else {
            return;
        };
        let coll = match b.body.attr("for_each") {
            Some(fe) => {
                let (r, refs) = self.eval_recorded(&fe.expr, scope);
                for t in refs {
                    links.push(Link {
                        kind: EdgeKind::Reference,
                        path: path.clone(),
                        target: t,
                    });
                }
                r.unwrap_or_else(|e| self.failed(&e, fe.expr.span))
            }
            None => unknown("dynamic block without for_each", b.header),
        };
        let items = match eval::iter_pairs(&coll) {
            Ok(Some(items)) => items,
            _ => {
                // unknown collection: one block whose iterator is unknown
                let u = unknown(
                    format!(
                        "dynamic \"{label}\" for_each unknown: {}",
                        eval::unknown_reason(&coll)
                    ),
                    b.header,
                );
                let it = Node::new(
                    Value::Object(ecow::eco_vec![
                        ("key".into(), u.clone()),
                        ("value".into(), u.clone())
                    ]),
                    u.span,
                );
                scope.bindings.push((iter_name, it));
                let mut obj = self.eval_body(&content.body, scope, &path, links, b.header, false);
                scope.bindings.pop();
                if !members.iter().any(|(k, _)| k == label) {
                    // No other block of this kind: whether there is any at all is unknown
                    // (the collection may be empty), so the blocks themselves are unknown.
                    // Keeping one block's shape here made "is the block set" pass.
                    members.push((Str::from(label.as_str()), u));
                    return;
                }
                // Beside other blocks of the kind: one more whose values are unknown, so
                // none of them may be taken as set; its shape (which arguments it would
                // set) is kept.
                let Value::Unknown(why) = &u.value else {
                    return;
                };
                blank(&mut obj, &why.reason);
                push_block(members, label, obj);
                return;
            }
        };
        if items.is_empty() && !members.iter().any(|(k, _)| k == label) {
            return;
        }
        for (k, v) in items.into_iter().take(MAX_INSTANCES) {
            let it = Node::new(
                Value::Object(ecow::eco_vec![("key".into(), k), ("value".into(), v)]),
                b.header,
            );
            scope.bindings.push((iter_name.clone(), it));
            let obj = self.eval_body(&content.body, scope, &path, links, b.header, false);
            scope.bindings.pop();
            push_block(members, label, obj);
        }
    }
}

/// Every value of a block's content made unknown; nested blocks keep their shape.
fn blank(n: &mut Node, reason: &str) {
    match &mut n.value {
        Value::Object(members) => members
            .make_mut()
            .iter_mut()
            .for_each(|(_, v)| blank(v, reason)),
        Value::Array(items)
            if items.iter().all(|x| matches!(x.value, Value::Object(_))) && !items.is_empty() =>
        {
            items.make_mut().iter_mut().for_each(|x| blank(x, reason))
        }
        _ => *n = unknown(reason.to_string(), n.span),
    }
}

fn push_block(members: &mut Vec<(Str, Node)>, kind: &str, obj: Node) {
    let span = obj.span;
    match members.iter_mut().find(|(k, _)| k == kind) {
        Some((
            _,
            Node {
                value: Value::Array(a),
                ..
            },
        )) => a.push(obj),
        // After `dynamic` blocks of an unknown count: they stay, as one unknown block.
        Some((_, slot)) if matches!(slot.value, Value::Unknown(_)) => {
            let dynamic = std::mem::replace(slot, Node::new(Value::Null, span));
            *slot = Node::new(Value::Array(ecow::eco_vec![dynamic, obj]), span);
        }
        Some(slot) => slot.1 = Node::new(Value::Array(ecow::eco_vec![obj]), span),
        None => members.push((
            Str::from(kind),
            Node::new(Value::Array(ecow::eco_vec![obj]), span),
        )),
    }
}
