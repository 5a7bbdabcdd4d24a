import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** PEM material made with openssl for the tests; generated once per test process. */
export interface TestPki {
  rsaCert: string;
  rsaKey: string;
  ecCert: string;
  ecKey: string;
  otherRsaKey: string;
  caCert: string;
  caKey: string;
  /** signed by the CA, no basic constraints: not a CA */
  leafCert: string;
  leafKey: string;
  /** valid for 10 days */
  soonCert: string;
  soonKey: string;
  /** valid 2000-01-01 to 2001-01-01 */
  expiredCert: string;
  expiredKey: string;
}

let cached: TestPki | undefined;

function ossl(dir: string, ...args: string[]): void {
  execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
}

const EC = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256'];

export function pki(): TestPki {
  if (cached) return cached;
  const dir = mkdtempSync(join(tmpdir(), 'kong-ts-pki-'));
  try {
    const selfSigned = (name: string, key: string[], days: string): void =>
      ossl(
        dir,
        'req',
        '-x509',
        ...key,
        '-nodes',
        '-keyout',
        `${name}.key`,
        '-out',
        `${name}.crt`,
        '-subj',
        `/CN=${name}.example.com`,
        '-days',
        days,
      );
    selfSigned('rsa', ['-newkey', 'rsa:2048'], '365');
    selfSigned('ec', EC, '365');
    selfSigned('soon', EC, '10');
    ossl(dir, 'genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048', '-out', 'other.key');
    ossl(
      dir,
      'req',
      '-x509',
      ...EC,
      '-nodes',
      '-keyout',
      'ca.key',
      '-out',
      'ca.crt',
      '-subj',
      '/CN=Test CA',
      '-days',
      '365',
      '-addext',
      'basicConstraints=critical,CA:TRUE',
      '-addext',
      'keyUsage=critical,keyCertSign,cRLSign',
    );
    ossl(
      dir,
      'req',
      '-new',
      ...EC,
      '-nodes',
      '-keyout',
      'leaf.key',
      '-out',
      'leaf.csr',
      '-subj',
      '/CN=leaf.example.com',
    );
    ossl(
      dir,
      'x509',
      '-req',
      '-in',
      'leaf.csr',
      '-CA',
      'ca.crt',
      '-CAkey',
      'ca.key',
      '-set_serial',
      '2',
      '-days',
      '365',
      '-out',
      'leaf.crt',
    );
    // openssl 3.0 has no -not_before/-not_after on req/x509; `openssl ca` sets arbitrary dates.
    writeFileSync(
      join(dir, 'ca.cnf'),
      '[ca]\ndefault_ca=d\n[d]\ndatabase=index.txt\nnew_certs_dir=.\nserial=serial\n' +
        'default_md=sha256\npolicy=p\nemail_in_dn=no\n[p]\ncommonName=supplied\n',
    );
    writeFileSync(join(dir, 'index.txt'), '');
    writeFileSync(join(dir, 'serial'), '03\n');
    ossl(
      dir,
      'req',
      '-new',
      ...EC,
      '-nodes',
      '-keyout',
      'expired.key',
      '-out',
      'expired.csr',
      '-subj',
      '/CN=expired.example.com',
    );
    ossl(
      dir,
      'ca',
      '-batch',
      '-config',
      'ca.cnf',
      '-selfsign',
      '-keyfile',
      'expired.key',
      '-in',
      'expired.csr',
      '-out',
      'expired.crt',
      '-startdate',
      '20000101000000Z',
      '-enddate',
      '20010101000000Z',
      '-notext',
    );
    const r = (f: string): string => readFileSync(join(dir, f), 'utf8');
    cached = {
      rsaCert: r('rsa.crt'),
      rsaKey: r('rsa.key'),
      ecCert: r('ec.crt'),
      ecKey: r('ec.key'),
      otherRsaKey: r('other.key'),
      caCert: r('ca.crt'),
      caKey: r('ca.key'),
      leafCert: r('leaf.crt'),
      leafKey: r('leaf.key'),
      soonCert: r('soon.crt'),
      soonKey: r('soon.key'),
      expiredCert: r('expired.crt'),
      expiredKey: r('expired.key'),
    };
    return cached;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** A PEM as a YAML block scalar at the given indentation (`|` then the lines). */
export function block(pem: string, indent: number): string {
  const pad = ' '.repeat(indent);
  return (
    '|\n' +
    pem
      .trim()
      .split('\n')
      .map((l) => pad + l)
      .join('\n')
  );
}

/** Many distinct EC certificate/key pairs in one openssl-per-pair shell loop (for the load-time test). */
export function manyPairs(n: number): Array<{ cert: string; key: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'kong-ts-many-'));
  try {
    execFileSync(
      'bash',
      [
        '-c',
        `for i in $(seq 1 ${n}); do openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes ` +
          `-keyout k$i.pem -out c$i.pem -subj /CN=h$i.example.com -days 365 2>/dev/null || exit 1; done`,
      ],
      { cwd: dir },
    );
    return Array.from({ length: n }, (_, i) => ({
      cert: readFileSync(join(dir, `c${i + 1}.pem`), 'utf8'),
      key: readFileSync(join(dir, `k${i + 1}.pem`), 'utf8'),
    }));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
