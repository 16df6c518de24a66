/**
 * The `celeriac` commands against one running worker on local://, as a user types them
 * (issue 2, items 9 and 10).
 */
import { writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { celeriac, ensureBuilt, makeProject, WorkerProcess } from './harness.js';

const NODE = `w1@${hostname()}`;
let project: ReturnType<typeof makeProject>;
let worker: WorkerProcess;
const run = (...args: string[]) => celeriac(project.dir, args);

beforeAll(async () => {
  await ensureBuilt();
  project = makeProject();
  worker = new WorkerProcess(project.dir, ['-A', 'tasks', '--loglevel=info', '-c', '2', '-n', 'w1@%h', '--prefetch-multiplier', '0']);
  await worker.ready();
}, 240_000);

afterAll(async () => {
  worker?.kill('SIGTERM');
  await worker?.exit().catch(() => undefined);
  project?.cleanup();
});

describe('celeriac worker', () => {
  it('prints a banner naming the node, app, transport, results, concurrency, queues and tasks', () => {
    const banner = worker.stdout;
    expect(banner).toContain(NODE);
    expect(banner).toMatch(/\.> app:\s+tasks/);
    expect(banner).toMatch(/\.> transport:\s+local:\/\/\.celeriac/);
    expect(banner).toMatch(/\.> results:\s+local:\/\/\.celeriac/);
    expect(banner).toMatch(/\.> concurrency:\s+2/);
    // 0 is no limit, as for worker_prefetch_multiplier and in Celery.
    expect(banner).toMatch(/\.> prefetch:\s+no limit/);
    expect(banner).toMatch(/\[queues\]\n\.> celery\n/);
    expect(banner).toMatch(/\[tasks\]\n {2}\. tasks\.add\n {2}\. tasks\.fail\n {2}\. tasks\.marked\n/);
  });

  it('logs one line when a task is received and one when it succeeded, with its run time', async () => {
    const sent = await run('call', 'tasks.add', '[2, 3]');
    expect(sent.code).toBe(0);
    const id = sent.stdout.trim();
    await worker.waitFor(new RegExp(`INFO/MainProcess\\] Task tasks\\.add\\[${id}\\] received`));
    await worker.waitFor(new RegExp(`Task tasks\\.add\\[${id}\\] succeeded in [0-9.]+s: 5`));
  });
});

describe('celeriac call', () => {
  it('prints the task id', async () => {
    const out = await run('call', 'tasks.add', '[1, 1]');
    expect(out.code).toBe(0);
    expect(out.stdout.trim()).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('with --wait prints the result as JSON', async () => {
    const out = await run('call', 'tasks.add', '[4, 4]', '--wait', '--timeout', '30');
    expect(out.stderr).toBe('');
    expect(out.stdout).toBe('8\n');
    expect(out.code).toBe(0);
  });

  it('with --wait prints a failed task’s error type and message and exits 1', async () => {
    const out = await run('call', 'tasks.fail', '["boom"]', '--wait', '--timeout', '30');
    expect(out.code).toBe(1);
    expect(out.stderr.trim()).toBe('ValueError: boom');
    expect(out.stdout).toBe('');
  });

  it('with --wait and no result backend refuses before sending (it sent, then failed without the id: a retry ran the task twice)', async () => {
    writeFileSync(
      join(project.dir, 'nobackend.ts'),
      "import { createApp } from 'celeriac';\nexport const app = createApp('nobackend', { broker: 'local://.celeriac' });\n",
    );
    const out = await run('call', 'tasks.add', '[1, 1]', '--wait', '-A', 'nobackend', '--queue', 'nobackendq');
    expect(out.code).toBe(1);
    expect(out.stderr).toMatch(/^--wait needs a result backend .* Nothing was sent\.\n$/);
    expect((await run('purge', '-f', '-Q', 'nobackendq')).stdout).toMatch(/^No messages purged/);
  });

  it('with --wait names the task sent when its result cannot be read', async () => {
    const out = await run('call', 'tasks.add', '[1, 1]', '--wait', '--result-backend', 'redis://127.0.0.1:1/0', '--queue', 'unreadq');
    expect(out.code).toBe(1);
    const id = out.stderr.match(/^error: Could not reach Redis .*\(the task was sent: task id ([0-9a-f-]{36})\)\n$/)?.[1];
    expect(id, out.stderr).toBeDefined();
    expect((await run('purge', '-f', '-Q', 'unreadq')).stdout).toMatch(/^Purged 1 message/);
  });

  it('takes Celery’s -k for --kwargs, and answers Celery’s -a with where the arguments go (both were unknown options)', async () => {
    const out = await run('call', 'tasks.add', '[1, 2]', '-k', '{}', '--wait', '--timeout', '30');
    expect(out).toMatchObject({ code: 0, stdout: '3\n' });
    const notObject = await run('call', 'tasks.add', '[1, 2]', '-k', '[3]');
    expect(notObject.code).toBe(2);
    expect(notObject.stderr).toMatch(/Keyword arguments must be a JSON object/);
    const args = await run('call', 'tasks.add', '-a', '[1, 2]');
    expect(args).toMatchObject({
      code: 2,
      stderr: "-a/--args is Celery's form: here the arguments follow the task name, as in celeriac call tasks.add '[1, 2]'\n",
    });
  });

  it('refuses arguments that are not a JSON array with a usage error (exit 2)', async () => {
    const bad = await run('call', 'tasks.add', '[4, 4');
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/Not valid JSON/);
    const notArray = await run('call', 'tasks.add', '{"x": 1}');
    expect(notArray.code).toBe(2);
    expect(notArray.stderr).toMatch(/must be a JSON array/);
    expect(bad.stderr + notArray.stderr).not.toMatch(/\n\s+at /); // no stack trace
  });

  it('refuses an integer JSON.parse would round (it was sent rounded: 2^53 + 1 arrived as 2^53)', async () => {
    const out = await run('call', 'tasks.add', '[9007199254740993, 0]', '--wait', '--timeout', '30');
    expect(out.code).toBe(2);
    expect(out.stderr).toMatch(/the integer 9007199254740993 in the arguments cannot be held exactly/);
    expect(out.stdout).toBe('');
  });

  it('refuses an --eta that is not ISO 8601 (it was read as a date in 2001: the task ran at once)', async () => {
    const out = await run('call', 'tasks.add', '[1, 1]', '--eta', '5');
    expect(out.code).toBe(2);
    expect(out.stderr).toMatch(/Expected an ISO 8601 date-time .*; got '5'/);
  });
});

describe('celeriac result', () => {
  it('prints a finished task’s value, and a failed task’s error with exit 1', async () => {
    const ok = await run('call', 'tasks.add', '[20, 22]', '--wait', '--timeout', '30');
    expect(ok.stdout).toBe('42\n');
    const id = (await run('call', 'tasks.add', '[20, 22]')).stdout.trim();
    await worker.waitFor(new RegExp(`Task tasks\\.add\\[${id}\\] succeeded`));
    const shown = await run('result', id);
    expect(shown).toMatchObject({ code: 0, stdout: '42\n' });

    const failedId = (await run('call', 'tasks.fail', '["nope"]')).stdout.trim();
    await worker.waitFor(new RegExp(`Task tasks\\.fail\\[${failedId}\\] raised`));
    const failed = await run('result', failedId, '--traceback');
    expect(failed.code).toBe(1);
    expect(failed.stderr.trim()).toBe('FAILURE: ValueError: nope');
    expect(failed.stdout).toMatch(/ValueError: nope\n\s+at /);
  });

  it('prints a retrying task’s state and error as `RETRY: Type: message`, its traceback only with --traceback', async () => {
    const id = (await run('call', 'tasks.retryLater')).stdout.trim();
    await worker.waitFor(new RegExp(`Task tasks\\.retryLater\\[${id}\\] retry: `));
    expect(await run('result', id)).toMatchObject({ code: 0, stdout: 'RETRY: ValueError: again\n' });
    const traced = await run('result', id, '--traceback');
    expect(traced.code).toBe(0);
    expect(traced.stdout).toMatch(/^ValueError: again\n\s+at [\s\S]*\nRETRY: ValueError: again\n$/);
  });

  it('prints all of a result larger than a pipe buffer to a pipe (it was cut off at 64 KiB, exit 0)', async () => {
    const out = await run('call', 'tasks.repeat', '[1500000]', '--wait', '--timeout', '30');
    expect(out.code).toBe(0);
    expect(out.stdout).toBe(`"${'x'.repeat(1_500_000)}"\n`);
  });

  it('prints PENDING for an id nobody has run', async () => {
    const out = await run('result', '00000000-0000-4000-8000-000000000000');
    expect(out).toMatchObject({ code: 0, stdout: 'PENDING\n' });
  });
});

describe('remote control', () => {
  it('inspect ping: every node answers pong', async () => {
    const out = await run('inspect', 'ping', '--timeout', '3');
    expect(out.code).toBe(0);
    expect(out.stdout).toBe(`-> ${NODE}: OK\n    pong\n\n1 node online.\n`);
  });

  it('inspect registered lists the tasks', async () => {
    const out = await run('inspect', 'registered', '--timeout', '3', '-d', NODE);
    expect(out.code).toBe(0);
    expect(out.stdout).toContain(`-> ${NODE}: OK\n`);
    expect(out.stdout).toMatch(/ {4}\* tasks\.add\n {4}\* tasks\.fail\n {4}\* tasks\.marked\n/);
  });

  it('control rate_limit answers as Celery does', async () => {
    const out = await run('control', 'rate_limit', 'tasks.add', '10/m', '--timeout', '3');
    expect(out.stdout).toBe(`${NODE}: OK\n    new rate limit set successfully\n`);
    expect(out.code).toBe(0);
    const off = await run('control', 'rate_limit', 'tasks.add', '0', '--timeout', '3', '-d', NODE);
    expect(off.stdout).toMatch(/: OK\n {4}rate limit disabled successfully\n/);
  });

  it('control time_limit answers as Celery does, and inspect active_queues names the queue consumed', async () => {
    const out = await run('control', 'time_limit', 'tasks.add', '10', '20', '--timeout', '3');
    expect(out.stdout).toBe(`${NODE}: OK\n    time limits set successfully\n`);
    const bad = await run('control', 'time_limit', 'tasks.add', 'soon');
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/Expected a number of seconds, such as 10 or 0\.5/);
    const queues = await run('inspect', 'active_queues', '--timeout', '3', '--json');
    expect(JSON.parse(queues.stdout)[NODE]).toMatchObject([{ name: 'celery', routing_key: 'celery' }]);
  });

  it('inspect query_task ID shows a running task (the method was not offered); a method taking none refuses arguments', async () => {
    const id = (await run('call', 'tasks.marked', JSON.stringify([join(project.dir, 'markers'), 3000]))).stdout.trim();
    await worker.waitFor(new RegExp(`Task tasks\\.marked\\[${id}\\] received`));
    const out = await run('inspect', 'query_task', id, 'not-an-id', '--timeout', '3', '-j');
    expect(out.code).toBe(0);
    expect(JSON.parse(out.stdout)).toMatchObject({ [NODE]: { [id]: ['active', { id, name: 'tasks.marked' }] } });
    const extra = await run('inspect', 'ping', 'x');
    expect(extra).toMatchObject({ code: 2, stderr: 'inspect ping takes no arguments; got x\n' });
    const conf = await run('inspect', 'conf', 'maybe');
    expect(conf).toMatchObject({ code: 2, stderr: 'inspect conf takes arguments: [include_defaults=False]; got maybe\n' });
  });

  it('status -d/-j, control revoke -d and control -j, as Celery names and prints them (they were unknown options)', async () => {
    const status = await run('status', '-d', NODE, '-j', '--timeout', '3');
    expect(status).toMatchObject({ code: 0, stdout: `{"${NODE}":{"ok":"pong"}}\n\n1 node online.\n` });
    expect((await run('status', '-d', 'nobody@nowhere', '--timeout', '0.5')).code).toBe(69);
    expect((await run('control', 'revoke', 'never-sent', '-d', 'nobody@nowhere', '--timeout', '0.5')).code).toBe(69);
    const revoked = await run('control', 'revoke', 'never-sent', '-d', NODE, '-j', '--timeout', '3');
    expect(revoked).toMatchObject({ code: 0, stdout: `[{"${NODE}":{"ok":"tasks never-sent flagged as revoked"}}]\n` });
  });

  it('control revoke --terminate (Celery’s flag) is refused with the reason, exit 2', async () => {
    const out = await run('control', 'revoke', 'some-id', '--terminate');
    expect(out.code).toBe(2);
    expect(out.stderr).toMatch(/^revoke --terminate is not supported: JavaScript cannot stop a running task/);
  });

  it('control rate_limit refuses a bad rate before sending anything', async () => {
    const out = await run('control', 'rate_limit', 'tasks.add', 'ten per minute');
    expect(out.code).toBe(1);
    expect(out.stderr).toMatch(/^error: Invalid rate limit 'ten per minute'/);
    expect(out.stderr.trim().split('\n')).toHaveLength(1);
  });

  it('status lists the nodes online', async () => {
    const out = await run('status', '--timeout', '3');
    expect(out.code).toBe(0);
    expect(out.stdout).toBe(`${NODE}: OK\n\n1 node online.\n`);
  });

  it('status, inspect and control exit 69 (EX_UNAVAILABLE, as Celery; it was 1) with a message when no worker answers', async () => {
    for (const command of [['status'], ['inspect', 'ping'], ['control', 'rate_limit', 'tasks.add', '1/s']]) {
      const out = await run(...command, '--timeout', '0.5', '--broker', 'local://.celeriac-empty');
      expect(out.code, command.join(' ')).toBe(69);
      expect(out.stderr).toMatch(/^No nodes replied within 0\.5s/);
    }
  });
});

describe('celeriac purge', () => {
  it('-f removes the waiting messages of the named queues', async () => {
    for (let i = 0; i < 2; i++) expect((await run('call', 'tasks.add', '[1, 2]', '--queue', 'nobody')).code).toBe(0);
    const purged = await run('purge', '-f', '-Q', 'nobody');
    expect(purged).toMatchObject({ code: 0, stdout: 'Purged 2 messages from 1 queue (nobody).\n' });
    const again = await run('purge', '-f', '-Q', 'nobody');
    expect(again.stdout).toBe('No messages purged from 1 queue (nobody).\n');
  });

  it('-f without -Q also purges the queues task_routes names (they were skipped)', async () => {
    writeFileSync(
      join(project.dir, 'routed.ts'),
      `import { createApp } from 'celeriac';
export const app = createApp('routed', { broker: 'local://.celeriac', task_default_queue: 'routed-default' });
app.conf.update({ task_routes: [{ 'tasks.add': { queue: 'routed-add' }, 'tasks.f*': 'routed-f' }, () => 'routed-by-function'] });
`,
    );
    for (const name of ['tasks.add', 'tasks.fail']) expect((await run('call', name, '[1, 2]', '-A', 'routed')).code).toBe(0);
    const purged = await run('purge', '-f', '-A', 'routed');
    expect(purged).toMatchObject({ code: 0, stdout: 'Purged 2 messages from 3 queues (routed-default, routed-add, routed-f).\n' });
  });

  it('refuses to purge without -f when nobody can confirm', async () => {
    expect((await run('call', 'tasks.add', '[1, 2]', '--queue', 'kept')).code).toBe(0);
    const out = await run('purge', '-Q', 'kept');
    expect(out.code).toBe(1);
    expect(out.stderr).toMatch(/pass -f/);
    expect((await run('purge', '-f', '-Q', 'kept')).stdout).toMatch(/^Purged 1 message from/);
  });
});

describe('command line', () => {
  it('--help lists every command', async () => {
    const out = await run('--help');
    expect(out.code).toBe(0);
    for (const cmd of ['worker', 'call', 'result', 'purge', 'inspect', 'control', 'status', 'check-config']) {
      expect(out.stdout).toMatch(new RegExp(`^\\s+${cmd}\\b`, 'm'));
    }
  });

  it('an unknown command is one line on stderr and exit 2', async () => {
    const out = await run('wokrer');
    expect(out.code).toBe(2);
    expect(out.stderr).toMatch(/unknown command 'wokrer'/);
    expect(out.stderr).toMatch(/worker/);
  });

  it('-A module.attribute (Celery’s form) picks the export when no such module exists (it was Cannot find module)', async () => {
    const out = await run('status', '-A', 'tasks.app', '--timeout', '3');
    expect(out).toMatchObject({ code: 0, stdout: `${NODE}: OK\n\n1 node online.\n` });
    const missing = await run('status', '-A', 'tasks.nope');
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/^error: Module 'tasks' has no celeriac app exported as 'nope'/);
    const noModule = await run('status', '-A', 'nothere.app');
    expect(noModule.stderr).toMatch(/^error: Cannot find module 'nothere\.app'/);
  });

  it("an empty -A, -b, --result-backend or --queue is a usage error, exit 2 (-A '' ran with no app, --queue '' exit 1)", async () => {
    for (const args of [
      ['-A', ''],
      ['-b', ''],
      ['--result-backend', ''],
      ['--queue', ''],
    ]) {
      const out = await run('call', 'tasks.add', '[1, 1]', ...args);
      expect(out.code, args.join(' ')).toBe(2);
      expect(out.stderr).toMatch(/argument '' is invalid\. Expected a value; got an empty string\./);
    }
    expect((await run('call', 'tasks.add', '[1e400]')).code).toBe(2);
  });

  it('an -A module without an app says so', async () => {
    const out = await run('status', '-A', 'celeriacconfig');
    expect(out.code).toBe(1);
    expect(out.stderr).toMatch(/^error: Module 'celeriacconfig' exports no celeriac app/);
  });
});
