import { copyFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Command } from 'commander';
import { loadConfigText } from '../config/load.js';
import { formatProblem } from '../config/problems.js';
import type { LoadResult, Problem } from '../config/types.js';
import { ConvertError, convertText } from '../gitops/convert.js';
import { diffConfigs } from '../gitops/diff.js';
import { diffText } from '../gitops/format.js';
import { buildPlan, fetchLive, loadLive, PlanError, planText } from '../gitops/plan.js';
import { parseSessions, replay, ReplayError, type ReadSessions, type ReplayReport } from '../gitops/replay.js';
import { replayGithub, replayText } from '../gitops/replay-format.js';
import { ROOT } from '../paths.js';
import { ANY_PLAIN_LISTENER, routerOf, tlsDetectWarnings } from '../runtime/tls-warnings.js';
import { parseStreamListen } from '../settings/listen.js';
import { sortProblems } from '../config/problems.js';
import { lintCommand } from './lint-cmd.js';
import { badFormat, load, startOptions } from './config-input.js';

/** GitHub workflow annotation for one problem (lands on the pull request's line). */
function githubLine(p: Problem): string {
  const esc = (s: string) => s.replace(/%/g, '%25').replace(/\r/g, '%0D').replace(/\n/g, '%0A');
  const prop = (s: string) => esc(s).replace(/:/g, '%3A').replace(/,/g, '%2C');
  return `::${p.severity === 'error' ? 'error' : 'warning'} file=${prop(p.file)},line=${p.line},col=${p.column},title=${prop(p.path || 'kong-ts')}::${esc(p.message)}`;
}

function report(results: LoadResult[], format: string): void {
  if (format === 'json') {
    console.log(
      JSON.stringify(
        {
          valid: results.every((r) => r.ok),
          files: results.map((r) => ({ file: r.file, valid: r.ok, hash: r.hash, problems: r.problems })),
        },
        null,
        2,
      ),
    );
    return;
  }
  for (const r of results) {
    const name = results.length > 1 ? `${r.file}: ` : '';
    if (format === 'github') {
      // the runner reads workflow commands from stdout
      for (const p of r.problems) console.log(githubLine(p));
      if (r.ok) console.log(`${name}parse successful`);
      else console.error(`${name}Failed parsing: ${errorCount(r)}`);
    } else if (r.ok) {
      for (const p of r.problems) console.log(formatProblem(p));
      console.log(`${name}parse successful`);
    } else {
      console.error(results.length > 1 ? `${r.file}: Failed parsing:` : 'Error: Failed parsing:');
      for (const p of r.problems) console.error(formatProblem(p));
    }
  }
}

/**
 * Adds the `stream_tls_detect` warnings to valid results: for the given `stream_listen` entries (the option, else
 * `KONG_STREAM_LISTEN`), or for any plain listener when none is known. `KONG_STREAM_TLS_DETECT=off` turns them off.
 */
function addTlsDetectWarnings(results: LoadResult[], streamListen: string | undefined): string | undefined {
  const parsed = parseStreamListen(streamListen ?? 'off');
  if (!parsed.ok) return `--stream-listen: ${parsed.error}`;
  const listeners = parsed.listeners.length === 0 ? [ANY_PLAIN_LISTENER] : parsed.listeners;
  const mode = process.env.KONG_STREAM_TLS_DETECT?.trim() === 'off' ? 'off' : 'auto';
  for (const r of results) {
    if (!r.ok) continue;
    r.problems.push(...tlsDetectWarnings(routerOf(r.config), r.config, listeners, { mode }));
    sortProblems(r.problems);
  }
  return undefined;
}

function errorCount(r: LoadResult): string {
  const n = r.problems.filter((p) => p.severity === 'error').length;
  return `${n} error${n === 1 ? '' : 's'}`;
}

/** Prints why files did not load; true when one did not (the caller exits 2: trouble, not a difference). */
function troubled(results: LoadResult[]): boolean {
  let bad = false;
  for (const r of results) {
    if (r.ok) continue;
    bad = true;
    console.error(`Error: ${r.file}: Failed parsing:`);
    for (const p of r.problems) console.error(formatProblem(p));
  }
  return bad;
}

/** A file's text; undefined, with the reason printed and exit code 2 set, when it cannot be read. */
function readOrExit2(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    console.error(`Error: cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    process.exitCode = 2;
    return undefined;
  }
}

/** Reads recorded sessions for `--replay`; undefined (exit 2 set, reason printed) when they cannot be read. */
function readReplay(file: string): ReadSessions | undefined {
  const text = readOrExit2(file);
  if (text === undefined) return undefined;
  try {
    return parseSessions(text, file);
  } catch (err) {
    if (!(err instanceof ReplayError)) throw err;
    console.error(`Error: ${err.message}`);
    process.exitCode = 2;
    return undefined;
  }
}

/** Prints the main text (and the replay) in the chosen format. */
function printWith(format: string, text: string, json: object, rep: ReplayReport | undefined, source: string): void {
  if (format === 'json') {
    console.log(JSON.stringify(json, null, 2));
    return;
  }
  console.log(text);
  if (!rep) return;
  console.log('');
  console.log(format === 'github' ? replayGithub(rep, source) : replayText(rep, source));
}

/** With --fail-on-unrouted the exit code speaks of the replay only: 1 when a session would find no route. */
function exitFor(changed: boolean, rep: ReplayReport | undefined, failOnUnrouted: boolean | undefined): number {
  if (failOnUnrouted) return rep && rep.unrouted > 0 ? 1 : 0;
  return changed ? 1 : 0;
}

function diffCommand(): Command {
  return new Command('diff')
    .description(
      'compare two declarative files: entities added, removed, changed field by field, and the routing changes; exit 0 same, 1 different, 2 trouble',
    )
    .argument('<old>', 'the old file (`-` for standard input)')
    .argument('<new>', 'the new file (`-` for standard input)')
    .option('--format <format>', 'text, json or github (replay as workflow annotations)', 'text')
    .option('--strict', 'treat HTTP-only routes and services as errors')
    .option(
      '--replay <sessions>',
      'route recorded sessions (the json access log, or GET /sessions/recent saved to a file) through both files',
    )
    .option('--fail-on-unrouted', 'with --replay: exit 1 when a replayed session would find no route, else 0')
    .action(
      async (
        oldFile: string,
        newFile: string,
        o: { format: string; strict?: boolean; replay?: string; failOnUnrouted?: boolean },
      ) => {
        if (badFormat(o.format, ['text', 'json', 'github'])) return;
        if (o.failOnUnrouted && !o.replay) {
          console.error('Error: --fail-on-unrouted needs --replay');
          process.exitCode = 2;
          return;
        }
        const lo = await startOptions(o.strict, undefined, newFile);
        const [a, b] = await Promise.all([load(oldFile, lo), load(newFile, lo)]);
        if (troubled([a, b]) || !a.ok || !b.ok) {
          process.exitCode = 2;
          return;
        }
        const read = o.replay === undefined ? undefined : readReplay(o.replay);
        if (o.replay !== undefined && !read) return;
        const d = diffConfigs(a.config, b.config);
        const rep = read && replay(a.config, b.config, read);
        const json = {
          old: { file: a.file, hash: a.hash },
          new: { file: b.file, hash: b.hash },
          ...d,
          ...(rep ? { replay: { source: o.replay, ...rep } } : {}),
        };
        printWith(o.format, diffText(d, { old: a.file, new: b.file }), json, rep, o.replay ?? '');
        process.exitCode = exitFor(!d.identical, rep, o.failOnUnrouted);
      },
    );
}

function planCommand(): Command {
  return new Command('plan')
    .description(
      'diff a file against the config a running kong-ts serves, and show the open sessions a reload would touch; exit 0 no change, 1 changes, 2 trouble',
    )
    .argument('<file>', 'the declarative file to deploy')
    .requiredOption('--admin <url>', 'the admin API of the running kong-ts, e.g. http://127.0.0.1:8001')
    .option('--token <token>', 'admin_token of the running kong-ts (default: $KONG_ADMIN_TOKEN)')
    .option('--format <format>', 'text, json or github (replay as workflow annotations)', 'text')
    .option(
      '--fail-on-unrouted',
      'exit 1 when a session the proxy saw recently would find no route with the file, else 0',
    )
    .action(async (file: string, o: { admin: string; token?: string; format: string; failOnUnrouted?: boolean }) => {
      if (badFormat(o.format, ['text', 'json', 'github'])) return;
      if (!/^https?:\/\/[^/]/.test(o.admin)) {
        console.error(`Error: --admin must be an http(s) URL, got '${o.admin}'`);
        process.exitCode = 2;
        return;
      }
      const next = await load(file, await startOptions(false, undefined, file));
      if (troubled([next]) || !next.ok) {
        process.exitCode = 2;
        return;
      }
      try {
        const live = await fetchLive(o.admin, o.token ?? (process.env.KONG_ADMIN_TOKEN || undefined));
        const liveName = `${o.admin.replace(/\/+$/, '')}/config`;
        const liveCfg = loadLive(live, liveName);
        const plan = buildPlan(live, liveCfg, next.config, next.hash);
        const source = `${o.admin.replace(/\/+$/, '')}/sessions/recent`;
        const rep = live.recent ? replay(liveCfg, next.config, live.recent) : undefined;
        const json = { admin: o.admin, file: next.file, ...plan, replay: rep ? { source, ...rep } : null };
        let text = planText(plan, { live: liveName, file: next.file });
        if (!rep)
          text +=
            '\nrecent sessions: none to replay (the proxy saw none yet, or its admin API has no /sessions/recent)';
        printWith(o.format, text, json, rep, source);
        process.exitCode = exitFor(!plan.diff.identical, rep, o.failOnUnrouted);
      } catch (err) {
        if (!(err instanceof PlanError)) throw err;
        console.error(`Error: ${err.message}`);
        process.exitCode = 2;
      }
    });
}

function convertCommand(): Command {
  return new Command('convert')
    .description(
      'bring a _format_version "1.1" or "2.1" file to "3.0", keeping comments; says what changed; exit 0 done, 1 the result is invalid, 2 trouble',
    )
    .argument('<file>', 'the declarative file to convert')
    .option('-o, --output <file>', 'write the result there (default: standard output, notes on standard error)')
    .action((file: string, o: { output?: string }) => {
      const text = readOrExit2(file);
      if (text === undefined) return;
      let r;
      try {
        r = convertText(text, file);
      } catch (err) {
        if (!(err instanceof ConvertError)) throw err;
        console.error(`Error: ${err.message}`);
        process.exitCode = 2;
        return;
      }
      const note = (l: string) => (o.output ? console.log(l) : console.error(l));
      if (o.output) writeFileSync(o.output, r.text);
      else process.stdout.write(r.text);
      for (const n of r.notes) note(`note: ${n}`);
      const check = loadConfigText(r.text, o.output ?? file);
      const errors = check.problems.filter((p) => p.severity === 'error');
      if (errors.length) {
        console.error(
          `Error: the converted file is not valid yet (${errors.length} error${errors.length === 1 ? '' : 's'}):`,
        );
        for (const p of errors) console.error(formatProblem(p));
        process.exitCode = 1;
        return;
      }
      if (o.output) console.log(`${o.output} written (_format_version "${r.to}")`);
    });
}

export function configCommand(): Command {
  const config = new Command('config').description(
    'declarative configuration tools: parse, lint, diff, plan, convert, init',
  );
  config
    .command('parse')
    .description(
      'validate declarative files as `start` would: every error with file:line:column; exit 0 valid, 1 invalid, 2 usage',
    )
    .argument('<files...>', 'declarative files (.yml, .yaml, .json)')
    .option('--format <format>', 'text, json or github (workflow annotations)', 'text')
    .option('--strict', 'treat HTTP-only routes and services as errors')
    .option(
      '--stream-listen <entries>',
      'the stream_listen the file will be served on, for the warnings that depend on it (default: $KONG_STREAM_LISTEN)',
    )
    .option(
      '--conf <kong.conf>',
      'the kong.conf whose `plugins` setting `start` would use (default: KONG_PLUGINS, else bundled)',
    )
    .action(async (files: string[], o: { format: string; strict?: boolean; streamListen?: string; conf?: string }) => {
      if (badFormat(o.format, ['text', 'json', 'github'])) return;
      const lo = await startOptions(o.strict, o.conf, files[0]);
      const results = await Promise.all(files.map((f) => load(f, lo)));
      const bad = addTlsDetectWarnings(results, o.streamListen ?? process.env.KONG_STREAM_LISTEN);
      if (bad) {
        console.error(`Error: ${bad}`);
        process.exitCode = 2;
        return;
      }
      report(results, o.format);
      process.exitCode = results.every((r) => r.ok) ? 0 : 1;
    });
  config.addCommand(lintCommand());
  config.addCommand(diffCommand());
  config.addCommand(planCommand());
  config.addCommand(convertCommand());
  config
    .command('init')
    .description('write a commented example declarative file')
    .argument('[file]', 'where to write it', 'kong.yml')
    .option('-f, --force', 'overwrite an existing file')
    .action((file: string, o: { force?: boolean }) => {
      const target = resolve(file);
      if (existsSync(target) && !o.force) {
        console.error(`Error: ${file} already exists (use --force to overwrite)`);
        process.exitCode = 1;
        return;
      }
      copyFileSync(join(ROOT, 'kong.yml.example'), target);
      console.log(`${file} written; serve it with: kong-ts start -c ${file} --stream-listen 127.0.0.1:5555`);
    });
  return config;
}
