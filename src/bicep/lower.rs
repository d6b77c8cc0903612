//! lower (Bicep): resource and module statements → resources in the ARM dialect.
//!
//! A resource body becomes the object ARM would deploy (`name`, `location`, `properties`, …)
//! with the full type and name of child resources (nested or `parent:`), one resource per
//! loop item, known-false conditions dropped and unknown ones kept. Symbolic references
//! (`stg.id`, `parent:`, `scope:`, `dependsOn`) become links. Module calls instantiate the
//! module file with the caller's values, recursively.

use super::eval::{
    as_index, string_literal, unknown_value, Instance, ModSlot, ResInfo, ResPath, Sym,
};
use super::syntax::*;
use crate::arm::template::mark_conditional;
use crate::eval::functions;
use crate::model::{Dialect, EdgeKind, Language, Link, Node, Resource, Seq, Str, Value};
use crate::source::Span;
use foldhash::{HashMap, HashMapExt};
use std::cell::RefCell;
use std::rc::Rc;

/// Module calls nested deeper than this are not followed.
const MAX_MODULE_DEPTH: usize = 32;

/// One module call, evaluated: its resources (taken when the call statement is lowered)
/// and its outputs (read by `mod.outputs.x`).
pub(crate) struct ModuleResult {
    pub resources: RefCell<Option<Vec<Resource>>>,
    pub outputs: Node,
}

/// A Bicep module call already evaluated in this session, kept to answer the same call
/// again. ResourceModules and Azure Verified Modules tests deploy each module twice in a
/// loop (`for iteration in ['init', 'idem']`) with the same parameters: a third of the
/// module calls of the Bicep set were repeats, each evaluated in full.
///
/// Two calls of a file are the same when their parameter values are equal (with their
/// spans, so the findings they lead to point at the same code) and so is the module stack
/// (so a cycle or the depth limit would be met the same way). Their results then differ only
/// in the address prefix and the call chain, which are swapped on a hit. Diagnostics from
/// the first evaluation are not repeated: the scan reports each one once anyway.
pub(crate) struct CachedCall {
    given: HashMap<Str, Node>,
    stack: Vec<std::path::PathBuf>,
    prefix: String,
    chain: Vec<Span>,
    resources: Vec<Resource>,
    outputs: Node,
}

/// The loop, condition and object of a resource or module body.
pub(super) fn unwrap_body(body: &Expr) -> (Option<&ForExpr>, Option<&Expr>, &Expr) {
    match &body.kind {
        ExprKind::For(f) => match &f.body.kind {
            ExprKind::If(i) => (Some(f), Some(&i.condition), &i.body),
            _ => (Some(f), None, &f.body),
        },
        ExprKind::If(i) => (None, Some(&i.condition), &i.body),
        _ => (None, None, body),
    }
}

fn object_items(obj: &Expr) -> &[ObjectItem] {
    match &obj.kind {
        ExprKind::Object(items) => items,
        _ => &[],
    }
}

/// A property of an object literal, by name (ARM names are case-insensitive).
pub(super) fn obj_prop<'e>(obj: &'e Expr, key: &str) -> Option<&'e Expr> {
    object_items(obj).iter().find_map(|it| match it {
        ObjectItem::Property(p) if p.key.name().is_some_and(|k| k.eq_ignore_ascii_case(key)) => {
            Some(&p.value)
        }
        _ => None,
    })
}

fn is_registry(path: &str) -> bool {
    let l = path.to_ascii_lowercase();
    l.starts_with("br:") || l.starts_with("br/") || l.starts_with("ts:") || l.starts_with("ts/")
}

impl Instance<'_, '_> {
    // ------------------------------------------------------------ symbolic resources

    fn local_shadows(&self, name: &str) -> bool {
        self.locals.iter().any(|(n, _)| n == name)
    }

    /// True when `e` names a resource (`stg`, `stg[i]`, `srv::db`).
    pub(super) fn is_resource_expr(&self, e: &Expr) -> bool {
        match &e.kind {
            ExprKind::Ident(id) => {
                !self.local_shadows(&id.name)
                    && match self.syms.get(&id.name) {
                        Some(s) => matches!(s, Sym::Resource(_)),
                        None => self.syms.table.nested.contains_key(&id.name),
                    }
            }
            ExprKind::Index(ix) => {
                matches!(&ix.base.kind, ExprKind::Ident(_)) && self.is_resource_expr(&ix.base)
            }
            ExprKind::ResourceAccess(_) => true,
            ExprKind::Paren(b) | ExprKind::NonNull(b) => self.is_resource_expr(b),
            _ => false,
        }
    }

    /// The statement path and loop index of a resource expression.
    fn resource_target(&mut self, e: &Expr) -> Option<(ResPath, Option<i64>)> {
        match &e.kind {
            ExprKind::Ident(id) if self.local_shadows(&id.name) => None,
            ExprKind::Ident(id) => match self.syms.get(&id.name) {
                Some(Sym::Resource(i)) => Some((vec![*i], None)),
                Some(_) => None,
                None => self
                    .syms
                    .table
                    .nested
                    .get(&id.name)
                    .map(|p| (p.clone(), None)),
            },
            ExprKind::Index(ix) => {
                let (path, _) = self.resource_target(&ix.base)?;
                let i = self.expr(&ix.index);
                Some((path, Some(as_index(&i.value).unwrap_or(-1))))
            }
            ExprKind::ResourceAccess(ra) => {
                let (mut path, idx) = self.resource_target(&ra.base)?;
                let unit = self.unit.clone();
                let stmt = resource_stmt_of(&unit.parsed.program.statements, &path)?;
                let StatementKind::Resource(d) = &stmt.kind else {
                    return None;
                };
                let (_, _, obj) = unwrap_body(&d.body);
                let j = object_items(obj).iter().position(|it| {
                    matches!(it, ObjectItem::Resource(s)
                        if matches!(&s.kind, StatementKind::Resource(c) if c.name.name == ra.name.name))
                })?;
                path.push(j);
                Some((path, idx))
            }
            ExprKind::Paren(b) | ExprKind::NonNull(b) => self.resource_target(b),
            _ => None,
        }
    }

    pub(super) fn resource_ref(&mut self, e: &Expr) -> Option<Rc<ResInfo>> {
        let (path, idx) = self.resource_target(e)?;
        self.resource_info(&path, idx)
    }

    /// Binds the loop variables of every looped resource on `path` for item `idx`
    /// (negative: unknown).
    fn bind_resource_loops(&mut self, path: &[usize], idx: Option<i64>) -> bool {
        for depth in 1..=path.len() {
            let unit = self.unit.clone();
            let Some(stmt) = resource_stmt_of(&unit.parsed.program.statements, &path[..depth])
            else {
                return false;
            };
            let StatementKind::Resource(d) = &stmt.kind else {
                return false;
            };
            let (Some(f), _, _) = unwrap_body(&d.body) else {
                continue;
            };
            let Some(i) = idx else {
                // A loop referred to without an index is a collection.
                return false;
            };
            let key = (depth == 1).then_some((false, path[0]));
            let coll = self.iterable(key, f);
            let item = match (&coll.value, usize::try_from(i)) {
                (Value::Array(a), Ok(i)) if i < a.len() => a[i].clone(),
                _ => Node::unknown("loop item not known before deployment", coll.span),
            };
            let idx_node = if i >= 0 {
                Node::new(Value::Int(i), coll.span)
            } else {
                Node::unknown("loop index not known before deployment", coll.span)
            };
            self.bind_loop(f, item, idx_node);
        }
        true
    }

    /// Type, name and id of a resource statement (one loop item), memoised. While a
    /// resource body is evaluated, every resource it refers to is logged: Bicep makes those
    /// implicit dependencies.
    pub(super) fn resource_info(
        &mut self,
        path: &[usize],
        idx: Option<i64>,
    ) -> Option<Rc<ResInfo>> {
        let info = self.resource_info_memo(path, idx);
        if let (Some(log), Some(i)) = (self.dep_log.as_mut(), &info) {
            log.push(i.clone());
        }
        info
    }

    fn resource_info_memo(&mut self, path: &[usize], idx: Option<i64>) -> Option<Rc<ResInfo>> {
        let key = (path.to_vec(), idx);
        if let Some(m) = self.res_memo.get(&key) {
            return m.clone();
        }
        if self.sess.depth > super::eval::MAX_EVAL_DEPTH {
            return None;
        }
        self.res_memo.insert(key.clone(), None);
        self.sess.depth += 1;
        // What the declaration refers to is logged apart: an `existing` resource passes it
        // on to the resources that refer to it.
        let log = self.dep_log.replace(Vec::new());
        let info = self.resource_info_inner(path, idx);
        let used = std::mem::replace(&mut self.dep_log, log).unwrap_or_default();
        let info = info.map(|mut i| {
            if i.existing {
                i.deps = declared_deps(&used);
            }
            Rc::new(i)
        });
        self.sess.depth -= 1;
        self.res_memo.insert(key, info.clone());
        info
    }

    fn resource_info_inner(&mut self, path: &[usize], idx: Option<i64>) -> Option<ResInfo> {
        let parent_from_path = if path.len() > 1 {
            self.resource_info(&path[..path.len() - 1], idx)
        } else {
            None
        };
        let saved = std::mem::take(&mut self.locals);
        let info = if self.bind_resource_loops(path, idx) {
            self.compute_info(path, parent_from_path)
        } else {
            None
        };
        self.locals = saved;
        info
    }

    fn compute_info(
        &mut self,
        path: &[usize],
        nested_parent: Option<Rc<ResInfo>>,
    ) -> Option<ResInfo> {
        let unit = self.unit.clone();
        let stmt = resource_stmt_of(&unit.parsed.program.statements, path)?;
        let StatementKind::Resource(d) = &stmt.kind else {
            return None;
        };
        let (_, _, obj) = unwrap_body(&d.body);
        let parent = match obj_prop(obj, "parent") {
            Some(p) => self.resource_ref(p),
            None => nested_parent,
        };
        let (raw_type, version) = match string_literal(&d.type_string) {
            Some(t) => match t.split_once('@') {
                Some((t, v)) => (t.to_string(), Some(v.to_string())),
                None => (t.to_string(), None),
            },
            None => return None,
        };
        let (type_name, api_version) = match &parent {
            // Nested children may name only their own segment and inherit the version.
            Some(p) if !raw_type.contains('/') => (
                format!("{}/{}", p.type_name, raw_type),
                version.or_else(|| p.api_version.clone()),
            ),
            _ => (raw_type, version),
        };
        let own_name = match obj_prop(obj, "name") {
            Some(n) => self.expr(n).value,
            None => unknown_value("resource without a name"),
        };
        let mut type_name = type_name;
        let mut provider_scope = None;
        let mut own_name = own_name;
        // `Microsoft.Storage/storageAccounts/providers/roleAssignments` named
        // `acct/Microsoft.Authorization/x`: an extension resource on the account, as ARM
        // reads it.
        if let Some(i) = type_name.to_ascii_lowercase().find("/providers/") {
            let scope_type = type_name[..i].to_string();
            let ext_type = type_name[i + "/providers/".len()..].to_string();
            let scope_segments = scope_type.split('/').count() - 1;
            match &own_name {
                Value::String(n) if n.split('/').count() > scope_segments + 1 => {
                    let parts: Vec<&str> = n.split('/').collect();
                    provider_scope = Some(format!(
                        "{scope_type}/{}",
                        parts[..scope_segments].join("/")
                    ));
                    type_name = format!("{}/{ext_type}", parts[scope_segments]);
                    own_name = Value::String(Str::from(parts[scope_segments + 1..].join("/")));
                }
                _ => type_name = ext_type,
            }
        }
        let name = match (&parent, own_name) {
            (Some(p), Value::String(n)) => match &p.name {
                Value::String(pn) => Value::String(compact_str::format_compact!("{pn}/{n}")),
                other => other.clone(),
            },
            (_, n @ Value::String(_)) => n,
            (_, Value::Unknown(u)) => Value::Unknown(u),
            (_, other) => unknown_value(format!("resource name is {}", other.type_name())),
        };
        let scope = obj_prop(obj, "scope")
            .filter(|s| self.is_resource_expr(s))
            .cloned();
        let scope_info = scope.as_ref().and_then(|s| self.resource_ref(s));
        let id = match (&name, &scope_info) {
            (Value::String(n), Some(s)) => match &s.id {
                Value::String(sid) => Value::String(compact_str::format_compact!(
                    "{sid}/providers/{type_name}/{n}"
                )),
                other => other.clone(),
            },
            (Value::String(n), None) => {
                let f = match self.syms.table.target_scope.as_str() {
                    "subscription" => "subscriptionResourceId",
                    "tenant" => "tenantResourceId",
                    "managementgroup" => "managementGroupResourceId",
                    _ => "resourceId",
                };
                match functions::call(
                    f,
                    vec![
                        Value::String(Str::from(type_name.as_str())),
                        Value::String(n.clone()),
                    ],
                    0,
                ) {
                    Some(Ok(v)) => v,
                    _ => unknown_value("resource id cannot be built"),
                }
            }
            (other, _) => other.clone(),
        };
        Some(ResInfo {
            type_name,
            api_version,
            name,
            id,
            provider_scope,
            parent: parent.as_ref().map(|p| match &p.name {
                Value::String(n) => {
                    Value::String(compact_str::format_compact!("{}/{n}", p.type_name))
                }
                other => other.clone(),
            }),
            parent_existing: parent.as_ref().is_some_and(|p| p.existing),
            existing: d.existing,
            deps: Vec::new(),
            parent_deps: match &parent {
                Some(p) if p.existing => p.deps.clone(),
                _ => Vec::new(),
            },
        })
    }

    /// The collection of a resource or module loop; top-level ones (which see only the
    /// file's scope) are evaluated once, not once per item.
    fn iterable(&mut self, key: Option<(bool, usize)>, f: &ForExpr) -> Rc<Node> {
        if let Some(n) = key.and_then(|k| self.loop_cache.get(&k)) {
            return n.clone();
        }
        let n = Rc::new(self.expr(&f.iterable));
        if let Some(k) = key {
            self.loop_cache.insert(k, n.clone());
        }
        n
    }

    // ------------------------------------------------------------ modules

    pub(super) fn module_ref(&mut self, e: &Expr) -> Option<(usize, Option<i64>)> {
        match &e.kind {
            ExprKind::Ident(id) => match self.syms.get(&id.name) {
                Some(Sym::Module(i)) if !self.local_shadows(&id.name) => Some((*i, None)),
                _ => None,
            },
            ExprKind::Index(ix) => {
                let (i, _) = self.module_ref(&ix.base)?;
                let n = self.expr(&ix.index);
                Some((i, Some(as_index(&n.value).unwrap_or(-1))))
            }
            ExprKind::Paren(b) | ExprKind::NonNull(b) => self.module_ref(b),
            _ => None,
        }
    }

    pub(super) fn module_property(
        &mut self,
        i: usize,
        idx: Option<i64>,
        name: &Ident,
        r: TextRange,
    ) -> Node {
        if name.name != "outputs" {
            return self.unknown(format!("module property '{}'", name.name), r);
        }
        match self.module_instance(i, idx) {
            Some(m) => m.outputs.clone(),
            None => self.unknown("module outputs not known before deployment", r),
        }
    }

    /// Evaluates one call of module statement `i` (loop item `idx`), memoised.
    fn module_instance(&mut self, i: usize, idx: Option<i64>) -> Option<Rc<ModuleResult>> {
        match self.modules.get(&(i, idx)) {
            Some(ModSlot::Done(m)) => return Some(m.clone()),
            Some(ModSlot::Evaluating) => return None,
            None => {}
        }
        self.modules.insert((i, idx), ModSlot::Evaluating);
        let saved = std::mem::take(&mut self.locals);
        let log = self.dep_log.take();
        let r = self.module_call(i, idx);
        self.dep_log = log;
        self.locals = saved;
        match &r {
            Some(m) => {
                self.modules.insert((i, idx), ModSlot::Done(m.clone()));
            }
            None => {
                self.modules.remove(&(i, idx));
            }
        }
        r
    }

    fn module_call(&mut self, i: usize, idx: Option<i64>) -> Option<Rc<ModuleResult>> {
        let unit = self.unit.clone();
        let stmt = &unit.parsed.program.statements[i];
        let StatementKind::Module(d) = &stmt.kind else {
            return None;
        };
        let path = string_literal(&d.path)?;
        if is_registry(path) {
            return None;
        }
        let (lp, cond, obj) = unwrap_body(&d.body);
        match (lp, idx) {
            (Some(f), Some(ix)) => {
                let coll = self.iterable(Some((true, i)), f);
                let item = match (&coll.value, usize::try_from(ix)) {
                    (Value::Array(a), Ok(k)) if k < a.len() => a[k].clone(),
                    _ => Node::unknown("loop item not known before deployment", coll.span),
                };
                let idx_node = if ix >= 0 {
                    Node::new(Value::Int(ix), coll.span)
                } else {
                    Node::unknown("loop index not known before deployment", coll.span)
                };
                self.bind_loop(f, item, idx_node);
            }
            (Some(_), None) => return None,
            _ => {}
        }
        let conditional = match cond.map(|c| self.expr(c).value) {
            Some(Value::Bool(false)) => return None,
            Some(Value::Bool(true)) | None => None,
            Some(_) => {
                Some("deployed only if a module condition not known before deployment holds")
            }
        };
        let conditional = conditional.or(match idx {
            Some(ix) if ix < 0 => {
                Some("module loop over a collection not known before deployment (it may be empty)")
            }
            _ => None,
        });
        let r = self.module_call_inner(i, d, path, obj, idx);
        if let (Some(m), Some(reason)) = (&r, conditional) {
            if let Some(rs) = m.resources.borrow_mut().as_mut() {
                mark_conditional(rs, reason);
            }
        }
        r
    }

    fn module_call_inner(
        &mut self,
        i: usize,
        d: &ModuleDecl,
        path: &str,
        obj: &Expr,
        idx: Option<i64>,
    ) -> Option<Rc<ModuleResult>> {
        let unit = self.unit.clone();
        let stmt = &unit.parsed.program.statements[i];
        let mut given = HashMap::new();
        if let Some(p) = obj_prop(obj, "params") {
            let n = self.expr(p);
            match n.value {
                Value::Object(members) => {
                    for (k, v) in members {
                        given.insert(k, v);
                    }
                }
                _ => {
                    given.insert(Str::from(super::eval::ALL_UNKNOWN), n);
                }
            }
        }
        let target = self.sess.loader.resolve_local(&unit, path)?;
        let call_span = Span::new(
            self.file(),
            stmt.keyword.start as usize,
            d.path.range.end as usize,
        );
        if self.sess.module_stack.contains(&target) {
            let chain: Vec<String> = self
                .sess
                .module_stack
                .iter()
                .chain(std::iter::once(&target))
                .map(|p| self.sess.loader.display(p))
                .collect();
            self.sess.diags.push(
                crate::model::Diagnostic::error(
                    self.span(d.path.range),
                    format!("module includes itself: {}", chain.join(" -> ")),
                )
                .with_help("Bicep rejects cyclic modules; this branch is not scanned"),
            );
            return None;
        }
        if self.sess.module_stack.len() >= MAX_MODULE_DEPTH {
            self.warn(
                d.path.range,
                format!("modules nested deeper than {MAX_MODULE_DEPTH} levels are not scanned"),
            );
            return None;
        }
        let suffix = match idx {
            Some(ix) if ix >= 0 => format!("[{ix}]"),
            Some(_) => "[*]".to_string(),
            None => String::new(),
        };
        let prefix = format!("{}{}{}/", self.prefix, d.name.name, suffix);
        let mut chain = self.call_chain.clone();
        chain.push(call_span);
        if target
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("json"))
        {
            return self.json_module(&target, path, d.path.range, given, prefix, chain);
        }
        let module_unit = match self.sess.loader.load(&target) {
            Ok(u) => u,
            Err(e) => {
                self.sess.diags.push(
                    crate::model::Diagnostic::error(
                        self.span(d.path.range),
                        format!("module file '{path}' cannot be read: {e}"),
                    )
                    .with_help("the module's resources are not scanned"),
                );
                return None;
            }
        };
        // A repeat that would cross the resource limit is evaluated, to stop where it stops.
        let room = super::eval::MAX_RESOURCES.saturating_sub(self.sess.resources);
        if let Some(hit) = self.sess.calls.get(target.as_os_str()).and_then(|calls| {
            calls.iter().find(|c| {
                c.given == given && c.stack == self.sess.module_stack && c.resources.len() <= room
            })
        }) {
            let resources: Vec<Resource> = hit
                .resources
                .iter()
                .map(|r| {
                    let mut r = r.clone();
                    let rest = r.address.strip_prefix(&hit.prefix).unwrap_or(&r.address);
                    r.address = format!("{prefix}{rest}");
                    let inner = r.call_chain.get(hit.chain.len()..).unwrap_or_default();
                    r.call_chain = chain.iter().chain(inner).copied().collect();
                    r
                })
                .collect();
            let outputs = hit.outputs.clone();
            self.sess.resources += resources.len();
            return Some(Rc::new(ModuleResult {
                resources: RefCell::new(Some(resources)),
                outputs,
            }));
        }
        let stack = self.sess.module_stack.clone();
        self.sess.module_stack.push(target.clone());
        let mut resources = Vec::new();
        let outputs;
        {
            let mut sub = Instance::new(
                &mut *self.sess,
                module_unit,
                given.clone(),
                prefix.clone(),
                chain.clone(),
            );
            sub.lower(&mut resources);
            outputs = sub.outputs();
        }
        self.sess.module_stack.pop();
        // Only a call that may repeat is kept: one in a loop, or one of several statements
        // of this file calling the same path. Any other call repeats only if its caller is
        // called again: with the same values, that is answered from the cache a level up;
        // with others, this call is evaluated again, to the same result. On the Bicep set
        // no hit was lost, and 934 of 2,024 copies of module results are no longer made.
        if idx.is_some() || self.calls_of(path) > 1 {
            self.sess
                .calls
                .entry(target.into_os_string())
                .or_default()
                .push(CachedCall {
                    given,
                    stack,
                    prefix,
                    chain,
                    resources: resources.clone(),
                    outputs: outputs.clone(),
                });
        }
        Some(Rc::new(ModuleResult {
            resources: RefCell::new(Some(resources)),
            outputs,
        }))
    }

    /// How many module statements of this file name `path`.
    fn calls_of(&self, path: &str) -> usize {
        self.unit
            .parsed
            .program
            .statements
            .iter()
            .filter(|s| match &s.kind {
                StatementKind::Module(d) => string_literal(&d.path) == Some(path),
                _ => false,
            })
            .count()
    }

    /// A module that is an ARM JSON template: evaluated by the ARM frontend with the
    /// caller's values. Its outputs are not evaluated (unknown).
    fn json_module(
        &mut self,
        target: &std::path::Path,
        path: &str,
        at: TextRange,
        given: HashMap<Str, Node>,
        prefix: String,
        chain: Vec<Span>,
    ) -> Option<Rc<ModuleResult>> {
        let (id, root) = match self.sess.loader.load_json(target) {
            Ok(x) => x,
            Err(e) => {
                self.sess.diags.push(
                    crate::model::Diagnostic::error(
                        self.span(at),
                        format!("module file '{path}' cannot be read: {e}"),
                    )
                    .with_help("the module's resources are not scanned"),
                );
                return None;
            }
        };
        let params = crate::arm::template::ParamValues {
            values: given
                .into_iter()
                .map(|(k, v)| (k.as_str().to_ascii_lowercase(), v))
                .collect(),
        };
        let out = crate::arm::template::evaluate(id, &root, &params);
        self.sess.diags.extend(out.diagnostics);
        let resources = out
            .resources
            .into_iter()
            .map(|mut r| {
                r.address = format!("{prefix}{}", r.address);
                r.call_chain = chain.clone();
                r
            })
            .collect();
        Some(Rc::new(ModuleResult {
            resources: RefCell::new(Some(resources)),
            outputs: Node::unknown("outputs of an ARM JSON module", self.span(at)),
        }))
    }

    /// The file's `output` values, as an object.
    pub(super) fn outputs(&mut self) -> Node {
        let unit = self.unit.clone();
        let mut out = Vec::new();
        for s in &unit.parsed.program.statements {
            if let StatementKind::Output(o) = &s.kind {
                let v = self.expr(&o.value);
                out.push((Str::from(o.name.name.as_str()), v));
            }
        }
        Node::new(Value::Object(out.into()), Span::file_start(self.file()))
    }

    fn lower_module(&mut self, i: usize, out: &mut Vec<Resource>) {
        let unit = self.unit.clone();
        let StatementKind::Module(d) = &unit.parsed.program.statements[i].kind else {
            return;
        };
        let Some(path) = string_literal(&d.path) else {
            self.warn(
                d.path.range,
                "module path is not a plain string: its resources are not scanned",
            );
            return;
        };
        if is_registry(path) {
            self.warn(
                d.path.range,
                format!("module from registry not fetched; its resources are not scanned ({path})"),
            );
            return;
        }
        if let Some(target) = self.sess.loader.resolve_local(&unit, path) {
            if !self.sess.loader.in_repo(&target) {
                self.warn(
                    d.path.range,
                    format!("module path '{path}' leads outside the repository root"),
                );
            }
        }
        let (lp, _, _) = unwrap_body(&d.body);
        let indexes: Vec<Option<i64>> = match lp {
            Some(f) => {
                let coll = self.iterable(Some((true, i)), f);
                match &coll.value {
                    Value::Array(a) => {
                        let n = self.cap_loop(a.len(), f.iterable.range);
                        (0..n as i64).map(Some).collect()
                    }
                    _ => vec![Some(-1)],
                }
            }
            None => vec![None],
        };
        for idx in indexes {
            if !self.burn(d.path.range) || self.sess.resources > super::eval::MAX_RESOURCES {
                return;
            }
            if let Some(m) = self.module_instance(i, idx) {
                if let Some(rs) = m.resources.borrow_mut().take() {
                    out.extend(rs);
                }
            }
        }
    }

    // ------------------------------------------------------------ resources

    /// Lowers every resource and module statement of the file, in order.
    pub(super) fn lower(&mut self, out: &mut Vec<Resource>) {
        let unit = self.unit.clone();
        for (i, s) in unit.parsed.program.statements.iter().enumerate() {
            match &s.kind {
                StatementKind::Resource(_) => self.lower_resource(&[i], None, "", out),
                StatementKind::Module(_) => self.lower_module(i, out),
                _ => {}
            }
        }
    }

    fn lower_resource(
        &mut self,
        path: &[usize],
        parent_idx: Option<i64>,
        parent_addr: &str,
        out: &mut Vec<Resource>,
    ) {
        let unit = self.unit.clone();
        let Some(stmt) = resource_stmt_of(&unit.parsed.program.statements, path) else {
            return;
        };
        let StatementKind::Resource(d) = &stmt.kind else {
            return;
        };
        let (lp, cond, _) = unwrap_body(&d.body);
        let addr = if parent_addr.is_empty() {
            format!("{}{}", self.prefix, d.name.name)
        } else {
            format!("{parent_addr}::{}", d.name.name)
        };
        // None: not deployed (a known-false condition); Some(reason): deployed only if a
        // condition not known before deployment holds.
        let check = |this: &mut Self| -> Option<Option<&'static str>> {
            match cond.map(|c| this.expr(c).value) {
                Some(Value::Bool(false)) => None,
                Some(Value::Bool(true)) | None => Some(None),
                Some(_) => Some(Some(
                    "deployed only if a condition not known before deployment holds",
                )),
            }
        };
        match lp {
            Some(f) => {
                let key = (path.len() == 1).then_some((false, path[0]));
                let coll = self.iterable(key, f);
                match &coll.value {
                    Value::Array(items) => {
                        let n = self.cap_loop(items.len(), f.iterable.range);
                        for (i, item) in items.iter().take(n).cloned().enumerate() {
                            if !self.burn(d.body.range)
                                || self.sess.resources > super::eval::MAX_RESOURCES
                            {
                                return;
                            }
                            let mark = self.locals.len();
                            let idx = Node::new(Value::Int(i as i64), item.span);
                            self.bind_loop(f, item, idx);
                            if let Some(c) = check(self) {
                                let start = out.len();
                                self.instance(path, Some(i as i64), &format!("{addr}[{i}]"), out);
                                if let Some(reason) = c {
                                    mark_conditional(&mut out[start..], reason);
                                }
                            }
                            self.locals.truncate(mark);
                        }
                    }
                    _ => {
                        let mark = self.locals.len();
                        let u = Node::unknown("loop item not known before deployment", coll.span);
                        self.bind_loop(f, u.clone(), u);
                        if let Some(c) = check(self) {
                            let start = out.len();
                            self.instance(path, Some(-1), &format!("{addr}[*]"), out);
                            mark_conditional(
                                &mut out[start..],
                                c.unwrap_or("loop over a collection not known before deployment (it may be empty)"),
                            );
                        }
                        self.locals.truncate(mark);
                    }
                }
            }
            None => {
                if let Some(c) = check(self) {
                    let start = out.len();
                    self.instance(path, parent_idx, &addr, out);
                    if let Some(reason) = c {
                        mark_conditional(&mut out[start..], reason);
                    }
                }
            }
        }
    }

    fn instance(&mut self, path: &[usize], idx: Option<i64>, addr: &str, out: &mut Vec<Resource>) {
        let unit = self.unit.clone();
        let Some(stmt) = resource_stmt_of(&unit.parsed.program.statements, path) else {
            return;
        };
        let StatementKind::Resource(d) = &stmt.kind else {
            return;
        };
        let (_, _, obj) = unwrap_body(&d.body);
        let Some(info) = self.resource_info(path, idx) else {
            if string_literal(&d.type_string).is_none() {
                self.warn(
                    d.type_string.range,
                    "resource type is not a plain string: this resource is not checked",
                );
            }
            return;
        };
        let mut children = Vec::new();
        if !d.existing && self.sess.resources >= super::eval::MAX_RESOURCES {
            if self.sess.resources == super::eval::MAX_RESOURCES {
                self.warn(
                    d.type_string.range,
                    format!(
                        "more than {} resources from one entry point: the rest are not scanned",
                        super::eval::MAX_RESOURCES
                    ),
                );
                self.sess.resources += 1;
            }
            return;
        }
        if !d.existing {
            self.sess.resources += 1;
            let type_span = self.span(d.type_string.range);
            let mut members: Seq<(Str, Node)> = ecow::eco_vec![
                (
                    "type".into(),
                    Node::new(Value::String(Str::from(info.type_name.as_str())), type_span),
                ),
                (
                    "apiVersion".into(),
                    Node::new(
                        info.api_version
                            .as_deref()
                            .map(|v| Value::String(Str::from(v)))
                            .unwrap_or_else(|| unknown_value("no API version")),
                        type_span,
                    ),
                ),
            ];
            let mut links = Vec::new();
            let outer_log = self.dep_log.replace(Vec::new());
            if let Some(t) = &info.provider_scope {
                links.push(Link {
                    kind: EdgeKind::Scope,
                    path: "name".into(),
                    target: t.clone(),
                });
            }
            for (j, it) in object_items(obj).iter().enumerate() {
                match it {
                    ObjectItem::Resource(_) => children.push(j),
                    ObjectItem::Spread(s) => {
                        if let Value::Object(m) = self.expr(&s.value).value {
                            for (k, v) in m {
                                super::eval::set_member(&mut members, k, v);
                            }
                        }
                    }
                    ObjectItem::Property(p) => {
                        let Some(key) = self.key(&p.key) else {
                            continue;
                        };
                        let span = self.span(p.value.range);
                        match key.to_ascii_lowercase().as_str() {
                            "parent" => {}
                            "name" => {
                                let mut n = self.expr(&p.value);
                                n.value = info.name.clone();
                                n.span = span;
                                members.push((key, n));
                            }
                            "scope" => {
                                if self.is_resource_expr(&p.value) {
                                    let target = self.resource_ref(&p.value);
                                    let id = target
                                        .map(|t| t.id.clone())
                                        .unwrap_or_else(|| unknown_value("scope not known"));
                                    links.push(Link {
                                        kind: EdgeKind::Scope,
                                        path: "scope".into(),
                                        target: match &id {
                                            Value::String(s) => s.to_string(),
                                            _ => String::new(),
                                        },
                                    });
                                    members.push((key, Node::new(id, span)));
                                }
                            }
                            "dependson" => {
                                let ExprKind::Array(items) = &p.value.kind else {
                                    continue;
                                };
                                let mut deps = Vec::new();
                                for item in items {
                                    let ArrayItem::Value(x) = item else { continue };
                                    if self.module_ref(x).is_some() {
                                        continue;
                                    }
                                    let target = if self.is_resource_expr(x) {
                                        self.resource_ref(x)
                                    } else {
                                        None
                                    };
                                    let id = match &target {
                                        Some(t) => t.id.clone(),
                                        None if self.is_resource_expr(x) => {
                                            unknown_value("dependency")
                                        }
                                        None => self.expr(x).value,
                                    };
                                    // An `existing` resource is not deployed: Bicep compiles
                                    // the dependency into one on what it depends on.
                                    let ids = match &target {
                                        Some(t) if t.existing => t.deps.clone(),
                                        _ => vec![id.clone()],
                                    };
                                    for id in ids {
                                        links.push(Link {
                                            kind: EdgeKind::DependsOn,
                                            path: "dependsOn".into(),
                                            target: match &id {
                                                Value::String(s) => s.to_string(),
                                                _ => String::new(),
                                            },
                                        });
                                    }
                                    deps.push(Node::new(id, self.span(x.range)));
                                }
                                members.push((key, Node::new(Value::Array(deps.into()), span)));
                            }
                            _ => {
                                let v = self.expr(&p.value);
                                super::eval::set_member(&mut members, key, v);
                            }
                        }
                    }
                }
            }
            let used = std::mem::replace(&mut self.dep_log, outer_log).unwrap_or_default();
            let mut implicit: Vec<String> = Vec::new();
            if let (Some(Value::String(p)), false) = (&info.parent, info.parent_existing) {
                implicit.push(p.to_string());
            }
            let from_existing = used.iter().filter(|u| u.existing).flat_map(|u| &u.deps);
            let declared = used
                .iter()
                .filter(|u| !u.existing && !Rc::ptr_eq(u, &info))
                .map(|u| &u.id);
            for id in info.parent_deps.iter().chain(from_existing).chain(declared) {
                let target = match id {
                    Value::String(id) => id.as_str(),
                    _ => "",
                };
                if !implicit.iter().any(|t| t == target) {
                    implicit.push(target.to_string());
                }
            }
            for target in implicit {
                let explicit = links
                    .iter()
                    .any(|l| l.kind == EdgeKind::DependsOn && l.target == target);
                if !explicit {
                    links.push(Link {
                        kind: EdgeKind::DependsOn,
                        path: "dependsOn".into(),
                        target,
                    });
                }
            }
            match &info.parent {
                // A symbolic parent is certain even when its name is not known: the link
                // is kept with an unknown target, so "has no such child" stays unknown.
                Some(t) => links.push(Link {
                    kind: EdgeKind::Parent,
                    path: String::new(),
                    target: match t {
                        Value::String(t) => t.to_string(),
                        _ => String::new(),
                    },
                }),
                None => {
                    // A top-level child named `srv/db` belongs to its parent as in ARM.
                    let parent_type = info.type_name.rsplit_once('/').map(|(p, _)| p);
                    match (&info.name, parent_type) {
                        (Value::String(n), Some(pt)) if pt.contains('/') => {
                            if let Some((pn, _)) = n.rsplit_once('/') {
                                links.push(Link {
                                    kind: EdgeKind::Parent,
                                    path: String::new(),
                                    target: format!("{pt}/{pn}"),
                                });
                            }
                        }
                        // A name not known (`'${server}/admin'` with an unknown server):
                        // the parent cannot be named, but there is one, so "no child
                        // configures this" stays unknown, as in the ARM frontend.
                        (_, Some(pt))
                            if pt.contains('/')
                                && !info.type_name.to_ascii_lowercase().contains("/providers/") =>
                        {
                            links.push(Link {
                                kind: EdgeKind::Parent,
                                path: String::new(),
                                target: String::new(),
                            });
                        }
                        _ => {}
                    }
                }
            }
            let body = Node::new(Value::Object(members), self.span(obj.range));
            if let Some(props) = body.get("properties") {
                crate::arm::template::collect_id_links(props, "properties", &mut links);
            }
            out.push(Resource {
                dialect: Dialect::Arm,
                language: Language::Bicep,
                type_name: info.type_name.clone(),
                api_version: info.api_version.clone(),
                address: addr.to_string(),
                name: match &info.name {
                    Value::String(s) => Some(s.to_string()),
                    _ => None,
                },
                file: self.file(),
                header: Span::new(
                    self.file(),
                    stmt.keyword.start as usize,
                    d.type_string.range.end as usize,
                ),
                body,
                call_chain: self.call_chain.clone(),
                partial: false,
                conditional: None,
                links,
                root: 0,
            });
        } else {
            children = object_items(obj)
                .iter()
                .enumerate()
                .filter(|(_, it)| matches!(it, ObjectItem::Resource(_)))
                .map(|(j, _)| j)
                .collect();
        }
        for j in children {
            let mut child = path.to_vec();
            child.push(j);
            self.lower_resource(&child, idx, addr, out);
        }
    }
}

/// Records the nested resources under `stmt` (at `path`) by symbol.
pub(super) fn collect_nested(
    stmt: &Statement,
    path: &mut ResPath,
    out: &mut HashMap<String, ResPath>,
) {
    let StatementKind::Resource(d) = &stmt.kind else {
        return;
    };
    if path.len() > 16 {
        return;
    }
    let (_, _, obj) = unwrap_body(&d.body);
    for (j, it) in object_items(obj).iter().enumerate() {
        if let ObjectItem::Resource(s) = it {
            if let StatementKind::Resource(c) = &s.kind {
                path.push(j);
                out.entry(c.name.name.clone())
                    .or_insert_with(|| path.clone());
                collect_nested(s, path, out);
                path.pop();
            }
        }
    }
}

pub(super) fn resource_stmt_of<'p>(
    stmts: &'p [Statement],
    path: &[usize],
) -> Option<&'p Statement> {
    let mut stmt = stmts.get(*path.first()?)?;
    for &j in &path[1..] {
        let StatementKind::Resource(d) = &stmt.kind else {
            return None;
        };
        let (_, _, obj) = unwrap_body(&d.body);
        stmt = match object_items(obj).get(j)? {
            ObjectItem::Resource(s) => s,
            _ => return None,
        };
    }
    Some(stmt)
}

/// The ids of the declared resources among `used`, with those an `existing` one passes on.
fn declared_deps(used: &[Rc<ResInfo>]) -> Vec<Value> {
    let mut out: Vec<Value> = Vec::new();
    for u in used {
        let ids = if u.existing {
            u.deps.clone()
        } else {
            vec![u.id.clone()]
        };
        for id in ids {
            if !out.contains(&id) {
                out.push(id);
            }
        }
    }
    out
}
