/** Management of scope maps: create, update (add/remove actions), show, list, delete. */
import { z } from "zod";
import { LIMITS, SYSTEM_SCOPE_MAPS, isSystemScopeMap, isValidIdentityName } from "../domain/identity-names.js";
import { parseScopeMapAction } from "../domain/scope-map-actions.js";
import { retryOnConflict } from "../store/optimistic-update.js";
import { AlreadyExistsError, LimitExceededError, type IdentityStore, type ScopeMapRecord } from "../store/identity-store.js";
import { AdminError, badRequest, conflict, notFound } from "./errors.js";

export const createScopeMapSchema = z.object({
  name: z.string(),
  description: z.string().max(256).optional(),
  actions: z.array(z.string()).min(1, "a scope map needs at least one action"),
});

export const updateScopeMapSchema = z.object({
  description: z.string().max(256).optional(),
  addActions: z.array(z.string()).default([]),
  removeActions: z.array(z.string()).default([]),
});

export interface ScopeMapView {
  name: string;
  type: "SystemDefined" | "UserDefined";
  description: string;
  actions: string[];
  creationDate?: string;
  updatedAt?: string;
}

/** How often an update re-reads and retries when another update won the race. */
const UPDATE_ATTEMPTS = 50;

export class ScopeMapService {
  constructor(private readonly store: IdentityStore) {}

  async create(input: z.infer<typeof createScopeMapSchema>, options: { generatedName?: boolean } = {}): Promise<ScopeMapView> {
    if (!options.generatedName) requireName(input.name);
    if (isSystemScopeMap(input.name)) throw conflict(`"${input.name}" is a system scope map`);
    const actions = normaliseActions(input.actions);
    const now = new Date().toISOString();
    try {
      const created = await this.store.createScopeMap(
        { name: input.name, ...(input.description ? { description: input.description } : {}), actions, createdAt: now, updatedAt: now },
        LIMITS.scopeMapsPerRegistry,
      );
      return view(created);
    } catch (error) {
      throw translateStoreError(error);
    }
  }

  async update(name: string, input: z.infer<typeof updateScopeMapSchema>): Promise<ScopeMapView> {
    if (isSystemScopeMap(name)) throw badRequest(`"${name}" is a system scope map; it cannot be changed`);
    const added = normaliseActions(input.addActions, { allowEmpty: true });
    const removed = normaliseActions(input.removeActions, { allowEmpty: true });
    const both = added.filter((action) => removed.includes(action));
    if (both.length > 0) throw badRequest(`the same action cannot be added and removed: ${both.join(", ")}`);
    // Read, change, write back only if nobody else wrote in between (etag); else again.
    const updated = await retryOnConflict(UPDATE_ATTEMPTS, async () => {
      const current = await this.store.getScopeMap(name);
      if (!current) throw notFound(`scope map "${name}" does not exist`);
      const actions = [...new Set([...current.actions.filter((a) => !removed.includes(a)), ...added])];
      if (actions.length === 0) throw badRequest(`scope map "${name}" would have no actions left; delete it instead`);
      if (actions.length > LIMITS.actionsPerScopeMap) {
        throw new AdminError(
          409,
          "QuotaExceeded",
          `scope map "${name}" would have ${actions.length} actions; the limit is ${LIMITS.actionsPerScopeMap} (actionsPerScopeMap)`,
        );
      }
      return this.store.replaceScopeMap({
        ...current,
        actions,
        ...(input.description !== undefined ? { description: input.description } : {}),
        updatedAt: new Date().toISOString(),
      });
    });
    if (!updated) throw new AdminError(409, "Conflict", `scope map "${name}" is being changed by many requests at once; try again`);
    return view(updated);
  }

  async show(name: string): Promise<ScopeMapView> {
    if (isSystemScopeMap(name)) return systemView(name);
    const record = await this.store.getScopeMap(name);
    if (!record) throw notFound(`scope map "${name}" does not exist`);
    return view(record);
  }

  async list(): Promise<ScopeMapView[]> {
    const system = Object.keys(SYSTEM_SCOPE_MAPS).map((name) => systemView(name as keyof typeof SYSTEM_SCOPE_MAPS));
    return [...system, ...(await this.store.listScopeMaps()).map(view)];
  }

  async delete(name: string): Promise<void> {
    if (isSystemScopeMap(name)) throw badRequest(`"${name}" is a system scope map; it cannot be deleted`);
    const users = await this.store.tokensUsingScopeMap(name);
    if (users.length > 0) throw conflict(`scope map "${name}" is used by token(s) ${users.join(", ")}; change or delete them first`);
    if (!(await this.store.deleteScopeMap(name))) throw notFound(`scope map "${name}" does not exist`);
  }
}

function requireName(name: string): void {
  if (!isValidIdentityName(name)) throw badRequest(`invalid name "${name}": 5-50 letters, digits, - and _`);
}

/** Validates every action (the error names the first bad one) and drops duplicates. */
function normaliseActions(actions: string[], options: { allowEmpty?: boolean } = {}): string[] {
  for (const action of actions) {
    const parsed = parseScopeMapAction(action);
    if (!parsed.ok) throw badRequest(parsed.message);
  }
  const unique = [...new Set(actions)];
  if (!options.allowEmpty && unique.length === 0) throw badRequest("a scope map needs at least one action");
  if (unique.length > LIMITS.actionsPerScopeMap) {
    throw new AdminError(409, "QuotaExceeded", `${unique.length} actions is more than the ${LIMITS.actionsPerScopeMap} a scope map may hold (actionsPerScopeMap)`);
  }
  return unique;
}

export function translateStoreError(error: unknown): unknown {
  if (error instanceof LimitExceededError) return new AdminError(409, "QuotaExceeded", `${error.message} (${error.limit})`);
  if (error instanceof AlreadyExistsError) return conflict(error.message);
  return error;
}

function view(record: ScopeMapRecord): ScopeMapView {
  return {
    name: record.name,
    type: "UserDefined",
    description: record.description ?? "",
    actions: record.actions,
    creationDate: record.createdAt,
    updatedAt: record.updatedAt,
  };
}

function systemView(name: keyof typeof SYSTEM_SCOPE_MAPS): ScopeMapView {
  const definition = SYSTEM_SCOPE_MAPS[name];
  return { name, type: "SystemDefined", description: definition.description, actions: [...definition.actions] };
}
