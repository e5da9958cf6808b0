// Key Vault (RBAC authorization) holding the token-signing key. The app reads it through a Key
// Vault reference in its TOKEN_SIGNING_KEY app setting, as its managed identity (Key Vault
// Secrets User). Bicep cannot generate an EC key, so the PEM comes in as a secure parameter;
// left empty, the secret is not touched (later deployments keep the current version).

@description('Key Vault name: 3-24 letters, digits and hyphens, globally unique.')
@minLength(3)
@maxLength(24)
param name string

@description('Azure region.')
param location string

@description('Name of the secret that holds the token-signing key.')
param signingKeySecretName string

@secure()
@description('EC P-256 private key in PEM; empty leaves the existing secret as it is.')
param signingKeyPem string

@description('Principal (object) id of the app\'s managed identity (reads the secret).')
param appPrincipalId string

@description('Object id of a user or group that may rotate the secret (Key Vault Secrets Officer); empty for none.')
param operatorPrincipalId string

@description('Tags for every resource.')
param tags object

var keyVaultSecretsUserRoleId = '4633458b-17de-408a-b874-0445c86b69e6'
var keyVaultSecretsOfficerRoleId = 'b86a8fe4-44ce-4948-aee5-eccb2c155cd7'

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  name: name
  location: location
  tags: tags
  properties: {
    tenantId: subscription().tenantId
    sku: {
      family: 'A'
      name: 'standard'
    }
    enableRbacAuthorization: true
    enableSoftDelete: true
    softDeleteRetentionInDays: 90
    // Once on, purge protection cannot be turned off: a deleted vault (and the signing key)
    // stays recoverable for the retention period.
    enablePurgeProtection: true
    publicNetworkAccess: 'Enabled'
  }
}

resource signingKey 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = if (!empty(signingKeyPem)) {
  parent: vault
  name: signingKeySecretName
  properties: {
    value: signingKeyPem
    contentType: 'application/x-pem-file'
  }
}

resource appSecretsUser 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(vault.id, appPrincipalId, keyVaultSecretsUserRoleId)
  scope: vault
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', keyVaultSecretsUserRoleId)
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
  }
}

resource operatorSecretsOfficer 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(operatorPrincipalId)) {
  name: guid(vault.id, operatorPrincipalId, keyVaultSecretsOfficerRoleId)
  scope: vault
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', keyVaultSecretsOfficerRoleId)
    principalId: operatorPrincipalId
  }
}

output name string = vault.name
output uri string = vault.properties.vaultUri
// Versionless: the app follows the secret's current version (see docs/operations.md, rotation).
output signingKeyReference string = '@Microsoft.KeyVault(VaultName=${vault.name};SecretName=${signingKeySecretName})'
