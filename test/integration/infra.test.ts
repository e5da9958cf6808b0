/**
 * infra/ checked without the Bicep compiler (it cannot be installed offline): every .bicep and
 * .bicepparam file must parse with the tree-sitter-bicep grammar, references must resolve, and
 * the deployment must create what the code expects: the app settings shared/config.ts needs,
 * every Cosmos DB container of shared/store/cosmos/containers.ts with its partition key and
 * default TTL, the blob container and the import queue. The last tests run the same checks on
 * broken copies held in memory, to show that they fail and say where.
 */
import { readdir, readFile } from "node:fs/promises";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import ts from "typescript";
import { describe, expect, it } from "vitest";
import { configSchema } from "../../shared/config.js";
import * as containerModule from "../../shared/store/cosmos/containers.js";
import {
  checkReferences,
  collectDeployment,
  evaluate,
  findSyntaxErrors,
  meaningful,
  objectPath,
  parseBicep,
  propertyKey,
  propertyValue,
  readParameterFile,
  ResourceRef,
  sourceOf,
  stringLiteral,
  Unknown,
  type DeployedResource,
  type Scope,
  type Sources,
  type Value,
} from "../support/bicep.js";
import type { Node } from "web-tree-sitter";

const root = fileURLToPath(new URL("../..", import.meta.url));
const ENTRY = "infra/main.bicep";
const PARAMETERS = "infra/main.bicepparam";

/** The Node major that package.json's `engines` asks for (">=22" -> "22"): Azure must run what we test on. */
async function requiredNodeMajor(): Promise<string> {
  const manifest = JSON.parse(await readFile(join(root, "package.json"), "utf8")) as { engines?: { node?: string } };
  const major = /^>=\s*(\d+)$/.exec(manifest.engines?.node ?? "")?.[1];
  if (!major) throw new Error(`package.json engines.node is ${JSON.stringify(manifest.engines?.node)}, expected ">=<major>"`);
  return major;
}

const APP_MODULE = "infra/modules/functionapp.bicep";

/**
 * Settings the code reads locally that Azure replaces with the managed identity (keys and
 * connection strings are off there): each is satisfied by the identity-based settings listed.
 */
const IDENTITY_BASED: Readonly<Record<string, readonly string[]>> = {
  COSMOS_KEY: ["COSMOS_ENDPOINT", "AZURE_CLIENT_ID"],
  STORAGE_CONNECTION_STRING: ["STORAGE_BLOB_ENDPOINT", "STORAGE_QUEUE_ENDPOINT", "AZURE_CLIENT_ID"],
};

/**
 * Settings the code reads whose default is right in Azure, and why. A setting the code reads
 * that is neither set by the Bicep nor listed here fails the contract: decide, then add it to
 * infra/modules/functionapp.bicep or here.
 */
const LEFT_TO_DEFAULT: Readonly<Record<string, string>> = {
  REGISTRY_BLOB_DELIVERY: "redirect to read-only SAS URLs; the engine streams when it cannot sign one",
  REGISTRY_READ_URL_SECONDS: "10 minutes is enough to start a layer download",
  REGISTRY_ALLOW_ANONYMOUS: "authentication stays on outside development",
  REGISTRY_ANONYMOUS_PULL: "anonymous pull is an operator's opt-in: add it to infra/modules/functionapp.bicep",
  REGISTRY_NAME: "one registry per deployment",
  ACCESS_TOKEN_SECONDS: "5-minute access tokens, as ACR",
  REFRESH_TOKEN_SECONDS: "3-hour refresh tokens",
  TOKEN_STATE_SECONDS: "30 s bound on revocation",
  CHANGE_FEED_GRACE_SECONDS: "the sync protocol's default",
  TOKEN_SIGNING_KEY_PREVIOUS: "set only during a signing-key rotation (docs/operations.md), as a Key Vault reference to the old secret version",
  BLOB_GC_GRACE_SECONDS: "an hour between marking an unreferenced blob and deleting it; Storage soft delete keeps it restorable after that",
  LOGIN_FAILURE_WINDOW_SECONDS: "failed logins count for a minute per instance (docs/identity.md)",
  LOGIN_FAILURES_PER_ADDRESS: "10 failed logins a minute per client address and instance, then 429",
  LOGIN_FAILURES_PER_TOKEN: "30 failed logins a minute per token name and instance, then 429 only for addresses that failed",
  LOGIN_REFUSAL_DELAY_MS: "a refusal held 1 s, so a client ignoring Retry-After sends at most one a second per connection",
  PASSWORD_CHECK_WORKERS: "at most 2 scrypt checks at once per instance, on threads of their own; file and network I/O keep libuv's pool",
  PASSWORD_CHECK_QUEUE: "32 checks may wait per instance; beyond, 429 with Retry-After: 1",
  REFUSED_PASSWORD_CACHE_SECONDS: "a wrong name/password pair costs scrypt once per 10 s per instance",
  HTTP_HEADERS_TIMEOUT_SECONDS: "read by the local host only; in Azure the Functions front end owns the connections",
  HTTP_REQUEST_TIMEOUT_SECONDS: "read by the local host only; in Azure the front end cuts a request at 230 s",
  HTTP_BODY_IDLE_TIMEOUT_SECONDS: "read by the local host only; in Azure the front end owns the connections",
  HTTP_MAX_UPLOADS_PER_CLIENT: "read by the local host only; in Azure the front end owns the connections",
  WEBHOOK_RETRY_SECONDS: "8 attempts over about 4.5 hours (docs/events.md)",
  WEBHOOK_TIMEOUT_SECONDS: "a receiver gets 10 s to answer",
  STORAGE_CREDENTIAL: "DefaultAzureCredential (the managed identity); emulator is for Azurite only",
};

/** Storage Blob Data Owner: includes .../blobServices/generateUserDelegationKey/action, which signs read URLs without a key. */
const STORAGE_BLOB_DATA_OWNER = "b7e6dc6d-f1e8-4753-8033-0f276bb0955b";

interface ConfigSetting {
  name: string;
  required: boolean;
  default: unknown;
}

interface Contract {
  settings: readonly ConfigSetting[];
  /** What the cloud code (functions/, shared/) reaches besides its settings. */
  code: CloudCodeUses;
  cosmosContainers: readonly { id: string; partitionKeyPath: string; defaultTtl?: number }[];
}

interface CloudCodeUses {
  /** process.env names read outside shared/config.ts. */
  environmentReads: string[];
  /** `database.container(...)` calls: the container id when the argument names one, and where. */
  cosmosContainers: { id: string; at: string }[];
}

describe("infra/ (Bicep)", () => {
  it("parses every .bicep and .bicepparam file without a syntax error", async () => {
    const sources = await loadInfraSources();
    expect([...sources.keys()]).toEqual(expect.arrayContaining([ENTRY, PARAMETERS, APP_MODULE]));
    const errors = [];
    for (const [path, source] of sources) errors.push(...(await findSyntaxErrors(path, source)));
    expect(errors.map((error) => error.message)).toEqual([]);
  });

  it("declares everything it refers to: symbols, module paths, module parameters and outputs, the parameter file's template", async () => {
    expect(await checkReferences(await loadInfraSources())).toEqual([]);
  });

  it("creates what the code expects: app settings, Cosmos DB containers, the blob container and the queue", async () => {
    const contract = await codeContract();
    // The contract is read from the code, not restated here.
    expect(contract.settings.filter((setting) => setting.required).map((setting) => setting.name)).toEqual(
      expect.arrayContaining(["COSMOS_ENDPOINT", "TOKEN_SIGNING_KEY"]),
    );
    expect(contract.cosmosContainers.length).toBeGreaterThanOrEqual(4);
    expect(contract.code.cosmosContainers.map((use) => use.id)).toEqual(expect.arrayContaining(["artifacts", "identity"]));
    expect(await checkInfraContract(await loadInfraSources(), contract)).toEqual([]);
  });

  it("deploys a Flex Consumption app on the Node major package.json requires that reaches Cosmos DB, Storage and Key Vault as its managed identity, with keys off", async () => {
    const deployed = await deployment(await loadInfraSources());
    const site = functionApps(deployed)[0];
    expect(site).toBeDefined();
    if (!site) return;
    const body = evaluate(site.declaration.body, site.scope);
    expect(pick(body, "properties", "functionAppConfig", "runtime")).toEqual({ name: "node", version: await requiredNodeMajor() });
    expect(pick(body, "properties", "functionAppConfig", "deployment", "storage", "authentication", "type")).toBe("UserAssignedIdentity");
    expect(pick(body, "identity", "type")).toBe("UserAssigned");

    const plan = deployed.find((resource) => resource.type === "Microsoft.Web/serverfarms");
    expect(plan && pick(evaluate(plan.declaration.body, plan.scope), "sku")).toEqual({ name: "FC1", tier: "FlexConsumption" });

    const settings = appSettings(site, deployed);
    // The vault's name holds a hash only Azure computes: the rest of the reference is known.
    expect(String(settings.get("TOKEN_SIGNING_KEY")?.value)).toMatch(/^@Microsoft\.KeyVault\(VaultName=.+;SecretName=token-signing-key\)$/);
    expect(Number(settings.get("FUNCTIONS_REQUEST_BODY_SIZE_LIMIT")?.value)).toBeGreaterThan(100 * 1024 * 1024);
    expect(settings.get("AzureWebJobsStorage__credential")?.value).toBe("managedidentity");
    for (const keyBased of ["COSMOS_KEY", "STORAGE_CONNECTION_STRING", "AzureWebJobsStorage", "FUNCTIONS_WORKER_RUNTIME", "FUNCTIONS_EXTENSION_VERSION", "WEBSITE_RUN_FROM_PACKAGE"]) {
      expect(settings.has(keyBased), `${keyBased} must not be set on a Flex Consumption app without keys`).toBe(false);
    }

    const propertiesOf = (type: string) =>
      deployed.filter((resource) => resource.type === type).map((resource) => pick(evaluate(resource.declaration.body, resource.scope), "properties"));
    expect(propertiesOf("Microsoft.Storage/storageAccounts")).toEqual([expect.objectContaining({ allowSharedKeyAccess: false, allowBlobPublicAccess: false })]);
    expect(propertiesOf("Microsoft.DocumentDB/databaseAccounts")).toEqual([
      expect.objectContaining({ disableLocalAuth: true, capabilities: [{ name: "EnableServerless" }], backupPolicy: expect.objectContaining({ type: "Continuous" }) }),
    ]);
    expect(propertiesOf("Microsoft.KeyVault/vaults")).toEqual([expect.objectContaining({ enableRbacAuthorization: true })]);
    expect(propertiesOf("Microsoft.Insights/components")).toEqual([expect.objectContaining({ DisableLocalAuth: true })]);
    expect(deployed.filter((resource) => resource.type === "Microsoft.DocumentDB/databaseAccounts/sqlRoleAssignments")).toHaveLength(1);
    expect(deployed.filter((resource) => resource.type === "Microsoft.ManagedIdentity/userAssignedIdentities")).toHaveLength(1);
  });

  it("lets the app's identity make user delegation keys on a storage account without shared keys, so blob GETs can still redirect", async () => {
    const deployed = await deployment(await loadInfraSources());
    const accounts = deployed.filter((resource) => resource.type === "Microsoft.Storage/storageAccounts");
    expect(accounts).toHaveLength(1);
    expect(pick(evaluate(accounts[0]!.declaration.body, accounts[0]!.scope), "properties", "allowSharedKeyAccess")).toBe(false);
    const site = functionApps(deployed)[0]!;
    // The app's one identity holds Blob Data Owner on that account (roleDefinitionId is
    // subscriptionResourceId(..., <role id>): the role id is its last argument).
    const grants = deployed
      .filter((resource) => resource.type === "Microsoft.Authorization/roleAssignments" && resource.file === accounts[0]!.file)
      .map((resource) => {
        const role = objectPath(resource.declaration.body, ["properties", "roleDefinitionId"]);
        const roleId = role?.childForFieldName("arguments")?.namedChildren.at(-1);
        const principal = evaluate(objectPath(resource.declaration.body, ["properties", "principalId"]), resource.scope);
        return { role: roleId ? evaluate(roleId, resource.scope) : undefined, principal: principal instanceof Unknown ? principal.expression : principal };
      });
    expect(grants).toContainEqual({ role: STORAGE_BLOB_DATA_OWNER, principal: "appIdentity.properties.principalId" });
    // The emulator's credential is never deployed.
    expect(appSettings(site, deployed).get("STORAGE_CREDENTIAL")?.value ?? "default").toBe("default");
  });

  it("fails the syntax check on a broken file, naming the file and the line", async () => {
    const sources = await loadInfraSources();
    const path = "infra/modules/storage.bicep";
    const source = sources.get(path) ?? "";
    // An object property without its colon, on a line we know.
    const lines = source.split("\n");
    const line = lines.findIndex((text) => text.includes("allowSharedKeyAccess: false")) + 1;
    lines[line - 1] = "    allowSharedKeyAccess false";
    const errors = await findSyntaxErrors(path, lines.join("\n"));
    expect(errors.length).toBeGreaterThan(0);
    expect(errors[0]).toMatchObject({ file: path, line });
    expect(errors[0]?.message).toContain(`${path}:${line}:`);

    const unclosed = await findSyntaxErrors(ENTRY, `${sources.get(ENTRY) ?? ""}\nmodule extra 'modules/storage.bicep' = {\n  name: 'extra'\n`);
    expect(unclosed.map((error) => error.message).join("\n")).toMatch(/missing \}|syntax error/);
    expect(await findSyntaxErrors(PARAMETERS, `${sources.get(PARAMETERS) ?? ""}\nparam = 'no name'\n`)).not.toEqual([]);
  });

  it("fails the contract when an app setting the code requires is removed, naming the setting", async () => {
    const sources = await loadInfraSources();
    const contract = await codeContract();
    for (const setting of ["TOKEN_SIGNING_KEY", "COSMOS_ENDPOINT"]) {
      const broken = withSource(sources, APP_MODULE, await withoutAppSetting(sources.get(APP_MODULE) ?? "", setting));
      expect(broken.get(APP_MODULE)).not.toContain(`'${setting}'`);
      expect(await findSyntaxErrors(APP_MODULE, broken.get(APP_MODULE) ?? "")).toEqual([]);
      const problems = await checkInfraContract(broken, contract);
      expect(problems.join("\n")).toContain(setting);
    }
  });

  it("fails the contract when a Cosmos DB container, its partition key or TTL, the blob container or the queue differs from the code", async () => {
    const sources = await loadInfraSources();
    const contract = await codeContract();
    const cosmos = "infra/modules/cosmos.bicep";
    const storage = "infra/modules/storage.bicep";
    const cases: { path: string; edit: (source: string) => string; expected: RegExp }[] = [
      { path: cosmos, edit: (source) => source.replace("'/repository'", "'/name'"), expected: /artifacts.*partition key.*\/repository/ },
      { path: cosmos, edit: (source) => source.replaceAll("'operations'", "'jobs'"), expected: /operations/ },
      { path: cosmos, edit: (source) => source.replace(/(id: 'changes'[\s\S]*?)defaultTtl: -1/, "$1defaultTtl: 3600"), expected: /changes.*defaultTtl/ },
      { path: storage, edit: (source) => source.replace("name: blobContainerName", "name: 'content'"), expected: /blob container 'registry'/ },
      { path: storage, edit: (source) => source.replace("name: importQueueName", "name: 'jobs'"), expected: /queue 'imports'/ },
    ];
    for (const { path, edit, expected } of cases) {
      const edited = edit(sources.get(path) ?? "");
      expect(edited).not.toBe(sources.get(path));
      expect((await checkInfraContract(withSource(sources, path, edited), contract)).join("\n")).toMatch(expected);
    }
  });

  it("fails the contract when the code uses a Cosmos DB container that COSMOS_CONTAINERS does not list", async () => {
    const contract = await codeContract();
    const code = { ...contract.code, cosmosContainers: [...contract.code.cosmosContainers, { id: "leases", at: "shared/example.ts:1" }] };
    expect(await checkInfraContract(await loadInfraSources(), { ...contract, code })).toEqual([expect.stringContaining("shared/example.ts:1 uses the Cosmos DB container 'leases'")]);
  });

  it("fails the reference check on an undeclared name or a module parameter the module lacks", async () => {
    const sources = await loadInfraSources();
    const typo = withSource(sources, APP_MODULE, (sources.get(APP_MODULE) ?? "").replace("value: cosmosEndpoint", "value: cosmosEndpiont"));
    expect(await checkReferences(typo)).toEqual([expect.stringMatching(/^infra\/modules\/functionapp\.bicep:\d+:\d+: 'cosmosEndpiont' is not declared$/)]);
    const extra = withSource(sources, ENTRY, (sources.get(ENTRY) ?? "").replace("    skuName: storageSku\n", "    skuName: storageSku\n    sku: storageSku\n"));
    expect((await checkReferences(extra)).join("\n")).toMatch(/module storage passes sku, which infra\/modules\/storage\.bicep does not declare/);
  });
});

// ---------------------------------------------------------------------------------------------
// The contract

async function checkInfraContract(sources: Sources, contract: Contract): Promise<string[]> {
  const problems: string[] = [];
  const deployed = await deployment(sources);

  const sites = functionApps(deployed);
  if (sites.length !== 1) return [`expected one Function App (Microsoft.Web/sites, kind functionapp), found ${sites.length}`];
  const site = sites[0] as DeployedResource;
  const settings = appSettings(site, deployed);
  const where = `the Function App's app settings (${site.file})`;
  const setUnconditionally = (name: string) => settings.has(name) && !settings.get(name)?.conditional;

  for (const setting of contract.settings) {
    const alternatives = IDENTITY_BASED[setting.name];
    if (alternatives) {
      if (settings.has(setting.name)) problems.push(`${where} set ${setting.name}, but Azure uses the managed identity: keys are off`);
      const missing = alternatives.filter((name) => !setUnconditionally(name));
      if (missing.length > 0) problems.push(`shared/config.ts reads ${setting.name}; in Azure the managed identity replaces it, which needs ${missing.join(", ")} in ${where}`);
      continue;
    }
    if (setting.required) {
      if (!settings.has(setting.name)) problems.push(`shared/config.ts requires ${setting.name} (it has no default), but ${where} do not set it`);
      else if (!setUnconditionally(setting.name)) problems.push(`shared/config.ts requires ${setting.name}, but ${where} set it only under a condition`);
      continue;
    }
    if (!settings.has(setting.name) && !(setting.name in LEFT_TO_DEFAULT)) {
      problems.push(`shared/config.ts reads ${setting.name}: set it in ${where} or list it in LEFT_TO_DEFAULT (test/integration/infra.test.ts) with the reason its default is right in Azure`);
    }
  }
  for (const name of contract.code.environmentReads) {
    if (!settings.has(name) && !(name in LEFT_TO_DEFAULT)) problems.push(`the cloud code reads process.env.${name}, which ${where} do not set`);
  }
  for (const use of contract.code.cosmosContainers) {
    if (!contract.cosmosContainers.some((container) => container.id === use.id)) {
      problems.push(`${use.at} uses the Cosmos DB container '${use.id}', which COSMOS_CONTAINERS (shared/store/cosmos/containers.ts) does not list, so neither infra/ nor the local stack creates it`);
    }
  }

  const expected = (name: string): unknown => {
    const value = settings.get(name)?.value;
    return typeof value === "string" ? value : contract.settings.find((setting) => setting.name === name)?.default;
  };

  // Cosmos DB: the database and every container, with the code's partition key and TTL.
  const databaseName = expected("COSMOS_DATABASE");
  const databases = deployed.filter((resource) => resource.type === "Microsoft.DocumentDB/databaseAccounts/sqlDatabases");
  if (!databases.some((database) => pick(evaluate(database.declaration.body, database.scope), "properties", "resource", "id") === databaseName)) {
    problems.push(`the Cosmos DB database '${String(databaseName)}' (COSMOS_DATABASE) is not created`);
  }
  const containers = deployed
    .filter((resource) => resource.type === "Microsoft.DocumentDB/databaseAccounts/sqlDatabases/containers")
    .map((resource) => {
      const body = evaluate(resource.declaration.body, resource.scope);
      return { resource, database: parentName(resource), id: pick(body, "properties", "resource", "id"), spec: pick(body, "properties", "resource") };
    });
  for (const container of contract.cosmosContainers) {
    const found = containers.find((candidate) => candidate.id === container.id && candidate.database === databaseName);
    const label = `Cosmos DB container '${container.id}'`;
    if (!found) {
      problems.push(`${label} (partition key ${container.partitionKeyPath}) is not created in database '${String(databaseName)}'`);
      continue;
    }
    const at = `${found.resource.file}:${found.resource.line}`;
    if (found.resource.conditional) problems.push(`${label} is created only under a condition (${at})`);
    const paths = pick(found.spec, "partitionKey", "paths");
    if (JSON.stringify(paths) !== JSON.stringify([container.partitionKeyPath])) {
      problems.push(`${label} has partition key ${JSON.stringify(paths)}, the code expects ${container.partitionKeyPath} (${at})`);
    }
    const ttl = pick(found.spec, "defaultTtl");
    if ((ttl ?? undefined) !== container.defaultTtl) {
      problems.push(`${label} has defaultTtl ${JSON.stringify(ttl ?? null)}, the code expects ${JSON.stringify(container.defaultTtl ?? null)} (${at})`);
    }
  }

  // Storage: the blob container and the queue, under the names the app will use.
  const named = (type: string, name: unknown) =>
    deployed.find((resource) => resource.type === type && evaluate(objectPath(resource.declaration.body, ["name"]), resource.scope) === name);
  const blobContainer = expected("BLOB_CONTAINER");
  if (!named("Microsoft.Storage/storageAccounts/blobServices/containers", blobContainer)) {
    problems.push(`the blob container '${String(blobContainer)}' (BLOB_CONTAINER) is not created`);
  }
  const queue = expected("IMPORT_QUEUE");
  if (!named("Microsoft.Storage/storageAccounts/queueServices/queues", queue)) {
    problems.push(`the queue '${String(queue)}' (IMPORT_QUEUE) is not created`);
  }
  return problems;
}

/** The settings shared/config.ts reads: required when its schema refuses a missing value. */
async function codeContract(): Promise<Contract> {
  const shape = objectShape(configSchema);
  const settings = Object.entries(shape).map(([name, schema]) => {
    const missing = schema.safeParse(undefined);
    return { name, required: !missing.success, default: missing.success ? missing.data : undefined };
  });
  return { settings, code: await cloudCodeUses(["functions", "shared"]), cosmosContainers: containerModule.COSMOS_CONTAINERS };
}

type SettingSchema = { safeParse(value: unknown): { success: boolean; data?: unknown } };

/** The object schema under refinements and pipes. */
function objectShape(schema: unknown): Record<string, SettingSchema> {
  let current = schema as { shape?: Record<string, SettingSchema>; in?: unknown; _zod?: { def?: { in?: unknown; schema?: unknown } } } | undefined;
  for (let depth = 0; current && !current.shape && depth < 10; depth++) {
    current = (current.in ?? current._zod?.def?.in ?? current._zod?.def?.schema) as typeof current;
  }
  if (!current?.shape) throw new Error("shared/config.ts: configSchema is not (a refinement or pipe of) a z.object");
  return current.shape;
}

/**
 * Read with the TypeScript parser: `process.env.NAME` / `process.env["NAME"]`, and the Cosmos DB
 * containers named in `<database>.container(X_CONTAINER.id)` or `.container("literal")`.
 */
async function cloudCodeUses(folders: readonly string[]): Promise<CloudCodeUses> {
  const environment = new Set<string>();
  const containers: { id: string; at: string }[] = [];
  const exported = containerModule as Record<string, unknown>;
  for (const folder of folders) {
    for (const path of await filesUnder(join(root, folder), (name) => name.endsWith(".ts") && !name.endsWith(".d.ts"))) {
      const source = ts.createSourceFile(path, await readFile(path, "utf8"), ts.ScriptTarget.Latest, true);
      const at = (node: ts.Node) => `${relative(root, path)}:${source.getLineAndCharacterOfPosition(node.getStart(source)).line + 1}`;
      const visit = (node: ts.Node): void => {
        const isProcessEnv = (expression: ts.Expression) => expression.getText(source) === "process.env";
        if (ts.isPropertyAccessExpression(node) && isProcessEnv(node.expression)) environment.add(node.name.text);
        if (ts.isElementAccessExpression(node) && isProcessEnv(node.expression) && ts.isStringLiteralLike(node.argumentExpression)) {
          environment.add(node.argumentExpression.text);
        }
        if (ts.isCallExpression(node) && ts.isPropertyAccessExpression(node.expression) && node.expression.name.text === "container") {
          const [argument] = node.arguments;
          if (argument && ts.isStringLiteralLike(argument)) containers.push({ id: argument.text, at: at(node) });
          if (argument && ts.isPropertyAccessExpression(argument) && argument.name.text === "id" && ts.isIdentifier(argument.expression)) {
            const declared = exported[argument.expression.text] as { id?: unknown } | undefined;
            if (typeof declared?.id === "string") containers.push({ id: declared.id, at: at(node) });
          }
        }
        ts.forEachChild(node, visit);
      };
      visit(source);
    }
  }
  return { environmentReads: [...environment].sort(), cosmosContainers: containers };
}

// ---------------------------------------------------------------------------------------------
// Reading the deployment

async function deployment(sources: Sources): Promise<DeployedResource[]> {
  const parameterSource = sources.get(PARAMETERS);
  const args = parameterSource === undefined ? new Map<string, Value>() : (await readParameterFile(PARAMETERS, parameterSource)).args;
  return collectDeployment(sources, ENTRY, args);
}

function functionApps(deployed: readonly DeployedResource[]): DeployedResource[] {
  return deployed.filter((resource) => {
    if (resource.type !== "Microsoft.Web/sites") return false;
    const kind = evaluate(objectPath(resource.declaration.body, ["kind"]), resource.scope);
    return typeof kind === "string" && kind.split(",").includes("functionapp");
  });
}

interface AppSetting {
  value: Value;
  /** Set only on one arm of a condition (e.g. ADMIN_KEY_HASH when a hash is given). */
  conditional: boolean;
}

/**
 * The app settings a Function App may get: `siteConfig.appSettings` (an array of {name, value},
 * through vars, module parameters, concat/union and both arms of a condition) and a
 * `Microsoft.Web/sites/config` 'appsettings' child (a dictionary).
 */
function appSettings(site: DeployedResource, deployed: readonly DeployedResource[]): Map<string, AppSetting> {
  const settings = new Map<string, AppSetting>();
  const add = (name: string, value: Value, conditional: boolean) => {
    const previous = settings.get(name);
    settings.set(name, { value, conditional: conditional && (previous?.conditional ?? true) });
  };
  const collect = (node: Node | undefined, scope: Scope, conditional: boolean, form: "array" | "dictionary"): void => {
    if (!node) return;
    switch (node.type) {
      case "identifier": {
        const source = sourceOf(node.text, scope);
        if (source) collect(source.node, source.scope, conditional, form);
        return;
      }
      case "parenthesized_expression":
        collect(meaningful(node)[0], scope, conditional, form);
        return;
      case "ternary_expression":
        collect(node.childForFieldName("consequence") ?? undefined, scope, true, form);
        collect(node.childForFieldName("alternative") ?? undefined, scope, true, form);
        return;
      case "call_expression": {
        const args = node.childForFieldName("arguments");
        for (const argument of args ? meaningful(args) : []) collect(argument, scope, conditional, form);
        return;
      }
      case "array":
        for (const item of meaningful(node)) {
          if (form === "array" && item.type === "object") {
            const name = evaluate(objectPath(item, ["name"]), scope);
            if (typeof name === "string") add(name, evaluate(objectPath(item, ["value"]), scope), conditional);
          } else collect(item, scope, conditional, form);
        }
        return;
      case "object":
        if (form !== "dictionary") return;
        for (const property of meaningful(node)) {
          const key = property.type === "object_property" ? propertyKey(property) : undefined;
          if (key) add(key, evaluate(propertyValue(property), scope), conditional);
        }
        return;
    }
  };
  collect(objectPath(site.declaration.body, ["properties", "siteConfig", "appSettings"]), site.scope, false, "array");
  for (const config of deployed) {
    if (config.type !== "Microsoft.Web/sites/config" || evaluate(objectPath(config.declaration.body, ["name"]), config.scope) !== "appsettings") continue;
    const parent = evaluate(objectPath(config.declaration.body, ["parent"]), config.scope);
    if (parent instanceof ResourceRef && parent.scope.instance.join("/") === site.scope.instance.join("/") && parent.symbol === site.declaration.symbol) {
      collect(objectPath(config.declaration.body, ["properties"]), config.scope, config.conditional, "dictionary");
    }
  }
  return settings;
}

/** The name of a child resource's parent (`parent: database`), or the middle of a 'a/b/c' name. */
function parentName(resource: DeployedResource): unknown {
  const parent = evaluate(objectPath(resource.declaration.body, ["parent"]), resource.scope);
  if (parent instanceof ResourceRef) {
    const declaration = parent.scope.file.resources.get(parent.symbol);
    return evaluate(objectPath(declaration?.body, ["name"]), parent.scope);
  }
  const name = evaluate(objectPath(resource.declaration.body, ["name"]), resource.scope);
  return typeof name === "string" ? name.split("/").slice(-2, -1)[0] : undefined;
}

function pick(value: Value | undefined, ...path: string[]): Value | undefined {
  let current = value;
  for (const key of path) {
    if (typeof current !== "object" || current === null || Array.isArray(current) || current instanceof Unknown || current instanceof ResourceRef) return undefined;
    current = (current as Record<string, Value>)[key];
  }
  return current;
}

// ---------------------------------------------------------------------------------------------
// Sources, and broken copies of them

async function loadInfraSources(): Promise<Map<string, string>> {
  const sources = new Map<string, string>();
  const paths = await filesUnder(join(root, "infra"), (name) => name.endsWith(".bicep") || name.endsWith(".bicepparam"));
  for (const path of paths.sort()) sources.set(relative(root, path).split("\\").join("/"), await readFile(path, "utf8"));
  return sources;
}

async function filesUnder(folder: string, wanted: (name: string) => boolean): Promise<string[]> {
  const found: string[] = [];
  for (const entry of await readdir(folder, { withFileTypes: true })) {
    const path = join(folder, entry.name);
    if (entry.isDirectory()) found.push(...(await filesUnder(path, wanted)));
    else if (wanted(entry.name)) found.push(path);
  }
  return found;
}

function withSource(sources: Sources, path: string, source: string): Map<string, string> {
  return new Map([...sources, [path, source]]);
}

/** The source without the `{ name: '<setting>' value: ... }` entry, cut out along the syntax tree. */
async function withoutAppSetting(source: string, setting: string): Promise<string> {
  const tree = await parseBicep(APP_MODULE, source);
  let entry: Node | undefined;
  const visit = (node: Node): void => {
    const name = node.type === "object" ? objectPath(node, ["name"]) : undefined;
    if (name && stringLiteral(name) === setting && node.parent?.type === "array") entry = node;
    for (const child of node.namedChildren) if (!entry) visit(child);
  };
  visit(tree);
  if (!entry) throw new Error(`${APP_MODULE} has no app setting ${setting}`);
  return source.slice(0, entry.startIndex) + source.slice(entry.endIndex);
}
