/** Every name a paged listing (tags, repositories) holds, read a thousand at a time. */
export async function listAll(list: (page: { limit: number; after: string | undefined }) => Promise<string[]>): Promise<string[]> {
  const all: string[] = [];
  let after: string | undefined;
  for (;;) {
    const page = await list({ limit: 1000, after });
    all.push(...page);
    if (page.length < 1000) return all;
    after = page[page.length - 1];
  }
}
