// Cosmos DB for NoSQL, serverless: the registry's metadata. Keys are off (disableLocalAuth), so
// the app reaches it only with its managed identity and the data-plane role assigned below.
// The containers mirror shared/store/cosmos/containers.ts: same ids, partition keys and
// default TTLs (test/integration/infra.test.ts holds the two together). The app never creates
// a database or container itself: with a data-plane role it cannot.

@description('Cosmos DB account name: 3-44 lowercase letters, digits and hyphens, globally unique.')
@minLength(3)
@maxLength(44)
param accountName string

@description('Azure region (serverless accounts have a single region).')
param location string

@description('Database name (app setting COSMOS_DATABASE).')
param databaseName string

@description('Continuous backup tier: point-in-time restore over the last 7 or 30 days.')
@allowed([
  'Continuous7Days'
  'Continuous30Days'
])
param backupTier string

@description('Principal (object) id of the app\'s managed identity.')
param appPrincipalId string

@description('Tags for every resource.')
param tags object

// Built-in data-plane role: Cosmos DB Built-in Data Contributor.
var dataContributorRoleId = '00000000-0000-0000-0000-000000000002'

resource account 'Microsoft.DocumentDB/databaseAccounts@2024-11-15' = {
  name: accountName
  location: location
  tags: tags
  kind: 'GlobalDocumentDB'
  properties: {
    databaseAccountOfferType: 'Standard'
    locations: [
      {
        locationName: location
        failoverPriority: 0
        isZoneRedundant: false
      }
    ]
    capabilities: [
      {
        name: 'EnableServerless'
      }
    ]
    consistencyPolicy: {
      defaultConsistencyLevel: 'Session'
    }
    backupPolicy: {
      type: 'Continuous'
      continuousModeProperties: {
        tier: backupTier
      }
    }
    disableLocalAuth: true
    disableKeyBasedMetadataWriteAccess: true
    minimalTlsVersion: 'Tls12'
    publicNetworkAccess: 'Enabled'
  }
}

resource database 'Microsoft.DocumentDB/databaseAccounts/sqlDatabases@2024-11-15' = {
  parent: account
  name: databaseName
  properties: {
    resource: {
      id: databaseName
    }
  }
}

// Repositories, manifests, tags, blob links, upload sessions and the catalog: a pull is point reads
// in one partition.
resource artifacts 'Microsoft.DocumentDB/databaseAccounts/sqlDatabases/containers@2024-11-15' = {
  parent: database
  name: 'artifacts'
  properties: {
    resource: {
      id: 'artifacts'
      partitionKey: {
        paths: [
          '/repository'
        ]
        kind: 'Hash'
        version: 2
      }
    }
  }
}

// Scope maps, tokens, connected registries and the limit counters of one registry share a
// partition, so a create and its counter update commit together.
resource identity 'Microsoft.DocumentDB/databaseAccounts/sqlDatabases/containers@2024-11-15' = {
  parent: database
  name: 'identity'
  properties: {
    resource: {
      id: 'identity'
      partitionKey: {
        paths: [
          '/registry'
        ]
        kind: 'Hash'
        version: 2
      }
    }
  }
}

// The change log the sync feed reads. TTL on with no default (-1): entries carry their own ttl.
resource changes 'Microsoft.DocumentDB/databaseAccounts/sqlDatabases/containers@2024-11-15' = {
  parent: database
  name: 'changes'
  properties: {
    resource: {
      id: 'changes'
      partitionKey: {
        paths: [
          '/registry'
        ]
        kind: 'Hash'
        version: 2
      }
      defaultTtl: -1
    }
  }
}

// Import operations; ended ones carry a ttl.
resource operations 'Microsoft.DocumentDB/databaseAccounts/sqlDatabases/containers@2024-11-15' = {
  parent: database
  name: 'operations'
  properties: {
    resource: {
      id: 'operations'
      partitionKey: {
        paths: [
          '/registry'
        ]
        kind: 'Hash'
        version: 2
      }
      defaultTtl: -1
    }
  }
}

resource appDataContributor 'Microsoft.DocumentDB/databaseAccounts/sqlRoleAssignments@2024-11-15' = {
  parent: account
  name: guid(account.id, appPrincipalId, dataContributorRoleId)
  properties: {
    roleDefinitionId: '${account.id}/sqlRoleDefinitions/${dataContributorRoleId}'
    principalId: appPrincipalId
    scope: account.id
  }
}

output endpoint string = account.properties.documentEndpoint
output accountName string = account.name
