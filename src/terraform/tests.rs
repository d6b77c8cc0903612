//! Tests of the Terraform frontend on small configurations written inline.

use super::*;
use crate::model::{DiagSeverity, Dialect, EdgeKind};
use crate::source::SourceMap;

struct Run {
    out: Output,
    sources: SourceMap,
    _dir: tempfile::TempDir,
}

impl Run {
    fn res(&self, addr: &str) -> &Resource {
        self.out
            .resources
            .iter()
            .find(|r| r.address == addr)
            .unwrap_or_else(|| {
                let all: Vec<&str> = self
                    .out
                    .resources
                    .iter()
                    .map(|r| r.address.as_str())
                    .collect();
                panic!("no resource {addr}; have {all:?}")
            })
    }

    fn text(&self, span: Span) -> String {
        self.sources.get(span.file).text[span.range()].to_string()
    }

    fn file_of(&self, span: Span) -> String {
        self.sources.get(span.file).rel_path.clone()
    }

    fn has_diag(&self, needle: &str) -> bool {
        self.out
            .diagnostics
            .iter()
            .any(|d| d.message.contains(needle))
    }
}

fn run_with(files: &[(&str, &str)], vars: &[(&str, &str)], assume: Option<&str>) -> Run {
    let dir = tempfile::tempdir().unwrap();
    let sources = SourceMap::default();
    let mut ids = Vec::new();
    for (rel, text) in files {
        let p = dir.path().join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, text).unwrap();
        if !rel.starts_with("outside/") && !rel.contains(".terraform/") {
            ids.push(sources.add(p, rel.to_string(), text.to_string()));
        }
    }
    let out = {
        let input = Input {
            sources: &sources,
            files: ids,
            root: dir.path(),
            var_files: Vec::new(),
            vars: vars
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            assume_azurerm: assume.map(str::to_string),
        };
        evaluate(&input)
    };
    Run {
        out,
        sources,
        _dir: dir,
    }
}

fn run(files: &[(&str, &str)]) -> Run {
    run_with(files, &[], None)
}

fn s(n: Option<&Node>) -> Option<&str> {
    n.and_then(|n| n.as_str())
}

#[test]
fn variables_and_tfvars_precedence() {
    let main = r#"
variable "a" { default = "default" }
variable "b" { default = "default" }
variable "c" { default = "default" }
variable "d" { default = "default" }
variable "n" { type = number }
resource "azurerm_x" "r" {
  a = var.a
  b = var.b
  c = var.c
  d = var.d
  n = var.n
}
"#;
    let r = run_with(
        &[
            ("main.tf", main),
            (
                "terraform.tfvars",
                "b = \"tfvars\"\nc = \"tfvars\"\nd = \"tfvars\"\nzz = 1\n",
            ),
            ("x.auto.tfvars", "c = \"auto\"\nd = \"auto\"\n"),
        ],
        &[("d", "cli"), ("n", "42")],
        None,
    );
    let res = r.res("azurerm_x.r");
    assert_eq!(s(res.body.get("a")), Some("default"));
    assert_eq!(s(res.body.get("b")), Some("tfvars"));
    assert_eq!(s(res.body.get("c")), Some("auto"));
    assert_eq!(s(res.body.get("d")), Some("cli"));
    assert_eq!(res.body.get("n").unwrap().value, Value::Int(42));
    // the value points at the line that set it
    let c = res.body.get("c").unwrap();
    assert_eq!(r.file_of(c.span), "x.auto.tfvars");
    assert_eq!(r.text(c.span), "\"auto\"");
    assert!(r.has_diag("undeclared variable 'zz'"));
    // header is the type and name labels only
    assert_eq!(r.text(res.header), "resource \"azurerm_x\" \"r\"");
}

#[test]
fn unset_variable_is_unknown() {
    let r = run(&[("main.tf", "variable \"x\" {}\nresource \"azurerm_x\" \"r\" {\n name = var.x\n tags = { a = var.x, b = \"k\" }\n}\n")]);
    let res = r.res("azurerm_x.r");
    assert!(res.body.get("name").unwrap().is_unknown());
    assert_eq!(res.name, None);
    // a collection with one unknown element keeps the others
    let tags = res.body.get("tags").unwrap();
    assert!(tags.get("a").unwrap().is_unknown());
    assert_eq!(s(tags.get("b")), Some("k"));
}

#[test]
fn locals_chain_and_cycle() {
    let main = r#"
resource "azurerm_x" "r" {
  name  = local.c
  other = local.p
}
locals {
  c = "${local.b}-c"
  b = upper(local.a)
  p = local.q
}
locals {
  a = "sa"
  q = local.p
}
"#;
    let r = run(&[("main.tf", main)]);
    let res = r.res("azurerm_x.r");
    assert_eq!(res.name.as_deref(), Some("SA-c"));
    assert!(res.body.get("other").unwrap().is_unknown());
    assert!(r.has_diag("cycle"));
}

#[test]
fn for_each_map_addresses() {
    let main = r#"
locals { accounts = { logs = "LRS", data = "GRS" } }
resource "azurerm_storage_account" "a" {
  for_each                 = local.accounts
  name                     = "st${each.key}"
  account_replication_type = each.value
}
resource "azurerm_x" "c" {
  count = 2
  name  = "c${count.index}"
}
resource "azurerm_x" "z" {
  count = 0
}
resource "azurerm_x" "all" {
  names = azurerm_x.c[*].name
  old   = azurerm_x.c.*.name[1]
  n     = length(azurerm_x.c)
  keys  = keys(azurerm_storage_account.a)
  ids   = azurerm_x.c[*].id
}
"#;
    let r = run(&[("main.tf", main)]);
    let a = r.res("azurerm_storage_account.a[\"logs\"]");
    assert_eq!(a.name.as_deref(), Some("stlogs"));
    assert_eq!(s(a.body.get("account_replication_type")), Some("LRS"));
    assert!(a.body.get("for_each").is_none());
    r.res("azurerm_storage_account.a[\"data\"]");
    assert_eq!(r.res("azurerm_x.c[1]").name.as_deref(), Some("c1"));
    assert!(!r
        .out
        .resources
        .iter()
        .any(|x| x.address.starts_with("azurerm_x.z")));
    let all = &r.res("azurerm_x.all").body;
    let names: Vec<_> = all
        .get("names")
        .unwrap()
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_str())
        .collect();
    assert_eq!(names, vec![Some("c0"), Some("c1")]);
    assert_eq!(s(all.get("old")), Some("c1"));
    assert_eq!(all.get("n").unwrap().value, Value::Int(2));
    assert_eq!(all.get("keys").unwrap().as_array().unwrap().len(), 2);
    let ids = all.get("ids").unwrap().as_array().unwrap();
    assert!(ids.len() == 2 && ids[0].is_unknown());
}

#[test]
fn unknown_for_each_gives_one_instance() {
    let main = r#"
data "azurerm_client_config" "c" {}
resource "azurerm_x" "a" {
  for_each = data.azurerm_client_config.c.ids
  name     = each.key
  fixed    = "yes"
}
resource "azurerm_x" "b" {
  count = length(data.azurerm_client_config.c.ids)
  name  = "b${count.index}"
}
"#;
    let r = run(&[("main.tf", main)]);
    let a = r.res("azurerm_x.a[*]");
    assert!(a.body.get("name").unwrap().is_unknown());
    assert_eq!(s(a.body.get("fixed")), Some("yes"));
    // There may be no instance at all: existence checks must not count on it.
    assert!(a.conditional.is_some());
    assert!(r.res("azurerm_x.b[*]").conditional.is_some());
}

#[test]
fn known_count_is_not_conditional_and_unknown_module_count_is() {
    let main = r#"
variable "on" {
  type    = bool
  default = true
}
variable "unset" { type = bool }
resource "azurerm_x" "a" {
  count = var.on ? 1 : 0
  name  = "a"
}
resource "azurerm_x" "b" {
  count = var.unset ? 1 : 0
  name  = "b"
}
module "m" {
  source = "./m"
  count  = var.unset ? 1 : 0
}
"#;
    let m = r#"resource "azurerm_y" "c" { name = "c" }"#;
    let r = run(&[("main.tf", main), ("m/main.tf", m)]);
    assert_eq!(r.res("azurerm_x.a[0]").conditional, None);
    assert!(r.res("azurerm_x.b[*]").conditional.is_some());
    assert!(r.res("module.m[*].azurerm_y.c").conditional.is_some());
}

#[test]
fn dynamic_blocks_expand() {
    let main = r#"
variable "unset" {}
variable "rules" {
  default = [
    { name = "a", port = 80 },
    { name = "b", port = 443 },
  ]
}
resource "azurerm_network_security_group" "n" {
  name = "nsg"
  dynamic "security_rule" {
    for_each = var.rules
    iterator = rule
    content {
      name = rule.value.name
      port = rule.value.port
      idx  = rule.key
    }
  }
  security_rule {
    name = "static"
  }
  dynamic "unknown_one" {
    for_each = var.unset
    content {
      v     = unknown_one.value
      fixed = "Deny"
    }
  }
}
resource "azurerm_network_security_group" "mixed" {
  name = "mixed"
  dynamic "security_rule" {
    for_each = var.unset
    content {
      name = "dynamic"
    }
  }
  security_rule {
    name = "static"
  }
}
"#;
    let r = run(&[("main.tf", main)]);
    let n = r.res("azurerm_network_security_group.n");
    let rules = n.body.get("security_rule").unwrap().as_array().unwrap();
    assert_eq!(rules.len(), 3);
    assert_eq!(s(rules[0].get("name")), Some("a"));
    assert_eq!(rules[1].get("port").unwrap().value, Value::Int(443));
    assert_eq!(rules[1].get("idx").unwrap().value, Value::Int(1));
    // the collection may be empty, so the block may not exist: the blocks are unknown, and
    // neither they nor their constant arguments are taken as set
    assert!(n.body.get("unknown_one").unwrap().is_unknown());
    // beside a block that surely exists: the blocks are known to be there, the dynamic
    // ones (first, as written) unknown
    let m = r.res("azurerm_network_security_group.mixed");
    let rules = m.body.get("security_rule").unwrap().as_array().unwrap();
    assert_eq!(rules.len(), 2);
    assert!(rules[0].is_unknown());
    assert_eq!(s(rules[1].get("name")), Some("static"));
}

#[test]
fn local_module_input_span_in_caller() {
    let root = r#"
terraform {
  required_providers {
    azurerm = { source = "hashicorp/azurerm", version = "~> 3.100" }
  }
}
module "net" {
  source   = "./modules/net"
  name     = "vnet1"
  subnets  = { a = "10.0.1.0/24", b = "10.0.2.0/24" }
}
resource "azurerm_x" "uses" {
  name = module.net.vnet_name
}
"#;
    let child = r#"
variable "name" { type = string }
variable "subnets" { type = map(string) }
variable "settings" {
  type = object({
    https_only = optional(bool, true)
    tls        = optional(string)
  })
  default = {}
}
resource "azurerm_virtual_network" "v" {
  name       = var.name
  https_only = var.settings.https_only
}
resource "azurerm_subnet" "s" {
  for_each         = var.subnets
  name             = each.key
  address_prefixes = [each.value]
  vnet             = azurerm_virtual_network.v.name
}
output "vnet_name" { value = azurerm_virtual_network.v.name }
"#;
    let r = run(&[("main.tf", root), ("modules/net/main.tf", child)]);
    let v = r.res("module.net.azurerm_virtual_network.v");
    let name = v.body.get("name").unwrap();
    assert_eq!(name.as_str(), Some("vnet1"));
    assert_eq!(r.file_of(name.span), "main.tf");
    assert_eq!(r.text(name.span), "\"vnet1\"");
    assert_eq!(v.body.get("https_only").unwrap().value, Value::Bool(true));
    assert_eq!(v.call_chain.len(), 1);
    assert_eq!(r.text(v.call_chain[0]), "module \"net\"");
    assert_eq!(v.api_version.as_deref(), Some("3.100.0"));
    let sub = r.res("module.net.azurerm_subnet.s[\"b\"]");
    assert_eq!(s(sub.body.get("vnet")), Some("vnet1"));
    assert!(sub
        .links
        .iter()
        .any(|l| l.target == "module.net.azurerm_virtual_network.v" && l.path == "vnet"));
    assert_eq!(r.res("azurerm_x.uses").name.as_deref(), Some("vnet1"));
    // the called directory is not evaluated again as a root of its own
    assert!(!r
        .out
        .resources
        .iter()
        .any(|x| x.address == "azurerm_virtual_network.v"));
}

#[test]
fn module_for_each_and_registry_and_cycle() {
    let root = r#"
module "m" {
  for_each = toset(["x", "y"])
  source   = "./m"
  n        = each.key
}
module "naming" {
  source  = "Azure/naming/azurerm"
  version = "0.4.0"
}
resource "azurerm_x" "r" { name = module.naming.storage_account.name_unique }
"#;
    let m = "variable \"n\" {}\nresource \"azurerm_x\" \"r\" { name = var.n }\nmodule \"again\" { source = \"../m\" }\n";
    let r = run(&[("main.tf", root), ("m/main.tf", m)]);
    assert_eq!(
        r.res("module.m[\"x\"].azurerm_x.r").name.as_deref(),
        Some("x")
    );
    assert_eq!(
        r.res("module.m[\"y\"].azurerm_x.r").name.as_deref(),
        Some("y")
    );
    assert!(r.res("azurerm_x.r").body.get("name").unwrap().is_unknown());
    assert!(r.has_diag("module naming from registry source 'Azure/naming/azurerm' not fetched"));
    assert!(r.has_diag("cycle"));
    assert!(r
        .out
        .diagnostics
        .iter()
        .all(|d| d.severity == DiagSeverity::Warning));
}

#[test]
fn links_by_kind() {
    let main = r#"
resource "azurerm_storage_account" "logs" { name = "logs" }
resource "azurerm_monitor_diagnostic_setting" "d" {
  name               = "diag"
  target_resource_id = azurerm_storage_account.logs.id
  storage_account_id = local.sa
  depends_on         = [azurerm_storage_account.logs]
  network_rules {
    subnet_ids = [azurerm_subnet.s.id]
  }
}
resource "azurerm_subnet" "s" { name = "s" }
locals { sa = azurerm_storage_account.logs.id }
"#;
    let r = run(&[("main.tf", main)]);
    let d = r.res("azurerm_monitor_diagnostic_setting.d");
    let has = |kind: EdgeKind, path: &str, target: &str| {
        d.links
            .iter()
            .any(|l| l.kind == kind && l.path == path && l.target == target)
    };
    assert!(has(
        EdgeKind::Scope,
        "target_resource_id",
        "azurerm_storage_account.logs"
    ));
    assert!(has(
        EdgeKind::Reference,
        "storage_account_id",
        "azurerm_storage_account.logs"
    ));
    assert!(has(
        EdgeKind::DependsOn,
        "depends_on",
        "azurerm_storage_account.logs"
    ));
    assert!(has(
        EdgeKind::Reference,
        "network_rules.subnet_ids",
        "azurerm_subnet.s"
    ));
    assert!(d.body.get("target_resource_id").unwrap().is_unknown());
}

#[test]
fn azapi_lowering_v1_and_v2() {
    let main = r#"
resource "azurerm_storage_account" "sa" { name = "sa1" }
resource "azapi_resource" "v2" {
  type      = "Microsoft.Storage/storageAccounts@2023-01-01"
  name      = "st2"
  location  = "westeurope"
  parent_id = "/subscriptions/x/resourceGroups/rg"
  identity {
    type         = "UserAssigned"
    identity_ids = ["/id/1"]
  }
  body = {
    kind = "StorageV2"
    properties = {
      supportsHttpsTrafficOnly = false
      minimumTlsVersion        = "TLS1_0"
    }
  }
}
resource "azapi_resource" "v1" {
  type = "Microsoft.KeyVault/vaults@2022-07-01"
  name = "kv1"
  body = jsonencode({
    properties = {
      enablePurgeProtection = false
    }
  })
}
resource "azapi_update_resource" "u" {
  type        = "Microsoft.Storage/storageAccounts@2023-01-01"
  resource_id = azurerm_storage_account.sa.id
  body = { properties = { allowBlobPublicAccess = false } }
}
"#;
    let r = run(&[("main.tf", main)]);
    let v2 = r.res("azapi_resource.v2");
    assert_eq!(v2.dialect, Dialect::Arm);
    assert_eq!(v2.type_name, "Microsoft.Storage/storageAccounts");
    assert_eq!(v2.api_version.as_deref(), Some("2023-01-01"));
    assert_eq!(s(v2.body.get("kind")), Some("StorageV2"));
    let props = v2.body.get("properties").unwrap();
    assert_eq!(
        props.get("supportsHttpsTrafficOnly").unwrap().value,
        Value::Bool(false)
    );
    assert_eq!(
        r.text(props.get("minimumTlsVersion").unwrap().span),
        "\"TLS1_0\""
    );
    let ident = v2.body.get("identity").unwrap();
    assert!(ident
        .get("userAssignedIdentities")
        .unwrap()
        .get("/id/1")
        .is_some());
    let v1 = r.res("azapi_resource.v1");
    assert_eq!(v1.type_name, "Microsoft.KeyVault/vaults");
    let p = v1.body.get("properties").unwrap();
    assert_eq!(
        p.get("enablePurgeProtection").unwrap().value,
        Value::Bool(false)
    );
    assert_eq!(
        r.text(p.get("enablePurgeProtection").unwrap().span),
        "false"
    );
    let u = r.res("azapi_update_resource.u");
    assert_eq!(u.dialect, Dialect::Arm);
    assert!(u
        .links
        .iter()
        .any(|l| l.kind == EdgeKind::Reference && l.target == "azurerm_storage_account.sa"));
}

#[test]
fn provider_version_detection() {
    let v3 = "terraform {\n required_providers {\n azurerm = { source = \"hashicorp/azurerm\", version = \"~> 3.117\" }\n }\n}\nresource \"azurerm_x\" \"r\" {}\n";
    let v4 = "terraform {\n required_providers {\n azurerm = { source = \"hashicorp/azurerm\", version = \">= 4.0, < 5.0\" }\n }\n}\nresource \"azurerm_x\" \"r\" {}\n";
    let none = "resource \"azurerm_x\" \"r\" {}\n";
    assert_eq!(
        run(&[("main.tf", v3)])
            .res("azurerm_x.r")
            .api_version
            .as_deref(),
        Some("3.117.0")
    );
    assert_eq!(
        run(&[("main.tf", v4)])
            .res("azurerm_x.r")
            .api_version
            .as_deref(),
        Some("4.0.0")
    );
    assert_eq!(
        run(&[("main.tf", none)]).res("azurerm_x.r").api_version,
        None
    );
    assert_eq!(
        run_with(&[("main.tf", none)], &[], Some("4.10.0"))
            .res("azurerm_x.r")
            .api_version
            .as_deref(),
        Some("4.10.0")
    );
    let lock =
        "provider \"registry.terraform.io/hashicorp/azurerm\" {\n version = \"3.117.1\"\n}\n";
    let r = run(&[("main.tf", v3), (".terraform.lock.hcl", lock)]);
    assert_eq!(r.res("azurerm_x.r").api_version.as_deref(), Some("3.117.1"));
}

#[test]
fn huge_count_is_capped() {
    let r = run(&[(
        "main.tf",
        "resource \"azurerm_x\" \"r\" {\n count = 10000000\n name = \"x${count.index}\"\n}\n",
    )]);
    assert_eq!(r.out.resources.len(), expand::MAX_INSTANCES);
    assert!(r.has_diag("capped"));
}

#[test]
fn exponential_doubling_is_bounded() {
    let mut text = String::from("locals {\n  l0 = [\"x\"]\n");
    for i in 1..=64 {
        text.push_str(&format!(
            "  l{i} = concat(local.l{}, local.l{})\n",
            i - 1,
            i - 1
        ));
    }
    text.push_str("  s0 = \"ab\"\n");
    for i in 1..=64 {
        text.push_str(&format!(
            "  s{i} = \"${{local.s{}}}${{local.s{}}}\"\n",
            i - 1,
            i - 1
        ));
    }
    text.push_str("}\nresource \"azurerm_x\" \"r\" {\n  a = local.l64\n  b = local.s64\n}\n");
    let r = run(&[("main.tf", &text)]);
    let res = r.res("azurerm_x.r");
    assert!(res.body.get("a").unwrap().is_unknown());
    assert!(res.body.get("b").unwrap().is_unknown());
    assert!(r.has_diag("too large"));
}

#[test]
fn syntax_error_is_reported() {
    let r = run(&[
        ("main.tf", "resource \"azurerm_x\" \"r\" {\n  name = \n}\n"),
        ("ok.tf", "resource \"azurerm_x\" \"ok\" {}\n"),
    ]);
    let d = r
        .out
        .diagnostics
        .iter()
        .find(|d| d.severity == DiagSeverity::Error)
        .expect("an error");
    assert_eq!(r.file_of(d.span), "main.tf");
    let lc = r.sources.get(d.span.file).line_col(d.span.start);
    assert!(lc.line >= 2, "{lc:?}");
    r.res("azurerm_x.ok");
}

#[test]
fn expressions() {
    let main = r#"
variable "env" { default = "prod" }
data "x" "y" {}
locals {
  names  = ["a", "b", "c"]
  upper  = [for n in local.names : upper(n) if n != "b"]
  byname = { for n in local.names : n => length(n) }
  groups = { for n in ["x", "y", "x"] : n => n... }
  objs   = [{ id = 1 }, { id = 2 }]
  ids    = local.objs[*].id
  first  = local.objs.*.id[1]
  tpl    = "%{ if var.env == "prod" }P%{ else }D%{ endif }-%{ for n in local.names }${n}%{ endfor }"
  doc    = <<-EOT
    hello
      ${var.env}
    EOT
  cond   = data.x.y.z ? "same" : "same"
  cond2  = data.x.y.z ? "a" : "b"
  t      = try(local.objs[5].id, "fallback")
  c      = can(local.objs[5])
  num    = 7 / 2 + 10 % 4
  sub    = cidrsubnet("10.0.0.0/16", 8, 1)
  js     = jsondecode("{\"a\": [1, 2]}").a[1]
  merged = merge({ a = 1 }, { b = 2 }, { a = 3 })
  fl     = flatten([[1], [2, [3]]])
  fmt    = format("%s-%d", "x", 5)
}
resource "azurerm_x" "r" {
  upper  = local.upper
  byname = local.byname
  groups = local.groups
  ids    = local.ids
  first  = local.first
  tpl    = local.tpl
  doc    = local.doc
  cond   = local.cond
  cond2  = local.cond2
  t      = local.t
  c      = local.c
  num    = local.num
  sub    = local.sub
  js     = local.js
  merged = local.merged
  fl     = local.fl
  fmt    = local.fmt
  unk    = nosuchfunction(1)
  prov   = provider::azurerm::parse_resource_id("x")
}
"#;
    let r = run(&[("main.tf", main)]);
    let b = &r.res("azurerm_x.r").body;
    let strs = |n: &Node| -> Vec<String> {
        n.as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(strs(b.get("upper").unwrap()), vec!["A", "C"]);
    assert_eq!(
        b.get("byname").unwrap().get("c").unwrap().value,
        Value::Int(1)
    );
    assert_eq!(
        b.get("groups")
            .unwrap()
            .get("x")
            .unwrap()
            .as_array()
            .unwrap()
            .len(),
        2
    );
    assert_eq!(
        b.get("ids").unwrap().as_array().unwrap()[1].value,
        Value::Int(2)
    );
    assert_eq!(b.get("first").unwrap().value, Value::Int(2));
    assert_eq!(s(b.get("tpl")), Some("P-abc"));
    assert_eq!(s(b.get("doc")), Some("hello\n  prod\n"));
    assert_eq!(s(b.get("cond")), Some("same"));
    assert!(b.get("cond2").unwrap().is_unknown());
    assert_eq!(s(b.get("t")), Some("fallback"));
    assert_eq!(b.get("c").unwrap().value, Value::Bool(false));
    assert_eq!(b.get("num").unwrap().value, Value::Float(5.5));
    assert_eq!(s(b.get("sub")), Some("10.0.1.0/24"));
    assert_eq!(b.get("js").unwrap().value, Value::Int(2));
    assert_eq!(
        b.get("merged").unwrap().get("a").unwrap().value,
        Value::Int(3)
    );
    assert_eq!(b.get("fl").unwrap().as_array().unwrap().len(), 3);
    assert_eq!(s(b.get("fmt")), Some("x-5"));
    assert!(b.get("unk").unwrap().is_unknown());
    assert!(b.get("prov").unwrap().is_unknown());
    assert!(r.has_diag("unknown function nosuchfunction"));
}

#[test]
fn tf_json_and_override() {
    let json = r#"{
  "terraform": { "required_providers": { "azurerm": { "source": "hashicorp/azurerm", "version": "~> 4.2" } } },
  "locals": [ { "unused": 1 } ],
  "variable": { "n": { "default": "fromjson" } },
  "resource": { "azurerm_storage_account": { "j": {
    "name": "${var.n}",
    "min_tls_version": "TLS1_0",
    "network_rules": { "default_action": "Allow" },
    "tags": { "env": "x" }
  } } }
}"#;
    let main = "resource \"azurerm_x\" \"o\" {\n  a = 1\n  b = 2\n}\n";
    let over = "resource \"azurerm_x\" \"o\" {\n  b = 3\n}\n";
    let r = run(&[
        ("main.tf.json", json),
        ("other.tf", main),
        ("override.tf", over),
    ]);
    let j = r.res("azurerm_storage_account.j");
    assert_eq!(j.name.as_deref(), Some("fromjson"));
    assert_eq!(j.api_version.as_deref(), Some("4.2.0"));
    assert_eq!(
        r.text(j.body.get("min_tls_version").unwrap().span),
        "\"TLS1_0\""
    );
    let nr = j.body.get("network_rules").unwrap().as_array().unwrap();
    assert_eq!(s(nr[0].get("default_action")), Some("Allow"));
    assert_eq!(s(j.body.get("tags").unwrap().get("env")), Some("x"));
    let o = r.res("azurerm_x.o");
    assert_eq!(o.body.get("a").unwrap().value, Value::Int(1));
    assert_eq!(o.body.get("b").unwrap().value, Value::Int(3));
}

#[test]
fn hostile_inputs_do_not_hang_or_crash() {
    let deep = format!(
        "locals {{ a = {}1{} }}\n",
        "[".repeat(100_000),
        "]".repeat(100_000)
    );
    let chain = format!("locals {{ a = {}1 }}\n", "1 + ".repeat(20_000));
    let neg = format!(
        "locals {{ a = {}1 }}\nresource \"azurerm_x\" \"r\" {{ a = local.a }}\n",
        "- ".repeat(5_000)
    );
    for text in [deep, chain, neg] {
        let r = run(&[("main.tf", &text)]);
        let _ = r.out.resources.len();
    }
    let mut self_ref = String::from("resource \"azurerm_x\" \"a\" { name = azurerm_x.b.name }\nresource \"azurerm_x\" \"b\" { name = azurerm_x.a.name }\n");
    // a web of resources each naming two others: cycles must not branch exponentially
    for i in 0..40 {
        self_ref.push_str(&format!(
            "resource \"azurerm_y\" \"r{i}\" {{\n  name = \"${{azurerm_y.r{}.name}}${{azurerm_y.r{}.name}}\"\n}}\n",
            (i + 1) % 40,
            (i + 7) % 40
        ));
    }
    let started = std::time::Instant::now();
    let r = run(&[("main.tf", &self_ref)]);
    assert!(r.res("azurerm_x.a").body.get("name").unwrap().is_unknown());
    assert!(r.res("azurerm_y.r3").body.get("name").unwrap().is_unknown());
    assert!(started.elapsed().as_secs() < 5);
}

const PLAN: &str = r#"{
  "format_version": "1.2",
  "planned_values": { "root_module": {
    "resources": [
      { "address": "azurerm_storage_account.sa", "mode": "managed", "type": "azurerm_storage_account", "name": "sa",
        "values": { "name": "stprod", "min_tls_version": "TLS1_0", "https_traffic_only_enabled": true,
                    "network_rules": [ { "default_action": "Allow" } ] } },
      { "address": "data.azurerm_client_config.c", "mode": "data", "type": "azurerm_client_config", "name": "c", "values": {} }
    ],
    "child_modules": [ { "address": "module.m", "resources": [
      { "address": "module.m.azapi_resource.kv[0]", "mode": "managed", "type": "azapi_resource", "name": "kv", "index": 0,
        "values": { "type": "Microsoft.KeyVault/vaults@2023-07-01", "name": "kv1",
                    "body": { "properties": { "enablePurgeProtection": false } } } }
    ] } ]
  } },
  "resource_changes": [
    { "address": "azurerm_storage_account.sa", "change": { "actions": ["create"], "after_unknown": { "id": true, "primary_access_key": true } } }
  ],
  "configuration": {
    "provider_config": { "azurerm": { "name": "azurerm", "version_constraint": "~> 4.1" } },
    "root_module": { "resources": [
      { "address": "azurerm_storage_account.sa", "mode": "managed",
        "expressions": { "resource_group_name": { "references": ["azurerm_resource_group.rg.name", "azurerm_resource_group.rg"] } } }
    ] }
  }
}"#;

#[test]
fn plan_json_alone() {
    let r = run(&[("plan.json", PLAN)]);
    let sa = r.res("azurerm_storage_account.sa");
    assert_eq!(sa.name.as_deref(), Some("stprod"));
    assert_eq!(sa.api_version.as_deref(), Some("4.1.0"));
    assert!(sa.body.get("id").unwrap().is_unknown());
    assert_eq!(r.file_of(sa.header), "plan.json");
    assert_eq!(
        r.text(sa.body.get("min_tls_version").unwrap().span),
        "\"TLS1_0\""
    );
    assert!(sa
        .links
        .iter()
        .any(|l| l.path == "resource_group_name" && l.target == "azurerm_resource_group.rg"));
    let kv = r.res("module.m.azapi_resource.kv[0]");
    assert_eq!(kv.dialect, Dialect::Arm);
    assert_eq!(kv.type_name, "Microsoft.KeyVault/vaults");
    assert_eq!(
        kv.body
            .get("properties")
            .unwrap()
            .get("enablePurgeProtection")
            .unwrap()
            .value,
        Value::Bool(false)
    );
    assert_eq!(r.out.resources.len(), 2);
}

#[test]
fn plan_json_maps_back_to_configuration() {
    let main = "variable \"env\" {}\nresource \"azurerm_storage_account\" \"sa\" {\n  name            = \"st${var.env}\"\n  min_tls_version = \"TLS1_0\"\n}\n";
    let r = run(&[("main.tf", main), ("plan.json", PLAN)]);
    let sa = r.res("azurerm_storage_account.sa");
    // the plan knows the value; the configuration knows where it was written
    assert_eq!(sa.name.as_deref(), Some("stprod"));
    assert_eq!(r.file_of(sa.header), "main.tf");
    assert_eq!(
        r.text(sa.body.get("min_tls_version").unwrap().span),
        "\"TLS1_0\""
    );
    assert_eq!(
        r.text(sa.body.get("name").unwrap().span),
        "\"st${var.env}\""
    );
    // a provider default points at the block
    assert_eq!(
        sa.body.get("https_traffic_only_enabled").unwrap().span,
        sa.header
    );
    assert_eq!(
        r.out
            .resources
            .iter()
            .filter(|x| x.address == "azurerm_storage_account.sa")
            .count(),
        1
    );
}

#[test]
fn fetched_modules_json_and_escaping_sources() {
    let other = tempfile::tempdir().unwrap();
    std::fs::write(
        other.path().join("main.tf"),
        "resource \"azurerm_x\" \"far\" { name = \"far\" }\n",
    )
    .unwrap();
    let other_name = other
        .path()
        .file_name()
        .unwrap()
        .to_string_lossy()
        .to_string();
    let main = format!(
        "module \"naming\" {{\n  source  = \"Azure/naming/azurerm\"\n  version = \"0.4.0\"\n  suffix  = [\"x\"]\n}}\nmodule \"far\" {{\n  source = \"../{other_name}\"\n}}\nresource \"azurerm_x\" \"r\" {{ name = module.naming.storage_account.name }}\n"
    );
    let mj = r#"{"Modules":[{"Key":"","Source":"","Dir":"."},{"Key":"naming","Source":"registry.terraform.io/Azure/naming/azurerm","Version":"0.4.0","Dir":".terraform/modules/naming"}]}"#;
    let naming = "variable \"suffix\" {}\noutput \"storage_account\" { value = { name = \"st${join(\"\", var.suffix)}\" } }\n";
    let r = run(&[
        ("main.tf", &main),
        (".terraform/modules/modules.json", mj),
        (".terraform/modules/naming/main.tf", naming),
        (".git/HEAD", "ref: refs/heads/main\n"),
    ]);
    assert_eq!(r.res("azurerm_x.r").name.as_deref(), Some("stx"));
    assert!(!r.has_diag("not fetched"));
    assert_eq!(
        r.res("module.far.azurerm_x.far").name.as_deref(),
        Some("far")
    );
    assert!(r.has_diag("outside the repository"));
}

#[test]
fn var_files_tfvars_json_and_bad_defaults() {
    let dir = tempfile::tempdir().unwrap();
    let sources = SourceMap::default();
    let main = "variable \"a\" {\n type = number\n default = \"not a number\"\n}\nvariable \"b\" {}\nvariable \"c\" { type = list(string) }\nresource \"azurerm_x\" \"r\" {\n  a = var.a\n  b = var.b\n  c = var.c\n}\n";
    let files = [
        ("main.tf", main),
        ("terraform.tfvars.json", "{\"b\": \"json\", \"c\": [\"x\"]}"),
        ("prod.tfvars", "b = \"prod\"\n"),
    ];
    let mut ids = Vec::new();
    for (rel, text) in files {
        let p = dir.path().join(rel);
        std::fs::write(&p, text).unwrap();
        ids.push(sources.add(p, rel.to_string(), text.to_string()));
    }
    let out = evaluate(&Input {
        sources: &sources,
        files: ids,
        root: dir.path(),
        var_files: vec![dir.path().join("prod.tfvars")],
        vars: vec![("c".into(), "[\"y\", \"z\"]".into())],
        assume_azurerm: None,
    });
    let r = out
        .resources
        .iter()
        .find(|r| r.address == "azurerm_x.r")
        .unwrap();
    assert_eq!(s(r.body.get("b")), Some("prod"));
    assert_eq!(r.body.get("c").unwrap().as_array().unwrap().len(), 2);
    let c0 = &r.body.get("c").unwrap().as_array().unwrap()[0];
    assert_eq!(sources.get(c0.span.file).rel_path, "<command line>");
    assert!(out
        .diagnostics
        .iter()
        .any(|d| d.message.contains("default of variable 'a' does not match")));
}

#[test]
fn null_arguments_are_absent() {
    let main = "variable \"tls\" { default = null }\nresource \"azurerm_storage_account\" \"a\" {\n  name            = \"x\"\n  min_tls_version = var.tls\n  network_rules {\n    default_action = null\n    bypass         = [\"AzureServices\"]\n  }\n}\n";
    let r = run(&[("main.tf", main)]);
    let a = r.res("azurerm_storage_account.a");
    assert!(a.body.get("min_tls_version").is_none());
    let nr = &a.body.get("network_rules").unwrap().as_array().unwrap()[0];
    assert!(nr.get("default_action").is_none());
    assert!(nr.get("bypass").is_some());
    assert_eq!(r.text(nr.span), "network_rules");
}

#[test]
fn bom_and_crlf() {
    let text = "\u{feff}resource \"azurerm_x\" \"r\" {\r\n  name = \"a\"\r\n  doc  = <<EOT\r\nline\r\nEOT\r\n}\r\n";
    let r = run(&[("main.tf", text)]);
    let res = r.res("azurerm_x.r");
    assert_eq!(res.name.as_deref(), Some("a"));
    assert_eq!(r.text(res.body.get("name").unwrap().span), "\"a\"");
}

#[test]
fn data_source_arguments_are_known() {
    let main = "data \"azurerm_resource_group\" \"rg\" {\n  name = \"rg-prod\"\n}\nresource \"azurerm_x\" \"r\" {\n  resource_group_name = data.azurerm_resource_group.rg.name\n  location            = data.azurerm_resource_group.rg.location\n}\n";
    let r = run(&[("main.tf", main)]);
    let res = r.res("azurerm_x.r");
    assert_eq!(s(res.body.get("resource_group_name")), Some("rg-prod"));
    assert!(res.body.get("location").unwrap().is_unknown());
    assert!(res.links.is_empty());
    assert_eq!(r.out.resources.len(), 1);
}

#[test]
fn for_each_over_another_resource() {
    let main = r#"
resource "azurerm_storage_account" "sa" {
  for_each = toset(["a", "b"])
  name     = "st${each.key}"
}
resource "azurerm_storage_container" "c" {
  for_each             = azurerm_storage_account.sa
  name                 = "c-${each.key}"
  storage_account_name = each.value.name
  storage_account_id   = each.value.id
}
resource "azurerm_x" "self" {
  for_each = azurerm_x.self
}
"#;
    let r = run(&[("main.tf", main)]);
    let c = r.res("azurerm_storage_container.c[\"b\"]");
    assert_eq!(s(c.body.get("storage_account_name")), Some("stb"));
    assert!(c.body.get("storage_account_id").unwrap().is_unknown());
    assert!(c
        .links
        .iter()
        .any(|l| l.path == "storage_account_id" && l.target == "azurerm_storage_account.sa"));
    r.res("azurerm_storage_container.c[\"a\"]");
    r.res("azurerm_x.self[*]");
}

#[test]
fn more_functions() {
    let main = r#"
locals {
 fns = {
  re      = regex("^(?P<name>[a-z]+)-(?P<env>[a-z]+)$", "app-prod")
  all     = regexall("[0-9]+", "a1b22c333")
  fl      = formatlist("%s=%d", ["a", "b"], [1, 2])
  prod    = length(setproduct(["a", "b"], [1, 2, 3]))
  tr      = transpose({ a = ["1", "2"], b = ["2"] })
  zm      = zipmap(["x", "y"], [1, 2])
  csv     = csvdecode("a,b\n1,2\n3,4")
  ts      = templatestring("Hello $${name}", { name = "you" })
  nets    = cidrsubnets("10.0.0.0/16", 8, 8)
  host    = cidrhost("10.0.0.0/24", 5)
  coal    = coalesce("", null, "x")
  lk      = lookup({ a = 1 }, "b", "dflt")
  sl      = slice(["a", "b", "c", "d"], 1, 3)
  srt     = sort(["b", "a", "c"])
  dst     = distinct(["a", "a", "b"])
  rev     = reverse([1, 2, 3])
  sum     = sum([1, 2, 3.5])
  trim    = trim("?!hello?!", "!?")
  split   = split(",", "a,b,c")
  sha     = sha256("abc")
  b64     = base64sha256("abc")
  unk     = upper(data.x.y.z)
  partial = length([data.x.y.z, "a"])
 }
}
data "x" "y" {}
resource "azurerm_x" "each" {
  for_each = local.fns
  v        = each.value
}
"#;
    let r = run(&[("main.tf", main)]);
    let get = |k: &str| {
        r.res(&format!("azurerm_x.each[\"{k}\"]"))
            .body
            .get("v")
            .unwrap()
            .clone()
    };
    assert_eq!(s(get("re").get("env")), Some("prod"));
    assert_eq!(get("all").as_array().unwrap().len(), 3);
    assert_eq!(s(Some(&get("fl").as_array().unwrap()[1])), Some("b=2"));
    assert_eq!(get("prod").value, Value::Int(6));
    assert_eq!(get("tr").get("2").unwrap().as_array().unwrap().len(), 2);
    assert_eq!(get("zm").get("y").unwrap().value, Value::Int(2));
    assert_eq!(s(get("csv").as_array().unwrap()[1].get("b")), Some("4"));
    assert_eq!(s(Some(&get("ts"))), Some("Hello you"));
    assert_eq!(
        s(Some(&get("nets").as_array().unwrap()[1])),
        Some("10.0.1.0/24")
    );
    assert_eq!(s(Some(&get("host"))), Some("10.0.0.5"));
    assert_eq!(s(Some(&get("coal"))), Some("x"));
    assert_eq!(s(Some(&get("lk"))), Some("dflt"));
    assert_eq!(get("sl").as_array().unwrap().len(), 2);
    assert_eq!(s(Some(&get("srt").as_array().unwrap()[0])), Some("a"));
    assert_eq!(get("dst").as_array().unwrap().len(), 2);
    assert_eq!(get("rev").as_array().unwrap()[0].value, Value::Int(3));
    assert_eq!(get("sum").value, Value::Float(6.5));
    assert_eq!(s(Some(&get("trim"))), Some("hello"));
    assert_eq!(get("split").as_array().unwrap().len(), 3);
    assert_eq!(
        s(Some(&get("sha"))),
        Some("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    );
    assert_eq!(
        s(Some(&get("b64"))),
        Some("ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0=")
    );
    assert!(get("unk").is_unknown());
    assert_eq!(get("partial").value, Value::Int(2));
}
