/** Runs a real HAProxy (`haproxy -db`) for a test, on ports picked by the test; `stop()` kills it. */
import { spawn, type ChildProcess } from 'node:child_process';
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';

export interface HAProxy {
  child: ChildProcess;
  output: () => string;
  stop(): Promise<void>;
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

/** Starts HAProxy with `config`, resolves once every port in `ports` accepts connections. */
export async function startHAProxy(dir: string, config: string, ports: number[]): Promise<HAProxy> {
  const file = join(dir, 'haproxy.cfg');
  writeFileSync(file, config);
  const child = spawn('haproxy', ['-db', '-f', file], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (out += d));
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await exited;
  };
  const t0 = Date.now();
  for (const port of ports) {
    while (!(await canConnect(port))) {
      if (child.exitCode !== null || Date.now() - t0 > 5000) {
        await stop();
        throw new Error('haproxy did not start:\n' + out);
      }
      await new Promise((r) => setTimeout(r, 20));
    }
  }
  return { child, output: () => out, stop };
}

/** A self-signed EC certificate and key in one PEM file (HAProxy's `crt` format). */
export function selfSigned(dir: string, cn = 'localhost'): string {
  const key = join(dir, 'key.pem');
  const cert = join(dir, 'cert.pem');
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-subj',
      `/CN=${cn}`,
      '-keyout',
      key,
      '-out',
      cert,
      '-days',
      '1',
    ],
    { stdio: 'ignore' },
  );
  const pem = join(dir, 'both.pem');
  execFileSync('sh', ['-c', `cat "${cert}" "${key}" > "${pem}"`]);
  return pem;
}
