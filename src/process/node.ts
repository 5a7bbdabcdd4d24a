/** What makes this node itself, read the same way by a single process and by a cluster primary. */
import { createPrivateKey, randomUUID, X509Certificate } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { KongTsError } from '../errors.js';
import type { Settings } from '../settings/settings.js';

/** The node id of `<prefix>/node.id` (Kong's node_id in admin answers), made and saved on first start. */
export function nodeId(prefix: string): string {
  const file = join(prefix, 'node.id');
  try {
    return readFileSync(file, 'utf8').trim();
  } catch {
    const id = randomUUID();
    try {
      writeFileSync(file, id + '\n');
    } catch {
      /* the id is then per run */
    }
    return id;
  }
}

/** ssl_cert + ssl_cert_key (paths or inline PEM), or undefined for the generated localhost pair. */
export function readDefaultCert(settings: Settings): { cert: string; key: string } | undefined {
  if (!settings.sslCert || !settings.sslCertKey) return undefined;
  const read = (v: string, key: string) => {
    if (v.startsWith('-----')) return v;
    try {
      return readFileSync(v, 'utf8');
    } catch (err) {
      throw new KongTsError('KTS_SETTINGS_INVALID', [key], {
        detail: `cannot read ${v}: ${(err as NodeJS.ErrnoException).code}`,
        cause: err,
      });
    }
  };
  const pair = { cert: read(settings.sslCert, 'ssl_cert'), key: read(settings.sslCertKey, 'ssl_cert_key') };
  try {
    if (!new X509Certificate(pair.cert).checkPrivateKey(createPrivateKey(pair.key)))
      throw new Error('the key does not match the certificate');
  } catch (err) {
    throw new KongTsError('KTS_SETTINGS_INVALID', ['ssl_cert'], { detail: (err as Error).message, cause: err });
  }
  return pair;
}
