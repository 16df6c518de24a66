/** The worker banner and node names (pure functions, no processes). */
import { describe, expect, it } from 'vitest';
import { expandHostname, nodeFormat } from '../../core/cli/commands/worker.js';
import { renderBanner } from '../../core/worker/banner.js';

describe('worker banner', () => {
  const banner = renderBanner({
    hostname: 'w1@box',
    version: '1.2.3',
    app: 'tasks',
    transport: 'redis://app:s3cret@cache:6379/0',
    results: 'redis://:hunter2@cache:6379/1',
    concurrency: 4,
    prefetchMultiplier: 4,
    queues: ['celery', 'math'],
    tasks: ['tasks.mul', 'tasks.add'],
  });

  it('hides passwords in the transport and results URLs', () => {
    expect(banner).not.toMatch(/s3cret|hunter2/);
    expect(banner).toMatch(/\.> transport:\s+redis:\/\/app:\*\*@cache:6379\/0/);
    expect(banner).toMatch(/\.> results:\s+redis:\/\/:\*\*@cache:6379\/1/);
  });

  it('names the node and version, the concurrency, the queues and the sorted tasks', () => {
    expect(banner).toContain('w1@box v1.2.3');
    expect(banner).toMatch(/\.> concurrency:\s+4\n\.> prefetch:\s+16 \(4 per slot\)/);
    expect(banner).toContain('[queues]\n.> celery\n.> math\n');
    expect(banner).toContain('[tasks]\n  . tasks.add\n  . tasks.mul\n');
  });
});

describe('-n node names', () => {
  it('expand %h, %n and %d as Celery does', () => {
    expect(expandHostname('w1@%h', 'box.example.com')).toBe('w1@box.example.com');
    expect(expandHostname('%n-worker@%d', 'box.example.com')).toBe('box-worker@example.com');
    expect(expandHostname('w@%h %%', 'box')).toBe('w@box %');
  });

  it('a name without @ is a host, as Celery makes it: -n foo is celery@foo, -n %h celery@<host>', () => {
    expect(expandHostname('foo', 'box.example.com')).toBe('celery@foo');
    expect(expandHostname('%h', 'box.example.com')).toBe('celery@box.example.com');
  });

  it("--pidfile and --logfile expand Celery's node_format: %n and %h are the node name's parts, %i/%I the main process's index", () => {
    expect(nodeFormat('run/%n.pid', 'w1@box.example.com')).toBe('run/w1.pid');
    expect(nodeFormat('%p|%h|%d|%i|[%I]|%%', 'w1@box.example.com')).toBe('w1@box.example.com|box.example.com|example.com|0|[]|%');
    expect(nodeFormat('run/%n%I.log', 'w2@box')).toBe('run/w2.log');
  });
});
