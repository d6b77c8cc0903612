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
    "extends",
];

pub(crate) struct Parser<'a> {
    text: &'a str,
    tokens: Vec<Token>,
    pos: usize,
    /// Whether newlines are insignificant here (inside parentheses or an interpolation).
    skip_nl: bool,
    depth: u32,
    /// The deepest `depth` reached so far.
    max_depth_seen: u32,
    /// End of the last consumed token: where a node that just finished ends.
    last_end: u32,
    errors: Vec<SyntaxError>,
}

type Binding = (BinaryOp, u8);

/// What one turn of a list loop produced.
enum Step<T> {
    Item(T),
    /// Nothing (an error was reported and skipped); go on with the list.
    Skip,
    /// The list is over (closed, or cannot go on).
    End,
}

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
            max_depth_seen: 0,
            last_end: 0,
            errors,
        }
    }

    /// The errors, and the deepest nesting (counting chain links) the parser went into.
    pub(crate) fn finish(self) -> (Vec<SyntaxError>, u32) {
        (self.errors, self.max_depth_seen)
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

    /// Whether a newline was skipped right before the current token.
    fn newline_before(&self) -> bool {
        self.pos > 0 && self.tokens[self.pos - 1].kind == TokenKind::NewLine
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
                TokenKind::NewLine if depth == 0 && !self.skip_nl => return,
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
        self.max_depth_seen = self.max_depth_seen.max(self.depth);
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
                // A list that was never closed stopped at the next statement.
                _ if self.at_toplevel_statement(true) => {}
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
        let kind = self.statement_kind(word, !decorators.is_empty());
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

    fn statement_kind(&mut self, word: &str, has_decorators: bool) -> StatementKind {
        // Without its name a declaration is hopeless; the caller skips the rest of the line.
        macro_rules! bail {
            ($id:expr) => {{
                let id = $id;
                if id.name.is_empty() {
                    return StatementKind::Error;
                }
                id
            }};
        }
        match word {
            "targetScope" => {
                self.bump();
                self.expect(TokenKind::Assign, "'='");
                StatementKind::TargetScope(self.expr())
            }
            "metadata" => {
                self.bump();
                let name = bail!(self.ident("metadata name"));
                self.expect(TokenKind::Assign, "'='");
                StatementKind::Metadata(MetadataDecl {
                    name,
                    value: self.expr(),
                })
            }
            "param" => {
                self.bump();
                let name = bail!(self.ident("parameter name"));
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
                let name = bail!(self.ident("variable name"));
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
                let name = bail!(self.ident("module name"));
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
                let name = bail!(self.ident("output name"));
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
                let name = bail!(self.ident("type name"));
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
                let name = bail!(self.ident("assertion name"));
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
            "extends" => {
                self.bump();
                StatementKind::Extends(self.string_expr("base parameters file path string"))
            }
            _ => {
                if !has_decorators {
                    self.expected(
                    "a declaration (param, var, resource, module, output, type, func, import, ...)",
                );
                } else {
                    self.expected("a declaration after the decorators");
                }
                StatementKind::Error
            }
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
                    if self.eat(TokenKind::Comma).is_none()
                        && self.kind() != TokenKind::RBrace
                        && !self.newline_before()
                    {
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

    // The functions on the recursive path (expr, binary, unary, postfix, primary, array,
    // object) keep their own frames small and leave the bulky work to out-of-line helpers:
    // in debug builds every temporary has a stack slot, and MAX_DEPTH levels of them must fit
    // a 2 MiB thread stack.

    fn expr_inner(&mut self) -> Expr {
        let t = self.cur();
        if (t.kind == TokenKind::Ident && self.nth(1).kind == TokenKind::Arrow)
            || (t.kind == TokenKind::LParen && self.looks_like_lambda())
        {
            return self.lambda(t);
        }
        let condition = self.binary(0);
        if self.kind() != TokenKind::Question {
            return condition;
        }
        self.ternary_rest(t.start, condition)
    }

    #[inline(never)]
    fn lambda(&mut self, t: Token) -> Expr {
        let params = if t.kind == TokenKind::Ident {
            let name = self.ident("parameter name");
            vec![TypedParam {
                range: name.range,
                name,
                ty: None,
            }]
        } else {
            self.typed_params()
        };
        self.lambda_rest(t.start, params)
    }

    #[inline(never)]
    fn ternary_rest(&mut self, start: u32, condition: Expr) -> Expr {
        self.bump();
        let then = self.expr();
        let otherwise = if self.expect(TokenKind::Colon, "':' of the conditional expression") {
            self.expr()
        } else {
            self.error_expr()
        };
        Expr {
            range: self.range_from(start),
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
            e = self.postfix_step(kind, e, start);
        }
        self.depth -= links;
        e
    }

    #[inline(never)]
    fn postfix_step(&mut self, kind: TokenKind, e: Expr, start: u32) -> Expr {
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
        Expr {
            kind: new_kind,
            range: self.range_from(start),
        }
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
        match self.kind() {
            TokenKind::LBracket => self.array(),
            TokenKind::LBrace => self.object(),
            _ => self.primary_leaf(),
        }
    }

    /// Everything [`Self::primary`] handles but arrays and objects.
    #[inline(never)]
    fn primary_leaf(&mut self) -> Expr {
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
            TokenKind::LParen => ExprKind::Paren(Box::new(self.paren_inner())),
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
        let multiline = first.kind == TokenKind::MultilineString || first.dollars > 0;
        if matches!(first.kind, TokenKind::MultilineString | TokenKind::String) {
            return StringLit { parts, multiline };
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
        StringLit { parts, multiline }
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
        let open = self.bump();
        let saved = std::mem::replace(&mut self.skip_nl, false);
        let e = if self.for_follows() {
            self.for_expr(open.start)
        } else {
            self.array_items(open.start)
        };
        self.skip_nl = saved;
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
            match self.array_item() {
                Step::Item(item) => items.push(item),
                Step::Skip => continue,
                Step::End => break,
            }
            self.item_separator(TokenKind::RBracket, "',', new line or ']'");
        }
        Expr {
            kind: ExprKind::Array(items),
            range: self.range_from(start),
        }
    }

    #[inline(never)]
    fn array_item(&mut self) -> Step<ArrayItem> {
        self.skip_newlines();
        let t = self.cur();
        match t.kind {
            TokenKind::RBracket => {
                self.bump();
                Step::End
            }
            TokenKind::Eof => {
                self.expected("']'");
                Step::End
            }
            k if is_closer(k) => {
                self.expected("']'");
                Step::End
            }
            TokenKind::Comma => {
                self.expected("expression or ']'");
                self.bump();
                Step::Skip
            }
            TokenKind::Ellipsis => Step::Item(ArrayItem::Spread(self.spread())),
            _ if self.at_toplevel_statement(true) => {
                self.expected("']'");
                Step::End
            }
            _ => Step::Item(ArrayItem::Value(self.expr())),
        }
    }

    #[inline(never)]
    fn spread(&mut self) -> Spread {
        let start = self.bump().start;
        let value = self.expr();
        Spread {
            value,
            range: self.range_from(start),
        }
    }

    /// After an array or object item: a comma, a newline, or the closer must follow.
    fn item_separator(&mut self, closer: TokenKind, what: &str) {
        match self.kind() {
            TokenKind::Comma => {
                self.bump();
            }
            TokenKind::NewLine | TokenKind::Eof => {}
            k if k == closer => {}
            _ => {
                self.expected(what);
                self.skip_until(true, true);
                self.eat(TokenKind::Comma);
            }
        }
    }

    fn object(&mut self) -> Expr {
        let open = self.bump();
        let saved = std::mem::replace(&mut self.skip_nl, false);
        let mut items = Vec::new();
        loop {
            match self.object_item() {
                Step::Item(item) => items.push(item),
                Step::Skip => continue,
                Step::End => break,
            }
            self.item_separator(TokenKind::RBrace, "',', new line or '}'");
        }
        self.skip_nl = saved;
        Expr {
            kind: ExprKind::Object(items),
            range: self.range_from(open.start),
        }
    }

    #[inline(never)]
    fn object_item(&mut self) -> Step<ObjectItem> {
        self.skip_newlines();
        let t = self.cur();
        match t.kind {
            TokenKind::RBrace => {
                self.bump();
                Step::End
            }
            TokenKind::Eof => {
                self.expected("'}'");
                Step::End
            }
            k if is_closer(k) => {
                self.expected("'}'");
                Step::End
            }
            TokenKind::Comma => {
                self.expected("property name or '}'");
                self.bump();
                Step::Skip
            }
            TokenKind::Ellipsis => Step::Item(ObjectItem::Spread(self.spread())),
            TokenKind::At => Step::Item(self.nested_resource()),
            TokenKind::Ident
                if self.tok_text(t) == "resource" && self.nth(1).kind == TokenKind::Ident =>
            {
                Step::Item(self.nested_resource())
            }
            _ if self.at_toplevel_statement(false) => {
                self.expected("'}'");
                Step::End
            }
            TokenKind::Ident | TokenKind::String | TokenKind::StringLeft => self.object_property(),
            _ => {
                self.expected("property name or '}'");
                self.skip_until(true, true);
                self.eat(TokenKind::Comma);
                Step::Skip
            }
        }
    }

    #[inline(never)]
    fn object_property(&mut self) -> Step<ObjectItem> {
        let key = self.property_key();
        if !self.expect(TokenKind::Colon, "':'") {
            self.skip_until(true, true);
            self.eat(TokenKind::Comma);
            return Step::Skip;
        }
        let value = self.expr();
        Step::Item(ObjectItem::Property(ObjectProperty {
            range: self.range_from(key.range().start),
            key,
            value,
        }))
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
        // A union may begin with `|` (on the next line) and go on over lines, each `|`-led.
        if self.raw(self.pos).kind == TokenKind::NewLine
            && self.raw(self.pos + 1).kind == TokenKind::Pipe
        {
            self.skip_newlines();
        }
        let start = self.here();
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
            ty = self.type_postfix_step(kind, ty, start);
        }
        self.depth -= links;
        ty
    }

    #[inline(never)]
    fn type_postfix_step(&mut self, kind: TokenKind, base: TypeExpr, start: u32) -> TypeExpr {
        self.bump();
        let base = Box::new(base);
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
        TypeExpr {
            kind: new_kind,
            range: self.range_from(start),
        }
    }

    fn type_primary(&mut self) -> TypeExpr {
        match self.kind() {
            TokenKind::LBrace => self.object_type(),
            TokenKind::LBracket => self.tuple_type(),
            _ => self.type_leaf(),
        }
    }

    /// Everything [`Self::type_primary`] handles but object and tuple types.
    #[inline(never)]
    fn type_leaf(&mut self) -> TypeExpr {
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
                    _ if next == TokenKind::Lt => {
                        let name = self.ident("type");
                        TypeKind::Generic {
                            name,
                            args: self.type_args(),
                        }
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

    /// `<T, ...>` after a generic type's name.
    fn type_args(&mut self) -> Vec<TypeExpr> {
        self.bump();
        let saved = std::mem::replace(&mut self.skip_nl, true);
        let mut args = Vec::new();
        loop {
            args.push(self.type_expr());
            if self.eat(TokenKind::Comma).is_none() {
                break;
            }
        }
        self.expect(TokenKind::Gt, "'>'");
        self.skip_nl = saved;
        args
    }

    fn object_type(&mut self) -> TypeExpr {
        let open = self.bump();
        let saved = std::mem::replace(&mut self.skip_nl, false);
        let mut items = Vec::new();
        loop {
            match self.object_type_item() {
                Step::Item(item) => items.push(item),
                Step::Skip => continue,
                Step::End => break,
            }
            self.item_separator(TokenKind::RBrace, "',', new line or '}'");
        }
        self.skip_nl = saved;
        TypeExpr {
            kind: TypeKind::Object(items),
            range: self.range_from(open.start),
        }
    }

    #[inline(never)]
    fn object_type_item(&mut self) -> Step<ObjectTypeItem> {
        self.skip_newlines();
        let t = self.cur();
        match t.kind {
            TokenKind::RBrace => {
                self.bump();
                return Step::End;
            }
            TokenKind::Eof => {
                self.expected("'}'");
                return Step::End;
            }
            k if is_closer(k) => {
                self.expected("'}'");
                return Step::End;
            }
            TokenKind::Comma => {
                self.expected("property name or '}'");
                self.bump();
                return Step::Skip;
            }
            _ if self.at_toplevel_statement(true) => {
                self.expected("'}'");
                return Step::End;
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
                Step::Item(ObjectTypeItem::Additional(TypeMember {
                    decorators,
                    value,
                    range: self.range_from(t.start),
                }))
            }
            TokenKind::Ident | TokenKind::String | TokenKind::StringLeft => {
                let key = self.property_key();
                let optional = self.eat(TokenKind::Question).is_some();
                if !self.expect(TokenKind::Colon, "':'") {
                    self.skip_until(true, true);
                    self.eat(TokenKind::Comma);
                    return Step::Skip;
                }
                let value = self.type_expr();
                Step::Item(ObjectTypeItem::Property(ObjectTypeProperty {
                    decorators,
                    range: self.range_from(key.range().start),
                    key,
                    optional,
                    value,
                }))
            }
            _ => {
                self.expected("property name or '}'");
                self.skip_until(true, true);
                self.eat(TokenKind::Comma);
                Step::Skip
            }
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
            self.item_separator(TokenKind::RBracket, "',', new line or ']'");
        }
        self.skip_nl = saved;
        TypeExpr {
            kind: TypeKind::Tuple(items),
            range: self.range_from(open.start),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::{parse, Parsed};
    use super::*;

    /// A compact rendering of a tree for assertions: `(+ a (* b c))`.
    fn sx(e: &Expr) -> String {
        match &e.kind {
            ExprKind::String(s) => sx_str(s),
            ExprKind::Int(v) => v.to_string(),
            ExprKind::Bool(b) => b.to_string(),
            ExprKind::Null => "null".into(),
            ExprKind::Ident(id) => id.name.clone(),
            ExprKind::Array(items) => {
                let items: Vec<String> = items
                    .iter()
                    .map(|i| match i {
                        ArrayItem::Value(v) => sx(v),
                        ArrayItem::Spread(s) => format!("...{}", sx(&s.value)),
                    })
                    .collect();
                format!("[{}]", items.join(" "))
            }
            ExprKind::Object(items) => {
                let items: Vec<String> = items
                    .iter()
                    .map(|i| match i {
                        ObjectItem::Property(p) => format!("{}: {}", sx_key(&p.key), sx(&p.value)),
                        ObjectItem::Spread(s) => format!("...{}", sx(&s.value)),
                        ObjectItem::Resource(r) => sx_stmt(r),
                    })
                    .collect();
                format!("{{{}}}", items.join(", "))
            }
            ExprKind::Property(p) => {
                let dot = if p.safe { ".?" } else { "." };
                format!("({dot} {} {})", sx(&p.base), p.name.name)
            }
            ExprKind::Index(i) => {
                let op = if i.safe { "[?]" } else { "[]" };
                format!("({op} {} {})", sx(&i.base), sx(&i.index))
            }
            ExprKind::ResourceAccess(r) => format!("(:: {} {})", sx(&r.base), r.name.name),
            ExprKind::NonNull(b) => format!("(nonnull {})", sx(b)),
            ExprKind::Call(c) => {
                let mut s = String::from("(call ");
                if let Some(t) = &c.target {
                    s.push_str(&sx(t));
                    s.push('.');
                }
                s.push_str(&c.name.name);
                for a in &c.args {
                    s.push(' ');
                    s.push_str(&sx(a));
                }
                s.push(')');
                s
            }
            ExprKind::Unary(UnaryOp::Not, b) => format!("(not {})", sx(b)),
            ExprKind::Unary(UnaryOp::Neg, b) => format!("(neg {})", sx(b)),
            ExprKind::Binary(b) => format!("({} {} {})", b.op.as_str(), sx(&b.lhs), sx(&b.rhs)),
            ExprKind::Ternary(t) => format!(
                "(? {} {} {})",
                sx(&t.condition),
                sx(&t.then),
                sx(&t.otherwise)
            ),
            ExprKind::Lambda(l) => {
                let ps: Vec<String> = l
                    .params
                    .iter()
                    .map(|p| match &p.ty {
                        Some(t) => format!("{} {}", p.name.name, sxt(t)),
                        None => p.name.name.clone(),
                    })
                    .collect();
                format!("(=> ({}) {})", ps.join(", "), sx(&l.body))
            }
            ExprKind::Paren(b) => format!("(paren {})", sx(b)),
            ExprKind::For(f) => {
                let index = f.index.as_ref().map(|i| format!(" {}", i.name));
                format!(
                    "(for {}{} in {} {})",
                    f.item.name,
                    index.unwrap_or_default(),
                    sx(&f.iterable),
                    sx(&f.body)
                )
            }
            ExprKind::If(i) => format!("(if {} {})", sx(&i.condition), sx(&i.body)),
            ExprKind::Error => "ERR".into(),
        }
    }

    fn sx_str(s: &StringLit) -> String {
        let q = if s.multiline { "'''" } else { "'" };
        match s.as_literal() {
            Some(v) => format!("{q}{v}{q}"),
            None => {
                let parts: Vec<String> = s
                    .parts
                    .iter()
                    .map(|p| match p {
                        StringPart::Text { value, .. } => format!("'{value}'"),
                        StringPart::Interpolation(e) => sx(e),
                    })
                    .collect();
                format!("(str {})", parts.join(" "))
            }
        }
    }

    fn sx_key(k: &PropertyKey) -> String {
        match k {
            PropertyKey::Ident(id) => id.name.clone(),
            PropertyKey::String { value, .. } => sx_str(value),
        }
    }

    fn sx_decorators(ds: &[Decorator]) -> String {
        let mut s = String::new();
        for d in ds {
            s.push('@');
            if let Some(ns) = &d.namespace {
                s.push_str(&ns.name);
                s.push('.');
            }
            s.push_str(&d.name.name);
            if let Some(args) = &d.args {
                let args: Vec<String> = args.iter().map(sx).collect();
                s.push_str(&format!("({})", args.join(" ")));
            }
            s.push(' ');
        }
        s
    }

    fn sxt(t: &TypeExpr) -> String {
        let member = |m: &TypeMember| format!("{}{}", sx_decorators(&m.decorators), sxt(&m.value));
        match &t.kind {
            TypeKind::Name(id) => id.name.clone(),
            TypeKind::Property { base, name } => format!("(. {} {})", sxt(base), name.name),
            TypeKind::AdditionalProperties(b) => format!("(.* {})", sxt(b)),
            TypeKind::Index { base, index } => format!("([{index}] {})", sxt(base)),
            TypeKind::Items(b) => format!("([*] {})", sxt(b)),
            TypeKind::Array(b) => format!("{}[]", sxt(b)),
            TypeKind::Nullable(b) => format!("{}?", sxt(b)),
            TypeKind::Object(items) => {
                let items: Vec<String> = items
                    .iter()
                    .map(|i| match i {
                        ObjectTypeItem::Property(p) => format!(
                            "{}{}{}: {}",
                            sx_decorators(&p.decorators),
                            sx_key(&p.key),
                            if p.optional { "?" } else { "" },
                            sxt(&p.value)
                        ),
                        ObjectTypeItem::Additional(m) => format!("*: {}", member(m)),
                    })
                    .collect();
                format!("{{{}}}", items.join(", "))
            }
            TypeKind::Tuple(ms) => {
                format!("[{}]", ms.iter().map(member).collect::<Vec<_>>().join(", "))
            }
            TypeKind::Union(ms) => {
                format!(
                    "(| {})",
                    ms.iter().map(member).collect::<Vec<_>>().join(" ")
                )
            }
            TypeKind::String(s) => sx_str(s),
            TypeKind::Int { value, negative } => {
                format!("{}{value}", if *negative { "-" } else { "" })
            }
            TypeKind::Bool(b) => b.to_string(),
            TypeKind::Null => "null".into(),
            TypeKind::Resource(e) => format!("(resource {})", sx(e)),
            TypeKind::Generic { name, args } => {
                let args: Vec<String> = args.iter().map(sxt).collect();
                format!("({}<> {})", name.name, args.join(" "))
            }
            TypeKind::Paren(b) => format!("(paren {})", sxt(b)),
            TypeKind::Error => "ERR".into(),
        }
    }

    fn sx_stmt(s: &Statement) -> String {
        let ty = |t: &Option<TypeExpr>| {
            t.as_ref()
                .map(|t| format!(" {}", sxt(t)))
                .unwrap_or_default()
        };
        let body = match &s.kind {
            StatementKind::TargetScope(e) => format!("targetScope = {}", sx(e)),
            StatementKind::Metadata(d) => format!("metadata {} = {}", d.name.name, sx(&d.value)),
            StatementKind::Param(d) => format!(
                "param {}{}{}",
                d.name.name,
                ty(&d.ty),
                d.value
                    .as_ref()
                    .map(|v| format!(" = {}", sx(v)))
                    .unwrap_or_default()
            ),
            StatementKind::Var(d) => format!("var {}{} = {}", d.name.name, ty(&d.ty), sx(&d.value)),
            StatementKind::Resource(d) => format!(
                "resource {} {}{} = {}",
                d.name.name,
                sx(&d.type_string),
                if d.existing { " existing" } else { "" },
                sx(&d.body)
            ),
            StatementKind::Module(d) => {
                format!("module {} {} = {}", d.name.name, sx(&d.path), sx(&d.body))
            }
            StatementKind::Output(d) => {
                format!("output {} {} = {}", d.name.name, sxt(&d.ty), sx(&d.value))
            }
            StatementKind::Type(d) => format!("type {} = {}", d.name.name, sxt(&d.value)),
            StatementKind::Func(d) => {
                let ps: Vec<String> = d
                    .params
                    .iter()
                    .map(|p| format!("{}{}", p.name.name, ty(&p.ty)))
                    .collect();
                format!(
                    "func {}({}) {} => {}",
                    d.name.name,
                    ps.join(", "),
                    sxt(&d.return_type),
                    sx(&d.body)
                )
            }
            StatementKind::Import(d) => {
                let items = match &d.items {
                    ImportItems::Legacy => String::new(),
                    ImportItems::Wildcard(ns) => format!("* as {} from ", ns.name),
                    ImportItems::Named(items) => {
                        let items: Vec<String> = items
                            .iter()
                            .map(|i| match &i.alias {
                                Some(a) => format!("{} as {}", i.name.name, a.name),
                                None => i.name.name.clone(),
                            })
                            .collect();
                        format!("{{{}}} from ", items.join(", "))
                    }
                };
                let config = d.config.as_ref().map(|c| format!(" with {}", sx(c)));
                let alias = d.alias.as_ref().map(|a| format!(" as {}", a.name));
                format!(
                    "import {items}{}{}{}",
                    sx(&d.source),
                    config.unwrap_or_default(),
                    alias.unwrap_or_default()
                )
            }
            StatementKind::Extension(d) => {
                let config = d.config.as_ref().map(|c| format!(" with {}", sx(c)));
                let alias = d.alias.as_ref().map(|a| format!(" as {}", a.name));
                format!(
                    "{} {}{}{}",
                    if d.legacy_provider {
                        "provider"
                    } else {
                        "extension"
                    },
                    sx(&d.spec),
                    config.unwrap_or_default(),
                    alias.unwrap_or_default()
                )
            }
            StatementKind::Assert(d) => format!("assert {} = {}", d.name.name, sx(&d.value)),
            StatementKind::Extends(e) => format!("extends {}", sx(e)),
            StatementKind::Using(d) => {
                let config = d.config.as_ref().map(|c| format!(" with {}", sx(c)));
                format!(
                    "using {}{}",
                    d.path.as_ref().map(sx).unwrap_or_else(|| "none".into()),
                    config.unwrap_or_default()
                )
            }
            StatementKind::Error => "ERR".into(),
        };
        format!("{}{body}", sx_decorators(&s.decorators))
    }

    #[track_caller]
    fn clean(text: &str) -> Parsed {
        let p = parse(text);
        assert!(
            p.errors.is_empty(),
            "unexpected errors in {text:?}: {:?}",
            p.errors
        );
        p
    }

    /// The statements of error-free `text`, rendered one per line.
    #[track_caller]
    fn stmts(text: &str) -> String {
        let p = clean(text);
        let lines: Vec<String> = p.program.statements.iter().map(sx_stmt).collect();
        lines.join("\n")
    }

    /// The rendering of `var x = <text>`.
    #[track_caller]
    fn ex(text: &str) -> String {
        let p = clean(&format!("var x = {text}"));
        assert_eq!(p.program.statements.len(), 1, "{text}");
        match &p.program.statements[0].kind {
            StatementKind::Var(v) => sx(&v.value),
            other => panic!("{other:?}"),
        }
    }

    /// The rendering of `type x = <text>`.
    #[track_caller]
    fn ty(text: &str) -> String {
        let p = clean(&format!("type x = {text}"));
        match &p.program.statements[0].kind {
            StatementKind::Type(t) => sxt(&t.value),
            other => panic!("{other:?}"),
        }
    }

    fn slice(text: &str, r: TextRange) -> &str {
        &text[r.as_range()]
    }

    fn errors(text: &str) -> Vec<(String, String)> {
        parse(text)
            .errors
            .iter()
            .map(|e| (slice(text, e.range).to_string(), e.message.clone()))
            .collect()
    }

    // ---- statements ----

    #[test]
    fn target_scope_and_metadata() {
        assert_eq!(
            stmts("targetScope = 'subscription'\nmetadata info = { a: 1 }"),
            "targetScope = 'subscription'\nmetadata info = {a: 1}"
        );
    }

    #[test]
    fn params() {
        assert_eq!(
            stmts("param a string\nparam b int = 3\nparam c string?\nparam d resource 'Microsoft.Storage/storageAccounts@2023-01-01'"),
            "param a string\nparam b int = 3\nparam c string?\nparam d (resource 'Microsoft.Storage/storageAccounts@2023-01-01')"
        );
    }

    #[test]
    fn bicepparam_file() {
        assert_eq!(
            stmts("using 'main.bicep'\n\nparam name = 'x'\nparam count = 2\nvar v = 1\n"),
            "using 'main.bicep'\nparam name = 'x'\nparam count = 2\nvar v = 1"
        );
        assert_eq!(stmts("using none"), "using none");
        assert_eq!(
            stmts("using 'main.bicep'\nextends 'base.bicepparam'"),
            "using 'main.bicep'\nextends 'base.bicepparam'"
        );
        assert_eq!(
            stmts("using './main.bicep' with { mode: 'stack' }"),
            "using './main.bicep' with {mode: 'stack'}"
        );
    }

    #[test]
    fn variables_typed_and_untyped() {
        assert_eq!(
            stmts("var a = 1\nvar b string = 'x'\nvar c string[] = []"),
            "var a = 1\nvar b string = 'x'\nvar c string[] = []"
        );
    }

    #[test]
    fn resources() {
        let text = "resource stg 'Microsoft.Storage/storageAccounts@2023-01-01' = {\n  name: 'x'\n  location: location\n}\nresource kv 'Microsoft.KeyVault/vaults@2023-02-01' existing = {\n  name: 'kv'\n  scope: resourceGroup('rg')\n}";
        assert_eq!(
            stmts(text),
            "resource stg 'Microsoft.Storage/storageAccounts@2023-01-01' = {name: 'x', location: location}\nresource kv 'Microsoft.KeyVault/vaults@2023-02-01' existing = {name: 'kv', scope: (call resourceGroup 'rg')}"
        );
        let p = clean(text);
        let s = &p.program.statements[0];
        assert_eq!(slice(text, s.keyword), "resource");
        assert!(
            slice(text, s.range).starts_with("resource stg") && slice(text, s.range).ends_with('}')
        );
        let StatementKind::Resource(r) = &s.kind else {
            panic!()
        };
        assert_eq!(slice(text, r.name.range), "stg");
        assert_eq!(
            slice(text, r.type_string.range),
            "'Microsoft.Storage/storageAccounts@2023-01-01'"
        );
        let ExprKind::Object(items) = &r.body.kind else {
            panic!()
        };
        let ObjectItem::Property(p1) = &items[1] else {
            panic!()
        };
        assert_eq!(slice(text, p1.key.range()), "location");
        assert_eq!(slice(text, p1.value.range), "location");
        assert_eq!(slice(text, p1.range), "location: location");
    }

    #[test]
    fn resource_bodies_conditional_and_loops() {
        assert_eq!(
            stmts("resource a 'T@1' = if (deploy) {\n  name: 'a'\n}"),
            "resource a 'T@1' = (if deploy {name: 'a'})"
        );
        assert_eq!(
            stmts("@batchSize(2)\nresource a 'T@1' = [for n in names: {\n  name: n\n}]"),
            "@batchSize(2) resource a 'T@1' = (for n in names {name: n})"
        );
        assert_eq!(
            stmts("module m 'm.bicep' = [for (n, i) in names: if (i > 0) {\n  name: n\n}]"),
            "module m 'm.bicep' = (for n i in names (if (> i 0) {name: n}))"
        );
    }

    #[test]
    fn modules_with_registry_paths() {
        assert_eq!(
            stmts("module a 'br:mcr.microsoft.com/bicep/avm/res/storage/storage-account:0.9.0' = {\n  name: 'a'\n}\nmodule b 'ts:sub/rg/spec:1.0' = {\n  name: 'b'\n}\nmodule c 'br/public:avm/res/x:1.0' = {\n  name: 'c'\n  params: {\n    p: 1\n  }\n}"),
            "module a 'br:mcr.microsoft.com/bicep/avm/res/storage/storage-account:0.9.0' = {name: 'a'}\nmodule b 'ts:sub/rg/spec:1.0' = {name: 'b'}\nmodule c 'br/public:avm/res/x:1.0' = {name: 'c', params: {p: 1}}"
        );
    }

    #[test]
    fn nested_child_resources() {
        let text = "resource vnet 'Microsoft.Network/virtualNetworks@2023-04-01' = {\n  name: 'v'\n  @description('the subnet')\n  resource subnet 'subnets' = {\n    name: 's'\n  }\n  resource other 'subnets' existing = {\n    name: 'o'\n  }\n}\nresource p 'Microsoft.X/y/z@1' = {\n  parent: vnet\n  name: 'z'\n}";
        assert_eq!(
            stmts(text),
            "resource vnet 'Microsoft.Network/virtualNetworks@2023-04-01' = {name: 'v', @description('the subnet') resource subnet 'subnets' = {name: 's'}, resource other 'subnets' existing = {name: 'o'}}\nresource p 'Microsoft.X/y/z@1' = {parent: vnet, name: 'z'}"
        );
        let p = clean(text);
        let StatementKind::Resource(r) = &p.program.statements[0].kind else {
            panic!()
        };
        let ExprKind::Object(items) = &r.body.kind else {
            panic!()
        };
        let ObjectItem::Resource(child) = &items[1] else {
            panic!()
        };
        assert!(
            slice(text, child.range).starts_with("@description('the subnet')\n  resource subnet")
        );
        assert_eq!(
            slice(text, child.decorators[0].range),
            "@description('the subnet')"
        );
        // A property named `resource` is still a property.
        assert_eq!(ex("{\n  resource: 'x'\n}"), "{resource: 'x'}");
    }

    #[test]
    fn outputs() {
        assert_eq!(
            stmts("output a string = x.id\noutput b resource 'Microsoft.Storage/storageAccounts@2023-01-01' = stg\noutput c object = {}"),
            "output a string = (. x id)\noutput b (resource 'Microsoft.Storage/storageAccounts@2023-01-01') = stg\noutput c object = {}"
        );
    }

    #[test]
    fn user_types() {
        let text = "@export()\n@sealed()\ntype t = {\n  @description('d')\n  a: string\n  b?: int\n  'c d': bool\n  *: string\n}";
        assert_eq!(
            stmts(text),
            "@export() @sealed() type t = {@description('d') a: string, b?: int, 'c d': bool, *: string}"
        );
        let p = clean(text);
        let StatementKind::Type(t) = &p.program.statements[0].kind else {
            panic!()
        };
        let TypeKind::Object(items) = &t.value.kind else {
            panic!()
        };
        let ObjectTypeItem::Property(a) = &items[0] else {
            panic!()
        };
        assert_eq!(slice(text, a.key.range()), "a");
        assert_eq!(slice(text, a.value.range), "string");
        assert_eq!(slice(text, a.decorators[0].range), "@description('d')");
        assert_eq!(
            slice(text, t.value.range).len(),
            text.find('{').map(|i| text.len() - i).unwrap()
        );
    }

    #[test]
    fn type_expressions() {
        assert_eq!(ty("string"), "string");
        assert_eq!(ty("string[]"), "string[]");
        assert_eq!(ty("string[]?"), "string[]?");
        assert_eq!(
            ty("'a' | 'b' | 1 | true | -2 | null"),
            "(| 'a' 'b' 1 true -2 null)"
        );
        assert_eq!(ty("[string, int]"), "[string, int]");
        assert_eq!(
            ty("[\n  @description('x') string\n  int\n]"),
            "[@description('x') string, int]"
        );
        assert_eq!(ty("(string | int)[]"), "(paren (| string int))[]");
        assert_eq!(ty("other.prop"), "(. other prop)");
        assert_eq!(ty("ns.myType"), "(. ns myType)");
        assert_eq!(ty("other.*"), "(.* other)");
        assert_eq!(ty("tup[0]"), "([0] tup)");
        assert_eq!(ty("arr[*]"), "([*] arr)");
        assert_eq!(
            ty("resource<'Microsoft.Storage/storageAccounts@2023-01-01'>.properties"),
            "(. (resource 'Microsoft.Storage/storageAccounts@2023-01-01') properties)"
        );
        assert_eq!(
            ty("{ a: string, b: { c: int? } }"),
            "{a: string, b: {c: int?}}"
        );
        assert_eq!(ty("{}"), "{}");
        assert_eq!(
            ty("resourceInput<'Microsoft.Storage/storageAccounts@2023-01-01'>.properties"),
            "(. (resourceInput<> 'Microsoft.Storage/storageAccounts@2023-01-01') properties)"
        );
        assert_eq!(
            stmts("param p resourceOutput<'T@1'>.properties.x"),
            "param p (. (. (resourceOutput<> 'T@1') properties) x)"
        );
        // Multi-line unions, with a leading `|`.
        assert_eq!(ty("\n  | 'a'\n  | 'b'"), "(| 'a' 'b')");
        assert_eq!(ty("'a'\n  | 'b'"), "(| 'a' 'b')");
        // Discriminated unions with decorated members.
        assert_eq!(
            stmts("@discriminator('kind')\ntype u = a | b"),
            "@discriminator('kind') type u = (| a b)"
        );
        assert_eq!(
            ty("@description('first') 'a' | 'b'"),
            "(| @description('first') 'a' 'b')"
        );
    }

    #[test]
    fn functions() {
        assert_eq!(
            stmts("@export()\nfunc greet(name string, n int) string => 'Hi ${name}'\nfunc none() bool => true"),
            "@export() func greet(name string, n int) string => (str 'Hi ' name)\nfunc none() bool => true"
        );
    }

    #[test]
    fn imports() {
        assert_eq!(
            stmts("import {a, b as c} from 'types.bicep'\nimport * as ns from 'br/public:x:1.0'\nimport 'az@1.0.0'\nimport 'kubernetes@1.0.0' with {\n  namespace: 'd'\n} as k8s\nimport {\n  x\n  y\n} from 'f.bicep'"),
            "import {a, b as c} from 'types.bicep'\nimport * as ns from 'br/public:x:1.0'\nimport 'az@1.0.0'\nimport 'kubernetes@1.0.0' with {namespace: 'd'} as k8s\nimport {x, y} from 'f.bicep'"
        );
    }

    #[test]
    fn extensions_and_providers() {
        assert_eq!(
            stmts("extension microsoftGraph\nextension 'br:mcr.microsoft.com/bicep/extensions/microsoftgraph/v1.0:0.1.8-preview' as graph\nextension kubernetes with {\n  namespace: 'default'\n} as k8s\nprovider 'br/public:az@1.0.0'"),
            "extension microsoftGraph\nextension 'br:mcr.microsoft.com/bicep/extensions/microsoftgraph/v1.0:0.1.8-preview' as graph\nextension kubernetes with {namespace: 'default'} as k8s\nprovider 'br/public:az@1.0.0'"
        );
    }

    #[test]
    fn asserts() {
        assert_eq!(
            stmts("assert ok = length(name) < 24"),
            "assert ok = (< (call length name) 24)"
        );
    }

    #[test]
    fn decorators() {
        let text = "@sys.description('d')\n@secure()\n@allowed([\n  'a'\n  'b'\n])\n@minLength(1)\n@maxLength(24)\n@metadata({ a: 1 })\n@minValue(-1)\nparam p string";
        assert_eq!(
            stmts(text),
            "@sys.description('d') @secure() @allowed(['a' 'b']) @minLength(1) @maxLength(24) @metadata({a: 1}) @minValue((neg 1)) param p string"
        );
        let p = clean(text);
        let s = &p.program.statements[0];
        assert_eq!(s.range.start, 0);
        assert_eq!(slice(text, s.decorators[0].range), "@sys.description('d')");
        assert_eq!(
            slice(text, s.decorators[0].namespace.as_ref().unwrap().range),
            "sys"
        );
        assert_eq!(slice(text, s.keyword), "param");
        assert_eq!(
            stmts("@onlyIfNotExists()\nresource r 'T@1' = {}"),
            "@onlyIfNotExists() resource r 'T@1' = {}"
        );
        assert_eq!(stmts("@deprecated\nparam p int"), "@deprecated param p int");
    }

    // ---- expressions ----

    #[test]
    fn literals() {
        assert_eq!(ex("1"), "1");
        assert_eq!(ex("true"), "true");
        assert_eq!(ex("null"), "null");
        assert_eq!(ex("-5"), "(neg 5)");
        assert_eq!(
            ex("'a\\'b\\\\c\\n\\r\\t\\$\\u{41}\\u{1F600}'"),
            "'a'b\\c\n\r\t$A\u{1F600}'"
        );
        assert_eq!(ex("'\\${not interpolated}'"), "'${not interpolated}'");
    }

    #[test]
    fn interpolation() {
        assert_eq!(ex("'a${b}c'"), "(str 'a' b 'c')");
        assert_eq!(ex("'${b}'"), "(str b)");
        assert_eq!(ex("'${a}${b}'"), "(str a b)");
        assert_eq!(ex("'x${'y${z}'}w'"), "(str 'x' (str 'y' z) 'w')");
        assert_eq!(ex("'${f({ a: 1 }.a)}'"), "(str (call f (. {a: 1} a)))");
        assert_eq!(
            ex("'${c ? 'a' : 'b'}-${toLower(n)}'"),
            "(str (? c 'a' 'b') '-' (call toLower n))"
        );
        let text = "var x = 'ab${cd}ef'";
        let p = clean(text);
        let StatementKind::Var(v) = &p.program.statements[0].kind else {
            panic!()
        };
        let ExprKind::String(s) = &v.value.kind else {
            panic!()
        };
        let StringPart::Interpolation(e) = &s.parts[1] else {
            panic!()
        };
        assert_eq!(slice(text, e.range), "cd");
        assert_eq!(slice(text, v.value.range), "'ab${cd}ef'");
    }

    #[test]
    fn multiline_strings() {
        assert_eq!(ex("'''\nline1\n${no} \\n'''"), "'''line1\n${no} \\n'''");
        assert_eq!(ex("'''one'''"), "'''one'''");
        assert_eq!(ex("''''quoted''''"), "''''quoted''''");
    }

    #[test]
    fn interpolated_multiline_strings() {
        assert_eq!(ex("$'''\nHello ${name}!\n'''"), "(str 'Hello ' name '!\n')");
        assert_eq!(ex("$'''a'''"), "'''a'''");
        assert_eq!(ex("$$'''${lit} $${x}'''"), "(str '${lit} ' x)");
        assert_eq!(ex("$'''${a}${b}'''"), "(str a b)");
        assert_eq!(
            ex("$'''x${f({\n  a: 1\n})}y'''"),
            "(str 'x' (call f {a: 1}) 'y')"
        );
        assert!(!errors("var x = $'''abc").is_empty());
        assert!(!errors("var x = $'''a${b").is_empty());
        assert!(!errors("var x = $ 1").is_empty());
    }

    #[test]
    fn arrays_newlines_and_commas() {
        assert_eq!(ex("[]"), "[]");
        assert_eq!(ex("[1, 2, 3]"), "[1 2 3]");
        assert_eq!(ex("[\n  1\n  2\n]"), "[1 2]");
        assert_eq!(ex("[\n  1,\n  2,\n]"), "[1 2]");
        assert_eq!(ex("[\n\n  1, 2\n\n  3\n]"), "[1 2 3]");
        assert_eq!(ex("[...a, 1]"), "[...a 1]");
    }

    #[test]
    fn objects() {
        assert_eq!(ex("{}"), "{}");
        assert_eq!(ex("{ a: 1, 'b-c': 2 }"), "{a: 1, 'b-c': 2}");
        assert_eq!(
            ex("{\n  a: 1\n  b: {\n    c: [\n      1\n    ]\n  }\n}"),
            "{a: 1, b: {c: [1]}}"
        );
        assert_eq!(
            ex("{\n  ...base\n  a: 1, b: 2,\n}"),
            "{...base, a: 1, b: 2}"
        );
        assert_eq!(ex("{ '${k}': v }"), "{(str k): v}");
        assert_eq!(
            ex("{ if: 1, true: 2, resource: 3 }"),
            "{if: 1, true: 2, resource: 3}"
        );
    }

    #[test]
    fn accessors() {
        assert_eq!(ex("a.b.c"), "(. (. a b) c)");
        assert_eq!(ex("a.?b"), "(.? a b)");
        assert_eq!(ex("a[0]['k']"), "([] ([] a 0) 'k')");
        assert_eq!(ex("a[?0]"), "([?] a 0)");
        assert_eq!(ex("a.b!.c"), "(. (nonnull (. a b)) c)");
        assert_eq!(ex("vnet::subnet.id"), "(. (:: vnet subnet) id)");
        assert_eq!(ex("a::b::c"), "(:: (:: a b) c)");
    }

    #[test]
    fn calls() {
        assert_eq!(ex("f()"), "(call f)");
        assert_eq!(ex("concat(a, 'b', 1)"), "(call concat a 'b' 1)");
        assert_eq!(
            ex("az.resourceGroup().location"),
            "(. (call az.resourceGroup) location)"
        );
        assert_eq!(ex("sys.concat(a, b)"), "(call sys.concat a b)");
        assert_eq!(
            ex("stg.listKeys().keys[0].value"),
            "(. ([] (. (call stg.listKeys) keys) 0) value)"
        );
        assert_eq!(
            ex("stg.listKeys('2023-01-01', 'x')"),
            "(call stg.listKeys '2023-01-01' 'x')"
        );
        assert_eq!(ex("f(\n  a,\n  b\n)"), "(call f a b)");
        assert_eq!(ex("f(a,)"), "(call f a)");
    }

    #[test]
    fn operators_and_precedence() {
        assert_eq!(ex("a || b && c"), "(|| a (&& b c))");
        assert_eq!(ex("a == b || c != d"), "(|| (== a b) (!= c d))");
        assert_eq!(ex("a =~ b && c !~ d"), "(&& (=~ a b) (!~ c d))");
        assert_eq!(
            ex("1 + 2 * 3 - 4 / 5 % 6"),
            "(- (+ 1 (* 2 3)) (% (/ 4 5) 6))"
        );
        assert_eq!(ex("a < b == c >= d"), "(== (< a b) (>= c d))");
        assert_eq!(ex("a <= b"), "(<= a b)");
        assert_eq!(ex("a > b"), "(> a b)");
        assert_eq!(ex("!a && -b < 0"), "(&& (not a) (< (neg b) 0))");
        assert_eq!(ex("!!a"), "(not (not a))");
        assert_eq!(ex("a ?? b ?? c"), "(?? (?? a b) c)");
        assert_eq!(ex("a ?? b || c"), "(?? a (|| b c))");
        assert_eq!(ex("a ? b : c ? d : e"), "(? a b (? c d e))");
        assert_eq!(ex("a ?? b ? c : d"), "(? (?? a b) c d)");
        assert_eq!(ex("(a + b) * c"), "(* (paren (+ a b)) c)");
        assert_eq!(ex("(\n  a\n  ? b\n  : c\n)"), "(paren (? a b c))");
    }

    #[test]
    fn lambdas() {
        assert_eq!(
            ex("map(xs, x => x.name)"),
            "(call map xs (=> (x) (. x name)))"
        );
        assert_eq!(
            ex("reduce(xs, 0, (acc, x) => acc + x)"),
            "(call reduce xs 0 (=> (acc, x) (+ acc x)))"
        );
        assert_eq!(ex("() => 1"), "(=> () 1)");
        assert_eq!(ex("(x) => x"), "(=> (x) x)");
        assert_eq!(ex("(x string, y int) => x"), "(=> (x string, y int) x)");
        assert_eq!(ex("(x)"), "(paren x)");
        assert_eq!(ex("x => y => x"), "(=> (x) (=> (y) x))");
        assert_eq!(
            ex("sort(xs, (a, b) => a < b)"),
            "(call sort xs (=> (a, b) (< a b)))"
        );
    }

    #[test]
    fn for_expressions_anywhere() {
        assert_eq!(ex("[for x in xs: x.id]"), "(for x in xs (. x id))");
        assert_eq!(ex("[for (x, i) in xs: i]"), "(for x i in xs i)");
        assert_eq!(
            ex("[for x in range(0, 3): if (x > 1) x]"),
            "(for x in (call range 0 3) (if (> x 1) x))"
        );
        assert_eq!(
            ex("{\n  a: [for x in xs: {\n    n: x\n  }]\n}"),
            "{a: (for x in xs {n: x})}"
        );
        assert_eq!(
            ex("union([for x in a: x], [])"),
            "(call union (for x in a x) [])"
        );
        // An array whose first item is a variable named `for` is not a loop.
        assert_eq!(ex("[for]"), "[for]");
    }

    #[test]
    fn newlines_end_statements() {
        assert_eq!(
            stmts("var a = 1\nvar b = a\n\n\nvar c = 2"),
            "var a = 1\nvar b = a\nvar c = 2"
        );
        assert_eq!(
            stmts("var a = 1 // trailing\n/* block */ var b = 2"),
            "var a = 1\nvar b = 2"
        );
        assert_eq!(stmts("var a = 1\r\nvar b = 2\r\n"), "var a = 1\nvar b = 2");
        let e = errors("var a = 1 var b = 2");
        assert_eq!(e[0].0, "var");
        assert!(e[0].1.starts_with("expected new line"), "{e:?}");
    }

    // ---- comments and trivia ----

    #[test]
    fn comments_are_kept() {
        let text = "// basegate:ignore BG1001 reason\nresource a 'T@1' = {\n  name: 'x' /* inline */\n  #disable-next-line BCP081\n  kind: 'y' // trailing\n}";
        let p = clean(text);
        let comments: Vec<&str> = p.comments.iter().map(|r| slice(text, *r)).collect();
        assert_eq!(
            comments,
            [
                "// basegate:ignore BG1001 reason",
                "/* inline */",
                "#disable-next-line BCP081",
                "// trailing"
            ]
        );
        // `//` inside strings is not a comment.
        let p = clean("var u = 'https://x' // c");
        assert_eq!(p.comments.len(), 1);
        assert_eq!(clean("\u{feff}var a = 1").program.statements.len(), 1);
    }

    // ---- errors ----

    #[test]
    fn missing_expression_at_end() {
        let text = "param x string = ";
        let p = parse(text);
        assert_eq!(p.errors.len(), 1, "{:?}", p.errors);
        assert_eq!(p.errors[0].range, TextRange::empty(text.len() as u32));
        assert_eq!(
            p.errors[0].message,
            "expected expression, found end of file"
        );
        let p = parse("param x string = \nparam y int");
        assert_eq!(p.errors[0].message, "expected expression, found new line");
        assert_eq!(p.errors[0].range.start, 17);
        assert_eq!(p.program.statements.len(), 2);
    }

    #[test]
    fn messages_say_expected_and_found() {
        assert_eq!(
            errors("param 1 string"),
            [(
                "1".to_string(),
                "expected parameter name, found integer 1".to_string()
            )]
        );
        assert_eq!(
            errors("resource r 'T@1' {}")[0].1,
            "expected '=', found '{'"
        );
        assert_eq!(
            errors("var x = {\n  a 1\n}")[0].1,
            "expected ':', found integer 1"
        );
        assert_eq!(
            errors("var x = [1 2]")[0].1,
            "expected ',', new line or ']', found integer 2"
        );
        assert_eq!(
            errors("var x = f(1 2)")[0].1,
            "expected ',' or ')', found integer 2"
        );
        assert_eq!(
            errors("foo bar")[0].1,
            "expected a declaration (param, var, resource, module, output, type, func, import, ...), found identifier 'foo'"
        );
        assert_eq!(
            errors("var x = a ? b")[0].1,
            "expected ':' of the conditional expression, found end of file"
        );
        assert_eq!(
            errors("@description('x')\n")[0].1,
            "expected a declaration after the decorators, found end of file"
        );
    }

    #[test]
    fn recovery_reports_several_errors_and_keeps_going() {
        let text = "param a string = )\nvar b = [1 2]\nresource r 'T@1' = {\n  name: \n  kind: 'k'\n}\noutput o string = 'ok'\n";
        let p = parse(text);
        assert!(p.errors.len() >= 3, "{:?}", p.errors);
        let kinds: Vec<&str> = p
            .program
            .statements
            .iter()
            .map(|s| slice(text, s.keyword))
            .collect();
        assert_eq!(kinds, ["param", "var", "resource", "output"]);
        let StatementKind::Resource(r) = &p.program.statements[2].kind else {
            panic!()
        };
        assert_eq!(sx(&r.body), "{name: ERR, kind: 'k'}");
    }

    #[test]
    fn unclosed_object_does_not_swallow_the_file() {
        let text = "resource r 'T@1' = {\n  name: 'x'\n\nparam p string\noutput o string = p\n";
        let p = parse(text);
        assert_eq!(p.errors.len(), 1, "{:?}", p.errors);
        assert_eq!(
            p.errors[0].message,
            "expected '}', found identifier 'param'"
        );
        let kinds: Vec<&str> = p
            .program
            .statements
            .iter()
            .map(|s| slice(text, s.keyword))
            .collect();
        assert_eq!(kinds, ["resource", "param", "output"]);
    }

    #[test]
    fn unterminated_strings_comments_and_interpolations() {
        let e = errors("var a = 'abc\nvar b = 1");
        assert_eq!(e[0].0, "'abc");
        assert!(e[0].1.starts_with("unterminated string"), "{e:?}");
        let p = parse("var a = 'abc\nvar b = 1");
        assert_eq!(p.program.statements.len(), 2);

        let p = parse("var a = 'x${b\nvar c = 1");
        assert!(
            p.errors[0]
                .message
                .starts_with("unterminated string interpolation"),
            "{:?}",
            p.errors
        );
        assert_eq!(p.program.statements.len(), 2);

        let p = parse("var a = 'x${f(b, {\nvar c = 1");
        assert!(!p.errors.is_empty());
        assert_eq!(p.program.statements.len(), 2, "{:?}", p.errors);

        let e = errors("var a = '''abc\n");
        assert_eq!(e[0].0, "'''abc\n");
        assert!(e[0].1.starts_with("unterminated multi-line string"));

        let e = errors("var a = 1 /* abc");
        assert_eq!(e[0].0, "/* abc");
        assert!(e[0].1.starts_with("unterminated block comment"));

        let e = errors("var a = 'x${b}");
        assert!(e[0].1.starts_with("unterminated string"), "{e:?}");
        let e = errors("var a = 'x${");
        assert!(!e.is_empty());
        let e = errors("var a = '\\q'");
        assert_eq!(e[0].0, "\\q");
        assert!(e[0].1.starts_with("invalid escape"));
        let e = errors("var a = '\\u{110000}'");
        assert!(e[0].1.starts_with("invalid escape"), "{e:?}");
    }

    #[test]
    fn unexpected_characters_keep_char_boundaries() {
        let text = "var a = 1 ✓ 2\nvar é = 3";
        let p = parse(text);
        assert!(!p.errors.is_empty());
        for e in &p.errors {
            assert!(text.is_char_boundary(e.range.start as usize));
            assert!(text.is_char_boundary(e.range.end as usize));
        }
        assert_eq!(slice(text, p.errors[0].range), "✓");
    }

    fn assert_deep_nesting_is_an_error(open: &str, close: &str) {
        for closed in [false, true] {
            let mut text = String::from("var x = ");
            text.push_str(&open.repeat(10_000));
            text.push('1');
            if closed {
                text.push_str(&close.repeat(10_000));
            }
            text.push_str("\nvar y = 2\n");
            let p = parse(&text);
            assert!(
                p.errors
                    .iter()
                    .any(|e| e.message.starts_with("nesting too deep")),
                "{open}: {:?}",
                &p.errors[..p.errors.len().min(3)]
            );
            assert!(p.errors.len() < 10, "{open}: {} errors", p.errors.len());
            if closed {
                // Back at a safe point, the next statement still parses.
                assert_eq!(p.program.statements.len(), 2, "{open}");
            }
        }
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_crash() {
        assert_deep_nesting_is_an_error("[", "]");
        assert_deep_nesting_is_an_error("(", ")");
        assert_deep_nesting_is_an_error("{a:", "}");
        assert_deep_nesting_is_an_error("'${", "}'");
        assert_deep_nesting_is_an_error("!", "");
        assert_deep_nesting_is_an_error("-", "");
        assert_deep_nesting_is_an_error("x => ", "");
        assert_deep_nesting_is_an_error("a ? b : ", "");
        assert_deep_nesting_is_an_error("f(", ")");
    }

    #[test]
    fn deep_types_and_long_chains_are_bounded() {
        let text = format!(
            "type t = {}string{}",
            "{a:".repeat(10_000),
            "}".repeat(10_000)
        );
        assert!(parse(&text)
            .errors
            .iter()
            .any(|e| e.message.starts_with("nesting too deep")));
        let text = format!("type t = string{}", "[]".repeat(10_000));
        assert!(parse(&text)
            .errors
            .iter()
            .any(|e| e.message.starts_with("nesting too deep")));
        let text = format!("type t = {}string", "(".repeat(10_000));
        assert!(!parse(&text).errors.is_empty());
        let text = format!("var x = a{}", ".b".repeat(100_000));
        assert!(parse(&text)
            .errors
            .iter()
            .any(|e| e.message.starts_with("nesting too deep")));
        let text = format!("var x = 1{}", " + 1".repeat(100_000));
        assert!(parse(&text)
            .errors
            .iter()
            .any(|e| e.message.starts_with("nesting too deep")));
        // Chains nested in chains: the tree height limit catches what the depth cap cannot.
        let mut text = String::from("var x = ");
        for _ in 0..150 {
            text.push_str("(a.b.c.d.e.f.g.h.i.j.k.l.m.n.o.p.q.r.s.t.u.v.w.x.y.z + ");
        }
        text.push('1');
        text.push_str(&")".repeat(150));
        let p = parse(&text);
        assert!(
            p.errors
                .iter()
                .any(|e| e.message.starts_with("nesting too deep")),
            "{:?}",
            p.errors
        );
    }

    #[test]
    fn typical_nesting_is_fine() {
        let text = format!("var x = {}1{}", "[".repeat(100), "]".repeat(100));
        clean(&text);
    }
}
