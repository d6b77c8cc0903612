#!/usr/bin/env python3
"""Regenerates controls/cis-azure-v3.0.0.tsv from the shared control catalog (table 1).

    python3 tools/gen-controls.py ../shared/catalog/cis-azure-v3.md > controls/cis-azure-v3.0.0.tsv

Columns: id, level (1/2), iac (yes/partial/no), azurerm_only (yes when the only IaC form is
another provider, e.g. azuread), mcsb ids (comma-separated), title.
"""
import re, sys

text = open(sys.argv[1], encoding="utf-8").read()
section = text.split("## 1. All CIS Azure v3.0.0 recommendations", 1)[1].split("\n## 2.", 1)[0]
print("id\tlevel\tiac\tother_provider\tmcsb\ttitle")
for line in section.splitlines():
    if not re.match(r"^\| \d+(\.\d+)* \|", line):
        continue
    cells = [c.strip() for c in line.strip().strip("|").split("|")]
    rec, title, lvl, _am, mcsb, iac, why = cells[:7]
    level = "2" if lvl.startswith("L2") else "1"
    ids = sorted(set(re.findall(r"[A-Z]{2}-\d+", mcsb)), key=lambda s: (s[:2], int(s[3:])))
    other = "yes" if "azuread provider only" in why else "no"
    print(f"{rec}\t{level}\t{iac}\t{other}\t{','.join(ids)}\t{title}")
