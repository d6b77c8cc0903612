//! Source files and positions: byte spans in the trees, lines and columns on demand.
//!
//! Every syntax node and every value in the model carries a [`Span`] (file + byte range).
//! Line and column are computed only when a finding is printed, by a binary search in the
//! file's [`LineIndex`], so parsing pays nothing for them.

use std::path::PathBuf;
use std::sync::{Arc, RwLock};

/// Index of a file in the scan's [`SourceMap`].
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, PartialOrd, Ord, Default)]
pub struct FileId(pub u32);

/// A byte range inside one file.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default, PartialOrd, Ord)]
pub struct Span {
    pub file: FileId,
    pub start: u32,
    pub end: u32,
}

impl Span {
    pub fn new(file: FileId, start: usize, end: usize) -> Span {
        Span {
            file,
            start: start as u32,
            end: end.max(start) as u32,
        }
    }

    /// An empty span at the start of a file: for problems that belong to a whole file.
    pub fn file_start(file: FileId) -> Span {
        Span {
            file,
            start: 0,
            end: 0,
        }
    }

    pub fn range(&self) -> std::ops::Range<usize> {
        self.start as usize..self.end as usize
    }

    /// The smallest span covering both (same file assumed).
    pub fn cover(self, other: Span) -> Span {
        Span {
            file: self.file,
            start: self.start.min(other.start),
            end: self.end.max(other.end),
        }
    }
}

/// A 1-based line and column. Columns count Unicode scalar values (what SARIF's default
/// `columnKind` `utf16CodeUnits` differs from only outside the BMP; see report/sarif.rs).
#[derive(Clone, Copy, PartialEq, Eq, Debug, PartialOrd, Ord)]
pub struct LineCol {
    pub line: u32,
    pub col: u32,
}

/// Decodes a file's bytes: UTF-8 (BOM kept for the parser to skip), or UTF-16 with a BOM
/// (Windows editors save templates that way). Anything else is an error message.
pub fn decode(bytes: Vec<u8>) -> Result<String, String> {
    if bytes.starts_with(&[0xFF, 0xFE]) || bytes.starts_with(&[0xFE, 0xFF]) {
        let le = bytes[0] == 0xFF;
        let units: Vec<u16> = bytes[2..]
            .chunks_exact(2)
            .map(|c| {
                if le {
                    u16::from_le_bytes([c[0], c[1]])
                } else {
                    u16::from_be_bytes([c[0], c[1]])
                }
            })
            .collect();
        return String::from_utf16(&units).map_err(|_| "invalid UTF-16 text".to_string());
    }
    if memchr::memchr(0, &bytes[..bytes.len().min(8192)]).is_some() {
        return Err("binary content (NUL bytes): not a text file".to_string());
    }
    String::from_utf8(bytes).map_err(|e| {
        format!(
            "not valid UTF-8 (first invalid byte at offset {}): re-save the file as UTF-8",
            e.utf8_error().valid_up_to()
        )
    })
}

/// Appends the file at `path` (at most `max_size` bytes) to `bytes`, reserved to its size
/// up front (growing by doubling copied each template about twice).
fn read_into(path: &std::path::Path, max_size: u64, bytes: &mut Vec<u8>) -> Result<(), String> {
    use std::io::Read;
    std::fs::File::open(path)
        .and_then(|f| {
            let len = f.metadata().map_or(0, |m| m.len()).min(max_size + 1);
            bytes.reserve_exact(len as usize + 1);
            f.take(max_size + 1).read_to_end(bytes)
        })
        .map_err(|e| format!("cannot read: {e}"))?;
    if bytes.len() as u64 > max_size {
        return Err(format!(
            "grew over the {} MB file size limit while being scanned: not scanned",
            max_size / (1024 * 1024)
        ));
    }
    Ok(())
}

/// Byte offsets of line starts, built once per file.
#[derive(Debug, Clone, Default)]
pub struct LineIndex {
    starts: Vec<u32>,
}

impl LineIndex {
    pub fn new(text: &str) -> LineIndex {
        // memchr's vectorised search: a byte-at-a-time loop here was 3 % of an ARM scan.
        let mut starts = Vec::with_capacity(text.len() / 32 + 1);
        starts.push(0u32);
        starts.extend(memchr::memchr_iter(b'\n', text.as_bytes()).map(|i| i as u32 + 1));
        LineIndex { starts }
    }

    /// 0-based line number containing `offset`.
    pub fn line_of(&self, offset: u32) -> usize {
        match self.starts.binary_search(&offset) {
            Ok(i) => i,
            Err(i) => i - 1,
        }
    }

    pub fn line_start(&self, line: usize) -> u32 {
        self.starts[line]
    }

    pub fn line_count(&self) -> usize {
        self.starts.len()
    }

    /// 1-based line and column (in chars) of a byte offset.
    pub fn line_col(&self, text: &str, offset: u32) -> LineCol {
        let offset = offset.min(text.len() as u32);
        let line = self.line_of(offset);
        let start = self.starts[line] as usize;
        let mut end = offset as usize;
        while end > start && !text.is_char_boundary(end) {
            end -= 1;
        }
        let col = text[start..end].chars().count() as u32 + 1;
        LineCol {
            line: line as u32 + 1,
            col,
        }
    }

    /// The text of a 0-based line, without its line break.
    pub fn line_text<'a>(&self, text: &'a str, line: usize) -> &'a str {
        let start = self.starts[line] as usize;
        let end = self
            .starts
            .get(line + 1)
            .map(|&e| e as usize)
            .unwrap_or(text.len());
        text[start..end].trim_end_matches(['\n', '\r'])
    }
}

/// One file the scan read.
///
/// An ARM template's text is needed while it is parsed and evaluated, and afterwards only
/// for a finding's column on a line with non-ASCII characters and for the text report's
/// source lines. Holding every template's text until the end was the largest block of a
/// scan's memory, so the ARM stage reads a template when it evaluates it and then *evicts*
/// the text: the line index stays, with the lines that need the text for columns, and
/// [`SourceFile::full_text`] reads the file again when it is needed after all.
#[derive(Debug)]
pub struct SourceFile {
    pub id: FileId,
    /// The path as the file system knows it.
    pub path: PathBuf,
    /// The path relative to the scan root, with `/` separators: what every report shows.
    pub rel_path: String,
    /// Empty when evicted (see [`SourceFile::full_text`]).
    pub text: String,
    /// Built on first use ([`SourceFile::lines`]): most files held for the scan never need
    /// one (only those with a finding or a diagnostic do), and building them all when the
    /// files were added was 3 % of a Bicep scan's samples.
    lines: std::sync::OnceLock<LineIndex>,
    /// The text is not held; it was `text_len` bytes.
    pub evicted: bool,
    text_len: u32,
    /// 0-based lines with non-ASCII characters (columns count characters): set on eviction.
    non_ascii_lines: Vec<u32>,
}

impl SourceFile {
    pub fn new(id: FileId, path: PathBuf, rel_path: String, text: String) -> SourceFile {
        SourceFile {
            id,
            path,
            rel_path,
            text_len: text.len() as u32,
            text,
            lines: std::sync::OnceLock::new(),
            evicted: false,
            non_ascii_lines: Vec::new(),
        }
    }

    /// The file's line index. An evicted file's was built before its text went.
    pub fn lines(&self) -> &LineIndex {
        self.lines.get_or_init(|| LineIndex::new(&self.text))
    }

    /// The 1-based line of a byte offset: [`SourceFile::line_col`] without the column,
    /// which may need the text (counting characters) where the line does not.
    pub fn line(&self, offset: u32) -> u32 {
        let len = if self.evicted {
            self.text_len
        } else {
            self.text.len() as u32
        };
        self.lines().line_of(offset.min(len)) as u32 + 1
    }

    pub fn line_col(&self, offset: u32) -> LineCol {
        if !self.evicted {
            return self.lines().line_col(&self.text, offset);
        }
        let offset = offset.min(self.text_len);
        let line = self.lines().line_of(offset);
        if self.non_ascii_lines.binary_search(&(line as u32)).is_ok() {
            if let Some(text) = self.reread() {
                return self.lines().line_col(&text, offset);
            }
        }
        // An ASCII line: one byte, one character.
        LineCol {
            line: line as u32 + 1,
            col: offset - self.lines().line_start(line) + 1,
        }
    }

    /// The whole text, read again from disk when it was evicted. `None` when the file can no
    /// longer be read or has changed length since it was scanned (its spans would not fit).
    pub fn full_text(&self) -> Option<std::borrow::Cow<'_, str>> {
        if !self.evicted {
            return Some(std::borrow::Cow::Borrowed(&self.text));
        }
        self.reread()
            .map(|t| std::borrow::Cow::Owned(t.as_ref().clone()))
    }

    fn reread(&self) -> Option<std::rc::Rc<String>> {
        // Reports ask file by file (findings are sorted by file): one file per thread is
        // kept, so a file with many findings is read once, not once per finding.
        thread_local! {
            static LAST: std::cell::RefCell<Option<(PathBuf, std::rc::Rc<String>)>> =
                const { std::cell::RefCell::new(None) };
        }
        if let Some(hit) = LAST.with_borrow(|l| {
            l.as_ref()
                .filter(|(p, t)| *p == self.path && t.len() as u32 == self.text_len)
                .map(|(_, t)| t.clone())
        }) {
            return Some(hit);
        }
        let bytes = std::fs::read(&self.path).ok()?;
        let text = std::rc::Rc::new(decode(bytes).ok()?);
        if text.len() as u32 != self.text_len {
            return None;
        }
        LAST.set(Some((self.path.clone(), text.clone())));
        Some(text)
    }

    fn non_ascii_lines(&self) -> Vec<u32> {
        let mut non_ascii_lines = Vec::new();
        if !self.text.is_ascii() {
            for line in 0..self.lines().line_count() {
                if !self.lines().line_text(&self.text, line).is_ascii() {
                    non_ascii_lines.push(line as u32);
                }
            }
        }
        non_ascii_lines
    }

    /// The file without its text (what line and column lookups need is kept), and the text.
    fn into_evicted(mut self) -> (SourceFile, String) {
        // Built now: without the text it could not be.
        self.lines();
        self.non_ascii_lines = self.non_ascii_lines();
        let text = std::mem::take(&mut self.text);
        self.evicted = true;
        (self, text)
    }
}

thread_local! {
    /// The read buffer of [`SourceMap::with_text`], one per thread.
    static BUFFER: std::cell::Cell<Vec<u8>> = const { std::cell::Cell::new(Vec::new()) };
}

/// All files of one scan, indexed by [`FileId`]. Append-only and shared: a frontend may
/// add a file a module reference leads to while other files are being evaluated.
#[derive(Debug, Default)]
pub struct SourceMap {
    files: RwLock<Vec<Arc<SourceFile>>>,
}

impl SourceMap {
    pub fn add(&self, path: PathBuf, rel_path: String, text: String) -> FileId {
        let mut files = self.files.write().unwrap_or_else(|e| e.into_inner());
        let id = FileId(files.len() as u32);
        files.push(Arc::new(SourceFile::new(id, path, rel_path, text)));
        id
    }

    /// Many files at once, in order, their line indexes built in parallel (one pass over
    /// every text; on one thread it was a stage of its own). A file without a text (None)
    /// is added unread: [`SourceMap::load`] reads it.
    pub fn add_all(&self, found: Vec<(PathBuf, String, Option<String>)>) -> Vec<FileId> {
        use rayon::prelude::*;
        let mut files = self.files.write().unwrap_or_else(|e| e.into_inner());
        let base = files.len();
        let made: Vec<Arc<SourceFile>> = found
            .into_par_iter()
            .enumerate()
            .map(|(i, (path, rel_path, text))| {
                let id = FileId((base + i) as u32);
                let deferred = text.is_none();
                let mut f = SourceFile::new(id, path, rel_path, text.unwrap_or_default());
                f.evicted = deferred;
                Arc::new(f)
            })
            .collect();
        let ids = made.iter().map(|f| f.id).collect();
        files.extend(made);
        ids
    }

    /// Reads a deferred or evicted file (at most `max_size` bytes) and holds its text.
    pub fn load(&self, id: FileId, max_size: u64) -> Result<Arc<SourceFile>, String> {
        let current = self.get(id);
        if !current.evicted {
            return Ok(current);
        }
        let mut bytes = Vec::new();
        read_into(&current.path, max_size, &mut bytes)?;
        let text = decode(bytes)?;
        let loaded = Arc::new(SourceFile::new(
            id,
            current.path.clone(),
            current.rel_path.clone(),
            text,
        ));
        let mut files = self.files.write().unwrap_or_else(|e| e.into_inner());
        files[id.0 as usize] = loaded.clone();
        Ok(loaded)
    }

    /// Runs `f` on an evicted file's text, read for the call into a buffer the thread
    /// reuses (copied there from `prefetched` when discovery read the file whole), and
    /// keeps only what line and column lookups need afterwards (the text too if it contains
    /// `keep_if_contains`: triage reads `basegate:ignore` comments from it). A file whose
    /// text is held is given as it is, and keeps it.
    ///
    /// Why: the ARM stage reads every template once, evaluates it and lets go of its text.
    /// A fresh buffer per template meant fresh pages from the OS for each, and page faults
    /// were a tenth of an ARM scan's time; a reused buffer is already mapped.
    pub fn with_text<R>(
        &self,
        id: FileId,
        max_size: u64,
        keep_if_contains: &str,
        prefetched: Option<&[u8]>,
        f: impl FnOnce(&SourceFile) -> R,
    ) -> Result<R, String> {
        /// Larger buffers are not kept between files.
        const KEEP: usize = 4 << 20;
        let current = self.get(id);
        if !current.evicted {
            return Ok(f(&current));
        }
        let mut bytes = BUFFER.take();
        bytes.clear();
        match prefetched {
            Some(b) => bytes.extend_from_slice(b),
            None => read_into(&current.path, max_size, &mut bytes)?,
        }
        // UTF-8 text becomes the String in place: the buffer comes back below.
        let text = decode(bytes)?;
        let file = SourceFile::new(id, current.path.clone(), current.rel_path.clone(), text);
        let r = f(&file);
        let kept = if file.text.contains(keep_if_contains) {
            Arc::new(file)
        } else {
            let (evicted, text) = file.into_evicted();
            let mut bytes = text.into_bytes();
            if bytes.capacity() <= KEEP {
                bytes.clear();
                BUFFER.set(bytes);
            }
            Arc::new(evicted)
        };
        let mut files = self.files.write().unwrap_or_else(|e| e.into_inner());
        files[id.0 as usize] = kept;
        Ok(r)
    }

    /// Frees the buffers [`SourceMap::with_text`] keeps on the worker threads, once
    /// nothing more is read with it (they would hold up to 4 MB each until exit).
    pub fn release_buffers() {
        rayon::broadcast(|_| drop(BUFFER.take()));
    }

    pub fn get(&self, id: FileId) -> Arc<SourceFile> {
        let files = self.files.read().unwrap_or_else(|e| e.into_inner());
        files[id.0 as usize].clone()
    }

    pub fn len(&self) -> usize {
        self.files.read().unwrap_or_else(|e| e.into_inner()).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A snapshot of every file added so far, in id order.
    pub fn files(&self) -> Vec<Arc<SourceFile>> {
        self.files.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub fn find_by_path(&self, path: &std::path::Path) -> Option<FileId> {
        let files = self.files.read().unwrap_or_else(|e| e.into_inner());
        files.iter().find(|f| f.path == path).map(|f| f.id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn evicted_files_keep_lines_and_columns() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.json");
        let text = "{\n  \"a\": 1,\n  \"é\": \"ü\", \"b\": 2\n}\n";
        std::fs::write(&path, text).unwrap();
        let map = SourceMap::default();
        let id = map.add_all(vec![(path.clone(), "t.json".into(), None)])[0];
        assert!(map.get(id).evicted);
        let offsets = [
            0u32,
            5,
            text.find("\"b\"").unwrap() as u32,
            text.len() as u32,
        ];
        let before: Vec<LineCol> = map
            .with_text(id, 1 << 20, "basegate:ignore", None, |f| {
                assert_eq!(f.text, text);
                offsets.iter().map(|&o| f.line_col(o)).collect()
            })
            .unwrap();
        let ev = map.get(id);
        assert!(ev.evicted && ev.text.is_empty());
        let after: Vec<LineCol> = offsets.iter().map(|&o| ev.line_col(o)).collect();
        assert_eq!(
            before, after,
            "columns after eviction, including a non-ASCII line"
        );
        assert_eq!(ev.full_text().unwrap(), text);
        // Changed on disk since: no text rather than text the spans do not fit.
        std::fs::write(&path, "{}").unwrap();
        std::thread::spawn(move || assert!(ev.full_text().is_none()))
            .join()
            .unwrap();
        // A file with a suppression comment keeps its text.
        let marked = dir.path().join("x.json");
        std::fs::write(&marked, "// basegate:ignore BG1 why\n{}").unwrap();
        let id2 = map.add_all(vec![(marked, "x.json".into(), None)])[0];
        map.with_text(id2, 1 << 20, "basegate:ignore", None, |_| ())
            .unwrap();
        assert!(!map.get(id2).evicted);
        // A file whose text is held (a `--parameters` file) is given as it is, and keeps it.
        let id3 = map.add("p.json".into(), "p.json".into(), "{}".into());
        let seen = map.with_text(id3, 1 << 20, "basegate:ignore", None, |f| f.text.clone());
        assert_eq!(seen.unwrap(), "{}");
        assert!(!map.get(id3).evicted);
    }

    #[test]
    fn line_col_counts_chars_from_one() {
        let text = "ab\nçd\n\nx";
        let idx = LineIndex::new(text);
        assert_eq!(idx.line_col(text, 0), LineCol { line: 1, col: 1 });
        assert_eq!(idx.line_col(text, 3), LineCol { line: 2, col: 1 });
        // 'd' is after a two-byte char: byte 5, column 2
        assert_eq!(idx.line_col(text, 5), LineCol { line: 2, col: 2 });
        assert_eq!(idx.line_col(text, 7), LineCol { line: 3, col: 1 });
        assert_eq!(idx.line_text(text, 1), "çd");
        assert_eq!(idx.line_col(text, 100), LineCol { line: 4, col: 2 });
    }
}
