/** The deployment files parse and say what docs/operations.md says they do. (No container engine here to build.) */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { loadConfigText } from '../../src/config/load.js';
import { ROOT } from '../../src/paths.js';

type Obj = Record<string, any>;

const K8S = join(ROOT, 'deploy', 'kubernetes');

function manifests(): Map<string, Obj> {
  const out = new Map<string, Obj>();
  for (const f of readdirSync(K8S).filter((n) => n.endsWith('.yaml'))) {
    for (const doc of parseAllDocuments(readFileSync(join(K8S, f), 'utf8'))) {
      assert.deepEqual(doc.errors, [], `${f} parses`);
      const o = doc.toJS() as Obj;
      out.set(`${o.kind}/${o.metadata?.name ?? f}`, o);
    }
  }
  return out;
}

test('Kubernetes: Deployment with 2 replicas, exec probes on kong-ts health, preStop quit, grace above it', () => {
  const d = manifests().get('Deployment/kong-ts')!;
  assert.ok(d, 'a Deployment named kong-ts');
  assert.equal(d.apiVersion, 'apps/v1');
  assert.equal(d.spec.replicas, 2);
  assert.deepEqual(d.spec.selector.matchLabels, d.spec.template.metadata.labels);
  const pod = d.spec.template.spec;
  const c = pod.containers[0];
  for (const probe of ['readinessProbe', 'livenessProbe']) {
    assert.deepEqual(c[probe].exec.command, ['kong-ts', 'health'], probe);
  }
  const preStop = c.lifecycle.preStop.exec.command.join(' ');
  const quit = /kong-ts quit -t (\d+)/.exec(preStop);
  const sleep = /sleep (\d+)/.exec(preStop);
  assert.ok(quit && sleep, preStop);
  assert.ok(
    pod.terminationGracePeriodSeconds > Number(quit[1]) + Number(sleep[1]) + 5,
    'the grace period outlasts preStop',
  );
  const env = Object.fromEntries(c.env.map((e: Obj) => [e.name, e.value]));
  assert.match(env.KONG_ADMIN_LISTEN, /^127\.0\.0\.1:/, 'the admin API stays on loopback');
  assert.equal(env.KONG_DECLARATIVE_CONFIG, '/etc/kong-ts/kong.yml');
  const port = Number(/:(\d+)/.exec(env.KONG_STREAM_LISTEN)![1]);
  assert.equal(c.ports[0].containerPort, port, 'the container port is the stream port');
  const mount = c.volumeMounts.find((m: Obj) => m.name === 'config');
  assert.equal(mount.mountPath, '/etc/kong-ts');
  assert.equal(mount.subPath, undefined, 'no subPath: subPath mounts never see ConfigMap updates');
  assert.equal(pod.volumes.find((v: Obj) => v.name === 'config').configMap.name, 'kong-ts-config');
  assert.equal(pod.securityContext.runAsNonRoot, true);
});

test('Kubernetes: Service targets the pods and the stream port; the ConfigMap holds a valid kong.yml', () => {
  const m = manifests();
  const svc = m.get('Service/kong-ts')!;
  const d = m.get('Deployment/kong-ts')!;
  assert.deepEqual(svc.spec.selector, d.spec.template.metadata.labels);
  assert.equal(svc.spec.ports[0].targetPort, d.spec.template.spec.containers[0].ports[0].name);
  const cm = m.get('ConfigMap/kong-ts-config')!;
  const res = loadConfigText(cm.data['kong.yml'], 'configmap:kong.yml');
  assert.equal(res.ok, true, JSON.stringify(res.problems));
  const kust = m.get('Kustomization/kustomization.yaml')!;
  assert.deepEqual([...kust.resources].sort(), ['configmap.yaml', 'deployment.yaml', 'service.yaml']);
});

test('Dockerfile: multi-stage, npm ci, tsc, non-root, EXPOSE, stop signal, entry point', () => {
  const df = readFileSync(join(ROOT, 'Dockerfile'), 'utf8');
  const from = [...df.matchAll(/^FROM (\S+)/gm)].map((x) => x[1]);
  assert.equal(from.length, 2, 'two stages');
  assert.ok(from.every((f) => f!.startsWith('node:20')));
  assert.match(df, /^RUN npm ci/m);
  assert.match(df, /npx tsc -p tsconfig.json/);
  assert.match(df, /npm prune --omit=dev/);
  assert.match(df, /^USER node$/m);
  assert.match(df, /^EXPOSE \d+$/m);
  assert.match(df, /^STOPSIGNAL SIGQUIT$/m);
  assert.match(df, /^ENTRYPOINT \["kong-ts"\]$/m);
  for (const copied of ['package.json', 'node_modules', 'dist/src', 'schemas', 'bin']) {
    assert.match(df, new RegExp(`COPY --from=build /app/${copied.replace('/', '\\/')}`), copied);
  }
  const ignore = readFileSync(join(ROOT, '.dockerignore'), 'utf8').split('\n');
  for (const e of ['node_modules', '.git', '.build', 'dist']) assert.ok(ignore.includes(e), `.dockerignore has ${e}`);
});
