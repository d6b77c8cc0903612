//! ARM parameter files (`deploymentParameters.json`): the values a template is deployed with.

use super::template::ParamValues;
use crate::model::{Diagnostic, Node};

/// Reads `{"parameters": {"name": {"value": …}}}`. Key Vault references become unknown
/// (the secret is not in the repository). Parameter files are not evaluated: ARM takes their
/// values literally.
pub fn read(root: &Node, diags: &mut Vec<Diagnostic>) -> ParamValues {
    let mut out = ParamValues::default();
    let Some(params) = root.get("parameters") else {
        diags.push(Diagnostic::error(
            root.span,
            "parameter file without a `parameters` object: its values are not used",
        ));
        return out;
    };
    let Some(members) = params.as_object() else {
        diags.push(Diagnostic::error(
            params.span,
            "`parameters` must be an object",
        ));
        return out;
    };
    for (name, entry) in members {
        let value = if let Some(v) = entry.get("value") {
            v.clone()
        } else if entry.get("reference").is_some() {
            Node::unknown(
                format!("parameter '{name}' comes from a Key Vault reference"),
                entry.span,
            )
        } else {
            diags.push(Diagnostic::warning(
                entry.span,
                format!("parameter '{name}' has neither `value` nor `reference`: ignored"),
            ));
            continue;
        };
        out.values.insert(name.as_str().to_ascii_lowercase(), value);
    }
    out
}

/// Warns about values for parameters the template does not declare — a typo there
/// silently leaves the template on its default.
pub fn check_declared(
    template: &Node,
    given: &ParamValues,
    param_root: &Node,
    diags: &mut Vec<Diagnostic>,
) {
    let declared = template.get("parameters");
    let Some(members) = param_root.get("parameters").and_then(Node::as_object) else {
        return;
    };
    for (name, entry) in members {
        if !given
            .values
            .contains_key(&name.as_str().to_ascii_lowercase())
        {
            continue;
        }
        if declared.and_then(|d| d.get(name)).is_none() {
            diags.push(Diagnostic::warning(
                entry.span,
                format!(
                    "parameter '{name}' is not declared by the template: its value is not used"
                ),
            ));
        }
    }
}
