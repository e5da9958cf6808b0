/**
 * A webhook's service URI often carries a credential in its query (Azure Functions' `?code=`,
 * signed callback URLs), so it is sealed with the secret and shown only redacted, as
 * `az acr webhook show` does: scheme://host[:port]/path, the query (and any fragment)
 * replaced by `?…`. Userinfo never gets this far: the schema refuses it.
 */
export function redactServiceUri(uri: string): string {
  let url: URL;
  try {
    url = new URL(uri);
  } catch {
    return "(unparseable URI)";
  }
  const hidden = url.search !== "" || url.hash !== "" || uri.includes("?");
  return `${url.protocol}//${url.host}${url.pathname}${hidden ? "?…" : ""}`;
}
