import { describe, expect, it } from 'vitest';
import { memoryNeededMiB } from './checks.js';

describe('memoryNeededMiB', () => {
  it('counts the heaps of the parts to start and 1 GiB beside them, nothing when all run', () => {
    expect(memoryNeededMiB(['1g', '1g', '512m', '128m'])).toBe(2048 + 512 + 128 + 1024);
    // A fault test restarting Kafka alone needs Kafka's heap, not the whole stack's.
    expect(memoryNeededMiB(['512m'])).toBe(512 + 1024);
    expect(memoryNeededMiB([])).toBe(0);
  });
});
