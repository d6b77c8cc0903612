//! The declarative assertion language: paths into a resource's value tree, comparisons,
//! combinators, and an explicit answer for *absent* values.
//!
//! Three-valued throughout: an assertion passes, fails (with the span to point at), or is
//! unknown. Unknown never becomes a finding: a gate that guesses gets switched off.

use crate::model::{Model, Node, Resource, ResourceId, Value};
use crate::source::Span;
use regex::Regex;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

/// A rule's regular expression: its syntax is checked when the rule loads, and it is
/// compiled on first use.
///
/// A compiled regex costs tens of kilobytes of automata (Unicode-aware, 12 MB for the
/// built-in rules: `basegate rules` went from 17 MB to 30 MB resident); most scans meet
/// few of the rules that use one. Patterns are ASCII-mode when that compiles (rule
/// patterns match Azure names, versions and ids; `(?i)` and `\s` need no Unicode tables),
/// Unicode-aware otherwise.
///
/// Patterns with the same text share one compiled regex: the built-in rules write 176
/// patterns but only 62 different ones (one is in 48 rules), and each was checked and
/// compiled on its own (2 % of a Bicep scan's instructions, a compile on the check stage's
/// threads).
#[derive(Clone, Debug)]
pub struct Pattern {
    source: String,
    compiled: Arc<OnceLock<Option<Regex>>>,
}

type Compiled = Arc<OnceLock<Option<Regex>>>;

/// Every pattern that passed its syntax check, by text: the compiled regex they share.
fn checked_patterns() -> &'static Mutex<HashMap<String, Compiled>> {
    static CHECKED: OnceLock<Mutex<HashMap<String, Compiled>>> = OnceLock::new();
    CHECKED.get_or_init(Default::default)
}

impl Pattern {
    pub fn new(source: &str) -> Result<Pattern, String> {
        let known = checked_patterns()
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(source)
            .cloned();
        if let Some(compiled) = known {
            return Ok(Pattern {
                source: source.to_string(),
                compiled,
            });
        }
        let ascii = regex_syntax::ParserBuilder::new()
            .unicode(false)
            .build()
            .parse(source);
        if ascii.is_err() {
            regex_syntax::Parser::new()
                .parse(source)
                .map_err(|e| e.to_string())?;
        }
        // Two threads may check the same new text at once: the first to get here wins, and
        // both share its regex.
        let compiled = checked_patterns()
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(source.to_string())
            .or_default()
            .clone();
        Ok(Pattern {
            source: source.to_string(),
            compiled,
        })
    }

    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// `None` when the pattern cannot be compiled after all (it passed the syntax check
    /// but exceeds the size limit): the verdict is then unknown, never a guess.
    pub fn is_match(&self, text: &str) -> Option<bool> {
        self.compiled
            .get_or_init(|| {
                regex::RegexBuilder::new(&self.source)
                    .unicode(false)
                    .build()
                    .or_else(|_| Regex::new(&self.source))
                    .ok()
            })
            .as_ref()
            .map(|r| r.is_match(text))
    }
}

/// A property path: segments, with alternatives for renamed attributes (azurerm 3.x vs
/// 4.x names): the first alternative that is present is used.
#[derive(Clone, Debug)]
pub struct Path {
    pub alternatives: Vec<Vec<String>>,
}

impl Path {
    pub fn parse(s: &str) -> Path {
        Path {
            alternatives: vec![split_path(s)],
        }
    }

    pub fn display(&self) -> String {
        self.alternatives
            .first()
            .map(|a| a.join("."))
            .unwrap_or_default()
    }
}

#[derive(Clone, Debug)]
pub enum Op {
    Equals(Value),
    NotEquals(Value),
    OneOf(Vec<Value>),
    NotOneOf(Vec<Value>),
    AtLeast(f64),
    AtMost(f64),
    Present(bool),
    Matches(Pattern),
    NotMatches(Pattern),
    /// An array contains the value, or a string contains the substring.
    Contains(Value),
    NotContains(Value),
    /// Array or object or string is empty (`true`) or not (`false`).
    Empty(bool),
    /// A port specification (`"3389"`, `"*"`, `"3000-4000"`, a number, or an array of
    /// those) includes the port.
    Covers(u16),
    /// Every element of the array at the path satisfies the assertion (paths relative to
    /// the element). Absent or empty arrays pass.
    Each(Box<Assertion>),
    /// Some element satisfies it. Absent or empty arrays are decided by `absent`.
    Some(Box<Assertion>),
}

/// Splits `a.b.'c.d'.e` on dots outside single quotes: property names with dots (API
/// Management's `customProperties` keys) are written quoted.
pub fn split_path(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    for c in s.chars() {
        match c {
            '\'' => quoted = !quoted,
            '.' if !quoted => out.push(std::mem::take(&mut cur)),
            c => cur.push(c),
        }
    }
    out.push(cur);
    out
}

/// What an absent value means: the platform's default decides, sometimes per version.
#[derive(Clone, Debug, PartialEq)]
pub enum Absent {
    Pass,
    Fail,
    Unknown,
    /// The resource is out of the check's scope.
    NotApplicable,
    /// Depends on the resource's version (ARM API version, or azurerm provider version for
    /// Terraform): `then` from `from` on, `otherwise` before it; unknown version → unknown.
    Versioned {
        from: String,
        then: Box<Absent>,
        otherwise: Box<Absent>,
    },
}

#[derive(Clone, Debug)]
pub enum Assertion {
    Leaf {
        path: Path,
        op: Op,
        absent: Absent,
        /// Human text for the requirement, shown in messages ("true", "TLS1_2 or later").
        expect: Option<String>,
    },
    All(Vec<Assertion>),
    Any(Vec<Assertion>),
    /// Passes when the inner assertion fails; `expect` says what is required instead.
    Not(Box<Assertion>, Option<String>),
    /// A connected resource: `exists` one of `type` linked by `edge` (incoming by default)
    /// that satisfies `filter`. When none exists: `absent`.
    Related {
        types: Vec<String>,
        edge: Option<crate::model::EdgeKind>,
        outgoing: bool,
        /// Only links written at a property path starting with this (`properties.privateLinkServiceConnections`).
        via: Option<String>,
        /// Only linked resources that pass this count (`related.select`): the others are
        /// ignored, as if not linked; one where it is unknown makes "none" unknown.
        select: Option<Box<Assertion>>,
        filter: Option<Box<Assertion>>,
        absent: Absent,
        expect: Option<String>,
    },
    /// `{ declared = true }`: the resource is declared (and passed the check's `when`). For
    /// controls that ask whether something exists at all (a Bastion host, a custom role):
    /// passes, or is unknown when the resource is deployed only under a condition not known
    /// before deployment. Never fails.
    Declared,
}

/// One place that makes an assertion fail.
#[derive(Clone, Debug, PartialEq)]
pub struct Failure {
    pub span: Span,
    /// The property path that was checked (empty for a related-resource assertion).
    pub path: String,
    /// What was found: `false`, or `None` when the property is absent.
    pub found: Option<String>,
    pub expected: String,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Verdict {
    Pass,
    Fail(Vec<Failure>),
    Unknown(String),
    NotApplicable,
}

impl Verdict {
    pub fn is_fail(&self) -> bool {
        matches!(self, Verdict::Fail(_))
    }
}

/// The value tree an assertion runs against, and what it needs for absent and related.
pub struct Ctx<'a> {
    pub model: &'a Model,
    pub id: ResourceId,
    pub resource: &'a Resource,
}

/// What a path leads to.
enum Resolved<'a> {
    /// Nothing there. The span is that of a written `null` (the author wrote "not set"
    /// there, so a finding points at it); None when the property is simply left out.
    Absent(Option<Span>),
    Unknown(String),
    Values(Vec<&'a Node>),
}

fn resolve<'a>(node: &'a Node, segments: &[String]) -> Resolved<'a> {
    // Plain names through objects, one node at a time, need no lists: most paths are only
    // that (`properties.minimumTlsVersion`). Arrays and wildcards take the general way
    // below, from where this stops. Each step answers as the general way would.
    let mut node = node;
    let mut rest = segments;
    while let Some((seg, after)) = rest.split_first() {
        if seg.starts_with('[') {
            break;
        }
        match &node.value {
            Value::Unknown(u) => return Resolved::Unknown(u.reason.clone()),
            Value::Object(_) => match node.get(seg) {
                Some(n) if matches!(n.value, Value::Null) => return Resolved::Absent(Some(n.span)),
                Some(n) => node = n,
                None => return Resolved::Absent(None),
            },
            Value::Array(_) => break,
            _ => return Resolved::Absent(None),
        }
        rest = after;
    }
    let mut current: Vec<&'a Node> = vec![node];
    for seg in rest {
        let mut next = Vec::new();
        // `[*]` or `[*Effect]`: every member (of an object) whose name matches the pattern.
        let wildcard = seg
            .strip_prefix('[')
            .and_then(|s| s.strip_suffix(']'))
            .filter(|p| p.contains('*'));
        let members = |n: &'a Node, out: &mut Vec<&'a Node>| match (wildcard, &n.value) {
            (Some(p), Value::Object(m)) => {
                out.extend(m.iter().filter(|(k, _)| glob_match(p, k)).map(|(_, v)| v))
            }
            (None, _) => out.extend(n.get(seg)),
            _ => {}
        };
        for n in current {
            match &n.value {
                Value::Unknown(u) => return Resolved::Unknown(u.reason.clone()),
                Value::Object(_) => members(n, &mut next),
                // Terraform blocks are arrays of objects; `network_rules.default_action`
                // means "in every network_rules block". Explicit `[*]` does the same in ARM.
                Value::Array(items) => {
                    for item in items {
                        if seg == "[*]" {
                            next.push(item);
                        } else if let Value::Unknown(u) = &item.value {
                            return Resolved::Unknown(u.reason.clone());
                        } else {
                            members(item, &mut next);
                        }
                    }
                }
                _ => {}
            }
        }
        // `null` is how ARM (`null()`), Bicep and Terraform say "not set": the platform
        // default applies, exactly as if the property were left out.
        let written_null = next
            .iter()
            .find(|n| matches!(n.value, Value::Null))
            .map(|n| n.span);
        next.retain(|n| !matches!(n.value, Value::Null));
        if next.is_empty() {
            return Resolved::Absent(written_null);
        }
        current = next;
    }
    Resolved::Values(current)
}

/// A name pattern where `*` stands for any run of characters; case-insensitive, as ARM
/// property names are.
pub(crate) fn glob_match(pattern: &str, name: &str) -> bool {
    let (p, n) = (pattern.to_ascii_lowercase(), name.to_ascii_lowercase());
    let parts: Vec<&str> = p.split('*').collect();
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if parts.len() == 1 {
        return p == n;
    }
    if !n.starts_with(first) || n.len() < first.len() + last.len() || !n.ends_with(last) {
        return false;
    }
    let mut rest = &n[first.len()..n.len() - last.len()];
    for mid in &parts[1..parts.len() - 1] {
        match rest.find(mid) {
            Some(i) => rest = &rest[i + mid.len()..],
            None => return false,
        }
    }
    true
}

fn header_or(span: Span, header: Span) -> Span {
    // The root object's span covers the whole resource: point at the header instead.
    if span.start <= header.start && span.end >= header.end {
        header
    } else {
        span
    }
}

impl Assertion {
    /// Whether the assertion can ever fail. Only combinations of `declared` cannot: a check
    /// made of them is an existence check, with no failing case.
    pub fn can_fail(&self) -> bool {
        match self {
            Assertion::Declared => false,
            Assertion::All(items) | Assertion::Any(items) => items.iter().any(Assertion::can_fail),
            // A linked resource passes unless a `where` fails it; none fails only if
            // `absent` says so.
            Assertion::Related { filter, absent, .. } => filter.is_some() || absent.can_fail(),
            Assertion::Leaf { .. } | Assertion::Not(..) => true,
        }
    }

    /// Made only of `declared`: the check asks whether something exists, and one resource
    /// that surely does is enough for the control.
    pub fn existence_only(&self) -> bool {
        match self {
            Assertion::Declared => true,
            Assertion::All(items) | Assertion::Any(items) => {
                items.iter().all(Assertion::existence_only)
            }
            _ => false,
        }
    }

    /// The types of an incoming connection this assertion asks about (directly or in a
    /// combinator) for which the scan holds a reference whose target is not known, from a
    /// resource in the folder of `ctx`'s resource: such a reference may point at a resource
    /// that is not declared.
    fn unresolved_incoming(&self, ctx: &Ctx) -> Option<String> {
        match self {
            Assertion::Leaf { .. } | Assertion::Declared => None,
            Assertion::All(xs) | Assertion::Any(xs) => {
                xs.iter().find_map(|x| x.unresolved_incoming(ctx))
            }
            Assertion::Not(x, _) => x.unresolved_incoming(ctx),
            Assertion::Related {
                types,
                edge,
                outgoing: false,
                via,
                ..
            } => dangling(ctx, types, *edge, via.as_deref(), false).then(|| types.join(" or ")),
            Assertion::Related { .. } => None,
        }
    }

    pub fn eval(&self, node: &Node, ctx: &Ctx) -> Verdict {
        match self {
            Assertion::Leaf {
                path,
                op,
                absent,
                expect,
            } => {
                let mut chosen = None;
                for alt in &path.alternatives {
                    match resolve(node, alt) {
                        Resolved::Absent(s) => {
                            if chosen.is_none() {
                                chosen = Some((alt, Resolved::Absent(s)));
                            }
                        }
                        r => {
                            chosen = Some((alt, r));
                            break;
                        }
                    }
                }
                let Some((segments, resolved)) = chosen else {
                    return Verdict::NotApplicable;
                };
                // Only a failure or an unknown needs these: built on demand (building them
                // for every check of every resource was a tenth of the check stage).
                let path_text = || segments.join(".");
                let expected = || expect.clone().unwrap_or_else(|| op.describe());
                match resolved {
                    Resolved::Unknown(reason) => Verdict::Unknown(reason),
                    // A partial update leaves what it omits unchanged, at a value not
                    // known here: neither a pass nor a failure.
                    Resolved::Absent(_) if ctx.resource.partial => Verdict::Unknown(
                        "not set by this partial update; the current value is not known".into(),
                    ),
                    Resolved::Absent(null_at) => {
                        let default_absent = match op {
                            Op::Each(_) => Absent::Pass,
                            _ => absent.clone(),
                        };
                        match decide_absent(&default_absent, ctx.resource) {
                            // A missing property is reported on the resource header: a tight,
                            // stable region (its parent object may span a whole block).
                            Verdict::Fail(_) => Verdict::Fail(vec![Failure {
                                span: null_at.unwrap_or(ctx.resource.header),
                                path: path_text(),
                                found: None,
                                expected: expected(),
                            }]),
                            v => v,
                        }
                    }
                    Resolved::Values(values) => {
                        let mut verdicts = Vec::new();
                        for v in values {
                            verdicts.push(op.apply(v, absent, ctx, &path_text, &expected));
                        }
                        all(verdicts)
                    }
                }
            }
            Assertion::Declared => match &ctx.resource.conditional {
                Some(reason) => Verdict::Unknown(reason.clone()),
                None => Verdict::Pass,
            },
            Assertion::All(items) => all(items.iter().map(|a| a.eval(node, ctx)).collect()),
            Assertion::Any(items) => {
                let mut unknown = None;
                let mut fails = Vec::new();
                let mut applicable = false;
                for a in items {
                    match a.eval(node, ctx) {
                        Verdict::Pass => return Verdict::Pass,
                        Verdict::Unknown(r) => {
                            applicable = true;
                            unknown.get_or_insert(r);
                        }
                        Verdict::Fail(f) => {
                            applicable = true;
                            fails.extend(f)
                        }
                        Verdict::NotApplicable => {}
                    }
                }
                if let Some(r) = unknown {
                    Verdict::Unknown(r)
                } else if applicable {
                    // Report only the first alternative's failure: "one of these" is in the
                    // rule's message; pointing at every alternative would be noise.
                    fails.truncate(1);
                    Verdict::Fail(fails)
                } else {
                    Verdict::NotApplicable
                }
            }
            Assertion::Not(inner, expect) => match inner.eval(node, ctx) {
                Verdict::Pass => Verdict::Fail(vec![Failure {
                    span: header_or(node.span, ctx.resource.header),
                    path: String::new(),
                    found: None,
                    expected: expect.clone().unwrap_or_default(),
                }]),
                Verdict::Fail(_) => Verdict::Pass,
                v => v,
            },
            Assertion::Related {
                types,
                edge,
                outgoing,
                via,
                select,
                filter,
                absent,
                expect,
            } => {
                // A partial update's connections belong to the resource it updates.
                if ctx.resource.partial {
                    return Verdict::NotApplicable;
                }
                let link_ok = |kind: crate::model::EdgeKind, path: &str| {
                    link_matches(*edge, via.as_deref(), kind, path)
                };
                let mut unknown = None;
                let mut found_any = false;
                let list: Vec<(ResourceId, &crate::model::Edge)> = if *outgoing {
                    ctx.model.outgoing(ctx.id).map(|e| (e.to, e)).collect()
                } else {
                    ctx.model.incoming(ctx.id).map(|e| (e.from, e)).collect()
                };
                for (rid, e) in list {
                    if !link_ok(e.kind, &e.path) {
                        continue;
                    }
                    let other = ctx.model.get(rid);
                    if !types.iter().any(|t| other.is_type(t)) {
                        continue;
                    }
                    let sub = Ctx {
                        model: ctx.model,
                        id: rid,
                        resource: other,
                    };
                    match select.as_ref().map(|s| s.eval(&other.body, &sub)) {
                        None | Some(Verdict::Pass) => {}
                        Some(Verdict::Unknown(r)) => {
                            unknown.get_or_insert(r);
                            continue;
                        }
                        _ => continue,
                    }
                    found_any = true;
                    match filter.as_ref().map(|f| f.eval(&other.body, &sub)) {
                        None | Some(Verdict::Pass) => return Verdict::Pass,
                        Some(Verdict::Unknown(r)) => {
                            unknown.get_or_insert(r);
                        }
                        _ => {}
                    }
                }
                if let Some(r) = unknown {
                    return Verdict::Unknown(r);
                }
                if !found_any {
                    // A reference we could not resolve (unknown name, resource in another
                    // repository) may be the one we look for: unknown, not missing.
                    if dangling(ctx, types, *edge, via.as_deref(), *outgoing) {
                        return Verdict::Unknown(format!(
                            "a reference to or from {} could not be resolved",
                            types.join(" or ")
                        ));
                    }
                    // A child need not be declared to exist (a storage account's default
                    // queue service, a child deployed elsewhere): a reference the filter
                    // would follow from such a child, whose target is not known, may be to
                    // an undeclared child of this resource.
                    let child =
                        !*outgoing && edge.is_none_or(|k| k == crate::model::EdgeKind::Parent);
                    if let (true, Some(f)) = (child, filter) {
                        if let Some(other) = f.unresolved_incoming(ctx) {
                            return Verdict::Unknown(format!(
                                "a reference from {other} could not be resolved: it may be to an undeclared {} of this resource",
                                types.join(" or ")
                            ));
                        }
                    }
                }
                let expected = expect
                    .clone()
                    .unwrap_or_else(|| format!("a linked {}", types.join(" or ")));
                let what = if found_any {
                    Absent::Fail
                } else {
                    absent.clone()
                };
                match decide_absent(&what, ctx.resource) {
                    Verdict::Fail(_) => Verdict::Fail(vec![Failure {
                        span: ctx.resource.header,
                        path: String::new(),
                        found: None,
                        expected,
                    }]),
                    v => v,
                }
            }
        }
    }
}

/// Whether a link of `kind` written at `path` is one a `related` assertion follows.
fn link_matches(
    edge: Option<crate::model::EdgeKind>,
    via: Option<&str>,
    kind: crate::model::EdgeKind,
    path: &str,
) -> bool {
    edge.is_none_or(|k| k == kind)
        && via.is_none_or(|v| path.len() >= v.len() && path[..v.len()].eq_ignore_ascii_case(v))
}

/// Whether a reference the `related` assertion would follow could not be resolved in the
/// folder of `ctx`'s resource: one made by this resource (outgoing), or one made by a
/// resource of `types` (incoming). Such a reference may be the connection looked for.
fn dangling(
    ctx: &Ctx,
    types: &[String],
    edge: Option<crate::model::EdgeKind>,
    via: Option<&str>,
    outgoing: bool,
) -> bool {
    ctx.model
        .unresolved_near(ctx.resource.file)
        .any(|(from, kind, path)| {
            link_matches(edge, via, *kind, path)
                && if outgoing {
                    *from == ctx.id
                } else {
                    types.iter().any(|t| ctx.model.get(*from).is_type(t))
                }
        })
}

/// All must pass: any failure fails (collecting every failure), else any unknown is unknown.
fn all(verdicts: Vec<Verdict>) -> Verdict {
    let mut fails = Vec::new();
    let mut unknown = None;
    let mut applicable = false;
    for v in verdicts {
        match v {
            Verdict::Pass => applicable = true,
            Verdict::Fail(f) => {
                applicable = true;
                fails.extend(f)
            }
            Verdict::Unknown(r) => {
                applicable = true;
                unknown.get_or_insert(r);
            }
            Verdict::NotApplicable => {}
        }
    }
    if !fails.is_empty() {
        Verdict::Fail(fails)
    } else if let Some(r) = unknown {
        Verdict::Unknown(r)
    } else if applicable {
        Verdict::Pass
    } else {
        Verdict::NotApplicable
    }
}

impl Absent {
    /// Whether an absent value can make the assertion fail.
    pub fn can_fail(&self) -> bool {
        match self {
            Absent::Fail => true,
            Absent::Versioned {
                then, otherwise, ..
            } => then.can_fail() || otherwise.can_fail(),
            _ => false,
        }
    }
}

fn decide_absent(absent: &Absent, resource: &Resource) -> Verdict {
    match absent {
        Absent::Pass => Verdict::Pass,
        Absent::Fail => Verdict::Fail(Vec::new()),
        Absent::Unknown => Verdict::Unknown("not set, and the default is not known".into()),
        Absent::NotApplicable => Verdict::NotApplicable,
        Absent::Versioned {
            from,
            then,
            otherwise,
        } => match &resource.api_version {
            Some(v) if version_ge(v, from) => decide_absent(then, resource),
            Some(_) => decide_absent(otherwise, resource),
            None => Verdict::Unknown(format!(
                "not set, and the default depends on the version (changes at {from}), which is not known"
            )),
        },
    }
}

/// Compares ARM API versions (`2019-04-01`, `2023-01-01-preview`) and semantic versions
/// (`4.12.0`) component by component, numerically.
pub fn version_ge(v: &str, from: &str) -> bool {
    fn parts(s: &str) -> Vec<u64> {
        s.split(['-', '.'])
            .map_while(|p| p.parse::<u64>().ok())
            .collect()
    }
    parts(v) >= parts(from)
}

impl Op {
    fn describe(&self) -> String {
        match self {
            Op::Equals(v) => v.to_string(),
            Op::NotEquals(v) => format!("anything but {v}"),
            Op::OneOf(vs) => format!("one of {}", list(vs)),
            Op::NotOneOf(vs) => format!("none of {}", list(vs)),
            Op::AtLeast(n) => format!("at least {n}"),
            Op::AtMost(n) => format!("at most {n}"),
            Op::Present(true) => "set".to_string(),
            Op::Present(false) => "not set".to_string(),
            Op::Matches(r) => format!("a value matching /{}/", r.as_str()),
            Op::NotMatches(r) => format!("a value not matching /{}/", r.as_str()),
            Op::Contains(v) => format!("a value containing {v}"),
            Op::NotContains(v) => format!("a value without {v}"),
            Op::Empty(true) => "empty".to_string(),
            Op::Empty(false) => "not empty".to_string(),
            Op::Covers(p) => format!("a port range including {p}"),
            Op::Each(_) | Op::Some(_) => "see the rule".to_string(),
        }
    }

    fn apply(
        &self,
        node: &Node,
        absent: &Absent,
        ctx: &Ctx,
        path: &dyn Fn() -> String,
        expected: &dyn Fn() -> String,
    ) -> Verdict {
        if let Value::Unknown(u) = &node.value {
            return Verdict::Unknown(u.reason.clone());
        }
        let fail = || {
            Verdict::Fail(vec![Failure {
                span: node.span,
                path: path(),
                found: Some(node.value.to_string()),
                expected: expected(),
            }])
        };
        let verdict = |ok: Option<bool>| match ok {
            Some(true) => Verdict::Pass,
            Some(false) => fail(),
            None => Verdict::Unknown(format!(
                "{} contains values not known before deployment",
                path()
            )),
        };
        match self {
            Op::Equals(v) => verdict(loose_eq(&node.value, v)),
            Op::NotEquals(v) => verdict(loose_eq(&node.value, v).map(|b| !b)),
            Op::OneOf(vs) => verdict(any_eq(&node.value, vs)),
            Op::NotOneOf(vs) => verdict(any_eq(&node.value, vs).map(|b| !b)),
            Op::AtLeast(n) => verdict(number(&node.value).map(|x| x >= *n)),
            Op::AtMost(n) => verdict(number(&node.value).map(|x| x <= *n)),
            Op::Present(want) => {
                if matches!(node.value, Value::Null) {
                    // `null` is how templates say "not set".
                    verdict(Some(!*want))
                } else {
                    verdict(Some(*want))
                }
            }
            Op::Matches(r) => verdict(as_text(&node.value).and_then(|s| r.is_match(&s))),
            Op::NotMatches(r) => {
                verdict(as_text(&node.value).and_then(|s| r.is_match(&s).map(|m| !m)))
            }
            Op::Contains(v) => verdict(contains(&node.value, v)),
            Op::NotContains(v) => verdict(contains(&node.value, v).map(|b| !b)),
            Op::Empty(want) => {
                let empty = match &node.value {
                    Value::Array(a) => Some(a.is_empty()),
                    Value::Object(o) => Some(o.is_empty()),
                    Value::String(s) => Some(s.is_empty()),
                    Value::Null => Some(true),
                    _ => None,
                };
                verdict(empty.map(|e| e == *want))
            }
            Op::Covers(port) => verdict(covers(&node.value, *port)),
            Op::Each(inner) => match &node.value {
                Value::Array(items) => all(items.iter().map(|i| inner.eval(i, ctx)).collect()),
                Value::Null => Verdict::Pass,
                _ => inner.eval(node, ctx),
            },
            Op::Some(inner) => match &node.value {
                Value::Array(items) => {
                    let mut unknown = None;
                    for i in items {
                        match inner.eval(i, ctx) {
                            Verdict::Pass => return Verdict::Pass,
                            Verdict::Unknown(r) => {
                                unknown.get_or_insert(r);
                            }
                            _ => {}
                        }
                    }
                    if let Some(r) = unknown {
                        Verdict::Unknown(r)
                    } else if items.is_empty() {
                        match decide_absent(absent, ctx.resource) {
                            Verdict::Fail(_) => fail(),
                            v => v,
                        }
                    } else {
                        fail()
                    }
                }
                _ => inner.eval(node, ctx),
            },
        }
    }
}

/// Whether a port spec includes `port`. `None` when part of it is unknown.
fn covers(v: &Value, port: u16) -> Option<bool> {
    match v {
        Value::Int(i) => Some(*i == port as i64),
        Value::String(s) => {
            let s = s.trim();
            if s == "*" || s.eq_ignore_ascii_case("any") {
                return Some(true);
            }
            // Terraform and ARM both accept comma-separated lists in one string.
            Some(s.split(',').any(|part| {
                let part = part.trim();
                match part.split_once('-') {
                    Some((a, b)) => match (a.trim().parse::<u32>(), b.trim().parse::<u32>()) {
                        (Ok(a), Ok(b)) => a <= port as u32 && port as u32 <= b,
                        _ => false,
                    },
                    None => part.parse::<u32>().ok() == Some(port as u32),
                }
            }))
        }
        Value::Array(items) => {
            let mut unknown = false;
            for i in items {
                match covers(&i.value, port) {
                    Some(true) => return Some(true),
                    None => unknown = true,
                    _ => {}
                }
            }
            if unknown {
                None
            } else {
                Some(false)
            }
        }
        Value::Unknown(_) => None,
        _ => Some(false),
    }
}

fn list(vs: &[Value]) -> String {
    vs.iter()
        .map(|v| v.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

fn number(v: &Value) -> Option<f64> {
    match v {
        Value::Int(i) => Some(*i as f64),
        Value::Float(f) => Some(*f),
        // Terraform and ARM both let numbers arrive as strings ("90").
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn as_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.to_string()),
        Value::Int(_) | Value::Float(_) | Value::Bool(_) => Some(v.to_string()),
        _ => None,
    }
}

/// Equality as Azure compares settings: strings case-insensitively (`'Enabled'` ==
/// `'enabled'`), numbers across int/float and numeric strings, booleans also from the
/// strings `"true"`/`"false"` (Terraform variables often arrive as strings). `None` when an
/// unknown element makes it undecidable.
pub fn loose_eq(a: &Value, b: &Value) -> Option<bool> {
    Some(match (a, b) {
        (Value::Unknown(_), _) | (_, Value::Unknown(_)) => return None,
        (Value::String(x), Value::String(y)) => x.eq_ignore_ascii_case(y),
        (Value::Bool(x), Value::Bool(y)) => x == y,
        (Value::Bool(x), Value::String(s)) | (Value::String(s), Value::Bool(x)) => {
            s.eq_ignore_ascii_case(if *x { "true" } else { "false" })
        }
        (Value::Null, Value::Null) => true,
        (Value::Array(x), Value::Array(y)) => {
            if x.len() != y.len() {
                return Some(false);
            }
            for (p, q) in x.iter().zip(y) {
                if !loose_eq(&p.value, &q.value)? {
                    return Some(false);
                }
            }
            true
        }
        _ => match (number(a), number(b)) {
            (Some(x), Some(y)) if !matches!((a, b), (Value::String(_), Value::String(_))) => x == y,
            _ => false,
        },
    })
}

fn any_eq(v: &Value, options: &[Value]) -> Option<bool> {
    let mut unknown = false;
    for o in options {
        match loose_eq(v, o) {
            Some(true) => return Some(true),
            None => unknown = true,
            _ => {}
        }
    }
    if unknown {
        None
    } else {
        Some(false)
    }
}

fn contains(hay: &Value, needle: &Value) -> Option<bool> {
    match hay {
        Value::Array(items) => {
            let mut unknown = false;
            for i in items {
                match loose_eq(&i.value, needle) {
                    Some(true) => return Some(true),
                    None => unknown = true,
                    _ => {}
                }
            }
            if unknown {
                None
            } else {
                Some(false)
            }
        }
        Value::String(s) => {
            let n = as_text(needle)?;
            // ARM lists such as `bypass: 'Logging, AzureServices'` are comma-separated strings.
            Some(s.to_ascii_lowercase().contains(&n.to_ascii_lowercase()))
        }
        Value::Object(o) => {
            let n = as_text(needle)?;
            Some(o.iter().any(|(k, _)| k.eq_ignore_ascii_case(&n)))
        }
        Value::Unknown(_) => None,
        _ => Some(false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_compare_numerically() {
        assert!(version_ge("2019-04-01", "2019-04-01"));
        assert!(version_ge("2023-01-01-preview", "2019-04-01"));
        assert!(!version_ge("2018-11-01", "2019-04-01"));
        assert!(version_ge("4.10.0", "4.9"));
        assert!(!version_ge("3.117.1", "4.0.0"));
    }

    #[test]
    fn quoted_path_segments() {
        assert_eq!(
            split_path("properties.customProperties.'Microsoft.Tls10'.x"),
            ["properties", "customProperties", "Microsoft.Tls10", "x"]
        );
    }

    #[test]
    fn port_coverage() {
        let s = |x: &str| Value::String(x.into());
        assert_eq!(covers(&s("*"), 22), Some(true));
        assert_eq!(covers(&s("20-25"), 22), Some(true));
        assert_eq!(covers(&s("80,443"), 443), Some(true));
        assert_eq!(covers(&s("3389"), 22), Some(false));
        assert_eq!(covers(&Value::Int(22), 22), Some(true));
    }

    fn resource(json: &str, conditional: Option<&str>) -> Resource {
        let body = crate::json::parse(json, crate::source::FileId(0))
            .unwrap()
            .root;
        Resource {
            dialect: crate::model::Dialect::Arm,
            language: crate::model::Language::ArmJson,
            type_name: "Microsoft.Network/bastionHosts".into(),
            api_version: Some("2024-01-01".into()),
            address: "x".into(),
            name: Some("x".into()),
            file: crate::source::FileId(0),
            header: body.span,
            body,
            call_chain: Vec::new(),
            partial: false,
            conditional: conditional.map(str::to_string),
            links: Vec::new(),
            root: 0,
        }
    }

    fn eval(a: &Assertion, r: Resource) -> Verdict {
        let model = Model::new(vec![r], Vec::new());
        let res = model.get(ResourceId(0));
        let ctx = Ctx {
            model: &model,
            id: ResourceId(0),
            resource: res,
        };
        a.eval(&res.body, &ctx)
    }

    fn leaf(path: &str, op: Op) -> Assertion {
        Assertion::Leaf {
            path: Path::parse(path),
            op,
            absent: Absent::Pass,
            expect: None,
        }
    }

    #[test]
    fn declared_passes_unless_the_resource_is_conditional() {
        let a = Assertion::Declared;
        assert_eq!(eval(&a, resource("{}", None)), Verdict::Pass);
        assert!(matches!(
            eval(&a, resource("{}", Some("condition unknown"))),
            Verdict::Unknown(r) if r == "condition unknown"
        ));
        assert!(!a.can_fail());
        assert!(!Assertion::All(vec![Assertion::Declared]).can_fail());
        let with_leaf = Assertion::All(vec![
            Assertion::Declared,
            leaf(
                "properties.status",
                Op::NotEquals(Value::String("Disabled".into())),
            ),
        ]);
        assert!(with_leaf.can_fail());
        assert!(Assertion::Not(Box::new(Assertion::Declared), None).can_fail());
    }

    #[test]
    fn wildcard_segments_walk_object_members_by_name() {
        let a = leaf(
            "properties.parameters.[*Effect].value",
            Op::NotEquals(Value::String("Disabled".into())),
        );
        let bad = r#"{"properties": {"parameters": {
            "aEffect": {"value": "Audit"}, "bMonitoringEffect": {"value": "disabled"},
            "note": {"value": "Disabled"}}}}"#;
        match eval(&a, resource(bad, None)) {
            Verdict::Fail(f) => {
                assert_eq!(f.len(), 1);
                assert_eq!(f[0].found.as_deref(), Some("'disabled'"));
            }
            v => panic!("{v:?}"),
        }
        let good = r#"{"properties": {"parameters": {"aEffect": {"value": "Audit"},
            "note": {"value": "Disabled"}}}}"#;
        assert_eq!(eval(&a, resource(good, None)), Verdict::Pass);
        // No parameters at all, or none matching: absent.
        assert_eq!(eval(&a, resource("{}", None)), Verdict::Pass);
        // `[*]` on an object: every member.
        let all = leaf(
            "properties.parameters.[*].value",
            Op::NotEquals(Value::String("Disabled".into())),
        );
        assert!(eval(&all, resource(good, None)).is_fail());
        // In arrays of objects, the pattern applies to each element's members.
        let arr = leaf("items.[*Id]", Op::NotEquals(Value::String("x".into())));
        assert!(eval(
            &arr,
            resource(r#"{"items": [{"aId": "y"}, {"bID": "x"}]}"#, None)
        )
        .is_fail());
    }

    #[test]
    fn related_select_ignores_other_linked_resources() {
        use crate::model::{Edge, EdgeKind};
        let ext = |ty: &str, conditional: Option<&str>| {
            let mut r = resource(
                &format!(r#"{{"properties": {{"publisher": "p", "type": "{ty}"}}}}"#),
                conditional,
            );
            r.type_name = "Microsoft.Compute/virtualMachines/extensions".into();
            r
        };
        let vm = || {
            let mut r = resource("{}", None);
            r.type_name = "Microsoft.Compute/virtualMachines".into();
            r
        };
        let related = |absent: Absent| Assertion::Related {
            types: vec!["Microsoft.Compute/virtualMachines/extensions".into()],
            edge: Some(EdgeKind::Parent),
            outgoing: false,
            via: None,
            select: Some(Box::new(Assertion::All(vec![
                Assertion::Declared,
                Assertion::Leaf {
                    path: Path::parse("properties.type"),
                    op: Op::OneOf(vec![Value::String("MDE.Windows".into())]),
                    absent: Absent::Fail,
                    expect: None,
                },
            ]))),
            filter: None,
            absent,
            expect: None,
        };
        let run = |exts: Vec<Resource>, a: &Assertion| {
            let n = exts.len();
            let mut all = vec![vm()];
            all.extend(exts);
            let edges = (1..=n)
                .map(|i| Edge {
                    from: ResourceId(i as u32),
                    to: ResourceId(0),
                    kind: EdgeKind::Parent,
                    path: String::new(),
                })
                .collect();
            let model = Model::new(all, edges);
            let res = model.get(ResourceId(0));
            let ctx = Ctx {
                model: &model,
                id: ResourceId(0),
                resource: res,
            };
            a.eval(&res.body, &ctx)
        };
        let a = related(Absent::Unknown);
        // Another extension is not "an endpoint protection extension that fails".
        assert!(matches!(
            run(vec![ext("AzureMonitorWindowsAgent", None)], &a),
            Verdict::Unknown(_)
        ));
        assert_eq!(
            run(
                vec![
                    ext("AzureMonitorWindowsAgent", None),
                    ext("MDE.Windows", None)
                ],
                &a
            ),
            Verdict::Pass
        );
        // Linked but maybe not deployed: unknown.
        assert!(matches!(
            run(vec![ext("MDE.Windows", Some("condition"))], &a),
            Verdict::Unknown(r) if r == "condition"
        ));
        assert!(!a.can_fail());
        assert!(!a.existence_only());
        assert!(related(Absent::Fail).can_fail());
        assert!(run(vec![ext("Other", None)], &related(Absent::Fail)).is_fail());
    }

    #[test]
    fn glob_patterns() {
        assert!(glob_match("*Effect", "identityEnableMFAMonitoringEffect"));
        assert!(glob_match("*effect", "AEFFECT"));
        assert!(!glob_match("*Effect", "effects"));
        assert!(glob_match("*", ""));
        assert!(glob_match("a*b*c", "axxbyyc"));
        assert!(!glob_match("a*b*c", "acb"));
        assert!(!glob_match("ab*ba", "aba"));
        assert!(glob_match("exact", "EXACT"));
    }

    #[test]
    fn loose_equality() {
        let s = |x: &str| Value::String(x.into());
        assert_eq!(loose_eq(&s("Enabled"), &s("enabled")), Some(true));
        assert_eq!(loose_eq(&Value::Int(90), &Value::Float(90.0)), Some(true));
        assert_eq!(loose_eq(&s("true"), &Value::Bool(true)), Some(true));
        assert_eq!(loose_eq(&s("90"), &Value::Int(90)), Some(true));
        assert_eq!(loose_eq(&s("1.2"), &s("1.20")), Some(false));
    }
}
