//! parser: tokens to a [`Program`], by recursive descent, with error recovery.
//!
//! The parser never fails: a construct it cannot read becomes an `Error` node, a
//! [`SyntaxError`] says what was expected and what was found, and parsing resumes at a
//! safe point (the next item separator, the closing bracket, or the next line at top level).
//! Recursion is capped at [`MAX_DEPTH`] so hostile input cannot overflow the stack.
//!
//! Newlines: at top level and directly inside `[...]` and `{...}` a newline ends a
//! statement or an item, so the parser sees [`TokenKind::NewLine`] tokens there; inside
//! `(...)`, `x[...]` and `${...}` newlines carry no meaning and are skipped (`skip_nl`).

use super::lexer::{decode_string, Token, TokenKind};
use super::syntax::*;
use super::SyntaxError;

/// Deepest nesting of expressions, types and objects the parser follows.
pub const MAX_DEPTH: u32 = 200;

/// The keywords that start a top-level statement.
const STATEMENT_KEYWORDS: &[&str] = &[
    "targetScope",
    "metadata",
    "param",
    "var",
    "resource",
    "module",
    "output",
    "type",
    "func",
    "import",
    "extension",
    "provider",
    "assert",
    "using",
];

pub(crate) struct Parser<'a> {
    text: &'a str,
    tokens: Vec<Token>,
    pos: usize,
    /// Whether newlines are insignificant here (inside parentheses or an interpolation).
    skip_nl: bool,
    depth: u32,
    /// End of the last consumed token: where a node that just finished ends.
    last_end: u32,
    errors: Vec<SyntaxError>,
}

type Binding = (BinaryOp, u8);

fn binary_op(kind: TokenKind) -> Option<Binding> {
    use TokenKind::*;
    // Bicep's precedence, loosest first: ?? || && equality relational additive multiplicative.
    Some(match kind {
        DoubleQuestion => (BinaryOp::Coalesce, 1),
        OrOr => (BinaryOp::Or, 2),
        AndAnd => (BinaryOp::And, 3),
        Eq => (BinaryOp::Eq, 4),
        NotEq => (BinaryOp::NotEq, 4),
        EqI => (BinaryOp::EqI, 4),
        NotEqI => (BinaryOp::NotEqI, 4),
        Lt => (BinaryOp::Lt, 5),
        Le => (BinaryOp::Le, 5),
        Gt => (BinaryOp::Gt, 5),
        Ge => (BinaryOp::Ge, 5),
        Plus => (BinaryOp::Add, 6),
        Minus => (BinaryOp::Sub, 6),
        Star => (BinaryOp::Mul, 7),
        Slash => (BinaryOp::Div, 7),
        Percent => (BinaryOp::Mod, 7),
        _ => return None,
    })
}

fn is_closer(kind: TokenKind) -> bool {
    matches!(
        kind,
        TokenKind::RBrace
            | TokenKind::RBracket
            | TokenKind::RParen
            | TokenKind::StringMiddle
            | TokenKind::StringRight
    )
}

fn is_opener(kind: TokenKind) -> bool {
    matches!(
        kind,
        TokenKind::LBrace | TokenKind::LBracket | TokenKind::LParen | TokenKind::StringLeft
    )
}

fn is_string_start(kind: TokenKind) -> bool {
    matches!(
        kind,
        TokenKind::String | TokenKind::StringLeft | TokenKind::MultilineString
    )
}

impl<'a> Parser<'a> {
    pub(crate) fn new(text: &'a str, tokens: Vec<Token>, errors: Vec<SyntaxError>) -> Self {
        Parser {
            text,
            tokens,
            pos: 0,
            skip_nl: false,
            depth: 0,
            last_end: 0,
            errors,
        }
    }

    pub(crate) fn finish(self) -> Vec<SyntaxError> {
        self.errors
    }

    // ---- token access -------------------------------------------------------------------

    fn raw(&self, i: usize) -> Token {
        self.tokens[i.min(self.tokens.len() - 1)]
    }

    /// The current token, after skipping newlines where they do not count.
    fn cur(&mut self) -> Token {
        if self.skip_nl {
            while self.tokens[self.pos].kind == TokenKind::NewLine {
                self.pos += 1;
            }
        }
        self.tokens[self.pos]
    }

    fn kind(&mut self) -> TokenKind {
        self.cur().kind
    }

    /// The `n`th significant token from here (0 = current), without consuming anything.
    fn nth(&self, n: usize) -> Token {
        let mut i = self.pos;
        let mut left = n;
        loop {
            let t = self.raw(i);
            if t.kind == TokenKind::Eof {
                return t;
            }
            if !(self.skip_nl && t.kind == TokenKind::NewLine) {
                if left == 0 {
                    return t;
                }
                left -= 1;
            }
            i += 1;
        }
    }

    fn bump(&mut self) -> Token {
        let t = self.cur();
        if t.kind != TokenKind::Eof {
            self.pos += 1;
            self.last_end = t.end;
        }
        t
    }

    fn eat(&mut self, kind: TokenKind) -> Option<Token> {
        if self.kind() == kind {
            Some(self.bump())
        } else {
            None
        }
    }

    fn tok_text(&self, t: Token) -> &'a str {
        &self.text[t.start as usize..t.end as usize]
    }

    fn is_word(&mut self, word: &str) -> bool {
        let t = self.cur();
        t.kind == TokenKind::Ident && self.tok_text(t) == word
    }

    fn skip_newlines(&mut self) {
        while self.tokens[self.pos].kind == TokenKind::NewLine {
            self.pos += 1;
        }
    }

    /// How an error message names a token: `identifier 'foo'`, `'}'`, `end of file`.
    fn describe(&self, t: Token) -> String {
        match t.kind {
            TokenKind::Ident => format!("identifier '{}'", self.tok_text(t)),
            TokenKind::Int => format!("integer {}", self.tok_text(t)),
            TokenKind::String | TokenKind::StringLeft | TokenKind::MultilineString => {
                "string".to_string()
            }
            other => other.describe().to_string(),
        }
    }

    fn error(&mut self, range: TextRange, message: String) {
        // One mistake often trips several expectations at the same spot; report the first.
        if self
            .errors
            .last()
            .is_some_and(|e| e.range.start == range.start)
        {
            return;
        }
        self.errors.push(SyntaxError { range, message });
    }

    fn expected(&mut self, what: &str) {
        let t = self.cur();
        let message = format!("expected {what}, found {}", self.describe(t));
        self.error(t.range(), message);
    }

    fn expect(&mut self, kind: TokenKind, what: &str) -> bool {
        if self.eat(kind).is_some() {
            true
        } else {
            self.expected(what);
            false
        }
    }

    fn here(&mut self) -> u32 {
        self.cur().start
    }

    fn range_from(&self, start: u32) -> TextRange {
        TextRange::new(start, self.last_end.max(start))
    }

    /// Whether the current token begins a line at column 0 with a top-level keyword followed
    /// by a name: where a statement surely starts, even if some bracket above is unclosed.
    fn at_toplevel_statement(&self, include_resource: bool) -> bool {
        let t = self.raw(self.pos);
        if t.kind != TokenKind::Ident || t.start == 0 {
            return false;
        }
        if self.text.as_bytes()[t.start as usize - 1] != b'\n' {
            return false;
        }
        let word = self.tok_text(t);
        if word == "resource" && !include_resource {
            return false;
        }
        let next = self.raw(self.pos + 1);
        STATEMENT_KEYWORDS.contains(&word)
            && (next.kind == TokenKind::Ident
                || (word == "targetScope" && next.kind == TokenKind::Assign))
    }

    /// Skips to a safe point: a newline (`at_newline`) or comma (`at_comma`) outside any
    /// bracket opened while skipping, or a closing bracket that belongs to an enclosing
    /// construct. Nothing at the stop is consumed.
    fn skip_until(&mut self, at_newline: bool, at_comma: bool) {
        let mut depth = 0u32;
        loop {
            let t = self.raw(self.pos);
            match t.kind {
                TokenKind::Eof => return,
                TokenKind::NewLine if depth == 0 && at_newline => return,
                TokenKind::NewLine if self.pos + 1 < self.tokens.len() => {
                    self.pos += 1;
                    if self.at_toplevel_statement(false) {
                        return;
                    }
                    continue;
                }
                TokenKind::Comma if depth == 0 && at_comma => return,
                k if is_closer(k) && depth == 0 => return,
                k if is_closer(k) => depth -= 1,
                k if is_opener(k) => depth += 1,
                _ => {}
            }
            self.pos += 1;
            self.last_end = t.end;
        }
    }

    /// After the depth cap: skips the rest of the too-deep construct, up to the closing
    /// bracket of the enclosing one.
    fn skip_too_deep(&mut self) {
        let t = self.cur();
        self.error(
            t.range(),
            format!(
                "nesting too deep: expected at most {MAX_DEPTH} nested levels, found more at {}",
                self.describe(t)
            ),
        );
        let mut depth = 0u32;
        loop {
            let t = self.raw(self.pos);
            match t.kind {
                TokenKind::Eof => return,
                k if is_closer(k) && depth == 0 => return,
                k if is_closer(k) => depth -= 1,
                k if is_opener(k) => depth += 1,
                _ => {}
            }
            self.pos += 1;
            self.last_end = t.end;
        }
    }

    fn enter(&mut self) -> bool {
        if self.depth >= MAX_DEPTH {
            self.skip_too_deep();
            return false;
        }
        self.depth += 1;
        true
    }

    fn leave(&mut self) {
        self.depth -= 1;
    }

    // ---- statements ---------------------------------------------------------------------

    pub(crate) fn program(&mut self) -> Program {
        let mut statements = Vec::new();
        loop {
            self.skip_newlines();
            if self.kind() == TokenKind::Eof {
                break;
            }
            let before = self.pos;
            let stmt = self.statement();
            statements.push(stmt);
            match self.kind() {
                TokenKind::NewLine | TokenKind::Eof => {}
                _ => {
                    self.expected("new line after the declaration");
                    self.skip_until(true, false);
                    // A stray closing bracket stops `skip_until`; at top level it is junk.
                    if is_closer(self.kind()) {
                        self.bump();
                        self.skip_until(true, false);
                    }
                }
            }
            if self.pos == before {
                self.bump();
            }
        }
        Program {
            statements,
            range: TextRange::new(0, self.text.len() as u32),
        }
    }

    fn decorators(&mut self) -> Vec<Decorator> {
        let mut out = Vec::new();
        while self.kind() == TokenKind::At {
            let at = self.bump();
            let mut namespace = None;
            let mut name = self.ident("decorator name");
            if self.kind() == TokenKind::Dot {
                self.bump();
                namespace = Some(name);
                name = self.ident("decorator name");
            }
            let args = if self.kind() == TokenKind::LParen {
                Some(self.call_args())
            } else {
                None
            };
            out.push(Decorator {
                namespace,
                name,
                args,
                range: self.range_from(at.start),
            });
            // Decorators usually sit on their own lines above their target.
            self.skip_newlines();
        }
        out
    }

    fn statement(&mut self) -> Statement {
        let start = self.here();
        let decorators = self.decorators();
        let t = self.cur();
        let word = if t.kind == TokenKind::Ident {
            self.tok_text(t)
        } else {
            ""
        };
        let kind = match word {
            "targetScope" => {
                self.bump();
                self.expect(TokenKind::Assign, "'='");
                StatementKind::TargetScope(self.expr())
            }
            "metadata" => {
                self.bump();
                let name = self.ident("metadata name");
                self.expect(TokenKind::Assign, "'='");
                StatementKind::Metadata(MetadataDecl {
                    name,
                    value: self.expr(),
                })
            }
            "param" => {
                self.bump();
                let name = self.ident("parameter name");
                let ty = if self.kind() == TokenKind::Assign {
                    None
                } else {
                    Some(self.type_expr())
                };
                let value = if self.eat(TokenKind::Assign).is_some() {
                    Some(self.expr())
                } else {
                    None
                };
                StatementKind::Param(ParamDecl { name, ty, value })
            }
            "var" => {
                self.bump();
                let name = self.ident("variable name");
                let ty = if self.kind() == TokenKind::Assign {
                    None
                } else {
                    Some(self.type_expr())
                };
                self.expect(TokenKind::Assign, "'='");
                StatementKind::Var(VarDecl {
                    name,
                    ty,
                    value: self.expr(),
                })
            }
            "resource" => StatementKind::Resource(self.resource_decl()),
            "module" => {
                self.bump();
                let name = self.ident("module name");
                let path = self.string_expr("module path string");
                self.expect(TokenKind::Assign, "'='");
                StatementKind::Module(ModuleDecl {
                    name,
                    path,
                    body: self.body_expr(),
                })
            }
            "output" => {
                self.bump();
                let name = self.ident("output name");
                let ty = self.type_expr();
                self.expect(TokenKind::Assign, "'='");
                StatementKind::Output(OutputDecl {
                    name,
                    ty,
                    value: self.expr(),
                })
            }
            "type" => {
                self.bump();
                let name = self.ident("type name");
                self.expect(TokenKind::Assign, "'='");
                StatementKind::Type(TypeDecl {
                    name,
                    value: self.type_expr(),
                })
            }
            "func" => {
                self.bump();
                StatementKind::Func(self.func_decl())
            }
            "import" => {
                self.bump();
                StatementKind::Import(self.import_decl())
            }
            "extension" | "provider" => {
                self.bump();
                let spec = if self.kind() == TokenKind::Ident {
                    self.primary()
                } else {
                    self.string_expr("extension name or reference string")
                };
                let (config, alias) = self.with_as();
                StatementKind::Extension(ExtensionDecl {
                    legacy_provider: word == "provider",
                    spec,
                    config,
                    alias,
                })
            }
            "assert" => {
                self.bump();
                let name = self.ident("assertion name");
                self.expect(TokenKind::Assign, "'='");
                StatementKind::Assert(AssertDecl {
                    name,
                    value: self.expr(),
                })
            }
            "using" => {
                self.bump();
                let path = if self.is_word("none") {
                    self.bump();
                    None
                } else {
                    Some(self.string_expr("template path string or 'none'"))
                };
                let config = if self.is_word("with") {
                    self.bump();
                    Some(self.expr())
                } else {
                    None
                };
                StatementKind::Using(UsingDecl { path, config })
            }
            _ => {
                if decorators.is_empty() {
                    self.expected(
                        "a declaration (param, var, resource, module, output, type, func, import, ...)",
                    );
                } else {
                    self.expected("a declaration after the decorators");
                }
                StatementKind::Error
            }
        };
        let keyword = if matches!(kind, StatementKind::Error) {
            TextRange::empty(t.start)
        } else {
            t.range()
        };
        Statement {
            decorators,
            keyword,
            kind,
            range: self.range_from(start),
        }
    }

    fn resource_decl(&mut self) -> ResourceDecl {
        self.bump();
        let name = self.ident("resource name");
        let type_string = self.string_expr("resource type string");
        let existing = if self.is_word("existing") {
            self.bump();
            true
        } else {
            false
        };
        self.expect(TokenKind::Assign, "'='");
        ResourceDecl {
            name,
            type_string,
            existing,
            body: self.body_expr(),
        }
    }

    fn func_decl(&mut self) -> FuncDecl {
        let name = self.ident("function name");
        let lambda_start = self.here();
        let mut params = Vec::new();
        if self.kind() == TokenKind::LParen {
            params = self.typed_params();
        } else {
            self.expected("'('");
        }
        let return_type = self.type_expr();
        self.expect(TokenKind::Arrow, "'=>'");
        let body = self.expr();
        FuncDecl {
            name,
            params,
            return_type,
            body,
            lambda_range: self.range_from(lambda_start),
        }
    }

    /// `(a type, b type)` of a function or typed lambda; types are optional here.
    fn typed_params(&mut self) -> Vec<TypedParam> {
        self.bump();
        let saved = std::mem::replace(&mut self.skip_nl, true);
        let mut params = Vec::new();
        loop {
            match self.kind() {
                TokenKind::RParen => {
                    self.bump();
                    break;
                }
                TokenKind::Ident => {
                    let name = self.ident("parameter name");
                    let ty = match self.kind() {
                        TokenKind::Comma | TokenKind::RParen => None,
                        _ => Some(self.type_expr()),
                    };
                    params.push(TypedParam {
                        range: self.range_from(name.range.start),
                        name,
                        ty,
                    });
                    match self.kind() {
                        TokenKind::Comma => {
                            self.bump();
                        }
                        TokenKind::RParen => {}
                        _ => {
                            self.expected("',' or ')'");
                            self.skip_until(false, true);
                            if self.eat(TokenKind::Comma).is_none() {
                                self.eat(TokenKind::RParen);
                                break;
                            }
                        }
                    }
                }
                _ => {
                    self.expected("parameter name or ')'");
                    self.skip_until(false, true);
                    if self.eat(TokenKind::Comma).is_none() {
                        self.eat(TokenKind::RParen);
                        break;
                    }
                }
            }
        }
        self.skip_nl = saved;
        params
    }

    fn import_decl(&mut self) -> ImportDecl {
        let items = match self.kind() {
            TokenKind::LBrace => ImportItems::Named(self.import_items()),
            TokenKind::Star => {
                self.bump();
                if self.is_word("as") {
                    self.bump();
                } else {
                    self.expected("'as'");
                }
                ImportItems::Wildcard(self.ident("namespace name"))
            }
            _ => ImportItems::Legacy,
        };
        if items == ImportItems::Legacy {
            let source = if self.kind() == TokenKind::Ident {
                self.primary()
            } else {
                self.string_expr("'{', '*' or a provider string")
            };
            let (config, alias) = self.with_as();
            return ImportDecl {
                items,
                source,
                config,
                alias,
            };
        }
        if self.is_word("from") {
            self.bump();
        } else {
            self.expected("'from'");
        }
        ImportDecl {
            items,
            source: self.string_expr("file path string"),
            config: None,
            alias: None,
        }
    }

    fn import_items(&mut self) -> Vec<ImportItem> {
        self.bump();
        let saved = std::mem::replace(&mut self.skip_nl, true);
        let mut items = Vec::new();
        loop {
            match self.kind() {
                TokenKind::RBrace => {
                    self.bump();
                    break;
                }
                TokenKind::Ident => {
                    let name = self.ident("name to import");
                    let alias = if self.is_word("as") {
                        self.bump();
                        Some(self.ident("alias"))
                    } else {
                        None
                    };
                    items.push(ImportItem {
                        range: self.range_from(name.range.start),
                        name,
                        alias,
                    });
                    if self.eat(TokenKind::Comma).is_none() && self.kind() != TokenKind::RBrace {
                        self.expected("',' or '}'");
                        self.skip_until(false, true);
                        if self.eat(TokenKind::Comma).is_none() {
                            self.eat(TokenKind::RBrace);
                            break;
                        }
                    }
                }
                _ => {
                    self.expected("name to import or '}'");
                    self.skip_until(false, true);
                    if self.eat(TokenKind::Comma).is_none() {
                        self.eat(TokenKind::RBrace);
                        break;
                    }
                }
            }
        }
        self.skip_nl = saved;
        items
    }

    /// The optional `with {config}` and `as alias` of an extension or legacy import.
    fn with_as(&mut self) -> (Option<Expr>, Option<Ident>) {
        let config = if self.is_word("with") {
            self.bump();
            Some(self.expr())
        } else {
            None
        };
        let alias = if self.is_word("as") {
            self.bump();
            Some(self.ident("alias"))
        } else {
            None
        };
        (config, alias)
    }

    fn ident(&mut self, what: &str) -> Ident {
        let t = self.cur();
        if t.kind == TokenKind::Ident {
            self.bump();
            Ident {
                name: self.tok_text(t).to_string(),
                range: t.range(),
            }
        } else {
            self.expected(what);
            Ident {
                name: String::new(),
                range: TextRange::empty(t.start),
            }
        }
    }

    fn error_expr(&mut self) -> Expr {
        let at = self.here();
        Expr {
            kind: ExprKind::Error,
            range: TextRange::empty(at),
        }
    }

    fn string_expr(&mut self, what: &str) -> Expr {
        if is_string_start(self.kind()) {
            self.primary()
        } else {
            self.expected(what);
            self.error_expr()
        }
    }

    /// A resource, module or loop body: an expression, or `if (condition) body`.
    fn body_expr(&mut self) -> Expr {
        if self.is_word("if") && self.nth(1).kind == TokenKind::LParen {
            if !self.enter() {
                return self.error_expr();
            }
            let start = self.bump().start;
            let condition = self.paren_inner();
            let body = self.expr();
            self.leave();
            return Expr {
                kind: ExprKind::If(Box::new(IfExpr { condition, body })),
                range: self.range_from(start),
            };
        }
        self.expr()
    }

    /// `( expr )`, returning the inner expression.
    fn paren_inner(&mut self) -> Expr {
        if self.kind() != TokenKind::LParen {
            self.expected("'('");
            return self.error_expr();
        }
        self.bump();
        let saved = std::mem::replace(&mut self.skip_nl, true);
        let inner = self.expr();
        if self.kind() != TokenKind::RParen {
            self.expected("')'");
            self.skip_until(false, false);
        }
        self.eat(TokenKind::RParen);
        self.skip_nl = saved;
        inner
    }

    // ---- expressions --------------------------------------------------------------------

    pub(crate) fn expr(&mut self) -> Expr {
        if !self.enter() {
            return self.error_expr();
        }
        let e = self.expr_inner();
        self.leave();
        e
    }

    fn expr_inner(&mut self) -> Expr {
        let t = self.cur();
        if t.kind == TokenKind::Ident && self.nth(1).kind == TokenKind::Arrow {
            let name = self.ident("parameter name");
            let param = TypedParam {
                range: name.range,
                name,
                ty: None,
            };
            return self.lambda_rest(t.start, vec![param]);
        }
        if t.kind == TokenKind::LParen && self.looks_like_lambda() {
            let params = self.typed_params();
            return self.lambda_rest(t.start, params);
        }
        let condition = self.binary(0);
        if self.kind() != TokenKind::Question {
            return condition;
        }
        self.bump();
        let then = self.expr();
        let otherwise = if self.expect(TokenKind::Colon, "':' of the conditional expression") {
            self.expr()
        } else {
            self.error_expr()
        };
        Expr {
            range: self.range_from(t.start),
            kind: ExprKind::Ternary(Box::new(Ternary {
                condition,
                then,
                otherwise,
            })),
        }
    }

    fn lambda_rest(&mut self, start: u32, params: Vec<TypedParam>) -> Expr {
        self.expect(TokenKind::Arrow, "'=>'");
        let body = self.expr();
        Expr {
            kind: ExprKind::Lambda(Box::new(Lambda { params, body })),
            range: self.range_from(start),
        }
    }

    /// At `(`: whether a lambda's parameter list follows (`(a, b) =>`, `() =>`,
    /// `(a string) =>`) rather than a parenthesized expression. Looks only at the few tokens
    /// a parameter list can hold, so the scan stays short.
    fn looks_like_lambda(&self) -> bool {
        let mut i = self.pos + 1;
        loop {
            let t = self.raw(i);
            match t.kind {
                TokenKind::RParen => {
                    let mut j = i + 1;
                    while self.raw(j).kind == TokenKind::NewLine && self.skip_nl {
                        j += 1;
                    }
                    return self.raw(j).kind == TokenKind::Arrow;
                }
                TokenKind::Ident
                | TokenKind::Comma
                | TokenKind::NewLine
                | TokenKind::Question
                | TokenKind::LBracket
                | TokenKind::RBracket
                | TokenKind::Dot => i += 1,
                _ => return false,
            }
        }
    }

    fn binary(&mut self, min_prec: u8) -> Expr {
        let mut lhs = self.unary();
        let mut links = 0u32;
        loop {
            let t = self.cur();
            let Some((op, prec)) = binary_op(t.kind) else {
                break;
            };
            if prec < min_prec {
                break;
            }
            // Each link nests the left side one level deeper; count it against the cap.
            if !self.enter() {
                break;
            }
            links += 1;
            self.bump();
            let rhs = self.binary(prec + 1);
            lhs = Expr {
                range: TextRange::new(lhs.range.start, self.last_end),
                kind: ExprKind::Binary(Box::new(Binary {
                    op,
                    op_range: t.range(),
                    lhs,
                    rhs,
                })),
            };
        }
        self.depth -= links;
        lhs
    }

    fn unary(&mut self) -> Expr {
        let t = self.cur();
        let op = match t.kind {
            TokenKind::Bang => UnaryOp::Not,
            TokenKind::Minus => UnaryOp::Neg,
            _ => return self.postfix(),
        };
        if !self.enter() {
            return self.error_expr();
        }
        self.bump();
        let operand = self.unary();
        self.leave();
        Expr {
            kind: ExprKind::Unary(op, Box::new(operand)),
            range: self.range_from(t.start),
        }
    }

    fn postfix(&mut self) -> Expr {
        let mut e = self.primary();
        let start = e.range.start;
        let mut links = 0u32;
        loop {
            let kind = self.kind();
            if !matches!(
                kind,
                TokenKind::Dot | TokenKind::LBracket | TokenKind::DoubleColon | TokenKind::Bang
            ) {
                break;
            }
            if !self.enter() {
                break;
            }
            links += 1;
            self.bump();
            let new_kind = match kind {
                TokenKind::Dot => {
                    let safe = self.eat(TokenKind::Question).is_some();
                    let name = self.ident("property name");
                    if !safe && self.kind() == TokenKind::LParen {
                        let args = self.call_args();
                        ExprKind::Call(Box::new(Call {
                            target: Some(e),
                            name,
                            args,
                        }))
                    } else {
                        ExprKind::Property(Box::new(PropertyAccess {
                            base: e,
                            name,
                            safe,
                        }))
                    }
                }
                TokenKind::LBracket => {
                    let saved = std::mem::replace(&mut self.skip_nl, true);
                    let safe = self.eat(TokenKind::Question).is_some();
                    let index = self.expr();
                    if self.kind() != TokenKind::RBracket {
                        self.expected("']'");
                        self.skip_until(false, false);
                    }
                    self.eat(TokenKind::RBracket);
                    self.skip_nl = saved;
                    ExprKind::Index(Box::new(IndexAccess {
                        base: e,
                        index,
                        safe,
                    }))
                }
                TokenKind::DoubleColon => {
                    let name = self.ident("nested resource name");
                    ExprKind::ResourceAccess(Box::new(ResourceAccess { base: e, name }))
                }
                _ => ExprKind::NonNull(Box::new(e)),
            };
            e = Expr {
                kind: new_kind,
                range: self.range_from(start),
            };
        }
        self.depth -= links;
        e
    }

    /// `(a, b, ...)`: call arguments, newlines allowed anywhere.
    fn call_args(&mut self) -> Vec<Expr> {
        self.bump();
        let saved = std::mem::replace(&mut self.skip_nl, true);
        let mut args = Vec::new();
        loop {
            match self.kind() {
                TokenKind::RParen => {
                    self.bump();
                    break;
                }
                TokenKind::Eof => {
                    self.expected("')'");
                    break;
                }
                k if is_closer(k) => {
                    self.expected("')'");
                    break;
                }
                _ => {}
            }
            args.push(self.expr());
            match self.kind() {
                TokenKind::Comma => {
                    self.bump();
                }
                TokenKind::RParen => {}
                _ => {
                    self.expected("',' or ')'");
                    self.skip_until(false, true);
                    if self.eat(TokenKind::Comma).is_none() {
                        self.eat(TokenKind::RParen);
                        break;
                    }
                }
            }
        }
        self.skip_nl = saved;
        args
    }

    fn primary(&mut self) -> Expr {
        let t = self.cur();
        let kind = match t.kind {
            TokenKind::Int => {
                self.bump();
                match self.tok_text(t).parse::<u64>() {
                    Ok(v) => ExprKind::Int(v),
                    Err(_) => {
                        self.error(
                            t.range(),
                            "integer too large: expected at most 18446744073709551615".into(),
                        );
                        ExprKind::Error
                    }
                }
            }
            TokenKind::String | TokenKind::StringLeft | TokenKind::MultilineString => {
                ExprKind::String(self.string_lit())
            }
            TokenKind::Ident => {
                let name = self.ident("name");
                match name.name.as_str() {
                    "true" => ExprKind::Bool(true),
                    "false" => ExprKind::Bool(false),
                    "null" => ExprKind::Null,
                    _ if self.kind() == TokenKind::LParen => {
                        let args = self.call_args();
                        ExprKind::Call(Box::new(Call {
                            target: None,
                            name,
                            args,
                        }))
                    }
                    _ => ExprKind::Ident(name),
                }
            }
            TokenKind::LBracket => return self.array(),
            TokenKind::LBrace => return self.object(),
            TokenKind::LParen => {
                if !self.enter() {
                    return self.error_expr();
                }
                let inner = self.paren_inner();
                self.leave();
                ExprKind::Paren(Box::new(inner))
            }
            _ => {
                self.expected("expression");
                return self.error_expr();
            }
        };
        Expr {
            kind,
            range: self.range_from(t.start),
        }
    }

    /// A string token sequence: `'text'`, `'''text'''`, or `'a${x}b${y}c'`.
    fn string_lit(&mut self) -> StringLit {
        let first = self.bump();
        let mut parts = Vec::new();
        let text = self.text;
        let push_text = |parts: &mut Vec<StringPart>, t: &Token| {
            let value = decode_string(text, t);
            if !value.is_empty() {
                parts.push(StringPart::Text {
                    value,
                    range: t.range(),
                });
            }
        };
        push_text(&mut parts, &first);
        match first.kind {
            TokenKind::MultilineString => {
                return StringLit {
                    parts,
                    multiline: true,
                }
            }
            TokenKind::String => {
                return StringLit {
                    parts,
                    multiline: false,
                }
            }
            _ => {}
        }
        let saved = std::mem::replace(&mut self.skip_nl, true);
        loop {
            let e = self.expr();
            parts.push(StringPart::Interpolation(e));
            // The lexer ends every interpolation on its line (with an empty, unterminated
            // string end if need be), so no newline can hide between here and the `}`.
            let t = self.cur();
            match t.kind {
                TokenKind::StringMiddle => {
                    self.bump();
                    push_text(&mut parts, &t);
                }
                TokenKind::StringRight => {
                    self.bump();
                    push_text(&mut parts, &t);
                    break;
                }
                _ => {
                    self.expected("'}' to end the interpolation");
                    self.skip_string_rest();
                    break;
                }
            }
        }
        self.skip_nl = saved;
        StringLit {
            parts,
            multiline: false,
        }
    }

    /// After a broken interpolation: skips to the string's end on this line, if any.
    fn skip_string_rest(&mut self) {
        let mut depth = 0u32;
        loop {
            let t = self.raw(self.pos);
            match t.kind {
                TokenKind::Eof | TokenKind::NewLine => return,
                TokenKind::StringRight if depth == 0 => {
                    self.bump();
                    return;
                }
                TokenKind::StringLeft => depth += 1,
                TokenKind::StringRight => depth -= 1,
                k if is_closer(k) && depth == 0 => return,
                _ => {}
            }
            self.pos += 1;
            self.last_end = t.end;
        }
    }

    fn array(&mut self) -> Expr {
        if !self.enter() {
            return self.error_expr();
        }
        let open = self.bump();
        let saved = std::mem::replace(&mut self.skip_nl, false);
        let e = if self.for_follows() {
            self.for_expr(open.start)
        } else {
            self.array_items(open.start)
        };
        self.skip_nl = saved;
        self.leave();
        e
    }

    /// After `[`: whether `for` starts a loop (`for x in`, `for (x, i) in`).
    fn for_follows(&self) -> bool {
        let mut i = self.pos;
        while self.raw(i).kind == TokenKind::NewLine {
            i += 1;
        }
        let t = self.raw(i);
        t.kind == TokenKind::Ident
            && self.tok_text(t) == "for"
            && matches!(self.raw(i + 1).kind, TokenKind::Ident | TokenKind::LParen)
    }

    fn for_expr(&mut self, start: u32) -> Expr {
        self.skip_newlines();
        self.bump();
        let (item, index) = if self.kind() == TokenKind::LParen {
            self.bump();
            let saved = std::mem::replace(&mut self.skip_nl, true);
            let item = self.ident("loop item name");
            let index = if self.eat(TokenKind::Comma).is_some() {
                Some(self.ident("loop index name"))
            } else {
                None
            };
            self.expect(TokenKind::RParen, "')'");
            self.skip_nl = saved;
            (item, index)
        } else {
            (self.ident("loop item name"), None)
        };
        let iterable = if self.is_word("in") {
            self.bump();
            self.expr()
        } else {
            self.expected("'in'");
            self.error_expr()
        };
        let body = if self.expect(TokenKind::Colon, "':'") {
            self.body_expr()
        } else {
            self.error_expr()
        };
        self.skip_newlines();
        if self.kind() != TokenKind::RBracket {
            self.expected("']' to end the loop");
            self.skip_until(false, false);
        }
        self.eat(TokenKind::RBracket);
        Expr {
            kind: ExprKind::For(Box::new(ForExpr {
                item,
                index,
                iterable,
                body,
            })),
            range: self.range_from(start),
        }
    }

    fn array_items(&mut self, start: u32) -> Expr {
        let mut items = Vec::new();
        loop {
            self.skip_newlines();
            let t = self.cur();
            match t.kind {
                TokenKind::RBracket => {
                    self.bump();
                    break;
                }
                TokenKind::Eof => {
                    self.expected("']'");
                    break;
                }
                k if is_closer(k) => {
                    self.expected("']'");
                    break;
                }
                TokenKind::Comma => {
                    self.expected("expression or ']'");
                    self.bump();
                    continue;
                }
                TokenKind::Ellipsis => {
                    self.bump();
                    let value = self.expr();
                    items.push(ArrayItem::Spread(Spread {
                        value,
                        range: self.range_from(t.start),
                    }));
                }
                _ if self.at_toplevel_statement(true) => {
                    self.expected("']'");
                    break;
                }
                _ => items.push(ArrayItem::Value(self.expr())),
            }
            if !self.item_separator(TokenKind::RBracket, "',', new line or ']'") {
                break;
            }
        }
        Expr {
            kind: ExprKind::Array(items),
            range: self.range_from(start),
        }
    }

    /// After an array or object item: a comma, a newline, or the closer must follow.
    /// Returns false when the list cannot go on.
    fn item_separator(&mut self, closer: TokenKind, what: &str) -> bool {
        match self.kind() {
            TokenKind::Comma => {
                self.bump();
                true
            }
            TokenKind::NewLine => true,
            k if k == closer => true,
            TokenKind::Eof => true,
            _ => {
                self.expected(what);
                self.skip_until(true, true);
                self.eat(TokenKind::Comma);
                true
            }
        }
    }

    fn object(&mut self) -> Expr {
        if !self.enter() {
            return self.error_expr();
        }
        let open = self.bump();
        let saved = std::mem::replace(&mut self.skip_nl, false);
        let mut items = Vec::new();
        loop {
            self.skip_newlines();
            let t = self.cur();
            match t.kind {
                TokenKind::RBrace => {
                    self.bump();
                    break;
                }
                TokenKind::Eof => {
                    self.expected("'}'");
                    break;
                }
                k if is_closer(k) => {
                    self.expected("'}'");
                    break;
                }
                TokenKind::Comma => {
                    self.expected("property name or '}'");
                    self.bump();
                    continue;
                }
                TokenKind::Ellipsis => {
                    self.bump();
                    let value = self.expr();
                    items.push(ObjectItem::Spread(Spread {
                        value,
                        range: self.range_from(t.start),
                    }));
                }
                TokenKind::At => items.push(self.nested_resource()),
                TokenKind::Ident
                    if self.tok_text(t) == "resource" && self.nth(1).kind == TokenKind::Ident =>
                {
                    items.push(self.nested_resource());
                }
                _ if self.at_toplevel_statement(false) => {
                    self.expected("'}'");
                    break;
                }
                TokenKind::Ident | TokenKind::String | TokenKind::StringLeft => {
                    let key = self.property_key();
                    if !self.expect(TokenKind::Colon, "':'") {
                        self.skip_until(true, true);
                        self.eat(TokenKind::Comma);
                        continue;
                    }
                    let value = self.expr();
                    items.push(ObjectItem::Property(ObjectProperty {
                        range: self.range_from(key.range().start),
                        key,
                        value,
                    }));
                }
                _ => {
                    self.expected("property name or '}'");
                    self.skip_until(true, true);
                    self.eat(TokenKind::Comma);
                    continue;
                }
            }
            if !self.item_separator(TokenKind::RBrace, "',', new line or '}'") {
                break;
            }
        }
        self.skip_nl = saved;
        self.leave();
        Expr {
            kind: ExprKind::Object(items),
            range: self.range_from(open.start),
        }
    }

    fn property_key(&mut self) -> PropertyKey {
        let t = self.cur();
        if t.kind == TokenKind::Ident {
            PropertyKey::Ident(self.ident("property name"))
        } else {
            let value = self.string_lit();
            PropertyKey::String {
                value,
                range: self.range_from(t.start),
            }
        }
    }

    fn nested_resource(&mut self) -> ObjectItem {
        let start = self.here();
        let decorators = self.decorators();
        let t = self.cur();
        let kind = if t.kind == TokenKind::Ident && self.tok_text(t) == "resource" {
            StatementKind::Resource(self.resource_decl())
        } else {
            self.expected("a nested resource declaration after the decorators");
            StatementKind::Error
        };
        ObjectItem::Resource(Box::new(Statement {
            decorators,
            keyword: if matches!(kind, StatementKind::Error) {
                TextRange::empty(t.start)
            } else {
                t.range()
            },
            kind,
            range: self.range_from(start),
        }))
    }

    // ---- types --------------------------------------------------------------------------

    pub(crate) fn type_expr(&mut self) -> TypeExpr {
        if !self.enter() {
            let at = self.here();
            return TypeExpr {
                kind: TypeKind::Error,
                range: TextRange::empty(at),
            };
        }
        let t = self.type_union();
        self.leave();
        t
    }

    fn type_union(&mut self) -> TypeExpr {
        let start = self.here();
        // A union may begin with `|` and continue on following lines after `|`.
        let leading = self.kind() == TokenKind::Pipe;
        if leading {
            self.bump();
            self.skip_newlines();
        }
        let first = self.type_member();
        let continues = |p: &Parser| {
            let mut i = p.pos;
            while p.raw(i).kind == TokenKind::NewLine {
                i += 1;
            }
            p.raw(i).kind == TokenKind::Pipe
        };
        if !continues(self) && !leading {
            return first.value;
        }
        let mut members = vec![first];
        while continues(self) {
            self.skip_newlines();
            self.bump();
            self.skip_newlines();
            members.push(self.type_member());
        }
        TypeExpr {
            kind: TypeKind::Union(members),
            range: self.range_from(start),
        }
    }

    /// A type with its decorators (a union member, tuple item, or `*:` value).
    fn type_member(&mut self) -> TypeMember {
        let start = self.here();
        let decorators = self.decorators();
        let value = self.type_postfix();
        TypeMember {
            decorators,
            value,
            range: self.range_from(start),
        }
    }

    fn type_postfix(&mut self) -> TypeExpr {
        let mut ty = self.type_primary();
        let start = ty.range.start;
        let mut links = 0u32;
        loop {
            let kind = self.kind();
            if !matches!(
                kind,
                TokenKind::Dot | TokenKind::LBracket | TokenKind::Question
            ) {
                break;
            }
            if !self.enter() {
                break;
            }
            links += 1;
            self.bump();
            let base = Box::new(ty);
            let new_kind = match kind {
                TokenKind::Question => TypeKind::Nullable(base),
                TokenKind::Dot => {
                    if self.eat(TokenKind::Star).is_some() {
                        TypeKind::AdditionalProperties(base)
                    } else {
                        let name = self.ident("property name");
                        TypeKind::Property { base, name }
                    }
                }
                _ => {
                    let t = self.cur();
                    let k = match t.kind {
                        TokenKind::RBracket => TypeKind::Array(base),
                        TokenKind::Star => {
                            self.bump();
                            TypeKind::Items(base)
                        }
                        TokenKind::Int => {
                            self.bump();
                            let index = self.tok_text(t).parse().unwrap_or(u64::MAX);
                            TypeKind::Index { base, index }
                        }
                        _ => {
                            self.expected("']', '*' or an index");
                            TypeKind::Array(base)
                        }
                    };
                    self.expect(TokenKind::RBracket, "']'");
                    k
                }
            };
            ty = TypeExpr {
                kind: new_kind,
                range: self.range_from(start),
            };
        }
        self.depth -= links;
        ty
    }

    fn type_primary(&mut self) -> TypeExpr {
        let t = self.cur();
        let kind = match t.kind {
            TokenKind::Ident => {
                let word = self.tok_text(t);
                let next = self.nth(1).kind;
                match word {
                    "true" | "false" => {
                        self.bump();
                        TypeKind::Bool(word == "true")
                    }
                    "null" => {
                        self.bump();
                        TypeKind::Null
                    }
                    "resource" if next == TokenKind::Lt => {
                        self.bump();
                        self.bump();
                        let s = self.string_expr("resource type string");
                        self.expect(TokenKind::Gt, "'>'");
                        TypeKind::Resource(Box::new(s))
                    }
                    "resource" if is_string_start(next) => {
                        self.bump();
                        TypeKind::Resource(Box::new(self.string_expr("resource type string")))
                    }
                    _ => TypeKind::Name(self.ident("type")),
                }
            }
            TokenKind::String | TokenKind::StringLeft | TokenKind::MultilineString => {
                TypeKind::String(self.string_lit())
            }
            TokenKind::Int | TokenKind::Minus => {
                let negative = self.eat(TokenKind::Minus).is_some();
                let n = self.cur();
                if n.kind == TokenKind::Int {
                    self.bump();
                    match self.tok_text(n).parse::<u64>() {
                        Ok(value) => TypeKind::Int { value, negative },
                        Err(_) => {
                            self.error(n.range(), "integer too large".into());
                            TypeKind::Error
                        }
                    }
                } else {
                    self.expected("integer");
                    TypeKind::Error
                }
            }
            TokenKind::LBrace => return self.object_type(),
            TokenKind::LBracket => return self.tuple_type(),
            TokenKind::LParen => {
                self.bump();
                let saved = std::mem::replace(&mut self.skip_nl, true);
                let inner = self.type_expr();
                self.expect(TokenKind::RParen, "')'");
                self.skip_nl = saved;
                TypeKind::Paren(Box::new(inner))
            }
            _ => {
                self.expected("type");
                return TypeExpr {
                    kind: TypeKind::Error,
                    range: TextRange::empty(t.start),
                };
            }
        };
        TypeExpr {
            kind,
            range: self.range_from(t.start),
        }
    }

    fn object_type(&mut self) -> TypeExpr {
        let open = self.bump();
        let saved = std::mem::replace(&mut self.skip_nl, false);
        let mut items = Vec::new();
        loop {
            self.skip_newlines();
            let t = self.cur();
            match t.kind {
                TokenKind::RBrace => {
                    self.bump();
                    break;
                }
                TokenKind::Eof => {
                    self.expected("'}'");
                    break;
                }
                k if is_closer(k) => {
                    self.expected("'}'");
                    break;
                }
                TokenKind::Comma => {
                    self.expected("property name or '}'");
                    self.bump();
                    continue;
                }
                _ if self.at_toplevel_statement(true) => {
                    self.expected("'}'");
                    break;
                }
                _ => {}
            }
            let decorators = self.decorators();
            let t = self.cur();
            match t.kind {
                TokenKind::Star => {
                    self.bump();
                    self.expect(TokenKind::Colon, "':'");
                    let value = self.type_expr();
                    items.push(ObjectTypeItem::Additional(TypeMember {
                        decorators,
                        value,
                        range: self.range_from(t.start),
                    }));
                }
                TokenKind::Ident | TokenKind::String | TokenKind::StringLeft => {
                    let key = self.property_key();
                    let optional = self.eat(TokenKind::Question).is_some();
                    if !self.expect(TokenKind::Colon, "':'") {
                        self.skip_until(true, true);
                        self.eat(TokenKind::Comma);
                        continue;
                    }
                    let value = self.type_expr();
                    items.push(ObjectTypeItem::Property(ObjectTypeProperty {
                        decorators,
                        range: self.range_from(key.range().start),
                        key,
                        optional,
                        value,
                    }));
                }
                _ => {
                    self.expected("property name or '}'");
                    self.skip_until(true, true);
                    self.eat(TokenKind::Comma);
                    continue;
                }
            }
            if !self.item_separator(TokenKind::RBrace, "',', new line or '}'") {
                break;
            }
        }
        self.skip_nl = saved;
        TypeExpr {
            kind: TypeKind::Object(items),
            range: self.range_from(open.start),
        }
    }

    fn tuple_type(&mut self) -> TypeExpr {
        let open = self.bump();
        let saved = std::mem::replace(&mut self.skip_nl, false);
        let mut items = Vec::new();
        loop {
            self.skip_newlines();
            match self.kind() {
                TokenKind::RBracket => {
                    self.bump();
                    break;
                }
                TokenKind::Eof => {
                    self.expected("']'");
                    break;
                }
                k if is_closer(k) => {
                    self.expected("']'");
                    break;
                }
                TokenKind::Comma => {
                    self.expected("type or ']'");
                    self.bump();
                    continue;
                }
                _ if self.at_toplevel_statement(true) => {
                    self.expected("']'");
                    break;
                }
                _ => {}
            }
            let start = self.here();
            let decorators = self.decorators();
            let value = self.type_expr();
            items.push(TypeMember {
                decorators,
                value,
                range: self.range_from(start),
            });
            if !self.item_separator(TokenKind::RBracket, "',', new line or ']'") {
                break;
            }
        }
        self.skip_nl = saved;
        TypeExpr {
            kind: TypeKind::Tuple(items),
            range: self.range_from(open.start),
        }
    }
}
