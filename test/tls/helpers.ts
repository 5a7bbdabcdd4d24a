import { spawn } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import net from 'node:net';
import tls from 'node:tls';
import type { CertStore } from '../../src/tls/cert-store.js';
import { parseClientHello } from '../../src/tls/client-hello.js';
import { peekClientHello } from '../../src/tls/peek.js';
import { terminateTls, type TlsInfo } from '../../src/tls/terminate.js';

/** Listens on 127.0.0.1:0 and resolves with the port. */
export function listen(server: net.Server, host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, () => resolve((server.address() as net.AddressInfo).port));
  });
}

export function close(server: net.Server): Promise<void> {
  return new Promise((resolve) => {
    (server as net.Server & { closeAllConnections?: () => void }).closeAllConnections?.();
    server.close(() => resolve());
  });
}

/**
 * Captures the ClientHello a real client sends: a plain TCP server reads until the bytes parse as a complete
 * hello, then drops the connection. `client(port)` starts the client; its errors are ignored.
 */
export async function captureHello(client: (port: number) => void): Promise<Buffer> {
  const server = net.createServer();
  const port = await listen(server);
  try {
    return await new Promise<Buffer>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no ClientHello captured')), 5000);
      server.on('connection', (s) => {
        let buf = Buffer.alloc(0);
        s.on('error', () => {});
        s.on('data', (d) => {
          buf = Buffer.concat([buf, d]);
          const r = parseClientHello(buf);
          if (r.kind !== 'need-more') {
            clearTimeout(timer);
            s.destroy();
            if (r.kind === 'ok') resolve(buf.subarray(0, r.hello.length));
            else reject(new Error('captured bytes do not parse: ' + r.reason));
          }
        });
      });
      client(port);
    });
  } finally {
    await close(server);
  }
}

/** A Node TLS client whose hello we want; the connection fails when the capture server drops it. */
export function nodeClient(opts: tls.ConnectionOptions): (port: number) => void {
  return (port) => {
    const c = tls.connect({ host: '127.0.0.1', port, rejectUnauthorized: false, ...opts });
    c.on('error', () => {});
  };
}

/** Runs `openssl` with args, stdin closed after `input`; resolves with stdout+stderr and the exit code. */
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

/** Subject CN of a PEM or DER certificate, or of the certificate a TLS socket got from its peer. */
export function subjectCN(cert: string | Buffer): string | undefined {
  return /CN=([^\n,]+)/.exec(new X509Certificate(cert).subject)?.[1];
}

/** Connects with tls.connect and resolves with the peer's CN and key type, then closes. */
export function fetchServerCert(
  port: number,
  opts: tls.ConnectionOptions = {},
): Promise<{ cn?: string; keyType?: string; protocol: string | null }> {
  return new Promise((resolve, reject) => {
    const c = tls.connect({ host: '127.0.0.1', port, rejectUnauthorized: false, ...opts }, () => {
      const raw = c.getPeerCertificate().raw;
      const x = new X509Certificate(raw);
      resolve({ cn: subjectCN(raw), keyType: x.publicKey.asymmetricKeyType, protocol: c.getProtocol() });
      c.end();
    });
    c.on('error', reject);
  });
}

/** mulberry32: a small seeded PRNG so the property tests are repeatable. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** One connection's outcome at the terminating test server. */
export interface Outcome {
  sni?: string;
  peekError?: string;
  error?: Error;
  info?: TlsInfo;
}

/**
 * A tiny TLS echo server built the way the proxy will: peek the ClientHello, then terminate with the store
 * (certificate chosen by the peeked SNI) and echo the decrypted bytes. Every connection's outcome is pushed
 * to `outcomes` and announced to the `next()` waiter.
 */
export async function terminatingServer(
  store: CertStore,
  handshakeTimeoutMs = 2000,
): Promise<{
  port: number;
  next: () => Promise<Outcome>;
  close: () => Promise<void>;
}> {
  const waiters: Array<(o: Outcome) => void> = [];
  const ready: Outcome[] = [];
  const report = (o: Outcome): void => {
    const w = waiters.shift();
    if (w) w(o);
    else ready.push(o);
  };
  const server = net.createServer((sock) => {
    sock.on('error', () => {});
    void peekClientHello(sock, { timeoutMs: 2000, maxBytes: 16 * 1024 + 64 }).then(({ hello, buffered, error }) => {
      if (!hello) {
        sock.destroy();
        report({ peekError: error });
        return;
      }
      terminateTls(sock, buffered, store, { handshakeTimeoutMs, sni: hello.sni }, (err, t, info) => {
        if (err || !t) {
          report({ sni: hello.sni, error: err ?? new Error('no socket') });
          return;
        }
        t.on('error', () => {});
        t.pipe(t);
        report({ sni: hello.sni, info });
      });
    });
  });
  const port = await listen(server);
  return {
    port,
    next: () => {
      const o = ready.shift();
      return o ? Promise.resolve(o) : new Promise((resolve) => waiters.push(resolve));
    },
    close: () => close(server),
  };
}
