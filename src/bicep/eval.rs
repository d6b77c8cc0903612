//! evaluate (Bicep): expressions → [`Value`]s, with the spans of where each value was written.
//!
//! One [`Instance`] evaluates one file with one set of parameter values (a module call, a
//! `.bicepparam` file, or the file's own defaults). Parameters and variables are evaluated
//! lazily and memoised; a cycle is unknown. Values keep the span of the expression that
//! wrote them: a parameter's value points where the caller, the `.bicepparam` file or the
//! default wrote it, so findings land on the line to change. Everything that needs a
//! deployment is `Unknown`, never guessed.

use super::modules::{Loader, Unit};
use super::syntax::*;
use crate::eval::functions::{self, values_equal};
use crate::model::{Diagnostic, Node, Seq, Str, Unknown, Value};
use crate::source::{FileId, Span};
use foldhash::{HashMap, HashMapExt};
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::Arc;

/// A value (variable, parameter, interpolated string, reduce accumulator) larger than this
/// becomes unknown: guards against exponential growth (a variable doubling another).
pub(super) const MAX_VALUE_BYTES: usize = 4 * 1024 * 1024;
/// Expression, variable and function-call nesting deeper than this is unknown (the syntax
/// tree is bounded by the parser; chains of variables are not).
pub(super) const MAX_EVAL_DEPTH: usize = 1500;
/// Resources one entry point may declare (loops of loops of modules): past this, a warning.
pub(super) const MAX_RESOURCES: usize = 100_000;
/// Evaluation steps per entry point: a template whose loops multiply into billions of
/// values is cut, with a warning, instead of hanging the scan.
pub(super) const FUEL: u64 = 30_000_000;
/// Key in `given` when a module call's `params` is not known: every parameter is unknown.
pub(super) const ALL_UNKNOWN: &str = "\0*";

/// State shared by every file instantiated from one entry point.
pub(super) struct Session<'a> {
    pub loader: &'a Loader<'a>,
    pub diags: Vec<Diagnostic>,
    pub fuel: u64,
    pub fuel_warned: bool,
    pub depth: usize,
    /// Files of the module calls being evaluated, outermost first: a file already here
    /// includes itself.
    pub module_stack: Vec<PathBuf>,
    /// Resources declared so far, for [`MAX_RESOURCES`].
    pub resources: usize,
    /// Bicep module calls evaluated so far, by target file (see `lower::CachedCall`).
    /// By the module file's path bytes (a module key, as in `Loader`).
    pub calls: HashMap<std::ffi::OsString, Vec<super::lower::CachedCall>>,
}

impl<'a> Session<'a> {
    pub fn new(loader: &'a Loader<'a>) -> Session<'a> {
        Session {
            loader,
            diags: Vec::new(),
            fuel: FUEL,
            fuel_warned: false,
            depth: 0,
            module_stack: Vec::new(),
            resources: 0,
            calls: HashMap::new(),
        }
    }
}

/// What a top-level name of a file stands for. Bicep names are case-sensitive.
#[derive(Clone)]
pub(super) enum Sym {
    Param(usize),
    Var(usize),
    Resource(usize),
    Module(usize),
    Func(usize),
    /// `import { name } from 'file.bicep'`: an exported variable or function there.
    Import {
        unit: Arc<Unit>,
        name: String,
    },
    /// `import * as ns from 'file.bicep'`
    Namespace(Arc<Unit>),
}

/// What a file's statements declare: the same for every instance of the file (each module
/// call, each parameter file), so built once per file ([`Unit::table`]) and shared. Building
/// it per instance was a tenth of a Bicep scan's hashing samples (45 of 446).
pub(crate) struct Table {
    /// Top-level names.
    syms: HashMap<String, Sym>,
    /// `targetScope` of the file, lower-case.
    pub target_scope: String,
    /// Nested resources by symbol: in scope inside their parent's body (the first one
    /// wins when two parents nest the same name).
    pub nested: HashMap<String, ResPath>,
    /// Parameters and variables: the slots an instance may fill.
    slots: usize,
}

impl Table {
    pub(super) fn of(unit: &Unit) -> Table {
        let mut syms = HashMap::new();
        let mut target_scope = "resourcegroup".to_string();
        let mut slots = 0;
        let statements = &unit.parsed.program.statements;
        for (i, s) in statements.iter().enumerate() {
            let (name, sym) = match &s.kind {
                StatementKind::Param(d) => (&d.name, Sym::Param(i)),
                StatementKind::Var(d) => (&d.name, Sym::Var(i)),
                StatementKind::Resource(d) => (&d.name, Sym::Resource(i)),
                StatementKind::Module(d) => (&d.name, Sym::Module(i)),
                StatementKind::Func(d) => (&d.name, Sym::Func(i)),
                StatementKind::TargetScope(e) => {
                    if let ExprKind::String(s) = &e.kind {
                        if let Some(t) = s.as_literal() {
                            target_scope = t.to_ascii_lowercase();
                        }
                    }
                    continue;
                }
                _ => continue,
            };
            slots += usize::from(matches!(sym, Sym::Param(_) | Sym::Var(_)));
            syms.insert(name.name.clone(), sym);
        }
        let mut nested = HashMap::new();
        for (i, s) in statements.iter().enumerate() {
            super::lower::collect_nested(s, &mut vec![i], &mut nested);
        }
        Table {
            syms,
            target_scope,
            nested,
            slots,
        }
    }
}

/// The names in scope in one instance: the file's own, and what it imports (which a later
/// import of the same name replaces, and which shadow the file's own).
pub(super) struct Syms {
    pub table: Arc<Table>,
    imported: HashMap<String, Sym>,
}

impl Syms {
    pub fn get(&self, name: &str) -> Option<&Sym> {
        // Most files import nothing: no hashing for an empty map.
        if self.imported.is_empty() {
            return self.table.syms.get(name);
        }
        self.imported
            .get(name)
            .or_else(|| self.table.syms.get(name))
    }

    fn insert(&mut self, name: String, sym: Sym) {
        self.imported.insert(name, sym);
    }
}

pub(super) enum Slot {
    Evaluating,
    Done(Node),
}

/// What a symbolic resource reference knows before deployment.
#[derive(Clone, Debug)]
pub(super) struct ResInfo {
    pub type_name: String,
    pub api_version: Option<String>,
    /// The full name (`srv/db` for a child); a string or unknown.
    pub name: Value,
    /// A resource id string, or unknown.
    pub id: Value,
    /// `Type/name` of the resource a `…/providers/…` extension type applies to.
    pub provider_scope: Option<String>,
    /// `Type/name` of the parent (nested or `parent:`); unknown when its name is.
    pub parent: Option<Value>,
    pub parent_existing: bool,
    pub existing: bool,
    /// For an `existing` resource: the ids of the declared resources its declaration refers
    /// to (its parent, names in its `name` or `scope`), through other `existing` ones. It is
    /// not deployed, so Bicep makes a resource that refers to it depend on these instead.
    pub deps: Vec<Value>,
    /// `deps` of the parent, when the parent is `existing`.
    pub parent_deps: Vec<Value>,
}

impl ResInfo {
    pub fn value(&self, span: Span) -> Node {
        Node::new(
            Value::Object(ecow::eco_vec![
                ("id".into(), Node::new(self.id.clone(), span)),
                ("name".into(), Node::new(self.name.clone(), span)),
                (
                    "type".into(),
                    Node::new(Value::String(Str::from(self.type_name.as_str())), span),
                ),
                (
                    "apiVersion".into(),
                    Node::new(
                        self.api_version
                            .as_deref()
                            .map(|v| Value::String(Str::from(v)))
                            .unwrap_or_else(|| unknown_value("no API version")),
                        span,
                    ),
                ),
            ]),
            span,
        )
    }
}

/// A resource statement as written: top-level index, then nested resource indexes (into
/// the body's object items) for `parent::child`.
pub(super) type ResPath = Vec<usize>;

/// Memo slot of a module call.
pub(super) enum ModSlot {
    Evaluating,
    Done(Rc<super::lower::ModuleResult>),
}

pub(super) struct Instance<'s, 'a> {
    pub sess: &'s mut Session<'a>,
    pub unit: Arc<Unit>,
    pub syms: Syms,
    pub slots: HashMap<String, Slot>,
    /// Parameter values from a caller or a `.bicepparam` file.
    pub given: HashMap<Str, Node>,
    /// Loop variables, lambda and function parameters, innermost last.
    pub locals: Vec<(String, Node)>,
    pub res_memo: HashMap<(ResPath, Option<i64>), Option<Rc<ResInfo>>>,
    pub modules: HashMap<(usize, Option<i64>), ModSlot>,
    /// Address prefix of the module call chain (`storage/`).
    pub prefix: String,
    pub call_chain: Vec<Span>,
    /// Collections of top-level resource (false) and module (true) loops, by statement.
    pub loop_cache: HashMap<(bool, usize), Rc<Node>>,
    /// Resources referred to by the resource body being evaluated (implicit dependencies).
    pub dep_log: Option<Vec<Rc<ResInfo>>>,
}

pub(super) fn unknown_value(reason: impl Into<String>) -> Value {
    Value::Unknown(Unknown {
        reason: reason.into(),
    })
}

fn as_i64(v: &Value) -> Option<i64> {
    match v {
        Value::Int(i) => Some(*i),
        _ => None,
    }
}

impl<'s, 'a> Instance<'s, 'a> {
    pub fn new(
        sess: &'s mut Session<'a>,
        unit: Arc<Unit>,
        given: HashMap<Str, Node>,
        prefix: String,
        call_chain: Vec<Span>,
    ) -> Instance<'s, 'a> {
        let table = unit.table();
        let mut inst = Instance {
            loop_cache: HashMap::new(),
            dep_log: None,
            sess,
            // Room for every parameter and variable: growing the map as they are evaluated
            // rehashed it several times per instance.
            slots: HashMap::with_capacity(table.slots),
            syms: Syms {
                table,
                imported: HashMap::new(),
            },
            unit,
            given,
            locals: Vec::new(),
            res_memo: HashMap::new(),
            modules: HashMap::new(),
            prefix,
            call_chain,
        };
        inst.imports();
        inst
    }

    pub fn file(&self) -> FileId {
        self.unit.id
    }

    pub fn span(&self, r: TextRange) -> Span {
        Span::new(self.unit.id, r.start as usize, r.end as usize)
    }

    pub fn warn(&mut self, r: TextRange, message: impl Into<String>) {
        let span = self.span(r);
        self.sess.diags.push(Diagnostic::warning(span, message));
    }

    pub fn unknown(&self, reason: impl Into<String>, r: TextRange) -> Node {
        Node::unknown(reason, self.span(r))
    }

    /// Takes one step of the entry point's budget; false when it is spent.
    pub fn burn(&mut self, r: TextRange) -> bool {
        if self.sess.fuel == 0 {
            if !self.sess.fuel_warned {
                self.sess.fuel_warned = true;
                self.warn(
                    r,
                    "evaluation stopped: this deployment expands to more values than basegate evaluates; the rest is treated as unknown",
                );
            }
            return false;
        }
        self.sess.fuel -= 1;
        true
    }

    fn imports(&mut self) {
        let unit = self.unit.clone();
        for s in &unit.parsed.program.statements {
            let StatementKind::Import(d) = &s.kind else {
                continue;
            };
            let Some(path) = string_literal(&d.source) else {
                continue;
            };
            if matches!(d.items, ImportItems::Legacy) {
                continue;
            }
            let target = match self.sess.loader.resolve_local(&unit, path) {
                Some(p) => p,
                None => continue,
            };
            let Ok(other) = self.sess.loader.load(&target) else {
                self.warn(
                    d.source.range,
                    format!("imported file '{path}' not found: its symbols are unknown"),
                );
                continue;
            };
            match &d.items {
                ImportItems::Named(items) => {
                    for it in items {
                        let local = it.alias.as_ref().unwrap_or(&it.name).name.clone();
                        self.syms.insert(
                            local,
                            Sym::Import {
                                unit: other.clone(),
                                name: it.name.name.clone(),
                            },
                        );
                    }
                }
                ImportItems::Wildcard(ns) => {
                    self.syms.insert(ns.name.clone(), Sym::Namespace(other));
                }
                ImportItems::Legacy => {}
            }
        }
    }

    // ------------------------------------------------------------------ symbols

    /// A parameter's or variable's value, evaluated once.
    pub(super) fn slot(&mut self, name: &str, sym: &Sym, at: TextRange) -> Node {
        if let Some(cycle) = self.force(name, sym, at) {
            return cycle;
        }
        match self.slots.get(name) {
            Some(Slot::Done(n)) => n.clone(),
            _ => self.unknown(format!("'{name}' is not evaluated"), at),
        }
    }

    /// Evaluates a parameter or variable into its slot, unless it is there already. Some:
    /// the value refers to itself (reported), and this unknown stands for it.
    fn force(&mut self, name: &str, sym: &Sym, at: TextRange) -> Option<Node> {
        match self.slots.get(name) {
            Some(Slot::Done(_)) => return None,
            Some(Slot::Evaluating) => {
                self.warn(at, format!("'{name}' refers to itself: treated as unknown"));
                return Some(self.unknown(format!("'{name}' refers to itself"), at));
            }
            None => {}
        }
        self.slots.insert(name.to_string(), Slot::Evaluating);
        // Declarations see the file's scope, not the loop or lambda they are used in.
        let saved = std::mem::take(&mut self.locals);
        let unit = self.unit.clone();
        let mut node = match sym {
            Sym::Param(i) => self.param_value(&unit.parsed.program.statements[*i]),
            Sym::Var(i) => match &unit.parsed.program.statements[*i].kind {
                StatementKind::Var(d) => self.expr(&d.value),
                _ => self.unknown("not a variable", at),
            },
            _ => self.unknown("not a value", at),
        };
        self.locals = saved;
        if approx_size(&node.value, MAX_VALUE_BYTES) > MAX_VALUE_BYTES {
            self.warn(
                at,
                format!(
                    "'{name}' grows beyond {} MB: treated as unknown",
                    MAX_VALUE_BYTES >> 20
                ),
            );
            node = Node::unknown(format!("'{name}' is too large to evaluate"), node.span);
        }
        self.slots.insert(name.to_string(), Slot::Done(node));
        None
    }

    /// `config.network.subnets[i].name` on a parameter or variable: the leaf, read in place.
    /// The usual path copies all of `config` to take one member (the main cost of
    /// evaluating real Bicep files, as it was for ARM variables). Computed indexes are
    /// evaluated here; any step that does not simply succeed (a missing member, an index out
    /// of range, `?.`, a non-literal shape) returns None and the usual path handles and
    /// reports it.
    fn leaf(&mut self, e: &Expr) -> Option<Node> {
        enum Step<'e> {
            Member(&'e str),
            Index(&'e Expr),
        }
        let mut steps = Vec::new();
        let mut cur = e;
        let id = loop {
            match &cur.kind {
                ExprKind::Property(p) if !p.safe => {
                    steps.push(Step::Member(&p.name.name));
                    cur = &p.base;
                }
                ExprKind::Index(ix) if !ix.safe => {
                    steps.push(Step::Index(&ix.index));
                    cur = &ix.base;
                }
                ExprKind::Ident(id) => break id,
                _ => return None,
            }
        };
        if self.locals.iter().any(|(n, _)| *n == id.name) {
            return None;
        }
        let sym = match self.syms.get(&id.name) {
            Some(sym @ (Sym::Param(_) | Sym::Var(_))) => sym.clone(),
            _ => return None,
        };
        // Indexes first (the usual path evaluates them after the base; they are pure).
        let mut keys = Vec::with_capacity(steps.len());
        for step in steps.iter().rev() {
            keys.push(match step {
                Step::Member(m) => Value::String(Str::from(*m)),
                Step::Index(ix) => match self.expr(ix).value {
                    v @ (Value::Int(_) | Value::String(_)) => v,
                    _ => return None,
                },
            });
        }
        if self.force(&id.name, &sym, id.range).is_some() {
            return None;
        }
        let Some(Slot::Done(root)) = self.slots.get(&id.name) else {
            return None;
        };
        let mut node: &Node = root;
        for key in &keys {
            node = match (&node.value, key) {
                (Value::Object(m), Value::String(k)) => {
                    &m.iter().find(|(mk, _)| mk.eq_ignore_ascii_case(k))?.1
                }
                (Value::Array(a), Value::Int(i)) => a.get(usize::try_from(*i).ok()?)?,
                // What the usual path answers for an unknown base, whatever follows.
                (Value::Unknown(u), _) => {
                    let u = Value::Unknown(u.clone());
                    return Some(Node::new(u, self.span(e.range)));
                }
                _ => return None,
            };
        }
        let leaf = node.clone();
        Some(self.charge_copy(leaf, e.range))
    }

    fn param_value(&mut self, stmt: &Statement) -> Node {
        let StatementKind::Param(d) = &stmt.kind else {
            return self.unknown("not a parameter", stmt.range);
        };
        if let Some(v) = self.given.get(d.name.name.as_str()) {
            // A null value for a parameter with a default deploys the default.
            if !(v.value == Value::Null && d.value.is_some()) {
                return v.clone();
            }
        }
        if let Some(all) = self.given.get(ALL_UNKNOWN) {
            return all.clone();
        }
        let secure = stmt
            .decorators
            .iter()
            .any(|dec| dec.name.name.eq_ignore_ascii_case("secure"));
        if secure {
            return self.unknown(
                format!("parameter '{}' is secure", d.name.name),
                d.name.range,
            );
        }
        match &d.value {
            Some(v) => self.expr(v),
            None => self.unknown(
                format!(
                    "parameter '{}' has no default and no value is given",
                    d.name.name
                ),
                d.name.range,
            ),
        }
    }

    /// Every use of a value copies it: large values cost budget by size, so a loop that
    /// copies a big variable ten thousand times stops instead of filling memory.
    fn charge_copy(&mut self, n: Node, r: TextRange) -> Node {
        let cost = approx_size(&n.value, MAX_VALUE_BYTES) as u64;
        if cost > 256 {
            if self.sess.fuel < cost {
                self.sess.fuel = 0;
                self.burn(r);
                return self.unknown("evaluation budget spent", r);
            }
            self.sess.fuel -= cost;
        }
        n
    }

    fn ident(&mut self, id: &Ident) -> Node {
        let n = self.ident_inner(id);
        self.charge_copy(n, id.range)
    }

    fn ident_inner(&mut self, id: &Ident) -> Node {
        if let Some((_, v)) = self.locals.iter().rev().find(|(n, _)| *n == id.name) {
            return v.clone();
        }
        let Some(sym) = self.syms.get(&id.name).cloned() else {
            if let Some(path) = self.syms.table.nested.get(&id.name).cloned() {
                let span = self.span(id.range);
                return match self.resource_info(&path, None) {
                    Some(info) => info.value(span),
                    None => self.unknown(format!("resource '{}'", id.name), id.range),
                };
            }
            self.warn(
                id.range,
                format!("'{}' is not declared: treated as unknown", id.name),
            );
            return self.unknown(format!("'{}' is not declared", id.name), id.range);
        };
        match &sym {
            Sym::Param(_) | Sym::Var(_) => self.slot(&id.name, &sym, id.range),
            Sym::Resource(i) => {
                let span = self.span(id.range);
                match self.resource_info(&[*i], None) {
                    Some(info) => info.value(span),
                    None => self.unknown(format!("resource collection '{}'", id.name), id.range),
                }
            }
            Sym::Module(_) => self.unknown(format!("module '{}'", id.name), id.range),
            Sym::Func(_) | Sym::Namespace(_) => {
                self.unknown(format!("'{}' is not a value", id.name), id.range)
            }
            Sym::Import { unit, name } => {
                let (unit, name) = (unit.clone(), name.clone());
                let key = format!("import:{}", id.name);
                if let Some(Slot::Done(n)) = self.slots.get(&key) {
                    return n.clone();
                }
                let n = self.imported_var(&unit, &name, id.range);
                self.slots.insert(key, Slot::Done(n.clone()));
                n
            }
        }
    }

    fn imported_var(&mut self, unit: &Arc<Unit>, name: &str, at: TextRange) -> Node {
        if self.sess.depth > MAX_EVAL_DEPTH / 2 {
            return self.unknown("imports nested too deeply", at);
        }
        self.sess.depth += 16;
        let mut sub = Instance::new(
            &mut *self.sess,
            unit.clone(),
            HashMap::new(),
            String::new(),
            Vec::new(),
        );
        let n = match sub.syms.get(name).cloned() {
            Some(s @ Sym::Var(_)) => sub.slot(name, &s, at),
            _ => Node::unknown(
                format!("imported '{name}' is not a variable"),
                Span::default(),
            ),
        };
        self.sess.depth -= 16;
        let mut n = n;
        if n.span == Span::default() {
            n.span = self.span(at);
        }
        n
    }

    // ------------------------------------------------------------------ expressions

    pub fn expr(&mut self, e: &Expr) -> Node {
        if self.sess.depth > MAX_EVAL_DEPTH {
            return self.unknown("expression nested too deeply", e.range);
        }
        if !self.burn(e.range) {
            return self.unknown("evaluation budget spent", e.range);
        }
        self.sess.depth += 1;
        let n = self.expr_inner(e);
        self.sess.depth -= 1;
        n
    }

    fn expr_inner(&mut self, e: &Expr) -> Node {
        let span = self.span(e.range);
        let v = |v: Value| Node::new(v, span);
        match &e.kind {
            ExprKind::String(s) => self.string(s, e.range),
            ExprKind::Int(i) => match i64::try_from(*i) {
                Ok(i) => v(Value::Int(i)),
                Err(_) => self.unknown("integer out of range", e.range),
            },
            ExprKind::Bool(b) => v(Value::Bool(*b)),
            ExprKind::Null => v(Value::Null),
            ExprKind::Ident(id) => self.ident(id),
            ExprKind::Array(items) => {
                let mut out = Vec::with_capacity(items.len());
                for it in items {
                    match it {
                        ArrayItem::Value(x) => out.push(self.expr(x)),
                        ArrayItem::Spread(s) => {
                            let n = self.expr(&s.value);
                            match n.value {
                                Value::Array(a) => out.extend(a),
                                Value::Null => {}
                                // The spread adds elements not known yet: one unknown
                                // element stands for them.
                                _ => out.push(Node::unknown(
                                    "spread of a value not known before deployment",
                                    n.span,
                                )),
                            }
                        }
                    }
                }
                v(Value::Array(out.into()))
            }
            ExprKind::Object(items) => self.object(items, e.range),
            ExprKind::Property(p) => match self.leaf(e) {
                Some(n) => n,
                None => self.property(p, e.range),
            },
            ExprKind::Index(ix) => match self.leaf(e) {
                Some(n) => n,
                None => self.index(ix, e.range),
            },
            ExprKind::ResourceAccess(_) => match self.resource_ref(e) {
                Some(info) => info.value(span),
                None => self.unknown("nested resource not known", e.range),
            },
            ExprKind::NonNull(b) | ExprKind::Paren(b) => self.expr(b),
            ExprKind::Call(c) => self.call(c, e.range),
            ExprKind::Unary(op, x) => {
                let n = self.expr(x);
                match (op, &n.value) {
                    (_, Value::Unknown(_)) => Node::new(n.value, span),
                    (UnaryOp::Not, Value::Bool(b)) => v(Value::Bool(!b)),
                    (UnaryOp::Neg, Value::Int(i)) => match i.checked_neg() {
                        Some(i) => v(Value::Int(i)),
                        None => self.unknown("integer overflow", e.range),
                    },
                    _ => self.unknown(format!("operator on {}", n.value.type_name()), e.range),
                }
            }
            ExprKind::Binary(b) => self.binary(b, e.range),
            ExprKind::Ternary(t) => {
                let c = self.expr(&t.condition);
                match c.value {
                    Value::Bool(true) => self.expr(&t.then),
                    Value::Bool(false) => self.expr(&t.otherwise),
                    _ => {
                        let a = self.expr(&t.then);
                        let b = self.expr(&t.otherwise);
                        if values_equal(&a.value, &b.value) == Some(true) {
                            a
                        } else {
                            self.unknown("condition not known before deployment", e.range)
                        }
                    }
                }
            }
            ExprKind::Lambda(_) => self.unknown("a lambda is not a value", e.range),
            ExprKind::For(f) => self.for_expr(f, e.range),
            ExprKind::If(i) => {
                let c = self.expr(&i.condition);
                match c.value {
                    Value::Bool(false) => v(Value::Null),
                    _ => self.expr(&i.body),
                }
            }
            ExprKind::Error => self.unknown("does not parse", e.range),
        }
    }

    fn string(&mut self, s: &StringLit, r: TextRange) -> Node {
        let span = self.span(r);
        if let Some(lit) = s.as_literal() {
            return Node::new(Value::String(Str::from(lit)), span);
        }
        // Bicep compiles interpolation to `format()`, whose rendering of bools and
        // objects (`True`, JSON) the result must share.
        let mut values = Vec::new();
        for p in &s.parts {
            if let StringPart::Interpolation(x) = p {
                let n = self.expr(x);
                if let Value::Unknown(u) = n.value {
                    return Node::new(Value::Unknown(u), span);
                }
                values.push(n.value);
            }
        }
        // `format()` writes a string argument as it is: strings only (the usual case,
        // `'${name}-pip'`) are joined directly, without writing a format string and
        // reading it back.
        if values.iter().all(|v| matches!(v, Value::String(_))) {
            let mut out = String::new();
            let mut next = values.iter();
            for p in &s.parts {
                match p {
                    StringPart::Text { value, .. } => out.push_str(value),
                    StringPart::Interpolation(_) => {
                        if let Some(Value::String(v)) = next.next() {
                            out.push_str(v);
                        }
                    }
                }
            }
            if out.len() > MAX_VALUE_BYTES {
                return self.unknown("string too large to evaluate", r);
            }
            return Node::new(Value::String(Str::from(out)), span);
        }
        let mut fmt = String::new();
        let mut args = vec![Value::Null];
        let mut next = values.into_iter();
        for p in &s.parts {
            match p {
                StringPart::Text { value, .. } => {
                    fmt.push_str(&value.replace('{', "{{").replace('}', "}}"))
                }
                StringPart::Interpolation(_) => {
                    fmt.push_str(&format!("{{{}}}", args.len() - 1));
                    args.extend(next.next());
                }
            }
        }
        args[0] = Value::String(Str::from(fmt));
        match functions::call("format", args, 0) {
            Some(Ok(Value::String(out))) if out.len() > MAX_VALUE_BYTES => {
                self.unknown("string too large to evaluate", r)
            }
            Some(Ok(v)) => Node::new(v, span),
            _ => self.unknown("interpolation cannot be evaluated", r),
        }
    }

    fn object(&mut self, items: &[ObjectItem], r: TextRange) -> Node {
        let span = self.span(r);
        let mut out: Seq<(Str, Node)> = Seq::with_capacity(items.len());
        let mut open = false;
        for it in items {
            match it {
                ObjectItem::Property(p) => {
                    let key = match self.key(&p.key) {
                        Some(k) => k,
                        None => {
                            open = true;
                            continue;
                        }
                    };
                    let val = self.expr(&p.value);
                    set_member(&mut out, key, val);
                }
                ObjectItem::Spread(s) => {
                    let n = self.expr(&s.value);
                    match n.value {
                        Value::Object(m) => {
                            for (k, v) in m {
                                set_member(&mut out, k, v);
                            }
                        }
                        Value::Null => {}
                        _ => open = true,
                    }
                }
                ObjectItem::Resource(_) => {}
            }
        }
        if open {
            // Members not known before deployment may add or replace any key: a missing
            // key cannot be read as absent.
            return Node::unknown("object with members not known before deployment", span);
        }
        Node::new(Value::Object(out), span)
    }

    pub fn key(&mut self, k: &PropertyKey) -> Option<Str> {
        match k {
            PropertyKey::Ident(id) => Some(Str::from(id.name.as_str())),
            PropertyKey::String { value, range } => match self.string(value, *range).value {
                Value::String(s) => Some(s),
                _ => None,
            },
        }
    }

    fn property(&mut self, p: &PropertyAccess, r: TextRange) -> Node {
        let span = self.span(r);
        // `mod.outputs.x`, `mod.name`
        if let Some((m, idx)) = self.module_ref(&p.base) {
            return self.module_property(m, idx, &p.name, r);
        }
        if self.is_resource_expr(&p.base) {
            return match self.resource_ref(&p.base) {
                Some(info) => match p.name.name.as_str() {
                    "id" => Node::new(info.id.clone(), span),
                    "name" => Node::new(info.name.clone(), span),
                    "type" => Node::new(Value::String(Str::from(info.type_name.as_str())), span),
                    "apiVersion" => Node::new(
                        info.api_version
                            .as_deref()
                            .map(|v| Value::String(Str::from(v)))
                            .unwrap_or(Value::Null),
                        span,
                    ),
                    other => self.unknown(
                        format!("resource property '{other}' is known after deployment"),
                        r,
                    ),
                },
                None => self.unknown("resource not known before deployment", r),
            };
        }
        let base = self.expr(&p.base);
        member(base, &p.name.name, p.safe, span)
    }

    fn index(&mut self, ix: &IndexAccess, r: TextRange) -> Node {
        let span = self.span(r);
        if self.is_resource_expr(&ix.base) {
            let e = Expr {
                kind: ExprKind::Index(Box::new(ix.clone())),
                range: r,
            };
            return match self.resource_ref(&e) {
                Some(info) => info.value(span),
                None => self.unknown("resource not known before deployment", r),
            };
        }
        let base = self.expr(&ix.base);
        let index = self.expr(&ix.index);
        match (&base.value, &index.value) {
            (Value::Unknown(u), _) | (_, Value::Unknown(u)) => {
                Node::new(Value::Unknown(u.clone()), span)
            }
            (Value::Null, _) if ix.safe => Node::new(Value::Null, span),
            (Value::Array(a), Value::Int(i)) => {
                match usize::try_from(*i).ok().and_then(|i| a.get(i)) {
                    Some(n) => n.clone(),
                    None if ix.safe => Node::new(Value::Null, span),
                    None => self.unknown("index out of range", r),
                }
            }
            (Value::Object(_), Value::String(k)) => member(base, k, ix.safe, span),
            _ => self.unknown("index cannot be evaluated", r),
        }
    }

    fn binary(&mut self, b: &Binary, r: TextRange) -> Node {
        let span = self.span(r);
        let res = |v: Value| Node::new(v, span);
        match b.op {
            BinaryOp::Coalesce => {
                let l = self.expr(&b.lhs);
                return match l.value {
                    Value::Null => self.expr(&b.rhs),
                    Value::Unknown(_) => {
                        let rn = self.expr(&b.rhs);
                        if values_equal(&l.value, &rn.value) == Some(true) {
                            rn
                        } else {
                            res(l.value)
                        }
                    }
                    _ => l,
                };
            }
            BinaryOp::And | BinaryOp::Or => {
                let decisive = b.op == BinaryOp::Or;
                let l = self.expr(&b.lhs);
                if l.value == Value::Bool(decisive) {
                    return res(Value::Bool(decisive));
                }
                let rn = self.expr(&b.rhs);
                return match (&l.value, &rn.value) {
                    (_, Value::Bool(x)) if *x == decisive => res(Value::Bool(decisive)),
                    (Value::Bool(_), Value::Bool(_)) => res(Value::Bool(!decisive)),
                    (Value::Unknown(u), _) | (_, Value::Unknown(u)) => {
                        res(Value::Unknown(u.clone()))
                    }
                    _ => self.unknown("logical operator on a non-bool", r),
                };
            }
            _ => {}
        }
        let l = self.expr(&b.lhs).value;
        let rv = self.expr(&b.rhs).value;
        let lib = |name: &str, l: Value, rv: Value| match functions::call(name, vec![l, rv], 0) {
            Some(Ok(v)) => Some(v),
            _ => None,
        };
        let out = match b.op {
            BinaryOp::Eq | BinaryOp::NotEq => match values_equal(&l, &rv) {
                Some(eq) => Some(Value::Bool(eq == (b.op == BinaryOp::Eq))),
                None => Some(unknown_value("comparison with a value not known")),
            },
            BinaryOp::EqI | BinaryOp::NotEqI => {
                let low = |v: Value| match v {
                    Value::String(s) => Value::String(s.to_lowercase()),
                    v => v,
                };
                match values_equal(&low(l), &low(rv)) {
                    Some(eq) => Some(Value::Bool(eq == (b.op == BinaryOp::EqI))),
                    None => Some(unknown_value("comparison with a value not known")),
                }
            }
            BinaryOp::Lt => lib("less", l, rv),
            BinaryOp::Le => lib("lessOrEquals", l, rv),
            BinaryOp::Gt => lib("greater", l, rv),
            BinaryOp::Ge => lib("greaterOrEquals", l, rv),
            BinaryOp::Add => lib("add", l, rv),
            BinaryOp::Sub => lib("sub", l, rv),
            BinaryOp::Mul => lib("mul", l, rv),
            BinaryOp::Div => lib("div", l, rv),
            BinaryOp::Mod => lib("mod", l, rv),
            _ => None,
        };
        match out {
            Some(v) => res(v),
            None => self.unknown(
                format!("operator '{}' cannot be evaluated", b.op.as_str()),
                r,
            ),
        }
    }

    fn for_expr(&mut self, f: &ForExpr, r: TextRange) -> Node {
        let span = self.span(r);
        let iterable = self.expr(&f.iterable);
        let mut out = Seq::new();
        match iterable.value {
            Value::Array(items) => {
                let n = self.cap_loop(items.len(), f.iterable.range);
                for (i, item) in items.into_iter().take(n).enumerate() {
                    if !self.burn(r) {
                        return self.unknown("evaluation budget spent", r);
                    }
                    let idx = Node::new(Value::Int(i as i64), item.span);
                    if let Some(x) = self.loop_body(f, item, idx) {
                        out.push(x);
                    }
                }
            }
            _ => {
                // Unknown length: one item with unknown loop variables stands for all, so
                // what does not depend on them is still checked.
                let u = Node::unknown("loop item not known before deployment", iterable.span);
                if let Some(x) = self.loop_body(f, u.clone(), u) {
                    out.push(x);
                }
            }
        }
        Node::new(Value::Array(out), span)
    }

    fn loop_body(&mut self, f: &ForExpr, item: Node, idx: Node) -> Option<Node> {
        let n = self.locals.len();
        self.bind_loop(f, item, idx);
        let out = match &f.body.kind {
            ExprKind::If(i) => {
                let c = self.expr(&i.condition);
                if c.value == Value::Bool(false) {
                    None
                } else {
                    Some(self.expr(&i.body))
                }
            }
            _ => Some(self.expr(&f.body)),
        };
        self.locals.truncate(n);
        out
    }

    pub fn bind_loop(&mut self, f: &ForExpr, item: Node, idx: Node) {
        self.locals.push((f.item.name.clone(), item));
        if let Some(i) = &f.index {
            self.locals.push((i.name.clone(), idx));
        }
    }

    pub fn cap_loop(&mut self, n: usize, r: TextRange) -> usize {
        if n > crate::arm::template::MAX_COPY as usize {
            self.warn(
                r,
                format!(
                    "loop has {n} iterations; only the first {} are scanned",
                    crate::arm::template::MAX_COPY
                ),
            );
            crate::arm::template::MAX_COPY as usize
        } else {
            n
        }
    }

    // ------------------------------------------------------------------ calls

    fn call(&mut self, c: &Call, r: TextRange) -> Node {
        let span = self.span(r);
        let name = c.name.name.as_str();
        if let Some(t) = &c.target {
            let ns = match &t.kind {
                ExprKind::Ident(id) if self.locals.iter().all(|(n, _)| *n != id.name) => {
                    Some(id.name.as_str())
                }
                _ => None,
            };
            match ns.map(|n| (n, self.syms.get(n).cloned())) {
                Some(("az" | "sys", None)) => {}
                Some((_, Some(Sym::Namespace(unit)))) => {
                    let args: Vec<Node> = c.args.iter().map(|a| self.expr(a)).collect();
                    return self.imported_func(&unit, name, args, r);
                }
                _ => {
                    return self.unknown(
                        format!("'{name}()' on a resource is known after deployment"),
                        r,
                    )
                }
            }
        } else if let Some(sym) = self.syms.get(name).cloned() {
            match sym {
                Sym::Func(i) => {
                    let args: Vec<Node> = c.args.iter().map(|a| self.expr(a)).collect();
                    let unit = self.unit.clone();
                    return self.user_func(&unit, i, args, r);
                }
                Sym::Import { unit, name: n } => {
                    let args: Vec<Node> = c.args.iter().map(|a| self.expr(a)).collect();
                    return self.imported_func(&unit, &n, args, r);
                }
                _ => {}
            }
        }
        let lname = name.to_ascii_lowercase();
        match lname.as_str() {
            "map" | "filter" | "reduce" | "sort" | "toobject" | "groupby" | "mapvalues" => {
                return self.lambda_call(&lname, c, r)
            }
            "loadtextcontent"
            | "loadjsoncontent"
            | "loadyamlcontent"
            | "loadfileasbase64"
            | "readenvironmentvariable"
            | "getsecret"
            | "externalinput"
            | "fail" => return self.unknown(format!("{name}() is not evaluated by basegate"), r),
            "nameof" => {
                return match c.args.first().map(|a| &a.kind) {
                    Some(ExprKind::Ident(id)) => {
                        Node::new(Value::String(Str::from(id.name.as_str())), span)
                    }
                    Some(ExprKind::Property(p)) => {
                        Node::new(Value::String(Str::from(p.name.name.as_str())), span)
                    }
                    _ => self.unknown("nameof() of an expression", r),
                };
            }
            _ => {}
        }
        let args: Vec<Value> = c.args.iter().map(|a| self.expr(a).value).collect();
        match functions::call(name, args, 0) {
            Some(Ok(v)) => {
                let mut n = Node::new(v, span);
                respan_default(&mut n, span);
                n
            }
            Some(Err(e)) => {
                self.warn(
                    c.name.range,
                    format!("{name}() cannot be evaluated: {e}; treated as unknown"),
                );
                self.unknown(format!("{name}(): {e}"), r)
            }
            None => {
                self.warn(
                    c.name.range,
                    format!("unknown function '{name}': the value is treated as unknown"),
                );
                self.unknown(format!("unknown function '{name}'"), r)
            }
        }
    }

    fn user_func(&mut self, unit: &Arc<Unit>, i: usize, args: Vec<Node>, r: TextRange) -> Node {
        let StatementKind::Func(f) = &unit.parsed.program.statements[i].kind else {
            return self.unknown("not a function", r);
        };
        if self.sess.depth > MAX_EVAL_DEPTH / 2 {
            return self.unknown("functions nested too deeply", r);
        }
        let saved = std::mem::take(&mut self.locals);
        for (p, a) in f.params.iter().zip(args) {
            self.locals.push((p.name.name.clone(), a));
        }
        self.sess.depth += 8;
        let mut out = self.expr(&f.body);
        self.sess.depth -= 8;
        self.locals = saved;
        if approx_size(&out.value, MAX_VALUE_BYTES) > MAX_VALUE_BYTES {
            return self.unknown("function result too large to evaluate", r);
        }
        out.span = self.span(r);
        out
    }

    fn imported_func(
        &mut self,
        unit: &Arc<Unit>,
        name: &str,
        args: Vec<Node>,
        r: TextRange,
    ) -> Node {
        if self.sess.depth > MAX_EVAL_DEPTH / 2 {
            return self.unknown("functions nested too deeply", r);
        }
        self.sess.depth += 16;
        let mut sub = Instance::new(
            &mut *self.sess,
            unit.clone(),
            HashMap::new(),
            String::new(),
            Vec::new(),
        );
        let out = match sub.syms.get(name).cloned() {
            Some(Sym::Func(i)) => Some(sub.user_func(unit, i, args, TextRange::default())),
            _ => None,
        };
        self.sess.depth -= 16;
        match out {
            Some(mut n) => {
                n.respan(self.span(r));
                n
            }
            None => self.unknown(format!("imported '{name}' is not a function"), r),
        }
    }

    /// Calls a lambda argument with the given values.
    fn apply(&mut self, lambda: &Expr, args: Vec<Node>) -> Node {
        let ExprKind::Lambda(l) = &lambda.kind else {
            return self.unknown("expected a lambda", lambda.range);
        };
        let n = self.locals.len();
        for (p, a) in l.params.iter().zip(args) {
            self.locals.push((p.name.name.clone(), a));
        }
        let out = self.expr(&l.body);
        self.locals.truncate(n);
        out
    }

    fn lambda_call(&mut self, name: &str, c: &Call, r: TextRange) -> Node {
        let span = self.span(r);
        let arity = match name {
            "reduce" => 3,
            "toobject" => 2,
            _ => 2,
        };
        if c.args.len() < arity {
            return self.unknown(format!("{name}() needs {arity} arguments"), r);
        }
        let coll = self.expr(&c.args[0]);
        if name == "mapvalues" {
            let Value::Object(members) = coll.value else {
                return Node::new(coll.value, span).with_unknown_reason(name);
            };
            let mut out = Vec::new();
            for (k, v) in members {
                let x = self.apply(&c.args[1], vec![v]);
                out.push((k, x));
            }
            return Node::new(Value::Object(out.into()), span);
        }
        let items = match coll.value {
            Value::Array(a) => a,
            Value::Null if name != "reduce" => Seq::new(),
            Value::Unknown(u) => return Node::new(Value::Unknown(u), span),
            _ => return self.unknown(format!("{name}() of a non-array"), r),
        };
        let idx = |i: usize| Node::new(Value::Int(i as i64), span);
        match name {
            "map" => {
                let mut out = Vec::with_capacity(items.len());
                for (i, it) in items.into_iter().enumerate() {
                    if !self.burn(r) {
                        return self.unknown("evaluation budget spent", r);
                    }
                    out.push(self.apply(&c.args[1], vec![it, idx(i)]));
                }
                Node::new(Value::Array(out.into()), span)
            }
            "filter" => {
                let mut out = Vec::new();
                for (i, it) in items.into_iter().enumerate() {
                    if !self.burn(r) {
                        return self.unknown("evaluation budget spent", r);
                    }
                    match self.apply(&c.args[1], vec![it.clone(), idx(i)]).value {
                        Value::Bool(true) => out.push(it),
                        Value::Bool(false) => {}
                        _ => return self.unknown("filter condition not known", r),
                    }
                }
                Node::new(Value::Array(out.into()), span)
            }
            "reduce" => {
                let mut acc = self.expr(&c.args[1]);
                for (i, it) in items.into_iter().enumerate() {
                    if !self.burn(r) {
                        return self.unknown("evaluation budget spent", r);
                    }
                    acc = self.apply(&c.args[2], vec![acc, it, idx(i)]);
                    if approx_size(&acc.value, MAX_VALUE_BYTES) > MAX_VALUE_BYTES {
                        return self.unknown("reduce() grows too large to evaluate", r);
                    }
                }
                acc.span = span;
                acc
            }
            "sort" => {
                // Insertion sort: the comparator may be unknown, and inputs are small.
                let mut out: Vec<Node> = Vec::with_capacity(items.len());
                for it in items {
                    let mut pos = out.len();
                    while pos > 0 {
                        if !self.burn(r) {
                            return self.unknown("evaluation budget spent", r);
                        }
                        match self
                            .apply(&c.args[1], vec![it.clone(), out[pos - 1].clone()])
                            .value
                        {
                            Value::Bool(true) => pos -= 1,
                            Value::Bool(false) => break,
                            _ => return self.unknown("sort comparison not known", r),
                        }
                    }
                    out.insert(pos, it);
                }
                Node::new(Value::Array(out.into()), span)
            }
            "toobject" => {
                let mut out: Seq<(Str, Node)> = Seq::new();
                for it in items {
                    if !self.burn(r) {
                        return self.unknown("evaluation budget spent", r);
                    }
                    let k = self.apply(&c.args[1], vec![it.clone()]);
                    let v = match c.args.get(2) {
                        Some(f) => self.apply(f, vec![it]),
                        None => it,
                    };
                    match k.value {
                        Value::String(k) => set_member(&mut out, k, v),
                        _ => return self.unknown("toObject() key not known", r),
                    }
                }
                Node::new(Value::Object(out), span)
            }
            "groupby" => {
                let mut out: Vec<(Str, Node)> = Vec::new();
                for it in items {
                    if !self.burn(r) {
                        return self.unknown("evaluation budget spent", r);
                    }
                    let k = self.apply(&c.args[1], vec![it.clone()]);
                    let Value::String(k) = k.value else {
                        return self.unknown("groupBy() key not known", r);
                    };
                    match out.iter_mut().find(|(x, _)| x.eq_ignore_ascii_case(&k)) {
                        Some((
                            _,
                            Node {
                                value: Value::Array(a),
                                ..
                            },
                        )) => a.push(it),
                        _ => out.push((k, Node::new(Value::Array(ecow::eco_vec![it]), span))),
                    }
                }
                Node::new(Value::Object(out.into()), span)
            }
            _ => self.unknown(format!("{name}() not evaluated"), r),
        }
    }
}

trait WithReason {
    fn with_unknown_reason(self, f: &str) -> Node;
}

impl WithReason for Node {
    fn with_unknown_reason(self, f: &str) -> Node {
        match self.value {
            Value::Unknown(_) => self,
            _ => Node::unknown(format!("{f}() of a non-object"), self.span),
        }
    }
}

/// Object member access: missing → null with `.?`, unknown otherwise (deployment would fail
/// or the value is optional in a typed parameter: either way not decidable here).
pub(super) fn member(base: Node, key: &str, safe: bool, span: Span) -> Node {
    match base.value {
        Value::Object(members) => match members
            .into_iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
        {
            Some((_, v)) => v,
            None if safe => Node::new(Value::Null, span),
            None => Node::unknown(format!("no property '{key}'"), span),
        },
        Value::Null if safe => Node::new(Value::Null, span),
        Value::Unknown(u) => Node::new(Value::Unknown(u), span),
        v => Node::unknown(format!("property '{key}' of {}", v.type_name()), span),
    }
}

pub(super) fn set_member(out: &mut Seq<(Str, Node)>, key: Str, val: Node) {
    match out
        .make_mut()
        .iter_mut()
        .find(|(k, _)| k.eq_ignore_ascii_case(&key))
    {
        Some(slot) => slot.1 = val,
        None => out.push((key, val)),
    }
}

/// Values a library function built carry no span: they were written by the call.
fn respan_default(n: &mut Node, span: Span) {
    if n.span == Span::default() {
        n.span = span;
    }
    // A shared array or object (an argument passed through) is copied only if a span in it
    // changes.
    let unset = |n: &Node| n.any_span(Span::default());
    match &mut n.value {
        Value::Array(items) if items.iter().any(unset) => items
            .make_mut()
            .iter_mut()
            .for_each(|i| respan_default(i, span)),
        Value::Object(m) if m.iter().any(|(_, v)| unset(v)) => m
            .make_mut()
            .iter_mut()
            .for_each(|(_, v)| respan_default(v, span)),
        _ => {}
    }
}

pub(super) fn string_literal(e: &Expr) -> Option<&str> {
    match &e.kind {
        ExprKind::String(s) => s.as_literal(),
        _ => None,
    }
}

/// Rough size of a value in bytes, stopping early past `limit`.
pub(super) fn approx_size(v: &Value, limit: usize) -> usize {
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

pub(super) fn as_index(v: &Value) -> Option<i64> {
    as_i64(v)
}
