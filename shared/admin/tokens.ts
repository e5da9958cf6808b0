/**
 * Management of tokens: create (on a scope map, or on repositories, which creates
 * "<token>-scope-map"), update (scope map, status), show, list, delete, and credentials
 * (password1/password2, generated on request, shown once).
 */
import { z } from "zod";
import { LIMITS, isSystemScopeMap, isValidIdentityName, scopeMapReferenceSchema } from "../domain/identity-names.js";
import { generatePassword, hashGeneratedPassword } from "../auth/passwords.js";
import { retryOnConflict } from "../store/optimistic-update.js";
import type { IdentityStore, PasswordName, StoredPassword, TokenRecord } from "../store/identity-store.js";
import { AdminError, badRequest, conflict, notFound } from "./errors.js";
import { ScopeMapService, translateStoreError } from "./scope-maps.js";

const status = z.enum(["enabled", "disabled"]);

export const createTokenSchema = z
  .object({
    name: z.string(),
    scopeMap: scopeMapReferenceSchema.optional(),
    repositories: z.array(z.object({ name: z.string(), actions: z.array(z.string()).min(1) })).optional(),
    status: status.default("enabled"),
  })
  .refine((input) => (input.scopeMap === undefined) !== (input.repositories === undefined), {
    message: "give either scopeMap or repositories, not both and not neither",
  });

export const updateTokenSchema = z.object({ scopeMap: scopeMapReferenceSchema.optional(), status: status.optional() });

export const generateCredentialsSchema = z.object({
  /** Which password to (re)generate; both when absent, as `az acr token credential generate` does. */
  name: z.enum(["password1", "password2"]).optional(),
  /** When the password stops working (ISO 8601 date-time); none means never. */
  expiry: z.iso.datetime({ offset: true }).optional(),
});

export const deleteCredentialsSchema = z.object({
  /** Which password to delete; both when absent, as `az acr token credential delete --password1 --password2`. */
  name: z.enum(["password1", "password2"]).optional(),
});

/** The hook connected registries will fill: tokens they use cannot be deleted. */
export type TokenReferences = (tokenName: string) => Promise<string[]>;

export interface TokenView {
  name: string;
  scopeMap: string;
  status: "enabled" | "disabled";
  creationDate: string;
  updatedAt: string;
  credentials: { passwords: Array<{ name: PasswordName; creationTime: string; expiry?: string }> };
}

const UPDATE_ATTEMPTS = 50;

export class TokenService {
  constructor(
    private readonly store: IdentityStore,
    private readonly scopeMaps: ScopeMapService,
    private readonly references: TokenReferences = async () => [],
  ) {}

  async create(input: z.infer<typeof createTokenSchema>): Promise<TokenView> {
    if (!isValidIdentityName(input.name)) throw badRequest(`invalid name "${input.name}": 5-50 letters, digits, - and _`);
    let scopeMap = input.scopeMap;
    let createdScopeMap: string | undefined;
    if (input.repositories) {
      scopeMap = `${input.name}-scope-map`;
      const actions = input.repositories.flatMap((repository) => repository.actions.map((action) => `repositories/${repository.name}/${action}`));
      await this.scopeMaps.create({ name: scopeMap, description: `Created for token ${input.name}`, actions }, { generatedName: true });
      createdScopeMap = scopeMap;
    } else {
      await this.requireScopeMap(scopeMap!);
    }
    const now = new Date().toISOString();
    try {
      return view(await this.store.createToken({ name: input.name, scopeMap: scopeMap!, status: input.status, passwords: [], createdAt: now, updatedAt: now }, LIMITS.tokensPerRegistry));
    } catch (error) {
      // The scope map made for this token goes with it.
      if (createdScopeMap) await this.store.deleteScopeMap(createdScopeMap);
      throw translateStoreError(error);
    }
  }

  async update(name: string, input: z.infer<typeof updateTokenSchema>): Promise<TokenView> {
    if (input.scopeMap !== undefined) await this.requireScopeMap(input.scopeMap);
    return this.change(name, (token) => ({
      ...token,
      ...(input.scopeMap !== undefined ? { scopeMap: input.scopeMap } : {}),
      ...(input.status !== undefined ? { status: input.status } : {}),
    }));
  }

  async show(name: string): Promise<TokenView> {
    return view(await this.require(name));
  }

  async list(): Promise<TokenView[]> {
    return (await this.store.listTokens()).map(view);
  }

  async delete(name: string): Promise<void> {
    const users = await this.references(name);
    if (users.length > 0) throw conflict(`token "${name}" is used by connected registr${users.length === 1 ? "y" : "ies"} ${users.join(", ")}; remove it there first`);
    if (!(await this.store.deleteToken(name))) throw notFound(`token "${name}" does not exist`);
  }

  /** Generates the password(s), stores only their hashes, and returns them this once. */
  async generateCredentials(name: string, input: z.infer<typeof generateCredentialsSchema>) {
    if (input.expiry && Date.parse(input.expiry) <= Date.now()) throw badRequest(`expiry ${input.expiry} is in the past`);
    const names: PasswordName[] = input.name ? [input.name] : ["password1", "password2"];
    const createdAt = new Date().toISOString();
    const generated = names.map((passwordName) => {
      const value = generatePassword();
      const stored: StoredPassword = { name: passwordName, hash: hashGeneratedPassword(value), createdAt, ...(input.expiry ? { expiry: input.expiry } : {}) };
      return { value, stored };
    });
    const token = await this.change(name, (current) => ({
      ...current,
      passwords: [...current.passwords.filter((p) => !names.includes(p.name)), ...generated.map((g) => g.stored)].sort((a, b) => a.name.localeCompare(b.name)),
    }));
    return {
      username: name,
      passwords: generated.map(({ value, stored }) => ({ name: stored.name, value, creationTime: stored.createdAt, ...(stored.expiry ? { expiry: stored.expiry } : {}) })),
      token,
    };
  }

  /** Deletes password1, password2 or both: the token stays, and what used the password stops working (within TOKEN_STATE_SECONDS). */
  async deleteCredentials(name: string, input: z.infer<typeof deleteCredentialsSchema>): Promise<TokenView> {
    const names: PasswordName[] = input.name ? [input.name] : ["password1", "password2"];
    return this.change(name, (current) => ({ ...current, passwords: current.passwords.filter((p) => !names.includes(p.name)) }));
  }

  private async change(name: string, apply: (token: TokenRecord) => TokenRecord): Promise<TokenView> {
    const updated = await retryOnConflict(UPDATE_ATTEMPTS, async () =>
      this.store.replaceToken({ ...apply(await this.require(name)), updatedAt: new Date().toISOString() }),
    );
    if (updated) return view(updated);
    throw new AdminError(409, "Conflict", `token "${name}" is being changed by many requests at once; try again`);
  }

  private async require(name: string): Promise<TokenRecord> {
    const token = await this.store.getToken(name);
    if (!token) throw notFound(`token "${name}" does not exist`);
    return token;
  }

  private async requireScopeMap(name: string): Promise<void> {
    if (isSystemScopeMap(name)) return;
    if (!(await this.store.getScopeMap(name))) throw badRequest(`scope map "${name}" does not exist; create it first`);
  }
}

function view(token: TokenRecord): TokenView {
  return {
    name: token.name,
    scopeMap: token.scopeMap,
    status: token.status,
    creationDate: token.createdAt,
    updatedAt: token.updatedAt,
    credentials: { passwords: token.passwords.map((p) => ({ name: p.name, creationTime: p.createdAt, ...(p.expiry ? { expiry: p.expiry } : {}) })) },
  };
}
