import { describe, expect, it } from 'vitest';
import { checkClusterRequest, toEntry } from './clusters.js';

const ctx = { env: {} };

describe('cluster registrations', () => {
  it('take one URL or several nodes of the cluster, comma-separated, each checked', () => {
    expect(checkClusterRequest({ url: 'https://es-1:9200' }, ctx)).toEqual([]);
    expect(checkClusterRequest({ url: 'https://es-1:9200,https://es-2:9200, https://es-3:9200/' }, ctx)).toEqual([]);
    expect(checkClusterRequest({ url: 'https://es-1:9200,ftp://es-2' }, ctx)).toEqual(['url: expected http:// or https://, received "ftp:"']);
    expect(checkClusterRequest({ url: 'https://es-1:9200,nonsense' }, ctx)).toEqual(['url: expected an http:// or https:// URL (or several, comma-separated), received "nonsense"']);
  });

  it('keep the nodes in order, without spaces or trailing slashes', () => {
    expect(toEntry('leader', { url: 'https://es-1:9200/, https://es-2:9200' }, 'ops', undefined, 1).url).toBe('https://es-1:9200,https://es-2:9200');
  });
});
