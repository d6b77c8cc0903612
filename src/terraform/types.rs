//! terraform/types: variable type constraints (`list(object({ a = optional(bool, true) }))`)
//! and the conversions Terraform applies to values passed in, including `optional()`
//! defaults, which many modules rely on for their secure settings.

use super::eval::{as_f64, fmt_float, Eval, Scope};
use super::parse::{Expr, ExprKind};
use crate::model::{Node, Str, Value};

#[derive(Clone, Debug)]
pub enum Ty {
    Any,
    String,
    Number,
    Bool,
    List(Box<Ty>),
    Set(Box<Ty>),
    Map(Box<Ty>),
    Tuple(Vec<Ty>),
    Object(Vec<ObjAttr>),
}

#[derive(Clone, Debug)]
pub struct ObjAttr {
    pub name: String,
    pub ty: Ty,
    pub optional: bool,
    pub default: Option<Node>,
}

/// Reads a type expression. Defaults of `optional(T, default)` are evaluated with `scope`
/// (they are constants).
pub fn parse_type(ev: &Eval, e: &Expr, scope: &mut Scope) -> Ty {
    match &e.kind {
        ExprKind::Var(n) => match n.as_str() {
            "string" => Ty::String,
            "number" => Ty::Number,
            "bool" => Ty::Bool,
            _ => Ty::Any,
        },
        // pre-0.12 quoted types
        ExprKind::Str(s) => match s.as_str() {
            "string" => Ty::String,
            "list" => Ty::List(Box::new(Ty::Any)),
            "map" => Ty::Map(Box::new(Ty::Any)),
            _ => Ty::Any,
        },
        ExprKind::Call { name, args, .. } => {
            let arg = |i: usize, scope: &mut Scope| {
                args.get(i)
                    .map(|a| parse_type(ev, a, scope))
                    .unwrap_or(Ty::Any)
            };
            match name.as_str() {
                "list" => Ty::List(Box::new(arg(0, scope))),
                "set" => Ty::Set(Box::new(arg(0, scope))),
                "map" => Ty::Map(Box::new(arg(0, scope))),
                "tuple" => match args.first().map(|a| &a.kind) {
                    Some(ExprKind::Array(items)) => {
                        Ty::Tuple(items.iter().map(|x| parse_type(ev, x, scope)).collect())
                    }
                    _ => Ty::Any,
                },
                "object" => match args.first().map(|a| &a.kind) {
                    Some(ExprKind::Object(items)) => {
                        let mut attrs = Vec::new();
                        for (k, v) in items {
                            let ExprKind::Str(name) = &k.kind else {
                                continue;
                            };
                            let (ty, optional, default) = match &v.kind {
                                ExprKind::Call {
                                    name: f, args: oa, ..
                                } if f == "optional" => {
                                    let ty = oa
                                        .first()
                                        .map(|a| parse_type(ev, a, scope))
                                        .unwrap_or(Ty::Any);
                                    let default = oa.get(1).map(|d| ev.eval_lenient(d, scope));
                                    (ty, true, default)
                                }
                                _ => (parse_type(ev, v, scope), false, None),
                            };
                            attrs.push(ObjAttr {
                                name: name.clone(),
                                ty,
                                optional,
                                default,
                            });
                        }
                        Ty::Object(attrs)
                    }
                    _ => Ty::Any,
                },
                _ => Ty::Any,
            }
        }
        _ => Ty::Any,
    }
}

/// Converts `n` to `ty` as Terraform does for variable values. Unknown parts stay unknown.
pub fn convert(n: Node, ty: &Ty) -> Result<Node, String> {
    let span = n.span;
    match (&n.value, ty) {
        (_, Ty::Any) | (Value::Unknown(_), _) | (Value::Null, _) => Ok(n),
        (Value::String(_), Ty::String) => Ok(n),
        (Value::Int(i), Ty::String) => Ok(Node::new(Value::String(Str::from(i.to_string())), span)),
        (Value::Float(f), Ty::String) => {
            Ok(Node::new(Value::String(Str::from(fmt_float(*f))), span))
        }
        (Value::Bool(b), Ty::String) => {
            Ok(Node::new(Value::String(Str::from(b.to_string())), span))
        }
        (Value::Int(_) | Value::Float(_), Ty::Number) => Ok(n),
        (Value::String(s), Ty::Number) => match s.trim().parse::<i64>() {
            Ok(i) => Ok(Node::new(Value::Int(i), span)),
            Err(_) => match as_f64(&n.value) {
                Some(f) => Ok(Node::new(Value::Float(f), span)),
                None => Err(format!("'{s}' is not a number")),
            },
        },
        (Value::Bool(_), Ty::Bool) => Ok(n),
        (Value::String(s), Ty::Bool) => match s.as_str() {
            "true" => Ok(Node::new(Value::Bool(true), span)),
            "false" => Ok(Node::new(Value::Bool(false), span)),
            _ => Err(format!("'{s}' is not a bool")),
        },
        (Value::Array(_), Ty::List(el) | Ty::Set(el)) => {
            let Value::Array(items) = n.value else {
                unreachable!()
            };
            let mut out = Vec::with_capacity(items.len());
            for x in items {
                out.push(convert(x, el)?);
            }
            Ok(Node::new(Value::Array(out.into()), span))
        }
        (Value::Array(_), Ty::Tuple(tys)) => {
            let Value::Array(items) = n.value else {
                unreachable!()
            };
            if items.len() != tys.len() {
                return Err(format!("expected a tuple of {} elements", tys.len()));
            }
            let mut out = Vec::with_capacity(items.len());
            for (x, t) in items.into_iter().zip(tys) {
                out.push(convert(x, t)?);
            }
            Ok(Node::new(Value::Array(out.into()), span))
        }
        (Value::Object(_), Ty::Map(el)) => {
            let Value::Object(items) = n.value else {
                unreachable!()
            };
            let mut out = Vec::with_capacity(items.len());
            for (k, x) in items {
                out.push((k, convert(x, el)?));
            }
            Ok(Node::new(Value::Object(out.into()), span))
        }
        (Value::Object(_), Ty::Object(attrs)) => {
            let Value::Object(items) = n.value else {
                unreachable!()
            };
            let mut items: Vec<(Str, Node)> = items.into_iter().collect();
            let mut out = Vec::with_capacity(attrs.len());
            for a in attrs {
                let given = items
                    .iter()
                    .position(|(k, _)| *k == a.name)
                    .map(|i| items.swap_remove(i).1);
                let v = match given {
                    Some(v) if !matches!(v.value, Value::Null) => convert(v, &a.ty)?,
                    given => {
                        if !a.optional && given.is_none() {
                            return Err(format!("attribute '{}' is required", a.name));
                        }
                        match &a.default {
                            Some(d) => convert(d.clone(), &a.ty)?,
                            None => given.unwrap_or(Node::new(Value::Null, span)),
                        }
                    }
                };
                out.push((Str::from(a.name.as_str()), v));
            }
            Ok(Node::new(Value::Object(out.into()), span))
        }
        (v, t) => Err(format!("a {} is not a {}", v.type_name(), ty_name(t))),
    }
}

fn ty_name(t: &Ty) -> &'static str {
    match t {
        Ty::Any => "any",
        Ty::String => "string",
        Ty::Number => "number",
        Ty::Bool => "bool",
        Ty::List(_) => "list",
        Ty::Set(_) => "set",
        Ty::Map(_) => "map",
        Ty::Tuple(_) => "tuple",
        Ty::Object(_) => "object",
    }
}
