import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from '../../src/paths.js';
import { CLI } from '../helpers/cli.js';
import { NEW, OLD, tempDir } from './helpers.js';

function run(
  cmd: string,
  args: string[],
  cwd: string,
  env: NodeJS.ProcessEnv,
): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve) => {
    const c = spawn(cmd, args, { cwd, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '',
      err = '';
    c.stdout.on('data', (d) => (out += d));
    c.stderr.on('data', (d) => (err += d));
    c.on('close', (code) => resolve({ code, out, err }));
  });
}

test('examples/ci/check-kong-config.sh validates, diffs against the base branch and prints the report', async () => {
  const dir = tempDir('ci');
  const git = (...a: string[]) =>
    execFileSync('git', ['-c', 'user.name=t', '-c', 'user.email=t@t', ...a], { cwd: dir, stdio: 'ignore' });
  git('init', '-q', '-b', 'main');
  writeFileSync(join(dir, 'kong.yml'), OLD);
  git('add', 'kong.yml');
  git('commit', '-q', '-m', 'old');
  writeFileSync(join(dir, 'kong.yml'), NEW);
  const script = join(ROOT, 'examples', 'ci', 'check-kong-config.sh');
  const env = {
    KONG_TS: `${process.execPath} ${CLI}`,
    BASE_REF: 'main',
    PR_NUMBER: '',
    PATH: '/usr/bin:/bin',
    LINT_FAIL_ON: 'never',
  };
  const r = await run('sh', [script], dir, env);
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /^parse successful$/m);
  assert.match(r.out, /^kong\.yml:\d+:\d+: warning: service-unreachable: service 'redis-a' is reached by no route/m);
  assert.match(r.out, /^### kong-ts: changes in `kong\.yml`$/m);
  assert.match(r.out, /route 'redis' now sends dst :6379 from 10\.0\.0\.0\/8 to service 'redis-b' \(was 'redis-a'\)/);
  // lint findings at the default level fail the check; a replayed session the change leaves unrouted too
  const lint = await run('sh', [script], dir, { ...env, LINT_FAIL_ON: 'warning' });
  assert.equal(lint.code, 1);
  assert.match(lint.err, /lint findings at or above 'warning'/);
  const log = join(dir, 'access.json');
  writeFileSync(
    log,
    JSON.stringify({
      protocol: 'tcp',
      client_ip: '10.1.1.1',
      client_port: 5000,
      server_ip: '127.0.0.1',
      server_port: 7000,
    }) + '\n',
  );
  const rep = await run('sh', [script], dir, { ...env, REPLAY_LOG: log, FAIL_ON_UNROUTED: '1' });
  assert.equal(rep.code, 1, rep.err);
  assert.match(rep.out, /^ {2}1 would find no route \(100\.0%\)$/m);
  assert.match(rep.err, /replayed sessions would find no route/);
  writeFileSync(join(dir, 'kong.yml'), OLD.replace('10.0.0.0/8', '10.0.0.300'));
  const bad = await run('sh', [script], dir, { ...env, FORMAT: 'github' });
  assert.equal(bad.code, 1);
  assert.match(bad.out, /^::error file=kong\.yml,line=8,/m);
});
