//! One test walks every rule fixture: `fixtures/<RULE-ID>/<case>*.<ext>`.
//!
//! Lines marked `expect: <RULE-ID>` (in a comment) must carry exactly one finding of that
//! rule each, and no other line may. A file named `fail*` must expect at least one finding;
//! `pass*` and `unknown*` none (an unknown value never fails); `absent*` may go either way,
//! as the platform default decides. No fixture may produce an input error. Every failure is
//! reported, not just the first.
//!
//! A rule that cannot fail (`Rule::can_fail`: existence checks, `declared = true`, or a
//! `related` that only passes or is unknown) has no `fail` case: it needs a `pass` fixture
//! per language (ARM JSON, Bicep, Terraform — azapi when the rule has no azurerm check) that
//! actually passes it, and its `absent` and `unknown` fixtures must not pass it (the control
//! then shows as unknown).

use basegate::rules;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// Languages whose frontend has landed; fixtures in the others wait for it.
const EXTENSIONS: &[&str] = &["json", "tf", "bicep", "bicepparam"];

/// Rules with an ARM check that need not have Bicep fixtures (Bicep lowers to the ARM
/// dialect, so every other ARM rule has Bicep `fail`, `pass`, `absent` and `unknown` cases,
/// and a `fail` case whose value comes from a `param`, a `var` or a `.bicepparam` file).
/// Empty: every rule has them.
const BICEP_EXEMPT: &[&str] = &[];

/// Terraform cases that cannot be written, with why: every other rule with a Terraform check
/// has `.tf` fixtures for `fail`, `pass`, `absent` and `unknown`.
const TERRAFORM_EXEMPT: &[(&str, &str)] = &[(
    "BG2809/absent",
    "`scope` is required by azurerm_role_assignment: a configuration without it is invalid",
)];

/// `pass` fixtures on which the rule says unknown where a pass is right: the value is a
/// deployment-time value that is surely set (another resource's `id`, the subscription's
/// tenant), which the evaluator does not yet tell from one that may be null. The walker
/// checks that each is still unknown (remove the entry once it passes).
const UNKNOWN_BUT_SET: &[(&str, &str)] = &[
    (
        "BG2553/pass-alt1.tf",
        "subnet_id = azurerm_subnet.example.id",
    ),
    (
        "BG2653/pass-alt1.tf",
        "delegated_subnet_id = azurerm_subnet.example.id",
    ),
    (
        "BG2657/pass-alt2.tf",
        "delegated_subnet_id = azurerm_subnet.example.id",
    ),
    ("BG2807/pass.json", "tenantId = subscription().tenantId"),
];

/// Bicep fixtures that state what Azure does but show an evaluator bug: the walker checks
/// that each still disagrees with its `expect:` markers (remove the entry once it is fixed).
const BICEP_KNOWN_BUGS: &[(&str, &str)] = &[];

fn fixture_files(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            let name = p.file_name().unwrap().to_string_lossy().to_string();
            EXTENSIONS.iter().any(|x| name.ends_with(&format!(".{x}")))
                && !name.contains(".parameters.")
                && ["fail", "pass", "absent", "unknown"]
                    .iter()
                    .any(|c| name.starts_with(c))
        })
        .collect();
    out.sort();
    out
}

fn expected_lines(text: &str, rule: &str) -> BTreeSet<u32> {
    text.lines()
        .enumerate()
        .filter(|(_, l)| {
            l.split("expect:")
                .skip(1)
                .any(|rest| rest.split([',', ' ']).any(|id| id.trim() == rule))
        })
        .map(|(i, _)| i as u32 + 1)
        .collect()
}

#[test]
fn every_rule_file_is_built_in() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("rules");
    let files = std::fs::read_dir(&dir)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .is_ok_and(|e| e.file_name().to_string_lossy().ends_with(".toml"))
        })
        .count();
    let built_in = rules::builtin();
    assert!(files > 0);
    assert_eq!(
        built_in.len(),
        files,
        "rules/*.toml and the built-in rules differ"
    );
    let mut ids: Vec<_> = built_in.iter().map(|r| r.id.as_str()).collect();
    ids.dedup();
    assert_eq!(ids.len(), built_in.len(), "duplicate rule ids");
    for r in &built_in {
        assert_eq!(
            format!("{}.toml", r.id),
            r.origin_file(),
            "file name must be the id"
        );
    }
}

#[test]
fn rule_fixtures() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures");
    let all = rules::builtin();
    let mut failures = Vec::new();
    let mut checked = 0;
    for rule in &all {
        let dir = root.join(&rule.id);
        if !dir.is_dir() {
            failures.push(format!("{}: no fixtures folder {}", rule.id, dir.display()));
            continue;
        }
        let files = fixture_files(&dir);
        // A rule that cannot fail has no failing case (detected from the rule, not listed).
        let can_fail = rule.can_fail();
        let cases: &[&str] = if can_fail {
            &["fail", "pass", "absent", "unknown"]
        } else {
            &["pass", "absent", "unknown"]
        };
        if !can_fail {
            let have = |ext: &str| {
                files.iter().any(|f| {
                    let n = f.file_name().unwrap().to_string_lossy();
                    n.starts_with("pass") && n.ends_with(ext)
                })
            };
            if !have(".tf") {
                failures.push(format!(
                    "{}: a rule that cannot fail has no Terraform `pass` fixture (azurerm, or azapi for an ARM-only rule)",
                    rule.id
                ));
            }
            if files
                .iter()
                .any(|f| f.file_name().unwrap().to_string_lossy().starts_with("fail"))
            {
                failures.push(format!(
                    "{}: a rule that cannot fail has `fail` fixtures",
                    rule.id
                ));
            }
        }
        for case in cases {
            for dialect in &rule.checks {
                let exts: &[&str] = match dialect.dialect {
                    basegate::model::Dialect::Arm => &["json"],
                    basegate::model::Dialect::Terraform => &["tf"],
                };
                let have = files.iter().any(|f| {
                    let n = f.file_name().unwrap().to_string_lossy();
                    n.starts_with(*case) && exts.iter().any(|x| n.ends_with(&format!(".{x}")))
                });
                if !have && exts == ["json"] {
                    failures.push(format!("{}: no `{case}` fixture for ARM JSON", rule.id));
                }
                let exempt = TERRAFORM_EXEMPT
                    .iter()
                    .any(|(k, _)| *k == format!("{}/{case}", rule.id));
                if !have && exts == ["tf"] && !exempt {
                    failures.push(format!("{}: no `{case}` fixture for Terraform", rule.id));
                }
            }
        }
        // Bicep lowers to the ARM dialect: every ARM rule proves it case by case, and with a
        // value that arrives through a parameter default, a variable or a `.bicepparam` file.
        let has_arm = rule
            .checks
            .iter()
            .any(|c| c.dialect == basegate::model::Dialect::Arm);
        if has_arm && !BICEP_EXEMPT.contains(&rule.id.as_str()) {
            let bicep = |n: &str| n.ends_with(".bicep") || n.ends_with(".bicepparam");
            for case in cases {
                let have = files.iter().any(|f| {
                    let n = f.file_name().unwrap().to_string_lossy();
                    n.starts_with(*case) && bicep(&n)
                });
                if !have {
                    failures.push(format!("{}: no `{case}` fixture for Bicep", rule.id));
                }
            }
            let indirect = files.iter().any(|f| {
                let n = f.file_name().unwrap().to_string_lossy();
                n.starts_with("fail")
                    && (n.ends_with(".bicepparam")
                        || (n.ends_with(".bicep")
                            && std::fs::read_to_string(f).unwrap().lines().any(|l| {
                                (l.starts_with("param ") && l.contains(" = "))
                                    || l.starts_with("var ")
                            })))
            });
            if !indirect && can_fail {
                failures.push(format!(
                    "{}: no Bicep `fail` fixture whose value comes from a param default, a var or a .bicepparam file",
                    rule.id
                ));
            }
        }
        for file in files {
            let name = file.file_name().unwrap().to_string_lossy().to_string();
            let text = std::fs::read_to_string(&file).unwrap();
            let expected = expected_lines(&text, &rule.id);
            let opts = basegate::ScanOptions {
                paths: vec![file.clone()],
                root: Some(dir.clone()),
                rules: vec![rule.clone()],
                ..Default::default()
            };
            let result = basegate::scan(&opts);
            for d in result.errors() {
                failures.push(format!("{}/{name}: input error: {}", rule.id, d.message));
            }
            let got: BTreeSet<u32> = result
                .findings
                .iter()
                .map(|f| {
                    let src = result.sources.get(f.span.file);
                    src.line_col(f.span.start).line
                })
                .collect();
            let key = format!("{}/{name}", rule.id);
            if let Some((_, bug)) = BICEP_KNOWN_BUGS.iter().find(|(f, _)| *f == key) {
                if got == expected {
                    failures.push(format!(
                        "{key}: listed in BICEP_KNOWN_BUGS ({bug}) but now right: remove the entry"
                    ));
                }
                checked += 1;
                continue;
            }
            if got != expected {
                failures.push(format!(
                    "{}/{name}: findings on lines {got:?}, expected {expected:?}{}",
                    rule.id,
                    result
                        .findings
                        .iter()
                        .map(|f| format!("\n    {}", f.message))
                        .collect::<String>()
                ));
            }
            if !can_fail {
                let passed = result
                    .evaluations
                    .iter()
                    .any(|e| e.outcome == basegate::check::Outcome::Pass);
                if name.starts_with("pass") && !passed {
                    failures.push(format!(
                        "{}/{name}: a `pass` fixture of a rule that cannot fail must pass it",
                        rule.id
                    ));
                }
                if (name.starts_with("absent") || name.starts_with("unknown")) && passed {
                    failures.push(format!(
                        "{}/{name}: an `absent`/`unknown` fixture of a rule that cannot fail must not pass it",
                        rule.id
                    ));
                }
            }
            // An `unknown` fixture shows the rule unable to decide (no finding alone would
            // also hold for a fixture the rule never reached); a `pass` fixture shows it
            // passing or not applying, never undecided.
            let outcome =
                |o: basegate::check::Outcome| result.evaluations.iter().any(|e| e.outcome == o);
            let gap = UNKNOWN_BUT_SET.iter().any(|(k, _)| *k == key);
            let undecided = outcome(basegate::check::Outcome::Unknown);
            if name.starts_with("pass") && undecided && !gap {
                failures.push(format!(
                    "{key}: the rule's verdict on it is unknown, not passed"
                ));
            }
            if gap && !undecided {
                failures.push(format!(
                    "{key}: listed in UNKNOWN_BUT_SET but now decided: remove the entry"
                ));
            }
            if name.starts_with("unknown") && !outcome(basegate::check::Outcome::Unknown) {
                failures.push(format!(
                    "{}/{name}: the rule's verdict on it is not unknown",
                    rule.id
                ));
            }
            if name.starts_with("fail") && expected.is_empty() {
                failures.push(format!(
                    "{}/{name}: a `fail` fixture must expect a finding",
                    rule.id
                ));
            }
            if (name.starts_with("pass") || name.starts_with("unknown")) && !expected.is_empty() {
                failures.push(format!(
                    "{}/{name}: `pass`/`unknown` fixtures expect no finding",
                    rule.id
                ));
            }
            checked += 1;
        }
    }
    assert!(checked > 0, "no fixture was checked");
    assert!(
        failures.is_empty(),
        "{} fixture problem(s):\n{}",
        failures.len(),
        failures.join("\n")
    );
}
