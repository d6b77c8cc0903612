//! evaluate (normalize): fold child resources that restate a parent's settings into the
//! parent, so one check sees the whole configuration whichever form the author chose.
//!
//! ARM lets the same setting be written inline or as a child resource: a web app's
//! `properties.siteConfig` or a `Microsoft.Web/sites/config` child named `web`; an NSG's
//! `properties.securityRules` or `networkSecurityGroups/securityRules` children. Checking
//! only one form gives false negatives (tools that read only nested rules miss top-level
//! ones) or false positives (a setting "missing" inline that a child sets). The children
//! stay in the model too; folded values keep the child's spans, so a finding points at the
//! line the author wrote.

use crate::model::{Dialect, Node, Resource, Seq, Str, Value};
use crate::source::FileId;
use foldhash::{HashMap, HashMapExt};

struct Fold {
    child_type: &'static str,
    /// Only children with this last name segment (`web` for site config); None = any.
    child_name: Option<&'static str>,
    parent_type: &'static str,
    how: How,
}

enum How {
    /// Merge the child's `properties` into this object path of the parent.
    MergeInto(&'static [&'static str]),
    /// Append `{ name, properties }` to this array path of the parent.
    AppendTo(&'static [&'static str]),
}

const FOLDS: &[Fold] = &[
    Fold {
        child_type: "Microsoft.Web/sites/config",
        child_name: Some("web"),
        parent_type: "Microsoft.Web/sites",
        how: How::MergeInto(&["properties", "siteConfig"]),
    },
    Fold {
        child_type: "Microsoft.Web/sites/slots/config",
        child_name: Some("web"),
        parent_type: "Microsoft.Web/sites/slots",
        how: How::MergeInto(&["properties", "siteConfig"]),
    },
    Fold {
        child_type: "Microsoft.Network/networkSecurityGroups/securityRules",
        child_name: None,
        parent_type: "Microsoft.Network/networkSecurityGroups",
        how: How::AppendTo(&["properties", "securityRules"]),
    },
];

pub fn run(resources: &mut [Resource]) {
    // Parents are matched within one file: two templates may both declare an app named
    // `app`, and they are different deployments.
    let mut index: HashMap<(FileId, String, String), usize> = HashMap::new();
    for (i, r) in resources.iter().enumerate() {
        if r.dialect == Dialect::Arm {
            if let Some(n) = &r.name {
                index.insert(
                    (
                        r.file,
                        r.type_name.to_ascii_lowercase(),
                        n.to_ascii_lowercase(),
                    ),
                    i,
                );
            }
        }
    }
    let mut moves: Vec<(usize, &Fold, Node)> = Vec::new();
    for r in resources.iter() {
        if r.dialect != Dialect::Arm {
            continue;
        }
        let Some(fold) = FOLDS.iter().find(|f| r.is_type(f.child_type)) else {
            continue;
        };
        let Some(name) = &r.name else { continue };
        let Some((parent_name, last)) = name.rsplit_once('/') else {
            continue;
        };
        if fold
            .child_name
            .is_some_and(|n| !last.eq_ignore_ascii_case(n))
        {
            continue;
        }
        let key = (
            r.file,
            fold.parent_type.to_ascii_lowercase(),
            parent_name.to_ascii_lowercase(),
        );
        let Some(&parent) = index.get(&key) else {
            continue;
        };
        let props = r
            .body
            .get("properties")
            .cloned()
            .unwrap_or_else(|| Node::new(Value::Object(Seq::new()), r.header));
        let item = match fold.how {
            How::MergeInto(_) => props,
            How::AppendTo(_) => Node::new(
                Value::Object(ecow::eco_vec![
                    (
                        Str::from("name"),
                        Node::new(Value::String(Str::from(last)), r.header),
                    ),
                    (Str::from("properties"), props),
                ]),
                r.body.span,
            ),
        };
        moves.push((parent, fold, item));
    }
    for (parent, fold, item) in moves {
        let body = &mut resources[parent].body;
        match fold.how {
            How::MergeInto(path) => {
                let Some(target) = ensure(body, path, || Value::Object(Seq::new())) else {
                    continue;
                };
                if let (Value::Object(dst), Value::Object(src)) = (&mut target.value, item.value) {
                    for (k, v) in src {
                        match dst
                            .make_mut()
                            .iter_mut()
                            .find(|(dk, _)| dk.eq_ignore_ascii_case(&k))
                        {
                            // The child is applied after the parent, so its value wins.
                            Some(slot) => slot.1 = v,
                            None => dst.push((k, v)),
                        }
                    }
                }
            }
            How::AppendTo(path) => {
                let Some(target) = ensure(body, path, || Value::Array(Seq::new())) else {
                    continue;
                };
                if let Value::Array(items) = &mut target.value {
                    items.push(item);
                }
            }
        }
    }
}

/// The node at `path`, created (with `empty`) where missing. None when something on the way
/// is not an object (an unknown value: nothing to fold into).
fn ensure<'a>(
    node: &'a mut Node,
    path: &[&str],
    empty: impl Fn() -> Value,
) -> Option<&'a mut Node> {
    let mut cur = node;
    for (i, seg) in path.iter().enumerate() {
        if !matches!(cur.value, Value::Object(_)) {
            return None;
        }
        if cur.get(seg).is_none() {
            let v = if i + 1 == path.len() {
                empty()
            } else {
                Value::Object(Seq::new())
            };
            let span = cur.span;
            cur.set(seg, Node::new(v, span));
        }
        cur = cur.get_mut(seg)?;
    }
    Some(cur)
}
