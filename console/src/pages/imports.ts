/** Imports: the CLI's import form, then the operation's progress polled until it ends. */
import { api, ApiError, segment } from "../api.js";
import { field, h, notice, show } from "../dom.js";
import { bytes } from "../format.js";
import type { Leave } from "../main.js";
import type { ImportOperation } from "../types.js";

const POLL_MS = 1000;

export function renderImports(main: HTMLElement): Leave {
  const source = h("input", { name: "source", required: true, placeholder: "docker.io/library/alpine:3.20" });
  const targets = h("input", { name: "targets", placeholder: "base/alpine:3.20, base/alpine:latest" });
  const mode = h("select", { name: "mode" }, h("option", { value: "NoForce" }, "NoForce: refuse if a target tag exists"), h("option", { value: "Force" }, "Force: replace target tags"));
  const username = h("input", { name: "username", autocomplete: "off" });
  const password = h("input", { name: "password", type: "password", autocomplete: "off" });
  const messages = h("div", { class: "messages" });
  const progress = h("section", { "aria-live": "polite" });
  let stopped = false;
  let timer: number | undefined;

  const watch = async (id: string): Promise<void> => {
    try {
      const operation = await api<ImportOperation>("GET", `operations/${segment(id)}`);
      if (stopped) return;
      drawOperation(progress, operation);
      if (operation.status === "Running") timer = window.setTimeout(() => void watch(id), POLL_MS);
    } catch (error) {
      show(messages, notice("error", (error as Error).message));
    }
  };

  const form = h(
    "form",
    {
      class: "card form-grid",
      onsubmit: (event: Event) => {
        event.preventDefault();
        const targetTags = targets.value.split(",").map((tag) => tag.trim()).filter(Boolean);
        const body = {
          source: source.value.trim(),
          mode: mode.value,
          ...(targetTags.length > 0 ? { targetTags } : {}),
          ...(username.value ? { username: username.value, password: password.value } : {}),
        };
        show(messages);
        api<ImportOperation>("POST", "import", body).then(
          (operation) => {
            password.value = "";
            drawOperation(progress, operation);
            void watch(operation.id);
          },
          (error: unknown) => show(messages, notice("error", error instanceof ApiError ? `${error.code}: ${error.message}` : String(error))),
        );
      },
    },
    field("Source image", source, "<registry>/<repository>:<tag> or @<digest>; without a registry host, a repository of this registry"),
    field("Target tags (comma-separated)", targets, "Default: the source's repository and tag"),
    field("Mode", mode),
    field("Source username (optional)", username),
    field("Source password (optional)", password, "Sent once with the request; the registry does not keep it"),
    h("button", { type: "submit", class: "primary" }, "Start import"),
  );
  show(main, h("h1", {}, "Import an image"), form, messages, progress);
  return () => {
    stopped = true;
    window.clearTimeout(timer);
  };
}

function drawOperation(section: HTMLElement, operation: ImportOperation): void {
  const p = operation.progress;
  show(
    section,
    h("h2", {}, `Operation ${operation.id}`),
    h("p", { class: `operation-status status-${operation.status.toLowerCase()}`, "data-status": operation.status }, operation.status),
    p ? [
      // Blobs the registry already held are not copied: a finished import shows full however much it copied.
      h("progress", { max: Math.max(1, p.bytesTotal), value: operation.status === "Succeeded" ? Math.max(1, p.bytesTotal) : p.bytesCopied, "aria-label": "Import progress" }),
      h("p", {}, `${bytes(p.bytesCopied)} of ${bytes(p.bytesTotal)}; blobs ${p.blobsCopied} of ${p.blobsTotal} copied, ${p.blobsSkipped} already here`),
    ] : null,
    operation.digest ? h("p", {}, "Digest ", h("code", {}, operation.digest)) : null,
    h("p", {}, `Targets: ${operation.targetTags.join(", ") || "—"}`),
    operation.error ? notice("error", `${operation.error.code}: ${operation.error.message}`) : null,
  );
}
