//! triage (diff-aware gate): which lines changed since a git ref, so a pull request is
//! judged on what it changes.
//!
//! Runs the `git` command rather than linking a git library: every CI runner and developer
//! machine that has a checkout has git, it honours the repository's own configuration
//! (worktrees, sparse checkouts, alternates) exactly, and it adds no dependency that needs
//! a C toolchain or a large pure-Rust implementation to a tool that otherwise never runs a
//! program. It is the only process basegate ever starts, and only with `--changed-since`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;

/// Changed lines per file (paths relative to the repository root, `/`-separated). A file
/// mapped to None is new or untracked: every line counts as changed.
#[derive(Debug, Default, Clone)]
pub struct Changes {
    pub files: BTreeMap<String, Option<BTreeSet<u32>>>,
}

impl Changes {
    pub fn line_changed(&self, file: &str, line: u32) -> bool {
        match self.files.get(file) {
            Some(None) => true,
            Some(Some(lines)) => lines.contains(&line),
            None => false,
        }
    }

    pub fn any_in(&self, file: &str, first: u32, last: u32) -> bool {
        match self.files.get(file) {
            Some(None) => true,
            Some(Some(lines)) => lines.range(first..=last).next().is_some(),
            None => false,
        }
    }
}

fn git(root: &Path, args: &[&str]) -> Result<String, String> {
    let out = Command::new("git")
        .arg("-C")
        .arg(root)
        .args(args)
        .output()
        .map_err(|e| format!("cannot run git (needed for --changed-since): {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "git {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The lines changed between `reference` and the working tree, plus untracked files.
/// `root` is the repository root (reported paths are relative to it).
pub fn since(root: &Path, reference: &str) -> Result<Changes, String> {
    if reference.starts_with('-') {
        return Err(format!("`{reference}` is not a git revision"));
    }
    // Validate the ref first, for a clear message.
    git(
        root,
        &[
            "rev-parse",
            "--verify",
            "--quiet",
            &format!("{reference}^{{commit}}"),
        ],
    )
    .map_err(|_| format!("--changed-since: `{reference}` is not a commit in this repository"))?;
    let diff = git(
        root,
        &[
            "diff",
            "--no-color",
            "--no-ext-diff",
            "--unified=0",
            "--no-renames",
            reference,
            "--",
        ],
    )?;
    let mut changes = parse_diff(&diff);
    let untracked = git(root, &["ls-files", "--others", "--exclude-standard", "-z"])?;
    for f in untracked.split('\0').filter(|f| !f.is_empty()) {
        changes.files.insert(f.to_string(), None);
    }
    Ok(changes)
}

/// Reads `git diff --unified=0`: `+++ b/path` then `@@ -a,b +c,d @@` hunks.
pub fn parse_diff(diff: &str) -> Changes {
    let mut changes = Changes::default();
    let mut current: Option<String> = None;
    for line in diff.lines() {
        if let Some(path) = line.strip_prefix("+++ ") {
            current = path.strip_prefix("b/").map(unquote);
            if let Some(p) = &current {
                changes
                    .files
                    .entry(p.clone())
                    .or_insert_with(|| Some(BTreeSet::new()));
            }
        } else if let Some(h) = line.strip_prefix("@@ ") {
            let Some(file) = &current else { continue };
            let Some(plus) = h.split_whitespace().find(|p| p.starts_with('+')) else {
                continue;
            };
            let mut it = plus[1..].splitn(2, ',');
            let start: u32 = it.next().and_then(|s| s.parse().ok()).unwrap_or(0);
            let count: u32 = it.next().and_then(|s| s.parse().ok()).unwrap_or(1);
            if let Some(Some(lines)) = changes.files.get_mut(file) {
                // A pure deletion (`+c,0`) changes the line after it: a property removed
                // there may be what a finding is about.
                let range = if count == 0 {
                    start.max(1)..start.max(1) + 1
                } else {
                    start..start + count
                };
                lines.extend(range);
            }
        }
    }
    changes
}

/// git quotes paths with special characters (`"a\tb"`); undo the common escapes.
fn unquote(p: &str) -> String {
    let p = p.trim_end();
    if p.starts_with('"') && p.ends_with('"') && p.len() >= 2 {
        p[1..p.len() - 1]
            .replace("\\\"", "\"")
            .replace("\\\\", "\\")
            .replace("\\t", "\t")
    } else {
        p.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hunks_become_lines() {
        let diff = "diff --git a/x.tf b/x.tf\n--- a/x.tf\n+++ b/x.tf\n@@ -3,0 +4,2 @@\n+a\n+b\n@@ -10 +12 @@\n-c\n+d\n@@ -20,2 +21,0 @@\n-e\n-f\n";
        let c = parse_diff(diff);
        let lines: Vec<u32> = c.files["x.tf"].clone().unwrap().into_iter().collect();
        assert_eq!(lines, [4, 5, 12, 21]);
        assert!(c.line_changed("x.tf", 12));
        assert!(!c.line_changed("x.tf", 13));
        assert!(c.any_in("x.tf", 1, 4));
        assert!(!c.line_changed("y.tf", 1));
    }
}
