/**
 * The status page (GET /_kccr/ui): static HTML, CSS and browser JavaScript from services/control/ui, served without
 * authentication because they hold nothing; the page asks the person for a credential and reads the guarded API
 * with it (a `read` role suffices). A strict Content-Security-Policy: only this service's own scripts, styles and API.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { query } from '../http/schemas.js';

/** services/control/ui beside the sources, or (compiled, in the image) from the project root above dist/. */
function uiDir(): string {
  const candidates = [join(import.meta.dirname, '..', 'ui'), join(import.meta.dirname, '..', '..', '..', '..', 'services', 'control', 'ui')];
  const found = candidates.find((d) => existsSync(join(d, 'status.html')));
  if (!found) throw new Error(`the status page's files are missing (looked in ${candidates.join(', ')})`);
  return found;
}

const SECURITY_HEADERS = {
  'content-security-policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-cache',
};

export function uiRoutes() {
  const dir = uiDir();
  const files = {
    html: readFileSync(join(dir, 'status.html'), 'utf8'),
    js: readFileSync(join(dir, 'status.js'), 'utf8'),
    css: readFileSync(join(dir, 'status.css'), 'utf8'),
  };
  return async function routes(app: FastifyInstance): Promise<void> {
    const serve = (url: string, type: string, body: string, summary: string) =>
      app.get(url, {
        config: { public: true },
        schema: { summary, tags: ['service'], querystring: query(), produces: [type.split(';')[0]!], response: { 200: { type: 'string' } } },
        handler: async (_request, reply) => reply.headers(SECURITY_HEADERS).type(type).send(body),
      });
    serve(
      '/_kccr/ui',
      'text/html; charset=utf-8',
      files.html,
      'The status page (no authentication for the page itself; it asks for a credential to read the API)',
    );
    serve('/_kccr/ui/status.js', 'text/javascript; charset=utf-8', files.js, "The status page's script");
    serve('/_kccr/ui/status.css', 'text/css; charset=utf-8', files.css, "The status page's style sheet");
  };
}
