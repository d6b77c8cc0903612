//! report: pretty-printed JSON written piece by piece, byte for byte what
//! `serde_json::to_writer_pretty` writes for the same document, with long arrays rendered in
//! parallel.
//!
//! Why: the JSON report of the ARM corpus is 30 MB, and serializing it on one thread was the
//! largest serial stage of a scan (`BASEGATE_TIMINGS`, bench/README.md). The items of an
//! array are independent, so chunks of them are rendered on every core and written in
//! order; only a chunk is ever held, not the whole document.

use rayon::prelude::*;
use serde::Serialize;
use std::io::{self, Write};

/// A JSON document written as nested objects and arrays, two spaces per level (serde_json's
/// pretty format).
pub struct Pretty<'a> {
    out: &'a mut dyn Write,
    /// Per open object or array: its closing bracket and whether it has no entry yet.
    open: Vec<(u8, bool)>,
}

impl<'a> Pretty<'a> {
    pub fn new(out: &'a mut dyn Write) -> Pretty<'a> {
        Pretty {
            out,
            open: Vec::new(),
        }
    }

    /// Starts an object (`key` set when inside an object).
    pub fn object(&mut self, key: Option<&str>) -> io::Result<()> {
        self.begin(key, b'{', b'}')
    }

    /// Starts an array (`key` set when inside an object).
    pub fn array(&mut self, key: Option<&str>) -> io::Result<()> {
        self.begin(key, b'[', b']')
    }

    /// Closes the innermost object or array.
    pub fn close(&mut self) -> io::Result<()> {
        let (bracket, empty) = self.open.pop().expect("close without open");
        if !empty {
            self.out.write_all(b"\n")?;
            self.indent(self.open.len())?;
        }
        self.out.write_all(&[bracket])?;
        if self.open.is_empty() {
            self.out.write_all(b"\n")?;
        }
        Ok(())
    }

    /// One entry: `"key": value` in an object, `value` in an array.
    pub fn value<T: Serialize + ?Sized>(&mut self, key: Option<&str>, value: &T) -> io::Result<()> {
        self.entry(key)?;
        let rendered = render(value, self.open.len())?;
        self.out.write_all(&rendered)
    }

    /// An array of `len` items, item `i` made by `make(i)`: rendered in parallel, `chunk`
    /// items at a time (enough to keep every core busy, few enough to hold), and written in
    /// order.
    pub fn array_par<T, F>(
        &mut self,
        key: Option<&str>,
        len: usize,
        chunk: usize,
        make: F,
    ) -> io::Result<()>
    where
        T: Serialize,
        F: Fn(usize) -> T + Sync,
    {
        self.array(key)?;
        let depth = self.open.len();
        let chunk = chunk.max(1);
        // A task renders a batch of items into one buffer, separators included, and the
        // buffers are reused once written: a fresh buffer per item, grown by doubling and
        // freed, was two fifths of the report's CPU time (reallocation, page faults, and
        // returning the pages).
        let batch = (chunk / (4 * rayon::current_num_threads())).clamp(1, 16);
        let pool = Pool::default();
        let render_chunk = |start: usize| -> Vec<io::Result<Vec<u8>>> {
            let end = len.min(start + chunk);
            (start..end)
                .step_by(batch)
                .collect::<Vec<_>>()
                .into_par_iter()
                .map(|from| {
                    let mut buf = pool.take();
                    for i in from..end.min(from + batch) {
                        buf.extend_from_slice(if i == 0 { b"\n" } else { b",\n" });
                        for _ in 0..depth {
                            buf.extend_from_slice(b"  ");
                        }
                        render_into(&make(i), depth, &mut buf)?;
                    }
                    Ok(buf)
                })
                .collect()
        };
        // Pipelined: the worker threads render the next chunk while this thread writes the
        // last one (writing in between left the workers idle: a report stage that used 1.2
        // cores of 2).
        let mut pending = render_chunk(0);
        let mut start = chunk;
        while start < len {
            let mut next = Vec::new();
            rayon::in_place_scope(|s| {
                s.spawn(|_| next = render_chunk(start));
                self.write_batches(std::mem::take(&mut pending), &pool)
            })?;
            pending = next;
            start += chunk;
        }
        self.write_batches(pending, &pool)?;
        if len > 0 {
            if let Some(open) = self.open.last_mut() {
                open.1 = false;
            }
        }
        self.close()
    }

    fn write_batches(&mut self, batches: Vec<io::Result<Vec<u8>>>, pool: &Pool) -> io::Result<()> {
        for b in batches {
            let b = b?;
            self.out.write_all(&b)?;
            pool.give(b);
        }
        Ok(())
    }

    fn begin(&mut self, key: Option<&str>, open: u8, close: u8) -> io::Result<()> {
        if !self.open.is_empty() {
            self.entry(key)?;
        }
        self.out.write_all(&[open])?;
        self.open.push((close, true));
        Ok(())
    }

    /// The separator, newline and indentation before an entry, and its key.
    fn entry(&mut self, key: Option<&str>) -> io::Result<()> {
        let depth = self.open.len();
        let first = &mut self.open.last_mut().expect("entry outside a document").1;
        self.out.write_all(if *first { b"\n" } else { b",\n" })?;
        *first = false;
        self.indent(depth)?;
        if let Some(k) = key {
            serde_json::to_writer(&mut *self.out, k)?;
            self.out.write_all(b": ")?;
        }
        Ok(())
    }

    fn indent(&mut self, depth: usize) -> io::Result<()> {
        for _ in 0..depth {
            self.out.write_all(b"  ")?;
        }
        Ok(())
    }
}

/// `value` pretty-printed as if it stood `depth` levels deep: every line after the first
/// indented by `depth` more levels. Written in one pass by a formatter that starts at that
/// depth (rendering flat and indenting afterwards was a sixth of the report's time).
fn render<T: Serialize + ?Sized>(value: &T, depth: usize) -> io::Result<Vec<u8>> {
    let mut out = Vec::with_capacity(1024);
    render_into(value, depth, &mut out)?;
    Ok(out)
}

/// [`render`], appended to `out`.
fn render_into<T: Serialize + ?Sized>(
    value: &T,
    depth: usize,
    out: &mut Vec<u8>,
) -> io::Result<()> {
    let mut ser = serde_json::Serializer::with_formatter(out, Nested::at(depth));
    value.serialize(&mut ser).map_err(io::Error::from)
}

/// Render buffers to reuse, a few per thread. One that grew past 256 KB (a compliance
/// control listing thousands of resources) is let go of rather than held to the end of the
/// report: the report stage is a scan's memory peak.
#[derive(Default)]
struct Pool(std::sync::Mutex<Vec<Vec<u8>>>);

impl Pool {
    fn take(&self) -> Vec<u8> {
        let mut b = self
            .0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .pop()
            .unwrap_or_default();
        b.clear();
        b
    }

    fn give(&self, b: Vec<u8>) {
        if b.capacity() <= 256 << 10 {
            let mut pool = self.0.lock().unwrap_or_else(|e| e.into_inner());
            if pool.len() < 4 * rayon::current_num_threads() {
                pool.push(b);
            }
        }
    }
}

/// serde_json's `PrettyFormatter` (two spaces per level), starting `depth` levels deep.
struct Nested {
    depth: usize,
    has_value: bool,
}

impl Nested {
    fn at(depth: usize) -> Nested {
        Nested {
            depth,
            has_value: false,
        }
    }

    fn newline<W: ?Sized + Write>(&self, w: &mut W, comma: bool) -> io::Result<()> {
        w.write_all(if comma { b",\n" } else { b"\n" })?;
        for _ in 0..self.depth {
            w.write_all(b"  ")?;
        }
        Ok(())
    }

    fn begin<W: ?Sized + Write>(&mut self, w: &mut W, bracket: &[u8]) -> io::Result<()> {
        self.depth += 1;
        self.has_value = false;
        w.write_all(bracket)
    }

    fn end<W: ?Sized + Write>(&mut self, w: &mut W, bracket: &[u8]) -> io::Result<()> {
        self.depth -= 1;
        if self.has_value {
            self.newline(w, false)?;
        }
        w.write_all(bracket)
    }
}

impl serde_json::ser::Formatter for Nested {
    fn begin_array<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.begin(w, b"[")
    }

    fn end_array<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.end(w, b"]")
    }

    fn begin_array_value<W: ?Sized + Write>(&mut self, w: &mut W, first: bool) -> io::Result<()> {
        self.newline(w, !first)
    }

    fn end_array_value<W: ?Sized + Write>(&mut self, _w: &mut W) -> io::Result<()> {
        self.has_value = true;
        Ok(())
    }

    fn begin_object<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.begin(w, b"{")
    }

    fn end_object<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.end(w, b"}")
    }

    fn begin_object_key<W: ?Sized + Write>(&mut self, w: &mut W, first: bool) -> io::Result<()> {
        self.newline(w, !first)
    }

    fn begin_object_value<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        w.write_all(b": ")
    }

    fn end_object_value<W: ?Sized + Write>(&mut self, _w: &mut W) -> io::Result<()> {
        self.has_value = true;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The same document through `Pretty` and through serde_json: the same bytes, with
    /// empty and nested objects and arrays, strings with escapes, and more than one chunk.
    #[test]
    fn writes_what_serde_json_writes() {
        let items: Vec<serde_json::Value> = (0..2 * 16 + 7)
            .map(|i| json!({"i": i, "s": "a\nb \"q\" é", "empty": [], "o": {}, "n": [1, {"x": null}]}))
            .collect();
        let doc = json!({
            "a": 1,
            "empty_list": [],
            "empty_object": {},
            "items": items,
            "nested": {"inner": {"list": [1, 2], "t": true}, "none": []},
            "last": "z"
        });
        let expected = serde_json::to_string_pretty(&doc).unwrap() + "\n";

        let mut out = Vec::new();
        let mut p = Pretty::new(&mut out);
        p.object(None).unwrap();
        p.value(Some("a"), &1).unwrap();
        p.array(Some("empty_list")).unwrap();
        p.close().unwrap();
        p.value(Some("empty_object"), &json!({})).unwrap();
        p.array_par(Some("items"), items.len(), 16, |i| &items[i])
            .unwrap();
        p.object(Some("nested")).unwrap();
        p.value(Some("inner"), &doc["nested"]["inner"]).unwrap();
        p.array_par(Some("none"), 0, 16, |i| i).unwrap();
        p.close().unwrap();
        p.value(Some("last"), "z").unwrap();
        p.close().unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), expected);
    }
}
