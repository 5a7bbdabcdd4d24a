import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { KongTsError } from '../errors.js';

export function pidPath(prefix: string): string {
  return join(prefix, 'pids', 'kong-ts.pid');
}

/** Where `kong-ts quit -t N` leaves its timeout for the SIGQUIT handler. */
export function quitTimeoutPath(prefix: string): string {
  return join(prefix, 'pids', 'quit.timeout');
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The pid of the kong-ts running in this prefix, or undefined (a stale pid file counts as none). */
export function runningPid(prefix: string): number | undefined {
  let text: string;
  try {
    text = readFileSync(pidPath(prefix), 'utf8');
  } catch {
    return undefined;
  }
  const pid = Number(text.trim());
  return Number.isInteger(pid) && pid > 0 && pid !== process.pid && alive(pid) ? pid : undefined;
}

/** Claims the prefix for this process: refuses when another live kong-ts holds it, replaces a stale pid file. */
export function claimPrefix(prefix: string): void {
  const other = runningPid(prefix);
  if (other)
    throw new KongTsError('KTS_ALREADY_RUNNING', [prefix], {
      detail: `pid ${other} (stop it with 'kong-ts stop -p ${prefix}', or choose another prefix)`,
    });
  try {
    mkdirSync(join(prefix, 'pids'), { recursive: true });
    mkdirSync(join(prefix, 'logs'), { recursive: true });
    writeFileSync(pidPath(prefix), `${process.pid}\n`);
  } catch (err) {
    throw new KongTsError('KTS_PREFIX_UNUSABLE', [prefix], { detail: (err as Error).message, cause: err });
  }
}

export function releasePrefix(prefix: string): void {
  try {
    if (Number(readFileSync(pidPath(prefix), 'utf8').trim()) === process.pid) rmSync(pidPath(prefix));
  } catch {
    // already gone
  }
}

/** Sends a signal to the kong-ts of this prefix; throws KTS_NOT_RUNNING when there is none. */
export function signalRunning(prefix: string, signal: NodeJS.Signals): number {
  const pid = runningPid(prefix);
  if (!pid) throw new KongTsError('KTS_NOT_RUNNING', [prefix], { detail: `no live process in ${pidPath(prefix)}` });
  process.kill(pid, signal);
  return pid;
}

export async function waitExit(pid: number, timeoutMs: number): Promise<boolean> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (!alive(pid)) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return !alive(pid);
}

/** The grace `kong-ts quit -t N` left for this SIGQUIT (10 s when it was sent some other way). */
export function quitTimeout(prefix: string): number {
  try {
    const file = quitTimeoutPath(prefix);
    const secs = Number(readFileSync(file, 'utf8').trim());
    rmSync(file, { force: true });
    if (Number.isFinite(secs) && secs >= 0) return secs * 1000;
  } catch {
    /* no file: the default */
  }
  return 10_000;
}
