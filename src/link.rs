//! evaluate (graph): resolve every resource's references into edges of the model.
//!
//! Frontends record references by key (`Link::target`) because a reference may cross files;
//! once every file is evaluated, this pass indexes the resources by key and turns links
//! into [`Edge`]s. A link whose target is unknown, or names nothing scanned, is kept in
//! [`Model::unresolved`] so connected-resource rules can answer "unknown" instead of "missing".

use crate::model::{Dialect, Edge, Model, Resource, ResourceId};
use foldhash::{HashMap, HashMapExt};

/// `Microsoft.Sql/servers/databases` + `srv/db` → `microsoft.sql/servers/databases|srv/db`.
pub fn arm_key(type_name: &str, name: &str) -> String {
    joined_key(&[type_name], &[name])
}

/// `types` joined by `/`, `|`, `names` joined by `/`, lower-cased: [`arm_key`] from parts,
/// in one allocation (keys are made for every resource and every link).
fn joined_key(types: &[&str], names: &[&str]) -> String {
    let len = types.iter().chain(names).map(|s| s.len() + 1).sum();
    let mut key = String::with_capacity(len);
    for (i, t) in types.iter().enumerate() {
        if i > 0 {
            key.push('/');
        }
        key.push_str(t);
    }
    key.push('|');
    for (i, n) in names.iter().enumerate() {
        if i > 0 {
            key.push('/');
        }
        key.push_str(n);
    }
    key.make_ascii_lowercase();
    key
}

/// Reads a resource id (`/subscriptions/…/providers/Microsoft.Sql/servers/srv/databases/db`)
/// or a `type/name` string (`Microsoft.Sql/servers/srv`) into its key.
pub fn arm_target_key(target: &str) -> Option<String> {
    arm_target_keys(target).into_iter().next()
}

/// The byte offset of the last `/providers/`, in any case. Only the slashes are tried:
/// comparing at every offset was most of the link stage (3,400 instructions a target).
fn rfind_providers(target: &str) -> Option<usize> {
    const P: &[u8] = b"/providers/";
    let b = target.as_bytes();
    memchr::memrchr_iter(b'/', b).find(|&i| {
        b.get(i..i + P.len())
            .is_some_and(|s| s.eq_ignore_ascii_case(P))
    })
}

/// The keys a target may stand for, the likelier first. A resource id alternates types and
/// names (`Microsoft.Sql/servers/srv/databases/db`); the `type/name` form the frontends
/// write for parents and symbols puts the full type first (`Microsoft.Sql/servers/databases/
/// srv/db`). Both have an odd number of segments, so a target without `/providers/` and
/// with two names or more is read both ways; the linker takes the one that names a resource.
pub fn arm_target_keys(target: &str) -> Vec<String> {
    let (tail, is_id) = match rfind_providers(target) {
        Some(i) => (&target[i + "/providers/".len()..], true),
        None => (target.trim_start_matches('/'), false),
    };
    let segs: Vec<&str> = tail.split('/').filter(|s| !s.is_empty()).collect();
    // namespace, then type/name pairs.
    if segs.len() < 3 || segs.len() % 2 == 0 || !segs[0].contains('.') {
        return Vec::new();
    }
    let mut types = vec![segs[0]];
    let mut names = Vec::new();
    for pair in segs[1..].chunks(2) {
        types.push(pair[0]);
        names.push(pair[1]);
    }
    // A placeholder left by an unknown value cannot name a resource.
    if names.iter().any(|n| n.contains('{')) {
        return Vec::new();
    }
    let mut out = vec![joined_key(&types, &names)];
    let levels = segs.len() / 2;
    if !is_id && levels > 1 {
        let (types, names) = segs.split_at(levels + 1);
        if !names.iter().any(|n| n.contains('{')) {
            out.push(joined_key(types, names));
        }
    }
    out
}

/// `module.a.azurerm_x.y["k"]` in root 3 → `tf:3:module.a.azurerm_x.y`.
pub fn tf_key(root: u32, address: &str) -> String {
    let mut out = String::with_capacity(address.len());
    let mut depth = 0;
    for c in address.chars() {
        match c {
            '[' => depth += 1,
            ']' => depth -= 1,
            _ if depth == 0 => out.push(c),
            _ => {}
        }
    }
    format!("tf:{root}:{out}")
}

fn key_of(r: &Resource) -> Option<String> {
    match r.dialect {
        Dialect::Arm => r.name.as_ref().map(|n| arm_key(&r.type_name, n)),
        Dialect::Terraform => Some(tf_key(r.root, &r.address)),
    }
}

pub fn run(resources: Vec<Resource>) -> Model {
    use rayon::prelude::*;
    // The keys are made in parallel (each a few lower-cased strings), then indexed in order.
    let keys: Vec<(Option<String>, Option<String>)> = resources
        .par_iter()
        .map(|r| {
            // azapi resources are ARM-dialect but referenced by Terraform address.
            let azapi =
                r.dialect == Dialect::Arm && r.language == crate::model::Language::Terraform;
            (key_of(r), azapi.then(|| tf_key(r.root, &r.address)))
        })
        .collect();
    let mut index: HashMap<String, Vec<ResourceId>> = HashMap::with_capacity(keys.len());
    for (i, (key, azapi)) in keys.into_iter().enumerate() {
        for k in key.into_iter().chain(azapi) {
            index.entry(k).or_default().push(ResourceId(i as u32));
        }
    }
    // Each resource's links resolve independently: in parallel, joined in resource order.
    type Resolved = (Vec<Edge>, Vec<(ResourceId, crate::model::EdgeKind, String)>);
    let resolved: Vec<Resolved> = resources
        .par_iter()
        .enumerate()
        .map(|(i, r)| {
            let from = ResourceId(i as u32);
            let mut edges = Vec::with_capacity(r.links.len());
            let mut unresolved = Vec::new();
            for l in &r.links {
                let keys = if l.target.is_empty() {
                    Vec::new()
                } else if r.language == crate::model::Language::Terraform && !l.target.contains('/')
                {
                    // An address: it names a resource of the same configuration.
                    vec![tf_key(r.root, &l.target)]
                } else {
                    arm_target_keys(&l.target)
                };
                let key = keys.first();
                let targets = keys.iter().find_map(|k| index.get(k));
                match targets {
                    Some(ts) => {
                        for &to in ts {
                            if to != from {
                                edges.push(Edge {
                                    from,
                                    to,
                                    kind: l.kind,
                                    path: l.path.clone(),
                                });
                            }
                        }
                    }
                    None if key.is_none() => unresolved.push((from, l.kind, l.path.clone())),
                    None => {}
                }
            }
            // Terraform: an id attribute whose value is unknown (`private_connection_resource_id
            // = var.target`) may point at any resource. The frontend links only resolvable
            // references, so record these here, as the ARM frontend does for its `*Id`
            // properties.
            if r.dialect == Dialect::Terraform {
                unknown_ids(&r.body, from, &r.links, &mut unresolved);
            }
            (edges, unresolved)
        })
        .collect();
    let mut edges = Vec::with_capacity(resolved.iter().map(|(e, _)| e.len()).sum());
    let mut unresolved = Vec::new(); // sorted below: only its content matters
    for (e, u) in resolved {
        edges.extend(e);
        unresolved.extend(u);
    }
    // A partial update of a resource in the scan (`azapi_update_resource` on an
    // `azapi_resource` of the same type) changes that resource: merge what it sets into the
    // target, so the target is judged as it will be after apply. The update's own values
    // keep their spans, so a finding points at the line that set them.
    let mut resources = resources;
    let mut merges = Vec::new();
    let any_partial = resources.iter().any(|r| r.partial);
    for e in edges.iter().filter(|_| any_partial) {
        let (from, to) = (&resources[e.from.0 as usize], &resources[e.to.0 as usize]);
        if from.partial
            && e.kind == crate::model::EdgeKind::Reference
            && e.path == "resource_id"
            && from.type_name.eq_ignore_ascii_case(&to.type_name)
        {
            merges.push((e.from.0 as usize, e.to.0 as usize));
        }
    }
    for (from, to) in merges {
        let patch = resources[from].body.clone();
        merge_into(&mut resources[to].body, patch);
    }
    let mut model = Model::new(resources, edges);
    // Every field is compared, so equal entries are identical: an unstable sort gives the
    // same order.
    rayon::slice::ParallelSliceMut::par_sort_unstable(&mut unresolved[..]);
    unresolved.dedup();
    model.unresolved = unresolved;
    model
}

/// Deep merge of objects: `patch` wins; identity fields stay the target's.
fn merge_into(target: &mut crate::model::Node, patch: crate::model::Node) {
    use crate::model::Value;
    let span = patch.span;
    match (&mut target.value, patch.value) {
        (Value::Object(dst), Value::Object(src)) => {
            for (k, v) in src {
                if ["type", "apiVersion", "name"]
                    .iter()
                    .any(|x| x.eq_ignore_ascii_case(&k))
                {
                    continue;
                }
                match dst
                    .make_mut()
                    .iter_mut()
                    .find(|(dk, _)| dk.eq_ignore_ascii_case(&k))
                {
                    Some((_, slot)) => merge_into(slot, v),
                    None => dst.push((k, v)),
                }
            }
        }
        (_, v) => *target = crate::model::Node::new(v, span),
    }
}

fn unknown_ids(
    body: &crate::model::Node,
    from: ResourceId,
    links: &[crate::model::Link],
    out: &mut Vec<(ResourceId, crate::model::EdgeKind, String)>,
) {
    use crate::model::{EdgeKind, Value};
    body.walk_leaves(&mut String::new(), 12, &mut |path, leaf| {
        if !matches!(leaf.value, Value::Unknown(_)) {
            return;
        }
        let last = path.rsplit('.').next().unwrap_or(path);
        // A child names its parent by id (`server_id`) or, in older resources, by name at
        // the top level (`server_name`, `storage_account_name`): unknown, it may be any
        // parent. Names that are not parents (SKU, resource group) are left out.
        let parent_name = !path.contains('.')
            && last.ends_with("_name")
            && !matches!(
                last,
                "resource_group_name" | "display_name" | "computer_name"
            )
            && !last.ends_with("sku_name");
        let is_id =
            last.ends_with("_id") || last.ends_with("_ids") || last == "scope" || parent_name;
        if is_id && !links.iter().any(|l| l.path == path) {
            let kind = if matches!(last, "target_resource_id" | "scope" | "resource_id") {
                EdgeKind::Scope
            } else {
                EdgeKind::Reference
            };
            out.push((from, kind, path.to_string()));
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_from_ids() {
        assert_eq!(
            arm_target_key("/subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}/providers/Microsoft.Sql/servers/srv/databases/db"),
            Some("microsoft.sql/servers/databases|srv/db".into())
        );
        assert_eq!(
            arm_target_key("Microsoft.Storage/storageAccounts/acct"),
            Some("microsoft.storage/storageaccounts|acct".into())
        );
        assert_eq!(arm_target_key("justaname"), None);
        assert_eq!(arm_target_key(""), None);
        assert_eq!(arm_target_key("/providers/"), None);
        // `/providers/` in any case; the last one counts (extension resources).
        assert_eq!(
            arm_target_key("/subscriptions/s/PROVIDERS/Microsoft.Sql/servers/srv/Providers/Microsoft.Insights/diagnosticSettings/d"),
            Some("microsoft.insights/diagnosticsettings|d".into())
        );
        // The `type/name` form of a grandchild reads both ways; an id only one way.
        assert_eq!(
            arm_target_keys("Microsoft.Storage/storageAccounts/blobServices/acct/default"),
            vec![
                "microsoft.storage/storageaccounts/acct|blobservices/default".to_string(),
                "microsoft.storage/storageaccounts/blobservices|acct/default".to_string(),
            ]
        );
        assert_eq!(
            arm_target_keys("/subscriptions/s/resourceGroups/g/providers/Microsoft.Storage/storageAccounts/acct/blobServices/default"),
            vec!["microsoft.storage/storageaccounts/blobservices|acct/default".to_string()]
        );
        assert_eq!(
            tf_key(3, "module.a[\"x\"].azurerm_x.y[0]"),
            "tf:3:module.a.azurerm_x.y"
        );
    }
}
