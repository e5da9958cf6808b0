/**
 * Building DOM nodes without innerHTML: every value from the API becomes a text node, so a
 * name or an error message can never inject markup (and the CSP forbids inline script anyway).
 */
type Attributes = Record<string, string | number | boolean | undefined | ((event: Event) => void)>;
export type Child = Node | string | number | null | undefined | false | Child[];

export function h<K extends keyof HTMLElementTagNameMap>(tag: K, attributes: Attributes = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === false) continue;
    if (typeof value === "function") element.addEventListener(name.replace(/^on/, ""), value);
    else if (value === true) element.setAttribute(name, "");
    else element.setAttribute(name, String(value));
  }
  append(element, children);
  return element;
}

function append(parent: Node, children: Child[]): void {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(parent, child);
    else parent.appendChild(typeof child === "object" ? child : document.createTextNode(String(child)));
  }
}

/** Replaces what `parent` shows. */
export function show(parent: Element, ...children: Child[]): void {
  parent.replaceChildren();
  append(parent, children);
}

/** A labelled form field: the label names the input, for screen readers and for clicking. */
let fieldCount = 0;
export function field(label: string, input: HTMLInputElement | HTMLSelectElement | HTMLTextAreaElement, hint?: string): HTMLElement {
  input.id ||= `field-${++fieldCount}`;
  const hintElement = hint ? h("small", { id: `${input.id}-hint` }, hint) : null;
  if (hintElement) input.setAttribute("aria-describedby", hintElement.id);
  return h("div", { class: "field" }, h("label", { for: input.id }, label), input, hintElement);
}

/** A message the screen reader announces; errors are shown in the role=alert region. */
export function notice(kind: "error" | "info", text: string): HTMLElement {
  return h("p", { class: `notice ${kind}`, role: kind === "error" ? "alert" : "status" }, text);
}

/** A secret shown once (a password, a connection string), with a copy button. */
export function secretOnce(label: string, value: string): HTMLElement {
  const area = h("textarea", { readonly: true, rows: Math.min(6, Math.ceil(value.length / 70) + 1), class: "secret", "data-secret": "" });
  area.value = value;
  const copied = h("span", { role: "status", class: "copied" });
  const copy = h("button", {
    type: "button",
    onclick: () => {
      void navigator.clipboard.writeText(value).then(
        () => (copied.textContent = "Copied."),
        () => {
          area.select();
          copied.textContent = "Select and copy it by hand (the browser refused clipboard access).";
        },
      );
    },
  }, "Copy");
  return h("div", { class: "secret-box" }, field(label, area, "Shown once: the registry keeps only a hash. Generating again replaces it."), h("div", { class: "row" }, copy, copied));
}
