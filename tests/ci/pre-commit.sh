#!/usr/bin/env bash
# The pre-commit hook, for real: installs pre-commit from PyPI, makes a throw-away git
# repository with a violating Terraform file, runs `pre-commit try-repo` against this
# repository and expects the hook to fail with the finding; fixes the file and expects a pass.
set -euo pipefail
repo="$(cd "$(dirname "$0")/../.." && pwd)"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "pre-commit: FAIL: $*"; exit 1; }

python3 -m venv "$work/venv"
"$work/venv/bin/pip" install --quiet --disable-pip-version-check pre-commit
export PATH="$work/venv/bin:$PATH" PRE_COMMIT_HOME="$work/cache"
# pre-commit builds the hook with `cargo install`; share our build directory so only the
# basegate crate itself is compiled again.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$repo/target}"

mkdir "$work/proj" && cd "$work/proj"
git init -q
git config user.email t@example.com && git config user.name t
mkdir infra
cat > infra/main.tf <<'TF'
resource "azurerm_storage_account" "logs" {
  name                       = "stlogs"
  resource_group_name        = "rg"
  location                   = "westeurope"
  account_tier               = "Standard"
  account_replication_type   = "LRS"
  https_traffic_only_enabled = false
}
TF
git add infra/main.tf
set +e
pre-commit try-repo "$repo" basegate --files infra/main.tf > "$work/log" 2>&1
code=$?
set -e
[ "$code" != 0 ] || { cat "$work/log"; fail "the hook passed a violating file"; }
grep -q 'BG1001' "$work/log" || { cat "$work/log"; fail "no BG1001 finding in the hook output"; }
grep -q 'infra/main.tf:7' "$work/log" || { cat "$work/log"; fail "the finding is not on infra/main.tf:7"; }

cat > infra/main.tf <<'TF'
resource "azurerm_storage_account" "logs" {
  name                          = "stlogs"
  resource_group_name           = "rg"
  location                      = "westeurope"
  account_tier                  = "Standard"
  account_replication_type      = "LRS"
  https_traffic_only_enabled    = true
  public_network_access_enabled = false
  network_rules {
    default_action = "Deny"
  }
}
TF
git add infra/main.tf
# The gate fails on high findings by default; the fixed file has none left.
pre-commit try-repo "$repo" basegate --files infra/main.tf > "$work/log" 2>&1 || {
  grep -E '^(high|critical)\[' "$work/log" || true
  fail "the hook failed the fixed file"
}
echo "pre-commit: ok (fails on the violation, passes once fixed)"
