import { describe, expect, it } from 'vitest';
import { closest, didYouMean, editDistance } from '../../core/config/closest.js';
import { SETTING_KEYS } from '../../core/config/settings.js';

describe('closest valid key', () => {
  it('counts an adjacent swap as one edit', () => {
    expect(editDistance('broker_ulr', 'broker_url')).toBe(1);
    expect(editDistance('abc', 'abc')).toBe(0);
    expect(editDistance('', 'abc')).toBe(3);
    expect(editDistance('kitten', 'sitting')).toBe(3);
  });

  it.each([
    ['broker_ulr', 'broker_url'],
    ['task_acks_lat', 'task_acks_late'],
    ['result_backned', 'result_backend'],
    ['worker_concurency', 'worker_concurrency'],
    ['task_default_queu', 'task_default_queue'],
    ['acks_late', 'task_acks_late'],
    ['BROKER_URL', 'broker_url'],
  ])('suggests %s → %s', (typo, meant) => {
    expect(closest(typo, SETTING_KEYS)).toBe(meant);
  });

  it('suggests nothing for a word that is no near miss', () => {
    expect(closest('colour', SETTING_KEYS)).toBeUndefined();
    expect(didYouMean('colour', SETTING_KEYS)).toBe('');
  });

  it('formats the suggestion for an error message', () => {
    expect(didYouMean('broker_ulr', SETTING_KEYS)).toBe(" Did you mean 'broker_url'?");
  });
});
