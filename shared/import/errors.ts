/** Why an import failed, in words a person can act on (docs/import.md, "Errors"). */
export type ImportErrorCode = "AuthenticationFailed" | "SourceNotFound" | "NotARegistry" | "DigestMismatch" | "SourceUnreachable" | "TagExists" | "InvalidRequest" | "SourceError";

export class ImportError extends Error {
  constructor(
    readonly code: ImportErrorCode,
    message: string,
  ) {
    super(message);
  }
}
