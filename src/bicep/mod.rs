//! bicep: the Bicep frontend. This part reads `.bicep` and `.bicepparam` text into a syntax
//! tree with byte ranges, keeping comments (inline suppressions live there) and reporting
//! syntax errors as data next to a best-effort tree.
//!
//! `lexer` turns text into tokens, `parser` builds the [`syntax`] tree; [`parse`] runs both.
//! `eval` folds expressions, `lower` turns resource and module statements into ARM-dialect
//! resources, `skim` reads a file's references off its tokens, `modules` resolves files and
//! entry points, `params` reads `.bicepparam` files;
//! [`evaluate`] runs them over a scan's Bicep files.

mod eval;
mod lexer;
mod lower;
mod modules;
mod params;
mod parser;
mod skim;
pub mod syntax;

pub use modules::{evaluate, evaluate_with, Output};

pub use parser::MAX_DEPTH;

pub use syntax::{NodeRef, Program, TextRange};

/// The result of parsing one file: always a tree, plus what went wrong.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Parsed {
    pub program: Program,
    /// Sorted by position; at most one per position.
    pub errors: Vec<SyntaxError>,
    /// Every `//` and `/* */` comment and `#disable-next-line`-style pragma, in order;
    /// a line comment's or pragma's range stops before the line break.
    pub comments: Vec<TextRange>,
}

/// A syntax error: where, and what was expected and found there.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct SyntaxError {
    pub range: TextRange,
    pub message: String,
}

impl std::fmt::Display for SyntaxError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// Deepest tree any statement may have (counted in [`NodeRef`] levels), so the recursive
/// walks of later stages (and `Drop`) stay within a thread's stack. The parser's own
/// [`MAX_DEPTH`] keeps ordinary input far below this; only long operator or
/// accessor chains nested at every level could reach it.
pub const MAX_TREE_HEIGHT: usize = 1000;

/// Parses Bicep (`.bicep`) or Bicep parameters (`.bicepparam`) text. Never panics.
pub fn parse(text: &str) -> Parsed {
    let lexed = lexer::lex(text);
    let mut parser = parser::Parser::new(text, lexed.tokens, lexed.errors);
    let mut program = parser.program();
    let (mut errors, max_depth) = parser.finish();
    // Each unit of parser depth adds at most 4 tree levels. A left-nested chain (`a.b.c`,
    // `a + b + c`) counts one unit per link only while it grows, so the chain at depth c can
    // still wrap up to D - c links around what was parsed inside it: a leaf ends up at most
    // sum(D - c for c < D) + D = D(D+1)/2 + D units deep, for D the deepest depth reached.
    // Only when that bound passes the limit is the tree measured.
    let d = max_depth as usize;
    let may_be_too_deep = 4 * (d * (d + 1) / 2 + d) + 2 > MAX_TREE_HEIGHT;
    for stmt in program.statements.iter_mut().filter(|_| may_be_too_deep) {
        if NodeRef::Statement(stmt).height() > MAX_TREE_HEIGHT {
            errors.push(SyntaxError {
                range: stmt.range,
                message: format!(
                    "nesting too deep: expected a declaration at most {MAX_TREE_HEIGHT} levels deep"
                ),
            });
            let deep = std::mem::replace(
                stmt,
                syntax::Statement {
                    decorators: Vec::new(),
                    keyword: TextRange::empty(stmt.range.start),
                    kind: syntax::StatementKind::Error,
                    range: stmt.range,
                },
            );
            // Dropping the tree would recurse once per level; it is garbage from hostile
            // input, bounded by the input's size, so it is leaked instead.
            std::mem::forget(deep);
        }
    }
    errors.sort_by_key(|e| e.range.start);
    errors.dedup_by_key(|e| e.range.start);
    Parsed {
        program,
        errors,
        comments: lexed.comments,
    }
}

#[cfg(test)]
mod tests;
