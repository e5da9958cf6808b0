/** The errno name (`code`) of a failed file-system call. */
export function errorCode(error: unknown): string | undefined {
  return typeof error === "object" && error !== null ? (error as { code?: string }).code : undefined;
}

export function isNotFound(error: unknown): boolean {
  return errorCode(error) === "ENOENT";
}
