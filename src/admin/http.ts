import type { IncomingMessage, ServerResponse } from 'node:http';

/** Request bodies above this are refused with 413: a declarative file of 10k routes is well under 8 MiB. */
const MAX_BODY_BYTES = 16 * 1024 * 1024;

/** An answer that a handler gives by throwing: the server sends it as is, and logs nothing (a user mistake). */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly body: Record<string, unknown>,
    readonly headers: Record<string, string> = {},
  ) {
    super(typeof body.message === 'string' ? body.message : String(status));
  }
}

const PRIVATE_KEY_PEM = /-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----[\s\S]*?-----END [A-Z0-9 ]*PRIVATE KEY-----/g;

/** Replaces every PEM private key block in a text by `[redacted]` (the text stays valid YAML or JSON). */
export function redactPem(text: string): string {
  return text.includes('PRIVATE KEY') ? text.replace(PRIVATE_KEY_PEM, '[redacted]') : text;
}

function redactReplacer(_key: string, value: unknown): unknown {
  return typeof value === 'string' ? redactPem(value) : value;
}

/**
 * Sends a JSON answer. Every string holding a PEM private key is redacted on the way out, whatever endpoint built
 * the body: private keys never leave through the admin API.
 */
export function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  const text = JSON.stringify(body, redactReplacer);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
    ...headers,
  });
  res.end(text);
}

export function sendEmpty(res: ServerResponse, status: number, headers: Record<string, string> = {}): void {
  res.writeHead(status, headers);
  res.end();
}

function tooLarge(limit: number): HttpError {
  const shown = limit % 1048576 === 0 ? `${limit / 1048576} MiB` : `${limit} bytes`;
  return new HttpError(413, { message: `request body too large (the limit is ${shown})` }, { connection: 'close' });
}

/** Reads the whole request body, refusing (413) more than `limit` bytes without buffering them. */
export async function readBody(req: IncomingMessage, limit = MAX_BODY_BYTES): Promise<Buffer> {
  const declared = Number(req.headers['content-length']);
  if (declared > limit) throw tooLarge(limit);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) throw tooLarge(limit);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}
