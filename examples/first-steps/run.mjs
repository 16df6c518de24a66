// `npm run first-steps`: starts a worker, runs the producer, prints the result, stops the worker.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { loadModule } from '../../dist/core/module-loader.js';

const here = fileURLToPath(new URL('.', import.meta.url));
const bin = fileURLToPath(new URL('../../dist/core/cli/bin.js', import.meta.url));

const worker = spawn(process.execPath, [bin, 'worker', '-A', 'tasks', '--loglevel=info', '-c', '2'], {
  cwd: here,
  stdio: ['ignore', 'inherit', 'inherit'],
});
// The producer resolves local://.celeriac against the current folder, like the worker.
process.chdir(here);
try {
  await loadModule('./producer.ts', { cwd: here });
} finally {
  worker.kill('SIGTERM');
  await new Promise((resolve) => worker.once('exit', resolve));
}
