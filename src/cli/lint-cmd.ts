/** `kong-ts config lint FILE...`: findings about what valid files mean (src/gitops/lint*.ts). */
import { Command } from 'commander';
import { formatProblem } from '../config/problems.js';
import { lintConfig } from '../gitops/lint.js';
import { isLintCode, LINT_CODES, SEVERITY_RANK, type Severity } from '../gitops/lint-types.js';
import { lintOutput, type LintFileResult } from '../gitops/lint-format.js';
import { badFormat, load, startOptions } from './config-input.js';

function usage(message: string): void {
  console.error(`Error: ${message}`);
  process.exitCode = 2;
}

export function lintCommand(): Command {
  return new Command('lint')
    .description(
      'report what valid declarative files mean that a reviewer should know (shadowed routes, ties, certificates, ...); exit 0 clean, 1 findings at or above --fail-on, 2 usage or a file that does not load',
    )
    .argument('<files...>', 'declarative files (.yml, .yaml, .json; `-` for standard input)')
    .option('--format <format>', 'text, json or github (workflow annotations)', 'text')
    .option(
      '--fail-on <severity>',
      'exit 1 when a finding is at least this severe: error, warning, info or never',
      'warning',
    )
    .option('--expiry-days <days>', 'report certificates that expire within this many days', '30')
    .option(
      '--disable <codes>',
      'codes not to report (comma separated; repeatable)',
      (v: string, prev: string[]) => [
        ...prev,
        ...v
          .split(',')
          .map((x) => x.trim())
          .filter(Boolean),
      ],
      [] as string[],
    )
    .option('--list-codes', 'print every code with its severity and meaning, then exit')
    .action(
      async (
        files: string[],
        o: { format: string; failOn: string; expiryDays: string; disable: string[]; listCodes?: boolean },
      ) => {
        if (o.listCodes) {
          for (const [code, d] of Object.entries(LINT_CODES)) console.log(`${code} (${d.severity}): ${d.what}`);
          return;
        }
        if (badFormat(o.format, ['text', 'json', 'github'])) return;
        if (!['error', 'warning', 'info', 'never'].includes(o.failOn))
          return usage(`--fail-on must be error, warning, info or never, got '${o.failOn}'`);
        if (!/^\d{1,5}$/.test(o.expiryDays))
          return usage(`--expiry-days must be a whole number of days, got '${o.expiryDays}'`);
        const unknown = o.disable.filter((c) => !isLintCode(c));
        if (unknown.length)
          return usage(
            `--disable: unknown code${unknown.length > 1 ? 's' : ''} ${unknown.map((c) => `'${c}'`).join(', ')} (see --list-codes)`,
          );
        const lo = await startOptions(false, undefined, files[0]);
        const loaded = await Promise.all(files.map((f) => load(f, { ...lo, expiry: false })));
        let trouble = false;
        for (const r of loaded) {
          if (r.ok) continue;
          trouble = true;
          console.error(`Error: ${r.file}: Failed parsing:`);
          for (const p of r.problems) console.error(formatProblem(p));
        }
        if (trouble) {
          process.exitCode = 2;
          return;
        }
        const results: LintFileResult[] = loaded.map((r) => ({
          file: r.file,
          hash: r.hash,
          findings: r.ok ? lintConfig(r.config, { expiryDays: Number(o.expiryDays), disable: o.disable }) : [],
        }));
        console.log(lintOutput(results, o.format as 'text' | 'json' | 'github'));
        const bar = o.failOn === 'never' ? Infinity : SEVERITY_RANK[o.failOn as Severity];
        process.exitCode = results.some((r) => r.findings.some((f) => SEVERITY_RANK[f.severity] >= bar)) ? 1 : 0;
      },
    );
}
