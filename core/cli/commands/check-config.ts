/**
 * `celeriac check-config MODULE`: load a config module and validate every key and value, the
 * way Celery's docs suggest `python -m celeryconfig` to catch mistakes before a worker starts.
 */
import type { Command } from 'commander';
import { checkConfig } from '../../config/check-config.js';
import { CliExit } from '../exit.js';
import type { AppOptions } from '../load-app.js';

export function registerCheckConfig(program: Command): void {
  program
    .command('check-config')
    .description('Load a config module (e.g. celeriacconfig.ts) and report unknown keys and bad values')
    .argument('<module>', 'module name or path: celeriacconfig, ./config.ts, settings.json')
    .action(async (module: string, _opts: unknown, cmd: Command) => {
      // Refused rather than ignored: the report would seem to account for them.
      const { app, broker, resultBackend } = cmd.optsWithGlobals<AppOptions>();
      if (app !== undefined || broker !== undefined || resultBackend !== undefined) {
        throw new CliExit('check-config checks only the module it is given: -A, -b and --result-backend do not apply to it.', 2);
      }
      // A bad key or value throws ConfigError naming the closest valid key: printed as one line by program.ts.
      process.stdout.write(`${await checkConfig(module, { cwd: process.cwd() })}\n`);
    });
}
