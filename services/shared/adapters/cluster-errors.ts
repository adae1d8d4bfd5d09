/**
 * A cluster's failed answer as kccr repeats and classifies it, for either engine's adapter (Elasticsearch's client
 * and OpenSearch's plain HTTP): one decision of what is transient, from the status and the cluster's own reason.
 */
import { KccrError } from '../errors.js';

interface EsErrorBody {
  error?: { type?: string; reason?: string; root_cause?: { type?: string; reason?: string }[] } | string;
}

/** The most a cluster's error reason takes in kccr's messages: a URL that is not Elasticsearch cannot be read back whole. */
export const MAX_REASON_CHARS = 300;

/**
 * A cluster's answer to a failed request, as kccr repeats it: its error type and reason when it is Elasticsearch's
 * error body, else its text; control characters replaced, cut at MAX_REASON_CHARS.
 */
export function reasonOf(body: unknown): string {
  const b = body as EsErrorBody | undefined;
  let reason: string;
  if (!b?.error) reason = typeof body === 'string' ? body : JSON.stringify(body ?? '');
  else if (typeof b.error === 'string') reason = b.error;
  else {
    const root = b.error.root_cause?.[0];
    reason = `${b.error.type ?? root?.type ?? 'error'}: ${b.error.reason ?? root?.reason ?? ''}`;
  }
  // eslint-disable-next-line no-control-regex
  const clean = reason.replace(/[\u0000-\u001f\u007f]+/g, ' ');
  return clean.length > MAX_REASON_CHARS ? `${clean.slice(0, MAX_REASON_CHARS)}… (${clean.length} characters)` : clean;
}

export function responseError(status: number, body: Buffer, what: string, url: string): KccrError {
  let parsed: unknown = body.toString('utf8');
  try {
    parsed = JSON.parse(parsed as string);
  } catch {
    // keep the text
  }
  return statusError(status, reasonOf(parsed), what, url);
}

export function statusError(status: number, reason: string, what: string, url: string, cause?: unknown): KccrError {
  const details = { status, url, request: what };
  const e = cause;
  // A block (index write-blocked, read-only, closed, or the cluster without a master yet) lifts without kccr: retried.
  if (
    /^(cluster_block_exception|index_closed_exception|master_not_discovered_exception|no_shard_available_action_exception|unavailable_shards_exception)/.test(
      reason,
    )
  ) {
    return new KccrError('ES_UNAVAILABLE', `${url} cannot serve ${what} for now (${status}): ${reason}`, details, { cause: e });
  }
  if (status === 401)
    return new KccrError(
      'ES_UNAUTHENTICATED',
      `${url} refused the credentials (401) for ${what}: ${reason}. Check the user name and password or API key.`,
      details,
      { cause: e },
    );
  if (status === 403)
    return new KccrError('ES_FORBIDDEN', `${url} denied ${what} (403): ${reason}. Grant the missing privilege to this user or use one that has it.`, details, {
      cause: e,
    });
  if (status === 404) return new KccrError('ES_NOT_FOUND', `${url}: ${what} found nothing (404): ${reason}`, details, { cause: e });
  if (status === 408 || status === 429 || status >= 500)
    return new KccrError('ES_UNAVAILABLE', `${url} is overloaded or failing (${status}) for ${what}: ${reason}`, details, { cause: e });
  return new KccrError('ES_REJECTED', `${url} rejected ${what} (${status}): ${reason}`, details, { cause: e });
}
