import { describe, expect, it } from 'vitest';
import { clusterId } from './kafka.js';

describe('the KRaft cluster id', () => {
  it("never starts with '-', which the storage tool would take for an option", () => {
    // 0xf8 0x... encodes to '-' first in base64url: drawn again.
    const draws = [Buffer.from([0xf8, ...Array(15).fill(1)]), Buffer.from(Array(16).fill(7))];
    expect(clusterId(() => draws.shift()!)).toBe(Buffer.from(Array(16).fill(7)).toString('base64url'));
    expect(draws).toHaveLength(0);
    for (let i = 0; i < 2000; i++) expect(clusterId()).toMatch(/^[A-Za-z0-9_][A-Za-z0-9_-]{21}$/);
  });
});
