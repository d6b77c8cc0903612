//! skim (Bicep): the files a Bicep file refers to, read from its tokens alone.
//!
//! Which files are entry points depends on the references of every scanned file, so all of
//! them are read before any is evaluated. A full parse for that was a second parse of every
//! file (the evaluation parses each again when it gets there, as holding every syntax tree
//! costs more memory than the rest of the scan). Lexing is a quarter of a parse, and the
//! references sit at the start of top-level statements, so they are read off the tokens.
//!
//! Where the tokens leave any doubt (a lexical error, unbalanced brackets, a reference
//! statement that is not in its plain form), [`skim`] gives up and the caller parses the
//! file. Where it answers, the parse the evaluation makes later confirms it
//! (`modules::Loader`), and a disagreement reruns the stage on full parses: a skim can cost
//! time, never a result.

use super::lexer::{decode_string, lex, Token, TokenKind};
use super::syntax::{ExprKind, ImportItems, StatementKind};
use super::Parsed;

/// The paths a file refers to, as written, in order: `module`, `using` and `extends` paths
/// (`refs`: what makes a file not an entry point), and the sources of `import ... from`
/// (`imports`). Only plain string literals count: an interpolated path names no file.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Refs {
    pub refs: Vec<String>,
    pub imports: Vec<String>,
}

impl Refs {
    /// The references of a parsed file: what [`skim`] must agree with.
    pub fn of(parsed: &Parsed) -> Refs {
        let literal = |e: &super::syntax::Expr| match &e.kind {
            ExprKind::String(s) => s.as_literal().map(str::to_string),
            _ => None,
        };
        let mut out = Refs::default();
        for s in &parsed.program.statements {
            match &s.kind {
                StatementKind::Module(m) => out.refs.extend(literal(&m.path)),
                StatementKind::Using(d) => out.refs.extend(d.path.as_ref().and_then(literal)),
                StatementKind::Extends(e) => out.refs.extend(literal(e)),
                StatementKind::Import(d) if !matches!(d.items, ImportItems::Legacy) => {
                    out.imports.extend(literal(&d.source))
                }
                _ => {}
            }
        }
        out
    }
}

/// The references of `text`, from its tokens; None when only a parse can tell.
pub(crate) fn skim(text: &str) -> Option<Refs> {
    // A reference starts with one of these keywords, where a statement starts: a file
    // without one refers to nothing, whatever its tokens. That is 1,076 of the 1,720 files
    // of the Bicep set (785 without the words anywhere), and searching bytes is far cheaper
    // than lexing them (the lexing here was a tenth of a Bicep scan's CPU).
    if !may_refer(text.as_bytes()) {
        return Some(Refs::default());
    }
    let lexed = lex(text);
    if !lexed.errors.is_empty() {
        return None;
    }
    Skimmer {
        text,
        tokens: &lexed.tokens,
        pos: 0,
    }
    .run()
}

/// Whether a reference keyword stands where a statement may start: first on its line, or
/// after a decorator or a comment on the same line (`@batchSize(2) module …`, `/* x */
/// import …`), and followed by a space, a line end, `{`, `*` or a quote. Anything it lets
/// through is lexed; anything it misses, the parse confirms (a skim that disagrees reruns
/// the stage on full parses).
fn may_refer(b: &[u8]) -> bool {
    ["module", "using", "extends", "import"].iter().any(|k| {
        memchr::memmem::find_iter(b, k.as_bytes()).any(|at| {
            let before = b[..at]
                .iter()
                .rev()
                .find(|c| !matches!(c, b' ' | b'\t'))
                .copied();
            let after = b.get(at + k.len()).copied();
            matches!(before, None | Some(b'\n' | b'\r' | b')' | b'/'))
                && matches!(
                    after,
                    None | Some(b' ' | b'\t' | b'\r' | b'\n' | b'{' | b'*' | b'\'')
                )
        })
    })
}

struct Skimmer<'a> {
    text: &'a str,
    tokens: &'a [Token],
    pos: usize,
}

impl Skimmer<'_> {
    fn kind(&self, at: usize) -> TokenKind {
        self.tokens.get(at).map_or(TokenKind::Eof, |t| t.kind)
    }

    fn word(&self, at: usize) -> &str {
        match self.tokens.get(at) {
            Some(t) if t.kind == TokenKind::Ident => &self.text[t.start as usize..t.end as usize],
            _ => "",
        }
    }

    /// A plain (not interpolated) string at `at`, decoded.
    fn string(&self, at: usize) -> Option<String> {
        let t = self.tokens.get(at)?;
        matches!(t.kind, TokenKind::String | TokenKind::MultilineString)
            .then(|| decode_string(self.text, t))
    }

    /// True if a statement ends at `at`.
    fn ends(&self, at: usize) -> bool {
        matches!(self.kind(at), TokenKind::NewLine | TokenKind::Eof)
    }

    /// The position past the bracket that closes the one opened at `at`, if it closes.
    fn past_closing(&self, at: usize) -> Option<usize> {
        let mut depth = 0i64;
        for (i, t) in self.tokens.iter().enumerate().skip(at) {
            depth += bracket(t.kind);
            if depth == 0 {
                return Some(i + 1);
            }
        }
        None
    }

    fn run(mut self) -> Option<Refs> {
        let mut out = Refs::default();
        loop {
            while self.kind(self.pos) == TokenKind::NewLine {
                self.pos += 1;
            }
            if self.kind(self.pos) == TokenKind::Eof {
                return Some(out);
            }
            self.statement(&mut out)?;
            // The rest of the statement: to the next new line outside brackets.
            let mut depth = 0i64;
            loop {
                let k = self.kind(self.pos);
                if k == TokenKind::Eof || (k == TokenKind::NewLine && depth == 0) {
                    break;
                }
                depth += bracket(k);
                if depth < 0 {
                    return None;
                }
                self.pos += 1;
            }
            if depth != 0 {
                return None;
            }
        }
    }

    /// Reads the statement at `pos` if it refers to a file, leaving `pos` inside or after it.
    fn statement(&mut self, out: &mut Refs) -> Option<()> {
        // Decorators: `@name`, `@ns.name`, each with optional arguments, then new lines.
        while self.kind(self.pos) == TokenKind::At {
            self.pos += 1;
            if self.kind(self.pos) != TokenKind::Ident {
                return None;
            }
            self.pos += 1;
            if self.kind(self.pos) == TokenKind::Dot {
                if self.kind(self.pos + 1) != TokenKind::Ident {
                    return None;
                }
                self.pos += 2;
            }
            if self.kind(self.pos) == TokenKind::LParen {
                self.pos = self.past_closing(self.pos)?;
            }
            while self.kind(self.pos) == TokenKind::NewLine {
                self.pos += 1;
            }
        }
        let p = self.pos;
        match self.word(p) {
            "module" => {
                // module NAME 'path' = ...
                if self.kind(p + 1) != TokenKind::Ident {
                    return None;
                }
                match self.kind(p + 2) {
                    TokenKind::String | TokenKind::MultilineString => {}
                    // An interpolated path names no file (the evaluation says so).
                    TokenKind::StringLeft => return Some(()),
                    _ => return None,
                }
                if self.kind(p + 3) != TokenKind::Assign {
                    return None;
                }
                out.refs.push(self.string(p + 2)?);
                self.pos = p + 3;
            }
            "using" => {
                // using 'path' [with ...] | using none [with ...]
                let next = p + 2;
                if self.word(p + 1) == "none" {
                    self.pos = next;
                    return Some(());
                }
                let path = self.string(p + 1)?;
                if !(self.ends(next) || self.word(next) == "with") {
                    return None;
                }
                out.refs.push(path);
                self.pos = next;
            }
            "extends" => {
                let path = self.string(p + 1)?;
                if !self.ends(p + 2) {
                    return None;
                }
                out.refs.push(path);
                self.pos = p + 2;
            }
            "import" => {
                // import {a, b as c} from 'path' | import * as ns from 'path' | import 'spec' ...
                let from = match self.kind(p + 1) {
                    TokenKind::LBrace => self.past_closing(p + 1)?,
                    TokenKind::Star => {
                        if self.word(p + 2) != "as" || self.kind(p + 3) != TokenKind::Ident {
                            return None;
                        }
                        p + 4
                    }
                    // The provider form names no file.
                    _ => {
                        self.pos = p + 1;
                        return Some(());
                    }
                };
                if self.word(from) != "from" || !self.ends(from + 2) {
                    return None;
                }
                match self.kind(from + 1) {
                    TokenKind::StringLeft => {}
                    _ => out.imports.push(self.string(from + 1)?),
                }
                self.pos = from + 1;
            }
            _ => {}
        }
        Some(())
    }
}

/// How a token changes the bracket depth: `(`, `[`, `{` and a string's `${` open; their
/// closers and the `}` that resumes a string close.
fn bracket(k: TokenKind) -> i64 {
    use TokenKind::*;
    match k {
        LParen | LBracket | LBrace | StringLeft => 1,
        RParen | RBracket | RBrace | StringRight => -1,
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn both(text: &str) -> (Option<Refs>, Refs) {
        (skim(text), Refs::of(&super::super::parse(text)))
    }

    #[test]
    fn reads_module_using_extends_and_import_paths() {
        let text = "\
targetScope = 'subscription'
@description('the network')
@batchSize(2)
module net './net.bicep' = {
  name: 'net'
}
@sys.description('x') module app '''./app.bicep''' = if (deploy) {
  name: 'app-${suffix}'
}
module reg 'br/public:avm/res/storage:0.9.0' = {}
module dyn './${name}.bicep' = {}
import { a, b as c } from './types.bicep'
import * as shared from './shared.bicep'
import 'az@1.0.0'
var m = {
  module: 'not a statement'
}
";
        let (skimmed, parsed) = both(text);
        let want = Refs {
            refs: vec![
                "./net.bicep".into(),
                "./app.bicep".into(),
                "br/public:avm/res/storage:0.9.0".into(),
            ],
            imports: vec!["./types.bicep".into(), "./shared.bicep".into()],
        };
        assert_eq!(parsed, want);
        assert_eq!(skimmed, Some(want));
        let (skimmed, parsed) =
            both("using './main.bicep'\nextends './base.bicepparam'\nparam x = 1\n");
        assert_eq!(skimmed, Some(parsed.clone()));
        assert_eq!(parsed.refs, ["./main.bicep", "./base.bicepparam"]);
        let (skimmed, parsed) = both("using none\n");
        assert_eq!(skimmed, Some(parsed));
        // No reference keyword anywhere: nothing to read, even past a lexical error (the
        // parse the evaluation makes reports it).
        let (skimmed, parsed) = both("param p string\nvar x = 'unterminated\n");
        assert_eq!(skimmed, Some(Refs::default()));
        assert_eq!(parsed, Refs::default());
        // The words elsewhere than where a statement starts: nothing to read either.
        let (skimmed, parsed) = both(
            "param moduleName string // the module\nvar imports = 'using x'\nvar y = {\n  module: 1\n}\nvar z = 'unterminated\n",
        );
        assert_eq!(skimmed, Some(Refs::default()));
        assert_eq!(parsed, Refs::default());
    }

    #[test]
    fn gives_up_where_only_a_parse_can_tell() {
        for text in [
            // unbalanced brackets: the parser's recovery decides what is a statement
            "var x = [\nmodule m './m.bicep' = {}\n",
            "var x = 1)\nmodule m './m.bicep' = {}\n",
            // a reference statement not in its plain form
            "module m './m.bicep' {}\n",
            "module './m.bicep' = {}\n",
            "using './main.bicep' junk\n",
            "import {a} './t.bicep'\n",
            // a lexical error
            "module m './m.bicep = {}\n",
        ] {
            assert_eq!(skim(text), None, "{text}");
        }
    }

    /// Every Bicep file at hand (the fixtures, the demo, the shared corpus when present):
    /// where the skim answers, it answers what the parse does; and it answers for nearly all
    /// of the corpus, or the first pass is a full parse again without anyone noticing.
    #[test]
    fn agrees_with_the_parser_on_every_file_at_hand() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let dirs = [
            root.join("fixtures"),
            root.join("examples"),
            root.join("tests"),
            root.join("../shared/corpus"),
        ];
        let (mut files, mut skimmed) = (0, 0);
        for dir in dirs.iter().filter(|d| d.is_dir()) {
            for entry in ignore::WalkBuilder::new(dir)
                .standard_filters(false)
                .build()
                .flatten()
            {
                let p = entry.path();
                let is_bicep = p
                    .extension()
                    .is_some_and(|e| e == "bicep" || e == "bicepparam");
                let Some(text) = is_bicep.then(|| std::fs::read_to_string(p).ok()).flatten() else {
                    continue;
                };
                files += 1;
                if let Some(refs) = skim(&text) {
                    skimmed += 1;
                    assert_eq!(
                        refs,
                        Refs::of(&super::super::parse(&text)),
                        "{}",
                        p.display()
                    );
                }
            }
        }
        assert!(files > 100, "only {files} Bicep files found");
        assert!(
            skimmed * 100 >= files * 95,
            "only {skimmed} of {files} files skimmed"
        );
    }
}
