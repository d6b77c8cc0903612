//! terraform/json: a small span-keeping JSON reader, and the lowering of Terraform's JSON
//! syntax (`.tf.json`, `.tfvars.json`) to the same tree the HCL parser produces.

use super::parse::{self, Attr, Block, Body, Expr, ExprKind};
use crate::model::{Diagnostic, Node, Str, Value};
use crate::source::{FileId, Span};

const MAX_DEPTH: usize = 256;

#[derive(Clone, Debug)]
pub enum J {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Arr(Vec<JNode>),
    Obj(Vec<(String, Span, JNode)>),
}

#[derive(Clone, Debug)]
pub struct JNode {
    pub v: J,
    pub span: Span,
}

/// Parses JSON text. The error carries the byte offset and what was expected there.
pub fn parse(file: FileId, text: &str) -> Result<JNode, (usize, String)> {
    let mut p = Reader {
        b: text.as_bytes(),
        s: text,
        i: 0,
        file,
        depth: 0,
    };
    if text.starts_with('\u{feff}') {
        p.i = 3;
    }
    p.ws();
    let v = p.value()?;
    p.ws();
    if p.i < p.b.len() {
        return Err((p.i, "expected end of input".into()));
    }
    Ok(v)
}

struct Reader<'a> {
    b: &'a [u8],
    s: &'a str,
    i: usize,
    file: FileId,
    depth: usize,
}

impl Reader<'_> {
    fn ws(&mut self) {
        while self.i < self.b.len() {
            match self.b[self.i] {
                b' ' | b'\t' | b'\n' | b'\r' => self.i += 1,
                _ => break,
            }
        }
    }

    fn value(&mut self) -> Result<JNode, (usize, String)> {
        let start = self.i;
        let Some(&c) = self.b.get(self.i) else {
            return Err((self.i, "expected a value, found end of input".into()));
        };
        let v = match c {
            b'{' => {
                self.enter()?;
                self.i += 1;
                let mut items = Vec::new();
                self.ws();
                if self.b.get(self.i) == Some(&b'}') {
                    self.i += 1;
                } else {
                    loop {
                        self.ws();
                        let ks = self.i;
                        if self.b.get(self.i) != Some(&b'"') {
                            return Err((self.i, "expected a string key".into()));
                        }
                        let k = self.string()?;
                        let kspan = Span::new(self.file, ks, self.i);
                        self.ws();
                        if self.b.get(self.i) != Some(&b':') {
                            return Err((self.i, "expected ':'".into()));
                        }
                        self.i += 1;
                        self.ws();
                        let v = self.value()?;
                        items.push((k, kspan, v));
                        self.ws();
                        match self.b.get(self.i) {
                            Some(b',') => self.i += 1,
                            Some(b'}') => {
                                self.i += 1;
                                break;
                            }
                            _ => return Err((self.i, "expected ',' or '}'".into())),
                        }
                    }
                }
                self.depth -= 1;
                J::Obj(items)
            }
            b'[' => {
                self.enter()?;
                self.i += 1;
                let mut items = Vec::new();
                self.ws();
                if self.b.get(self.i) == Some(&b']') {
                    self.i += 1;
                } else {
                    loop {
                        self.ws();
                        items.push(self.value()?);
                        self.ws();
                        match self.b.get(self.i) {
                            Some(b',') => self.i += 1,
                            Some(b']') => {
                                self.i += 1;
                                break;
                            }
                            _ => return Err((self.i, "expected ',' or ']'".into())),
                        }
                    }
                }
                self.depth -= 1;
                J::Arr(items)
            }
            b'"' => J::Str(self.string()?),
            b't' if self.s[self.i..].starts_with("true") => {
                self.i += 4;
                J::Bool(true)
            }
            b'f' if self.s[self.i..].starts_with("false") => {
                self.i += 5;
                J::Bool(false)
            }
            b'n' if self.s[self.i..].starts_with("null") => {
                self.i += 4;
                J::Null
            }
            b'-' | b'0'..=b'9' => {
                while self.i < self.b.len()
                    && matches!(
                        self.b[self.i],
                        b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9'
                    )
                {
                    self.i += 1;
                }
                let t = &self.s[start..self.i];
                if let Ok(n) = t.parse::<i64>() {
                    J::Int(n)
                } else if let Ok(f) = t.parse::<f64>() {
                    J::Float(f)
                } else {
                    return Err((start, format!("invalid number '{t}'")));
                }
            }
            _ => return Err((self.i, "expected a value".into())),
        };
        Ok(JNode {
            v,
            span: Span::new(self.file, start, self.i),
        })
    }

    fn enter(&mut self) -> Result<(), (usize, String)> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err((self.i, format!("nesting deeper than {MAX_DEPTH} levels")));
        }
        Ok(())
    }

    fn string(&mut self) -> Result<String, (usize, String)> {
        self.i += 1;
        let mut out = String::new();
        loop {
            let run = self.i;
            while self.i < self.b.len() && self.b[self.i] != b'"' && self.b[self.i] != b'\\' {
                self.i += 1;
            }
            out.push_str(&self.s[run..self.i]);
            match self.b.get(self.i) {
                None => return Err((self.i, "unterminated string".into())),
                Some(b'"') => {
                    self.i += 1;
                    return Ok(out);
                }
                _ => {
                    self.i += 1;
                    let Some(&e) = self.b.get(self.i) else {
                        return Err((self.i, "unterminated string".into()));
                    };
                    self.i += 1;
                    match e {
                        b'"' => out.push('"'),
                        b'\\' => out.push('\\'),
                        b'/' => out.push('/'),
                        b'b' => out.push('\u{8}'),
                        b'f' => out.push('\u{c}'),
                        b'n' => out.push('\n'),
                        b'r' => out.push('\r'),
                        b't' => out.push('\t'),
                        b'u' => {
                            let mut cp = self.hex4()?;
                            if (0xD800..0xDC00).contains(&cp) && self.s[self.i..].starts_with("\\u")
                            {
                                self.i += 2;
                                let lo = self.hex4()?;
                                cp = 0x10000
                                    + ((cp - 0xD800) << 10)
                                    + (lo.wrapping_sub(0xDC00) & 0x3FF);
                            }
                            out.push(char::from_u32(cp).unwrap_or('\u{FFFD}'));
                        }
                        _ => return Err((self.i - 1, "invalid escape".into())),
                    }
                }
            }
        }
    }

    fn hex4(&mut self) -> Result<u32, (usize, String)> {
        let t = self
            .s
            .get(self.i..self.i + 4)
            .ok_or((self.i, "expected 4 hex digits".to_string()))?;
        let v = u32::from_str_radix(t, 16)
            .map_err(|_| (self.i, "expected 4 hex digits".to_string()))?;
        self.i += 4;
        Ok(v)
    }
}

/// A JSON value as a model node, every node with the span where it was written.
pub fn to_node(j: &JNode) -> Node {
    let value = match &j.v {
        J::Null => Value::Null,
        J::Bool(b) => Value::Bool(*b),
        J::Int(i) => Value::Int(*i),
        J::Float(f) => Value::Float(*f),
        J::Str(s) => Value::String(Str::from(s.as_str())),
        J::Arr(a) => Value::Array(a.iter().map(to_node).collect()),
        J::Obj(o) => Value::Object(
            o.iter()
                .map(|(k, _, v)| (Str::from(k.as_str()), to_node(v)))
                .collect(),
        ),
    };
    Node::new(value, j.span)
}

/// Parses a `.tf.json` file into the HCL tree shapes.
pub fn parse_tf_json(file: FileId, text: &str) -> (Body, Vec<Diagnostic>) {
    match parse(file, text) {
        Ok(root) => {
            let mut body = Body::default();
            if let J::Obj(items) = &root.v {
                for (k, kspan, v) in items {
                    top_level(file, k, *kspan, v, &mut body);
                }
            }
            (body, Vec::new())
        }
        Err((off, msg)) => {
            let off = off.min(text.len());
            (
                Body::default(),
                vec![Diagnostic::error(
                    Span::new(file, off, off + 1),
                    format!("JSON syntax error: {msg}"),
                )],
            )
        }
    }
}

fn each_item(v: &JNode) -> Vec<&JNode> {
    match &v.v {
        J::Arr(a) => a.iter().collect(),
        _ => vec![v],
    }
}

fn top_level(file: FileId, kind: &str, kspan: Span, v: &JNode, out: &mut Body) {
    // every level of the JSON syntax may also be an array of objects
    if let J::Arr(items) = &v.v {
        for it in items {
            top_level(file, kind, kspan, it, out);
        }
        return;
    }
    let J::Obj(items) = &v.v else { return };
    match kind {
        "resource" | "data" => {
            for (ty, tspan, names) in items {
                let J::Obj(names) = &names.v else { continue };
                for (name, nspan, b) in names {
                    for b in each_item(b) {
                        out.blocks.push(Block {
                            kind: kind.into(),
                            labels: vec![ty.clone(), name.clone()],
                            header: kspan.cover(*tspan).cover(*nspan),
                            body: block_body(file, b, false),
                            span: b.span,
                        });
                    }
                }
            }
        }
        "module" | "variable" | "output" | "provider" => {
            for (name, nspan, b) in items {
                for b in each_item(b) {
                    out.blocks.push(Block {
                        kind: kind.into(),
                        labels: vec![name.clone()],
                        header: kspan.cover(*nspan),
                        body: block_body(file, b, kind != "provider"),
                        span: b.span,
                    });
                }
            }
        }
        "locals" => {
            for b in each_item(v) {
                out.blocks.push(Block {
                    kind: kind.into(),
                    labels: vec![],
                    header: kspan,
                    body: block_body(file, b, true),
                    span: b.span,
                });
            }
        }
        "terraform" => {
            for b in each_item(v) {
                // only required_providers matters here: a block of plain attributes
                let mut body = Body::default();
                if let J::Obj(items) = &b.v {
                    for (k, ks, rp) in items.iter().filter(|(k, _, _)| k == "required_providers") {
                        for rp in each_item(rp) {
                            body.blocks.push(Block {
                                kind: k.clone(),
                                labels: vec![],
                                header: *ks,
                                body: block_body(file, rp, true),
                                span: rp.span,
                            });
                        }
                    }
                }
                out.blocks.push(Block {
                    kind: kind.into(),
                    labels: vec![],
                    header: kspan,
                    body,
                    span: b.span,
                });
            }
        }
        _ => {}
    }
}

/// Attributes that hold maps: an object there is a value, not a nested block.
const MAP_ATTRS: &[&str] = &[
    "tags",
    "app_settings",
    "metadata",
    "parameters",
    "labels",
    "node_labels",
    "settings",
    "protected_settings",
    "variables",
    "environment_variables",
    "body",
    "headers",
    "properties",
];

fn block_body(file: FileId, b: &JNode, attrs_only: bool) -> Body {
    let mut body = Body::default();
    let J::Obj(items) = &b.v else { return body };
    for (k, kspan, v) in items {
        if k == "//" {
            continue;
        }
        if !attrs_only {
            if k == "dynamic" {
                if let J::Obj(dyns) = &v.v {
                    for (label, ls, d) in dyns {
                        for d in each_item(d) {
                            body.blocks.push(Block {
                                kind: "dynamic".into(),
                                labels: vec![label.clone()],
                                header: kspan.cover(*ls),
                                body: block_body(file, d, false),
                                span: d.span,
                            });
                        }
                    }
                }
                continue;
            }
            let is_block = !MAP_ATTRS.contains(&k.as_str())
                && match &v.v {
                    J::Obj(_) => true,
                    J::Arr(a) => !a.is_empty() && a.iter().all(|x| matches!(x.v, J::Obj(_))),
                    _ => false,
                };
            if is_block {
                for x in each_item(v) {
                    body.blocks.push(Block {
                        kind: k.clone(),
                        labels: vec![],
                        header: *kspan,
                        body: block_body(file, x, false),
                        span: x.span,
                    });
                }
                continue;
            }
        }
        let expr = match k.as_str() {
            "depends_on" => match &v.v {
                J::Arr(a) => Expr::new(
                    ExprKind::Array(
                        a.iter()
                            .map(|x| match &x.v {
                                J::Str(s) => parse::parse_expr(file, s, Some(x.span))
                                    .unwrap_or_else(|| expr_of(file, x)),
                                _ => expr_of(file, x),
                            })
                            .collect(),
                    ),
                    v.span,
                ),
                _ => expr_of(file, v),
            },
            "type" if attrs_only => match &v.v {
                J::Str(s) => {
                    parse::parse_expr(file, s, Some(v.span)).unwrap_or_else(|| expr_of(file, v))
                }
                _ => expr_of(file, v),
            },
            "default" if attrs_only => literal_expr(v),
            _ => expr_of(file, v),
        };
        body.attrs.push(Attr {
            name: k.clone(),
            expr,
            span: kspan.cover(v.span),
        });
    }
    body
}

/// A JSON value as an expression: strings are templates (`"${var.x}"`).
fn expr_of(file: FileId, v: &JNode) -> Expr {
    let kind = match &v.v {
        J::Str(s) if s.contains("${") || s.contains("%{") => {
            return parse::parse_template(file, s, v.span)
                .unwrap_or_else(|| Expr::new(ExprKind::Str(s.clone()), v.span));
        }
        J::Arr(a) => ExprKind::Array(a.iter().map(|x| expr_of(file, x)).collect()),
        J::Obj(o) => ExprKind::Object(
            o.iter()
                .map(|(k, ks, x)| (key_expr(file, k, *ks), expr_of(file, x)))
                .collect(),
        ),
        _ => return literal_expr(v),
    };
    Expr::new(kind, v.span)
}

fn key_expr(file: FileId, k: &str, span: Span) -> Expr {
    if k.contains("${") {
        if let Some(e) = parse::parse_template(file, k, span) {
            return e;
        }
    }
    Expr::new(ExprKind::Str(k.to_string()), span)
}

fn literal_expr(v: &JNode) -> Expr {
    let kind = match &v.v {
        J::Null => ExprKind::Null,
        J::Bool(b) => ExprKind::Bool(*b),
        J::Int(i) => ExprKind::Int(*i),
        J::Float(f) => ExprKind::Number(*f),
        J::Str(s) => ExprKind::Str(s.clone()),
        J::Arr(a) => ExprKind::Array(a.iter().map(literal_expr).collect()),
        J::Obj(o) => ExprKind::Object(
            o.iter()
                .map(|(k, ks, x)| (Expr::new(ExprKind::Str(k.clone()), *ks), literal_expr(x)))
                .collect(),
        ),
    };
    Expr::new(kind, v.span)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_json_with_spans() {
        let text = r#"{"a": [1, 2.5, "x\u0041"], "b": {"c": null}}"#;
        let j = parse(FileId(0), text).unwrap();
        let n = to_node(&j);
        let a = n.get("a").unwrap().as_array().unwrap();
        assert_eq!(a[2].value, Value::String("xA".into()));
        assert_eq!(&text[a[1].span.range()], "2.5");
        assert!(parse(FileId(0), "{\"a\": }").is_err());
        let deep = "[".repeat(10_000);
        assert!(parse(FileId(0), &deep).is_err());
    }

    #[test]
    fn lowers_tf_json() {
        let text = r#"{"resource": {"azurerm_x": {"y": {"name": "${var.n}-a", "network_rules": {"default_action": "Deny"}, "tags": {"a": "b"}}}}}"#;
        let (body, d) = parse_tf_json(FileId(0), text);
        assert!(d.is_empty());
        let r = &body.blocks[0];
        assert_eq!(r.labels, vec!["azurerm_x", "y"]);
        assert!(r.body.attr("name").is_some());
        assert!(r.body.attr("tags").is_some());
        assert_eq!(r.body.blocks[0].kind, "network_rules");
    }
}
