import { describe, expect, it } from 'vitest';
import { snapshotRefusal } from './bootstrap.js';

const es = (version: string) => ({ kind: 'elasticsearch' as const, version });
const os = (version: string) => ({ kind: 'opensearch' as const, version });

describe('snapshotRefusal: a snapshot bootstrap refused before anything is done when the follower cannot restore it', () => {
  it('refuses across vendors, either way', () => {
    expect(snapshotRefusal(os('2.19.4'), es('8.19.21'))).toMatch(/from opensearch to elasticsearch: .*choose bootstrap "scan"/);
    expect(snapshotRefusal(es('8.19.21'), os('2.19.4'))).toMatch(/from elasticsearch to opensearch/);
  });

  it('refuses a follower older than the leader, accepts the same version or a newer one', () => {
    expect(snapshotRefusal(es('9.2.4'), es('8.19.21'))).toMatch(/from elasticsearch 9\.2\.4 to the older 8\.19\.21/);
    expect(snapshotRefusal(os('3.3.2'), os('3.3.1'))).toMatch(/older 3\.3\.1/);
    expect(snapshotRefusal(es('8.19.21'), es('8.19.21'))).toBeUndefined();
    expect(snapshotRefusal(es('8.19.21'), es('9.2.4'))).toBeUndefined();
    expect(snapshotRefusal(os('2.19.4'), os('3.3.2'))).toBeUndefined();
  });

  it('does not hold an unreported version against a cluster (the Elasticsearch integ-test zip has no GET /)', () => {
    expect(snapshotRefusal(es(''), es('8.19.21'))).toBeUndefined();
    expect(snapshotRefusal(es('9.2.4'), es(''))).toBeUndefined();
  });
});
