import { Command } from 'commander';
import { isUserError } from '../errors.js';
import { VERSION } from '../paths.js';
import { resolveSettings } from '../settings/settings.js';
import { configCommand } from './config-cmd.js';
import { routeCommand } from './route-cmd.js';
import { quitTimeoutPath, runningPid, signalRunning, waitExit } from '../process/pidfile.js';
import { writeFileSync } from 'node:fs';
import { startInstance } from './start.js';
import { startCluster } from '../cluster/primary.js';
import { hostPort } from '../net/address.js';

interface CommonOpts {
  conf?: string;
  prefix?: string;
  set?: string[];
  v?: boolean;
  vv?: boolean;
}

function collect(value: string, prev: string[]): string[] {
  return [...prev, value];
}

/** `--set key=value` pairs and the named flags as settings. */
function flagSettings(o: CommonOpts & Record<string, unknown>): Record<string, string | undefined> {
  const out: Record<string, string | undefined> = {};
  for (const pair of o.set ?? []) {
    const eq = pair.indexOf('=');
    if (eq <= 0) throw new Error(`--set expects key=value, got '${pair}'`);
    out[pair.slice(0, eq).trim()] = pair.slice(eq + 1).trim();
  }
  if (o.prefix) out.prefix = o.prefix;
  if (typeof o.streamListen === 'string') out.stream_listen = o.streamListen;
  if (typeof o.adminListen === 'string') out.admin_listen = o.adminListen;
  if (typeof o.logLevel === 'string') out.log_level = o.logLevel;
  if (o.vv) out.log_level = 'debug';
  else if (o.v) out.log_level = 'info';
  return out;
}

/** The options commander hands an action of a command made with withCommon or withStart. */
type Opts = CommonOpts & Record<string, unknown>;

function settingsFrom(o: Opts) {
  return resolveSettings({ conf: o.conf, flags: flagSettings(o) });
}

const program = new Command('kong-ts')
  .description("A DB-less TCP/TLS proxy driven by Kong's declarative configuration (kong.yml)")
  .version(VERSION, '-V, --version-flag', 'print the version')
  .showHelpAfterError()
  .configureHelp({ sortSubcommands: false });

const withCommon = (c: Command) =>
  c
    .option(
      '-c, --conf <file>',
      'a declarative file (.yml, .yaml, .json) or a kong.conf naming one in declarative_config',
    )
    .option('-p, --prefix <dir>', 'the working folder (pid file, logs); default kong-ts-prefix')
    .option('--set <key=value>', 'any setting, over kong.conf and KONG_* variables (repeatable)', collect, [])
    .option('--v', 'verbose: log_level info')
    .option('--vv', 'debug: log_level debug');

const withStart = (c: Command) =>
  withCommon(c)
    .option('--stream-listen <addresses>', "stream_listen, e.g. '127.0.0.1:5555, 0.0.0.0:5556 ssl'")
    .option('--admin-listen <addresses>', "admin_listen, e.g. '127.0.0.1:8001' or 'off'")
    .option('--log-level <level>', 'debug, info, notice, warn, error, crit')
    .option('--strict', 'treat HTTP-only routes and services as errors instead of skipping them');

async function start(o: Opts): Promise<void> {
  const s = settingsFrom(o);
  // one process keeps the single-process path as it is; more fork workers under a primary
  if (s.workerProcesses > 1) await startCluster(s, { strict: o.strict === true });
  else await startInstance(s, { strict: o.strict === true });
}

withStart(program.command('start'))
  .description('start kong-ts in the foreground, serving the declarative file; logs go to stdout')
  .addHelpText(
    'after',
    '\nExamples:\n  kong-ts start -c kong.yml --stream-listen 127.0.0.1:5555\n  KONG_STREAM_LISTEN="0.0.0.0:5556 ssl" kong-ts start -c /etc/kong/kong.conf',
  )
  .action(start);

withStart(program.command('restart'))
  .description(
    'quit the kong-ts running in the prefix (letting open sessions finish for up to -t seconds), then start in the foreground',
  )
  .option('-t, --timeout <seconds>', "how long the old instance's open sessions may take", '10')
  .action(async (o: Opts) => {
    const s = settingsFrom(o);
    const pid = runningPid(s.prefix);
    if (pid) {
      writeFileSync(quitTimeoutPath(s.prefix), `${Number(o.timeout) || 0}\n`);
      process.kill(pid, 'SIGQUIT');
      if (!(await waitExit(pid, (Number(o.timeout) || 0) * 1000 + 5000)))
        throw new Error(`kong-ts (pid ${pid}) did not quit in time`);
    }
    await start(o);
  });

withCommon(program.command('stop'))
  .description('stop the kong-ts running in the prefix at once (SIGTERM)')
  .action(async (o: Opts) => {
    const s = settingsFrom(o);
    const pid = signalRunning(s.prefix, 'SIGTERM');
    if (!(await waitExit(pid, 10_000))) throw new Error(`kong-ts (pid ${pid}) did not stop within 10 s`);
    console.log('Kong stopped');
  });

withCommon(program.command('quit'))
  .description('stop gracefully: stop accepting, let open sessions finish, close the rest after the timeout (SIGQUIT)')
  .option('-t, --timeout <seconds>', 'how long open sessions may take', '10')
  .action(async (o: Opts) => {
    const s = settingsFrom(o);
    const secs = Number(o.timeout);
    if (!Number.isFinite(secs) || secs < 0) throw new Error(`-t expects seconds, got '${String(o.timeout)}'`);
    if (runningPid(s.prefix)) writeFileSync(quitTimeoutPath(s.prefix), `${secs}\n`);
    const pid = signalRunning(s.prefix, 'SIGQUIT');
    if (!(await waitExit(pid, Number(o.timeout) * 1000 + 5000)))
      throw new Error(`kong-ts (pid ${pid}) did not quit in time`);
    console.log('Kong stopped (gracefully)');
  });

withCommon(program.command('reload'))
  .description('re-read the declarative file of the running kong-ts (SIGHUP); a broken file keeps the old config')
  .action((o: Opts) => {
    const s = settingsFrom(o);
    signalRunning(s.prefix, 'SIGHUP');
    console.log('Kong reloaded (see its log for the outcome)');
  });

withCommon(program.command('health'))
  .description('tell whether kong-ts is running in the prefix, and the state of its config')
  .action(async (o: Opts) => {
    const s = settingsFrom(o);
    const pid = runningPid(s.prefix);
    if (!pid) {
      console.error(`kong-ts is not running in ${s.prefix}`);
      process.exitCode = 1;
      return;
    }
    console.log(`kong-ts .......... running (pid ${pid})`);
    const a = s.adminListen[0];
    if (!a) return console.log('admin API ........ off');
    const host = a.host === '0.0.0.0' ? '127.0.0.1' : a.host === '::' ? '::1' : a.host;
    try {
      const res = await fetch(`http://${hostPort(host, a.port)}/status`, {
        headers: s.adminToken ? { authorization: `Bearer ${s.adminToken}` } : {},
        signal: AbortSignal.timeout(3000),
      });
      const st = (await res.json()) as {
        configuration_hash: string;
        configuration_generation: number;
        last_config_error: string | null;
      };
      console.log(`admin API ........ ${res.status === 200 ? 'ok' : res.status}`);
      console.log(`config ........... hash ${st.configuration_hash}, generation ${st.configuration_generation}`);
      if (st.last_config_error) console.log(`last load error .. ${st.last_config_error}`);
      console.log('\nKong is healthy');
    } catch (err) {
      console.error(`admin API ........ unreachable at ${host}:${a.port} (${(err as Error).message})`);
      process.exitCode = 1;
    }
  });

program.addCommand(configCommand());
program.addCommand(routeCommand());

program
  .command('version')
  .description('print the version')
  .option('-a, --all', 'also print the Node.js version')
  .action((o: { all?: boolean }) => {
    console.log(o.all ? `kong-ts: ${VERSION}\nnode: ${process.version}` : VERSION);
  });

// usage mistakes exit 2 (CI scripts tell them from an invalid file, which exits 1); help and version exit 0
const usageExit = (c: Command): void => {
  c.exitOverride((err) => process.exit(err.exitCode === 0 ? 0 : 2));
  c.commands.forEach(usageExit);
};
usageExit(program);

program.parseAsync(process.argv).catch((err: unknown) => {
  // a user's mistake gets its message; anything else its stack only with KONG_TS_DEBUG set
  const e = err as Error;
  console.error(`Error: ${e.message}`);
  if (!isUserError(err) && process.env.KONG_TS_DEBUG) console.error(e.stack);
  process.exitCode = 1;
});
