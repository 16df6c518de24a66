// Runs a TypeScript bench script (compiled by esbuild through celeriac's own module loader),
// passing the remaining arguments: `node bench/run.mjs bench/throughput.ts --broker URL`.
import { resolve } from 'node:path';
import { loadModule } from '../dist/core/module-loader.js';

const [script, ...args] = process.argv.slice(2);
if (!script) {
  console.error('usage: node bench/run.mjs <script.ts> [args...]');
  process.exit(2);
}
process.argv = [process.argv[0], resolve(script), ...args];
await loadModule(resolve(script));
