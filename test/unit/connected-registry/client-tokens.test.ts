import { describe, expect, it } from "vitest";
import { MAX_CLIENT_TOKENS, applyClientTokenChanges, validateClientTokens } from "../../../shared/domain/connected-registry/index.js";

const tokens = (count: number, prefix = "client"): string[] => Array.from({ length: count }, (_, index) => `${prefix}${index + 1}`);

describe("client tokens", () => {
  it("adds and removes tokens, keeping the current order and appending additions", () => {
    expect(applyClientTokenChanges(["alpha1", "bravo1", "charlie1"], { addClientTokens: ["delta1"], removeClientTokens: ["bravo1"] })).toEqual({
      ok: true,
      clientTokens: ["alpha1", "charlie1", "delta1"],
    });
  });

  it("collapses duplicates, in the additions and against the current list", () => {
    expect(applyClientTokenChanges(["alpha1"], { addClientTokens: ["alpha1", "bravo1", "bravo1"] })).toEqual({
      ok: true,
      clientTokens: ["alpha1", "bravo1"],
    });
  });

  it("changes nothing when removing a token that is not in the list", () => {
    expect(applyClientTokenChanges(["alpha1"], { removeClientTokens: ["zulu1"] })).toEqual({ ok: true, clientTokens: ["alpha1"] });
  });

  it("refuses the same token in addClientTokens and removeClientTokens, naming it", () => {
    expect(applyClientTokenChanges([], { addClientTokens: ["alpha1", "bravo1"], removeClientTokens: ["bravo1"] })).toEqual({
      ok: false,
      message: 'client token "bravo1" cannot be both added and removed in one update',
    });
  });

  it("refuses an invalid token name, naming it", () => {
    expect(applyClientTokenChanges([], { addClientTokens: ["ok-token", "no"] })).toEqual({
      ok: false,
      message: 'invalid client token name "no": 5-50 letters, digits, - and _',
    });
  });

  it(`accepts exactly ${MAX_CLIENT_TOKENS} client tokens`, () => {
    expect(MAX_CLIENT_TOKENS).toBe(20);
    const result = applyClientTokenChanges(tokens(19), { addClientTokens: ["client20"] });
    expect(result).toEqual({ ok: true, clientTokens: tokens(20) });
  });

  it("refuses a 21st client token with a message that names the limit", () => {
    expect(applyClientTokenChanges(tokens(20), { addClientTokens: ["client21"] })).toEqual({
      ok: false,
      message: "a connected registry may have at most 20 client tokens; this would give it 21",
    });
  });

  it("counts after removals, so a swap at the limit is allowed", () => {
    const result = applyClientTokenChanges(tokens(20), { addClientTokens: ["other1"], removeClientTokens: ["client1"] });
    expect(result.ok && result.clientTokens.length).toBe(20);
  });

  it("counts duplicates once against the limit", () => {
    expect(validateClientTokens([...tokens(20), ...tokens(20)])).toEqual({ ok: true, clientTokens: tokens(20) });
  });

  it("applies the limit to a create request's list", () => {
    expect(validateClientTokens(tokens(21))).toMatchObject({ ok: false, message: expect.stringContaining("at most 20") });
  });
});
