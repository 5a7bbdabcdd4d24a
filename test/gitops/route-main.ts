/**
 * A stand-in CLI entry with the `route` command, for tests run before main.ts registers it. It mirrors main.ts:
 * usage mistakes exit 2.
 */
import { Command } from 'commander';
import { routeCommand } from '../../src/cli/route-cmd.js';

const program = new Command('kong-ts').addCommand(routeCommand());
const usageExit = (c: Command): void => {
  c.exitOverride((err) => process.exit(err.exitCode === 0 ? 0 : 2));
  c.commands.forEach(usageExit);
};
usageExit(program);
program.parseAsync(process.argv).catch((err: unknown) => {
  console.error(`Error: ${(err as Error).message}`);
  process.exitCode = 1;
});
