import { mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * A lock across test files (node --test runs two at once): tests that measure time or speed, and tests that load
 * both cores, hold it so they never run beside each other and a busy neighbour cannot fail a timing assertion.
 * Resolves with the release function. A lock left by a dead process is taken over.
 */
export async function exclusive(name = 'timing'): Promise<() => void> {
  const dir = join(tmpdir(), `kong-ts-test-lock-${name}`);
  for (;;) {
    try {
      mkdirSync(dir);
      writeFileSync(join(dir, 'pid'), String(process.pid));
      return () => rmSync(dir, { recursive: true, force: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    let owner = NaN;
    try {
      owner = Number(readFileSync(join(dir, 'pid'), 'utf8'));
    } catch {
      /* being written or removed */
    }
    const stale = Number.isInteger(owner)
      ? !alive(owner)
      : (() => {
          try {
            return Date.now() - statSync(dir).mtimeMs > 5000;
          } catch {
            return false;
          }
        })();
    if (stale) rmSync(dir, { recursive: true, force: true });
    else await new Promise((r) => setTimeout(r, 50));
  }
}
