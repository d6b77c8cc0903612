//! model: resources with tri-state values, spans and addresses, and the graph that links them.
//!
//! Two dialects share one value tree: the ARM dialect (ARM JSON, Bicep and azapi lower to it)
//! and the Terraform dialect (azurerm attributes and nested blocks). A value is *known*
//! (a literal or an expression folded to one), *unknown* (present but not decidable before
//! deployment), or *absent* (the key is simply not in its object, so the platform default
//! applies). Rules must treat the three differently; see `rules/`.

use crate::source::{FileId, Span};
use std::fmt;

/// The strings of a value tree: a string value or an object key. Most are short (`name`,
/// `properties`, `Enabled`, `TLS1_2`) and copied often (every module instance, every use of
/// a variable); up to 24 bytes are held inline, without an allocation.
pub type Str = compact_str::CompactString;

/// The arrays and objects of a value tree: shared, not copied, when a value is copied
/// (a module parameter, a variable's every use, a cached module result); copied on write.
pub type Seq<T> = ecow::EcoVec<T>;

/// A value with the span where it was written (for module inputs: where the caller wrote it).
#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    pub value: Value,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    String(Str),
    Array(Seq<Node>),
    /// Keys keep their written order. Lookups are case-insensitive in the ARM dialect.
    Object(Seq<(Str, Node)>),
    /// Present, but not decidable statically. The reason says why, for `--explain`-style output.
    Unknown(Unknown),
}

/// Why a value is unknown.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unknown {
    pub reason: String,
}

impl Node {
    pub fn new(value: Value, span: Span) -> Node {
        Node { value, span }
    }

    pub fn unknown(reason: impl Into<String>, span: Span) -> Node {
        Node {
            value: Value::Unknown(Unknown {
                reason: reason.into(),
            }),
            span,
        }
    }

    pub fn is_unknown(&self) -> bool {
        matches!(self.value, Value::Unknown(_))
    }

    /// The member `key` of an object, ignoring ASCII case (ARM property names are
    /// case-insensitive; Terraform's are lower-case in practice, so this is harmless there).
    pub fn get(&self, key: &str) -> Option<&Node> {
        match &self.value {
            Value::Object(members) => members
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(key))
                .map(|(_, v)| v),
            _ => None,
        }
    }

    pub fn get_mut(&mut self, key: &str) -> Option<&mut Node> {
        match &mut self.value {
            Value::Object(members) => members
                .make_mut()
                .iter_mut()
                .find(|(k, _)| k.eq_ignore_ascii_case(key))
                .map(|(_, v)| v),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match &self.value {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_array(&self) -> Option<&[Node]> {
        match &self.value {
            Value::Array(a) => Some(a),
            _ => None,
        }
    }

    pub fn as_object(&self) -> Option<&[(Str, Node)]> {
        match &self.value {
            Value::Object(o) => Some(o),
            _ => None,
        }
    }

    /// Calls `f` with each value of this tree that is not an array or an object, and its
    /// path: member names joined by `.` onto `path` (no dot when `path` is empty; array
    /// items keep their array's path). Nodes deeper than `max_depth` below this one are
    /// not visited. One path buffer serves the whole walk: the link walks visit every value
    /// of every resource, and a string per member was a tenth to a third of their time.
    pub fn walk_leaves<F: FnMut(&str, &Node)>(
        &self,
        path: &mut String,
        max_depth: usize,
        f: &mut F,
    ) {
        self.walk_leaves_at(path, 0, max_depth, f);
    }

    fn walk_leaves_at<F: FnMut(&str, &Node)>(
        &self,
        path: &mut String,
        depth: usize,
        max_depth: usize,
        f: &mut F,
    ) {
        if depth > max_depth {
            return;
        }
        match &self.value {
            Value::Array(items) => {
                for i in items {
                    i.walk_leaves_at(path, depth + 1, max_depth, f);
                }
            }
            Value::Object(members) => {
                let len = path.len();
                for (k, v) in members {
                    if len > 0 {
                        path.push('.');
                    }
                    path.push_str(k);
                    v.walk_leaves_at(path, depth + 1, max_depth, f);
                    path.truncate(len);
                }
            }
            _ => f(path, self),
        }
    }

    /// Give every node of this tree the same span: used when a value is computed by an
    /// expression, so findings inside it point at the expression that produced it.
    pub fn respan(&mut self, span: Span) {
        self.span = span;
        // A shared array or object is copied only if a span in it changes.
        match &mut self.value {
            Value::Array(items) if !items.iter().all(|n| n.all_spans(span)) => {
                items.make_mut().iter_mut().for_each(|n| n.respan(span))
            }
            Value::Object(members) if !members.iter().all(|(_, n)| n.all_spans(span)) => members
                .make_mut()
                .iter_mut()
                .for_each(|(_, n)| n.respan(span)),
            _ => {}
        }
    }

    /// Whether every node of this tree has `span`.
    pub fn all_spans(&self, span: Span) -> bool {
        self.span == span
            && match &self.value {
                Value::Array(items) => items.iter().all(|n| n.all_spans(span)),
                Value::Object(members) => members.iter().all(|(_, n)| n.all_spans(span)),
                _ => true,
            }
    }

    /// Whether any node of this tree has `span`.
    pub fn any_span(&self, span: Span) -> bool {
        self.span == span
            || match &self.value {
                Value::Array(items) => items.iter().any(|n| n.any_span(span)),
                Value::Object(members) => members.iter().any(|(_, n)| n.any_span(span)),
                _ => false,
            }
    }

    /// Sets `key` in an object, replacing an existing member (case-insensitively).
    pub fn set(&mut self, key: &str, node: Node) {
        if let Value::Object(members) = &mut self.value {
            if let Some(slot) = members
                .make_mut()
                .iter_mut()
                .find(|(k, _)| k.eq_ignore_ascii_case(key))
            {
                slot.1 = node;
            } else {
                members.push((Str::from(key), node));
            }
        }
    }
}

impl Value {
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Bool(_) => "bool",
            Value::Int(_) | Value::Float(_) => "number",
            Value::String(_) => "string",
            Value::Array(_) => "array",
            Value::Object(_) => "object",
            Value::Unknown(_) => "unknown",
        }
    }
}

/// Short rendering of a value for messages: `false`, `'TLS1_0'`, `[2 items]`.
impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Null => write!(f, "null"),
            Value::Bool(b) => write!(f, "{b}"),
            Value::Int(i) => write!(f, "{i}"),
            Value::Float(x) => write!(f, "{x}"),
            Value::String(s) if s.chars().count() > 60 => {
                let cut: String = s.chars().take(57).collect();
                write!(f, "'{cut}...'")
            }
            Value::String(s) => write!(f, "'{s}'"),
            Value::Array(a) => write!(
                f,
                "[{} item{}]",
                a.len(),
                if a.len() == 1 { "" } else { "s" }
            ),
            Value::Object(_) => write!(f, "{{object}}"),
            Value::Unknown(u) => write!(f, "unknown ({})", u.reason),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Dialect {
    /// `type` + `apiVersion` + `properties…`: ARM JSON, Bicep, azapi.
    Arm,
    /// azurerm provider resources.
    Terraform,
}

/// Where a resource came from, for reports and the language-specific remediation snippet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Language {
    ArmJson,
    Bicep,
    Terraform,
}

impl Language {
    pub fn name(self) -> &'static str {
        match self {
            Language::ArmJson => "arm",
            Language::Bicep => "bicep",
            Language::Terraform => "terraform",
        }
    }
}

/// Index of a resource in [`Model::resources`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ResourceId(pub u32);

/// One declared resource (one instance, after loops are expanded).
#[derive(Clone, Debug)]
pub struct Resource {
    pub dialect: Dialect,
    pub language: Language,
    /// `Microsoft.Storage/storageAccounts` (full type, child types included) or
    /// `azurerm_storage_account`.
    pub type_name: String,
    /// ARM API version (`2023-01-01`), when known.
    pub api_version: Option<String>,
    /// Stable identity: ARM `type/name` or symbolic name, Terraform address. Used by
    /// fingerprints, suppressions and the baseline; never contains line numbers.
    pub address: String,
    /// The resource's name, when known.
    pub name: Option<String>,
    pub file: FileId,
    /// The resource's header (`"type": …` line, `resource x '…'`, `resource "a" "b"`):
    /// where a finding about a missing property points.
    pub header: Span,
    /// The resource as an object: ARM top-level fields (`name`, `properties`, `sku`, …) or
    /// Terraform attributes and blocks (blocks as arrays of objects).
    pub body: Node,
    /// Where a module instantiated this resource: the call sites, outermost first.
    pub call_chain: Vec<Span>,
    /// A partial update of a resource declared elsewhere (`azapi_update_resource`): what it
    /// leaves out is unchanged, not defaulted, so absent properties are not judged.
    pub partial: bool,
    /// Deployed only if something not known before deployment says so (an ARM `condition`
    /// or Bicep `if` whose value is unknown, a loop over a collection that may be empty, a
    /// Terraform `count`/`for_each` not known before apply): why. Checks on its properties
    /// still judge it (it may be deployed); whether it exists at all is unknown.
    pub conditional: Option<String>,
    /// Outgoing references, by the target's key, resolved into [`Edge`]s once every file is
    /// evaluated (a reference may cross files).
    pub links: Vec<Link>,
    /// Terraform: the root module (configuration) that instantiated the resource. A
    /// Terraform address is only unique within one configuration, and references never
    /// cross configurations, so the linker keys Terraform addresses by root: in a monorepo of
    /// examples, `azurerm_key_vault.example` in one folder is not the one in another. 0 for
    /// ARM and Bicep, whose resource ids are global.
    pub root: u32,
}

/// A reference from a resource to another, before the target is resolved.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Link {
    pub kind: EdgeKind,
    /// Property path on the referring resource (`dependsOn`, `properties.scope`).
    pub path: String,
    /// ARM: a resource id or `type/name` (matched on the `providers/…` tail, case-insensitive);
    /// Terraform: a resource address without instance key (`azurerm_storage_account.logs`),
    /// qualified by its module path.
    pub target: String,
}

impl Resource {
    /// True when `type_name` names this type (ARM types are case-insensitive).
    pub fn is_type(&self, type_name: &str) -> bool {
        self.type_name.eq_ignore_ascii_case(type_name)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EdgeKind {
    /// ARM `dependsOn`, Terraform `depends_on`.
    DependsOn,
    /// A child resource to its parent (nested resources, `parent:`, `Microsoft.X/y/z` names).
    Parent,
    /// An extension resource (diagnostic settings, locks, ...) to the resource it applies to:
    /// ARM `scope`, Terraform `target_resource_id`/`scope`.
    Scope,
    /// Any other reference: `resourceId()` in a property, `azurerm_x.y.id`.
    Reference,
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Edge {
    pub from: ResourceId,
    pub to: ResourceId,
    pub kind: EdgeKind,
    /// The property path on `from` that holds the reference (`properties.scope`).
    pub path: String,
}

/// All resources of a scan and the links between them, indexed both ways.
#[derive(Debug, Default)]
pub struct Model {
    pub resources: Vec<Resource>,
    pub edges: Vec<Edge>,
    /// References whose target is not known before deployment (an unknown name or id):
    /// they may point at any resource, so "nothing links here" cannot be concluded.
    /// References to a known target outside the scan are not listed: they point elsewhere.
    pub unresolved: Vec<(ResourceId, EdgeKind, String)>,
    /// The folder of each file (by `FileId` index), as a small number: an unresolved link
    /// only clouds connected-resource verdicts in its own folder (one deployment, one
    /// Terraform module). Empty: every file counts as one folder.
    pub folders: Vec<u32>,
    /// Resource `i`'s outgoing edges are `edges[outgoing[i]..outgoing[i + 1]]`: the edges
    /// are sorted by `from`.
    outgoing: Vec<u32>,
    /// Its incoming edges are `edges[k]` for `k` in `incoming[into[i]..into[i + 1]]`, in
    /// edge order. (A list per resource was 20,000 small allocations on the Bicep set, and
    /// the largest serial step of the link stage.)
    into: Vec<u32>,
    incoming: Vec<u32>,
    /// `unresolved` by the folder of the referring resource, built on first use (after
    /// `folders` is set): connected-resource checks ask for their own folder's, and scanning
    /// the whole list for every resource was quadratic (10% of the ARM corpus scan).
    unresolved_by_folder: std::sync::OnceLock<foldhash::HashMap<u32, Vec<usize>>>,
}

impl Model {
    pub fn new(resources: Vec<Resource>, mut edges: Vec<Edge>) -> Model {
        // Every field is compared, so equal edges are identical: an unstable sort gives
        // the same order.
        rayon::slice::ParallelSliceMut::par_sort_unstable(&mut edges[..]);
        edges.dedup();
        // Offsets by counting: `starts(key)[i]` is where resource `i`'s edges begin among
        // the edges ordered by `key`.
        let starts = |key: &dyn Fn(&Edge) -> ResourceId| {
            let mut at = vec![0u32; resources.len() + 1];
            for e in &edges {
                at[key(e).0 as usize + 1] += 1;
            }
            for i in 1..at.len() {
                at[i] += at[i - 1];
            }
            at
        };
        let outgoing = starts(&|e| e.from);
        let into = starts(&|e| e.to);
        let mut next = into.clone();
        let mut incoming = vec![0u32; edges.len()];
        for (k, e) in edges.iter().enumerate() {
            let slot = &mut next[e.to.0 as usize];
            incoming[*slot as usize] = k as u32;
            *slot += 1;
        }
        Model {
            resources,
            edges,
            unresolved: Vec::new(),
            folders: Vec::new(),
            outgoing,
            into,
            incoming,
            unresolved_by_folder: std::sync::OnceLock::new(),
        }
    }

    /// The unresolved references made by resources in the folder of `file`.
    pub fn unresolved_near(
        &self,
        file: FileId,
    ) -> impl Iterator<Item = &(ResourceId, EdgeKind, String)> {
        let folder_of = |f: FileId| self.folders.get(f.0 as usize).copied();
        let index = self.unresolved_by_folder.get_or_init(|| {
            let mut m: foldhash::HashMap<u32, Vec<usize>> = Default::default();
            for (i, (from, _, _)) in self.unresolved.iter().enumerate() {
                // A file without a folder (folders not set) shares every folder: u32::MAX.
                let f = folder_of(self.get(*from).file).unwrap_or(u32::MAX);
                m.entry(f).or_default().push(i);
            }
            m
        });
        // A file without a folder shares every folder: it sees every reference.
        let picked: Box<dyn Iterator<Item = usize>> = match folder_of(file) {
            Some(mine) => Box::new(
                index
                    .get(&mine)
                    .into_iter()
                    .chain(index.get(&u32::MAX))
                    .flatten()
                    .copied(),
            ),
            None => Box::new(0..self.unresolved.len()),
        };
        picked.map(move |i| &self.unresolved[i])
    }

    pub fn get(&self, id: ResourceId) -> &Resource {
        &self.resources[id.0 as usize]
    }

    pub fn outgoing(&self, id: ResourceId) -> impl Iterator<Item = &Edge> {
        let i = id.0 as usize;
        self.edges[self.outgoing[i] as usize..self.outgoing[i + 1] as usize].iter()
    }

    pub fn incoming(&self, id: ResourceId) -> impl Iterator<Item = &Edge> {
        let i = id.0 as usize;
        self.incoming[self.into[i] as usize..self.into[i + 1] as usize]
            .iter()
            .map(|&k| &self.edges[k as usize])
    }
}

/// A problem with the input rather than a finding: a file that does not parse, an
/// expression that cannot be evaluated, a module that cannot be found.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Diagnostic {
    pub severity: DiagSeverity,
    pub span: Span,
    pub message: String,
    pub help: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum DiagSeverity {
    /// The file or part of it could not be scanned: the gate fails.
    Error,
    /// Scanned, but something was assumed or left unknown (an unknown function, an
    /// unresolved module): reported, the gate does not fail on it.
    Warning,
}

impl Diagnostic {
    pub fn error(span: Span, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            severity: DiagSeverity::Error,
            span,
            message: message.into(),
            help: None,
        }
    }

    pub fn warning(span: Span, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            severity: DiagSeverity::Warning,
            span,
            message: message.into(),
            help: None,
        }
    }

    pub fn with_help(mut self, help: impl Into<String>) -> Diagnostic {
        self.help = Some(help.into());
        self
    }

    pub fn file(&self) -> FileId {
        self.span.file
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn walk_leaves_gives_dotted_paths_to_a_depth() {
        let n = |v| Node::new(v, Span::default());
        let tree = n(Value::Object(ecow::eco_vec![
            ("a".into(), n(Value::Int(1))),
            (
                "b".into(),
                n(Value::Array(ecow::eco_vec![
                    n(Value::Object(ecow::eco_vec![("c".into(), n(Value::Null))])),
                    n(Value::Bool(true)),
                ])),
            ),
        ]));
        let mut seen = Vec::new();
        tree.walk_leaves(&mut String::new(), 16, &mut |p, leaf| {
            seen.push((p.to_string(), leaf.value.clone()))
        });
        assert_eq!(
            seen,
            [
                ("a".to_string(), Value::Int(1)),
                ("b.c".to_string(), Value::Null),
                ("b".to_string(), Value::Bool(true)),
            ]
        );
        // Onto a starting path, and no deeper than asked: `b.c` is three levels down.
        let mut seen = Vec::new();
        tree.walk_leaves(&mut "properties".to_string(), 2, &mut |p, _| {
            seen.push(p.to_string())
        });
        assert_eq!(seen, ["properties.a", "properties.b"]);
    }
}
