//! lexer: Bicep text to a flat token list, comments and lexical errors, in one byte pass.
//!
//! Strings with interpolation are split the way Bicep's own lexer does it: `'a${` is a
//! [`TokenKind::StringLeft`], `}b${` a [`TokenKind::StringMiddle`], `}c'` a
//! [`TokenKind::StringRight`], and the expression tokens sit in between. A stack of open
//! `{` and `${` tells which `}` resumes a string. Newlines are tokens because Bicep ends
//! statements and separates array/object items with them; comments are kept aside as ranges.

use super::syntax::TextRange;
use super::SyntaxError;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum TokenKind {
    Ident,
    Int,
    /// `'...'` without interpolation.
    String,
    /// `'...${`
    StringLeft,
    /// `}...${`
    StringMiddle,
    /// `}...'`
    StringRight,
    /// `'''...'''`
    MultilineString,
    LBrace,
    RBrace,
    LBracket,
    RBracket,
    LParen,
    RParen,
    Comma,
    Dot,
    Colon,
    DoubleColon,
    Semicolon,
    Question,
    DoubleQuestion,
    At,
    Assign,
    Eq,
    NotEq,
    EqI,
    NotEqI,
    Lt,
    Le,
    Gt,
    Ge,
    Plus,
    Minus,
    Star,
    Slash,
    Percent,
    Bang,
    AndAnd,
    OrOr,
    Pipe,
    Arrow,
    Ellipsis,
    NewLine,
    Eof,
}

impl TokenKind {
    /// How an error message names a token of this kind.
    pub(crate) fn describe(self) -> &'static str {
        use TokenKind::*;
        match self {
            Ident => "identifier",
            Int => "integer",
            String | StringLeft | MultilineString => "string",
            StringMiddle | StringRight => "'}'",
            LBrace => "'{'",
            RBrace => "'}'",
            LBracket => "'['",
            RBracket => "']'",
            LParen => "'('",
            RParen => "')'",
            Comma => "','",
            Dot => "'.'",
            Colon => "':'",
            DoubleColon => "'::'",
            Semicolon => "';'",
            Question => "'?'",
            DoubleQuestion => "'??'",
            At => "'@'",
            Assign => "'='",
            Eq => "'=='",
            NotEq => "'!='",
            EqI => "'=~'",
            NotEqI => "'!~'",
            Lt => "'<'",
            Le => "'<='",
            Gt => "'>'",
            Ge => "'>='",
            Plus => "'+'",
            Minus => "'-'",
            Star => "'*'",
            Slash => "'/'",
            Percent => "'%'",
            Bang => "'!'",
            AndAnd => "'&&'",
            OrOr => "'||'",
            Pipe => "'|'",
            Arrow => "'=>'",
            Ellipsis => "'...'",
            NewLine => "new line",
            Eof => "end of file",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Token {
    pub kind: TokenKind,
    /// For string tokens: the closing quote (or `${`) is missing.
    pub unterminated: bool,
    /// For pieces of an interpolated multi-line string (`$'''...${x}...'''`): how many `$`
    /// open an interpolation in it (`$$'''` makes `${` literal text and `$${` interpolate).
    pub dollars: u8,
    pub start: u32,
    pub end: u32,
}

impl Token {
    pub(crate) fn range(&self) -> TextRange {
        TextRange {
            start: self.start,
            end: self.end,
        }
    }
}

pub(crate) struct Lexed {
    /// Always ends with one [`TokenKind::Eof`].
    pub tokens: Vec<Token>,
    pub comments: Vec<TextRange>,
    pub errors: Vec<SyntaxError>,
}

/// What an open `{` on the lexer's stack was.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Open {
    Brace,
    Interpolation,
    /// Inside `${` of a `$'''` multi-line string with that many dollars.
    Multiline(u8),
}

struct Lexer<'a> {
    text: &'a str,
    bytes: &'a [u8],
    pos: usize,
    tokens: Vec<Token>,
    comments: Vec<TextRange>,
    errors: Vec<SyntaxError>,
    stack: Vec<Open>,
}

pub(crate) fn lex(text: &str) -> Lexed {
    // Offsets are u32 throughout; a larger file is cut off with an error rather than wrapped.
    let limit = text.len().min(u32::MAX as usize - 1);
    let mut lexer = Lexer {
        text,
        bytes: &text.as_bytes()[..limit],
        pos: 0,
        tokens: Vec::with_capacity(text.len() / 4 + 1),
        comments: Vec::new(),
        errors: Vec::new(),
        stack: Vec::new(),
    };
    if limit < text.len() {
        lexer.error(
            limit,
            limit,
            "file too large: expected at most 4 GiB of text".into(),
        );
    }
    // A byte-order mark is not part of the program.
    if lexer.bytes.starts_with("\u{feff}".as_bytes()) {
        lexer.pos = 3;
    }
    lexer.run();
    let end = lexer.bytes.len() as u32;
    lexer.tokens.push(Token {
        kind: TokenKind::Eof,
        unterminated: false,
        dollars: 0,
        start: end,
        end,
    });
    Lexed {
        tokens: lexer.tokens,
        comments: lexer.comments,
        errors: lexer.errors,
    }
}

fn is_ident_start(b: u8) -> bool {
    b.is_ascii_alphabetic() || b == b'_'
}

fn is_ident_continue(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

impl Lexer<'_> {
    fn error(&mut self, start: usize, end: usize, message: String) {
        self.errors.push(SyntaxError {
            range: TextRange::new(start as u32, end as u32),
            message,
        });
    }

    fn push(&mut self, kind: TokenKind, start: usize, end: usize) {
        self.tokens.push(Token {
            kind,
            unterminated: false,
            dollars: 0,
            start: start as u32,
            end: end as u32,
        });
    }

    fn peek(&self, ahead: usize) -> u8 {
        self.bytes.get(self.pos + ahead).copied().unwrap_or(0)
    }

    fn run(&mut self) {
        while self.pos < self.bytes.len() {
            let start = self.pos;
            let b = self.bytes[start];
            match b {
                b' ' | b'\t' | b'\r' => {
                    self.pos += 1;
                    while matches!(self.peek(0), b' ' | b'\t' | b'\r') {
                        self.pos += 1;
                    }
                }
                b'\n' => self.newline(),
                b'/' if self.peek(1) == b'/' => self.line_comment(),
                // `#disable-next-line rule`, `#disable-diagnostics`, `#restore-diagnostics`:
                // Bicep's linter pragmas run to the end of their line, and only start one.
                b'#' if self.at_line_start(start) => self.line_comment(),
                b'/' if self.peek(1) == b'*' => self.block_comment(),
                b'\'' => {
                    if self.peek(1) == b'\'' && self.peek(2) == b'\'' {
                        self.multiline_string();
                    } else {
                        self.pos += 1;
                        self.string_segment(start, true);
                    }
                }
                b'{' => {
                    self.stack.push(Open::Brace);
                    self.single(TokenKind::LBrace);
                }
                b'}' => match self.stack.pop() {
                    Some(Open::Interpolation) => {
                        self.pos += 1;
                        self.string_segment(start, false);
                    }
                    Some(Open::Multiline(n)) => {
                        self.pos += 1;
                        self.multiline_segment(start, false, n);
                    }
                    _ => self.single(TokenKind::RBrace),
                },
                b'$' => {
                    let n = self.bytes[start..]
                        .iter()
                        .take_while(|&&b| b == b'$')
                        .count();
                    if self.bytes[start + n..].starts_with(b"'''") && n <= u8::MAX as usize {
                        self.pos = start + n + 3;
                        self.multiline_segment(start, true, n as u8);
                    } else {
                        self.punctuation(b);
                    }
                }
                b'0'..=b'9' => {
                    while self.peek(0).is_ascii_digit() {
                        self.pos += 1;
                    }
                    self.push(TokenKind::Int, start, self.pos);
                }
                _ if is_ident_start(b) => {
                    while is_ident_continue(self.peek(0)) {
                        self.pos += 1;
                    }
                    self.push(TokenKind::Ident, start, self.pos);
                }
                _ => self.punctuation(b),
            }
        }
        let end = self.bytes.len();
        if self.stack.iter().any(|o| *o != Open::Brace) {
            self.error(
                end,
                end,
                "unterminated string interpolation: expected '}', found end of file".into(),
            );
            self.close_interpolations(end, true);
        }
    }

    /// Ends every open interpolation at `at` (from the first ordinary one, or from the
    /// first of any kind with `all`) with an empty, unterminated string end, so the parser
    /// sees each string close where the lexer gave up on it.
    fn close_interpolations(&mut self, at: usize, all: bool) {
        let first = self.stack.iter().position(|o| match o {
            Open::Brace => false,
            Open::Interpolation => true,
            Open::Multiline(_) => all,
        });
        if let Some(first) = first {
            for open in self.stack.drain(first..).rev() {
                if open != Open::Brace {
                    self.tokens.push(Token {
                        kind: TokenKind::StringRight,
                        unterminated: true,
                        dollars: match open {
                            Open::Multiline(n) => n,
                            _ => 0,
                        },
                        start: at as u32,
                        end: at as u32,
                    });
                }
            }
        }
    }

    fn at_line_start(&self, at: usize) -> bool {
        let before = &self.bytes[..at];
        let line_start = before
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(0, |i| i + 1);
        before[line_start..]
            .iter()
            .all(|&b| matches!(b, b' ' | b'\t' | b'\r'))
    }

    fn single(&mut self, kind: TokenKind) {
        self.pos += 1;
        self.push(kind, self.pos - 1, self.pos);
    }

    fn two(&mut self, kind: TokenKind) {
        self.pos += 2;
        self.push(kind, self.pos - 2, self.pos);
    }

    fn punctuation(&mut self, b: u8) {
        use TokenKind::*;
        let next = self.peek(1);
        match (b, next) {
            (b'[', _) => self.single(LBracket),
            (b']', _) => self.single(RBracket),
            (b'(', _) => self.single(LParen),
            (b')', _) => self.single(RParen),
            (b',', _) => self.single(Comma),
            (b'.', b'.') if self.peek(2) == b'.' => {
                self.pos += 3;
                self.push(Ellipsis, self.pos - 3, self.pos);
            }
            (b'.', _) => self.single(Dot),
            (b':', b':') => self.two(DoubleColon),
            (b':', _) => self.single(Colon),
            (b';', _) => self.single(Semicolon),
            (b'?', b'?') => self.two(DoubleQuestion),
            (b'?', _) => self.single(Question),
            (b'@', _) => self.single(At),
            (b'=', b'=') => self.two(Eq),
            (b'=', b'~') => self.two(EqI),
            (b'=', b'>') => self.two(Arrow),
            (b'=', _) => self.single(Assign),
            (b'!', b'=') => self.two(NotEq),
            (b'!', b'~') => self.two(NotEqI),
            (b'!', _) => self.single(Bang),
            (b'<', b'=') => self.two(Le),
            (b'<', _) => self.single(Lt),
            (b'>', b'=') => self.two(Ge),
            (b'>', _) => self.single(Gt),
            (b'+', _) => self.single(Plus),
            (b'-', _) => self.single(Minus),
            (b'*', _) => self.single(Star),
            (b'/', _) => self.single(Slash),
            (b'%', _) => self.single(Percent),
            (b'&', b'&') => self.two(AndAnd),
            (b'|', b'|') => self.two(OrOr),
            (b'|', _) => self.single(Pipe),
            _ => {
                // Skip one whole character so every range stays on a char boundary.
                let start = self.pos;
                let ch = self.text[start..].chars().next().unwrap_or('\u{fffd}');
                self.pos += ch.len_utf8().max(1);
                let shown = if ch.is_control() {
                    format!("{:?}", ch)
                } else {
                    format!("'{ch}'")
                };
                self.error(
                    start,
                    self.pos,
                    format!("unexpected character {shown}: expected a token"),
                );
            }
        }
    }

    fn newline(&mut self) {
        // Bicep strings cannot span lines, so an interpolation still open here is unterminated;
        // closing it now keeps the damage to this line instead of the rest of the file.
        if self.stack.contains(&Open::Interpolation) {
            self.error(
                self.pos,
                self.pos,
                "unterminated string interpolation: expected '}', found new line".into(),
            );
            self.close_interpolations(self.pos, false);
        }
        let start = self.pos;
        self.pos += 1;
        // Consecutive line breaks (with blanks and comments between) make one token.
        let merge = matches!(self.tokens.last(), Some(t) if t.kind == TokenKind::NewLine);
        if !merge {
            self.push(TokenKind::NewLine, start, start + 1);
        }
    }

    fn line_comment(&mut self) {
        let start = self.pos;
        let len = memchr_newline(&self.bytes[start..]);
        self.pos = start + len;
        self.comments
            .push(TextRange::new(start as u32, self.pos as u32));
    }

    fn block_comment(&mut self) {
        let start = self.pos;
        let body = &self.bytes[start + 2..];
        match find_pair(body, b'*', b'/') {
            Some(i) => self.pos = start + 2 + i + 2,
            None => {
                self.pos = self.bytes.len();
                self.error(
                    start,
                    self.pos,
                    "unterminated block comment: expected '*/', found end of file".into(),
                );
            }
        }
        self.comments
            .push(TextRange::new(start as u32, self.pos as u32));
    }

    fn multiline_string(&mut self) {
        let start = self.pos;
        let body_start = start + 3;
        let body = &self.bytes[body_start..];
        let mut found = None;
        let mut i = 0;
        while let Some(j) = memchr(b'\'', &body[i..]) {
            let at = i + j;
            if body[at..].starts_with(b"'''") {
                // Quotes just before the closing `'''` belong to the content.
                let mut close = at;
                while body.get(close + 3) == Some(&b'\'') {
                    close += 1;
                }
                found = Some(close);
                break;
            }
            i = at + 1;
        }
        let unterminated = found.is_none();
        self.pos = match found {
            Some(close) => body_start + close + 3,
            None => self.bytes.len(),
        };
        if unterminated {
            self.error(
                start,
                self.pos,
                "unterminated multi-line string: expected ''', found end of file".into(),
            );
        }
        self.tokens.push(Token {
            kind: TokenKind::MultilineString,
            unterminated,
            dollars: 0,
            start: start as u32,
            end: self.pos as u32,
        });
    }

    /// Scans string text after `'` (`opening`) or after an interpolation's `}`, up to the
    /// closing `'` or the next `${`.
    fn string_segment(&mut self, start: usize, opening: bool) {
        loop {
            let Some(&b) = self.bytes.get(self.pos) else {
                self.error(
                    start,
                    self.pos,
                    "unterminated string: expected \"'\", found end of file".into(),
                );
                return self.string_token(start, opening, false, true);
            };
            match b {
                b'\'' => {
                    self.pos += 1;
                    return self.string_token(start, opening, false, false);
                }
                b'$' if self.peek(1) == b'{' => {
                    self.pos += 2;
                    self.stack.push(Open::Interpolation);
                    return self.string_token(start, opening, true, false);
                }
                b'\\' => self.escape(),
                b'\n' | b'\r' if b == b'\n' || self.peek(1) == b'\n' => {
                    self.error(
                        start,
                        self.pos,
                        "unterminated string: expected \"'\", found new line".into(),
                    );
                    return self.string_token(start, opening, false, true);
                }
                _ => {
                    // Plain text: jump to the next byte that matters.
                    let rest = &self.bytes[self.pos + 1..];
                    let skip = rest
                        .iter()
                        .position(|&c| matches!(c, b'\'' | b'$' | b'\\' | b'\n' | b'\r'))
                        .unwrap_or(rest.len());
                    self.pos += 1 + skip;
                }
            }
        }
    }

    fn string_token(&mut self, start: usize, opening: bool, interp: bool, unterminated: bool) {
        let kind = match (opening, interp) {
            (true, false) => TokenKind::String,
            (true, true) => TokenKind::StringLeft,
            (false, true) => TokenKind::StringMiddle,
            (false, false) => TokenKind::StringRight,
        };
        self.tokens.push(Token {
            kind,
            unterminated,
            dollars: 0,
            start: start as u32,
            end: self.pos as u32,
        });
    }

    /// Scans the text of a `$'''` multi-line string after its opening (`opening`) or after
    /// an interpolation's `}`: up to the closing `'''` or the next `n` dollars and `{`.
    /// No escapes here, as in plain multi-line strings.
    fn multiline_segment(&mut self, start: usize, opening: bool, n: u8) {
        let needed = n as usize;
        let end_kind = if opening {
            TokenKind::MultilineString
        } else {
            TokenKind::StringRight
        };
        loop {
            let rest = &self.bytes[self.pos..];
            let Some(i) = rest.iter().position(|&b| b == b'\'' || b == b'$') else {
                self.pos = self.bytes.len();
                self.error(
                    start,
                    self.pos,
                    "unterminated multi-line string: expected ''', found end of file".into(),
                );
                return self.multiline_token(end_kind, start, n, true);
            };
            let at = self.pos + i;
            if self.bytes[at] == b'\'' {
                if self.bytes[at..].starts_with(b"'''") {
                    // Quotes just before the closing `'''` belong to the content.
                    let mut close = at;
                    while self.bytes.get(close + 3) == Some(&b'\'') {
                        close += 1;
                    }
                    self.pos = close + 3;
                    return self.multiline_token(end_kind, start, n, false);
                }
                self.pos = at + 1;
                continue;
            }
            let run = self.bytes[at..].iter().take_while(|&&b| b == b'$').count();
            if run >= needed && self.bytes.get(at + run) == Some(&b'{') {
                self.pos = at + run + 1;
                self.stack.push(Open::Multiline(n));
                let kind = if opening {
                    TokenKind::StringLeft
                } else {
                    TokenKind::StringMiddle
                };
                return self.multiline_token(kind, start, n, false);
            }
            self.pos = at + run;
        }
    }

    fn multiline_token(&mut self, kind: TokenKind, start: usize, n: u8, unterminated: bool) {
        self.tokens.push(Token {
            kind,
            unterminated,
            dollars: n,
            start: start as u32,
            end: self.pos as u32,
        });
    }

    fn escape(&mut self) {
        let start = self.pos;
        self.pos += 1;
        match self.peek(0) {
            b'\'' | b'\\' | b'n' | b'r' | b't' | b'$' => self.pos += 1,
            b'u' if self.peek(1) == b'{' => {
                let digits_start = self.pos + 2;
                let mut end = digits_start;
                while self.bytes.get(end).is_some_and(|b| b.is_ascii_hexdigit()) {
                    end += 1;
                }
                let closed = self.bytes.get(end) == Some(&b'}');
                let value = std::str::from_utf8(&self.bytes[digits_start..end])
                    .ok()
                    .and_then(|d| u32::from_str_radix(d, 16).ok())
                    .and_then(char::from_u32);
                if closed && end > digits_start && value.is_some() {
                    self.pos = end + 1;
                } else {
                    self.pos = end + usize::from(closed);
                    self.error(
                        start,
                        self.pos,
                        "invalid escape: expected '\\u{' hex digits of a Unicode code point '}'"
                            .into(),
                    );
                }
            }
            _ => {
                // Leave a line break or quote to the string scanner; skip any other char whole.
                let ch = self.text.get(self.pos..).and_then(|s| s.chars().next());
                let found = match ch {
                    None => "end of file".to_string(),
                    Some(c) if c == '\n' || c == '\r' || c == '\'' => format!("{c:?}"),
                    Some(c) => {
                        self.pos += c.len_utf8();
                        format!("'{c}'")
                    }
                };
                self.error(
                    start,
                    self.pos,
                    format!(
                        "invalid escape: expected one of \\' \\\\ \\n \\r \\t \\$ \\u{{...}} after '\\', found {found}"
                    ),
                );
            }
        }
    }
}

fn memchr(needle: u8, hay: &[u8]) -> Option<usize> {
    hay.iter().position(|&b| b == needle)
}

fn memchr_newline(hay: &[u8]) -> usize {
    // `\r\n` line ends leave the `\r` inside the comment range; trim it.
    let n = memchr(b'\n', hay).unwrap_or(hay.len());
    if n > 0 && hay[n - 1] == b'\r' {
        n - 1
    } else {
        n
    }
}

fn find_pair(hay: &[u8], a: u8, b: u8) -> Option<usize> {
    hay.windows(2).position(|w| w[0] == a && w[1] == b)
}

/// The decoded text of a string token's content: escapes resolved, delimiters stripped.
pub(crate) fn decode_string(text: &str, token: &Token) -> String {
    let raw = &text[token.start as usize..token.end as usize];
    if token.dollars > 0 {
        return decode_interpolated_multiline(raw, token);
    }
    if token.kind == TokenKind::MultilineString {
        let mut body = raw.get(3..).unwrap_or("");
        if !token.unterminated {
            body = body.strip_suffix("\'\'\'").unwrap_or(body);
        }
        // The line break right after the opening `'''` is not part of the value.
        let body = body
            .strip_prefix("\r\n")
            .or_else(|| body.strip_prefix('\n'))
            .unwrap_or(body);
        return body.to_string();
    }
    let body = match token.kind {
        TokenKind::StringMiddle | TokenKind::StringRight => raw.strip_prefix('}'),
        _ => raw.strip_prefix('\''),
    }
    .unwrap_or(raw);
    let body = match token.kind {
        TokenKind::StringLeft | TokenKind::StringMiddle => body.strip_suffix("${"),
        _ if token.unterminated => None,
        _ => body.strip_suffix('\''),
    }
    .unwrap_or(body);
    unescape(body)
}

fn decode_interpolated_multiline(raw: &str, token: &Token) -> String {
    let n = token.dollars as usize;
    let opening = matches!(
        token.kind,
        TokenKind::MultilineString | TokenKind::StringLeft
    );
    let mut body = if opening {
        let body = raw.trim_start_matches('$');
        let body = body.strip_prefix("'''").unwrap_or(body);
        // The line break right after the opening `'''` is not part of the value.
        body.strip_prefix("\r\n")
            .or_else(|| body.strip_prefix('\n'))
            .unwrap_or(body)
    } else {
        raw.strip_prefix('}').unwrap_or(raw)
    };
    match token.kind {
        TokenKind::StringLeft | TokenKind::StringMiddle => {
            body = body.get(..body.len().saturating_sub(n + 1)).unwrap_or("");
        }
        _ if !token.unterminated => body = body.strip_suffix("'''").unwrap_or(body),
        _ => {}
    }
    body.to_string()
}

fn unescape(body: &str) -> String {
    if !body.contains('\\') {
        return body.to_string();
    }
    let mut out = String::with_capacity(body.len());
    let mut rest = body;
    while let Some(i) = rest.find('\\') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        let mut chars = after.chars();
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some('t') => out.push('\t'),
            Some(c @ ('\'' | '\\' | '$')) => out.push(c),
            Some('u') if after[1..].starts_with('{') => {
                let inner = &after[2..];
                let close = inner.find('}');
                let ch = close
                    .and_then(|c| u32::from_str_radix(&inner[..c], 16).ok())
                    .and_then(char::from_u32);
                out.push(ch.unwrap_or('\u{fffd}'));
                rest = match close {
                    Some(c) => &inner[c + 1..],
                    None => "",
                };
                continue;
            }
            Some(c) => out.push(c),
            None => {}
        }
        rest = chars.as_str();
    }
    out.push_str(rest);
    out
}
