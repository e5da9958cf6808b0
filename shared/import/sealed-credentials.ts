/**
 * The source registry's credentials must outlive the request (the worker may run after a
 * restart) but never sit in storage in clear: they are sealed with AES-256-GCM under a key
 * derived (HKDF) from the token-signing key, which only the registry holds.
 */
import { createCipheriv, createDecipheriv, hkdfSync, randomBytes, type KeyObject } from "node:crypto";

export interface SourceCredentials {
  username: string;
  password: string;
}

export class CredentialSealer {
  private readonly key: Buffer;
  /** Keys of rotated-out signing keys: credentials sealed before a rotation still open. */
  private readonly previousKeys: Buffer[];

  /** `purpose` separates keys: what one use sealed, another cannot open (webhook secrets use their own). */
  constructor(signingKey: KeyObject, previous: KeyObject[] = [], purpose = "import-source-credentials") {
    this.key = sealingKey(signingKey, purpose);
    this.previousKeys = previous.map((key) => sealingKey(key, purpose));
  }

  seal(credentials: SourceCredentials): string {
    return this.sealValue(credentials);
  }

  open(text: string): SourceCredentials {
    return this.openValue<SourceCredentials>(text);
  }

  sealValue(value: unknown): string {
    const iv = randomBytes(12);
    const cipher = createCipheriv("aes-256-gcm", this.key, iv);
    const sealed = Buffer.concat([cipher.update(JSON.stringify(value), "utf8"), cipher.final()]);
    return [iv, cipher.getAuthTag(), sealed].map((part) => part.toString("base64url")).join(".");
  }

  openValue<T>(text: string): T {
    return this.openWith<T>(text, [this.key, ...this.previousKeys]);
  }

  /** Whether `text` opens with the current key; false: it was sealed under a rotated-out key (or is not sealed at all). */
  opensWithCurrentKey(text: string): boolean {
    try {
      this.openWith(text, [this.key]);
      return true;
    } catch {
      return false;
    }
  }

  private openWith<T>(text: string, keys: Buffer[]): T {
    const [iv, tag, sealed] = text.split(".").map((part) => Buffer.from(part, "base64url"));
    if (!iv || !tag || !sealed) throw new Error("sealed credentials are malformed");
    for (const key of keys) {
      try {
        const decipher = createDecipheriv("aes-256-gcm", key, iv);
        decipher.setAuthTag(tag);
        return JSON.parse(Buffer.concat([decipher.update(sealed), decipher.final()]).toString("utf8")) as T;
      } catch {
        // Sealed under another key (GCM's tag does not match): try the next.
      }
    }
    throw new Error("the sealed credentials open with none of the registry's keys (sealed before the previous key was rotated out?)");
  }
}

function sealingKey(signingKey: KeyObject, purpose: string): Buffer {
  const material = signingKey.export({ format: "der", type: "pkcs8" });
  return Buffer.from(hkdfSync("sha256", material, Buffer.alloc(0), purpose, 32));
}
