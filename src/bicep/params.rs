//! params (Bicep): a `.bicepparam` file → the values it gives the file it uses.
//!
//! Values are evaluated in the parameter file's own scope (its variables, other parameters,
//! `extends` base files); each keeps the span where the parameter file wrote it, so a
//! finding on a value set here points here.

use super::eval::{Instance, Session, Sym};
use super::modules::{using_target, Unit};
use super::syntax::StatementKind;
use crate::model::{Diagnostic, Node, Str};
use foldhash::{HashMap, HashMapExt};
use std::sync::Arc;

/// `extends` chains longer than this are not followed.
const MAX_EXTENDS: usize = 8;

/// The `using` target of a parameter file and the values it gives; None for `using none`
/// or a target that cannot be read (reported).
pub(super) fn evaluate(
    sess: &mut Session,
    unit: &Arc<Unit>,
) -> Option<(Arc<Unit>, HashMap<Str, Node>)> {
    let (expr, path) = using_target(unit)?;
    let span =
        crate::source::Span::new(unit.id, expr.range.start as usize, expr.range.end as usize);
    let Some(path) = path else {
        sess.diags.push(Diagnostic::warning(
            span,
            "`using` path is not a plain string: this parameter file is not applied",
        ));
        return None;
    };
    let Some(target) = sess.loader.resolve_local(unit, path) else {
        sess.diags.push(Diagnostic::warning(
            span,
            format!("`using` a registry template is not fetched; its resources are not scanned ({path})"),
        ));
        return None;
    };
    if target
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("json"))
    {
        sess.diags.push(Diagnostic::warning(
            span,
            format!("`using` an ARM JSON template ({path}): the values are not applied to it"),
        ));
        return None;
    }
    let target = match sess.loader.load(&target) {
        Ok(t) => t,
        Err(e) => {
            sess.diags.push(
                Diagnostic::error(span, format!("`using` file '{path}' cannot be read: {e}"))
                    .with_help("the template this parameter file is for is not scanned"),
            );
            return None;
        }
    };
    let given = values(sess, unit, 0);
    Some((target, given))
}

/// The parameter values a `.bicepparam` file sets, its `extends` base first.
fn values(sess: &mut Session, unit: &Arc<Unit>, depth: usize) -> HashMap<Str, Node> {
    let mut given = HashMap::new();
    for s in &unit.parsed.program.statements {
        if let StatementKind::Extends(e) = &s.kind {
            let span =
                crate::source::Span::new(unit.id, e.range.start as usize, e.range.end as usize);
            let base = super::eval::string_literal(e)
                .and_then(|p| sess.loader.resolve_local(unit, p))
                .map(|p| sess.loader.load(&p));
            match base {
                Some(Ok(b)) if depth < MAX_EXTENDS => given.extend(values(sess, &b, depth + 1)),
                Some(Ok(_)) => sess.diags.push(Diagnostic::warning(
                    span,
                    "`extends` chain too long: the base values are not applied",
                )),
                _ => sess.diags.push(Diagnostic::error(
                    span,
                    "`extends` base parameter file cannot be read",
                )),
            }
        }
    }
    let mut inst = Instance::new(
        sess,
        unit.clone(),
        HashMap::new(),
        String::new(),
        Vec::new(),
    );
    for (i, s) in unit.parsed.program.statements.iter().enumerate() {
        if let StatementKind::Param(d) = &s.kind {
            if d.value.is_some() {
                let v = inst.slot(&d.name.name, &Sym::Param(i), d.name.range);
                given.insert(Str::from(d.name.name.as_str()), v);
            }
        }
    }
    given
}
