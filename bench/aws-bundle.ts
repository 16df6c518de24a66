/**
 * bench/aws-bundle.ts [--runs 9]
 *
 * The Lambda handler `celeriac build --target aws` makes, against a minimal hand-written
 * handler that imports only the same two SDK clients (and the commands any SQS handler with
 * results and dead letters needs), bundled by esbuild with the same options, in the same run:
 * bundle size (raw and gzip) and cold `import` time (a fresh node process per sample, the
 * median of --runs, samples of the two interleaved). Target: celeriac adds ≤ 20% to either.
 * Prints one JSON line.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { gzipSync } from 'node:zlib';
import { build } from 'esbuild';
import { ROOT, buildBenchHandler } from './aws-fixture.js';

const { values } = parseArgs({ options: { runs: { type: 'string', default: '9' } } });
const runs = Number(values.runs);

const MINIMAL = `
import { SQSClient, SendMessageBatchCommand, ChangeMessageVisibilityBatchCommand } from '@aws-sdk/client-sqs';
import { DynamoDBClient, GetItemCommand, PutItemCommand } from '@aws-sdk/client-dynamodb';
const sqs = new SQSClient({});
const dynamodb = new DynamoDBClient({});
export const handler = async (event) => {
  for (const r of event.Records) await dynamodb.send(new PutItemCommand({ TableName: 't', Item: { pk: { S: r.messageId } } }));
  void [sqs, SendMessageBatchCommand, ChangeMessageVisibilityBatchCommand, GetItemCommand];
  return { batchItemFailures: [] };
};
`;

const built = buildBenchHandler();
try {
  const minimal = join(built.dir, 'minimal.mjs');
  writeFileSync(join(built.dir, 'minimal-entry.mjs'), MINIMAL);
  // The options deploy/aws/build.ts uses.
  await build({
    entryPoints: [join(built.dir, 'minimal-entry.mjs')],
    outfile: minimal,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node22',
    minify: true,
    keepNames: true,
    mainFields: ['module', 'main'],
    nodePaths: [join(ROOT, 'node_modules')],
    // Split so the bench loader's import.meta rewriting leaves this string alone.
    banner: { js: `import { createRequire as __r } from 'node:module'; const require = __r(import.${'meta'}.url);` },
    logLevel: 'silent',
  });

  const size = (file: string) => {
    const bytes = readFileSync(file);
    return { bytes: bytes.length, gzip: gzipSync(bytes).length };
  };
  const importMs = (file: string): number => {
    const script = `const t = performance.now(); await import(${JSON.stringify(pathToFileURL(file).href)}); console.log(performance.now() - t);`;
    return Number(execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' }).trim());
  };
  const samples = { celeriac: [] as number[], minimal: [] as number[] };
  for (let i = 0; i < runs; i++) {
    samples.celeriac.push(importMs(built.handler));
    samples.minimal.push(importMs(minimal));
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
  const celeriac = { ...size(built.handler), importMs: +median(samples.celeriac).toFixed(1) };
  const baseline = { ...size(minimal), importMs: +median(samples.minimal).toFixed(1) };
  const added = (a: number, b: number) => `${(((a - b) / b) * 100).toFixed(1)}%`;
  console.log(
    JSON.stringify({
      bench: 'aws-bundle',
      runs,
      celeriac,
      minimal: baseline,
      added: {
        bytes: added(celeriac.bytes, baseline.bytes),
        gzip: added(celeriac.gzip, baseline.gzip),
        importMs: added(celeriac.importMs, baseline.importMs),
      },
      target: '≤ 20% added',
    }),
  );
} finally {
  built.cleanup();
}
