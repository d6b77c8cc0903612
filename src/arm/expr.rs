//! ARM template expressions (parse stage): the `"[concat('a', parameters('b'))]"` language.
//!
//! A JSON string is an expression when it starts with `[` and ends with `]`; a string that
//! starts with `[[` is a literal whose first `[` is an escape (see [`is_expression`] and
//! [`unescape_literal`]). The grammar is small:
//!
//! ```text
//! expr    := primary postfix*
//! primary := string | integer | name '(' args ')' | ns '.' name '(' args ')' | true | false | null
//! postfix := '.' name | '[' expr ']'
//! string  := "'" ( any char but "'" | "''" )* "'"
//! integer := '-'? digit+
//! ```
//!
//! The parser is hand-written and total: every input gives an [`Expr`] or an [`ExprError`]
//! with the byte offset of the problem; nesting is capped at [`MAX_DEPTH`] so hostile input
//! cannot overflow the stack. Offsets are into the string given to [`parse`] (the JSON
//! string's content, outer brackets included), so the caller maps them to file positions by
//! adding the offset of the string's first content byte (after unescaping JSON, which the
//! caller accounts for).

use std::borrow::Cow;
use std::fmt;

/// Deepest nesting of calls, member accesses and indexes accepted by [`parse`].
pub const MAX_DEPTH: u32 = 256;

/// True for `"[...]"` but not for the escaped literal `"[[...]"`.
pub fn is_expression(s: &str) -> bool {
    s.len() >= 2 && s.starts_with('[') && s.ends_with(']') && !s.starts_with("[[")
}

/// The value of a string that is not an expression: `"[[x]"` is the literal `"[x]"`.
///
/// The ARM docs define the escape only for strings that would otherwise be expressions
/// (start with `[` and end with `]`), so `"[[x"` is left as written.
pub fn unescape_literal(s: &str) -> Cow<'_, str> {
    if s.starts_with("[[") && s.ends_with(']') {
        Cow::Borrowed(&s[1..])
    } else {
        Cow::Borrowed(s)
    }
}

/// A syntax error: where (byte offset into the parsed string) and what was expected.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExprError {
    pub offset: u32,
    pub message: String,
}

impl fmt::Display for ExprError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (at offset {})", self.message, self.offset)
    }
}

impl std::error::Error for ExprError {}

/// A node of the expression tree with its byte range in the parsed string.
#[derive(Clone, Debug, PartialEq)]
pub struct Expr {
    pub kind: ExprKind,
    pub start: u32,
    pub end: u32,
}

#[derive(Clone, Debug, PartialEq)]
pub enum ExprKind {
    /// A string literal, `''` already unescaped.
    String(String),
    Int(i64),
    /// Bare `true`/`false` (newer ARM); `true()` is a [`ExprKind::Call`].
    Bool(bool),
    /// Bare `null`; `null()` is a [`ExprKind::Call`].
    Null,
    /// `name(args)` or `namespace.name(args)` (a user-defined function). `name` is as written;
    /// function names are case-insensitive, so compare with `eq_ignore_ascii_case`.
    Call {
        namespace: Option<String>,
        name: String,
        args: Vec<Expr>,
    },
    /// `expr.name`
    Member(Box<Expr>, String),
    /// `expr[index]`
    Index(Box<Expr>, Box<Expr>),
}

impl Expr {
    /// For a call, the offset of its name (what an "unknown function" error points at).
    pub fn name_offset(&self) -> u32 {
        match &self.kind {
            ExprKind::Call {
                namespace: Some(ns),
                ..
            } => self.start + ns.len() as u32 + 1,
            _ => self.start,
        }
    }
}

/// Parses a whole expression string, outer `[` `]` included (`"[concat('a', 'b')]"`).
pub fn parse(src: &str) -> Result<Expr, ExprError> {
    if src.len() > u32::MAX as usize / 2 {
        return Err(ExprError {
            offset: 0,
            message: "expression too long".into(),
        });
    }
    if !src.starts_with('[') {
        return Err(err(0, "expected '[' at the start of an expression"));
    }
    if src.len() < 2 || !src.ends_with(']') {
        return Err(err(src.len(), "expected ']' at the end of the expression"));
    }
    let mut p = Parser {
        src,
        bytes: src.as_bytes(),
        pos: 1,
        end: src.len() - 1,
        depth: 0,
    };
    p.skip_ws();
    if p.pos == p.end {
        return Err(err(
            p.pos,
            "empty expression: expected a function call or a literal",
        ));
    }
    let e = p.expr()?;
    p.skip_ws();
    if p.pos != p.end {
        return Err(err(
            p.pos,
            format!(
                "unexpected {} after the expression; expected ']' to end it",
                p.describe_here()
            ),
        ));
    }
    Ok(e)
}

fn err(offset: usize, message: impl Into<String>) -> ExprError {
    ExprError {
        offset: offset as u32,
        message: message.into(),
    }
}

struct Parser<'a> {
    src: &'a str,
    bytes: &'a [u8],
    pos: usize,
    /// Offset of the outer closing `]`: the parser never reads at or past it.
    end: usize,
    depth: u32,
}

fn is_ident_start(b: u8) -> bool {
    b.is_ascii_alphabetic() || b == b'_' || b == b'$'
}

fn is_ident_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'$'
}

impl<'a> Parser<'a> {
    fn peek(&self) -> Option<u8> {
        if self.pos < self.end {
            Some(self.bytes[self.pos])
        } else {
            None
        }
    }

    fn skip_ws(&mut self) {
        while let Some(b) = self.peek() {
            if b.is_ascii_whitespace() {
                self.pos += 1;
            } else {
                break;
            }
        }
    }

    /// What is at the current position, for messages: `'x'` or "end of expression".
    fn describe_here(&self) -> String {
        match self
            .src
            .get(self.pos..self.end)
            .and_then(|s| s.chars().next())
        {
            Some(c) => format!("'{c}'"),
            None => "end of expression".into(),
        }
    }

    fn ident(&mut self) -> Option<&'a str> {
        let start = self.pos;
        match self.peek() {
            Some(b) if is_ident_start(b) => self.pos += 1,
            _ => return None,
        }
        while matches!(self.peek(), Some(b) if is_ident_char(b)) {
            self.pos += 1;
        }
        Some(&self.src[start..self.pos])
    }

    fn expr(&mut self) -> Result<Expr, ExprError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(err(
                self.pos,
                format!("expression nested too deeply (more than {MAX_DEPTH} levels)"),
            ));
        }
        let mut e = self.primary()?;
        loop {
            self.skip_ws();
            match self.peek() {
                Some(b'.') => {
                    self.pos += 1;
                    self.skip_ws();
                    let Some(name) = self.ident() else {
                        return Err(err(
                            self.pos,
                            format!(
                                "expected a property name after '.', found {}",
                                self.describe_here()
                            ),
                        ));
                    };
                    let start = e.start;
                    e = Expr {
                        kind: ExprKind::Member(Box::new(e), name.to_string()),
                        start,
                        end: self.pos as u32,
                    };
                }
                Some(b'[') => {
                    let open = self.pos;
                    self.pos += 1;
                    self.skip_ws();
                    if self.peek() == Some(b']') {
                        return Err(err(self.pos, "expected an index expression inside '[ ]'"));
                    }
                    let index = self.expr()?;
                    self.skip_ws();
                    if self.peek() != Some(b']') {
                        return Err(err(
                            self.pos,
                            format!(
                                "expected ']' to close the index opened at offset {open}, found {}",
                                self.describe_here()
                            ),
                        ));
                    }
                    self.pos += 1;
                    let start = e.start;
                    e = Expr {
                        kind: ExprKind::Index(Box::new(e), Box::new(index)),
                        start,
                        end: self.pos as u32,
                    };
                }
                _ => break,
            }
        }
        self.depth -= 1;
        Ok(e)
    }

    fn primary(&mut self) -> Result<Expr, ExprError> {
        let start = self.pos;
        match self.peek() {
            None => Err(err(
                self.pos,
                "unexpected end of expression: expected a function call or a literal",
            )),
            Some(b'\'') => self.string(),
            Some(b) if b == b'-' || b.is_ascii_digit() => self.int(),
            Some(b) if is_ident_start(b) => {
                let name = self.ident().unwrap_or_default();
                let after_name = self.pos;
                self.skip_ws();
                match self.peek() {
                    Some(b'(') => self.call(start, None, name),
                    Some(b'.') => {
                        // `ns.fn(...)`: a user-defined function. Anything else after a bare
                        // name and a dot is not valid (`true.x`, `foo.bar`).
                        self.pos += 1;
                        self.skip_ws();
                        let fn_start = self.pos;
                        let Some(fname) = self.ident() else {
                            return Err(err(
                                self.pos,
                                format!(
                                    "expected a function name after '{name}.', found {}",
                                    self.describe_here()
                                ),
                            ));
                        };
                        self.skip_ws();
                        if self.peek() == Some(b'(') {
                            self.call(start, Some(name), fname)
                        } else {
                            Err(err(
                                fn_start,
                                format!("expected '(' after the function name '{name}.{fname}'"),
                            ))
                        }
                    }
                    _ => {
                        let kind = if name.eq_ignore_ascii_case("true") {
                            ExprKind::Bool(true)
                        } else if name.eq_ignore_ascii_case("false") {
                            ExprKind::Bool(false)
                        } else if name.eq_ignore_ascii_case("null") {
                            ExprKind::Null
                        } else {
                            return Err(err(
                                after_name,
                                format!("expected '(' after the function name '{name}'"),
                            ));
                        };
                        self.pos = after_name;
                        Ok(Expr {
                            kind,
                            start: start as u32,
                            end: after_name as u32,
                        })
                    }
                }
            }
            Some(_) => Err(err(
                start,
                format!(
                    "unexpected {}: expected a function call, a 'string' or an integer",
                    self.describe_here()
                ),
            )),
        }
    }

    /// At `(` after a function name.
    fn call(&mut self, start: usize, ns: Option<&str>, name: &str) -> Result<Expr, ExprError> {
        let open = self.pos;
        self.pos += 1;
        let mut args = Vec::new();
        self.skip_ws();
        if self.peek() == Some(b')') {
            self.pos += 1;
        } else {
            loop {
                if self.peek().is_none() {
                    break;
                }
                args.push(self.expr()?);
                self.skip_ws();
                match self.peek() {
                    Some(b',') => {
                        self.pos += 1;
                        self.skip_ws();
                    }
                    Some(b')') => {
                        self.pos += 1;
                        return Ok(self.finish_call(start, ns, name, args));
                    }
                    _ => break,
                }
            }
            return Err(err(
                self.pos,
                format!(
                    "expected ',' or ')' in the call to '{name}' opened at offset {open}, found {}",
                    self.describe_here()
                ),
            ));
        }
        Ok(self.finish_call(start, ns, name, args))
    }

    fn finish_call(&self, start: usize, ns: Option<&str>, name: &str, args: Vec<Expr>) -> Expr {
        Expr {
            kind: ExprKind::Call {
                namespace: ns.map(str::to_string),
                name: name.to_string(),
                args,
            },
            start: start as u32,
            end: self.pos as u32,
        }
    }

    fn string(&mut self) -> Result<Expr, ExprError> {
        let start = self.pos;
        self.pos += 1;
        let mut out = String::new();
        let mut chunk = self.pos;
        loop {
            // Search for the next quote; `''` is an escaped quote.
            match self.bytes[self.pos..self.end].iter().position(|&b| b == b'\'') {
                None => {
                    return Err(err(
                        start,
                        "unterminated string literal: expected a closing ' (write '' for a quote inside a string)",
                    ))
                }
                Some(i) => {
                    let q = self.pos + i;
                    if q + 1 < self.end && self.bytes[q + 1] == b'\'' {
                        out.push_str(&self.src[chunk..=q]);
                        self.pos = q + 2;
                        chunk = self.pos;
                    } else {
                        out.push_str(&self.src[chunk..q]);
                        self.pos = q + 1;
                        return Ok(Expr {
                            kind: ExprKind::String(out),
                            start: start as u32,
                            end: self.pos as u32,
                        });
                    }
                }
            }
        }
    }

    fn int(&mut self) -> Result<Expr, ExprError> {
        let start = self.pos;
        if self.peek() == Some(b'-') {
            self.pos += 1;
        }
        let digits = self.pos;
        while matches!(self.peek(), Some(b) if b.is_ascii_digit()) {
            self.pos += 1;
        }
        if self.pos == digits {
            return Err(err(
                self.pos,
                format!("expected digits after '-', found {}", self.describe_here()),
            ));
        }
        if matches!(self.peek(), Some(b) if is_ident_char(b)) {
            return Err(err(
                self.pos,
                format!("unexpected {} in an integer literal", self.describe_here()),
            ));
        }
        match self.src[start..self.pos].parse::<i64>() {
            Ok(n) => Ok(Expr {
                kind: ExprKind::Int(n),
                start: start as u32,
                end: self.pos as u32,
            }),
            Err(_) => Err(err(start, "integer literal out of range (64-bit)")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(name: &str, args: Vec<ExprKind>) -> ExprKind {
        ExprKind::Call {
            namespace: None,
            name: name.into(),
            args: args
                .into_iter()
                .map(|kind| Expr {
                    kind,
                    start: 0,
                    end: 0,
                })
                .collect(),
        }
    }

    /// Drops offsets so trees can be compared structurally.
    fn strip(e: &Expr) -> ExprKind {
        match &e.kind {
            ExprKind::Call {
                namespace,
                name,
                args,
            } => ExprKind::Call {
                namespace: namespace.clone(),
                name: name.clone(),
                args: args
                    .iter()
                    .map(|a| Expr {
                        kind: strip(a),
                        start: 0,
                        end: 0,
                    })
                    .collect(),
            },
            ExprKind::Member(b, n) => ExprKind::Member(
                Box::new(Expr {
                    kind: strip(b),
                    start: 0,
                    end: 0,
                }),
                n.clone(),
            ),
            ExprKind::Index(b, i) => ExprKind::Index(
                Box::new(Expr {
                    kind: strip(b),
                    start: 0,
                    end: 0,
                }),
                Box::new(Expr {
                    kind: strip(i),
                    start: 0,
                    end: 0,
                }),
            ),
            k => k.clone(),
        }
    }

    #[test]
    fn expression_detection_and_escape() {
        assert!(is_expression("[concat('a')]"));
        assert!(is_expression("[]"));
        assert!(!is_expression("[[concat('a')]"));
        assert!(!is_expression("["));
        assert!(!is_expression("plain"));
        assert!(!is_expression("[abc"));
        assert_eq!(unescape_literal("[[x]"), "[x]");
        assert_eq!(unescape_literal("[[x"), "[[x");
        assert_eq!(unescape_literal("plain"), "plain");
    }

    #[test]
    fn parses_calls_literals_and_postfix() {
        let e = parse("[concat('a', parameters('b'), -12)]").unwrap();
        assert_eq!(
            strip(&e),
            call(
                "concat",
                vec![
                    ExprKind::String("a".into()),
                    call("parameters", vec![ExprKind::String("b".into())]),
                    ExprKind::Int(-12)
                ]
            )
        );
        assert_eq!((e.start, e.end), (1, 34));

        let e = parse("[reference(variables('id'), '2020-01-01').outputs['x-y'].value]").unwrap();
        let ExprKind::Member(inner, name) = &e.kind else {
            panic!("{e:?}")
        };
        assert_eq!(name, "value");
        assert!(matches!(inner.kind, ExprKind::Index(..)));

        assert_eq!(strip(&parse("[ true ]").unwrap()), ExprKind::Bool(true));
        assert_eq!(strip(&parse("[False]").unwrap()), ExprKind::Bool(false));
        assert_eq!(strip(&parse("[null]").unwrap()), ExprKind::Null);
        assert_eq!(strip(&parse("[true()]").unwrap()), call("true", vec![]));
        assert_eq!(
            strip(&parse("['it''s']").unwrap()),
            ExprKind::String("it's".into())
        );
        assert_eq!(strip(&parse("['']").unwrap()), ExprKind::String("".into()));
        assert_eq!(
            strip(&parse("['a]b']").unwrap()),
            ExprKind::String("a]b".into())
        );
        let e = parse("[ variables ( 'x' ) [ 0 ] . name ]").unwrap();
        assert!(matches!(e.kind, ExprKind::Member(..)));
    }

    #[test]
    fn namespaced_user_function() {
        let e = parse("[contoso.uniqueName(parameters('p'))]").unwrap();
        let ExprKind::Call {
            namespace, name, ..
        } = &e.kind
        else {
            panic!()
        };
        assert_eq!(namespace.as_deref(), Some("contoso"));
        assert_eq!(name, "uniqueName");
        assert_eq!(e.name_offset(), 9);
    }

    #[test]
    fn errors_have_offsets_and_messages() {
        let e = parse("[concat('a]").unwrap_err();
        assert_eq!(e.offset, 8);
        assert!(e.message.contains("unterminated string"), "{e}");

        let e = parse("[concat('a'").unwrap_err();
        assert!(e.message.contains("expected ']'"), "{e}");

        let e = parse("[concat('a', 'b']").unwrap_err();
        assert_eq!(e.offset, 16);
        assert!(e.message.contains("expected ',' or ')'"), "{e}");

        let e = parse("[concat('a') x]").unwrap_err();
        assert_eq!(e.offset, 13);
        assert!(e.message.contains("after the expression"), "{e}");

        let e = parse("[]").unwrap_err();
        assert!(e.message.contains("empty expression"), "{e}");
        let e = parse("[   ]").unwrap_err();
        assert!(e.message.contains("empty expression"), "{e}");

        let e = parse("[foo]").unwrap_err();
        assert!(e.message.contains("expected '('"), "{e}");

        let e = parse("[concat(,)]").unwrap_err();
        assert_eq!(e.offset, 8);

        let e = parse("[a.]").unwrap_err();
        assert!(e.message.contains("function name"), "{e}");

        let e = parse("[x().]").unwrap_err();
        assert!(e.message.contains("property name"), "{e}");

        let e = parse("[99999999999999999999]").unwrap_err();
        assert!(e.message.contains("out of range"), "{e}");
        let e = parse("[1.5]").unwrap_err();
        assert!(e.message.contains("property name"), "{e}");
        let e = parse("[-]").unwrap_err();
        assert!(e.message.contains("digits"), "{e}");

        assert!(parse("").is_err());
        assert!(parse("[").is_err());
        assert!(parse("x]").is_err());
    }

    #[test]
    fn depth_is_capped() {
        let deep = format!("[{}1{}]", "f(".repeat(300), ")".repeat(300));
        let e = parse(&deep).unwrap_err();
        assert!(e.message.contains("nested too deeply"), "{e}");
        let ok = format!("[{}1{}]", "f(".repeat(200), ")".repeat(200));
        assert!(parse(&ok).is_ok());
        let deep_index = format!("[x(){}]", "[0]".repeat(300));
        // Postfix chains are iterative, so only nesting inside the brackets counts.
        assert!(parse(&deep_index).is_ok());
        let nested_index = format!("[x(){}0{}]", "[x()".repeat(300), "]".repeat(300));
        assert!(parse(&nested_index).is_err());
    }

    #[test]
    fn non_ascii_is_handled() {
        assert_eq!(
            strip(&parse("['héllo']").unwrap()),
            ExprKind::String("héllo".into())
        );
        let e = parse("[é]").unwrap_err();
        assert_eq!(e.offset, 1);
    }
}
