//! The expression evaluator (evaluate stage): walks an [`Expr`] to a [`Value`].
//!
//! Evaluation order per call: namespaced (user-defined) functions go to the [`Scope`] only;
//! the special forms that need their arguments unevaluated are handled here (`if`, `and`,
//! `or`, `coalesce`, the lambda functions and `lambdaVariables`); every other call evaluates
//! its arguments, asks the scope, and falls back to the pure library
//! ([`crate::eval::functions`]).
//!
//! Unknown values short-circuit only where the answer is not decidable: `and(false, x)` is
//! `false` whatever `x` is, `if(true, a, b)` never looks at `b`, and an `if` whose condition
//! is unknown is still known when both branches agree.

use crate::arm::expr::{Expr, ExprKind};
use crate::eval::functions::{self, values_equal};
use crate::model::{Node, Seq, Str, Value};
use crate::source::Span;

/// Why an expression could not be evaluated. Offsets are into the expression source (the
/// string given to [`crate::arm::expr::parse`]); for calls, the offset of the function name.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum EvalError {
    #[error("unknown function '{name}'")]
    UnknownFunction { name: String, offset: u32 },
    #[error("{function}() expects {expected} argument{}, got {found}", if expected == "1" { "" } else { "s" })]
    Arity {
        function: String,
        /// `"2"`, `"1 or 2"`, `"at least 1"`.
        expected: String,
        found: usize,
        offset: u32,
    },
    #[error("{function}(): {message}")]
    Type {
        function: String,
        message: String,
        offset: u32,
    },
    #[error("{message}")]
    Other { message: String, offset: u32 },
}

impl EvalError {
    pub fn offset(&self) -> u32 {
        match self {
            EvalError::UnknownFunction { offset, .. }
            | EvalError::Arity { offset, .. }
            | EvalError::Type { offset, .. }
            | EvalError::Other { offset, .. } => *offset,
        }
    }
}

/// The evaluation context: what an expression can see besides the pure library.
pub trait Scope {
    /// Context-dependent functions (parameters, variables, copyIndex, reference, resourceId,
    /// resourceGroup, subscription, deployment, environment, user-defined functions,
    /// lambdaVariables…). Return None to fall back to the pure library. Args are already
    /// evaluated, EXCEPT that the interpreter itself handles laziness for `if`, `and`, `or`,
    /// `coalesce` and lambdas. `name` is as written: compare it with `eq_ignore_ascii_case`.
    ///
    /// `lambdaVariables` reaches the scope only when no enclosing lambda binds the name.
    fn call(
        &mut self,
        namespace: Option<&str>,
        name: &str,
        args: &[Value],
    ) -> Option<Result<Value, EvalError>>;

    /// `variables('x').a[0]`-style reads: the value at `path` inside the result of a
    /// context call with literal arguments. A scope that keeps large values answers without
    /// copying the whole value to read one leaf (profiling showed whole-variable copies as
    /// the main cost of evaluating real templates). None: evaluate the usual way (which
    /// also produces the errors for a missing member).
    fn call_path(&mut self, name: &str, args: &[Value], path: &[PathStep]) -> Option<Value> {
        let _ = (name, args, path);
        None
    }
}

/// One step of a literal member/index chain.
#[derive(Debug, Clone)]
pub enum PathStep<'e> {
    Member(std::borrow::Cow<'e, str>),
    Index(i64),
}

/// A scope that knows nothing: parameters, variables and deployment-time functions are
/// Unknown, pure functions are evaluated.
pub struct NoScope;

impl Scope for NoScope {
    fn call(&mut self, _: Option<&str>, _: &str, _: &[Value]) -> Option<Result<Value, EvalError>> {
        None
    }
}

/// Evaluates a parsed expression.
pub fn eval(expr: &Expr, scope: &mut dyn Scope) -> Result<Value, EvalError> {
    Interp {
        scope,
        vars: Vec::new(),
    }
    .eval(expr)
}

struct Interp<'s> {
    scope: &'s mut dyn Scope,
    /// Lambda parameters in scope, innermost last.
    vars: Vec<(String, Value)>,
}

fn node(v: Value) -> Node {
    Node::new(v, Span::default())
}

fn other(offset: u32, message: impl Into<String>) -> EvalError {
    EvalError::Other {
        message: message.into(),
        offset,
    }
}

fn type_err(function: &str, offset: u32, message: impl Into<String>) -> EvalError {
    EvalError::Type {
        function: function.to_string(),
        message: message.into(),
        offset,
    }
}

fn arity(function: &str, offset: u32, expected: &str, found: usize) -> EvalError {
    EvalError::Arity {
        function: function.to_string(),
        expected: expected.to_string(),
        found,
        offset,
    }
}

/// A `lambda('x', 'y', body)` argument, not evaluated.
struct Lambda<'e> {
    params: Vec<&'e str>,
    body: &'e Expr,
}

impl<'s> Interp<'s> {
    fn eval(&mut self, e: &Expr) -> Result<Value, EvalError> {
        match &e.kind {
            ExprKind::String(s) => Ok(Value::String(Str::from(s.as_str()))),
            ExprKind::Int(i) => Ok(Value::Int(*i)),
            ExprKind::Bool(b) => Ok(Value::Bool(*b)),
            ExprKind::Null => Ok(Value::Null),
            ExprKind::Member(base, name) => {
                if let Some(v) = self.literal_path(e) {
                    return Ok(v);
                }
                let v = self.eval(base)?;
                member(v, name, base.end)
            }
            ExprKind::Index(base, index) => {
                if let Some(v) = self.literal_path(e) {
                    return Ok(v);
                }
                let v = self.eval(base)?;
                let i = self.eval(index)?;
                index_value(v, i, index.start)
            }
            ExprKind::Call {
                namespace,
                name,
                args,
            } => self.call(e, namespace.as_deref(), name, args),
        }
    }

    /// `parameters('p').a.b[0]` with a literal argument: asks the scope for the leaf
    /// directly. An index may be computed (`variables('subnets')[copyIndex()]`, the common
    /// shape in copy loops); it is evaluated first, and a value that is not a string or an
    /// integer (or an error) falls back to the usual path, which reports it. None when the
    /// shape does not fit or the scope declines.
    fn literal_path(&mut self, e: &Expr) -> Option<Value> {
        enum Raw<'e> {
            Step(PathStep<'e>),
            Computed(&'e Expr),
        }
        let mut raw = Vec::new();
        let mut cur = e;
        loop {
            match &cur.kind {
                ExprKind::Member(base, name) => {
                    raw.push(Raw::Step(PathStep::Member(name.as_str().into())));
                    cur = base;
                }
                ExprKind::Index(base, index) => {
                    raw.push(match &index.kind {
                        ExprKind::String(s) => Raw::Step(PathStep::Member(s.as_str().into())),
                        ExprKind::Int(i) => Raw::Step(PathStep::Index(*i)),
                        _ => Raw::Computed(index),
                    });
                    cur = base;
                }
                _ => break,
            }
        }
        let ExprKind::Call {
            namespace: None,
            name,
            args,
        } = &cur.kind
        else {
            return None;
        };
        if !(name.eq_ignore_ascii_case("parameters") || name.eq_ignore_ascii_case("variables")) {
            return None;
        }
        let [Expr {
            kind: ExprKind::String(arg),
            ..
        }] = args.as_slice()
        else {
            return None;
        };
        let mut steps = Vec::with_capacity(raw.len());
        for r in raw.into_iter().rev() {
            steps.push(match r {
                Raw::Step(s) => s,
                Raw::Computed(index) => match self.eval(index).ok()? {
                    Value::Int(i) => PathStep::Index(i),
                    Value::String(s) => PathStep::Member(s.into()),
                    _ => return None,
                },
            });
        }
        self.scope
            .call_path(name, &[Value::String(Str::from(arg.as_str()))], &steps)
    }

    fn eval_args(&mut self, args: &[Expr]) -> Result<Vec<Value>, EvalError> {
        args.iter().map(|a| self.eval(a)).collect()
    }

    fn call(
        &mut self,
        e: &Expr,
        namespace: Option<&str>,
        name: &str,
        args: &[Expr],
    ) -> Result<Value, EvalError> {
        let at = e.name_offset();
        if let Some(ns) = namespace {
            let vals = self.eval_args(args)?;
            return match self.scope.call(Some(ns), name, &vals) {
                Some(r) => r,
                None => Err(EvalError::UnknownFunction {
                    name: format!("{ns}.{name}"),
                    offset: at,
                }),
            };
        }
        let lower = functions::LowerName::new(name);
        let lname = lower.as_str();
        match lname {
            "if" => return self.if_(name, at, args),
            "and" | "or" => return self.and_or(lname == "and", name, at, args),
            "coalesce" => return self.coalesce(name, at, args),
            "lambda" => {
                return Err(other(
                    at,
                    "lambda() can only be an argument of filter, map, mapValues, reduce, sort, toObject or groupBy",
                ))
            }
            "lambdavariables" => {
                if let [Expr {
                    kind: ExprKind::String(var),
                    ..
                }] = args
                {
                    if let Some((_, v)) = self.vars.iter().rev().find(|(n, _)| n.eq_ignore_ascii_case(var)) {
                        return Ok(v.clone());
                    }
                }
            }
            "filter" | "map" | "mapvalues" | "reduce" | "sort" | "toobject" | "groupby" => {
                return self.lambda_fn(lname, name, at, args)
            }
            _ => {}
        }
        let vals = self.eval_args(args)?;
        if let Some(r) = self.scope.call(None, name, &vals) {
            return r;
        }
        match functions::call_lowercase(lname, name, vals, at) {
            Some(r) => r,
            None => Err(EvalError::UnknownFunction {
                name: name.to_string(),
                offset: at,
            }),
        }
    }

    /// `if(cond, a, b)`: only the chosen branch is evaluated (ARM evaluates `if` lazily, which
    /// templates rely on to guard `reference()` of conditional resources).
    fn if_(&mut self, name: &str, at: u32, args: &[Expr]) -> Result<Value, EvalError> {
        let [c, a, b] = args else {
            return Err(arity(name, at, "3", args.len()));
        };
        match self.eval(c)? {
            Value::Bool(true) => self.eval(a),
            Value::Bool(false) => self.eval(b),
            Value::Unknown(u) => {
                // Either branch may be taken: the result is known only if both agree. A
                // runtime error in a branch that may not be taken is not an error of the
                // template, but a function that does not exist is.
                let mut branch = |x: &Expr| match self.eval(x) {
                    Ok(v) => Ok(Some(v)),
                    Err(e @ EvalError::UnknownFunction { .. }) => Err(e),
                    Err(_) => Ok(None),
                };
                let va = branch(a)?;
                let vb = branch(b)?;
                match (va, vb) {
                    (Some(va), Some(vb)) if values_equal(&va, &vb) == Some(true) => Ok(va),
                    _ => Ok(Value::Unknown(u)),
                }
            }
            v => Err(type_err(
                name,
                at,
                format!("the condition must be a bool, got {}", v.type_name()),
            )),
        }
    }

    /// `and`/`or` with at least 2 arguments: a deciding value (`false` for and, `true` for
    /// or) wins over unknowns, and arguments after it are not evaluated.
    fn and_or(
        &mut self,
        is_and: bool,
        name: &str,
        at: u32,
        args: &[Expr],
    ) -> Result<Value, EvalError> {
        if args.len() < 2 {
            return Err(arity(name, at, "at least 2", args.len()));
        }
        let mut first_unknown = None;
        for a in args {
            match self.eval(a)? {
                Value::Bool(b) if b != is_and => return Ok(Value::Bool(b)),
                Value::Bool(_) => {}
                Value::Unknown(u) => {
                    first_unknown.get_or_insert(u);
                }
                v => {
                    return Err(type_err(
                        name,
                        at,
                        format!("arguments must be bools, got {}", v.type_name()),
                    ))
                }
            }
        }
        Ok(match first_unknown {
            Some(u) => Value::Unknown(u),
            None => Value::Bool(is_and),
        })
    }

    /// `coalesce`: the first non-null argument; an unknown before it makes the result
    /// unknown (it might be null or not). Empty strings/arrays/objects are not null.
    fn coalesce(&mut self, name: &str, at: u32, args: &[Expr]) -> Result<Value, EvalError> {
        if args.is_empty() {
            return Err(arity(name, at, "at least 1", 0));
        }
        for a in args {
            match self.eval(a)? {
                Value::Null => continue,
                v => return Ok(v),
            }
        }
        Ok(Value::Null)
    }

    fn lambda_arg<'e>(
        &self,
        fname: &str,
        at: u32,
        e: &'e Expr,
        params: std::ops::RangeInclusive<usize>,
    ) -> Result<Lambda<'e>, EvalError> {
        let ExprKind::Call {
            namespace: None,
            name,
            args,
        } = &e.kind
        else {
            return Err(type_err(fname, e.start, "expected a lambda(...) argument"));
        };
        if !name.eq_ignore_ascii_case("lambda") {
            return Err(type_err(fname, e.start, "expected a lambda(...) argument"));
        }
        let Some((body, names)) = args.split_last() else {
            return Err(arity("lambda", e.start, "at least 1", 0));
        };
        let mut out = Vec::with_capacity(names.len());
        for n in names {
            match &n.kind {
                ExprKind::String(s) => out.push(s.as_str()),
                _ => {
                    return Err(type_err(
                        "lambda",
                        n.start,
                        "parameter names must be string literals",
                    ))
                }
            }
        }
        if !params.contains(&out.len()) {
            let (lo, hi) = (*params.start(), *params.end());
            let expected = if lo == hi {
                format!("{lo}")
            } else {
                format!("{lo} to {hi}")
            };
            return Err(type_err(
                fname,
                at,
                format!(
                    "the lambda must take {expected} parameters, it takes {}",
                    out.len()
                ),
            ));
        }
        Ok(Lambda { params: out, body })
    }

    /// Evaluates a lambda body with its parameters bound to `values` (extra values beyond the
    /// lambda's parameters, such as an index it does not declare, are dropped).
    fn apply(&mut self, l: &Lambda<'_>, values: &[&Value]) -> Result<Value, EvalError> {
        let mark = self.vars.len();
        for (p, v) in l.params.iter().zip(values) {
            self.vars.push((p.to_string(), (*v).clone()));
        }
        let r = self.eval(l.body);
        self.vars.truncate(mark);
        r
    }

    fn lambda_fn(
        &mut self,
        lname: &str,
        name: &str,
        at: u32,
        args: &[Expr],
    ) -> Result<Value, EvalError> {
        let n = args.len();
        let ok = match lname {
            "toobject" => n == 2 || n == 3,
            "reduce" => n == 3,
            _ => n == 2,
        };
        if !ok {
            let expected = match lname {
                "toobject" => "2 or 3",
                "reduce" => "3",
                _ => "2",
            };
            return Err(arity(name, at, expected, n));
        }
        // The lambdas' shapes are checked before the source is evaluated, so a malformed
        // lambda is reported even when the source is unknown.
        let (params, lambda_at) = match lname {
            "filter" | "map" => (1..=2, 1),
            "reduce" => (2..=3, 2),
            "sort" => (2..=2, 1),
            _ => (1..=1, 1),
        };
        let l = self.lambda_arg(name, at, &args[lambda_at], params)?;
        let value_lambda = match (lname, args.get(2)) {
            ("toobject", Some(a)) => Some(self.lambda_arg(name, at, a, 1..=1)?),
            _ => None,
        };
        let source = self.eval(&args[0])?;
        if let Value::Unknown(u) = source {
            return Ok(Value::Unknown(u));
        }
        if lname == "mapvalues" {
            let Value::Object(members) = source else {
                return Err(type_err(
                    name,
                    at,
                    format!("expected an object, got {}", source.type_name()),
                ));
            };
            let mut out = Vec::with_capacity(members.len());
            for (k, v) in members {
                let r = self.apply(&l, &[&v.value])?;
                out.push((k, node(r)));
            }
            return Ok(Value::Object(out.into()));
        }
        let Value::Array(items) = source else {
            return Err(type_err(
                name,
                at,
                format!("expected an array, got {}", source.type_name()),
            ));
        };
        let must_be_bool = |v: &Value| {
            type_err(
                name,
                at,
                format!("the lambda must return a bool, got {}", v.type_name()),
            )
        };
        let must_be_key = |v: &Value| {
            type_err(
                name,
                at,
                format!("the lambda must return a string key, got {}", v.type_name()),
            )
        };
        match lname {
            "filter" => {
                let mut out = Vec::new();
                for (i, item) in items.into_iter().enumerate() {
                    match self.apply(&l, &[&item.value, &Value::Int(i as i64)])? {
                        Value::Bool(true) => out.push(item),
                        Value::Bool(false) => {}
                        Value::Unknown(u) => return Ok(Value::Unknown(u)),
                        v => return Err(must_be_bool(&v)),
                    }
                }
                Ok(Value::Array(out.into()))
            }
            "map" => {
                let mut out = Vec::with_capacity(items.len());
                for (i, item) in items.iter().enumerate() {
                    out.push(node(self.apply(&l, &[&item.value, &Value::Int(i as i64)])?));
                }
                Ok(Value::Array(out.into()))
            }
            "reduce" => {
                let mut acc = self.eval(&args[1])?;
                for (i, item) in items.iter().enumerate() {
                    acc = self.apply(&l, &[&acc, &item.value, &Value::Int(i as i64)])?;
                }
                Ok(acc)
            }
            "sort" => {
                let mut failed: Option<Result<Value, EvalError>> = None;
                let sorted = merge_sort(items.into_iter().collect(), &mut |a: &Node, b: &Node| {
                    if failed.is_some() {
                        return false;
                    }
                    match self.apply(&l, &[&a.value, &b.value]) {
                        Ok(Value::Bool(x)) => x,
                        Ok(Value::Unknown(u)) => {
                            failed = Some(Ok(Value::Unknown(u)));
                            false
                        }
                        Ok(v) => {
                            failed = Some(Err(must_be_bool(&v)));
                            false
                        }
                        Err(e) => {
                            failed = Some(Err(e));
                            false
                        }
                    }
                });
                match failed {
                    Some(r) => r,
                    None => Ok(Value::Array(sorted.into())),
                }
            }
            "toobject" => {
                let mut out = node(Value::Object(Seq::new()));
                for item in items {
                    let k = match self.apply(&l, &[&item.value])? {
                        Value::String(s) => s,
                        Value::Unknown(u) => return Ok(Value::Unknown(u)),
                        v => return Err(must_be_key(&v)),
                    };
                    let v = match &value_lambda {
                        Some(vl) => node(self.apply(vl, &[&item.value])?),
                        None => item,
                    };
                    // Later items replace earlier ones with the same (case-insensitive) key.
                    out.set(&k, v);
                }
                Ok(out.value)
            }
            "groupby" => {
                let mut groups: Vec<(Str, Node)> = Vec::new();
                for item in items {
                    let k = match self.apply(&l, &[&item.value])? {
                        Value::String(s) => s,
                        Value::Unknown(u) => return Ok(Value::Unknown(u)),
                        v => return Err(must_be_key(&v)),
                    };
                    match groups.iter_mut().find(|(g, _)| g.eq_ignore_ascii_case(&k)) {
                        Some((
                            _,
                            Node {
                                value: Value::Array(a),
                                ..
                            },
                        )) => a.push(item),
                        _ => groups.push((k, node(Value::Array(ecow::eco_vec![item])))),
                    }
                }
                Ok(Value::Object(groups.into()))
            }
            _ => Err(other(
                at,
                format!("internal: {lname} is not a lambda function"),
            )),
        }
    }
}

/// Stable merge sort with a fallible, possibly inconsistent comparator (`less(a, b)`): the
/// standard library's sorts may panic when a comparator is not a total order, and a
/// template's lambda is not trusted to be one.
fn merge_sort(mut items: Vec<Node>, less: &mut dyn FnMut(&Node, &Node) -> bool) -> Vec<Node> {
    if items.len() <= 1 {
        return items;
    }
    let right = items.split_off(items.len() / 2);
    let left = merge_sort(items, less);
    let right = merge_sort(right, less);
    let mut out = Vec::with_capacity(left.len() + right.len());
    let mut l = left.into_iter().peekable();
    let mut r = right.into_iter().peekable();
    loop {
        match (l.peek(), r.peek()) {
            (Some(a), Some(b)) => {
                // Take from the right only when strictly less: keeps equal items in order.
                if less(b, a) {
                    out.extend(r.next());
                } else {
                    out.extend(l.next());
                }
            }
            (Some(_), None) => out.extend(l.by_ref()),
            (None, Some(_)) => out.extend(r.by_ref()),
            (None, None) => break,
        }
    }
    out
}

/// `value.name`. Member access on an unknown value is unknown; a missing property is an error,
/// as it is at deployment.
fn member(v: Value, name: &str, offset: u32) -> Result<Value, EvalError> {
    match v {
        Value::Unknown(u) => Ok(Value::Unknown(u)),
        Value::Object(members) => {
            let mut keys = Vec::new();
            for (k, n) in members {
                if k.eq_ignore_ascii_case(name) {
                    return Ok(n.value);
                }
                if keys.len() < 8 {
                    keys.push(k);
                }
            }
            Err(other(
                offset,
                format!(
                    "the object has no property '{name}' (it has: {})",
                    if keys.is_empty() {
                        "none".to_string()
                    } else {
                        keys.join(", ")
                    }
                ),
            ))
        }
        v => Err(other(
            offset,
            format!("cannot read property '{name}' of a {} value", v.type_name()),
        )),
    }
}

/// `value[index]`: arrays by integer, objects by (case-insensitive) key.
fn index_value(v: Value, i: Value, offset: u32) -> Result<Value, EvalError> {
    match (v, i) {
        (Value::Unknown(u), _) | (_, Value::Unknown(u)) => Ok(Value::Unknown(u)),
        (Value::Array(items), Value::Int(n)) => {
            let len = items.len();
            if n < 0 || n as u64 >= len as u64 {
                return Err(other(
                    offset,
                    format!(
                        "index {n} is out of range: the array has {len} item{}",
                        if len == 1 { "" } else { "s" }
                    ),
                ));
            }
            Ok(items
                .into_iter()
                .nth(n as usize)
                .map(|n| n.value)
                .unwrap_or(Value::Null))
        }
        (v @ Value::Object(_), Value::String(k)) => member(v, &k, offset),
        (v, i) => Err(other(
            offset,
            format!(
                "cannot index a {} value with a {}",
                v.type_name(),
                i.type_name()
            ),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::arm::expr::parse;
    use crate::eval::functions::from_json;
    use crate::model::Unknown;

    /// Parameters from a JSON object; `"?"`-valued ones are unknown.
    struct Params(Value);

    impl Scope for Params {
        fn call(
            &mut self,
            ns: Option<&str>,
            name: &str,
            args: &[Value],
        ) -> Option<Result<Value, EvalError>> {
            if ns.is_none() && name.eq_ignore_ascii_case("parameters") {
                if let [Value::String(p)] = args {
                    let n = node(self.0.clone());
                    return n.get(p).map(|v| Ok(unknowns(v.value.clone())));
                }
            }
            None
        }
    }

    /// `"?"` strings, at any depth, become unknowns.
    fn unknowns(v: Value) -> Value {
        match v {
            Value::String(s) if s == "?" => Value::Unknown(Unknown {
                reason: "test unknown".into(),
            }),
            Value::Array(a) => {
                Value::Array(a.into_iter().map(|n| node(unknowns(n.value))).collect())
            }
            Value::Object(o) => Value::Object(
                o.into_iter()
                    .map(|(k, n)| (k, node(unknowns(n.value))))
                    .collect(),
            ),
            v => v,
        }
    }

    fn j(s: &str) -> Value {
        from_json(serde_json::from_str(s).unwrap())
    }

    fn ev_with(src: &str, params: &str) -> Result<Value, EvalError> {
        let e = parse(src).unwrap_or_else(|e| panic!("{src}: {e}"));
        eval(&e, &mut Params(j(params)))
    }

    fn ev(src: &str) -> Value {
        ev_with(src, "{}").unwrap_or_else(|e| panic!("{src}: {e}"))
    }

    fn is_unknown(v: &Value) -> bool {
        matches!(v, Value::Unknown(_))
    }

    #[test]
    fn real_world_expressions() {
        assert!(is_unknown(&ev(
            "[concat(parameters('prefix'), uniqueString(resourceGroup().id))]"
        )));
        assert_eq!(ev("[format('{0}-{1}', 'a', 2)]"), j(r#""a-2""#));
        let sku = "[if(equals(parameters('env'),'prod'), 'Standard_GRS', 'Standard_LRS')]";
        assert_eq!(
            ev_with(sku, r#"{"env":"prod"}"#).unwrap(),
            j(r#""Standard_GRS""#)
        );
        assert_eq!(
            ev_with(sku, r#"{"env":"dev"}"#).unwrap(),
            j(r#""Standard_LRS""#)
        );
        assert!(is_unknown(&ev_with(sku, r#"{"env":"?"}"#).unwrap()));
        assert_eq!(
            ev("[resourceId('Microsoft.Network/virtualNetworks/subnets', 'vnet1', 'default')]"),
            j(
                r#""/subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}/providers/Microsoft.Network/virtualNetworks/vnet1/subnets/default""#
            )
        );
        assert_eq!(
            ev_with(
                "[toLower(concat(parameters('name'), 'sa'))]",
                r#"{"name":"MyApp"}"#
            )
            .unwrap(),
            j(r#""myappsa""#)
        );
        assert!(is_unknown(&ev("[reference(resourceId('Microsoft.Storage/storageAccounts', 'sa'), '2022-09-01').primaryEndpoints.blob]")));
        assert!(is_unknown(&ev(
            "[listKeys(variables('sa'), '2022-09-01').keys[0].value]"
        )));
        assert!(is_unknown(&ev("[subscription().subscriptionId]")));
        assert!(is_unknown(&ev("[environment().suffixes.storage]")));
        assert_eq!(
            ev_with(
                "[parameters('cfg').Network['allowed'][1]]",
                r#"{"cfg":{"network":{"allowed":["a","b"]}}}"#
            )
            .unwrap(),
            j(r#""b""#)
        );
    }

    #[test]
    fn if_is_lazy() {
        // The untaken branch would fail (index out of range, division by zero).
        assert_eq!(ev("[if(true(), 1, div(1, 0))]"), Value::Int(1));
        assert_eq!(ev("[if(false, createArray()[3], 'b')]"), j(r#""b""#));
        assert_eq!(ev("[if(true, 'a', reference('x').y)]"), j(r#""a""#));
        // Unknown condition: known only when both branches agree.
        assert_eq!(
            ev_with("[if(parameters('c'), 'x', 'x')]", r#"{"c":"?"}"#).unwrap(),
            j(r#""x""#)
        );
        assert!(is_unknown(
            &ev_with("[if(parameters('c'), 'x', 'y')]", r#"{"c":"?"}"#).unwrap()
        ));
        assert!(is_unknown(
            &ev_with("[if(parameters('c'), 'x', div(1, 0))]", r#"{"c":"?"}"#).unwrap()
        ));
        // A missing function is still reported.
        assert!(matches!(
            ev_with("[if(parameters('c'), 'x', nope())]", r#"{"c":"?"}"#),
            Err(EvalError::UnknownFunction { .. })
        ));
        assert!(matches!(
            ev_with("[if('yes', 1, 2)]", "{}"),
            Err(EvalError::Type { .. })
        ));
        assert!(matches!(
            ev_with("[if(true, 1)]", "{}"),
            Err(EvalError::Arity { .. })
        ));
    }

    #[test]
    fn and_or_coalesce_decide_around_unknowns() {
        let p = r#"{"u":"?","n":null,"s":"x"}"#;
        let t = |src: &str| ev_with(src, p).unwrap();
        assert_eq!(t("[and(false, parameters('u'))]"), Value::Bool(false));
        assert_eq!(t("[and(parameters('u'), false)]"), Value::Bool(false));
        assert!(is_unknown(&t("[and(true, parameters('u'))]")));
        assert_eq!(t("[or(parameters('u'), true)]"), Value::Bool(true));
        assert!(is_unknown(&t("[or(false, parameters('u'))]")));
        assert_eq!(t("[and(true, true, true)]"), Value::Bool(true));
        // Short-circuit: the failing argument is never evaluated.
        assert_eq!(t("[or(true, equals(div(1, 0), 1))]"), Value::Bool(true));
        assert_eq!(
            t("[coalesce(parameters('n'), 'x', parameters('u'))]"),
            j(r#""x""#)
        );
        assert!(is_unknown(&t("[coalesce(null(), parameters('u'), 'x')]")));
        assert_eq!(t("[coalesce(null, null())]"), Value::Null);
        assert_eq!(t("[coalesce(parameters('n'), '')]"), j(r#""""#));
        assert!(matches!(
            ev_with("[and(true)]", p),
            Err(EvalError::Arity { .. })
        ));
        assert!(matches!(
            ev_with("[or(1, true)]", p),
            Err(EvalError::Type { .. })
        ));
    }

    #[test]
    fn unknown_elements_are_kept() {
        let p = r#"{"u":"?","tags":{"env":"?","owner":"me"}}"#;
        let t = |src: &str| ev_with(src, p).unwrap();
        let v = t("[createArray('a', parameters('u'), 'c')]");
        let Value::Array(items) = &v else {
            panic!("{v:?}")
        };
        assert_eq!(items.len(), 3);
        assert!(items[1].is_unknown());
        assert_eq!(
            t("[length(createArray('a', parameters('u')))]"),
            Value::Int(2)
        );
        assert_eq!(
            t("[empty(createArray(parameters('u')))]"),
            Value::Bool(false)
        );
        assert_eq!(t("[createArray('a', parameters('u'))[0]]"), j(r#""a""#));
        assert!(is_unknown(&t("[createArray('a', parameters('u'))[1]]")));
        let v = t("[createObject('a', parameters('u'), 'b', 1)]");
        assert_eq!(
            node(v.clone()).get("B").map(|n| n.value.clone()),
            Some(Value::Int(1))
        );
        assert!(node(v).get("a").unwrap().is_unknown());
        assert_eq!(
            t("[union(parameters('tags'), createObject('cost', 'x')).owner]"),
            j(r#""me""#)
        );
        assert!(is_unknown(&t(
            "[union(parameters('tags'), createObject('cost', 'x')).env]"
        )));
        assert_eq!(
            t("[concat(createArray(parameters('u')), createArray(2))[1]]"),
            Value::Int(2)
        );
        assert_eq!(
            t("[contains(createArray(parameters('u'), 'x'), 'x')]"),
            Value::Bool(true)
        );
        assert!(is_unknown(&t(
            "[contains(createArray(parameters('u'), 'x'), 'y')]"
        )));
        assert_eq!(
            t("[contains(parameters('tags'), 'ENV')]"),
            Value::Bool(true)
        );
        assert_eq!(t("[json('{\"a\": [1, 2]}').a[1]]"), Value::Int(2));
        assert!(is_unknown(&t("[string(createArray(parameters('u')))]")));
        assert!(is_unknown(&t(
            "[equals(createArray(parameters('u')), createArray(1))]"
        )));
        // Different lengths: unequal whatever the unknown is.
        assert_eq!(
            t("[equals(createArray(parameters('u')), createArray(1, 2))]"),
            Value::Bool(false)
        );
        assert!(is_unknown(&t("[toUpper(parameters('u'))]")));
        assert!(is_unknown(&t("[parameters('u').a.b[0]]")));
        assert_eq!(
            t("[objectKeys(parameters('tags'))]"),
            j(r#"["env","owner"]"#)
        );
    }

    #[test]
    fn lambdas() {
        let p = r#"{"dogs":[{"name":"Evie","age":5},{"name":"Casper","age":3},{"name":"Indy","age":2},{"name":"Kira","age":8}],"u":"?"}"#;
        let t = |src: &str| ev_with(src, p).unwrap_or_else(|e| panic!("{src}: {e}"));
        assert_eq!(
            t("[map(filter(parameters('dogs'), lambda('d', greaterOrEquals(lambdaVariables('d').age, 5))), lambda('d', lambdaVariables('d').name))]"),
            j(r#"["Evie","Kira"]"#)
        );
        assert_eq!(
            t("[reduce(map(parameters('dogs'), lambda('d', lambdaVariables('d').age)), 0, lambda('acc', 'cur', add(lambdaVariables('acc'), lambdaVariables('cur'))))]"),
            Value::Int(18)
        );
        assert_eq!(
            t("[map(sort(parameters('dogs'), lambda('a', 'b', less(lambdaVariables('a').age, lambdaVariables('b').age))), lambda('d', lambdaVariables('d').name))]"),
            j(r#"["Indy","Casper","Evie","Kira"]"#)
        );
        assert_eq!(
            t("[toObject(parameters('dogs'), lambda('d', lambdaVariables('d').name), lambda('d', lambdaVariables('d').age)).Kira]"),
            Value::Int(8)
        );
        assert_eq!(
            t("[toObject(parameters('dogs'), lambda('d', lambdaVariables('d').name)).evie.age]"),
            Value::Int(5)
        );
        assert_eq!(
            t("[mapValues(createObject('a', 1, 'b', 2), lambda('v', mul(lambdaVariables('v'), 10)))]"),
            j(r#"{"a":10,"b":20}"#)
        );
        assert_eq!(
            t("[groupBy(createArray('foo', 'bar', 'baz'), lambda('x', substring(lambdaVariables('x'), 0, 1)))]"),
            j(r#"{"f":["foo"],"b":["bar","baz"]}"#)
        );
        // Index parameter, nested lambdas (inner sees outer).
        assert_eq!(t("[map(createArray('a', 'b'), lambda('x', 'i', concat(lambdaVariables('x'), string(lambdaVariables('i')))))]"), j(r#"["a0","b1"]"#));
        assert_eq!(
            t("[map(range(1, 2), lambda('x', map(range(0, lambdaVariables('x')), lambda('y', add(lambdaVariables('x'), lambdaVariables('y'))))))]"),
            j("[[1],[2,3]]")
        );
        // Unknowns: the source, or a filter predicate.
        assert!(is_unknown(&t(
            "[filter(parameters('u'), lambda('x', true))]"
        )));
        assert!(is_unknown(&t(
            "[filter(createArray(1), lambda('x', parameters('u')))]"
        )));
        let v = t("[map(createArray(1, 2), lambda('x', if(equals(lambdaVariables('x'), 1), parameters('u'), 'two')))]");
        let Value::Array(items) = v else { panic!() };
        assert!(items[0].is_unknown());
        assert_eq!(items[1].value, j(r#""two""#));
        // An inconsistent comparator must not panic.
        assert!(
            matches!(t("[sort(range(0, 50), lambda('a', 'b', true))]"), Value::Array(a) if a.len() == 50)
        );
        // Errors.
        assert!(ev_with("[lambdaVariables('x')]", p).is_err());
        assert!(ev_with("[lambda('x', 1)]", p).is_err());
        assert!(ev_with("[map(createArray(1), 'x')]", p).is_err());
        assert!(ev_with("[filter(createArray(1), lambda('x', 1))]", p).is_err());
        assert!(ev_with("[sort(createArray(1, 2), lambda('a', true))]", p).is_err());
        assert!(matches!(
            ev_with("[map(createArray(1))]", p),
            Err(EvalError::Arity { .. })
        ));
        assert!(ev_with("[filter(parameters('u'), lambda(1, true))]", p).is_err());
    }

    #[test]
    fn errors_carry_offsets() {
        let e = ev_with("[concat('a', nosuch('b'))]", "{}").unwrap_err();
        assert_eq!(
            e,
            EvalError::UnknownFunction {
                name: "nosuch".into(),
                offset: 13
            }
        );
        assert_eq!(e.to_string(), "unknown function 'nosuch'");
        let e = ev_with("[toLower('a', 'b')]", "{}").unwrap_err();
        assert!(
            matches!(
                e,
                EvalError::Arity {
                    offset: 1,
                    found: 2,
                    ..
                }
            ),
            "{e:?}"
        );
        assert!(
            e.to_string()
                .contains("toLower() expects 1 argument, got 2"),
            "{e}"
        );
        let e = ev_with("[my.fn(1)]", "{}").unwrap_err();
        assert_eq!(
            e,
            EvalError::UnknownFunction {
                name: "my.fn".into(),
                offset: 4
            }
        );
        let e = ev_with("[createArray(1)[5]]", "{}").unwrap_err();
        assert!(e.to_string().contains("out of range"), "{e}");
        assert_eq!(e.offset(), 16);
        let e = ev_with("[json('{}').missing]", "{}").unwrap_err();
        assert!(e.to_string().contains("no property 'missing'"), "{e}");
        let e = ev_with("[div(1, 0)]", "{}").unwrap_err();
        assert!(e.to_string().contains("div(): division by zero"), "{e}");
        let e = ev_with("[add(9223372036854775807, 1)]", "{}").unwrap_err();
        assert!(e.to_string().contains("overflow"), "{e}");
        let e = ev_with("[toUpper(1)]", "{}").unwrap_err();
        assert!(
            e.to_string()
                .starts_with("toUpper(): argument 1 must be a string"),
            "{e}"
        );
    }

    #[test]
    fn scope_can_override_and_user_functions() {
        struct S;
        impl Scope for S {
            fn call(
                &mut self,
                ns: Option<&str>,
                name: &str,
                args: &[Value],
            ) -> Option<Result<Value, EvalError>> {
                match (ns, name) {
                    (Some("my"), "twice") => match args {
                        [Value::Int(n)] => Some(Ok(Value::Int(n * 2))),
                        _ => None,
                    },
                    (None, n) if n.eq_ignore_ascii_case("copyIndex") => Some(Ok(Value::Int(3))),
                    _ => None,
                }
            }
        }
        let e = parse("[concat('vm', my.twice(copyIndex()))]").unwrap();
        assert_eq!(eval(&e, &mut S).unwrap(), Value::String("vm6".into()));
        // Without the scope copyIndex is unknown.
        let e = parse("[concat('vm', copyIndex())]").unwrap();
        assert!(is_unknown(&eval(&e, &mut NoScope).unwrap()));
    }

    #[test]
    fn deep_nesting_evaluates_without_overflow() {
        let src = format!("[{}1{}]", "add(1, ".repeat(250), ")".repeat(250));
        assert_eq!(ev(&src), Value::Int(251));
        let src = format!("[{}'x'{}]", "toLower(".repeat(255), ")".repeat(255));
        assert_eq!(ev(&src), j(r#""x""#));
    }
}

#[cfg(test)]
mod proptests {
    use super::*;
    use crate::arm::expr::parse;
    use proptest::prelude::*;

    /// Every library function name plus the interpreter's special forms, and a few that do
    /// not exist.
    const NAMES: &[&str] = &[
        "array",
        "concat",
        "contains",
        "createArray",
        "empty",
        "first",
        "last",
        "flatten",
        "indexOf",
        "lastIndexOf",
        "intersection",
        "items",
        "length",
        "max",
        "min",
        "range",
        "skip",
        "take",
        "union",
        "tryIndexFromEnd",
        "createObject",
        "json",
        "null",
        "objectKeys",
        "shallowMerge",
        "tryGet",
        "coalesce",
        "equals",
        "greater",
        "greaterOrEquals",
        "less",
        "lessOrEquals",
        "and",
        "or",
        "if",
        "bool",
        "not",
        "true",
        "false",
        "add",
        "sub",
        "mul",
        "div",
        "mod",
        "int",
        "float",
        "base64",
        "base64ToString",
        "base64ToJson",
        "dataUri",
        "dataUriToString",
        "endsWith",
        "startsWith",
        "format",
        "guid",
        "join",
        "padLeft",
        "replace",
        "split",
        "string",
        "substring",
        "toLower",
        "toUpper",
        "trim",
        "uniqueString",
        "uri",
        "uriComponent",
        "uriComponentToString",
        "dateTimeAdd",
        "dateTimeFromEpoch",
        "dateTimeToEpoch",
        "parseCidr",
        "cidrSubnet",
        "cidrHost",
        "any",
        "resourceId",
        "subscriptionResourceId",
        "tenantResourceId",
        "extensionResourceId",
        "managementGroupResourceId",
        "reference",
        "listKeys",
        "utcNow",
        "parameters",
        "filter",
        "map",
        "mapValues",
        "reduce",
        "sort",
        "toObject",
        "groupBy",
        "lambda",
        "lambdaVariables",
        "nosuch",
    ];

    fn leaf() -> impl Strategy<Value = String> {
        prop_oneof![
            (-3i64..300).prop_map(|n| n.to_string()),
            prop_oneof![Just(i64::MAX), Just(i64::MIN), Just(-1i64)].prop_map(|n| n.to_string()),
            "[a-zA-Z0-9 ,./:{}%=+-]{0,12}".prop_map(|s| format!("'{}'", s.replace('\'', "''"))),
            prop_oneof![
                Just("'10.0.0.0/16'".to_string()),
                Just("'2020-01-31T10:00:00Z'".to_string()),
                Just("'P1M'".to_string()),
                Just("'{0:D3}-{1}'".to_string()),
                Just("'Microsoft.Web/sites'".to_string()),
                Just("'x'".to_string()),
                Just("'{\"a\":[1,{\"b\":null}]}'".to_string()),
                Just("true".to_string()),
                Just("null".to_string()),
                Just("lambdaVariables('x')".to_string()),
                Just("lambda('x', lambdaVariables('x'))".to_string()),
                Just(
                    "lambda('a', 'b', less(lambdaVariables('a'), lambdaVariables('b')))"
                        .to_string()
                ),
            ],
        ]
    }

    fn expr() -> impl Strategy<Value = String> {
        leaf().prop_recursive(5, 40, 4, |inner| {
            prop_oneof![
                (
                    prop::sample::select(NAMES),
                    prop::collection::vec(inner.clone(), 0..4)
                )
                    .prop_map(|(n, args)| format!("{n}({})", args.join(", "))),
                (inner.clone(), "[a-z]{1,3}").prop_map(|(e, m)| format!("{e}.{m}")),
                (inner.clone(), inner).prop_map(|(e, i)| format!("{e}[{i}]")),
            ]
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

        #[test]
        fn structured_expressions_never_panic(e in expr()) {
            let src = format!("[{e}]");
            if let Ok(ast) = parse(&src) {
                let _ = eval(&ast, &mut NoScope);
            }
        }

        #[test]
        fn random_strings_never_panic(s in "\\[?[a-zA-Z0-9(),'\\[\\]. -]{0,60}\\]?") {
            if let Ok(ast) = parse(&s) {
                let _ = eval(&ast, &mut NoScope);
            }
        }

        #[test]
        fn arbitrary_unicode_never_panics(s in "\\PC{0,40}") {
            let _ = parse(&s);
            let wrapped = format!("[{s}]");
            if let Ok(ast) = parse(&wrapped) {
                let _ = eval(&ast, &mut NoScope);
            }
        }
    }
}

#[cfg(test)]
mod bench {
    use super::*;
    use crate::arm::expr::parse;

    /// Rough throughput check: `cargo test --release --lib -- --ignored eval_throughput --nocapture`.
    #[test]
    #[ignore]
    fn eval_throughput() {
        let exprs = [
            "[concat(parameters('prefix'), uniqueString(resourceGroup().id))]",
            "[format('{0}-{1}', 'a', 2)]",
            "[if(equals(parameters('env'),'prod'), 'Standard_GRS', 'Standard_LRS')]",
            "[resourceId('Microsoft.Network/virtualNetworks/subnets', 'vnet1', 'default')]",
            "[toLower(concat('st', replace(guid('a', 'b'), '-', '')))]",
            "[union(createObject('a', 1), createObject('b', createArray(1, 2, 3)))]",
        ];
        let n = 200_000;
        let start = std::time::Instant::now();
        for i in 0..n {
            let e = parse(exprs[i % exprs.len()]).unwrap();
            let _ = eval(&e, &mut NoScope);
        }
        let dt = start.elapsed();
        eprintln!(
            "{n} parse+eval in {dt:?}: {:.0} ns each",
            dt.as_nanos() as f64 / n as f64
        );
    }
}
