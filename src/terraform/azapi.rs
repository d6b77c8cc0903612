//! terraform/azapi: `azapi_resource` and `azapi_update_resource` lowered to the ARM dialect,
//! so ARM rules check them: `type = "Microsoft.X/y@2023-01-01"` gives the type and API
//! version, `body` (an HCL object in azapi 2.x, a `jsonencode(...)` string in 1.x) gives
//! the properties.

use super::eval::{unknown, Eval, Scope};
use super::parse::{Block, ExprKind};
use crate::model::{Dialect, EdgeKind, Language, Link, Node, Resource, Str, Value};
use crate::source::Span;

pub fn lower(ev: &Eval, block: &Block, scope: &mut Scope, links: &mut Vec<Link>) -> Resource {
    let inst = ev.inst(scope.inst);
    let tf_type = block.labels[0].clone();
    let tf = ev.eval_body(&block.body, scope, "", links, block.span, true);
    // An update whose type is a child type (`Microsoft.Storage/storageAccounts/blobServices`)
    // addressed below another resource's id (`"${azapi_resource.st.id}/blobServices/default"`)
    // configures a child of that resource: link it as one, as `parent_id` would.
    let child_update = tf_type == "azapi_update_resource"
        && block
            .body
            .attr("type")
            .and_then(|a| match &a.expr.kind {
                ExprKind::Str(s) => {
                    Some(s.split('@').next().unwrap_or("").matches('/').count() >= 2)
                }
                _ => None,
            })
            .unwrap_or(false);
    for l in links.iter_mut() {
        if l.path == "parent_id" || (l.path == "resource_id" && child_update) {
            l.kind = EdgeKind::Parent;
        } else if l.path == "resource_id" {
            l.kind = EdgeKind::Reference;
        }
    }
    let body = block.body.attr("body").map(|attr| {
        // azapi 1.x: body = jsonencode({...}); read the object itself to keep its spans
        let inner = match &attr.expr.kind {
            ExprKind::Call { name, args, .. } if name == "jsonencode" && args.len() == 1 => {
                &args[0]
            }
            _ => &attr.expr,
        };
        ev.push_frame();
        let b = ev.eval_lenient(inner, scope);
        ev.pop_frame();
        b
    });
    match to_arm(&tf, body, block.header) {
        Some((arm_type, api, name, arm)) => Resource {
            dialect: Dialect::Arm,
            language: Language::Terraform,
            type_name: arm_type,
            api_version: Some(api),
            address: String::new(),
            name,
            file: block.header.file,
            header: block.header,
            body: Node::new(arm.value, block.span),
            call_chain: Vec::new(),
            // an update sets some properties of a resource declared elsewhere
            partial: tf_type == "azapi_update_resource",
            conditional: None,
            links: Vec::new(),
            root: 0,
        },
        None => {
            // without a known type there is nothing ARM rules could match: keep it as written
            let name = tf.get("name").and_then(|n| n.as_str()).map(str::to_string);
            Resource {
                dialect: Dialect::Terraform,
                language: Language::Terraform,
                type_name: tf_type,
                api_version: inst.version.clone(),
                address: String::new(),
                name,
                file: block.header.file,
                header: block.header,
                body: tf,
                call_chain: Vec::new(),
                partial: false,
                conditional: None,
                links: Vec::new(),
                root: 0,
            }
        }
    }
}

/// The ARM shape of an azapi resource from its attribute values and its `body` (an object,
/// or a JSON string): `(type, api version, name, body)`. `None` when the type is unknown.
pub fn to_arm(
    tf: &Node,
    body: Option<Node>,
    header: Span,
) -> Option<(String, String, Option<String>, Node)> {
    let type_node = tf.get("type").cloned();
    let full = type_node
        .as_ref()
        .and_then(|n| n.as_str())
        .map(str::to_string)?;
    let (arm_type, api) = full.split_once('@')?;
    let tspan = type_node.as_ref().map(|n| n.span).unwrap_or(header);
    let mut members: Vec<(Str, Node)> = vec![
        (
            "type".into(),
            Node::new(Value::String(Str::from(arm_type)), tspan),
        ),
        (
            "apiVersion".into(),
            Node::new(Value::String(Str::from(api)), tspan),
        ),
    ];
    let mut name = tf.get("name").cloned();
    if name.is_none() {
        // azapi_update_resource may name its target by id only
        if let Some(id) = tf.get("resource_id") {
            name = Some(match id.as_str() {
                Some(s) => Node::new(
                    Value::String(Str::from(s.rsplit('/').next().unwrap_or(""))),
                    id.span,
                ),
                None => unknown("name of the updated resource is unknown", id.span),
            });
        }
    }
    if let Some(n) = &name {
        members.push(("name".into(), n.clone()));
    }
    for k in ["location", "tags"] {
        if let Some(v) = tf.get(k) {
            members.push((k.into(), v.clone()));
        }
    }
    if let Some(id) = tf
        .get("identity")
        .and_then(|i| i.as_array())
        .and_then(|a| a.first())
    {
        members.push(("identity".into(), identity(id)));
    }
    if let Some(b) = body {
        let b = match &b.value {
            Value::String(s) => match super::json::parse(header.file, s) {
                Ok(j) => {
                    let mut n = super::json::to_node(&j);
                    n.respan(b.span);
                    n
                }
                Err(_) => unknown("body is not JSON", b.span),
            },
            _ => b,
        };
        match b.value {
            Value::Object(items) => {
                for (k, v) in items {
                    match members.iter_mut().find(|(x, _)| x.eq_ignore_ascii_case(&k)) {
                        Some(slot) if k != "type" && k != "apiVersion" => slot.1 = v,
                        Some(_) => {}
                        None => members.push((k, v)),
                    }
                }
            }
            Value::Unknown(u) => {
                members.push(("properties".into(), Node::unknown(u.reason, b.span)))
            }
            _ => {}
        }
    }
    let name = name.and_then(|n| n.as_str().map(str::to_string));
    Some((
        arm_type.to_string(),
        api.to_string(),
        name,
        Node::new(Value::Object(members.into()), header),
    ))
}

/// azapi `identity { type, identity_ids }` → ARM `{ type, userAssignedIdentities }`.
fn identity(id: &Node) -> Node {
    let mut out: Vec<(Str, Node)> = Vec::new();
    if let Some(t) = id.get("type") {
        out.push(("type".into(), t.clone()));
    }
    if let Some(ids) = id.get("identity_ids") {
        let v = match &ids.value {
            Value::Array(items) if items.iter().all(|x| x.as_str().is_some()) => Value::Object(
                items
                    .iter()
                    .map(|x| {
                        (
                            Str::from(x.as_str().unwrap_or_default()),
                            Node::new(Value::Object(ecow::eco_vec![]), x.span),
                        )
                    })
                    .collect(),
            ),
            Value::Array(_) | Value::Unknown(_) => Value::Unknown(crate::model::Unknown {
                reason: "user-assigned identity ids unknown".into(),
            }),
            _ => Value::Null,
        };
        out.push(("userAssignedIdentities".into(), Node::new(v, ids.span)));
    }
    Node::new(Value::Object(out.into()), id.span)
}
