import { describe, expect, it } from "vitest";
import { MAX_PAGE_SIZE, parsePageRequest } from "../../shared/domain/pagination.js";

const parse = (query: string) => parsePageRequest(new URLSearchParams(query));

describe("n/last pagination", () => {
  it("asks for everything when n is absent", () => {
    expect(parse("")).toEqual({ ok: true, page: { limit: undefined, after: undefined } });
  });

  it("asks for everything when n is empty", () => {
    expect(parse("n=")).toEqual({ ok: true, page: { limit: undefined, after: undefined } });
  });

  it("passes last through as the cursor", () => {
    expect(parse("last=alpine")).toEqual({ ok: true, page: { limit: undefined, after: "alpine" } });
    expect(parse("n=5&last=library%2Fbusybox")).toEqual({ ok: true, page: { limit: 5, after: "library/busybox" } });
  });

  it("keeps n=0 as a request for zero entries", () => {
    expect(parse("n=0")).toEqual({ ok: true, page: { limit: 0, after: undefined } });
  });

  it("keeps an n within the maximum", () => {
    expect(parse("n=1")).toEqual({ ok: true, page: { limit: 1, after: undefined } });
    expect(parse("n=1000")).toEqual({ ok: true, page: { limit: 1000, after: undefined } });
  });

  it("clamps n to 1000", () => {
    expect(MAX_PAGE_SIZE).toBe(1000);
    expect(parse("n=1001")).toEqual({ ok: true, page: { limit: 1000, after: undefined } });
    expect(parse("n=99999999999999999999999")).toEqual({ ok: true, page: { limit: 1000, after: undefined } });
  });

  it.each(["abc", "-1", "1.5", "1e3", " 5", "0x10", "5abc"])("refuses the non-numeric n %j, quoting it", (n) => {
    const result = parse(`n=${encodeURIComponent(n)}`);
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.message).toContain(`"${n}"`);
  });
});
