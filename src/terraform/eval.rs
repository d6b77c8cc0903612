//! terraform/eval: expressions to tri-state values, as `terraform plan` would fold them.
//!
//! Values are [`Node`]s: a reference returns the referenced node with the span where its
//! value was written (a variable's value points into the caller or the tfvars file); a
//! computed value gets the span of the expression that computed it. Anything only known
//! after apply (computed attributes, data sources, unset variables) is `Unknown`.
//!
//! An evaluation *error* (a missing attribute, a type mismatch) is `Err`: `try` and `can`
//! catch it; elsewhere it becomes an unknown value whose reason says what went wrong.

use super::modules::{Inst, ModuleDef};
use super::parse::{BinOp, Expr, ExprKind, ForExpr, Op, Part};
use crate::model::{Diagnostic, Node, Seq, Str, Unknown, Value};
use crate::source::Span;
use foldhash::{HashMap, HashMapExt};
use std::cell::{Cell, RefCell};
use std::rc::Rc;

pub type R = Result<Node, String>;

/// Evaluation steps per scan before everything left becomes unknown.
const FUEL: u64 = 20_000_000;
/// Nested evaluations (references through references) before giving up on a value.
const MAX_DEPTH: u32 = 160;
/// Largest value (nodes) or string (bytes) an expression may build.
pub const MAX_WEIGHT: usize = 200_000;
pub const MAX_STRING: usize = 1 << 20;

/// A cached lazily-evaluated value (a local, an output) and the resources it referenced.
#[derive(Clone, Debug)]
pub enum Lazy {
    Busy,
    Done(Rc<Node>, Rc<Vec<String>>),
}

pub struct Eval<'a> {
    pub(super) input: &'a super::Input<'a>,
    pub(super) defs: &'a [ModuleDef],
    /// `defs` by directory ([`super::modules::Defs`]).
    pub(super) by_dir: &'a HashMap<std::path::PathBuf, usize>,
    pub(super) insts: RefCell<Vec<Rc<Inst>>>,
    pub(super) diags: RefCell<Vec<Diagnostic>>,
    diag_seen: RefCell<foldhash::HashSet<(Span, String)>>,
    fuel: Cell<u64>,
    depth: Cell<u32>,
    fuel_reported: Cell<bool>,
    /// Reference-recording frames: the resources an expression being evaluated touched.
    refs: RefCell<Vec<Vec<String>>>,
    /// Configured attributes of other resources, by instance and attribute, once evaluated.
    pub(super) attr_cache: RefCell<HashMap<String, Rc<Node>>>,
    /// Attributes being evaluated through a reference: re-entry is a cycle.
    pub(super) attr_busy: RefCell<foldhash::HashSet<String>>,
    /// Nesting of `for_each` expansions that name other resources.
    pub(super) expand_depth: Cell<u32>,
    /// Blocks whose count/for_each is being evaluated (instance, header): cycle guard.
    pub(super) expanding: RefCell<Vec<(usize, Span)>>,
    /// How many resource instances this evaluator may still build: what the scan's limit
    /// leaves after the configurations before this one (terraform/mod.rs).
    pub(super) resource_cap: Cell<usize>,
}

/// What an expression can see besides its module instance.
#[derive(Clone, Default)]
pub struct Scope {
    pub inst: usize,
    pub each: Option<(Node, Node)>,
    /// `for_each = azurerm_x.y`: each.value is that resource's instance (type, name).
    pub each_of: Option<(String, String)>,
    pub count: Option<Node>,
    /// `for` variables, dynamic-block iterators, templatestring variables: innermost last.
    pub bindings: Vec<(String, Node)>,
}

impl Scope {
    pub fn new(inst: usize) -> Scope {
        Scope {
            inst,
            ..Scope::default()
        }
    }

    fn binding(&self, name: &str) -> Option<&Node> {
        self.bindings
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v)
    }
}

pub fn unknown(reason: impl Into<String>, span: Span) -> Node {
    Node::unknown(reason, span)
}

fn num_node(x: f64, span: Span) -> Node {
    if x.fract() == 0.0 && x.abs() < 9.0e15 {
        Node::new(Value::Int(x as i64), span)
    } else {
        Node::new(Value::Float(x), span)
    }
}

pub fn as_f64(v: &Value) -> Option<f64> {
    match v {
        Value::Int(i) => Some(*i as f64),
        Value::Float(f) => Some(*f),
        Value::String(s) => s.trim().parse::<f64>().ok(),
        _ => None,
    }
}

/// The first unknown anywhere inside a value.
pub fn deep_unknown(n: &Node) -> Option<&Unknown> {
    match &n.value {
        Value::Unknown(u) => Some(u),
        Value::Array(a) => a.iter().find_map(deep_unknown),
        Value::Object(o) => o.iter().find_map(|(_, v)| deep_unknown(v)),
        _ => None,
    }
}

/// Number of nodes in a value, counting no further than `limit`.
pub fn weight(n: &Node, limit: usize) -> usize {
    fn go(n: &Node, acc: &mut usize, limit: usize) {
        *acc += 1;
        if *acc > limit {
            return;
        }
        match &n.value {
            Value::Array(a) => a.iter().for_each(|x| go(x, acc, limit)),
            Value::Object(o) => o.iter().for_each(|(_, x)| go(x, acc, limit)),
            Value::String(s) => *acc += s.len() / 64,
            _ => {}
        }
    }
    let mut acc = 0;
    go(n, &mut acc, limit);
    acc
}

/// Deep equality ignoring spans; `None` when an unknown makes it undecidable.
pub fn equal(a: &Node, b: &Node) -> Option<bool> {
    match (&a.value, &b.value) {
        (Value::Unknown(_), _) | (_, Value::Unknown(_)) => None,
        (Value::Int(x), Value::Int(y)) => Some(x == y),
        (Value::Int(_) | Value::Float(_), Value::Int(_) | Value::Float(_)) => {
            Some(as_f64(&a.value) == as_f64(&b.value))
        }
        (Value::Array(x), Value::Array(y)) => {
            if x.len() != y.len() {
                return Some(false);
            }
            let mut all = Some(true);
            for (p, q) in x.iter().zip(y) {
                match equal(p, q) {
                    Some(false) => return Some(false),
                    None => all = None,
                    _ => {}
                }
            }
            all
        }
        (Value::Object(x), Value::Object(y)) => {
            if x.len() != y.len() {
                return Some(false);
            }
            let mut all = Some(true);
            for (k, p) in x {
                let Some((_, q)) = y.iter().find(|(k2, _)| k2 == k) else {
                    return Some(false);
                };
                match equal(p, q) {
                    Some(false) => return Some(false),
                    None => all = None,
                    _ => {}
                }
            }
            all
        }
        (x, y) => Some(x == y),
    }
}

/// Terraform's automatic conversion of a primitive to a string.
pub fn to_string(n: &Node) -> Result<String, Flow> {
    match &n.value {
        Value::String(s) => Ok(s.to_string()),
        Value::Int(i) => Ok(i.to_string()),
        Value::Float(f) => Ok(fmt_float(*f)),
        Value::Bool(b) => Ok(b.to_string()),
        Value::Unknown(u) => Err(Flow::Unknown(u.reason.clone())),
        Value::Null => Err(Flow::Error(
            "a null value cannot be used as a string".into(),
        )),
        v => Err(Flow::Error(format!(
            "a {} cannot be used as a string",
            v.type_name()
        ))),
    }
}

pub fn fmt_float(f: f64) -> String {
    if f.fract() == 0.0 && f.abs() < 1e21 {
        format!("{}", f as i128)
    } else {
        format!("{f}")
    }
}

/// Why a value could not be produced: not decidable yet, or a real evaluation error.
#[derive(Debug)]
pub enum Flow {
    Unknown(String),
    Error(String),
}

impl From<String> for Flow {
    fn from(s: String) -> Flow {
        Flow::Error(s)
    }
}

pub fn flow_to_r(f: Flow, span: Span) -> R {
    match f {
        Flow::Unknown(r) => Ok(unknown(r, span)),
        Flow::Error(e) => Err(e),
    }
}

/// Object entries in Terraform's iteration order: lexical by key.
pub fn sorted_entries(o: &[(Str, Node)]) -> Vec<&(Str, Node)> {
    let mut v: Vec<&(Str, Node)> = o.iter().collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}

impl<'a> Eval<'a> {
    pub fn new(input: &'a super::Input<'a>, defs: &'a super::modules::Defs) -> Eval<'a> {
        Eval {
            input,
            defs: &defs.list,
            by_dir: &defs.by_dir,
            insts: RefCell::new(Vec::new()),
            diags: RefCell::new(Vec::new()),
            diag_seen: RefCell::new(foldhash::HashSet::default()),
            fuel: Cell::new(FUEL),
            depth: Cell::new(0),
            fuel_reported: Cell::new(false),
            refs: RefCell::new(Vec::new()),
            attr_cache: RefCell::new(HashMap::new()),
            attr_busy: RefCell::new(foldhash::HashSet::default()),
            expand_depth: Cell::new(0),
            expanding: RefCell::new(Vec::new()),
            resource_cap: Cell::new(super::expand::MAX_RESOURCES),
        }
    }

    /// Records a diagnostic once (instances of one block repeat the same problem).
    pub fn diag(&self, d: Diagnostic) {
        if self
            .diag_seen
            .borrow_mut()
            .insert((d.span, d.message.clone()))
        {
            self.diags.borrow_mut().push(d);
        }
    }

    pub fn inst(&self, id: usize) -> Rc<Inst> {
        self.insts.borrow()[id].clone()
    }

    /// Spends `n` steps; false (and one diagnostic) once the scan's budget is gone.
    pub fn burn(&self, n: u64, span: Span) -> bool {
        let left = self.fuel.get();
        if left < n {
            self.fuel.set(0);
            if !self.fuel_reported.replace(true) {
                self.diag(Diagnostic::warning(
                    span,
                    "evaluation budget exhausted: remaining Terraform values are left unknown",
                ));
            }
            return false;
        }
        self.fuel.set(left - n);
        true
    }

    // ---- reference recording (for resource links) ----

    pub fn push_frame(&self) {
        self.refs.borrow_mut().push(Vec::new());
    }

    pub fn pop_frame(&self) -> Vec<String> {
        self.refs.borrow_mut().pop().unwrap_or_default()
    }

    pub fn record(&self, targets: &[String]) {
        if let Some(top) = self.refs.borrow_mut().last_mut() {
            for t in targets {
                if !top.contains(t) {
                    top.push(t.clone());
                }
            }
        }
    }

    /// Evaluates with a fresh recording frame, returning the value and the references seen.
    pub fn eval_recorded(&self, e: &Expr, scope: &mut Scope) -> (R, Vec<String>) {
        self.push_frame();
        let r = self.eval(e, scope);
        (r, self.pop_frame())
    }

    /// Evaluates; errors become unknown values whose reason carries the error.
    pub fn eval_lenient(&self, e: &Expr, scope: &mut Scope) -> Node {
        match self.eval(e, scope) {
            Ok(n) => n,
            Err(msg) => self.failed(&msg, e.span),
        }
    }

    /// An expression Terraform itself would reject: reported once, and left unknown.
    pub fn failed(&self, msg: &str, span: Span) -> Node {
        self.diag(Diagnostic::warning(
            span,
            format!("expression could not be evaluated ({msg}): left unknown"),
        ));
        unknown(format!("could not evaluate: {msg}"), span)
    }

    // ---- expressions ----

    pub fn eval(&self, e: &Expr, scope: &mut Scope) -> R {
        if !self.burn(1, e.span) {
            return Ok(unknown("evaluation budget exhausted", e.span));
        }
        let d = self.depth.get();
        if d >= MAX_DEPTH {
            return Ok(unknown(
                "expression nested or referenced too deeply",
                e.span,
            ));
        }
        self.depth.set(d + 1);
        let r = self.eval_inner(e, scope);
        self.depth.set(d);
        let r = r?;
        if let Value::String(s) = &r.value {
            if s.len() > MAX_STRING {
                return Ok(self.too_big(e.span));
            }
        }
        Ok(r)
    }

    fn too_big(&self, span: Span) -> Node {
        self.diag(Diagnostic::warning(
            span,
            "value too large to evaluate (size cap reached): left unknown",
        ));
        unknown("value too large to evaluate", span)
    }

    /// Checks the size of a freshly built collection.
    pub fn capped(&self, n: Node) -> Node {
        match n.value {
            Value::Array(_) | Value::Object(_) => {
                let w = weight(&n, MAX_WEIGHT);
                if w > MAX_WEIGHT || !self.burn(w as u64, n.span) {
                    self.too_big(n.span)
                } else {
                    n
                }
            }
            _ => n,
        }
    }

    fn eval_inner(&self, e: &Expr, scope: &mut Scope) -> R {
        let span = e.span;
        Ok(match &e.kind {
            ExprKind::Null => Node::new(Value::Null, span),
            ExprKind::Bool(b) => Node::new(Value::Bool(*b), span),
            ExprKind::Int(i) => Node::new(Value::Int(*i), span),
            ExprKind::Number(f) => Node::new(Value::Float(*f), span),
            ExprKind::Str(s) => Node::new(Value::String(Str::from(s.as_str())), span),
            ExprKind::Invalid(why) => unknown(why.clone(), span),
            ExprKind::Template(parts) => {
                if let [Part::Interp(inner)] = parts.as_slice() {
                    // "${x}" alone yields x itself, not its string form
                    return self.eval(inner, scope);
                }
                let mut out = String::new();
                match self.template(parts, scope, &mut out)? {
                    Some(reason) => unknown(reason, span),
                    None => Node::new(Value::String(Str::from(out)), span),
                }
            }
            ExprKind::Array(items) => {
                let mut out = Vec::with_capacity(items.len());
                for x in items {
                    out.push(self.eval(x, scope)?);
                }
                self.capped(Node::new(Value::Array(out.into()), span))
            }
            ExprKind::Object(items) => {
                let mut out: Vec<(Str, Node)> = Vec::with_capacity(items.len());
                let mut unknown_key = None;
                for (k, v) in items {
                    let key = self.eval(k, scope)?;
                    let val = self.eval(v, scope)?;
                    match to_string(&key) {
                        Ok(k) => {
                            if let Some(slot) = out.iter_mut().find(|(x, _)| *x == k) {
                                slot.1 = val;
                            } else {
                                out.push((Str::from(k), val));
                            }
                        }
                        Err(Flow::Unknown(r)) => unknown_key = Some(r),
                        Err(Flow::Error(m)) => return Err(format!("invalid object key: {m}")),
                    }
                }
                if let Some(r) = unknown_key {
                    return Ok(unknown(format!("object key unknown: {r}"), span));
                }
                self.capped(Node::new(Value::Object(out.into()), span))
            }
            ExprKind::Var(name) => match scope.binding(name) {
                Some(v) => v.clone(),
                None => return self.traversal(e, &[], scope),
            },
            ExprKind::Traversal(root, ops) => return self.traversal(root, ops, scope),
            ExprKind::Call {
                name,
                args,
                expand_final,
            } => return super::functions::call(self, name, args, *expand_final, scope, span),
            ExprKind::Cond(c, t, f) => {
                let cond = self.eval(c, scope)?;
                match &cond.value {
                    Value::Bool(true) => return self.eval(t, scope),
                    Value::Bool(false) => return self.eval(f, scope),
                    Value::String(s) if s == "true" => return self.eval(t, scope),
                    Value::String(s) if s == "false" => return self.eval(f, scope),
                    Value::Unknown(u) => {
                        let a = self.eval(t, scope);
                        let b = self.eval(f, scope);
                        match (a, b) {
                            (Ok(a), Ok(b)) if equal(&a, &b) == Some(true) => a,
                            _ => unknown(format!("condition unknown: {}", u.reason), span),
                        }
                    }
                    v => return Err(format!("condition must be a bool, not {}", v.type_name())),
                }
            }
            ExprKind::Not(x) => {
                let v = self.eval(x, scope)?;
                match bool_of(&v)? {
                    Some(b) => Node::new(Value::Bool(!b), span),
                    None => unknown(unknown_reason(&v), span),
                }
            }
            ExprKind::Neg(x) => {
                let v = self.eval(x, scope)?;
                match &v.value {
                    Value::Int(i) => Node::new(Value::Int(i.wrapping_neg()), span),
                    Value::Unknown(u) => unknown(u.reason.clone(), span),
                    other => match as_f64(other) {
                        Some(f) => num_node(-f, span),
                        None => return Err(format!("cannot negate a {}", other.type_name())),
                    },
                }
            }
            ExprKind::Binary(op, l, r) => return self.binary(*op, l, r, scope, span),
            ExprKind::For(f) => return self.for_expr(f, scope, span),
        })
    }

    /// Renders template parts into `out`; `Some(reason)` when an unknown makes it undecidable.
    fn template(
        &self,
        parts: &[Part],
        scope: &mut Scope,
        out: &mut String,
    ) -> Result<Option<String>, String> {
        for p in parts {
            if out.len() > MAX_STRING {
                return Ok(Some("string too large".into()));
            }
            match p {
                Part::Lit(s) => out.push_str(s),
                Part::Interp(x) => {
                    let v = self.eval(x, scope)?;
                    match to_string(&v) {
                        Ok(s) => out.push_str(&s),
                        Err(Flow::Unknown(r)) => return Ok(Some(r)),
                        Err(Flow::Error(m)) => return Err(m),
                    }
                }
                Part::If {
                    cond,
                    then,
                    otherwise,
                } => {
                    let c = self.eval(cond, scope)?;
                    match bool_of(&c)? {
                        Some(true) => {
                            if let Some(r) = self.template(then, scope, out)? {
                                return Ok(Some(r));
                            }
                        }
                        Some(false) => {
                            if let Some(r) = self.template(otherwise, scope, out)? {
                                return Ok(Some(r));
                            }
                        }
                        None => return Ok(Some(unknown_reason(&c))),
                    }
                }
                Part::For {
                    key_var,
                    val_var,
                    coll,
                    body,
                } => {
                    let c = self.eval(coll, scope)?;
                    let items = match iter_pairs(&c)? {
                        Some(items) => items,
                        None => return Ok(Some(unknown_reason(&c))),
                    };
                    for (k, v) in items {
                        let base = scope.bindings.len();
                        if let Some(kv) = key_var {
                            scope.bindings.push((kv.clone(), k));
                        }
                        scope.bindings.push((val_var.clone(), v));
                        let r = self.template(body, scope, out);
                        scope.bindings.truncate(base);
                        if let Some(r) = r? {
                            return Ok(Some(r));
                        }
                    }
                }
            }
        }
        Ok(None)
    }

    fn binary(&self, op: BinOp, l: &Expr, r: &Expr, scope: &mut Scope, span: Span) -> R {
        let a = self.eval(l, scope)?;
        if matches!(op, BinOp::And | BinOp::Or) {
            let x = bool_of(&a)?;
            // a known left side that decides the result makes the right side irrelevant
            match (op, x) {
                (BinOp::And, Some(false)) => return Ok(Node::new(Value::Bool(false), span)),
                (BinOp::Or, Some(true)) => return Ok(Node::new(Value::Bool(true), span)),
                _ => {}
            }
            let b = self.eval(r, scope)?;
            let y = bool_of(&b)?;
            return Ok(match (op, x, y) {
                (BinOp::And, _, Some(false)) => Node::new(Value::Bool(false), span),
                (BinOp::Or, _, Some(true)) => Node::new(Value::Bool(true), span),
                (_, Some(_), Some(y)) => Node::new(Value::Bool(y), span),
                _ => unknown(
                    if x.is_none() {
                        unknown_reason(&a)
                    } else {
                        unknown_reason(&b)
                    },
                    span,
                ),
            });
        }
        let b = self.eval(r, scope)?;
        match op {
            BinOp::Eq | BinOp::NotEq => Ok(match equal(&a, &b) {
                Some(eq) => Node::new(Value::Bool(eq == (op == BinOp::Eq)), span),
                None => unknown("comparison with an unknown value", span),
            }),
            _ => {
                if a.is_unknown() || b.is_unknown() {
                    let u = if a.is_unknown() { &a } else { &b };
                    return Ok(unknown(unknown_reason(u), span));
                }
                let (Some(x), Some(y)) = (as_f64(&a.value), as_f64(&b.value)) else {
                    return Err(format!(
                        "arithmetic on {} and {}",
                        a.value.type_name(),
                        b.value.type_name()
                    ));
                };
                let ints = match (&a.value, &b.value) {
                    (Value::Int(i), Value::Int(j)) => Some((*i, *j)),
                    _ => None,
                };
                Ok(match op {
                    BinOp::Less => Node::new(Value::Bool(x < y), span),
                    BinOp::LessEq => Node::new(Value::Bool(x <= y), span),
                    BinOp::Greater => Node::new(Value::Bool(x > y), span),
                    BinOp::GreaterEq => Node::new(Value::Bool(x >= y), span),
                    BinOp::Plus => match ints.and_then(|(i, j)| i.checked_add(j)) {
                        Some(v) => Node::new(Value::Int(v), span),
                        None => num_node(x + y, span),
                    },
                    BinOp::Minus => match ints.and_then(|(i, j)| i.checked_sub(j)) {
                        Some(v) => Node::new(Value::Int(v), span),
                        None => num_node(x - y, span),
                    },
                    BinOp::Mul => match ints.and_then(|(i, j)| i.checked_mul(j)) {
                        Some(v) => Node::new(Value::Int(v), span),
                        None => num_node(x * y, span),
                    },
                    BinOp::Div => {
                        if y == 0.0 {
                            return Err("division by zero".into());
                        }
                        num_node(x / y, span)
                    }
                    BinOp::Mod => {
                        if y == 0.0 {
                            return Err("modulo by zero".into());
                        }
                        match ints {
                            Some((i, j)) => Node::new(Value::Int(i.wrapping_rem(j)), span),
                            None => num_node(x % y, span),
                        }
                    }
                    _ => unreachable!("handled above"),
                })
            }
        }
    }

    fn for_expr(&self, f: &ForExpr, scope: &mut Scope, span: Span) -> R {
        let coll = self.eval(&f.coll, scope)?;
        let Some(items) = iter_pairs(&coll)? else {
            return Ok(unknown(unknown_reason(&coll), span));
        };
        if !self.burn(items.len() as u64, span) {
            return Ok(unknown("evaluation budget exhausted", span));
        }
        let mut list = Vec::new();
        let mut obj: Vec<(Str, Node)> = Vec::new();
        let mut unknown_r: Option<String> = None;
        for (k, v) in items {
            let base = scope.bindings.len();
            if let Some(kv) = &f.key_var {
                scope.bindings.push((kv.clone(), k));
            }
            scope.bindings.push((f.val_var.clone(), v));
            let r = self.for_item(f, scope, &mut list, &mut obj, &mut unknown_r);
            scope.bindings.truncate(base);
            r?;
            if list.len() + obj.len() > MAX_WEIGHT {
                return Ok(self.too_big(span));
            }
        }
        if let Some(r) = unknown_r {
            return Ok(unknown(r, span));
        }
        Ok(self.capped(if f.key_expr.is_some() {
            Node::new(Value::Object(obj.into()), span)
        } else {
            Node::new(Value::Array(list.into()), span)
        }))
    }

    fn for_item(
        &self,
        f: &ForExpr,
        scope: &mut Scope,
        list: &mut Vec<Node>,
        obj: &mut Vec<(Str, Node)>,
        unknown_r: &mut Option<String>,
    ) -> Result<(), String> {
        if let Some(c) = &f.cond {
            let cv = self.eval(c, scope)?;
            match bool_of(&cv)? {
                Some(true) => {}
                Some(false) => return Ok(()),
                None => {
                    // an unknown filter makes the collection's length unknown
                    *unknown_r = Some(unknown_reason(&cv));
                    return Ok(());
                }
            }
        }
        let val = self.eval(&f.val_expr, scope)?;
        match &f.key_expr {
            None => list.push(val),
            Some(ke) => {
                let k = self.eval(ke, scope)?;
                match to_string(&k) {
                    Ok(k) => {
                        if f.grouping {
                            match obj.iter_mut().find(|(x, _)| *x == k) {
                                Some((
                                    _,
                                    Node {
                                        value: Value::Array(a),
                                        ..
                                    },
                                )) => a.push(val),
                                _ => obj.push((
                                    Str::from(k),
                                    Node::new(Value::Array(ecow::eco_vec![val]), f.val_expr.span),
                                )),
                            }
                        } else if obj.iter().any(|(x, _)| *x == k) {
                            return Err(format!("duplicate key '{k}' in for expression"));
                        } else {
                            obj.push((Str::from(k), val));
                        }
                    }
                    Err(Flow::Unknown(r)) => *unknown_r = Some(r),
                    Err(Flow::Error(m)) => return Err(m),
                }
            }
        }
        Ok(())
    }

    /// Applies traversal operators to a shared value, cloning only the part selected.
    pub fn apply_ops_ref(&self, root: &Node, ops: &[Op], scope: &mut Scope) -> R {
        let mut cur = root;
        for (i, op) in ops.iter().enumerate() {
            match (op, &cur.value) {
                (Op::Attr(a), Value::Object(o)) => match o.iter().find(|(k, _)| k == a) {
                    Some((_, v)) => cur = v,
                    None => return Err(format!("object has no attribute '{a}'")),
                },
                (Op::Index(x), Value::Array(_) | Value::Object(_)) => {
                    let k = self.eval(x, scope)?;
                    if k.is_unknown() {
                        return self.apply_ops(cur.clone(), &ops[i..], scope);
                    }
                    cur = index_ref(cur, &k)?;
                }
                _ => return self.apply_ops(cur.clone(), &ops[i..], scope),
            }
        }
        Ok(cur.clone())
    }

    /// Applies traversal operators to a value.
    pub fn apply_ops(&self, mut cur: Node, ops: &[Op], scope: &mut Scope) -> R {
        for (i, op) in ops.iter().enumerate() {
            if let Value::Unknown(_) = cur.value {
                // stay unknown, but still evaluate index expressions for their references
                for op in &ops[i..] {
                    if let Op::Index(x) = op {
                        let _ = self.eval(x, scope);
                    }
                }
                return Ok(cur);
            }
            match op {
                Op::Attr(a) => {
                    cur = match &cur.value {
                        Value::Object(o) => match o.iter().find(|(k, _)| k == a) {
                            Some((_, v)) => v.clone(),
                            None => return Err(format!("object has no attribute '{a}'")),
                        },
                        Value::Null => return Err(format!("attribute '{a}' of a null value")),
                        v => return Err(format!("a {} has no attribute '{a}'", v.type_name())),
                    }
                }
                Op::Index(x) => {
                    let k = self.eval(x, scope)?;
                    cur = index(&cur, &k)?;
                }
                Op::Splat { full } => {
                    let rest = &ops[i + 1..];
                    let n = if *full {
                        rest.len()
                    } else {
                        rest.iter().take_while(|o| matches!(o, Op::Attr(_))).count()
                    };
                    let items = match &cur.value {
                        Value::Array(a) => a.clone(),
                        Value::Null => Seq::new(),
                        _ => ecow::eco_vec![cur.clone()],
                    };
                    let mut out = Vec::with_capacity(items.len());
                    for it in items {
                        out.push(self.apply_ops(it, &rest[..n], scope)?);
                    }
                    let list = Node::new(Value::Array(out.into()), cur.span);
                    return self.apply_ops(list, &rest[n..], scope);
                }
            }
        }
        Ok(cur)
    }
}

pub fn unknown_reason(n: &Node) -> String {
    match &n.value {
        Value::Unknown(u) => u.reason.clone(),
        _ => deep_unknown(n)
            .map(|u| u.reason.clone())
            .unwrap_or_else(|| "unknown".into()),
    }
}

/// A bool, with Terraform's string conversion; `None` when unknown.
pub fn bool_of(n: &Node) -> Result<Option<bool>, String> {
    match &n.value {
        Value::Bool(b) => Ok(Some(*b)),
        Value::String(s) if s == "true" => Ok(Some(true)),
        Value::String(s) if s == "false" => Ok(Some(false)),
        Value::Unknown(_) => Ok(None),
        v => Err(format!("expected a bool, found {}", v.type_name())),
    }
}

/// Key/value pairs of a collection for `for`: list index or object key (lexical order).
/// `None` when the collection is unknown.
pub fn iter_pairs(c: &Node) -> Result<Option<Vec<(Node, Node)>>, String> {
    match &c.value {
        Value::Array(a) => Ok(Some(
            a.iter()
                .enumerate()
                .map(|(i, v)| (Node::new(Value::Int(i as i64), v.span), v.clone()))
                .collect(),
        )),
        Value::Object(o) => Ok(Some(
            sorted_entries(o)
                .into_iter()
                .map(|(k, v)| {
                    (
                        Node::new(Value::String(Str::from(k.as_str())), v.span),
                        v.clone(),
                    )
                })
                .collect(),
        )),
        Value::Unknown(_) => Ok(None),
        Value::Null => Err("cannot iterate over a null value".into()),
        v => Err(format!("cannot iterate over a {}", v.type_name())),
    }
}

/// `coll[key]` for a known list or object and a known key.
fn index_ref<'n>(coll: &'n Node, k: &Node) -> Result<&'n Node, String> {
    match &coll.value {
        Value::Array(a) => {
            let i = as_f64(&k.value).ok_or_else(|| "list index must be a number".to_string())?;
            if i < 0.0 || i.fract() != 0.0 || i as usize >= a.len() {
                return Err(format!("index {i} out of range for a list of {}", a.len()));
            }
            Ok(&a[i as usize])
        }
        Value::Object(o) => {
            let key = to_string(k).map_err(|_| "object key must be a string".to_string())?;
            o.iter()
                .find(|(x, _)| *x == key)
                .map(|(_, v)| v)
                .ok_or_else(|| format!("no element with key '{key}'"))
        }
        v => Err(format!("cannot index a {}", v.type_name())),
    }
}

/// `coll[key]`.
pub fn index(coll: &Node, k: &Node) -> R {
    if let Value::Unknown(u) = &k.value {
        return Ok(unknown(u.reason.clone(), coll.span));
    }
    match &coll.value {
        Value::Array(a) => {
            let i = as_f64(&k.value).ok_or_else(|| "list index must be a number".to_string())?;
            if i < 0.0 || i.fract() != 0.0 || i as usize >= a.len() {
                return Err(format!("index {i} out of range for a list of {}", a.len()));
            }
            Ok(a[i as usize].clone())
        }
        Value::Object(o) => {
            let key = to_string(k).map_err(|_| "object key must be a string".to_string())?;
            o.iter()
                .find(|(x, _)| *x == key)
                .map(|(_, v)| v.clone())
                .ok_or_else(|| format!("no element with key '{key}'"))
        }
        Value::Unknown(_) => Ok(coll.clone()),
        Value::Null => Err("cannot index a null value".into()),
        v => Err(format!("cannot index a {}", v.type_name())),
    }
}

/// Cached lookup helper used by locals and outputs.
pub fn lazy_get(map: &RefCell<HashMap<String, Lazy>>, name: &str) -> Option<Lazy> {
    map.borrow().get(name).cloned()
}
