targetScope = 'resourceGroup'
@description('names')
param names array = ['a', 'b']
var tags = { env: 'dev', 'odd key': 1 }
resource sa 'Microsoft.Storage/storageAccounts@2023-01-01' = [for (n, i) in names: if (i > 0) {
  name: 'st${n}${uniqueString(resourceGroup().id)}'
  location: resourceGroup().location
  properties: {
    supportsHttpsTrafficOnly: false // comment
    minimumTlsVersion: tags.?env == 'dev' ? 'TLS1_0' : 'TLS1_2'
  }
}]
module m './missing.bicep' = { name: 'm', params: { x: sa[0].id } }
output ids array = map(range(0, length(names)), i => sa[i].id)
