/**
 * An AdminServer on port 0 over real pieces: the load pipeline, a real ConfigManager, snapshots built with a real
 * runtime (balancers, metrics, bundled plugins). Certificates are made with openssl once per test process.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AdminServer } from '../../src/admin/server.js';
import { ConfigManager, type CompileInput } from '../../src/config/manager.js';
import { silentLogger } from '../../src/log.js';
import { bundledPlugins, pluginSchemas } from '../../src/plugins/registry.js';
import { createRuntime, type Runtime } from '../../src/runtime/runtime.js';
import { SnapshotBuilder } from '../../src/runtime/builder.js';
import type { Snapshot } from '../../src/runtime/snapshot.js';

export interface Pem {
  cert: string;
  key: string;
  caCert: string;
}

let pem: Pem | undefined;

/** An EC certificate with its key, and a CA certificate, for configs that carry TLS material. */
export function testPem(): Pem {
  if (pem) return pem;
  const dir = mkdtempSync(join(tmpdir(), 'kong-ts-admin-pem-'));
  try {
    const run = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
    const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
    run('req', '-x509', ...ec, '-keyout', 'a.key', '-out', 'a.crt', '-subj', '/CN=app.example.com', '-days', '30');
    run(
      'req',
      '-x509',
      ...ec,
      '-keyout',
      'ca.key',
      '-out',
      'ca.crt',
      '-subj',
      '/CN=Admin Test CA',
      '-days',
      '30',
      '-addext',
      'basicConstraints=critical,CA:TRUE',
      '-addext',
      'keyUsage=critical,keyCertSign,cRLSign',
    );
    const r = (f: string) => readFileSync(join(dir, f), 'utf8');
    pem = { cert: r('a.crt'), key: r('a.key'), caCert: r('ca.crt') };
    return pem;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** A PEM as a YAML block scalar indented by `indent` spaces. */
export function block(text: string, indent: number): string {
  return (
    '|\n' +
    text
      .trim()
      .split('\n')
      .map((l) => ' '.repeat(indent) + l)
      .join('\n')
  );
}

export interface Harness {
  base: string;
  admin: AdminServer;
  manager: ConfigManager<Snapshot>;
  runtime: Runtime;
  sessions: Record<string, number>;
  get(path: string, init?: RequestInit): Promise<{ status: number; body: any; headers: Headers; text: string }>;
  close(): Promise<void>;
}

export interface HarnessOptions {
  token?: string;
  /** awaited by every compile after the first: lets a test hold a load in progress */
  gate?: () => Promise<void>;
  file?: string;
  /** declarative_config_max_size, bytes */
  maxBytes?: number;
}

export async function startAdmin(text: string, opts: HarnessOptions = {}): Promise<Harness> {
  const runtime = createRuntime({ logger: silentLogger, plugins: bundledPlugins });
  let first = true;
  const manager = new ConfigManager<Snapshot>({
    file: opts.file ?? 'kong.yml',
    logger: silentLogger,
    loadOptions: { pluginSchemas: pluginSchemas(bundledPlugins) },
    maxBytes: opts.maxBytes,
    compile: async (input: CompileInput) => {
      if (!first && opts.gate) await opts.gate();
      first = false;
      return new SnapshotBuilder(runtime).build(input);
    },
  });
  const loaded = await manager.reloadText(text, opts.file ?? 'kong.yml', 'start');
  if (loaded.status !== 'loaded') throw new Error(`test config did not load: ${JSON.stringify(loaded)}`);
  const sessions: Record<string, number> = {};
  const admin = new AdminServer({
    listeners: [{ host: '127.0.0.1', port: 0 }],
    token: opts.token,
    logger: silentLogger,
    state: {
      manager,
      runtime,
      nodeId: '3f0d6a2e-0000-4000-8000-000000000001',
      startedAt: Date.now(),
      connections: () => ({ accepted: 7, active: 2, handled: 5 }),
      sessionsByRoute: () => ({ ...sessions }),
      settings: { stream_listen: '127.0.0.1:0' },
    },
  });
  await admin.listen();
  const base = `http://127.0.0.1:${admin.addresses()[0]!.port}`;
  return {
    base,
    admin,
    manager,
    runtime,
    sessions,
    async get(path, init) {
      const res = await fetch(base + path, init);
      const text = await res.text();
      let body: any;
      try {
        body = text ? JSON.parse(text) : undefined;
      } catch {
        body = undefined;
      }
      return { status: res.status, body, headers: res.headers, text };
    },
    async close() {
      await admin.close();
      await manager.close();
      runtime.registry.close();
    },
  };
}
