import tls from 'node:tls';

/**
 * One TLS connection to 127.0.0.1:port that sends a byte and waits for the echo: whether it resumed `session`, and
 * the session ticket the server issued (to offer on the next connection).
 */
export function resumingHello(
  port: number,
  servername: string,
  ca: string,
  maxVersion: tls.SecureVersion,
  session?: Buffer,
): Promise<{ reused: boolean; session?: Buffer }> {
  return new Promise((resolve, reject) => {
    let got: Buffer | undefined;
    const c = tls.connect({ host: '127.0.0.1', port, servername, ca, maxVersion, session });
    c.on('session', (s: Buffer) => {
      got = s;
    });
    c.on('error', reject);
    c.on('secureConnect', () => {
      c.write('x');
      c.once('data', () => {
        const reused = c.isSessionReused();
        c.end();
        c.once('close', () => resolve({ reused, session: got }));
      });
    });
  });
}
