/**
 * Sign-in: the admin key or a Microsoft Entra ID access token, checked by one call to the
 * management API before it is kept (sessionStorage, api.ts). A refused credential is not kept.
 */
import { api, ApiError, credential } from "../api.js";
import { field, h, notice, show } from "../dom.js";

export function renderSignIn(root: Element, reason: string | undefined, signedIn: () => void): void {
  const input = h("input", { type: "password", name: "credential", autocomplete: "current-password", required: true, spellcheck: "false" });
  const messages = h("div", { class: "messages" }, reason ? notice("error", reason) : null);
  const submit = h("button", { type: "submit", class: "primary" }, "Sign in");
  const form = h(
    "form",
    {
      class: "card sign-in",
      "aria-labelledby": "sign-in-title",
      onsubmit: (event: Event) => {
        event.preventDefault();
        const value = input.value.trim();
        if (!value) return;
        submit.disabled = true;
        show(messages, notice("info", "Checking…"));
        // Any authenticated read proves the credential; the fleet page reads this list anyway.
        api("GET", "connectedRegistries", undefined, value).then(
          () => {
            credential.set(value);
            signedIn();
          },
          (error: unknown) => {
            submit.disabled = false;
            const message = error instanceof ApiError && error.status === 401 ? `Refused: ${error.message}` : `Cannot reach the management API: ${(error as Error).message}`;
            show(messages, notice("error", message));
            input.focus();
          },
        );
      },
    },
    h("h1", { id: "sign-in-title" }, "Sign in to the registry console"),
    h("p", {}, "The console calls the registry's management API with this credential. It stays in this browser tab only (session storage) and is never put in a URL or a cookie."),
    field("Admin key or Microsoft Entra ID access token", input),
    submit,
    messages,
  );
  show(root, h("main", { id: "main", class: "narrow" }, form));
  input.focus();
}
