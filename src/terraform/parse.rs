//! terraform/parse: HCL text (via hcl-edit) into our own syntax tree with file spans.
//!
//! The evaluator works on this small tree rather than on hcl-edit's, so that the JSON
//! syntax (`.tf.json`) can be lowered to the same shapes and so that nesting depth is
//! bounded once, here.

use crate::model::Diagnostic;
use crate::source::{FileId, Span};
use hcl_edit::expr::{
    BinaryOperator, Expression as HExpr, ObjectKey, TraversalOperator, UnaryOperator,
};
use hcl_edit::structure::{Body as HBody, Structure};
use hcl_edit::template::{Directive, Element, Template};
use hcl_edit::Span as _;

/// Deepest bracket nesting we hand to hcl-edit, whose parser recurses per level.
pub const MAX_NESTING: usize = 256;
/// Deepest expression tree we convert (long operator chains nest without brackets).
const MAX_EXPR_DEPTH: usize = 400;

#[derive(Clone, Debug, Default)]
pub struct Body {
    pub attrs: Vec<Attr>,
    pub blocks: Vec<Block>,
}

#[derive(Clone, Debug)]
pub struct Attr {
    pub name: String,
    pub expr: Expr,
    /// The whole `name = value` line.
    pub span: Span,
}

#[derive(Clone, Debug)]
pub struct Block {
    pub kind: String,
    pub labels: Vec<String>,
    /// From the block type through its last label: what a finding about the block points at.
    pub header: Span,
    pub body: Body,
    pub span: Span,
}

#[derive(Clone, Debug)]
pub struct Expr {
    pub kind: ExprKind,
    pub span: Span,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BinOp {
    Eq,
    NotEq,
    LessEq,
    GreaterEq,
    Less,
    Greater,
    Plus,
    Minus,
    Mul,
    Div,
    Mod,
    And,
    Or,
}

#[derive(Clone, Debug)]
pub enum ExprKind {
    Null,
    Bool(bool),
    Number(f64),
    Int(i64),
    Str(String),
    Template(Vec<Part>),
    Array(Vec<Expr>),
    /// Keys are expressions: a bare identifier key is lowered to a string literal.
    Object(Vec<(Expr, Expr)>),
    Var(String),
    Traversal(Box<Expr>, Vec<Op>),
    Call {
        name: String,
        args: Vec<Expr>,
        expand_final: bool,
    },
    Cond(Box<Expr>, Box<Expr>, Box<Expr>),
    Not(Box<Expr>),
    Neg(Box<Expr>),
    Binary(BinOp, Box<Expr>, Box<Expr>),
    For(Box<ForExpr>),
    /// Something we could not lower (too deep): evaluates to unknown.
    Invalid(String),
}

#[derive(Clone, Debug)]
pub struct ForExpr {
    pub key_var: Option<String>,
    pub val_var: String,
    pub coll: Expr,
    pub key_expr: Option<Expr>,
    pub val_expr: Expr,
    pub cond: Option<Expr>,
    pub grouping: bool,
}

#[derive(Clone, Debug)]
pub enum Op {
    Attr(String),
    Index(Expr),
    /// `[*]` (full: later operators apply to each element) or `.*` (attribute-only: only
    /// the attribute accesses right after it do; the rest apply to the resulting list).
    Splat {
        full: bool,
    },
}

#[derive(Clone, Debug)]
pub enum Part {
    Lit(String),
    Interp(Expr),
    If {
        cond: Expr,
        then: Vec<Part>,
        otherwise: Vec<Part>,
    },
    For {
        key_var: Option<String>,
        val_var: String,
        coll: Expr,
        body: Vec<Part>,
    },
}

impl Expr {
    pub fn new(kind: ExprKind, span: Span) -> Expr {
        Expr { kind, span }
    }

    /// `a.b.c` as names, when the expression is a plain attribute traversal.
    pub fn as_path(&self) -> Option<Vec<String>> {
        match &self.kind {
            ExprKind::Var(v) => Some(vec![v.clone()]),
            ExprKind::Traversal(root, ops) => {
                let mut out = root.as_path()?;
                for op in ops {
                    match op {
                        Op::Attr(a) => out.push(a.clone()),
                        // `azurerm_x.y[0]` in depends_on: the index does not change the target
                        Op::Index(_) | Op::Splat { .. } => {}
                    }
                }
                Some(out)
            }
            _ => None,
        }
    }
}

impl Body {
    pub fn attr(&self, name: &str) -> Option<&Attr> {
        self.attrs.iter().find(|a| a.name == name)
    }

    pub fn blocks_of<'a>(&'a self, kind: &'a str) -> impl Iterator<Item = &'a Block> + 'a {
        self.blocks.iter().filter(move |b| b.kind == kind)
    }
}

/// Maximum bracket depth of a text, ignoring nothing: a cheap, conservative guard.
pub fn bracket_depth(text: &str) -> usize {
    // A table and no branches: with a branch per bracket kind, this loop over every byte of
    // every file was 3 % of a Terraform scan's samples.
    const DELTA: [i8; 256] = {
        let mut t = [0i8; 256];
        t[b'(' as usize] = 1;
        t[b'[' as usize] = 1;
        t[b'{' as usize] = 1;
        t[b')' as usize] = -1;
        t[b']' as usize] = -1;
        t[b'}' as usize] = -1;
        t
    };
    let mut depth = 0i64;
    let mut max = 0i64;
    for &b in text.as_bytes() {
        depth = (depth + DELTA[b as usize] as i64).max(0);
        max = max.max(depth);
    }
    max as usize
}

/// Longest run of `!` (`!!!!x`): each is one parser recursion. (Runs of `-` are common in
/// comments and certificates, so negation chains are left to the big evaluation stack.)
fn prefix_run(text: &str) -> usize {
    // `!` is rare: jump from one to the next, and count the run it starts.
    let b = text.as_bytes();
    let mut max = 0usize;
    let mut at = 0usize;
    while let Some(i) = memchr::memchr(b'!', &b[at..]) {
        let mut run = 0usize;
        let mut j = at + i;
        while j < b.len() && matches!(b[j], b'!' | b' ' | b'\t') {
            run += usize::from(b[j] == b'!');
            j += 1;
        }
        max = max.max(run);
        at = j;
    }
    max
}

/// Parses one HCL file. On a syntax error, returns an empty body and the error diagnostic.
/// How long hcl-edit may take on a file: real files parse at tens of MB/s.
fn deadline(text: &str) -> std::time::Duration {
    std::time::Duration::from_secs(5 + (text.len() / (512 * 1024)) as u64)
}

/// hcl-edit backtracks, and some malformed inputs take it time exponential in their length
/// (found by fuzzing: a 227-byte run of unclosed objects after binary operators took 2.4 s,
/// each few more bytes doubling it). A gate must not hang on a pull request's file, so the
/// parse runs on its own thread with a deadline; past it the file is reported as not
/// scanned, and the thread is left to finish or to end with the process.
///
/// Spawning a thread per file cost 10% of a Terraform scan, so each calling thread keeps a
/// parser thread and hands it one file at a time; a parser thread that misses a deadline is
/// abandoned and the next file gets a new one.
fn parse_with_deadline(text: &str) -> Result<Parsed, String> {
    thread_local! {
        static WORKER: std::cell::RefCell<Option<std::sync::mpsc::Sender<Job>>> =
            const { std::cell::RefCell::new(None) };
    }
    let (reply, answer) = std::sync::mpsc::channel();
    let job = (text.to_string(), reply);
    let sent = WORKER.with_borrow_mut(|w| {
        if w.is_none() {
            *w = spawn_parser();
        }
        match w.as_ref() {
            Some(tx) => tx.send(job).map_err(|e| e.0),
            None => Err(job),
        }
    });
    if let Err((text, _)) = sent {
        // No thread to be had: parse here, without a deadline.
        WORKER.set(None);
        return Ok(hcl_edit::parser::parse_body(&text));
    }
    answer.recv_timeout(deadline(text)).map_err(|e| {
        WORKER.set(None);
        match e {
            std::sync::mpsc::RecvTimeoutError::Timeout => format!(
                "the HCL parser did not finish within {} s (malformed nesting makes it backtrack): file not scanned",
                deadline(text).as_secs()
            ),
            std::sync::mpsc::RecvTimeoutError::Disconnected => {
                "the HCL parser failed on this file: file not scanned".to_string()
            }
        }
    })
}

type Parsed = Result<hcl_edit::structure::Body, hcl_edit::parser::Error>;
type Job = (String, std::sync::mpsc::Sender<Parsed>);

/// A parser thread: parses what it is sent until its sender is dropped.
fn spawn_parser() -> Option<std::sync::mpsc::Sender<Job>> {
    let (tx, rx) = std::sync::mpsc::channel::<Job>();
    std::thread::Builder::new()
        .name("hcl-parse".into())
        // Legal but deep nesting recurses in the parser (the evaluation thread has as much).
        .stack_size(256 << 20)
        .spawn(move || {
            for (text, reply) in rx {
                let _ = reply.send(hcl_edit::parser::parse_body(&text));
            }
        })
        .ok()
        .map(|_| tx)
}

pub fn parse_hcl(file: FileId, text: &str) -> (Body, Vec<Diagnostic>) {
    let depth = bracket_depth(text);
    if depth > MAX_NESTING || prefix_run(text) > MAX_NESTING {
        let diag = Diagnostic::error(
            Span::file_start(file),
            format!("nesting too deep ({depth} levels; at most {MAX_NESTING} are read): file not scanned"),
        );
        return (Body::default(), vec![diag]);
    }
    // a byte-order mark is not HCL; blank it out so offsets stay those of the file
    let blanked;
    let text = match text.strip_prefix('\u{feff}') {
        Some(rest) => {
            blanked = format!("   {rest}");
            blanked.as_str()
        }
        None => text,
    };
    let parsed = match parse_with_deadline(text) {
        Ok(p) => p,
        Err(why) => {
            let diag = Diagnostic::error(Span::file_start(file), why)
        .with_help("check the file's braces and operators; `terraform validate` shows the syntax error");
            return (Body::default(), vec![diag]);
        }
    };
    match parsed {
        Ok(body) => {
            let mut cx = Lower {
                file,
                fixed: None,
                depth: 0,
            };
            (cx.body(&body), Vec::new())
        }
        Err(e) => {
            let mut off = e.location().offset().min(text.len());
            while !text.is_char_boundary(off) {
                off -= 1;
            }
            let end = next_char_end(text, off);
            let msg = e
                .message()
                .lines()
                .next()
                .unwrap_or("invalid syntax")
                .trim();
            let diag = Diagnostic::error(
                Span::new(file, off, end),
                format!("HCL syntax error: {msg}"),
            );
            (Body::default(), vec![diag])
        }
    }
}

fn next_char_end(text: &str, off: usize) -> usize {
    text[off..]
        .chars()
        .next()
        .map(|c| off + c.len_utf8())
        .unwrap_or(off)
}

/// Parses one expression (a `--var` value, a JSON-syntax template). `fixed` gives every node
/// the same span, for text whose offsets do not map onto the file (JSON string escapes).
pub fn parse_expr(file: FileId, text: &str, fixed: Option<Span>) -> Option<Expr> {
    if bracket_depth(text) > MAX_NESTING || prefix_run(text) > MAX_NESTING {
        return None;
    }
    let e = hcl_edit::parser::parse_expr(text).ok()?;
    let mut cx = Lower {
        file,
        fixed,
        depth: 0,
    };
    Some(cx.expr(&e))
}

/// Parses a template (the inside of a JSON-syntax string).
pub fn parse_template(file: FileId, text: &str, span: Span) -> Option<Expr> {
    if bracket_depth(text) > MAX_NESTING || prefix_run(text) > MAX_NESTING {
        return None;
    }
    let t = hcl_edit::parser::parse_template(text).ok()?;
    let mut cx = Lower {
        file,
        fixed: Some(span),
        depth: 0,
    };
    let parts = cx.template(&t);
    Some(Expr::new(ExprKind::Template(parts), span))
}

struct Lower {
    file: FileId,
    fixed: Option<Span>,
    depth: usize,
}

impl Lower {
    fn span(&self, r: Option<std::ops::Range<usize>>) -> Span {
        if let Some(s) = self.fixed {
            return s;
        }
        match r {
            Some(r) => Span::new(self.file, r.start, r.end),
            None => Span::file_start(self.file),
        }
    }

    fn body(&mut self, body: &HBody) -> Body {
        let mut out = Body::default();
        for s in body.iter() {
            match s {
                Structure::Attribute(a) => {
                    let expr = self.expr(&a.value);
                    out.attrs.push(Attr {
                        name: a.key.as_str().to_string(),
                        expr,
                        span: self.span(a.span()),
                    });
                }
                Structure::Block(b) => {
                    let start = b.ident.span();
                    let end = b.labels.last().and_then(|l| l.span()).or(start.clone());
                    let header = match (start, end) {
                        (Some(s), Some(e)) => self.span(Some(s.start..e.end)),
                        _ => self.span(b.span()),
                    };
                    let inner = self.body(&b.body);
                    out.blocks.push(Block {
                        kind: b.ident.as_str().to_string(),
                        labels: b.labels.iter().map(|l| l.as_str().to_string()).collect(),
                        header,
                        body: inner,
                        span: self.span(b.span()),
                    });
                }
            }
        }
        out
    }

    fn expr(&mut self, e: &HExpr) -> Expr {
        let span = self.span(e.span());
        if self.depth >= MAX_EXPR_DEPTH {
            return Expr::new(
                ExprKind::Invalid("expression nested too deeply".into()),
                span,
            );
        }
        self.depth += 1;
        let kind = self.expr_kind(e);
        self.depth -= 1;
        Expr::new(kind, span)
    }

    fn expr_kind(&mut self, e: &HExpr) -> ExprKind {
        match e {
            HExpr::Null(_) => ExprKind::Null,
            HExpr::Bool(b) => ExprKind::Bool(*b.value()),
            HExpr::Number(n) => {
                let n = n.value();
                match n.as_i64() {
                    Some(i) => ExprKind::Int(i),
                    None => ExprKind::Number(n.as_f64().unwrap_or(f64::NAN)),
                }
            }
            HExpr::String(s) => ExprKind::Str(s.value().to_string()),
            HExpr::Array(a) => ExprKind::Array(a.iter().map(|x| self.expr(x)).collect()),
            HExpr::Object(o) => {
                let mut items = Vec::with_capacity(o.len());
                for (k, v) in o.iter() {
                    let key = match k {
                        ObjectKey::Ident(id) => {
                            Expr::new(ExprKind::Str(id.as_str().to_string()), self.span(id.span()))
                        }
                        ObjectKey::Expression(x) => {
                            // `{ (local.k) = 1 }` and `{ "k" = 1 }` are expressions; a bare
                            // variable name as key is a literal string, as in Terraform
                            let k = self.expr(x);
                            match k.kind {
                                ExprKind::Var(name) => Expr::new(ExprKind::Str(name), k.span),
                                _ => k,
                            }
                        }
                    };
                    items.push((key, self.expr(v.expr())));
                }
                ExprKind::Object(items)
            }
            HExpr::StringTemplate(t) => ExprKind::Template(self.template(t)),
            HExpr::HeredocTemplate(h) => ExprKind::Template(self.template(&h.template)),
            HExpr::Parenthesis(p) => self.expr(p.inner()).kind,
            HExpr::Variable(v) => ExprKind::Var(v.as_str().to_string()),
            HExpr::Conditional(c) => ExprKind::Cond(
                Box::new(self.expr(&c.cond_expr)),
                Box::new(self.expr(&c.true_expr)),
                Box::new(self.expr(&c.false_expr)),
            ),
            HExpr::FuncCall(f) => {
                let mut name = String::new();
                for ns in &f.name.namespace {
                    name.push_str(ns.as_str());
                    name.push_str("::");
                }
                name.push_str(f.name.name.as_str());
                ExprKind::Call {
                    name,
                    args: f.args.iter().map(|a| self.expr(a)).collect(),
                    expand_final: f.args.expand_final(),
                }
            }
            HExpr::Traversal(t) => {
                let root = self.expr(&t.expr);
                let ops = t
                    .operators
                    .iter()
                    .map(|op| match op.value() {
                        TraversalOperator::AttrSplat(_) => Op::Splat { full: false },
                        TraversalOperator::FullSplat(_) => Op::Splat { full: true },
                        TraversalOperator::GetAttr(id) => Op::Attr(id.as_str().to_string()),
                        TraversalOperator::Index(x) => Op::Index(self.expr(x)),
                        TraversalOperator::LegacyIndex(i) => {
                            let sp = self.span(op.span());
                            Op::Index(Expr::new(ExprKind::Int(*i.value() as i64), sp))
                        }
                    })
                    .collect();
                ExprKind::Traversal(Box::new(root), ops)
            }
            HExpr::UnaryOp(u) => {
                let inner = Box::new(self.expr(&u.expr));
                match u.operator.value() {
                    UnaryOperator::Not => ExprKind::Not(inner),
                    UnaryOperator::Neg => ExprKind::Neg(inner),
                }
            }
            HExpr::BinaryOp(b) => {
                use BinaryOperator as B;
                let op = match b.operator.value() {
                    B::Eq => BinOp::Eq,
                    B::NotEq => BinOp::NotEq,
                    B::LessEq => BinOp::LessEq,
                    B::GreaterEq => BinOp::GreaterEq,
                    B::Less => BinOp::Less,
                    B::Greater => BinOp::Greater,
                    B::Plus => BinOp::Plus,
                    B::Minus => BinOp::Minus,
                    B::Mul => BinOp::Mul,
                    B::Div => BinOp::Div,
                    B::Mod => BinOp::Mod,
                    B::And => BinOp::And,
                    B::Or => BinOp::Or,
                };
                ExprKind::Binary(
                    op,
                    Box::new(self.expr(&b.lhs_expr)),
                    Box::new(self.expr(&b.rhs_expr)),
                )
            }
            HExpr::ForExpr(f) => ExprKind::For(Box::new(ForExpr {
                key_var: f.intro.key_var.as_ref().map(|k| k.as_str().to_string()),
                val_var: f.intro.value_var.as_str().to_string(),
                coll: self.expr(&f.intro.collection_expr),
                key_expr: f.key_expr.as_ref().map(|k| self.expr(k)),
                val_expr: self.expr(&f.value_expr),
                cond: f.cond.as_ref().map(|c| self.expr(&c.expr)),
                grouping: f.grouping,
            })),
        }
    }

    fn template(&mut self, t: &Template) -> Vec<Part> {
        if self.depth >= MAX_EXPR_DEPTH {
            return Vec::new();
        }
        self.depth += 1;
        let mut parts: Vec<Part> = Vec::new();
        let mut strip_next = false;
        for el in t.iter() {
            match el {
                Element::Literal(s) => {
                    let mut text: &str = s.value();
                    if strip_next {
                        text = text.trim_start();
                    }
                    parts.push(Part::Lit(text.to_string()));
                    strip_next = false;
                }
                Element::Interpolation(i) => {
                    if i.strip.strip_start() {
                        strip_prev(&mut parts);
                    }
                    parts.push(Part::Interp(self.expr(&i.expr)));
                    strip_next = i.strip.strip_end();
                }
                Element::Directive(d) => match &**d {
                    Directive::If(d) => {
                        if d.if_expr.strip.strip_start() {
                            strip_prev(&mut parts);
                        }
                        let cond = self.expr(&d.if_expr.cond_expr);
                        let then = self.template(&d.if_expr.template);
                        let otherwise = d
                            .else_expr
                            .as_ref()
                            .map(|e| self.template(&e.template))
                            .unwrap_or_default();
                        parts.push(Part::If {
                            cond,
                            then,
                            otherwise,
                        });
                        strip_next = d.endif_expr.strip.strip_end();
                    }
                    Directive::For(d) => {
                        if d.for_expr.strip.strip_start() {
                            strip_prev(&mut parts);
                        }
                        let coll = self.expr(&d.for_expr.collection_expr);
                        let body = self.template(&d.for_expr.template);
                        parts.push(Part::For {
                            key_var: d.for_expr.key_var.as_ref().map(|k| k.as_str().to_string()),
                            val_var: d.for_expr.value_var.as_str().to_string(),
                            coll,
                            body,
                        });
                        strip_next = d.endfor_expr.strip.strip_end();
                    }
                },
            }
        }
        self.depth -= 1;
        parts
    }
}

fn strip_prev(parts: &mut [Part]) {
    if let Some(Part::Lit(s)) = parts.last_mut() {
        let t = s.trim_end().len();
        s.truncate(t);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nesting_guards_measure_brackets_and_negation_runs() {
        assert_eq!(bracket_depth(""), 0);
        assert_eq!(bracket_depth("a = [{ b = (1) }]"), 3);
        // A stray closer does not go below zero and hide later nesting.
        assert_eq!(bracket_depth(")))]]} x = [[1]]"), 2);
        assert_eq!(bracket_depth("{ { } { { } } }"), 3);
        assert_eq!(prefix_run("a = 1"), 0);
        assert_eq!(prefix_run("x = !a"), 1);
        assert_eq!(prefix_run("x = ! !\t!!a && !!b"), 4);
        // A line break or any other character ends a run.
        assert_eq!(prefix_run("!!\n!!!"), 3);
        assert_eq!(prefix_run("!!a!!"), 2);
        assert_eq!(prefix_run("!"), 1);
        assert_eq!(prefix_run("x !  "), 1);
    }

    #[test]
    fn lowers_blocks_with_header_spans() {
        let text = "resource \"azurerm_x\" \"y\" {\n  a = 1\n  b { c = \"d\" }\n}\n";
        let (body, diags) = parse_hcl(FileId(0), text);
        assert!(diags.is_empty());
        let b = &body.blocks[0];
        assert_eq!(&text[b.header.range()], "resource \"azurerm_x\" \"y\"");
        assert_eq!(b.labels, vec!["azurerm_x", "y"]);
        assert_eq!(b.body.attrs[0].name, "a");
        assert_eq!(&text[b.body.attrs[0].expr.span.range()], "1");
        assert_eq!(b.body.blocks[0].kind, "b");
    }

    #[test]
    fn syntax_error_has_position() {
        let text = "resource \"a\" \"b\" {\n  x = \n}\n";
        let (_, diags) = parse_hcl(FileId(0), text);
        assert_eq!(diags.len(), 1);
        assert!(diags[0].message.contains("syntax error"));
    }

    #[test]
    fn deep_nesting_is_refused() {
        let text = format!("a = {}1{}", "[".repeat(10_000), "]".repeat(10_000));
        let (_, diags) = parse_hcl(FileId(0), &text);
        assert!(diags[0].message.contains("nesting too deep"));
        let text = format!("a = {}true", "!".repeat(10_000));
        let (_, diags) = parse_hcl(FileId(0), &text);
        assert!(diags[0].message.contains("nesting too deep"));
    }
}
