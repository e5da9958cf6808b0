import { describe, expect, it } from "vitest";
import { generatePassword } from "../../shared/auth/passwords.js";

describe("generated passwords", () => {
  it("are 43 base64url characters that never start with '-', which command lines would read as an option", () => {
    const passwords = Array.from({ length: 5000 }, () => generatePassword());
    for (const password of passwords) expect(password).toMatch(/^[A-Za-z0-9_][A-Za-z0-9_-]{42}$/);
    expect(new Set(passwords).size).toBe(passwords.length);
  });
});
