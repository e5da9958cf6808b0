/**
 * HTTP requests from a chosen loopback source address (127.0.0.0/8 is all local on Linux),
 * so a test can be several clients at once: an attacker at 127.0.0.2, the legitimate client at
 * 127.0.0.3. fetch cannot choose its source address; node:http can.
 */
import { request } from "node:http";

export interface AddressedResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  json<T = any>(): T;
}

export function getFrom(localAddress: string, url: string, headers: Record<string, string> = {}): Promise<AddressedResponse> {
  return new Promise((resolve, reject) => {
    const req = request(url, { localAddress, headers, agent: false }, (res) => {
      const parts: Buffer[] = [];
      res.on("data", (chunk: Buffer) => parts.push(chunk));
      res.on("error", reject);
      res.on("end", () => {
        const text = Buffer.concat(parts).toString("utf8");
        resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json: () => JSON.parse(text) });
      });
    });
    req.on("error", reject);
    req.end();
  });
}

export const basic = (username: string, password: string): string => `Basic ${Buffer.from(`${username}:${password}`).toString("base64")}`;
