/**
 * Hostile config inputs against a real kong-ts process: each one is refused with its reason while the old config
 * keeps serving, traffic keeps flowing and the process stays alive; then a good file loads, and SIGTERM stops it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { connect, createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { request } from 'node:http';
import { exited, freePort, startCli, tempDir } from '../helpers/cli.js';

/** POST /config on a new connection; the answer counts even when the server closes before reading the whole body. */
function postConfig(admin: string, body: string, type: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    let answered = false;
    const req = request(
      `${admin}/config`,
      { method: 'POST', agent: false, headers: { 'content-type': type } },
      (res) => {
        answered = true;
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (text += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
        res.on('error', reject);
      },
    );
    req.on('error', (err) => {
      if (!answered) reject(err);
    });
    req.end(body);
  });
}

async function banner(name: string): Promise<{ server: Server; port: number }> {
  const server = createServer((s) => {
    s.write(name + '\n');
    s.pipe(s);
    s.on('error', () => {});
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return { server, port: (server.address() as { port: number }).port };
}

function whoAnswers(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect(port, '127.0.0.1');
    s.setEncoding('utf8');
    s.once('data', (d: string) => {
      resolve(d.split('\n')[0]!);
      s.destroy();
    });
    s.on('error', reject);
    s.setTimeout(5000, () => {
      s.destroy();
      reject(new Error('no banner'));
    });
  });
}

const config = (port: number, extra = '') => `_format_version: "3.0"
services:
  - name: svc
    url: tcp://127.0.0.1:${port}
    routes:
      - name: all
        protocols: [tcp]
        destinations: [{ ip: 127.0.0.1 }]
${extra}`;

/** Replaces the config path by whatever `make` puts there (through a temporary name when it is a file). */
function replace(file: string, make: (path: string) => void): void {
  rmSync(file, { recursive: true, force: true });
  make(file);
}

async function until<T>(what: string, fn: () => T | undefined | Promise<T | undefined>, ms = 30_000): Promise<T> {
  const t0 = Date.now();
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

test(
  'hostile files and POST /config bodies are refused; the old config serves, the process lives and stops on SIGTERM',
  { timeout: 240_000 },
  async (t) => {
    const a = await banner('A');
    const b = await banner('B');
    t.after(() => {
      a.server.close();
      b.server.close();
    });
    const dir = tempDir('hostile');
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const file = join(dir, 'kong.yml');
    writeFileSync(file, config(a.port));
    const port = await freePort();
    const adminPort = await freePort();
    const { child, out } = await startCli(
      [
        '-c',
        file,
        '-p',
        join(dir, 'prefix'),
        '--stream-listen',
        `127.0.0.1:${port}`,
        '--admin-listen',
        `127.0.0.1:${adminPort}`,
        '--v',
        '--set',
        'reload_debounce=50',
        '--set',
        'declarative_config_max_size=1m',
        '--set',
        'declarative_config_load_heap=64',
        '--set',
        'proxy_stream_access_log=off',
      ],
      { env: { KONG_TS_TEST_LOAD_EXHAUST: '1' } },
    );
    t.after(() => {
      if (child.exitCode === null) child.kill('SIGKILL');
    });
    const admin = `http://127.0.0.1:${adminPort}`;
    const status = async () =>
      (await (await fetch(`${admin}/status`)).json()) as {
        configuration_hash: string;
        last_config_error: string | null;
      };
    assert.equal(await whoAnswers(port), 'A');

    /** The next refusal logged after `from` whose text includes `want`. */
    const refused = (from: number, want: string) =>
      until(`a refusal saying ${want}`, () => {
        const line = out()
          .slice(from)
          .split('\n')
          .find((l) => l.includes('declarative config rejected') && l.includes(want));
        return line;
      });
    const stillServing = async () => {
      assert.equal(child.exitCode, null, 'the process is alive');
      assert.equal(await whoAnswers(port), 'A', 'the old config serves');
      const r = await fetch(`${admin}/status`);
      await r.arrayBuffer(); // read to the end: the connection goes back to the pool at once
      assert.equal(r.status, 200);
    };

    // files at the config path that are not regular files, or too large: refused before any byte is read
    const cases: [string, (p: string) => void, string][] = [
      ['a FIFO', (p) => execFileSync('mkfifo', [p]), 'is a FIFO (named pipe), not a regular file'],
      ['/dev/zero', (p) => symlinkSync('/dev/zero', p), 'is a character device, not a regular file'],
      ['a directory', (p) => mkdirSync(p), 'is a directory, not a regular file'],
      [
        'an oversized file',
        (p) => writeFileSync(p, config(b.port, '# ' + 'x'.repeat(2 * 1024 * 1024))),
        'over declarative_config_max_size (1048576 bytes)',
      ],
      [
        'a deep YAML file',
        (p) => writeFileSync(p, 'config: ' + '['.repeat(100_000) + ']'.repeat(100_000)),
        'kong.yml:1:208: error: nesting deeper than 200 levels',
      ],
      [
        'bytes that are not UTF-8',
        (p) =>
          writeFileSync(
            p,
            Buffer.concat([Buffer.from(config(b.port) + '_comment: "caf'), Buffer.from([0xe9]), Buffer.from('"\n')]),
          ),
        'kong.yml:9:15: error: invalid UTF-8: byte 0xe9',
      ],
      [
        'an alias bomb',
        (p) =>
          writeFileSync(
            p,
            [
              '_format_version: "3.0"',
              'a: &a [1,2]',
              'b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]',
              'c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]',
              'd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]',
              'e: [*d,*d,*d,*d,*d,*d,*d,*d,*d,*d]',
            ].join('\n'),
          ),
        'kong.yml:6:5: error: Excessive alias count',
      ],
      [
        'a password file',
        (p) => writeFileSync(p, 'root:x:0:0:root:/root:/bin/bash\nsecretuser:x:1000:1000::/home/secretuser:/bin/sh\n'),
        'not a declarative config: the file is plain text',
      ],
    ];
    for (const [what, make, want] of cases) {
      await t.test(what, async () => {
        const from = out().length;
        replace(file, make);
        await refused(from, want);
        // SIGHUP reads the same path in the load thread: refused the same way, nothing blocks
        const again = out().length;
        child.kill('SIGHUP');
        await refused(again, want);
        await stillServing();
        assert.ok((await status()).last_config_error);
      });
    }
    assert.ok(!out().includes('secretuser'), 'a file that is not a declarative config is never echoed into the log');

    await t.test('POST /config: deep YAML and JSON bodies, twice each, answered 400; over the limit 413', async () => {
      const deepYaml = 'config: ' + '['.repeat(100_000) + ']'.repeat(100_000);
      const deepJson = '{"config": ' + '['.repeat(5000) + ']'.repeat(5000) + '}';
      // each POST on a connection of its own: a kept-alive socket the server is closing just then would fail the
      // request on a loaded machine, which is not what this test is about
      for (let i = 0; i < 2; i++) {
        const y = await postConfig(admin, deepYaml, 'text/yaml');
        const yb = JSON.parse(y.body) as { code: number; message: string; problems: string[] };
        assert.equal(y.status, 400);
        assert.equal(yb.code, 14);
        // Kong's message, and our file:line:column beside it
        assert.match(yb.message, /^declarative config is invalid: .*nesting deeper than 200 levels/);
        assert.match(yb.problems.join('\n'), /<admin POST \/config>:1:208: error: nesting deeper than 200 levels/);
        const j = await postConfig(admin, deepJson, 'application/json');
        assert.equal(j.status, 400);
        assert.match(
          (JSON.parse(j.body) as { message: string }).message,
          /^Cannot parse JSON body: 1:211: nesting deeper than 200 levels/,
        );
      }
      const big = await postConfig(admin, 'x'.repeat(1024 * 1024 + 1), 'text/plain');
      assert.equal(big.status, 413);
      await stillServing();
    });

    await t.test('a load thread that runs out of memory is a refused load; the next one works', async () => {
      const from = out().length;
      const r = await fetch(`${admin}/config`, {
        method: 'POST',
        body: config(b.port, '# kong-ts-test: exhaust-heap'),
      });
      assert.equal(r.status, 400);
      assert.match(((await r.json()) as { message: string }).message, /ran out of memory/);
      await refused(from, 'ran out of memory');
      await stillServing();
      // the same through the file
      const next = out().length;
      replace(file, (p) => writeFileSync(p, config(b.port, '# kong-ts-test: exhaust-heap')));
      await refused(next, 'ran out of memory');
      await stillServing();
    });

    await t.test('a good file loads after all that; the same content again clears last_config_error', async () => {
      const tmp = `${file}.tmp`;
      writeFileSync(tmp, config(b.port));
      replace(file, (p) => renameSync(tmp, p));
      await until('B to answer', async () => ((await whoAnswers(port)) === 'B' ? true : undefined));
      const s = await until('the status to be clean', async () => {
        const x = await status();
        return x.last_config_error === null ? x : undefined;
      });
      assert.equal(s.last_config_error, null);
      // refused once more, then the live content again (unchanged): the error is cleared
      const from = out().length;
      writeFileSync(file, 'services: [ {');
      await refused(from, 'error');
      assert.ok((await status()).last_config_error);
      writeFileSync(file, config(b.port));
      await until('last_config_error to clear', async () =>
        (await status()).last_config_error === null ? true : undefined,
      );
      assert.equal(await whoAnswers(port), 'B');
    });

    const t0 = Date.now();
    child.kill('SIGTERM');
    assert.equal(await exited(child), 0);
    assert.ok(Date.now() - t0 < 10_000, `stopped in ${Date.now() - t0} ms`);
  },
);
