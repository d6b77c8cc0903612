terraform {
  required_providers {
    azurerm = { source = "hashicorp/azurerm", version = "~> 3.0" }
  }
}
variable "names" {
  type    = list(string)
  default = ["a", "b"]
}
locals {
  tags = merge({ env = "dev" }, { for n in var.names : n => upper(n) })
}
resource "azurerm_storage_account" "sa" {
  for_each                 = toset(var.names)
  name                     = "st${each.key}"
  min_tls_version          = "TLS1_0"
  enable_https_traffic_only = false
  tags                     = local.tags
  dynamic "network_rules" {
    for_each = var.names
    content { default_action = "Allow" }
  }
}
module "m" {
  source = "./missing"
  n      = length(azurerm_storage_account.sa)
}
