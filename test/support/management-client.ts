/** Calls the management API with the test admin key. */
import { TEST_ADMIN_KEY } from "./stack.js";

export class ManagementClient {
  constructor(
    readonly baseUrl: string,
    private readonly key: string = TEST_ADMIN_KEY,
  ) {}

  async call(method: string, path: string, body?: unknown): Promise<{ status: number; body: any }> {
    const response = await fetch(`${this.baseUrl}/management/${path}`, {
      method,
      headers: { Authorization: `Bearer ${this.key}`, ...(body !== undefined ? { "Content-Type": "application/json" } : {}) },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    const text = await response.text();
    return { status: response.status, body: text ? JSON.parse(text) : undefined };
  }

  /** Creates a token on a scope map (or on repositories) and returns its password1. */
  async tokenWithPassword(name: string, grant: { scopeMap: string } | { repositories: Array<{ name: string; actions: string[] }> }): Promise<string> {
    const created = await this.call("POST", "tokens", { name, ...grant });
    if (created.status !== 201) throw new Error(`token create answered ${created.status}: ${JSON.stringify(created.body)}`);
    const credentials = await this.call("POST", `tokens/${name}/credentials/generate`, { name: "password1" });
    if (credentials.status !== 200) throw new Error(`credential generate answered ${credentials.status}: ${JSON.stringify(credentials.body)}`);
    return credentials.body.passwords[0].value as string;
  }
}
