//! terraform/version: which azurerm provider version a configuration is written against:
//! the lowest version its `required_providers` constraints allow, or the exact version in
//! `.terraform.lock.hcl`. Defaults and attribute names changed between 3.x and 4.x, so
//! rules need it.

use super::parse::{Expr, ExprKind};
use crate::source::FileId;

/// The `version` string of a `required_providers` entry (`azurerm = { version = "~> 3.0" }`
/// or the legacy `azurerm = "~> 3.0"`).
pub fn constraint_of(e: &Expr) -> Option<String> {
    match &e.kind {
        ExprKind::Str(s) => Some(s.clone()),
        ExprKind::Object(items) => items.iter().find_map(|(k, v)| match (&k.kind, &v.kind) {
            (ExprKind::Str(k), ExprKind::Str(v)) if k == "version" => Some(v.clone()),
            _ => None,
        }),
        _ => None,
    }
}

fn parse_ver(s: &str) -> Option<[u64; 3]> {
    let s = s.trim().trim_start_matches('v');
    let core = s.split(['-', '+']).next()?;
    let mut out = [0u64; 3];
    let mut n = 0;
    for (i, p) in core.split('.').enumerate() {
        if i >= 3 {
            break;
        }
        out[i] = p.trim().parse().ok()?;
        n += 1;
    }
    (n > 0).then_some(out)
}

fn fmt_ver(v: [u64; 3]) -> String {
    format!("{}.{}.{}", v[0], v[1], v[2])
}

/// The lowest version allowed by a constraint string (`~> 3.100` → `3.100.0`,
/// `>= 4.0, < 5.0` → `4.0.0`); `None` when it sets no lower bound.
pub fn lowest_allowed(constraint: &str) -> Option<String> {
    let mut best: Option<[u64; 3]> = None;
    for part in constraint.split(',') {
        let p = part.trim();
        let (op, rest) = if let Some(r) = p.strip_prefix("~>") {
            ("~>", r)
        } else if let Some(r) = p.strip_prefix(">=") {
            (">=", r)
        } else if let Some(r) = p.strip_prefix("<=") {
            ("<=", r)
        } else if let Some(r) = p.strip_prefix("!=") {
            ("!=", r)
        } else if let Some(r) = p.strip_prefix('>') {
            (">", r)
        } else if let Some(r) = p.strip_prefix('<') {
            ("<", r)
        } else if let Some(r) = p.strip_prefix('=') {
            ("=", r)
        } else {
            ("=", p)
        };
        let Some(mut v) = parse_ver(rest) else {
            continue;
        };
        let lower = match op {
            "~>" | ">=" | "=" => v,
            ">" => {
                v[2] += 1;
                v
            }
            _ => continue,
        };
        if best.is_none_or(|b| lower > b) {
            best = Some(lower);
        }
    }
    best.map(fmt_ver)
}

/// The higher of two versions (either may be unknown).
pub fn max_version(a: Option<String>, b: Option<String>) -> Option<String> {
    match (a, b) {
        (Some(a), Some(b)) => match (parse_ver(&a), parse_ver(&b)) {
            (Some(x), Some(y)) if y > x => Some(b),
            _ => Some(a),
        },
        (a, b) => a.or(b),
    }
}

/// The azurerm version locked in `.terraform.lock.hcl`.
pub fn lock_version(text: &str) -> Option<String> {
    let (body, _) = super::parse::parse_hcl(FileId(0), text);
    let v = body
        .blocks_of("provider")
        .find(|b| b.labels.first().is_some_and(|l| l.ends_with("/azurerm")))
        .and_then(|b| b.body.attr("version"))
        .and_then(|a| match &a.expr.kind {
            ExprKind::Str(s) => Some(s.clone()),
            _ => None,
        });
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lowest_versions() {
        assert_eq!(lowest_allowed("~> 3.100").as_deref(), Some("3.100.0"));
        assert_eq!(lowest_allowed(">= 4.0, < 5.0").as_deref(), Some("4.0.0"));
        assert_eq!(lowest_allowed("3.71.0").as_deref(), Some("3.71.0"));
        assert_eq!(lowest_allowed("< 4.0"), None);
        assert_eq!(
            lowest_allowed(">= 3.0, >= 3.116").as_deref(),
            Some("3.116.0")
        );
        assert_eq!(
            max_version(Some("3.100.0".into()), Some("4.0.0".into())).as_deref(),
            Some("4.0.0")
        );
    }

    #[test]
    fn lock_file() {
        let text = "provider \"registry.terraform.io/hashicorp/azurerm\" {\n  version = \"4.12.0\"\n  constraints = \"~> 4.0\"\n}\n";
        assert_eq!(lock_version(text).as_deref(), Some("4.12.0"));
    }
}
