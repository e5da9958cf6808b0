// Example parameters for infra/main.bicep. Copy and edit, then:
//
//   export TOKEN_SIGNING_KEY_PEM="$(openssl ecparam -name prime256v1 -genkey -noout | openssl pkcs8 -topk8 -nocrypt)"
//   export ADMIN_KEY_HASH='scrypt$...'    # see docs/operations.md, "First deployment"
//   az deployment group create --resource-group <rg> --parameters infra/main.bicepparam
//
// Secrets come from the environment of the deploying shell, never from this file.
using './main.bicep'

param namePrefix = 'contoso'
param location = 'westeurope'

// Flex Consumption sizing.
param instanceMemoryMB = 2048
param maximumInstanceCount = 100
param httpPerInstanceConcurrency = 16
param alwaysReadyHttpInstances = 0
param requestBodySizeLimitBytes = 4294967296

// Data protection.
param storageSku = 'Standard_ZRS'
param blobSoftDeleteRetentionDays = 14
param cosmosBackupTier = 'Continuous7Days'
param logRetentionDays = 30

// Empty: <function app>.azurewebsites.net.
param loginServer = ''

// Required on the first deployment; leave TOKEN_SIGNING_KEY_PEM unset later to keep the key.
param tokenSigningKeyPem = readEnvironmentVariable('TOKEN_SIGNING_KEY_PEM', '')
param adminKeyHash = readEnvironmentVariable('ADMIN_KEY_HASH', '')

// Microsoft Entra ID sign-in for the management API (optional).
param adminEntraTenantId = ''
param adminEntraAudience = ''

// Who may rotate the signing key in Key Vault (object id of a user or group; optional).
param operatorPrincipalId = ''

param tags = {
  workload: 'container-registry'
}
