//! Unit tests of the Bicep evaluator: one small project per feature, written to a temporary
//! folder and evaluated as a scan would.

use super::skim::{skim, Refs};
use crate::model::{DiagSeverity, EdgeKind, Node, Resource, Value};
use crate::source::{FileId, SourceMap, Span};
use std::path::Path;

struct Run {
    sources: SourceMap,
    out: super::Output,
    _dir: tempfile::TempDir,
}

impl Run {
    fn res(&self, address: &str) -> &Resource {
        self.out
            .resources
            .iter()
            .find(|r| r.address == address)
            .unwrap_or_else(|| {
                panic!(
                    "no resource {address}; have {:?}",
                    self.out
                        .resources
                        .iter()
                        .map(|r| &r.address)
                        .collect::<Vec<_>>()
                )
            })
    }

    fn addresses(&self) -> Vec<&str> {
        self.out
            .resources
            .iter()
            .map(|r| r.address.as_str())
            .collect()
    }

    /// `file:line` of a span.
    fn at(&self, span: Span) -> String {
        let f = self.sources.get(span.file);
        format!("{}:{}", f.rel_path, f.line_col(span.start).line)
    }

    fn errors(&self) -> Vec<&str> {
        self.out
            .diagnostics
            .iter()
            .filter(|d| d.severity == DiagSeverity::Error)
            .map(|d| d.message.as_str())
            .collect()
    }

    fn warnings(&self) -> Vec<&str> {
        self.out
            .diagnostics
            .iter()
            .filter(|d| d.severity == DiagSeverity::Warning)
            .map(|d| d.message.as_str())
            .collect()
    }
}

fn get<'n>(n: &'n Node, path: &str) -> &'n Node {
    path.split('.').fold(n, |n, k| {
        n.get(k)
            .unwrap_or_else(|| panic!("no '{k}' of {path} in {:?}", n.value))
    })
}

/// Writes `files` (path, text) to a temporary folder and evaluates the ones listed in
/// `scanned` (all when empty).
fn run_scanned(files: &[(&str, &str)], scanned: &[&str]) -> Run {
    run_skim(files, scanned, true)
}

/// [`run_scanned`], with the first pass skimming references (as a scan does) or parsing.
fn run_skim(files: &[(&str, &str)], scanned: &[&str], skim: bool) -> Run {
    let dir = tempfile::tempdir().unwrap();
    let sources = SourceMap::default();
    let mut ids: Vec<FileId> = Vec::new();
    for (p, text) in files {
        let path = dir.path().join(p);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, text).unwrap();
        if scanned.is_empty() || scanned.contains(p) {
            ids.push(sources.add(path, p.to_string(), text.to_string()));
        }
    }
    let out = super::modules::evaluate_opts(&sources, &ids, dir.path(), &|_| {}, skim);
    Run {
        sources,
        out,
        _dir: dir,
    }
}

fn run(files: &[(&str, &str)]) -> Run {
    run_scanned(files, &[])
}

fn one(text: &str) -> Run {
    run(&[("main.bicep", text)])
}

#[test]
fn param_defaults_vars_and_spans() {
    let r = one(
        "param httpsOnly bool = false\nvar tls = 'TLS1_${minor}'\nvar minor = 0\n\
         resource st 'Microsoft.Storage/storageAccounts@2023-05-01' = {\n  name: 'st${toLower('X')}'\n  location: 'westeurope'\n  properties: {\n    supportsHttpsTrafficOnly: httpsOnly\n    minimumTlsVersion: tls\n  }\n}\n",
    );
    assert!(r.errors().is_empty(), "{:?}", r.errors());
    let st = r.res("st");
    assert_eq!(st.type_name, "Microsoft.Storage/storageAccounts");
    assert_eq!(st.api_version.as_deref(), Some("2023-05-01"));
    assert_eq!(st.name.as_deref(), Some("stx"));
    let https = get(&st.body, "properties.supportsHttpsTrafficOnly");
    assert_eq!(https.value, Value::Bool(false));
    // The value points at the default that wrote it.
    assert_eq!(r.at(https.span), "main.bicep:1");
    assert_eq!(
        get(&st.body, "properties.minimumTlsVersion").value,
        Value::String("TLS1_0".into())
    );
    // The header is the `resource` line, tight.
    let f = r.sources.get(st.header.file);
    assert_eq!(
        &f.text[st.header.range()],
        "resource st 'Microsoft.Storage/storageAccounts@2023-05-01'"
    );
}

#[test]
fn bicepparam_values_win_over_defaults_and_the_target_is_not_evaluated_alone() {
    let r = run(&[
        (
            "main.bicep",
            "param httpsOnly bool = true\n@secure()\nparam secret string = 'x'\nparam tls string\n\
             resource st 'Microsoft.Storage/storageAccounts@2023-05-01' = {\n  name: 'st'\n  properties: {\n    supportsHttpsTrafficOnly: httpsOnly\n    minimumTlsVersion: tls\n    s: secret\n  }\n}\n",
        ),
        (
            "main.bicepparam",
            "using 'main.bicep'\nvar v = 'TLS1_0'\nparam httpsOnly = false\nparam tls = v\n",
        ),
    ]);
    assert_eq!(
        r.addresses(),
        vec!["st"],
        "the target is evaluated once, with the values"
    );
    let st = r.res("st");
    let https = get(&st.body, "properties.supportsHttpsTrafficOnly");
    assert_eq!(https.value, Value::Bool(false));
    assert_eq!(r.at(https.span), "main.bicepparam:3");
    assert_eq!(
        get(&st.body, "properties.minimumTlsVersion").value,
        Value::String("TLS1_0".into())
    );
    assert!(
        get(&st.body, "properties.s").is_unknown(),
        "secure params are unknown"
    );
}

#[test]
fn parameter_without_default_is_unknown_and_unknowns_propagate() {
    let r = one(
        "param p bool\nparam n string\nvar x = p ? 'a' : 'b'\nvar y = p ? 'same' : 'same'\nvar z = '${n}-x'\nvar w = p && false\n\
         resource a 'Microsoft.Web/sites@2023-01-01' = {\n  name: 'a'\n  properties: {\n    x: x\n    y: y\n    z: z\n    w: w\n    c: n ?? 'd'\n    o: { ...{ k: n } }\n  }\n}\n",
    );
    let a = r.res("a");
    assert!(get(&a.body, "properties.x").is_unknown());
    assert_eq!(
        get(&a.body, "properties.y").value,
        Value::String("same".into())
    );
    assert!(get(&a.body, "properties.z").is_unknown());
    assert_eq!(get(&a.body, "properties.w").value, Value::Bool(false));
    assert!(get(&a.body, "properties.c").is_unknown());
    assert!(get(&a.body, "properties.o.k").is_unknown());
}

#[test]
fn operators_case_and_null_handling() {
    let r = one(
        "var o = { a: { b: 1 } }\nvar list = [1, 2, 3]\n\
         resource a 'Microsoft.Web/sites@2023-01-01' = {\n  name: 'a'\n  properties: {\n    eq: 'A' == 'a'\n    eqi: 'A' =~ 'a'\n    safe: o.?x.?y\n    nn: o.a!.b\n    idx: list[1]\n    arith: (1 + 2) * 3 % 5\n    neg: -list[0]\n    cmp: 2 > 1 && !(1 >= 2)\n    spread: [0, ...list]\n  }\n}\n",
    );
    let a = r.res("a");
    let p = |k: &str| get(&a.body, &format!("properties.{k}")).value.clone();
    assert_eq!(p("eq"), Value::Bool(false));
    assert_eq!(p("eqi"), Value::Bool(true));
    assert_eq!(p("safe"), Value::Null);
    assert_eq!(p("nn"), Value::Int(1));
    assert_eq!(p("idx"), Value::Int(2));
    assert_eq!(p("arith"), Value::Int(4));
    assert_eq!(p("neg"), Value::Int(-1));
    assert_eq!(p("cmp"), Value::Bool(true));
    assert_eq!(
        get(&a.body, "properties.spread").as_array().unwrap().len(),
        4
    );
}

#[test]
fn lambdas_functions_and_for_expressions() {
    let r = one(
        "func pre(n string) string => 'x-${n}'\nvar nums = [3, 1, 2]\n\
         resource a 'Microsoft.Web/sites@2023-01-01' = {\n  name: pre('a')\n  properties: {\n    m: map(nums, n => n * 2)\n    f: filter(nums, (n, i) => n > 1 && i < 2)\n    r: reduce(nums, 0, (acc, n) => acc + n)\n    s: sort(nums, (a, b) => a < b)\n    o: toObject(['k'], k => k, k => 1)\n    g: groupBy(['ab', 'ac', 'b'], x => substring(x, 0, 1))\n    mv: mapValues({ a: 1 }, v => v + 1)\n    loop: [for (n, i) in nums: if (n != 1) { v: n, i: i }]\n    keys: objectKeys({ a: 1, b: 2 })\n  }\n}\n",
    );
    let a = r.res("a");
    assert_eq!(a.name.as_deref(), Some("x-a"));
    let ints = |k: &str| -> Vec<i64> {
        get(&a.body, &format!("properties.{k}"))
            .as_array()
            .unwrap()
            .iter()
            .map(|n| match n.value {
                Value::Int(i) => i,
                _ => panic!("{k}: {:?}", n.value),
            })
            .collect()
    };
    assert_eq!(ints("m"), vec![6, 2, 4]);
    assert_eq!(ints("f"), vec![3]);
    assert_eq!(get(&a.body, "properties.r").value, Value::Int(6));
    assert_eq!(ints("s"), vec![1, 2, 3]);
    assert_eq!(get(&a.body, "properties.o.k").value, Value::Int(1));
    assert_eq!(get(&a.body, "properties.g.a").as_array().unwrap().len(), 2);
    assert_eq!(get(&a.body, "properties.mv.a").value, Value::Int(2));
    let lp = get(&a.body, "properties.loop").as_array().unwrap();
    assert_eq!(lp.len(), 2);
    assert_eq!(lp[1].get("i").unwrap().value, Value::Int(2));
}

#[test]
fn resource_loops_with_index_filters_and_unknown_collections() {
    let r = one(
        "param names array = ['a', 'b', 'c']\nparam unknownList array\n\
         resource st 'Microsoft.Storage/storageAccounts@2023-05-01' = [for (n, i) in names: if (n != 'b') {\n  name: '${n}${i}'\n}]\n\
         resource u 'Microsoft.Storage/storageAccounts@2023-05-01' = [for x in unknownList: {\n  name: x.name\n  properties: { supportsHttpsTrafficOnly: false }\n}]\n\
         resource never 'Microsoft.Storage/storageAccounts@2023-05-01' = if (false) {\n  name: 'never'\n}\n\
         resource maybe 'Microsoft.Storage/storageAccounts@2023-05-01' = if (unknownList == []) {\n  name: 'maybe'\n}\n",
    );
    assert_eq!(r.addresses(), vec!["st[0]", "st[2]", "u[*]", "maybe"]);
    assert_eq!(r.res("st[2]").name.as_deref(), Some("c2"));
    let u = r.res("u[*]");
    assert!(u.name.is_none());
    assert_eq!(
        get(&u.body, "properties.supportsHttpsTrafficOnly").value,
        Value::Bool(false)
    );
    // Whether they are deployed at all is not known: existence checks cannot count on them.
    assert!(u.conditional.is_some());
    assert!(r.res("maybe").conditional.is_some());
    assert_eq!(r.res("st[0]").conditional, None);
}

#[test]
fn unknown_conditions_mark_children_and_module_resources_conditional() {
    let r = run(&[
        (
            "main.bicep",
            "param deploy bool
param on bool = true
             resource vnet 'Microsoft.Network/virtualNetworks@2023-11-01' = if (deploy) {
  name: 'vnet'
  resource sn 'subnets' = {
    name: 'sn'
  }
}
             resource sure 'Microsoft.Network/virtualNetworks@2023-11-01' = if (on) {
  name: 'sure'
}
             module m 'm.bicep' = if (deploy) {
  name: 'm'
}
             module k 'm.bicep' = {
  name: 'k'
}
",
        ),
        (
            "m.bicep",
            "resource b 'Microsoft.Network/bastionHosts@2024-01-01' = {
  name: 'bas'
}
",
        ),
    ]);
    assert!(r.res("vnet").conditional.is_some());
    assert!(r.res("vnet::sn").conditional.is_some());
    assert_eq!(r.res("sure").conditional, None);
    assert!(r.res("m/b").conditional.is_some());
    assert_eq!(r.res("k/b").conditional, None);
}

#[test]
fn loops_are_capped() {
    let r = one(
        "resource st 'Microsoft.Storage/storageAccounts@2023-05-01' = [for i in range(0, 10000000): {\n  name: 'st${i}'\n}]\n",
    );
    // range() itself is capped by the library; a loop cannot exceed the cap either way.
    assert!(r.out.resources.len() <= 10_000);
    let r = one(
        "var big = [for i in range(0, 10000): i]\nvar bigger = flatten([for i in range(0, 3): big])\n\
         resource st 'Microsoft.Storage/storageAccounts@2023-05-01' = [for i in bigger: {\n  name: 'st${i}'\n}]\n",
    );
    assert_eq!(r.out.resources.len(), 10_000);
    assert!(r
        .warnings()
        .iter()
        .any(|w| w.contains("only the first 10000")));
}

#[test]
fn exponential_growth_and_self_reference_are_unknown() {
    let mut text = String::from("var v0 = 'xxxxxxxxxxxxxxxx'\n");
    for i in 1..40 {
        text.push_str(&format!("var v{i} = '${{v{}}}${{v{}}}'\n", i - 1, i - 1));
    }
    text.push_str("var a = b\nvar b = a\n");
    text.push_str(
        "resource s 'Microsoft.Web/sites@2023-01-01' = {\n  name: 's'\n  properties: {\n    big: v39\n    cyc: a\n  }\n}\n",
    );
    let r = one(&text);
    let s = r.res("s");
    assert!(get(&s.body, "properties.big").is_unknown());
    assert!(get(&s.body, "properties.cyc").is_unknown());
    assert!(r.warnings().iter().any(|w| w.contains("refers to itself")));
}

#[test]
fn nested_children_and_parent_get_full_types_names_and_links() {
    let r = one(
        "resource srv 'Microsoft.Sql/servers@2023-05-01-preview' = {\n  name: 'srv'\n  location: 'westeurope'\n  resource db 'databases' = {\n    name: 'db'\n  }\n  resource fw 'firewallRules@2021-11-01' = {\n    name: 'fw'\n  }\n}\n\
         resource audit 'Microsoft.Sql/servers/auditingSettings@2023-05-01-preview' = {\n  parent: srv\n  name: 'default'\n  properties: { state: 'Enabled', db: srv::db.id }\n}\n",
    );
    let db = r.res("srv::db");
    assert_eq!(db.type_name, "Microsoft.Sql/servers/databases");
    assert_eq!(db.api_version.as_deref(), Some("2023-05-01-preview"));
    assert_eq!(db.name.as_deref(), Some("srv/db"));
    assert!(db
        .links
        .iter()
        .any(|l| l.kind == EdgeKind::Parent && l.target == "Microsoft.Sql/servers/srv"));
    assert_eq!(r.res("srv::fw").api_version.as_deref(), Some("2021-11-01"));
    let audit = r.res("audit");
    assert_eq!(audit.name.as_deref(), Some("srv/default"));
    assert!(audit.body.get("parent").is_none());
    assert!(audit
        .links
        .iter()
        .any(|l| l.kind == EdgeKind::Parent && l.target == "Microsoft.Sql/servers/srv"));
    let id = get(&audit.body, "properties.db");
    assert_eq!(
        id.as_str(),
        Some("/subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}/providers/Microsoft.Sql/servers/srv/databases/db")
    );
    assert!(audit
        .links
        .iter()
        .any(|l| l.kind == EdgeKind::Reference && l.path == "properties.db"));
}

#[test]
fn scope_depends_on_and_existing() {
    let r = one(
        "resource kv 'Microsoft.KeyVault/vaults@2023-07-01' existing = {\n  name: 'kv'\n  resource s 'secrets' = {\n    name: 'sec'\n  }\n}\n\
         resource lock 'Microsoft.Authorization/locks@2020-05-01' = {\n  name: 'lock'\n  scope: kv\n  dependsOn: [\n    kv\n  ]\n  properties: { level: 'CanNotDelete' }\n}\n",
    );
    // The existing vault is not declared; its nested secret is.
    assert_eq!(r.addresses(), vec!["kv::s", "lock"]);
    assert_eq!(r.res("kv::s").name.as_deref(), Some("kv/sec"));
    let lock = r.res("lock");
    let scope = lock
        .links
        .iter()
        .find(|l| l.kind == EdgeKind::Scope)
        .unwrap();
    assert!(scope
        .target
        .ends_with("/providers/Microsoft.KeyVault/vaults/kv"));
    // The vault is not deployed and depends on nothing: Bicep drops the dependency on it
    // (the body keeps what was written).
    assert!(!lock.links.iter().any(|l| l.kind == EdgeKind::DependsOn));
    assert_eq!(get(&lock.body, "dependsOn").as_array().unwrap().len(), 1);
}

#[test]
fn references_to_existing_resources_depend_on_what_those_depend_on() {
    let r = one(
        "resource stg 'Microsoft.Storage/storageAccounts@2023-05-01' = {\n  name: 'st'\n}\n\
         resource files 'Microsoft.Storage/storageAccounts/fileServices@2023-05-01' existing = {\n  parent: stg\n  name: 'default'\n}\n\
         resource share 'Microsoft.Storage/storageAccounts/fileServices/shares@2023-05-01' = {\n  parent: files\n  name: 'share'\n}\n\
         resource vnet 'Microsoft.Network/virtualNetworks@2023-05-01' = {\n  name: 'vnet'\n}\n\
         resource other 'Microsoft.Network/virtualNetworks@2023-05-01' existing = {\n  name: vnet.name\n  resource sn 'subnets' existing = {\n    name: 'sn'\n  }\n}\n\
         resource pe 'Microsoft.Network/privateEndpoints@2023-05-01' = {\n  name: 'pe'\n  dependsOn: [\n    files\n  ]\n  properties: { subnet: { id: other::sn.id } }\n}\n\
         resource diag 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {\n  name: 'd'\n  scope: files\n}\n",
    );
    let deps = |addr: &str| -> Vec<String> {
        let mut v: Vec<String> = r
            .res(addr)
            .links
            .iter()
            .filter(|l| l.kind == EdgeKind::DependsOn)
            .map(|l| l.target.rsplit("/providers/").next().unwrap().to_string())
            .collect();
        v.sort();
        v
    };
    // A declared child of an existing child depends on the declared grandparent.
    assert_eq!(deps("share"), vec!["Microsoft.Storage/storageAccounts/st"]);
    // Explicit and implicit references to existing resources: what they refer to, through
    // parents and names, transitively.
    assert_eq!(
        deps("pe"),
        vec![
            "Microsoft.Network/virtualNetworks/vnet",
            "Microsoft.Storage/storageAccounts/st"
        ]
    );
    // A scope on an existing child of a declared account depends on the account.
    assert_eq!(deps("diag"), vec!["Microsoft.Storage/storageAccounts/st"]);
}

#[test]
fn symbolic_references_are_implicit_dependencies_and_unknown_parents_stay_linked() {
    let r = one(
        "param n string
resource site 'Microsoft.Web/sites@2023-01-01' = {\n  name: n\n}\n\
         resource logs 'Microsoft.Web/sites/config@2023-01-01' = {\n  parent: site\n  name: 'logs'\n}\n\
         resource plan 'Microsoft.Web/serverfarms@2023-01-01' = {\n  name: 'plan'\n}\n\
         resource app 'Microsoft.Web/sites@2023-01-01' = {\n  name: 'app'\n  properties: { serverFarmId: plan.id }\n}\n",
    );
    let logs = r.res("logs");
    // The parent's name is unknown: the link is kept, with an unknown target.
    assert!(logs
        .links
        .iter()
        .any(|l| l.kind == EdgeKind::Parent && l.target.is_empty()));
    let app = r.res("app");
    assert!(app.links.iter().any(|l| l.kind == EdgeKind::DependsOn
        && l.target
            .ends_with("/providers/Microsoft.Web/serverfarms/plan")));
}

#[test]
fn modules_use_caller_values_spans_and_call_chain() {
    let r = run(&[
        (
            "main.bicep",
            "param off bool = false\nmodule app 'mods/app.bicep' = {\n  name: 'app'\n  params: {\n    httpsOnly: off\n    siteName: 'web'\n  }\n}\n\
             module apps 'mods/app.bicep' = [for n in ['x', 'y']: {\n  name: n\n  params: {\n    siteName: n\n    httpsOnly: null\n  }\n}]\n\
             resource ref 'Microsoft.Web/sites@2023-01-01' = {\n  name: 'ref'\n  properties: { other: app.outputs.siteId }\n}\n",
        ),
        (
            "mods/app.bicep",
            "param siteName string\nparam httpsOnly bool = true\nmodule inner 'inner.bicep' = {\n  name: 'inner'\n  params: { n: siteName }\n}\n\
             resource site 'Microsoft.Web/sites@2023-01-01' = {\n  name: siteName\n  properties: { httpsOnly: httpsOnly }\n}\noutput siteId string = site.id\n",
        ),
        (
            "mods/inner.bicep",
            "param n string\nresource plan 'Microsoft.Web/serverfarms@2023-01-01' = {\n  name: 'plan-${n}'\n}\n",
        ),
    ]);
    assert!(r.errors().is_empty(), "{:?}", r.errors());
    assert_eq!(
        r.addresses(),
        vec![
            "app/inner/plan",
            "app/site",
            "apps[0]/inner/plan",
            "apps[0]/site",
            "apps[1]/inner/plan",
            "apps[1]/site",
            "ref"
        ]
    );
    let site = r.res("app/site");
    let https = get(&site.body, "properties.httpsOnly");
    assert_eq!(https.value, Value::Bool(false));
    assert_eq!(r.at(https.span), "main.bicep:1");
    assert_eq!(r.at(site.header), "mods/app.bicep:7");
    assert_eq!(site.call_chain.len(), 1);
    assert_eq!(r.at(site.call_chain[0]), "main.bicep:2");
    let plan = r.res("apps[1]/inner/plan");
    assert_eq!(plan.name.as_deref(), Some("plan-y"));
    assert_eq!(plan.call_chain.len(), 2);
    assert_eq!(r.at(plan.call_chain[0]), "main.bicep:9");
    assert_eq!(r.at(plan.call_chain[1]), "mods/app.bicep:3");
    assert_eq!(
        get(&r.res("ref").body, "properties.other").as_str(),
        Some("/subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}/providers/Microsoft.Web/sites/web")
    );
    // Module defaults are used where the caller gives nothing, or null.
    assert_eq!(
        get(&r.res("apps[0]/site").body, "properties.httpsOnly").value,
        Value::Bool(true)
    );
}

/// The test pattern of ResourceModules and Azure Verified Modules: the same module deployed
/// twice in a loop with the same parameters. The second call is answered from the first
/// (lower::CachedCall); what it yields must be what evaluating it again yields: its own
/// addresses and call chain, the same values and spans, its own copy of each resource.
#[test]
fn a_module_called_again_with_the_same_values_yields_its_own_resources() {
    let r = run(&[
        (
            "main.bicep",
            "param off bool = false\n\
             module twice 'mods/app.bicep' = [for iteration in ['init', 'idem']: {\n  name: 'app-${iteration}'\n  params: {\n    siteName: 'web'\n    httpsOnly: off\n  }\n}]\n\
             module other 'mods/app.bicep' = {\n  name: 'other'\n  params: {\n    siteName: 'web'\n    httpsOnly: off\n  }\n}\n",
        ),
        (
            "mods/app.bicep",
            "param siteName string\nparam httpsOnly bool = true\nmodule inner 'inner.bicep' = {\n  name: 'inner'\n  params: { n: siteName }\n}\n\
             resource site 'Microsoft.Web/sites@2023-01-01' = {\n  name: siteName\n  properties: { httpsOnly: httpsOnly }\n}\n",
        ),
        (
            "mods/inner.bicep",
            "param n string\nresource plan 'Microsoft.Web/serverfarms@2023-01-01' = {\n  name: 'plan-${n}'\n}\n",
        ),
    ]);
    assert!(r.errors().is_empty(), "{:?}", r.errors());
    assert_eq!(
        r.addresses(),
        vec![
            "twice[0]/inner/plan",
            "twice[0]/site",
            "twice[1]/inner/plan",
            "twice[1]/site",
            "other/inner/plan",
            "other/site",
        ]
    );
    for (i, call) in [
        (0, "main.bicep:2"),
        (1, "main.bicep:2"),
        (2, "main.bicep:9"),
    ] {
        let prefix = ["twice[0]", "twice[1]", "other"][i];
        let site = r.res(&format!("{prefix}/site"));
        let https = get(&site.body, "properties.httpsOnly");
        assert_eq!(https.value, Value::Bool(false), "{prefix}");
        assert_eq!(r.at(https.span), "main.bicep:1", "{prefix}");
        assert_eq!(r.at(site.header), "mods/app.bicep:7", "{prefix}");
        assert_eq!(site.call_chain.len(), 1, "{prefix}");
        assert_eq!(r.at(site.call_chain[0]), call, "{prefix}");
        let plan = r.res(&format!("{prefix}/inner/plan"));
        assert_eq!(plan.name.as_deref(), Some("plan-web"), "{prefix}");
        assert_eq!(plan.call_chain.len(), 2, "{prefix}");
        assert_eq!(r.at(plan.call_chain[0]), call, "{prefix}");
        assert_eq!(r.at(plan.call_chain[1]), "mods/app.bicep:3", "{prefix}");
    }
}

#[test]
fn module_cycles_missing_files_and_registries_are_reported() {
    let r = run(&[
        (
            "main.bicep",
            "module a 'a.bicep' = {\n  name: 'a'\n}\nmodule gone 'missing.bicep' = {\n  name: 'gone'\n}\n\
             module reg 'br/public:avm/res/storage/storage-account:0.9.0' = {\n  name: 'reg'\n}\n",
        ),
        (
            "a.bicep",
            "module b 'b.bicep' = {\n  name: 'b'\n}\nresource s 'Microsoft.Web/sites@2023-01-01' = {\n  name: 's'\n}\n",
        ),
        ("b.bicep", "module a 'a.bicep' = {\n  name: 'a'\n}\n"),
    ]);
    let errors = r.errors();
    assert!(
        errors.iter().any(|e| e.contains("module includes itself")),
        "{errors:?}"
    );
    assert!(
        errors.iter().any(|e| e.contains("missing.bicep")),
        "{errors:?}"
    );
    assert!(r
        .warnings()
        .iter()
        .any(|w| w.starts_with("module from registry not fetched")));
    assert_eq!(r.addresses(), vec!["a/s"]);
}

#[test]
fn modules_of_each_other_only_are_still_scanned() {
    let r = run(&[
        (
            "a.bicep",
            "module b 'b.bicep' = {\n  name: 'b'\n}\nresource s 'Microsoft.Web/sites@2023-01-01' = {\n  name: 's'\n}\n",
        ),
        ("b.bicep", "module a 'a.bicep' = {\n  name: 'a'\n}\n"),
    ]);
    assert!(!r.out.resources.is_empty(), "nothing skipped in silence");
    assert!(r
        .errors()
        .iter()
        .any(|e| e.contains("module includes itself")));
}

#[test]
fn syntax_errors_are_reported_and_the_rest_is_evaluated() {
    let r = one("param abc\n}\nresource s 'Microsoft.Web/sites@2023-01-01' = {\n  name: 's'\n}\n");
    assert!(!r.errors().is_empty());
    assert!(r.errors()[0].starts_with("Bicep syntax error"));
    assert_eq!(r.addresses(), vec!["s"]);
}

#[test]
fn imports_resolve_exported_variables_and_functions() {
    let r = run_scanned(
        &[
            (
                "main.bicep",
                "import { tls, pre } from 'shared.bicep'\nimport * as sh from 'shared.bicep'\n\
                 resource st 'Microsoft.Storage/storageAccounts@2023-05-01' = {\n  name: pre('st')\n  properties: { minimumTlsVersion: tls, other: sh.pre('b') }\n}\n",
            ),
            (
                "shared.bicep",
                "@export()\nvar tls = 'TLS1_${v}'\nvar v = 2\n@export()\nfunc pre(n string) string => 'p-${n}'\n",
            ),
        ],
        &["main.bicep"],
    );
    let st = r.res("st");
    assert_eq!(st.name.as_deref(), Some("p-st"));
    assert_eq!(
        get(&st.body, "properties.minimumTlsVersion").value,
        Value::String("TLS1_2".into())
    );
    assert_eq!(
        get(&st.body, "properties.other").value,
        Value::String("p-b".into())
    );
}

#[test]
fn deep_nesting_does_not_overflow() {
    let mut text = String::new();
    for i in 0..3000 {
        text.push_str(&format!("var v{i} = v{}\n", i + 1));
    }
    text.push_str("var v3000 = 1\nresource s 'Microsoft.Web/sites@2023-01-01' = {\n  name: 's'\n  properties: { x: v0 }\n}\n");
    let r = one(&text);
    assert_eq!(r.addresses(), vec!["s"]);
    let nested = format!("var x = {}1{}\n", "[".repeat(200), "]".repeat(200));
    let r = one(&nested);
    assert!(r.out.resources.is_empty());
    let _ = Path::new("");
}

#[test]
fn multiplying_loops_and_copies_stop_on_the_budget() {
    let r = one(
        "var big = [for i in range(0, 10000): 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx${i}']\n\
         var copies = [for i in range(0, 10000): big]\n\
         var grid = [for i in range(0, 10000): [for j in range(0, 10000): j]]\n\
         func twice(x array) array => [x, x]\n\
         var nest = twice(twice(twice(twice(twice(twice(twice(twice(twice(twice(twice(twice(twice(twice(twice(twice(twice(twice(twice(twice(twice(twice(twice(twice(twice(big)))))))))))))))))))))))))\n\
         resource s 'Microsoft.Web/sites@2023-01-01' = {\n  name: 's'\n  properties: { a: length(copies), b: length(grid), c: nest }\n}\n",
    );
    let s = r.res("s");
    assert!(get(&s.body, "properties.c").is_unknown());
    assert!(get(&s.body, "properties.a").is_unknown() || get(&s.body, "properties.b").is_unknown());
}

#[test]
fn output_is_deterministic() {
    let files: Vec<(String, String)> = (0..12)
        .map(|i| {
            (
                format!("e{i}.bicep"),
                format!(
                    "module m 'mods/m{}.bicep' = {{\n  name: 'm'\n}}\nresource s 'Microsoft.Web/sites@2023-01-01' = {{\n  name: 's{i}'\n}}\n",
                    i % 4
                ),
            )
        })
        .chain((0..4).map(|i| {
            (
                format!("mods/m{i}.bicep"),
                format!("resource p 'Microsoft.Web/serverfarms@2023-01-01' = {{\n  name: 'p{i}'\n}}\n"),
            )
        }))
        .collect();
    let refs: Vec<(&str, &str)> = files
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    let scanned: Vec<&str> = refs
        .iter()
        .map(|(a, _)| *a)
        .filter(|a| a.starts_with('e'))
        .collect();
    let show = |r: &Run| -> Vec<String> {
        r.out
            .resources
            .iter()
            .map(|x| format!("{} {:?} {:?}", x.address, x.file, x.header))
            .collect()
    };
    let first = show(&run_scanned(&refs, &scanned));
    for _ in 0..3 {
        assert_eq!(show(&run_scanned(&refs, &scanned)), first);
    }
    assert_eq!(first.len(), 24);
}

#[test]
fn long_parent_chains_and_resource_floods_are_bounded() {
    let mut text = String::from(
        "resource r0 'Microsoft.Sql/servers@2023-05-01-preview' = {\n  name: 's'\n}\n",
    );
    for i in 1..3000 {
        text.push_str(&format!(
            "resource r{i} 'Microsoft.Sql/servers/databases@2023-05-01-preview' = {{\n  parent: r{}\n  name: 'd{i}'\n}}\n",
            i - 1
        ));
    }
    let r = one(&text);
    assert_eq!(r.out.resources.len(), 3000);
    let r = run(&[
        (
            "main.bicep",
            "module m 'm.bicep' = [for i in range(0, 10000): {\n  name: 'm${i}'\n}]\n",
        ),
        (
            "m.bicep",
            "resource s 'Microsoft.Web/sites@2023-01-01' = [for i in range(0, 10000): {\n  name: 's${i}'\n}]\n",
        ),
    ]);
    assert!(r.out.resources.len() <= 100_000);
    assert!(r
        .warnings()
        .iter()
        .any(|w| w.contains("more than 100000 resources")));
}

#[test]
fn arm_json_modules_are_evaluated_with_the_callers_values() {
    let r = run_scanned(
        &[
            (
                "main.bicep",
                "module st 'nested.json' = {\n  name: 'st'\n  params: {\n    httpsOnly: false\n  }\n}\n",
            ),
            (
                "nested.json",
                r#"{
  "$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#",
  "contentVersion": "1.0.0.0",
  "parameters": { "httpsOnly": { "type": "bool", "defaultValue": true } },
  "resources": [
    {
      "type": "Microsoft.Storage/storageAccounts",
      "apiVersion": "2023-05-01",
      "name": "stjson",
      "properties": { "supportsHttpsTrafficOnly": "[parameters('httpsOnly')]" }
    }
  ]
}"#,
            ),
        ],
        &["main.bicep"],
    );
    assert!(r.errors().is_empty(), "{:?}", r.errors());
    let st = &r.out.resources[0];
    assert!(st.address.starts_with("st/"), "{}", st.address);
    assert_eq!(st.call_chain.len(), 1);
    assert_eq!(
        get(&st.body, "properties.supportsHttpsTrafficOnly").value,
        Value::Bool(false)
    );
}

#[test]
fn a_skim_its_parse_contradicts_yields_what_full_parses_do() {
    // Balanced brackets, but a list left open before a module statement: the parser's
    // recovery ends the list at the statement and reads the module; the skim, counting
    // brackets, sees the line inside the list.
    let files = [
        (
            "main.bicep",
            "var xs = [\n  1\nmodule m 'm.bicep' = {\n  name: 'm'\n}\n]\n",
        ),
        (
            "m.bicep",
            "resource sa 'Microsoft.Storage/storageAccounts@2023-01-01' = {\n  name: 'sa'\n}\n",
        ),
    ];
    assert_eq!(skim(files[0].1), Some(Refs::default()));
    assert_eq!(Refs::of(&super::parse(files[0].1)).refs, ["m.bicep"]);
    let summary = |r: &Run| {
        let mut d: Vec<String> = r
            .out
            .diagnostics
            .iter()
            .map(|d| format!("{} {}", r.at(d.span), d.message))
            .collect();
        d.sort();
        (
            r.addresses()
                .iter()
                .map(|a| a.to_string())
                .collect::<Vec<_>>(),
            d,
        )
    };
    let skimmed = run_skim(&files, &[], true);
    let parsed = run_skim(&files, &[], false);
    // Through the module only: m.bicep is not an entry point of its own.
    assert_eq!(skimmed.addresses(), vec!["m/sa"]);
    assert!(!skimmed.errors().is_empty());
    assert_eq!(summary(&skimmed), summary(&parsed));
}

#[test]
fn interpolation_renders_as_format_does() {
    // Strings only are joined directly; anything else goes through `format()`. Braces in
    // the text or in a value are written as they are either way.
    let r = one(
        "param flag bool = true\nparam n int = 3\nvar name = 'b{0}'\n\
         resource st 'Microsoft.Storage/storageAccounts@2023-05-01' = {\n  name: 'st'\n  properties: {\n    joined: 'a-${name}-{c}-${toLower('X')}'\n    mixed: '{1}${flag}-${n}-${name}'\n    unknown: '${resourceGroup().location}-x'\n  }\n}\n",
    );
    assert!(r.errors().is_empty(), "{:?}", r.errors());
    let st = r.res("st");
    let text = |p: &str| match &get(&st.body, p).value {
        Value::String(s) => s.to_string(),
        v => panic!("{p}: {v:?}"),
    };
    assert_eq!(text("properties.joined"), "a-b{0}-{c}-x");
    assert_eq!(text("properties.mixed"), "{1}True-3-b{0}");
    assert!(get(&st.body, "properties.unknown").is_unknown());
}
