// The cloud side of the registry in one resource group: a Function App on the Flex Consumption
// plan (the registry, token server, sync endpoints and management API), Cosmos DB serverless
// (metadata), Storage (content, the import queue), Key Vault (the token-signing key),
// Application Insights with a Log Analytics workspace, and the user-assigned managed identity
// the app runs as, with only the data roles it needs.
//
//   az deployment group create --resource-group <rg> --parameters infra/main.bicepparam
//
// docs/operations.md describes each resource, first deployment, rotation, backup and upgrades.

targetScope = 'resourceGroup'

@description('Prefix of every resource name: 3-11 lowercase letters and digits, starting with a letter. A hash of the resource group and prefix is appended to make names globally unique.')
@minLength(3)
@maxLength(11)
param namePrefix string

@description('Azure region of every resource; it must offer the Flex Consumption plan (az functionapp list-flexconsumption-locations).')
param location string = resourceGroup().location

@description('Memory of each Function App instance in MB (Flex Consumption sizes). 2048 suits most registries; 4096 gives more CPU and network per instance for heavy push/pull traffic.')
@allowed([
  512
  2048
  4096
])
param instanceMemoryMB int = 2048

@description('Most instances the Function App scales out to (Flex Consumption allows up to 1000). Bounds cost and the load on Cosmos DB and Storage.')
@minValue(1)
@maxValue(1000)
param maximumInstanceCount int = 100

@description('Concurrent HTTP requests one instance takes before the plan adds another. Registry requests mostly wait on Storage and Cosmos DB, so this can be higher than the plan default for the memory size.')
@minValue(1)
@maxValue(1000)
param httpPerInstanceConcurrency int = 16

@description('Instances kept running for the HTTP functions even without traffic (billed while idle). 0 scales to zero, at the price of a cold start on the first request.')
@minValue(0)
@maxValue(100)
param alwaysReadyHttpInstances int = 0

@description('Largest request body the Functions host accepts, in bytes (app setting FUNCTIONS_REQUEST_BODY_SIZE_LIMIT, default 100 MB). A monolithic blob upload (docker sends a whole layer in one PATCH) must fit in it. Default: 4 GiB.')
@minValue(104857600)
param requestBodySizeLimitBytes int = 4294967296

@description('Redundancy of the Storage account that holds the registry content. Standard_LRS is offered everywhere; prefer Standard_ZRS or Standard_GZRS in production where the region has availability zones.')
@allowed([
  'Standard_LRS'
  'Standard_ZRS'
  'Standard_GRS'
  'Standard_GZRS'
  'Standard_RAGRS'
  'Standard_RAGZRS'
])
param storageSku string = 'Standard_LRS'

@description('Days a deleted blob or blob container stays restorable (Storage soft delete).')
@minValue(1)
@maxValue(365)
param blobSoftDeleteRetentionDays int = 14

@description('Cosmos DB continuous backup tier: point-in-time restore over the last 7 days (free) or 30 days.')
@allowed([
  'Continuous7Days'
  'Continuous30Days'
])
param cosmosBackupTier string = 'Continuous7Days'

@description('Days Log Analytics keeps logs and telemetry.')
@minValue(30)
@maxValue(730)
param logRetentionDays int = 30

@description('Host name clients use to log in (REGISTRY_LOGIN_SERVER), e.g. a custom domain you bind to the Function App yourself. Empty: <function app>.azurewebsites.net.')
param loginServer string = ''

@secure()
@description('Token-signing key: an EC P-256 private key in PEM (openssl ecparam -name prime256v1 -genkey -noout | openssl pkcs8 -topk8 -nocrypt). Written to Key Vault as the secret token-signing-key. Required on the first deployment; empty on later ones keeps the current secret.')
param tokenSigningKeyPem string = ''

@secure()
@description('scrypt hash of the admin key (ADMIN_KEY_HASH, format scrypt$N$r$p$salt$hash). Empty: no admin key, the management API then accepts only Microsoft Entra ID tokens (if configured).')
param adminKeyHash string = ''

@description('Microsoft Entra tenant id whose access tokens the management API accepts (sets ADMIN_ENTRA_ISSUER and ADMIN_ENTRA_JWKS_URL). Empty: Entra sign-in off.')
param adminEntraTenantId string = ''

@description('Audience of those tokens (ADMIN_ENTRA_AUDIENCE): the application id URI or client id of the app registration that represents the management API. Required with adminEntraTenantId.')
param adminEntraAudience string = ''

@description('Object id of a user or group allowed to rotate the signing key (Key Vault Secrets Officer on the vault). Empty: nobody is granted it here.')
param operatorPrincipalId string = ''

@description('Tags put on every resource.')
param tags object = {}

var prefix = toLower(namePrefix)
var suffix = uniqueString(resourceGroup().id, prefix)
var names = {
  identity: '${prefix}-id-${suffix}'
  workspace: '${prefix}-log-${suffix}'
  appInsights: '${prefix}-appi-${suffix}'
  storage: take('${replace(prefix, '-', '')}st${suffix}', 24)
  cosmos: '${prefix}-cosmos-${suffix}'
  keyVault: take('${prefix}-kv-${suffix}', 24)
  plan: '${prefix}-plan-${suffix}'
  functionApp: '${prefix}-registry-${suffix}'
}

// What the code expects by default (shared/config.ts, shared/store/cosmos/containers.ts); the
// app settings name them too, so the app and the resources cannot disagree.
var cosmosDatabaseName = 'registry'
var blobContainerName = 'registry'
var importQueueName = 'imports'
var deploymentContainerName = 'app-package'
var signingKeySecretName = 'token-signing-key'
var effectiveLoginServer = empty(loginServer) ? '${names.functionApp}.azurewebsites.net' : loginServer

resource appIdentity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: names.identity
  location: location
  tags: tags
}

module monitoring 'modules/monitoring.bicep' = {
  name: 'monitoring'
  params: {
    workspaceName: names.workspace
    appInsightsName: names.appInsights
    location: location
    retentionInDays: logRetentionDays
    telemetryPrincipalId: appIdentity.properties.principalId
    tags: tags
  }
}

module storage 'modules/storage.bicep' = {
  name: 'storage'
  params: {
    name: names.storage
    location: location
    skuName: storageSku
    blobContainerName: blobContainerName
    importQueueName: importQueueName
    deploymentContainerName: deploymentContainerName
    softDeleteRetentionDays: blobSoftDeleteRetentionDays
    appPrincipalId: appIdentity.properties.principalId
    tags: tags
  }
}

module cosmos 'modules/cosmos.bicep' = {
  name: 'cosmos'
  params: {
    accountName: names.cosmos
    location: location
    databaseName: cosmosDatabaseName
    backupTier: cosmosBackupTier
    appPrincipalId: appIdentity.properties.principalId
    tags: tags
  }
}

module keyVault 'modules/keyvault.bicep' = {
  name: 'keyvault'
  params: {
    name: names.keyVault
    location: location
    signingKeySecretName: signingKeySecretName
    signingKeyPem: tokenSigningKeyPem
    appPrincipalId: appIdentity.properties.principalId
    operatorPrincipalId: operatorPrincipalId
    tags: tags
  }
}

module functionApp 'modules/functionapp.bicep' = {
  name: 'functionapp'
  params: {
    name: names.functionApp
    planName: names.plan
    location: location
    identityId: appIdentity.id
    identityClientId: appIdentity.properties.clientId
    instanceMemoryMB: instanceMemoryMB
    maximumInstanceCount: maximumInstanceCount
    httpPerInstanceConcurrency: httpPerInstanceConcurrency
    alwaysReadyHttpInstances: alwaysReadyHttpInstances
    requestBodySizeLimitBytes: requestBodySizeLimitBytes
    storageAccountName: storage.outputs.name
    storageBlobEndpoint: storage.outputs.blobEndpoint
    storageQueueEndpoint: storage.outputs.queueEndpoint
    deploymentContainerUrl: storage.outputs.deploymentContainerUrl
    blobContainerName: blobContainerName
    importQueueName: importQueueName
    cosmosEndpoint: cosmos.outputs.endpoint
    cosmosDatabaseName: cosmosDatabaseName
    signingKeyReference: keyVault.outputs.signingKeyReference
    loginServer: effectiveLoginServer
    adminKeyHash: adminKeyHash
    adminEntraTenantId: adminEntraTenantId
    adminEntraAudience: adminEntraAudience
    appInsightsConnectionString: monitoring.outputs.connectionString
    tags: tags
  }
}

@description('The registry host clients log in to: docker login <loginServer>.')
output loginServer string = empty(loginServer) ? functionApp.outputs.defaultHostName : loginServer

@description('The management API (registry-admin --endpoint takes https://<loginServer>).')
output adminEndpoint string = 'https://${empty(loginServer) ? functionApp.outputs.defaultHostName : loginServer}/management'

@description('Function App name, for deployment: func azure functionapp publish <name>.')
output functionAppName string = functionApp.outputs.name

@description('Client id of the managed identity the app runs as.')
output identityClientId string = appIdentity.properties.clientId

@description('Cosmos DB account endpoint.')
output cosmosEndpoint string = cosmos.outputs.endpoint

@description('Storage account that holds the registry content.')
output storageAccountName string = storage.outputs.name

@description('Key Vault that holds the token-signing key.')
output keyVaultName string = keyVault.outputs.name

@description('Application Insights component.')
output appInsightsName string = monitoring.outputs.appInsightsName
