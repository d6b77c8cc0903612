//! terraform/functions: Terraform's pure built-in functions, with its unknown handling: an
//! unknown argument generally makes the result unknown, but collection functions keep
//! what they can (`length([x, unknown])` is 2). Functions that read files, the clock or
//! random sources, and provider-defined functions, are unknown: we do not read arbitrary
//! files, and those values are not fixed before apply.

use super::eval::{
    self, as_f64, deep_unknown, equal, fmt_float, to_string, unknown, Eval, Flow, Scope, R,
};
use super::parse::Expr;
use crate::model::{Diagnostic, Node, Seq, Str, Value};
use crate::source::Span;
use std::net::{Ipv4Addr, Ipv6Addr};

type F = Result<Node, Flow>;

/// Functions whose result is not known before apply, or that read outside the configuration.
const NOT_STATIC: &[&str] = &[
    "uuid",
    "uuidv5",
    "timestamp",
    "plantimestamp",
    "timeadd",
    "timecmp",
    "formatdate",
    "bcrypt",
    "file",
    "filebase64",
    "fileexists",
    "fileset",
    "templatefile",
    "filemd5",
    "filesha1",
    "filesha256",
    "filesha512",
    "filebase64sha256",
    "filebase64sha512",
    "abspath",
    "pathexpand",
    "yamldecode",
    "yamlencode",
    "base64gzip",
    "rsadecrypt",
    "ephemeralasnull",
    "issensitive",
    "textdecodebase64",
    "textencodebase64",
    "type",
    "tfe_outputs",
];

pub fn call(
    ev: &Eval,
    name: &str,
    args: &[Expr],
    expand_final: bool,
    scope: &mut Scope,
    span: Span,
) -> R {
    match name {
        "try" => {
            let mut last = String::from("try needs at least one argument");
            for a in args {
                match ev.eval(a, scope) {
                    Ok(n) if n.is_unknown() => return Ok(unknown(eval::unknown_reason(&n), span)),
                    Ok(n) => return Ok(n),
                    Err(e) => last = e,
                }
            }
            return Err(last);
        }
        "can" => {
            let Some(a) = args.first() else {
                return Err("can needs one argument".into());
            };
            return Ok(match ev.eval(a, scope) {
                Ok(n) if n.is_unknown() => unknown(eval::unknown_reason(&n), span),
                Ok(_) => Node::new(Value::Bool(true), span),
                Err(_) => Node::new(Value::Bool(false), span),
            });
        }
        "templatestring" => return templatestring(ev, args, scope, span),
        _ => {}
    }
    let mut vals = Vec::with_capacity(args.len());
    for a in args {
        vals.push(ev.eval(a, scope)?);
    }
    if name.starts_with("provider::") {
        return Ok(unknown(
            format!("provider function {name} is not evaluated"),
            span,
        ));
    }
    if NOT_STATIC.contains(&name) {
        return Ok(unknown(
            format!("{name}() is not evaluated statically"),
            span,
        ));
    }
    if expand_final {
        match vals.pop().map(|n| n.value) {
            Some(Value::Array(items)) => vals.extend(items),
            Some(Value::Unknown(u)) => return Ok(unknown(u.reason, span)),
            _ => return Err("the final argument of an expanded call must be a list".into()),
        }
    }
    match builtin(name, &vals, span) {
        Ok(n) => Ok(ev.capped(n)),
        Err(Flow::Unknown(r)) => Ok(unknown(r, span)),
        Err(Flow::Error(e)) if e == "\0unknown function" => {
            ev.diag(Diagnostic::warning(
                span,
                format!("unknown function {name}(): its result is left unknown"),
            ));
            Ok(unknown(format!("unknown function {name}"), span))
        }
        Err(Flow::Error(e)) => Err(format!("{name}(): {e}")),
    }
}

fn templatestring(ev: &Eval, args: &[Expr], scope: &mut Scope, span: Span) -> R {
    if args.len() != 2 {
        return Err("templatestring needs two arguments".into());
    }
    let t = ev.eval(&args[0], scope)?;
    let vars = ev.eval(&args[1], scope)?;
    let text = match to_string(&t) {
        Ok(s) => s,
        Err(f) => return eval::flow_to_r(f, span),
    };
    let Value::Object(vs) = &vars.value else {
        return Ok(unknown("templatestring variables unknown", span));
    };
    let Some(tpl) = super::parse::parse_template(span.file, &text, span) else {
        return Err("templatestring: invalid template".into());
    };
    let mut s = Scope::new(scope.inst);
    s.bindings = vs.iter().map(|(k, v)| (k.to_string(), v.clone())).collect();
    ev.eval(&tpl, &mut s)
}

fn arg(a: &[Node], i: usize) -> Result<&Node, Flow> {
    a.get(i)
        .ok_or_else(|| Flow::Error(format!("missing argument {}", i + 1)))
}

fn s(n: &Node) -> Result<String, Flow> {
    to_string(n)
}

fn num(n: &Node) -> Result<f64, Flow> {
    match &n.value {
        Value::Unknown(u) => Err(Flow::Unknown(u.reason.clone())),
        v => as_f64(v)
            .ok_or_else(|| Flow::Error(format!("expected a number, found {}", v.type_name()))),
    }
}

fn int(n: &Node) -> Result<i64, Flow> {
    let f = num(n)?;
    if f.fract() != 0.0 {
        return Err(Flow::Error(format!("expected a whole number, found {f}")));
    }
    Ok(f as i64)
}

fn list(n: &Node) -> Result<&Seq<Node>, Flow> {
    match &n.value {
        Value::Array(a) => Ok(a),
        Value::Unknown(u) => Err(Flow::Unknown(u.reason.clone())),
        v => Err(Flow::Error(format!(
            "expected a list, found {}",
            v.type_name()
        ))),
    }
}

fn obj(n: &Node) -> Result<&Seq<(Str, Node)>, Flow> {
    match &n.value {
        Value::Object(o) => Ok(o),
        Value::Unknown(u) => Err(Flow::Unknown(u.reason.clone())),
        v => Err(Flow::Error(format!(
            "expected a map or object, found {}",
            v.type_name()
        ))),
    }
}

fn known(n: &Node) -> Result<(), Flow> {
    match deep_unknown(n) {
        Some(u) => Err(Flow::Unknown(u.reason.clone())),
        None => Ok(()),
    }
}

fn float_node(x: f64, span: Span) -> Node {
    if x.fract() == 0.0 && x.abs() < 9.0e15 {
        Node::new(Value::Int(x as i64), span)
    } else {
        Node::new(Value::Float(x), span)
    }
}

fn dedup(items: Vec<Node>) -> Result<Vec<Node>, Flow> {
    let mut out: Vec<Node> = Vec::new();
    for it in items {
        known(&it)?;
        if !out.iter().any(|o| equal(o, &it) == Some(true)) {
            out.push(it);
        }
    }
    Ok(out)
}

/// Sets of strings iterate in lexical order in Terraform.
fn as_set(items: Vec<Node>) -> Result<Vec<Node>, Flow> {
    let mut out = dedup(items)?;
    if out.iter().all(|n| matches!(n.value, Value::String(_))) {
        out.sort_by(|a, b| a.as_str().cmp(&b.as_str()));
    }
    Ok(out)
}

fn builtin(name: &str, a: &[Node], span: Span) -> F {
    let nv = |v: Value| Node::new(v, span);
    let str_fn =
        |f: &dyn Fn(&str) -> String| -> F { Ok(nv(Value::String(Str::from(f(&s(arg(a, 0)?)?))))) };
    match name {
        // ---- numeric ----
        "abs" => Ok(float_node(num(arg(a, 0)?)?.abs(), span)),
        "ceil" => Ok(float_node(num(arg(a, 0)?)?.ceil(), span)),
        "floor" => Ok(float_node(num(arg(a, 0)?)?.floor(), span)),
        "log" => Ok(float_node(num(arg(a, 0)?)?.log(num(arg(a, 1)?)?), span)),
        "pow" => Ok(float_node(num(arg(a, 0)?)?.powf(num(arg(a, 1)?)?), span)),
        "signum" => Ok(float_node(
            num(arg(a, 0)?)?.signum() * if num(arg(a, 0)?)? == 0.0 { 0.0 } else { 1.0 },
            span,
        )),
        "max" | "min" => {
            if a.is_empty() {
                return Err(Flow::Error("needs at least one argument".into()));
            }
            let mut best = num(&a[0])?;
            for x in &a[1..] {
                let v = num(x)?;
                best = if name == "max" {
                    best.max(v)
                } else {
                    best.min(v)
                };
            }
            Ok(float_node(best, span))
        }
        "parseint" => {
            let t = s(arg(a, 0)?)?;
            let base = int(arg(a, 1)?)?;
            if !(2..=36).contains(&base) {
                return Err(Flow::Unknown(format!(
                    "parseint in base {base} is not evaluated"
                )));
            }
            i64::from_str_radix(&t, base as u32)
                .map(|v| nv(Value::Int(v)))
                .map_err(|_| Flow::Error(format!("cannot parse '{t}' in base {base}")))
        }
        // ---- strings ----
        "chomp" => str_fn(&|x| x.trim_end_matches(['\n', '\r']).to_string()),
        "lower" => str_fn(&|x| x.to_lowercase()),
        "upper" => str_fn(&|x| x.to_uppercase()),
        "strrev" => str_fn(&|x| x.chars().rev().collect()),
        "trimspace" => str_fn(&|x| x.trim().to_string()),
        "title" => str_fn(&|x| {
            let mut out = String::with_capacity(x.len());
            let mut start = true;
            for c in x.chars() {
                if start && c.is_alphabetic() {
                    out.extend(c.to_uppercase());
                } else {
                    out.push(c);
                }
                start = !c.is_alphanumeric();
            }
            out
        }),
        "urlencode" => str_fn(&|x| {
            let mut out = String::new();
            for b in x.bytes() {
                match b {
                    b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                        out.push(b as char)
                    }
                    b' ' => out.push('+'),
                    _ => out.push_str(&format!("%{b:02X}")),
                }
            }
            out
        }),
        "base64encode" => str_fn(&|x| b64_encode(x.as_bytes())),
        "base64decode" => {
            let t = s(arg(a, 0)?)?;
            let bytes = b64_decode(&t).ok_or_else(|| Flow::Error("invalid base64".into()))?;
            String::from_utf8(bytes)
                .map(|v| nv(Value::String(Str::from(v))))
                .map_err(|_| Flow::Error("decoded base64 is not UTF-8".into()))
        }
        "md5" => str_fn(&|x| {
            use md5::Digest;
            hex(&md5::Md5::digest(x.as_bytes()))
        }),
        "sha1" => str_fn(&|x| {
            use sha1::Digest;
            hex(&sha1::Sha1::digest(x.as_bytes()))
        }),
        "sha256" => str_fn(&|x| {
            use sha2::Digest;
            hex(&sha2::Sha256::digest(x.as_bytes()))
        }),
        "sha512" => str_fn(&|x| {
            use sha2::Digest;
            hex(&sha2::Sha512::digest(x.as_bytes()))
        }),
        "base64sha256" => str_fn(&|x| {
            use sha2::Digest;
            b64_encode(&sha2::Sha256::digest(x.as_bytes()))
        }),
        "base64sha512" => str_fn(&|x| {
            use sha2::Digest;
            b64_encode(&sha2::Sha512::digest(x.as_bytes()))
        }),
        "basename" => str_fn(&|x| {
            x.trim_end_matches('/')
                .rsplit('/')
                .next()
                .unwrap_or("")
                .to_string()
        }),
        "dirname" => str_fn(&|x| match x.trim_end_matches('/').rsplit_once('/') {
            Some(("", _)) => "/".into(),
            Some((d, _)) => d.to_string(),
            None => ".".into(),
        }),
        "startswith" => Ok(nv(Value::Bool(s(arg(a, 0)?)?.starts_with(&s(arg(a, 1)?)?)))),
        "endswith" => Ok(nv(Value::Bool(s(arg(a, 0)?)?.ends_with(&s(arg(a, 1)?)?)))),
        "strcontains" => Ok(nv(Value::Bool(s(arg(a, 0)?)?.contains(&s(arg(a, 1)?)?)))),
        "trimprefix" => {
            let (x, p) = (s(arg(a, 0)?)?, s(arg(a, 1)?)?);
            Ok(nv(Value::String(Str::from(
                x.strip_prefix(p.as_str()).unwrap_or(&x),
            ))))
        }
        "trimsuffix" => {
            let (x, p) = (s(arg(a, 0)?)?, s(arg(a, 1)?)?);
            Ok(nv(Value::String(Str::from(
                x.strip_suffix(p.as_str()).unwrap_or(&x),
            ))))
        }
        "trim" => {
            let (x, cut) = (s(arg(a, 0)?)?, s(arg(a, 1)?)?);
            Ok(nv(Value::String(Str::from(
                x.trim_matches(|c| cut.contains(c)),
            ))))
        }
        "indent" => {
            let n = int(arg(a, 0)?)?.clamp(0, 1000) as usize;
            let x = s(arg(a, 1)?)?;
            let pad = " ".repeat(n);
            Ok(nv(Value::String(Str::from(
                x.replace('\n', &format!("\n{pad}")),
            ))))
        }
        "split" => {
            let (sep, x) = (s(arg(a, 0)?)?, s(arg(a, 1)?)?);
            let parts: Vec<Node> = if sep.is_empty() {
                x.chars()
                    .map(|c| nv(Value::String(Str::from(c.to_string()))))
                    .collect()
            } else {
                x.split(sep.as_str())
                    .map(|p| nv(Value::String(Str::from(p))))
                    .collect()
            };
            Ok(nv(Value::Array(parts.into())))
        }
        "join" => {
            let sep = s(arg(a, 0)?)?;
            let mut parts = Vec::new();
            for l in &a[1..] {
                for x in list(l)? {
                    parts.push(s(x)?);
                }
            }
            Ok(nv(Value::String(Str::from(parts.join(&sep)))))
        }
        "substr" => {
            let x = s(arg(a, 0)?)?;
            let chars: Vec<char> = x.chars().collect();
            let len = chars.len() as i64;
            let mut off = int(arg(a, 1)?)?;
            let n = int(arg(a, 2)?)?;
            if off < 0 {
                off += len;
            }
            let off = off.clamp(0, len) as usize;
            let end = if n < 0 {
                chars.len()
            } else {
                off.saturating_add(n as usize).min(chars.len())
            };
            Ok(nv(Value::String(chars[off..end.max(off)].iter().collect())))
        }
        "replace" => {
            let (x, search, rep) = (s(arg(a, 0)?)?, s(arg(a, 1)?)?, s(arg(a, 2)?)?);
            if search.len() >= 2 && search.starts_with('/') && search.ends_with('/') {
                let re = compile(&search[1..search.len() - 1])?;
                Ok(nv(Value::String(Str::from(
                    re.replace_all(&x, rep.as_str()),
                ))))
            } else if search.is_empty() {
                Ok(nv(Value::String(Str::from(x))))
            } else {
                Ok(nv(Value::String(Str::from(x.replace(&search, &rep)))))
            }
        }
        "regex" | "regexall" => {
            let re = compile(&s(arg(a, 0)?)?)?;
            let x = s(arg(a, 1)?)?;
            let one = |c: regex::Captures| -> Node {
                let names: Vec<Option<&str>> = re.capture_names().skip(1).collect();
                if names.is_empty() {
                    nv(Value::String(
                        c.get(0).map(|m| m.as_str()).unwrap_or("").into(),
                    ))
                } else if names.iter().any(|n| n.is_some()) {
                    nv(Value::Object(
                        names
                            .iter()
                            .filter_map(|n| *n)
                            .map(|n| {
                                (
                                    Str::from(n),
                                    nv(c.name(n)
                                        .map(|m| Value::String(m.as_str().into()))
                                        .unwrap_or(Value::Null)),
                                )
                            })
                            .collect(),
                    ))
                } else {
                    nv(Value::Array(
                        (1..c.len())
                            .map(|i| {
                                nv(c.get(i)
                                    .map(|m| Value::String(m.as_str().into()))
                                    .unwrap_or(Value::Null))
                            })
                            .collect(),
                    ))
                }
            };
            if name == "regex" {
                re.captures(&x)
                    .map(one)
                    .ok_or_else(|| Flow::Error("pattern did not match".into()))
            } else {
                Ok(nv(Value::Array(
                    re.captures_iter(&x).take(10_000).map(one).collect(),
                )))
            }
        }
        "format" => Ok(nv(Value::String(Str::from(format(
            &s(arg(a, 0)?)?,
            &a[1..],
        )?)))),
        "formatlist" => {
            let f = s(arg(a, 0)?)?;
            let mut n: Option<usize> = None;
            for x in &a[1..] {
                if let Value::Unknown(u) = &x.value {
                    return Err(Flow::Unknown(u.reason.clone()));
                }
                if let Value::Array(l) = &x.value {
                    if n.is_some_and(|n| n != l.len()) {
                        return Err(Flow::Error("lists of different lengths".into()));
                    }
                    n = Some(l.len());
                }
            }
            let n = n.unwrap_or(1);
            let mut out = Vec::with_capacity(n);
            for i in 0..n {
                let row: Vec<Node> = a[1..]
                    .iter()
                    .map(|x| match &x.value {
                        Value::Array(l) => l[i].clone(),
                        _ => x.clone(),
                    })
                    .collect();
                out.push(nv(Value::String(Str::from(format(&f, &row)?))));
            }
            Ok(nv(Value::Array(out.into())))
        }
        // ---- collections ----
        "length" => {
            let x = arg(a, 0)?;
            match &x.value {
                Value::String(t) => Ok(nv(Value::Int(t.chars().count() as i64))),
                Value::Array(l) => Ok(nv(Value::Int(l.len() as i64))),
                Value::Object(o) => Ok(nv(Value::Int(o.len() as i64))),
                Value::Unknown(u) => Err(Flow::Unknown(u.reason.clone())),
                v => Err(Flow::Error(format!("length of a {}", v.type_name()))),
            }
        }
        "alltrue" | "anytrue" => {
            let want = name == "anytrue";
            let mut unknown_seen = None;
            for x in list(arg(a, 0)?)? {
                match eval::bool_of(x).map_err(Flow::Error)? {
                    Some(b) if b == want => return Ok(nv(Value::Bool(want))),
                    Some(_) => {}
                    None => unknown_seen = Some(eval::unknown_reason(x)),
                }
            }
            match unknown_seen {
                Some(r) => Err(Flow::Unknown(r)),
                None => Ok(nv(Value::Bool(!want))),
            }
        }
        "chunklist" => {
            let l = list(arg(a, 0)?)?;
            let size = int(arg(a, 1)?)?;
            if size <= 0 {
                return Ok(nv(Value::Array(ecow::eco_vec![nv(Value::Array(
                    l.clone()
                ))])));
            }
            Ok(nv(Value::Array(
                l.chunks(size as usize)
                    .map(|c| nv(Value::Array(c.to_vec().into())))
                    .collect(),
            )))
        }
        "coalesce" => {
            for x in a {
                match &x.value {
                    Value::Unknown(u) => return Err(Flow::Unknown(u.reason.clone())),
                    Value::Null => {}
                    Value::String(t) if t.is_empty() => {}
                    _ => return Ok(x.clone()),
                }
            }
            Err(Flow::Error("no non-null, non-empty argument".into()))
        }
        "coalescelist" => {
            for x in a {
                match &x.value {
                    Value::Unknown(u) => return Err(Flow::Unknown(u.reason.clone())),
                    Value::Array(l) if l.is_empty() => {}
                    Value::Null => {}
                    _ => return Ok(x.clone()),
                }
            }
            Err(Flow::Error("no non-empty list".into()))
        }
        "compact" => {
            let mut out = Vec::new();
            for x in list(arg(a, 0)?)? {
                match &x.value {
                    Value::Unknown(u) => return Err(Flow::Unknown(u.reason.clone())),
                    Value::Null => {}
                    Value::String(t) if t.is_empty() => {}
                    _ => out.push(x.clone()),
                }
            }
            Ok(nv(Value::Array(out.into())))
        }
        "concat" => {
            let mut out = Vec::new();
            for x in a {
                out.extend(list(x)?.iter().cloned());
            }
            Ok(nv(Value::Array(out.into())))
        }
        "contains" => {
            let x = arg(a, 1)?;
            let l = match &arg(a, 0)?.value {
                Value::Object(o) => o.iter().map(|(_, v)| v.clone()).collect(),
                _ => list(arg(a, 0)?)?.clone(),
            };
            let mut undecided = None;
            for it in &l {
                match equal(it, x) {
                    Some(true) => return Ok(nv(Value::Bool(true))),
                    Some(false) => {}
                    None => undecided = Some("comparison with an unknown value".to_string()),
                }
            }
            match undecided {
                Some(r) => Err(Flow::Unknown(r)),
                None => Ok(nv(Value::Bool(false))),
            }
        }
        "distinct" => Ok(nv(Value::Array(
            (dedup(list(arg(a, 0)?)?.to_vec())?).into(),
        ))),
        "element" => {
            let l = list(arg(a, 0)?)?;
            let i = int(arg(a, 1)?)?;
            if l.is_empty() {
                return Err(Flow::Error("element of an empty list".into()));
            }
            if i < 0 {
                return Err(Flow::Error("negative index".into()));
            }
            Ok(l[(i as usize) % l.len()].clone())
        }
        "flatten" => {
            fn go(n: &Node, out: &mut Vec<Node>) -> Result<(), Flow> {
                match &n.value {
                    Value::Array(l) => l.iter().try_for_each(|x| go(x, out)),
                    Value::Unknown(u) => Err(Flow::Unknown(u.reason.clone())),
                    _ => {
                        out.push(n.clone());
                        Ok(())
                    }
                }
            }
            let mut out = Vec::new();
            for x in list(arg(a, 0)?)? {
                go(x, &mut out)?;
            }
            Ok(nv(Value::Array(out.into())))
        }
        "index" => {
            let x = arg(a, 1)?;
            for (i, it) in list(arg(a, 0)?)?.iter().enumerate() {
                match equal(it, x) {
                    Some(true) => return Ok(nv(Value::Int(i as i64))),
                    Some(false) => {}
                    None => return Err(Flow::Unknown("comparison with an unknown value".into())),
                }
            }
            Err(Flow::Error("item not found".into()))
        }
        "keys" => {
            let o = obj(arg(a, 0)?)?;
            Ok(nv(Value::Array(
                eval::sorted_entries(o)
                    .into_iter()
                    .map(|(k, _)| nv(Value::String(Str::from(k.as_str()))))
                    .collect(),
            )))
        }
        "values" => {
            let o = obj(arg(a, 0)?)?;
            Ok(nv(Value::Array(
                eval::sorted_entries(o)
                    .into_iter()
                    .map(|(_, v)| v.clone())
                    .collect(),
            )))
        }
        "lookup" => {
            let o = obj(arg(a, 0)?)?;
            let k = s(arg(a, 1)?)?;
            match o.iter().find(|(x, _)| *x == k) {
                Some((_, v)) => Ok(v.clone()),
                None => a
                    .get(2)
                    .cloned()
                    .ok_or_else(|| Flow::Error(format!("no key '{k}'"))),
            }
        }
        "matchkeys" => {
            let (vals, keys, search) = (list(arg(a, 0)?)?, list(arg(a, 1)?)?, list(arg(a, 2)?)?);
            if vals.len() != keys.len() {
                return Err(Flow::Error("lists of different lengths".into()));
            }
            let mut out = Vec::new();
            for (v, k) in vals.iter().zip(keys) {
                known(k)?;
                if search.iter().any(|x| equal(x, k) == Some(true)) {
                    out.push(v.clone());
                }
            }
            Ok(nv(Value::Array(out.into())))
        }
        "merge" => {
            let mut out: Vec<(Str, Node)> = Vec::new();
            for x in a {
                if matches!(x.value, Value::Null) {
                    continue;
                }
                for (k, v) in obj(x)? {
                    match out.iter_mut().find(|(y, _)| y == k) {
                        Some(slot) => slot.1 = v.clone(),
                        None => out.push((k.clone(), v.clone())),
                    }
                }
            }
            Ok(nv(Value::Object(out.into())))
        }
        "one" => {
            let l = list(arg(a, 0)?)?;
            match l.len() {
                0 => Ok(nv(Value::Null)),
                1 => Ok(l[0].clone()),
                n => Err(Flow::Error(format!("list has {n} elements"))),
            }
        }
        "range" => {
            let nums: Vec<f64> = a.iter().map(num).collect::<Result<_, _>>()?;
            let (start, limit, step) = match nums.as_slice() {
                [l] => (0.0, *l, 1.0),
                [s0, l] => (*s0, *l, if l >= s0 { 1.0 } else { -1.0 }),
                [s0, l, st] => (*s0, *l, *st),
                _ => return Err(Flow::Error("range takes 1 to 3 arguments".into())),
            };
            if step == 0.0 {
                return Err(Flow::Error("step must not be zero".into()));
            }
            let mut out = Vec::new();
            let mut x = start;
            while (step > 0.0 && x < limit) || (step < 0.0 && x > limit) {
                if out.len() >= eval::MAX_WEIGHT {
                    return Err(Flow::Unknown("range too large to evaluate".into()));
                }
                out.push(float_node(x, span));
                x += step;
            }
            Ok(nv(Value::Array(out.into())))
        }
        "reverse" => Ok(nv(Value::Array(
            list(arg(a, 0)?)?.iter().rev().cloned().collect(),
        ))),
        "slice" => {
            let l = list(arg(a, 0)?)?;
            let (st, en) = (int(arg(a, 1)?)?, int(arg(a, 2)?)?);
            if st < 0 || en < st || en as usize > l.len() {
                return Err(Flow::Error("slice indexes out of range".into()));
            }
            Ok(nv(Value::Array(
                l[st as usize..en as usize].to_vec().into(),
            )))
        }
        "sort" => {
            let mut out: Vec<String> = list(arg(a, 0)?)?.iter().map(s).collect::<Result<_, _>>()?;
            out.sort();
            Ok(nv(Value::Array(
                out.into_iter()
                    .map(|x| nv(Value::String(Str::from(x))))
                    .collect(),
            )))
        }
        "sum" => {
            let l = list(arg(a, 0)?)?;
            if l.is_empty() {
                return Err(Flow::Error("sum of an empty list".into()));
            }
            let mut t = 0.0;
            for x in l {
                t += num(x)?;
            }
            Ok(float_node(t, span))
        }
        "setunion" => {
            let mut all = Vec::new();
            for x in a {
                all.extend(list(x)?.iter().cloned());
            }
            Ok(nv(Value::Array((as_set(all)?).into())))
        }
        "setintersection" | "setsubtract" => {
            let first = list(arg(a, 0)?)?.clone();
            let others: Vec<&Seq<Node>> = a[1..].iter().map(list).collect::<Result<_, _>>()?;
            for o in &others {
                for x in o.iter() {
                    known(x)?;
                }
            }
            let keep: Vec<Node> = first
                .into_iter()
                .filter(|x| {
                    let in_all = others
                        .iter()
                        .all(|o| o.iter().any(|y| equal(x, y) == Some(true)));
                    let in_any = others
                        .iter()
                        .any(|o| o.iter().any(|y| equal(x, y) == Some(true)));
                    if name == "setintersection" {
                        in_all
                    } else {
                        !in_any
                    }
                })
                .collect();
            Ok(nv(Value::Array((as_set(keep)?).into())))
        }
        "setproduct" => {
            let mut acc: Vec<Vec<Node>> = vec![vec![]];
            for x in a {
                let l = list(x)?;
                let mut next = Vec::new();
                for p in &acc {
                    for it in l {
                        if next.len() >= eval::MAX_WEIGHT {
                            return Err(Flow::Unknown("setproduct too large to evaluate".into()));
                        }
                        let mut q = p.clone();
                        q.push(it.clone());
                        next.push(q);
                    }
                }
                acc = next;
            }
            if a.is_empty() {
                acc.clear();
            }
            Ok(nv(Value::Array(
                acc.into_iter()
                    .map(|p| nv(Value::Array(p.into())))
                    .collect(),
            )))
        }
        "transpose" => {
            let mut out: Vec<(Str, Node)> = Vec::new();
            for (k, v) in obj(arg(a, 0)?)? {
                for x in list(v)? {
                    let key = s(x)?;
                    let item = nv(Value::String(Str::from(k.as_str())));
                    match out.iter_mut().find(|(y, _)| *y == key) {
                        Some((
                            _,
                            Node {
                                value: Value::Array(l),
                                ..
                            },
                        )) => l.push(item),
                        _ => out.push((Str::from(key), nv(Value::Array(ecow::eco_vec![item])))),
                    }
                }
            }
            out.sort_by(|x, y| x.0.cmp(&y.0));
            Ok(nv(Value::Object(out.into())))
        }
        "zipmap" => {
            let (ks, vs) = (list(arg(a, 0)?)?, list(arg(a, 1)?)?);
            if ks.len() != vs.len() {
                return Err(Flow::Error("lists of different lengths".into()));
            }
            let mut out: Vec<(Str, Node)> = Vec::new();
            for (k, v) in ks.iter().zip(vs) {
                let k = s(k)?;
                match out.iter_mut().find(|(y, _)| *y == k) {
                    Some(slot) => slot.1 = v.clone(),
                    None => out.push((Str::from(k), v.clone())),
                }
            }
            Ok(nv(Value::Object(out.into())))
        }
        // ---- encoding ----
        "jsonencode" => {
            let x = arg(a, 0)?;
            known(x)?;
            let mut out = String::new();
            json_encode(x, &mut out);
            Ok(nv(Value::String(Str::from(out))))
        }
        "jsondecode" => {
            let t = s(arg(a, 0)?)?;
            match super::json::parse(span.file, &t) {
                Ok(j) => {
                    let mut n = super::json::to_node(&j);
                    n.respan(span);
                    Ok(n)
                }
                Err((_, m)) => Err(Flow::Error(format!("invalid JSON: {m}"))),
            }
        }
        "csvdecode" => csvdecode(&s(arg(a, 0)?)?, span),
        // ---- types ----
        "tostring" => {
            let x = arg(a, 0)?;
            match &x.value {
                Value::Null => Ok(x.clone()),
                _ => Ok(nv(Value::String(Str::from(s(x)?)))),
            }
        }
        "tonumber" => {
            let x = arg(a, 0)?;
            match &x.value {
                Value::Null => Ok(x.clone()),
                Value::String(t) => match t.trim().parse::<i64>() {
                    Ok(i) => Ok(nv(Value::Int(i))),
                    Err(_) => t
                        .trim()
                        .parse::<f64>()
                        .map(|f| nv(Value::Float(f)))
                        .map_err(|_| Flow::Error(format!("'{t}' is not a number"))),
                },
                _ => Ok(float_node(num(x)?, span)),
            }
        }
        "tobool" => {
            let x = arg(a, 0)?;
            match &x.value {
                Value::Null => Ok(x.clone()),
                _ => match eval::bool_of(x).map_err(Flow::Error)? {
                    Some(b) => Ok(nv(Value::Bool(b))),
                    None => Err(Flow::Unknown(eval::unknown_reason(x))),
                },
            }
        }
        "tolist" => {
            let x = arg(a, 0)?;
            match &x.value {
                Value::Null => Ok(x.clone()),
                _ => Ok(Node::new(Value::Array(list(x)?.clone()), x.span)),
            }
        }
        "toset" => {
            let x = arg(a, 0)?;
            match &x.value {
                Value::Null => Ok(x.clone()),
                _ => Ok(Node::new(
                    Value::Array((as_set(list(x)?.to_vec())?).into()),
                    x.span,
                )),
            }
        }
        "tomap" => {
            let x = arg(a, 0)?;
            match &x.value {
                Value::Null => Ok(x.clone()),
                _ => Ok(Node::new(Value::Object(obj(x)?.clone()), x.span)),
            }
        }
        "sensitive" | "nonsensitive" => Ok(arg(a, 0)?.clone()),
        // ---- network ----
        "cidrhost" => {
            let (addr, bits, pfx) = parse_cidr(&s(arg(a, 0)?)?)?;
            let host = int(arg(a, 1)?)?;
            let hostbits = bits - pfx;
            let size: i128 = if hostbits >= 127 {
                i128::MAX
            } else {
                1i128 << hostbits
            };
            let h = if host < 0 {
                size + host as i128
            } else {
                host as i128
            };
            if h < 0 || h >= size {
                return Err(Flow::Error(format!("host number {host} out of range")));
            }
            Ok(nv(Value::String(Str::from(fmt_ip(addr | h as u128, bits)))))
        }
        "cidrnetmask" => {
            let (_, bits, pfx) = parse_cidr(&s(arg(a, 0)?)?)?;
            if bits != 32 {
                return Err(Flow::Error("cidrnetmask only supports IPv4".into()));
            }
            let mask: u32 = if pfx == 0 { 0 } else { u32::MAX << (32 - pfx) };
            Ok(nv(Value::String(Str::from(
                Ipv4Addr::from(mask).to_string(),
            ))))
        }
        "cidrsubnet" => {
            let (addr, bits, pfx) = parse_cidr(&s(arg(a, 0)?)?)?;
            let newbits = int(arg(a, 1)?)?;
            let netnum = int(arg(a, 2)?)?;
            let np = pfx as i64 + newbits;
            if newbits < 0
                || np > bits as i64
                || netnum < 0
                || (newbits < 64 && netnum >= 1i64 << newbits)
            {
                return Err(Flow::Error(
                    "not enough address space for the subnet".into(),
                ));
            }
            let shift = bits - np as u32;
            let sub = addr | (netnum as u128).checked_shl(shift).unwrap_or(0);
            Ok(nv(Value::String(compact_str::format_compact!(
                "{}/{}",
                fmt_ip(sub, bits),
                np
            ))))
        }
        "cidrsubnets" => {
            let (addr, bits, pfx) = parse_cidr(&s(arg(a, 0)?)?)?;
            let mut cur: u128 = addr;
            let end: u128 = addr.saturating_add(if bits - pfx >= 128 {
                u128::MAX
            } else {
                (1u128 << (bits - pfx)) - 1
            });
            let mut out = Vec::new();
            for nb in &a[1..] {
                let nb = int(nb)?;
                let np = pfx as i64 + nb;
                if nb < 1 || np > bits as i64 {
                    return Err(Flow::Error("invalid new bits".into()));
                }
                let size: u128 = 1u128 << (bits - np as u32);
                let no_room = || Flow::Error("not enough address space".into());
                cur = cur.div_ceil(size).checked_mul(size).ok_or_else(no_room)?;
                let last = cur.checked_add(size - 1).ok_or_else(no_room)?;
                if cur > end || last > end {
                    return Err(no_room());
                }
                out.push(nv(Value::String(compact_str::format_compact!(
                    "{}/{}",
                    fmt_ip(cur, bits),
                    np
                ))));
                cur = cur.checked_add(size).ok_or_else(no_room)?;
            }
            Ok(nv(Value::Array(out.into())))
        }
        "list" | "map" => Err(Flow::Error(format!(
            "{name}() was removed in Terraform 0.12"
        ))),
        _ => Err(Flow::Error("\0unknown function".into())),
    }
}

thread_local! {
    static REGEXES: std::cell::RefCell<foldhash::HashMap<String, regex::Regex>> =
        std::cell::RefCell::new(foldhash::HashMap::default());
}

/// Compiles a pattern once per thread: modules repeat the same few patterns per instance.
fn compile(p: &str) -> Result<regex::Regex, Flow> {
    if let Some(re) = REGEXES.with(|c| c.borrow().get(p).cloned()) {
        return Ok(re);
    }
    let re = regex::RegexBuilder::new(p)
        .size_limit(1 << 20)
        .build()
        .map_err(|e| Flow::Error(format!("invalid regular expression: {e}")))?;
    REGEXES.with(|c| {
        let mut c = c.borrow_mut();
        if c.len() > 1000 {
            c.clear();
        }
        c.insert(p.to_string(), re.clone());
    });
    Ok(re)
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

fn b64_encode(b: &[u8]) -> String {
    let mut out = String::with_capacity(b.len().div_ceil(3) * 4);
    for c in b.chunks(3) {
        let n = (c[0] as u32) << 16
            | (*c.get(1).unwrap_or(&0) as u32) << 8
            | *c.get(2).unwrap_or(&0) as u32;
        for i in 0..4 {
            if i <= c.len() {
                out.push(B64[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn b64_decode(t: &str) -> Option<Vec<u8>> {
    let t = t.trim_end_matches('=');
    let mut out = Vec::with_capacity(t.len() * 3 / 4);
    let mut acc = 0u32;
    let mut n = 0;
    for c in t.bytes() {
        let v = B64.iter().position(|&x| x == c)? as u32;
        acc = acc << 6 | v;
        n += 6;
        if n >= 8 {
            n -= 8;
            out.push((acc >> n) as u8);
            acc &= (1 << n) - 1;
        }
    }
    Some(out)
}

fn parse_cidr(t: &str) -> Result<(u128, u32, u32), Flow> {
    let bad = || Flow::Error(format!("invalid CIDR '{t}'"));
    let (ip, p) = t.split_once('/').ok_or_else(bad)?;
    let p: u32 = p.parse().map_err(|_| bad())?;
    if let Ok(v4) = ip.parse::<Ipv4Addr>() {
        if p > 32 {
            return Err(bad());
        }
        let a = u32::from(v4) as u128;
        let mask = if p == 0 {
            0
        } else {
            (u32::MAX << (32 - p)) as u128
        };
        return Ok((a & mask, 32, p));
    }
    let v6 = ip.parse::<Ipv6Addr>().map_err(|_| bad())?;
    if p > 128 {
        return Err(bad());
    }
    let a = u128::from(v6);
    let mask = if p == 0 { 0 } else { u128::MAX << (128 - p) };
    Ok((a & mask, 128, p))
}

fn fmt_ip(a: u128, bits: u32) -> String {
    if bits == 32 {
        Ipv4Addr::from(a as u32).to_string()
    } else {
        Ipv6Addr::from(a).to_string()
    }
}

/// Terraform's jsonencode: object keys in lexical order, `<`, `>`, `&` escaped as Go does.
pub fn json_encode(n: &Node, out: &mut String) {
    match &n.value {
        Value::Null | Value::Unknown(_) => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Int(i) => out.push_str(&i.to_string()),
        Value::Float(f) => out.push_str(&fmt_float(*f)),
        Value::String(t) => json_str(t, out),
        Value::Array(a) => {
            out.push('[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                json_encode(x, out);
            }
            out.push(']');
        }
        Value::Object(o) => {
            out.push('{');
            for (i, (k, v)) in eval::sorted_entries(o).into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                json_str(k, out);
                out.push(':');
                json_encode(v, out);
            }
            out.push('}');
        }
    }
}

fn json_str(t: &str, out: &mut String) {
    out.push('"');
    for c in t.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

fn csvdecode(t: &str, span: Span) -> F {
    let mut rows: Vec<Vec<String>> = Vec::new();
    let mut row = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut chars = t.chars().peekable();
    while let Some(c) = chars.next() {
        if quoted {
            if c == '"' {
                if chars.peek() == Some(&'"') {
                    chars.next();
                    field.push('"');
                } else {
                    quoted = false;
                }
            } else {
                field.push(c);
            }
            continue;
        }
        match c {
            '"' => quoted = true,
            ',' => row.push(std::mem::take(&mut field)),
            '\r' => {}
            '\n' => {
                row.push(std::mem::take(&mut field));
                rows.push(std::mem::take(&mut row));
            }
            c => field.push(c),
        }
    }
    if !field.is_empty() || !row.is_empty() {
        row.push(field);
        rows.push(row);
    }
    let mut it = rows.into_iter();
    let Some(header) = it.next() else {
        return Ok(Node::new(Value::Array(ecow::eco_vec![]), span));
    };
    let mut out = Vec::new();
    for r in it {
        if r.len() != header.len() {
            return Err(Flow::Error("CSV row has the wrong number of fields".into()));
        }
        out.push(Node::new(
            Value::Object(
                header
                    .iter()
                    .zip(r)
                    .map(|(h, v)| {
                        (
                            Str::from(h.as_str()),
                            Node::new(Value::String(Str::from(v)), span),
                        )
                    })
                    .collect(),
            ),
            span,
        ));
    }
    Ok(Node::new(Value::Array(out.into()), span))
}

/// Go-style `format` verbs as Terraform supports them.
fn format(f: &str, args: &[Node]) -> Result<String, Flow> {
    let mut out = String::new();
    let mut next = 0usize;
    let mut chars = f.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        if chars.peek() == Some(&'%') {
            chars.next();
            out.push('%');
            continue;
        }
        let mut left = false;
        let mut zero = false;
        let mut plus = false;
        while let Some(&fl) = chars.peek() {
            match fl {
                '-' => left = true,
                '0' => zero = true,
                '+' => plus = true,
                ' ' | '#' => {}
                _ => break,
            }
            chars.next();
        }
        let mut width = String::new();
        while let Some(&d) = chars.peek().filter(|d| d.is_ascii_digit()) {
            width.push(d);
            chars.next();
        }
        let mut prec: Option<usize> = None;
        if chars.peek() == Some(&'.') {
            chars.next();
            let mut p = String::new();
            while let Some(&d) = chars.peek().filter(|d| d.is_ascii_digit()) {
                p.push(d);
                chars.next();
            }
            prec = Some(p.parse::<usize>().unwrap_or(0).min(1000));
        }
        let verb = chars
            .next()
            .ok_or_else(|| Flow::Error("format ends in the middle of a verb".into()))?;
        let a = args
            .get(next)
            .ok_or_else(|| Flow::Error("not enough arguments for format".into()))?;
        next += 1;
        if let Value::Unknown(u) = &a.value {
            return Err(Flow::Unknown(u.reason.clone()));
        }
        let text = match verb {
            'v' => match &a.value {
                Value::Array(_) | Value::Object(_) => {
                    known(a)?;
                    let mut t = String::new();
                    json_encode(a, &mut t);
                    t
                }
                Value::Null => "null".into(),
                _ => s(a)?,
            },
            's' => {
                let t = s(a)?;
                match prec {
                    Some(p) => t.chars().take(p).collect(),
                    None => t,
                }
            }
            'q' => {
                let mut t = String::new();
                json_str(&s(a)?, &mut t);
                t
            }
            't' => match eval::bool_of(a).map_err(Flow::Error)? {
                Some(b) => b.to_string(),
                None => return Err(Flow::Unknown(eval::unknown_reason(a))),
            },
            'd' => {
                let v = int(a)?;
                if plus && v >= 0 {
                    format!("+{v}")
                } else {
                    v.to_string()
                }
            }
            'f' | 'F' => format!("{:.*}", prec.unwrap_or(6), num(a)?),
            'e' => format!("{:.*e}", prec.unwrap_or(6), num(a)?),
            'g' | 'G' => fmt_float(num(a)?),
            'x' => match &a.value {
                Value::String(t) => hex(t.as_bytes()),
                _ => format!("{:x}", int(a)?),
            },
            'X' => format!("{:X}", int(a)?),
            'o' => format!("{:o}", int(a)?),
            'b' => format!("{:b}", int(a)?),
            c => return Err(Flow::Error(format!("unsupported format verb %{c}"))),
        };
        let w: usize = width.parse().unwrap_or(0).min(1000);
        let len = text.chars().count();
        if len < w {
            let pad = w - len;
            if left {
                out.push_str(&text);
                out.push_str(&" ".repeat(pad));
            } else if zero && matches!(verb, 'd' | 'f' | 'F' | 'e' | 'x' | 'X' | 'o' | 'b') {
                let (sign, digits) = if let Some(d) = text.strip_prefix('-') {
                    ("-", d)
                } else {
                    ("", text.as_str())
                };
                out.push_str(sign);
                out.push_str(&"0".repeat(pad));
                out.push_str(digits);
            } else {
                out.push_str(&" ".repeat(pad));
                out.push_str(&text);
            }
        } else {
            out.push_str(&text);
        }
        if out.len() > eval::MAX_STRING {
            return Err(Flow::Unknown("string too large".into()));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::FileId;

    fn sv(t: &str) -> Node {
        Node::new(Value::String(t.into()), Span::file_start(FileId(0)))
    }
    fn iv(i: i64) -> Node {
        Node::new(Value::Int(i), Span::file_start(FileId(0)))
    }
    fn call(name: &str, a: &[Node]) -> Value {
        builtin(name, a, Span::file_start(FileId(0)))
            .map(|n| n.value)
            .unwrap_or(Value::Null)
    }

    #[test]
    fn cidr_functions() {
        assert_eq!(
            call("cidrsubnet", &[sv("10.0.0.0/16"), iv(8), iv(2)]),
            Value::String("10.0.2.0/24".into())
        );
        assert_eq!(
            call("cidrhost", &[sv("10.12.112.0/20"), iv(16)]),
            Value::String("10.12.112.16".into())
        );
        assert_eq!(
            call("cidrhost", &[sv("10.0.0.0/24"), iv(-2)]),
            Value::String("10.0.0.254".into())
        );
        assert_eq!(
            call("cidrnetmask", &[sv("172.16.0.0/12")]),
            Value::String("255.240.0.0".into())
        );
        assert_eq!(
            call(
                "cidrsubnets",
                &[sv("10.1.0.0/16"), iv(4), iv(4), iv(8), iv(4)]
            ),
            Value::Array(
                [
                    "10.1.0.0/20",
                    "10.1.16.0/20",
                    "10.1.32.0/24",
                    "10.1.48.0/20"
                ]
                .iter()
                .map(|t| sv(t))
                .collect()
            )
        );
        assert_eq!(
            call(
                "cidrsubnet",
                &[sv("fd00:fd12:3456:7890::/56"), iv(16), iv(162)]
            ),
            Value::String("fd00:fd12:3456:7800:a200::/72".into())
        );
    }

    #[test]
    fn strings_and_encoding() {
        assert_eq!(
            call("format", &[sv("%s-%03d-%.2f"), sv("a"), iv(7), iv(2)]),
            Value::String("a-007-2.00".into())
        );
        assert_eq!(
            call("base64encode", &[sv("Hello World")]),
            Value::String("SGVsbG8gV29ybGQ=".into())
        );
        assert_eq!(
            call("base64decode", &[sv("SGVsbG8gV29ybGQ=")]),
            Value::String("Hello World".into())
        );
        assert_eq!(
            call("md5", &[sv("hello world")]),
            Value::String("5eb63bbbe01eeed093cb22bb8f5acdc3".into())
        );
        assert_eq!(
            call(
                "replace",
                &[sv("hello world"), sv("/w.*d/"), sv("everybody")]
            ),
            Value::String("hello everybody".into())
        );
        assert_eq!(
            call("substr", &[sv("hello world"), iv(-5), iv(-1)]),
            Value::String("world".into())
        );
        assert_eq!(
            call("title", &[sv("hello world")]),
            Value::String("Hello World".into())
        );
        assert_eq!(
            call("urlencode", &[sv("a b/c")]),
            Value::String("a+b%2Fc".into())
        );
        let obj = Node::new(
            Value::Object(ecow::eco_vec![("b".into(), iv(1)), ("a".into(), sv("<x>"))]),
            Span::default(),
        );
        assert_eq!(
            call("jsonencode", &[obj]),
            Value::String("{\"a\":\"\\u003cx\\u003e\",\"b\":1}".into())
        );
    }
}
