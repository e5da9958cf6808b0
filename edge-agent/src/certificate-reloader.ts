/**
 * Serves a renewed TLS certificate without a restart. cert-manager, certbot and other ACME
 * clients renew the files behind --tls-cert/--tls-key in place, usually by an atomic rename (of
 * the file, or of the `..data` symlink a Kubernetes Secret volume swaps). So the folders holding
 * the files are watched (a watch on the file itself would follow the replaced inode and go
 * quiet after the first renewal), and the files are also stat'ed periodically, for file systems
 * where fs.watch sees nothing (network mounts, some container overlays).
 *
 * A new pair is checked before it is used: it must parse and the key must match the
 * certificate (what tls.createSecureContext verifies). Then `server.setSecureContext` swaps it
 * for new handshakes; open connections keep theirs and are never dropped. A bad pair (a renewal
 * half written, a wrong key) is refused with a log line and the previous pair stays in service;
 * when the files change again they are checked again.
 */
import { createHash, X509Certificate } from "node:crypto";
import { watch, type FSWatcher } from "node:fs";
import { readFile, stat } from "node:fs/promises";
import { dirname } from "node:path";
import { createSecureContext } from "node:tls";
import type { Logger } from "./log.js";
import { errorText } from "./log.js";

export interface CertificateFiles {
  certPath: string;
  keyPath: string;
}

/** The part of https.Server (tls.Server) that swaps the certificate for new connections. */
export interface SecureContextTarget {
  setSecureContext(options: { cert: Buffer; key: Buffer }): void;
}

export interface CertificateReloaderOptions {
  /** Seconds between stats of the files, the fallback when watching sees nothing. */
  checkIntervalSeconds: number;
  /** Renewals write the certificate and the key one after the other: wait this long after a change before reading. */
  settleMs?: number;
  /** Called with the served certificate at start, after each renewal and at each periodic check (its expiry: certificate-expiry.ts). */
  onServing?: (certificate: X509Certificate) => void;
}

export class CertificateReloader {
  private readonly watchers: FSWatcher[] = [];
  private timer: NodeJS.Timeout | undefined;
  private settleTimer: NodeJS.Timeout | undefined;
  /** Hash of the pair being served, and of the last pair refused (so a bad pair is logged once, not at every check). */
  private served: string;
  private refused: string | undefined;
  private lastStat = "";
  private checking: Promise<void> = Promise.resolve();
  private servedCertificate: X509Certificate | undefined;

  constructor(
    private readonly server: SecureContextTarget,
    private readonly files: CertificateFiles,
    initial: { cert: Buffer; key: Buffer },
    private readonly log: Logger,
    private readonly options: CertificateReloaderOptions,
  ) {
    this.served = pairHash(initial.cert, initial.key);
    try {
      this.servedCertificate = new X509Certificate(initial.cert);
    } catch {
      // The listener refused a bad pair before this point; nothing to report on.
    }
  }

  async start(): Promise<void> {
    this.reportServing();
    this.lastStat = await this.statText();
    for (const folder of new Set([dirname(this.files.certPath), dirname(this.files.keyPath)])) {
      try {
        const watcher = watch(folder, { persistent: false }, () => this.changed());
        watcher.on("error", (error) => this.log.warn("cannot watch the TLS certificate's folder any more; checking it periodically", { folder, error: errorText(error) }));
        this.watchers.push(watcher);
      } catch (error) {
        this.log.warn("cannot watch the TLS certificate's folder; checking it periodically", { folder, error: errorText(error) });
      }
    }
    this.timer = setInterval(() => void this.poll(), this.options.checkIntervalSeconds * 1000);
    this.timer.unref();
  }

  stop(): void {
    for (const watcher of this.watchers) watcher.close();
    this.watchers.length = 0;
    clearInterval(this.timer);
    clearTimeout(this.settleTimer);
  }

  /** Reads the files now and serves them if they are a new, good pair (also what the watchers and the timer end in). */
  check(): Promise<void> {
    this.checking = this.checking.then(() => this.load()).catch((error: unknown) => this.log.error("checking the TLS certificate files failed", { error: errorText(error) }));
    return this.checking;
  }

  private changed(): void {
    clearTimeout(this.settleTimer);
    this.settleTimer = setTimeout(() => void this.check(), this.options.settleMs ?? 300);
    this.settleTimer.unref();
  }

  private reportServing(): void {
    if (this.servedCertificate) this.options.onServing?.(this.servedCertificate);
  }

  private async poll(): Promise<void> {
    this.reportServing();
    const now = await this.statText();
    if (now === this.lastStat) return;
    this.lastStat = now;
    await this.check();
  }

  /** Size, mtime and inode of both files (symlinks followed): any renewal changes one of them. */
  private async statText(): Promise<string> {
    const one = async (path: string) => {
      try {
        const info = await stat(path);
        return `${info.ino}:${info.size}:${info.mtimeMs}`;
      } catch (error) {
        return (error as NodeJS.ErrnoException).code ?? "error";
      }
    };
    return `${await one(this.files.certPath)} ${await one(this.files.keyPath)}`;
  }

  private async load(): Promise<void> {
    let cert: Buffer;
    let key: Buffer;
    try {
      [cert, key] = await Promise.all([readFile(this.files.certPath), readFile(this.files.keyPath)]);
    } catch (error) {
      // Mid-swap a file may be missing for a moment: the next change or check reads it again.
      this.log.debug("TLS certificate files not readable right now", { error: errorText(error) });
      return;
    }
    const hash = pairHash(cert, key);
    if (hash === this.served || hash === this.refused) return;
    let certificate: X509Certificate;
    try {
      certificate = new X509Certificate(cert);
      // Throws for an unparsable key, or a key that does not match the certificate.
      createSecureContext({ cert, key });
    } catch (error) {
      this.refused = hash;
      this.log.error("refused the new TLS certificate and key: still serving the previous ones", {
        certFile: this.files.certPath,
        keyFile: this.files.keyPath,
        error: errorText(error),
      });
      return;
    }
    this.server.setSecureContext({ cert, key });
    this.served = hash;
    this.servedCertificate = certificate;
    this.refused = undefined;
    this.reportServing();
    this.log.info("serving a renewed TLS certificate", {
      subject: certificate.subject,
      fingerprint256: certificate.fingerprint256,
      validTo: certificate.validTo,
    });
  }
}

function pairHash(cert: Buffer, key: Buffer): string {
  return createHash("sha256").update(cert).update("\0").update(key).digest("hex");
}
