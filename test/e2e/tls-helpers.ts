/**
 * Helpers for the TLS end-to-end tests: certificates made in-process, TLS upstreams and clients on real
 * sockets, a declarative file written as JSON (YAML's subset, so PEMs need no indentation), and an instance
 * whose log lines are kept for assertions.
 */
import { spawn } from 'node:child_process';
import { randomUUID, X509Certificate } from 'node:crypto';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import tls from 'node:tls';
import { generateSelfSigned, type CertPair, type SelfSignedOptions } from '../../src/tls/default-cert.js';
import { startYaml, type TestInstance } from '../helpers/instance.js';

export { generateSelfSigned, type CertPair };

/** A leaf certificate for `names` (the first is the CN), signed by `issuer`. */
export function leaf(issuer: CertPair, names: string[], opts: Partial<SelfSignedOptions> = {}): CertPair {
  return generateSelfSigned({ commonName: names[0]!, altNames: names, issuer, ...opts });
}

export function ca(name: string): CertPair {
  return generateSelfSigned({ commonName: name, isCA: true });
}

/** The declarative file as JSON text (valid YAML), `_format_version` added. */
export function kongFile(config: Record<string, unknown>): string {
  return JSON.stringify({ _format_version: '3.0', ...config }, null, 1);
}

/** A certificate entity with an id (certificates have no name: references use the id). */
export function certEntity(
  pair: CertPair,
  snis: string[] = [],
  extra: Record<string, unknown> = {},
): { id: string; cert: string; key: string; snis: { name: string }[] } {
  return { id: randomUUID(), cert: pair.cert, key: pair.key, snis: snis.map((name) => ({ name })), ...extra };
}

export function cnOf(raw: Buffer | string): string | undefined {
  return /CN=([^\n,]+)/.exec(new X509Certificate(raw).subject)?.[1];
}

export interface Handshake {
  socket: tls.TLSSocket;
  cn?: string;
  keyType?: string;
  authorized: boolean;
  protocol: string | null;
}

/** `tls.connect` to 127.0.0.1:port; resolves once the handshake is done (the socket stays open). */
export function tlsClient(port: number, opts: tls.ConnectionOptions = {}): Promise<Handshake> {
  return new Promise((resolve, reject) => {
    const c = tls.connect({ host: '127.0.0.1', port, rejectUnauthorized: false, ...opts }, () => {
      const raw = c.getPeerCertificate().raw;
      const x = new X509Certificate(raw);
      resolve({
        socket: c,
        cn: cnOf(raw),
        keyType: x.publicKey.asymmetricKeyType,
        authorized: c.authorized,
        protocol: c.getProtocol(),
      });
    });
    c.once('error', reject);
  });
}

/** The CN of the certificate served for `servername` (undefined: no SNI sent); the connection is closed after. */
export async function servedCN(
  port: number,
  servername?: string,
  opts: tls.ConnectionOptions = {},
): Promise<string | undefined> {
  const h = await tlsClient(port, { servername: servername ?? '', ...opts });
  h.socket.destroy();
  return h.cn;
}

/** Writes `data` and resolves with exactly that many bytes read back. */
export function echoBack(
  s: tls.TLSSocket | import('node:net').Socket,
  data: Buffer | string,
  timeoutMs = 5000,
): Promise<string> {
  const want = Buffer.byteLength(data);
  return new Promise((resolve, reject) => {
    let got = '';
    const t = setTimeout(() => {
      cleanup();
      reject(new Error(`echo: got ${JSON.stringify(got)} of ${want} bytes`));
    }, timeoutMs);
    const onData = (d: Buffer): void => {
      got += d.toString('latin1');
      if (got.length >= want) {
        cleanup();
        resolve(got);
      }
    };
    const onEnd = (): void => {
      cleanup();
      reject(new Error(`echo: closed after ${JSON.stringify(got)}`));
    };
    const cleanup = (): void => {
      clearTimeout(t);
      s.off('data', onData);
      s.off('end', onEnd);
      s.off('close', onEnd);
    };
    s.on('data', onData);
    s.on('end', onEnd);
    s.on('close', onEnd);
    s.write(data);
  });
}

/**
 * A TLS echo server (allowHalfOpen) on 127.0.0.1:0; `sni` lists the servernames its clients sent, `clientCN`
 * the CN of their client certificates.
 */
export async function tlsEchoServer(
  opts: tls.TlsOptions,
  host = '127.0.0.1',
): Promise<{
  port: number;
  sni: (string | false)[];
  clientCN: (string | undefined)[];
  close: () => Promise<void>;
}> {
  const sni: (string | false)[] = [];
  const clientCN: (string | undefined)[] = [];
  const sockets = new Set<tls.TLSSocket>();
  const srv = tls.createServer({ allowHalfOpen: true, ...opts }, (c) => {
    sni.push((c as tls.TLSSocket & { servername: string | false }).servername);
    const peer = c.getPeerCertificate();
    clientCN.push(peer?.raw ? cnOf(peer.raw) : undefined);
    sockets.add(c);
    c.on('close', () => sockets.delete(c));
    c.on('error', () => c.destroy());
    c.pipe(c);
  });
  srv.on('tlsClientError', () => {});
  // raw sockets too: one whose handshake the client gave up on never reaches the secure listener
  const raw = new Set<import('node:net').Socket>();
  srv.on('connection', (s: import('node:net').Socket) => {
    raw.add(s);
    s.on('close', () => raw.delete(s));
  });
  srv.listen(0, host);
  await once(srv, 'listening');
  return {
    port: (srv.address() as AddressInfo).port,
    sni,
    clientCN,
    close: () =>
      new Promise((resolve) => {
        for (const s of [...sockets, ...raw]) s.destroy();
        srv.close(() => resolve());
      }),
  };
}

/** Runs `openssl` with args and stdin `input`; resolves with stdout+stderr and the exit code. */
export function openssl(args: string[], input = '', timeoutMs = 10_000): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const p = spawn('openssl', args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    p.stdout.on('data', (d) => (out += d));
    p.stderr.on('data', (d) => (out += d));
    const timer = setTimeout(() => p.kill('SIGKILL'), timeoutMs);
    p.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, out });
    });
    p.stdin.on('error', () => {});
    p.stdin.end(input);
  });
}

/** `openssl s_client` against the proxy: the subject line of the certificate it got. */
export async function sClientSubject(port: number, args: string[]): Promise<string> {
  const r = await openssl(['s_client', '-connect', `127.0.0.1:${port}`, ...args], '');
  const m = /^subject=(.*)$/m.exec(r.out);
  if (!m) throw new Error('s_client printed no subject:\n' + r.out.slice(0, 2000));
  return m[1]!;
}

export type { TestInstance as LoggedInstance } from '../helpers/instance.js';

/** startYaml (whose log lines are kept in memory) on an ssl listener by default, with this suite's temp-folder tag. */
export function startLogged(
  yaml: string,
  opts: { listen?: string; settings?: Record<string, string> } = {},
): Promise<TestInstance> {
  return startYaml(yaml, { listen: '127.0.0.1:0 ssl', ...opts, tag: 'tlse2e' });
}
