/** Why an import failed, in words a person can act on (docs/import.md, "Errors"). */
export type ImportErrorCode = "AuthenticationFailed" | "SourceNotFound" | "NotARegistry" | "DigestMismatch" | "SourceUnreachable" | "TagExists" | "InvalidRequest" | "SourceError";

export class ImportError extends Error {
  /** Retrying cannot help (an unknown host name): the import fails at once instead of after minutes of retries. */
  readonly final: boolean;
  constructor(
    readonly code: ImportErrorCode,
    message: string,
    options: { final?: boolean } = {},
  ) {
    super(message);
    this.final = options.final ?? false;
  }
}

/** Whether another try may succeed: the source was unreachable for a reason that may pass. */
export function isRetryableImportError(error: unknown): error is ImportError {
  return error instanceof ImportError && error.code === "SourceUnreachable" && !error.final;
}
