/** ResultBackend conformance: Celery's result semantics over a provider's store (§4.1, §5). */
import { getEventListeners } from 'node:events';
import { afterEach, describe, expect, it } from 'vitest';
import { AppClosedError, TimeoutError } from '../../core/errors.js';
import type { ResultBackend } from '../../core/ports.js';
import type { ResultMeta } from '../../core/result-meta.js';
import { eventually, uniqueQueue } from './helpers.js';

export type MakeBackend = (opts: { resultExpires?: number | null }) => Promise<ResultBackend> | ResultBackend;

export function meta(taskId: string, status: string, result: unknown = null): ResultMeta {
  const ready = status === 'SUCCESS' || status === 'FAILURE' || status === 'REVOKED';
  return {
    status,
    result,
    traceback: null,
    children: [],
    date_done: ready ? new Date().toISOString().replace('Z', '') : null,
    task_id: taskId,
  };
}

export function backendConformance(name: string, make: MakeBackend): void {
  describe(`${name}: result backend conformance`, () => {
    const open: ResultBackend[] = [];
    const setup = async (resultExpires?: number | null) => {
      const backend = await make({ resultExpires });
      open.push(backend);
      return { backend, id: uniqueQueue('task') };
    };
    afterEach(async () => {
      await Promise.all(open.splice(0).map((b) => b.close()));
    });

    it('stores and reads back a result meta', async () => {
      const { backend, id } = await setup();
      expect(await backend.get(id)).toBeUndefined();
      const m = { ...meta(id, 'SUCCESS', { sum: 8 }), name: 'tasks.add', args: [4, 4], kwargs: {} };
      await backend.store(id, m);
      expect(await backend.get(id)).toEqual(m);
    });

    it('never turns a ready state back into a non-ready one', async () => {
      const { backend, id } = await setup();
      await backend.store(id, meta(id, 'STARTED', { pid: 1, hostname: 'w@h' }));
      await backend.store(id, meta(id, 'SUCCESS', 8));
      await backend.store(id, meta(id, 'STARTED', { pid: 2, hostname: 'w2@h' }));
      await backend.store(id, meta(id, 'RETRY', { exc_type: 'X', exc_message: [], exc_module: 'm' }));
      expect((await backend.get(id))?.status).toBe('SUCCESS');
    });

    it('never replaces a SUCCESS, as Celery does not (a late duplicate that fails); a FAILURE may become a SUCCESS', async () => {
      const { backend, id } = await setup();
      const failure = meta(id, 'FAILURE', { exc_type: 'ValueError', exc_message: ['bad'], exc_module: 'builtins' });
      await backend.store(id, failure);
      await backend.store(id, meta(id, 'SUCCESS', 8));
      await backend.store(id, failure);
      await backend.store(
        id,
        meta(id, 'REVOKED', { exc_type: 'TaskRevokedError', exc_message: ['revoked'], exc_module: 'celery.exceptions' }),
      );
      expect(await backend.get(id)).toMatchObject({ status: 'SUCCESS', result: 8 });
    });

    it('forget removes a result', async () => {
      const { backend, id } = await setup();
      await backend.store(id, meta(id, 'SUCCESS', 1));
      await backend.forget(id);
      expect(await backend.get(id)).toBeUndefined();
    });

    it('results expire after result_expires', async () => {
      const { backend, id } = await setup(0.15);
      await backend.store(id, meta(id, 'SUCCESS', 1));
      expect((await backend.get(id))?.result).toBe(1);
      await eventually('the result to expire', async () => (await backend.get(id)) === undefined, 3000);
    });

    it('waitFor resolves when the result becomes ready, not on a progress state', async () => {
      const { backend, id } = await setup();
      const waiting = backend.waitFor(id, { timeoutMs: 5000 });
      let settled = false;
      void waiting.then(() => (settled = true));
      await backend.store(id, meta(id, 'PROGRESS', { done: 1 }));
      await new Promise((r) => setImmediate(r));
      expect(settled).toBe(false);
      await backend.store(id, meta(id, 'SUCCESS', 42));
      expect((await waiting).result).toBe(42);
    });

    it('waitFor returns at once for a result already stored', async () => {
      const { backend, id } = await setup();
      await backend.store(id, meta(id, 'FAILURE', { exc_type: 'ValueError', exc_message: ['x'], exc_module: 'builtins' }));
      expect((await backend.waitFor(id, { timeoutMs: 1000 })).status).toBe('FAILURE');
    });

    it('waitFor times out with TimeoutError', async () => {
      const { backend, id } = await setup();
      const started = Date.now();
      await expect(backend.waitFor(id, { timeoutMs: 200 })).rejects.toBeInstanceOf(TimeoutError);
      expect(Date.now() - started).toBeGreaterThanOrEqual(190);
    });

    it('waitFor stops when its signal aborts, with the signal reason', async () => {
      const { backend, id } = await setup();
      const ctrl = new AbortController();
      const waiting = backend.waitFor(id, { signal: ctrl.signal });
      const reason = new Error('caller gave up');
      setTimeout(() => ctrl.abort(reason), 20);
      await expect(waiting).rejects.toBe(reason);
    });

    it('closing ends every waitFor at once with AppClosedError, and refuses later ones', async () => {
      const { backend, id } = await setup();
      // Caught from the start: they end while close() is still closing the store's connections.
      const waiting = [backend.waitFor(id, {}), backend.waitFor(id, { timeoutMs: 30_000 })].map((wait) => wait.catch((e: unknown) => e));
      await new Promise((resolve) => setTimeout(resolve, 50));
      const started = Date.now();
      await backend.close();
      for (const err of await Promise.all(waiting)) {
        expect(err).toBeInstanceOf(AppClosedError);
        expect((err as Error).message).toBe(`The result backend was closed (app.close()) while waiting for the result of task ${id}`);
      }
      expect(Date.now() - started).toBeLessThan(1000);
      await expect(backend.waitFor(id, {})).rejects.toBeInstanceOf(AppClosedError);
    });

    it('waits sharing one signal listen to it once, and all stop with its reason', async () => {
      const { backend, id } = await setup();
      const ctrl = new AbortController();
      const waiting = Array.from({ length: 20 }, () => backend.waitFor(id, { signal: ctrl.signal }));
      await new Promise((resolve) => setTimeout(resolve, 50));
      // More than 10 listeners on one signal make Node print a MaxListenersExceededWarning.
      expect(getEventListeners(ctrl.signal, 'abort').length).toBe(1);
      const reason = new Error('the request was cancelled');
      ctrl.abort(reason);
      for (const wait of waiting) await expect(wait).rejects.toBe(reason);
      const other = new AbortController();
      await expect(backend.waitFor(id, { signal: other.signal, timeoutMs: 50 })).rejects.toBeInstanceOf(TimeoutError);
      expect(getEventListeners(other.signal, 'abort')).toEqual([]);
    });

    it('incr counts atomically', async () => {
      const { backend, id } = await setup();
      if (!backend.incr) throw new Error(`${name}: result backends built on a KeyValueStore always count`);
      const all = await Promise.all(Array.from({ length: 10 }, () => backend.incr?.(`chord-${id}`, 1)));
      expect(Math.max(...(all as number[]))).toBe(10);
    });

    it("a complete chord's body is sent by one header task: the reruns of a killed worker's tasks, all at once, send it once", async () => {
      const { backend, id } = await setup();
      const chords = backend.chords;
      if (!chords) throw new Error(`${name}: result backends built on a KeyValueStore keep chords`);
      await chords.start(id, 3);
      const part = (taskId: string, groupIndex: number) => ({ groupId: id, taskId, groupIndex, state: 'SUCCESS', result: taskId });
      expect(await chords.addPart(part('a', 0))).toBeUndefined();
      expect(await chords.addPart(part('b', 1))).toBeUndefined();
      expect((await chords.addPart(part('c', 2)))?.map((p) => p.result)).toEqual(['a', 'b', 'c']);
      // Its worker died before the body went out: its three tasks come back and run at once.
      const again = await Promise.all([part('a', 0), part('b', 1), part('c', 2)].map((p) => chords.addPart(p)));
      expect(again.map((parts) => parts?.length)).toEqual([undefined, undefined, 3]);
      // A rerun that saw the chord complete just before the sender forgot it still finds the sender taken.
      const late = chords.addPart(part('a', 0));
      await chords.forget(id);
      expect(await late).toBeUndefined();
    });
  });
}
