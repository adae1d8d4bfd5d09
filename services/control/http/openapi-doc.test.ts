import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { API_REFERENCE, currentOpenApi, renderApiReference } from './openapi-doc.js';

describe('the REST API reference', () => {
  it('is what the OpenAPI document of the routes renders (run `npm run docs:api` after changing a route)', async () => {
    const doc = await currentOpenApi();
    expect(Object.keys(doc.paths).length).toBeGreaterThan(20);
    expect(readFileSync(API_REFERENCE, 'utf8')).toBe(renderApiReference(doc));
  });

  it('lists each route once with what it checks', () => {
    const doc = {
      paths: {
        '/_plugins/_replication/{follower_index}/_stop': {
          post: {
            summary: 'Stop',
            tags: ['replication'],
            parameters: [{ name: 'follower_index', in: 'path', required: true, schema: { type: 'string' } }],
            responses: { '200': {}, '4XX': {} },
          },
        },
        '/_opendistro/_replication/{follower_index}/_stop': { post: { summary: 'Stop', tags: ['replication'] } },
        '/_kccr/health': { get: { summary: 'Liveness', tags: ['service'], security: [] } },
      },
    };
    const text = renderApiReference(doc);
    expect(text.match(/_stop`/g)).toHaveLength(1);
    expect(text).toContain('### `POST /_plugins/_replication/{follower_index}/_stop`\n\nStop (also under `/_opendistro/_replication`).');
    expect(text).toContain('| `follower_index` | path | string | yes |  |');
    expect(text).toContain('Liveness. No authentication.');
    expect(text.indexOf('## replication')).toBeLessThan(text.indexOf('## service'));
  });
});
