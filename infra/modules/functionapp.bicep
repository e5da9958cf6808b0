// The cloud registry: a Node.js 22 Function App on the Flex Consumption plan, running as the
// user-assigned managed identity. Its app settings are what shared/config.ts reads
// (test/integration/infra.test.ts fails when a setting the code needs is missing here).
// Cosmos DB and Storage are reached with that identity (DefaultAzureCredential picks it by
// AZURE_CLIENT_ID); no key or connection string is set.

@description('Function App name: globally unique, it becomes <name>.azurewebsites.net.')
param name string

@description('Flex Consumption plan name.')
param planName string

@description('Azure region.')
param location string

@description('Resource id of the user-assigned managed identity the app runs as.')
param identityId string

@description('Client id of that identity (AZURE_CLIENT_ID for DefaultAzureCredential).')
param identityClientId string

@description('Memory of each instance in MB.')
@allowed([
  512
  2048
  4096
])
param instanceMemoryMB int

@description('Upper bound on instances the plan scales out to.')
@minValue(1)
@maxValue(1000)
param maximumInstanceCount int

@description('Concurrent HTTP requests per instance before the plan adds one.')
@minValue(1)
@maxValue(1000)
param httpPerInstanceConcurrency int

@description('Instances kept warm for the HTTP functions (0: scale to zero, with cold starts).')
@minValue(0)
param alwaysReadyHttpInstances int

@description('Largest HTTP request body the Functions host accepts, in bytes (FUNCTIONS_REQUEST_BODY_SIZE_LIMIT).')
param requestBodySizeLimitBytes int

@description('Storage account of the host state and the registry content.')
param storageAccountName string

@description('Blob endpoint, e.g. https://<account>.blob.core.windows.net/.')
param storageBlobEndpoint string

@description('Queue endpoint, e.g. https://<account>.queue.core.windows.net/.')
param storageQueueEndpoint string

@description('URL of the blob container that receives the deployment package.')
param deploymentContainerUrl string

@description('Blob container for registry content (BLOB_CONTAINER).')
param blobContainerName string

@description('Storage queue for import operations (IMPORT_QUEUE).')
param importQueueName string

@description('Cosmos DB account endpoint (COSMOS_ENDPOINT).')
param cosmosEndpoint string

@description('Cosmos DB database name (COSMOS_DATABASE).')
param cosmosDatabaseName string

@description('Key Vault reference to the token-signing key (TOKEN_SIGNING_KEY).')
param signingKeyReference string

@description('Host name clients log in to (REGISTRY_LOGIN_SERVER).')
param loginServer string

@secure()
@description('scrypt hash of the admin key (ADMIN_KEY_HASH); empty for none.')
param adminKeyHash string

@description('Microsoft Entra tenant id whose tokens the management API accepts; empty for none.')
param adminEntraTenantId string

@description('Audience (application id URI or client id) of those tokens.')
param adminEntraAudience string

@description('Application Insights connection string.')
param appInsightsConnectionString string

@description('Tags for every resource.')
param tags object

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  name: planName
  location: location
  tags: tags
  kind: 'functionapp'
  sku: {
    name: 'FC1'
    tier: 'FlexConsumption'
  }
  properties: {
    reserved: true
  }
}

var baseAppSettings = [
  // The Functions host's own storage (timer locks, keys), reached as the managed identity.
  {
    name: 'AzureWebJobsStorage__accountName'
    value: storageAccountName
  }
  {
    name: 'AzureWebJobsStorage__credential'
    value: 'managedidentity'
  }
  {
    name: 'AzureWebJobsStorage__clientId'
    value: identityClientId
  }
  {
    name: 'APPLICATIONINSIGHTS_CONNECTION_STRING'
    value: appInsightsConnectionString
  }
  // Application Insights has local auth off: telemetry is sent as the managed identity.
  {
    name: 'APPLICATIONINSIGHTS_AUTHENTICATION_STRING'
    value: 'ClientId=${identityClientId};Authorization=AAD'
  }
  // Blob uploads stream through the app (app.setup({ enableHttpStream: true }) in
  // functions/index.ts); the host still refuses bodies over this size (default 100 MB).
  {
    name: 'FUNCTIONS_REQUEST_BODY_SIZE_LIMIT'
    value: string(requestBodySizeLimitBytes)
  }
  // The root URL is not the Functions landing page.
  {
    name: 'AzureWebJobsDisableHomepage'
    value: 'true'
  }
  // DefaultAzureCredential takes the user-assigned identity from here.
  {
    name: 'AZURE_CLIENT_ID'
    value: identityClientId
  }
  {
    name: 'COSMOS_ENDPOINT'
    value: cosmosEndpoint
  }
  {
    name: 'COSMOS_DATABASE'
    value: cosmosDatabaseName
  }
  {
    name: 'STORAGE_BLOB_ENDPOINT'
    value: storageBlobEndpoint
  }
  {
    name: 'STORAGE_QUEUE_ENDPOINT'
    value: storageQueueEndpoint
  }
  {
    name: 'BLOB_CONTAINER'
    value: blobContainerName
  }
  {
    name: 'IMPORT_QUEUE'
    value: importQueueName
  }
  {
    name: 'REGISTRY_LOGIN_SERVER'
    value: loginServer
  }
  {
    name: 'TOKEN_SIGNING_KEY'
    value: signingKeyReference
  }
]

// Optional settings are left out rather than set empty: the app refuses an empty hash or URL.
var adminKeySettings = empty(adminKeyHash)
  ? []
  : [
      {
        name: 'ADMIN_KEY_HASH'
        value: adminKeyHash
      }
    ]

var adminEntraSettings = empty(adminEntraTenantId)
  ? []
  : [
      {
        name: 'ADMIN_ENTRA_ISSUER'
        value: '${environment().authentication.loginEndpoint}${adminEntraTenantId}/v2.0'
      }
      {
        name: 'ADMIN_ENTRA_AUDIENCE'
        value: adminEntraAudience
      }
      {
        name: 'ADMIN_ENTRA_JWKS_URL'
        value: '${environment().authentication.loginEndpoint}${adminEntraTenantId}/discovery/v2.0/keys'
      }
    ]

resource site 'Microsoft.Web/sites@2024-04-01' = {
  name: name
  location: location
  tags: tags
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identityId}': {}
    }
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    // Key Vault references (TOKEN_SIGNING_KEY) resolve as the user-assigned identity.
    keyVaultReferenceIdentity: identityId
    siteConfig: {
      minTlsVersion: '1.2'
      appSettings: concat(baseAppSettings, adminKeySettings, adminEntraSettings)
    }
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: deploymentContainerUrl
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: identityId
          }
        }
      }
      scaleAndConcurrency: {
        instanceMemoryMB: instanceMemoryMB
        maximumInstanceCount: maximumInstanceCount
        alwaysReady: alwaysReadyHttpInstances > 0
          ? [
              {
                name: 'http'
                instanceCount: alwaysReadyHttpInstances
              }
            ]
          : []
        triggers: {
          http: {
            perInstanceConcurrency: httpPerInstanceConcurrency
          }
        }
      }
      runtime: {
        name: 'node'
        // The Node major that package.json's engines asks for (the contract test holds them together).
        version: '22'
      }
    }
  }
}

// Deployments authenticate with Microsoft Entra ID; no publishing passwords.
resource ftpPublishing 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: site
  name: 'ftp'
  properties: {
    allow: false
  }
}

resource scmPublishing 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: site
  name: 'scm'
  properties: {
    allow: false
  }
}

output name string = site.name
output defaultHostName string = site.properties.defaultHostName
