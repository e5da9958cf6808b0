/** The registry's name in tokens (`aud`) and challenges (`service`), and the token realm. */
import type { HandlerRequest } from "../http/types.js";

export interface ServiceIdentity {
  service: string;
  realm: string;
}

/**
 * From configuration when set (the login server behind a proxy or custom domain), else
 * from the request: the host the client used is the name it will ask a token for.
 */
export function serviceIdentity(request: HandlerRequest, loginServer: string | undefined): ServiceIdentity {
  const host = loginServer ?? request.headers.get("x-forwarded-host") ?? request.headers.get("host") ?? request.url.host;
  const protocol = request.headers.get("x-forwarded-proto") ?? request.url.protocol.replace(":", "");
  return { service: host, realm: `${protocol}://${host}/oauth2/token` };
}
