//! parse: JSON as Azure reads it, into [`Node`] trees with a span on every value.
//!
//! ARM accepts more than RFC 8259: `//` and `/* */` comments, trailing commas, raw line
//! breaks inside strings (multi-line expressions), and a UTF-8 byte-order mark. Templates
//! written for VS Code use all of them, and a scanner that rejects them skips the file —
//! the silent false negative users complain about. So this is our own small parser rather
//! than serde_json (no spans, no comments) or a generic JSONC crate: it builds the model's
//! `Node` directly (no intermediate tree, which the benchmarks showed as the parse cost),
//! caps nesting so hostile input cannot exhaust the stack, and keeps comment ranges for
//! inline suppressions.

use crate::model::{Node, Seq, Str, Value};
use crate::source::{FileId, Span};

/// Deeper nesting than this is refused. Real templates stay under 30 levels; the cap keeps
/// the recursive descent well inside a 2 MiB thread stack.
pub const MAX_DEPTH: usize = 512;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonError {
    pub offset: usize,
    pub message: String,
}

/// A parsed document: the root value and the byte ranges of its comments.
#[derive(Debug)]
pub struct JsonDoc {
    pub root: Node,
    pub comments: Vec<(u32, u32)>,
}

pub fn parse(text: &str, file: FileId) -> Result<JsonDoc, JsonError> {
    let mut p = Parser {
        src: text.as_bytes(),
        text,
        pos: 0,
        file,
        comments: Vec::new(),
        depth: 0,
    };
    if text.starts_with('\u{feff}') {
        p.pos = 3;
    }
    p.skip_ws()?;
    if p.pos >= p.src.len() {
        return Err(p.err("the file is empty: expected a JSON value"));
    }
    let root = p.value()?;
    p.skip_ws()?;
    if p.pos < p.src.len() {
        return Err(p.err("unexpected text after the end of the JSON value"));
    }
    Ok(JsonDoc {
        root,
        comments: p.comments,
    })
}

struct Parser<'a> {
    src: &'a [u8],
    text: &'a str,
    pos: usize,
    file: FileId,
    comments: Vec<(u32, u32)>,
    depth: usize,
}

impl<'a> Parser<'a> {
    fn err(&self, message: impl Into<String>) -> JsonError {
        JsonError {
            offset: self.pos.min(self.src.len()),
            message: message.into(),
        }
    }

    fn span(&self, start: usize) -> Span {
        Span::new(self.file, start, self.pos)
    }

    fn skip_ws(&mut self) -> Result<(), JsonError> {
        while let Some(&b) = self.src.get(self.pos) {
            match b {
                b' ' | b'\t' | b'\n' | b'\r' => self.pos += 1,
                b'/' => match self.src.get(self.pos + 1) {
                    Some(b'/') => {
                        let start = self.pos;
                        while self.pos < self.src.len() && self.src[self.pos] != b'\n' {
                            self.pos += 1;
                        }
                        self.comments.push((start as u32, self.pos as u32));
                    }
                    Some(b'*') => {
                        let start = self.pos;
                        match find(&self.src[self.pos + 2..], b"*/") {
                            Some(i) => self.pos += 2 + i + 2,
                            None => {
                                self.pos = start;
                                return Err(self.err("unterminated block comment: expected `*/`"));
                            }
                        }
                        self.comments.push((start as u32, self.pos as u32));
                    }
                    _ => return Err(self.err("unexpected `/`: expected a value or a comment")),
                },
                _ => break,
            }
        }
        Ok(())
    }

    fn value(&mut self) -> Result<Node, JsonError> {
        let start = self.pos;
        match self.src.get(self.pos) {
            Some(b'{') => self.nested(|p| p.object()),
            Some(b'[') => self.nested(|p| p.array()),
            Some(b'"') => {
                let s = self.string()?;
                Ok(Node::new(Value::String(Str::from(s)), self.span(start)))
            }
            Some(b't') => self.keyword("true", Value::Bool(true)),
            Some(b'f') => self.keyword("false", Value::Bool(false)),
            Some(b'n') => self.keyword("null", Value::Null),
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(_) => {
                let ch = self.text[self.pos..].chars().next().unwrap_or('?');
                Err(self.err(format!("unexpected `{ch}`: expected a JSON value")))
            }
            None => Err(self.err("unexpected end of file: expected a JSON value")),
        }
    }

    fn nested(
        &mut self,
        f: impl FnOnce(&mut Self) -> Result<Node, JsonError>,
    ) -> Result<Node, JsonError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.err(format!(
                "nesting deeper than {MAX_DEPTH} levels: refused (no real template needs it)"
            )));
        }
        let r = f(self);
        self.depth -= 1;
        r
    }

    fn keyword(&mut self, word: &str, value: Value) -> Result<Node, JsonError> {
        let start = self.pos;
        if self.src[self.pos..].starts_with(word.as_bytes()) {
            self.pos += word.len();
            if self
                .src
                .get(self.pos)
                .is_some_and(|b| b.is_ascii_alphanumeric() || *b == b'_')
            {
                self.pos = start;
                return Err(self.err(format!("unexpected word: expected `{word}`")));
            }
            Ok(Node::new(value, self.span(start)))
        } else {
            Err(self.err("unexpected word: expected a JSON value (strings need double quotes)"))
        }
    }

    fn number(&mut self) -> Result<Node, JsonError> {
        let start = self.pos;
        if self.src[self.pos] == b'-' {
            self.pos += 1;
        }
        let digits = self.pos;
        while self.src.get(self.pos).is_some_and(u8::is_ascii_digit) {
            self.pos += 1;
        }
        if self.pos == digits {
            return Err(self.err("expected a digit after `-`"));
        }
        let mut float = false;
        if self.src.get(self.pos) == Some(&b'.') {
            float = true;
            self.pos += 1;
            let frac = self.pos;
            while self.src.get(self.pos).is_some_and(u8::is_ascii_digit) {
                self.pos += 1;
            }
            if self.pos == frac {
                return Err(self.err("expected a digit after the decimal point"));
            }
        }
        if matches!(self.src.get(self.pos), Some(b'e' | b'E')) {
            float = true;
            self.pos += 1;
            if matches!(self.src.get(self.pos), Some(b'+' | b'-')) {
                self.pos += 1;
            }
            let exp = self.pos;
            while self.src.get(self.pos).is_some_and(u8::is_ascii_digit) {
                self.pos += 1;
            }
            if self.pos == exp {
                return Err(self.err("expected a digit in the exponent"));
            }
        }
        let text = &self.text[start..self.pos];
        let value = if float {
            Value::Float(text.parse().unwrap_or(f64::NAN))
        } else {
            match text.parse::<i64>() {
                Ok(i) => Value::Int(i),
                // Beyond i64: keep it as a float rather than failing the file.
                Err(_) => Value::Float(text.parse().unwrap_or(f64::NAN)),
            }
        };
        Ok(Node::new(value, self.span(start)))
    }

    /// A string; `self.pos` is at the opening quote. Raw line breaks are accepted because
    /// ARM accepts multi-line expressions.
    fn string(&mut self) -> Result<String, JsonError> {
        let open = self.pos;
        self.pos += 1;
        let start = self.pos;
        // Fast path: no escapes.
        while let Some(&b) = self.src.get(self.pos) {
            match b {
                b'"' => {
                    let s = self.text[start..self.pos].to_string();
                    self.pos += 1;
                    return Ok(s);
                }
                b'\\' => break,
                _ => self.pos += 1,
            }
        }
        let mut out = String::from(&self.text[start..self.pos]);
        loop {
            let Some(&b) = self.src.get(self.pos) else {
                self.pos = open;
                return Err(self.err("unterminated string: expected a closing `\"`"));
            };
            match b {
                b'"' => {
                    self.pos += 1;
                    return Ok(out);
                }
                b'\\' => {
                    let esc_at = self.pos;
                    self.pos += 1;
                    let Some(&e) = self.src.get(self.pos) else {
                        continue;
                    };
                    self.pos += 1;
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
                            let c = self.unicode_escape(esc_at)?;
                            out.push(c);
                        }
                        _ => {
                            self.pos = esc_at;
                            return Err(self.err("invalid escape sequence in string"));
                        }
                    }
                }
                _ => {
                    // Copy the whole run up to the next quote or backslash at once.
                    let run = self.pos;
                    while self
                        .src
                        .get(self.pos)
                        .is_some_and(|&c| c != b'"' && c != b'\\')
                    {
                        self.pos += 1;
                    }
                    out.push_str(&self.text[run..self.pos]);
                }
            }
        }
    }

    fn hex4(&mut self, esc_at: usize) -> Result<u32, JsonError> {
        let digits = self.src.get(self.pos..self.pos + 4).and_then(|h| {
            std::str::from_utf8(h)
                .ok()
                .and_then(|h| u32::from_str_radix(h, 16).ok())
        });
        match digits {
            Some(v) => {
                self.pos += 4;
                Ok(v)
            }
            None => {
                self.pos = esc_at;
                Err(self.err("invalid `\\u` escape: expected four hex digits"))
            }
        }
    }

    fn unicode_escape(&mut self, esc_at: usize) -> Result<char, JsonError> {
        let hi = self.hex4(esc_at)?;
        if (0xD800..0xDC00).contains(&hi) && self.src[self.pos..].starts_with(b"\\u") {
            let save = self.pos;
            self.pos += 2;
            let lo = self.hex4(esc_at)?;
            if (0xDC00..0xE000).contains(&lo) {
                let c = 0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00);
                return Ok(char::from_u32(c).unwrap_or('\u{fffd}'));
            }
            self.pos = save;
        }
        Ok(char::from_u32(hi).unwrap_or('\u{fffd}'))
    }

    fn array(&mut self) -> Result<Node, JsonError> {
        let start = self.pos;
        self.pos += 1;
        let mut items = Seq::new();
        loop {
            self.skip_ws()?;
            match self.src.get(self.pos) {
                Some(b']') => {
                    self.pos += 1;
                    return Ok(Node::new(Value::Array(items), self.span(start)));
                }
                None => {
                    return Err(self.err("unexpected end of file: expected `]` to close the array"))
                }
                _ => {}
            }
            items.push(self.value()?);
            self.skip_ws()?;
            match self.src.get(self.pos) {
                Some(b',') => self.pos += 1,
                Some(b']') => {}
                Some(_) => return Err(self.err("expected `,` or `]` after an array item")),
                None => {
                    return Err(self.err("unexpected end of file: expected `]` to close the array"))
                }
            }
        }
    }

    fn object(&mut self) -> Result<Node, JsonError> {
        let start = self.pos;
        self.pos += 1;
        let mut members: Seq<(Str, Node)> = Seq::new();
        loop {
            self.skip_ws()?;
            match self.src.get(self.pos) {
                Some(b'}') => {
                    self.pos += 1;
                    return Ok(Node::new(Value::Object(members), self.span(start)));
                }
                Some(b'"') => {}
                None => {
                    return Err(self.err("unexpected end of file: expected `}` to close the object"))
                }
                Some(_) => {
                    return Err(self.err("expected a property name in double quotes, or `}`"))
                }
            }
            let key = self.string()?;
            self.skip_ws()?;
            if self.src.get(self.pos) != Some(&b':') {
                return Err(self.err(format!("expected `:` after the property name \"{key}\"")));
            }
            self.pos += 1;
            self.skip_ws()?;
            let value = self.value()?;
            // Duplicate names: the last one wins, as in Azure's JSON reader.
            if let Some(slot) = members.make_mut().iter_mut().find(|(k, _)| *k == key) {
                slot.1 = value;
            } else {
                members.push((Str::from(key), value));
            }
            self.skip_ws()?;
            match self.src.get(self.pos) {
                Some(b',') => self.pos += 1,
                Some(b'}') => {}
                Some(_) => return Err(self.err("expected `,` or `}` after a property value")),
                None => {
                    return Err(self.err("unexpected end of file: expected `}` to close the object"))
                }
            }
        }
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(text: &str) -> Result<JsonDoc, JsonError> {
        parse(text, FileId(0))
    }

    #[test]
    fn accepts_what_azure_accepts() {
        let text =
            "\u{feff}{\n // comment\n \"a\": [1, 2,], /* block */\n \"b\": \"line1\nline2\",\n}";
        let doc = p(text).unwrap();
        assert_eq!(doc.comments.len(), 2);
        let a = doc.root.get("A").unwrap();
        assert_eq!(a.as_array().unwrap().len(), 2);
        assert_eq!(doc.root.get("b").unwrap().as_str(), Some("line1\nline2"));
    }

    #[test]
    fn spans_cover_values() {
        let text = r#"{"k": "v", "n": -12.5e1, "t": true}"#;
        let doc = p(text).unwrap();
        let v = doc.root.get("k").unwrap();
        assert_eq!(&text[v.span.range()], "\"v\"");
        let n = doc.root.get("n").unwrap();
        assert_eq!(&text[n.span.range()], "-12.5e1");
        assert_eq!(n.value, Value::Float(-125.0));
        assert_eq!(&text[doc.root.span.range()], text);
    }

    #[test]
    fn escapes() {
        let doc = p(r#"["a\"b\\c\u00e9\ud83d\ude00\n"]"#).unwrap();
        assert_eq!(
            doc.root.as_array().unwrap()[0].as_str(),
            Some("a\"b\\cé😀\n")
        );
    }

    #[test]
    fn errors_point_at_the_problem() {
        let e = p("{\"a\": 1 \"b\": 2}").unwrap_err();
        assert_eq!(e.offset, 8);
        assert!(e.message.contains("expected `,` or `}`"), "{}", e.message);
        let e = p("{\"a\": \"unterminated}").unwrap_err();
        assert_eq!(e.offset, 6);
        assert!(p("").is_err());
        assert!(p("{} x").is_err());
        assert!(p("{'a': 1}").is_err());
        assert!(p("/* open").is_err());
        assert!(p("[tru]").is_err());
        assert!(p("[1.]").is_err());
    }

    #[test]
    fn deep_nesting_is_refused_not_a_crash() {
        let text = "[".repeat(10_000) + &"]".repeat(10_000);
        let e = p(&text).unwrap_err();
        assert!(e.message.contains("nesting"));
        let ok = "[".repeat(100) + &"]".repeat(100);
        assert!(p(&ok).is_ok());
    }

    #[test]
    fn never_panics_on_prefixes() {
        let text = "\u{feff}{\"a\": [1, {\"b\": \"c\\u00e9\"}, /* x */ -2.5e3], \"d\": null}";
        for i in 0..=text.len() {
            if text.is_char_boundary(i) {
                let _ = p(&text[..i]);
            }
        }
    }
}
