import { copyFileSync, existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Command } from 'commander';
import { loadConfigFile } from '../config/load.js';
import { formatProblem } from '../config/problems.js';
import type { LoadResult, Problem } from '../config/types.js';
import { ROOT } from '../paths.js';

/** GitHub workflow annotation for one problem (lands on the pull request's line). */
function githubLine(p: Problem): string {
  const esc = (s: string) => s.replace(/%/g, '%25').replace(/\r/g, '%0D').replace(/\n/g, '%0A');
  const prop = (s: string) => esc(s).replace(/:/g, '%3A').replace(/,/g, '%2C');
  return `::${p.severity === 'error' ? 'error' : 'warning'} file=${prop(p.file)},line=${p.line},col=${p.column},title=${prop(p.path || 'kong-ts')}::${esc(p.message)}`;
}

function report(results: LoadResult[], format: string): void {
  if (format === 'json') {
    console.log(JSON.stringify({
      valid: results.every((r) => r.ok),
      files: results.map((r) => ({ file: r.file, valid: r.ok, hash: r.hash, problems: r.problems })),
    }, null, 2));
    return;
  }
  for (const r of results) {
    const lines = r.problems.map(format === 'github' ? githubLine : formatProblem);
    if (r.ok) {
      for (const l of lines) console.log(l);
      console.log(results.length > 1 ? `${r.file}: parse successful` : 'parse successful');
    } else {
      console.error(results.length > 1 ? `${r.file}: Failed parsing:` : 'Error: Failed parsing:');
      for (const l of lines) console.error(l);
    }
  }
}

export function configCommand(): Command {
  const config = new Command('config').description('declarative configuration tools');
  config.command('parse')
    .description('validate declarative files as `start` would: every error with file:line:column; exit 0 valid, 1 invalid, 2 usage')
    .argument('<files...>', 'declarative files (.yml, .yaml, .json)')
    .option('--format <format>', 'text, json or github (workflow annotations)', 'text')
    .option('--strict', 'treat HTTP-only routes and services as errors')
    .action(async (files: string[], o: { format: string; strict?: boolean }) => {
      if (!['text', 'json', 'github'].includes(o.format)) {
        console.error(`Error: --format must be text, json or github, got '${o.format}'`);
        process.exitCode = 2;
        return;
      }
      const results = await Promise.all(files.map((f) => loadConfigFile(f, { strict: o.strict })));
      report(results, o.format);
      process.exitCode = results.every((r) => r.ok) ? 0 : 1;
    });
  config.command('init')
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
