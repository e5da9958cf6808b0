/**
 * What the blob garbage collector needs beyond the registry's stores: which digests
 * manifests reference, which repositories link a blob, and its own marks (a blob
 * found unreferenced is marked first and deleted only a grace period later).
 */
export interface GcIndex {
  /** Every digest a manifest references (blobs and child manifests), and every manifest's own digest. */
  referencedDigests(): Promise<Set<string>>;
  /** Looked up fresh, right before a deletion. */
  isReferenced(digest: string): Promise<boolean>;
  /** Every repository's link to the blob, with its version for `deleteLink`. */
  linksOf(digest: string): Promise<Array<{ repository: string; usedAt?: string; version: string }>>;
  /** Deletes the link only if unchanged since read (a push refreshing it wins); false otherwise. */
  deleteLink(repository: string, digest: string, version: string): Promise<boolean>;
  /** Marks by digest: when the collector first found the blob unreferenced. */
  marks(): Promise<Map<string, { markedAt: number; version: string }>>;
  putMark(digest: string, markedAt: number): Promise<void>;
  /** Deletes the mark only if unchanged since read; false if someone changed it. */
  deleteMark(digest: string, version?: string): Promise<boolean>;
}

/** The content store's inventory: every stored digest with when it was last written. */
export interface ContentInventory {
  listContent(): AsyncIterable<{ digest: string; lastModified: Date; version: string }>;
  /** Deletes the content only if unchanged since listed (an upload writing it again wins); false otherwise. */
  deleteContent(digest: string, version: string): Promise<boolean>;
}
