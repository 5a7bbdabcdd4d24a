import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runCli, tempDir, type RunResult } from '../helpers/cli.js';
import { loadConfigText } from '../../src/config/load.js';
import type { DeclarativeConfig } from '../../src/config/types.js';

export { runCli, tempDir };

export function runRoute(args: string[], opts: { timeoutMs?: number } = {}): Promise<RunResult> {
  return runCli(['route', ...args], opts);
}

/** Writes files into a fresh temp dir; returns their paths by name. */
export function files(tag: string, contents: Record<string, string>): Record<string, string> & { dir: string } {
  const dir = tempDir(tag);
  const out: Record<string, string> = {};
  for (const [name, text] of Object.entries(contents)) writeFileSync((out[name] = join(dir, name)), text);
  return Object.assign(out, { dir });
}

/** Loads config text that must be valid. */
export function cfg(text: string, file = 'kong.yml'): DeclarativeConfig {
  const r = loadConfigText(text, file);
  if (!r.ok) throw new Error(r.problems.map((p) => p.message).join('\n'));
  return r.config;
}

export const OLD = `_format_version: "3.0"
services:
  - name: redis-a
    url: tcp://10.0.0.1:6379
    routes:
      - name: redis
        protocols: [tcp]
        sources: [{ ip: 10.0.0.0/8 }]
        destinations: [{ port: 6379 }]
  - name: redis-b
    url: tcp://10.0.0.2:6379
  - name: web
    url: tls://10.0.0.3:443
    routes:
      - name: web-sni
        protocols: [tls]
        snis: [app.example.com]
  - name: gone
    url: tcp://10.0.0.9:1
    routes:
      - name: gone-route
        protocols: [tcp]
        destinations: [{ port: 7000 }]
upstreams:
  - name: up
    targets:
      - target: 10.1.0.1:80
`;

export const NEW = `_format_version: "3.0"
# redis moves to b; the order of fields and entities changes but that is no difference
services:
  - name: redis-b
    url: tcp://10.0.0.2:6379
    routes:
      - name: redis
        protocols: [tcp]
        destinations: [{ port: 6379 }]
        sources: [{ ip: 10.0.0.0/8 }]
  - name: redis-a
    url: tcp://10.0.0.1:6379
  - name: web
    url: tls://10.0.0.4:443
    retries: 2
    routes:
      - name: web-sni
        protocols: [tls]
        snis: ["*.example.org", app.example.com]
        tags: [kong-ts.reload=drain]
      - name: new-route
        protocols: [tcp]
        destinations: [{ ip: 192.168.0.1, port: 80 }]
upstreams:
  - name: up
    algorithm: least-connections
    healthchecks: { active: { healthy: { interval: 5 } } }
    targets:
      - target: 10.1.0.1:80
        weight: 50
`;
