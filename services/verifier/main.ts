/**
 * `kccr verify` as a command: reads arguments and connections, runs verifyIndex, prints differences as they are
 * found (up to --max-print; counting goes on) and a per-shard summary, and answers with an exit code.
 * `runVerify` is what a `kccr` command mounts; run directly (tsx services/verifier/main.ts ...) this file calls it.
 */
import { isEntryPoint } from '../shared/entry.js';
import { parseArgs } from 'node:util';
import { ElasticsearchAdapter } from '../shared/adapters/elasticsearch.js';
import { EnvReader, readEsConnection } from '../shared/config.js';
import { KccrError, errorMessage } from '../shared/errors.js';
import { verifyIndex } from './verify.js';
import type { Difference, VerifyResult } from './verify.js';
import { DEFAULT_ID_TEMPLATE, DEFAULT_ORIGIN_FIELD, idTemplateProblem, originFieldProblem } from '../shared/merge.js';
import { CLUSTER_NAME } from '../shared/replication.js';

export const EXIT = { identical: 0, differences: 1, usage: 2, unreachable: 3 } as const;

export const USAGE = `usage: kccr verify --leader-index <name> --follower-index <name> [options]

Compares a leader index with its follower shard by shard: every leader document must be on the follower with
the same _source bytes and _routing, and the follower must hold no other document. Meant for an index whose
writes have stopped; a suspect document is looked at again before it is reported. The leader is only read;
the follower index is refreshed once first.

options:
  --leader-index <name>    the leader index (required)
  --follower-index <name>  the follower index (required; same number of shards as the leader)
  --batch <n>              documents per page and per mget, 1 to 10000 (default 1000)
  --concurrency <n>        shards verified at once, 1 to 16 (default 2)
  --max-print <n>          differences printed at most (default 100); all are counted
  --json                   print one JSON document instead of text
  --no-refresh             do not refresh the follower index first
  --merged-from <cluster>  the follower index is a merged index (fan-in) and the leader index, of this leader
                           cluster (its kccr name), one of its sources: only that source's documents are compared,
                           ids mapped back and the provenance field set aside (any number of shards)
  --id-template <t>        with --merged-from: the merged index's id template (default ${DEFAULT_ID_TEMPLATE})
  --origin-field <f>       with --merged-from: its provenance field (default ${DEFAULT_ORIGIN_FIELD})
  --help                   this text

connections (environment):
  KCCR_LEADER_URL (default http://127.0.0.1:9200), KCCR_LEADER_CA_FILE, KCCR_LEADER_USERNAME,
  KCCR_LEADER_PASSWORD[_FILE], KCCR_LEADER_API_KEY[_FILE]; the same with KCCR_FOLLOWER_ (default :9201)

exit codes:
  0  identical
  1  differences found
  2  bad usage or configuration: a missing or bad option or environment value, an index that does not exist
     or a name matching several indices, different shard counts, credentials or privileges refused (401/403)
  3  a cluster could not be reached or failed during the run (refused connection, timeout, 5xx, 429)
`;

export interface CliOutput {
  log(line: string): void;
  error(line: string): void;
}

interface Args {
  readonly leaderIndex: string;
  readonly followerIndex: string;
  readonly batch: number;
  readonly concurrency: number;
  readonly maxPrint: number;
  readonly json: boolean;
  readonly refresh: boolean;
  readonly merged?: { readonly leaderCluster: string; readonly idTemplate: string; readonly originField: string };
}

const USAGE_CODES: readonly string[] = ['CONFIG_INVALID', 'BAD_REQUEST', 'ES_NOT_FOUND', 'ES_UNAUTHENTICATED', 'ES_FORBIDDEN'];

export async function runVerify(argv: readonly string[], env: NodeJS.ProcessEnv, out: CliOutput): Promise<number> {
  let parsed: ReturnType<typeof parseCommandLine>;
  try {
    parsed = parseCommandLine(argv, env);
  } catch (e) {
    out.error(`kccr verify: ${errorMessage(e)}\nrun \`kccr verify --help\` for the options.`);
    return EXIT.usage;
  }
  if (parsed === 'help') {
    out.log(USAGE);
    return EXIT.identical;
  }
  const { args, leaderConn, followerConn } = parsed;
  const leader = new ElasticsearchAdapter(leaderConn);
  const follower = new ElasticsearchAdapter(followerConn);
  const printer = differencePrinter(args, out);
  try {
    if (!args.json) out.log(`verifying ${leader.url} index ${args.leaderIndex} against ${follower.url} index ${args.followerIndex}`);
    const result = await verifyIndex(leader, follower, {
      leaderIndex: args.leaderIndex,
      followerIndex: args.followerIndex,
      batchSize: args.batch,
      concurrency: args.concurrency,
      refreshFollower: args.refresh,
      onDifference: printer.add,
      ...(args.merged
        ? {
            merged: {
              merge: { idTemplate: args.merged.idTemplate, originField: args.merged.originField },
              source: { leaderCluster: args.merged.leaderCluster, leaderIndex: args.leaderIndex },
            },
          }
        : {}),
    });
    if (args.json)
      out.log(
        JSON.stringify({
          leader: { url: leader.url, index: args.leaderIndex },
          follower: { url: follower.url, index: args.followerIndex },
          ...result,
          verdict: verdict(result),
          printed: printer.printed,
        }),
      );
    else printSummary(result, printer.printed.length, args.maxPrint, out);
    return result.identical ? EXIT.identical : EXIT.differences;
  } catch (e) {
    const code = e instanceof KccrError && USAGE_CODES.includes(e.code) ? EXIT.usage : EXIT.unreachable;
    const message = `${errorMessage(e)}${hint(e, leader.url, follower.url)}`;
    if (args.json) out.log(JSON.stringify({ error: { code: e instanceof KccrError ? e.code : 'INTERNAL', message }, exitCode: code }));
    out.error(`kccr verify: ${message}`);
    return code;
  } finally {
    await Promise.all([leader.close(), follower.close()]);
  }
}

/** Options and environment together, every problem reported at once (as CONFIG_INVALID). */
function parseCommandLine(argv: readonly string[], env: NodeJS.ProcessEnv) {
  const { values } = parseArgs({
    args: [...argv],
    strict: true,
    allowPositionals: false,
    options: {
      'leader-index': { type: 'string' },
      'follower-index': { type: 'string' },
      batch: { type: 'string' },
      concurrency: { type: 'string' },
      'max-print': { type: 'string' },
      json: { type: 'boolean' },
      'no-refresh': { type: 'boolean' },
      'merged-from': { type: 'string' },
      'id-template': { type: 'string' },
      'origin-field': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) return 'help' as const;
  const r = new EnvReader(env);
  const leaderConn = readEsConnection(r, 'KCCR_LEADER_', 'http://127.0.0.1:9200');
  const followerConn = readEsConnection(r, 'KCCR_FOLLOWER_', 'http://127.0.0.1:9201');
  const name = (option: 'leader-index' | 'follower-index') => {
    const v = values[option];
    if (v === undefined || v.trim() === '') r.problem(`--${option}: expected the ${option.split('-')[0]} index name, but it is not given`);
    return v ?? '';
  };
  const int = (option: 'batch' | 'concurrency' | 'max-print', fallback: number, min: number, max: number) => {
    const v = values[option];
    if (v === undefined) return fallback;
    const n = Number(v);
    if (!/^\d+$/.test(v) || n < min || n > max) r.problem(`--${option}: expected a whole number from ${min} to ${max}, received ${JSON.stringify(v)}`);
    return n;
  };
  const args: Args = {
    leaderIndex: name('leader-index'),
    followerIndex: name('follower-index'),
    batch: int('batch', 1000, 1, 10_000),
    concurrency: int('concurrency', 2, 1, 16),
    maxPrint: int('max-print', 100, 0, Number.MAX_SAFE_INTEGER),
    json: values.json ?? false,
    refresh: !(values['no-refresh'] ?? false),
    ...(values['merged-from'] !== undefined ? { merged: mergedArgs(r, values['merged-from'], values['id-template'], values['origin-field']) } : {}),
  };
  if (values['merged-from'] === undefined && (values['id-template'] !== undefined || values['origin-field'] !== undefined))
    r.problem('--id-template and --origin-field go with --merged-from');
  return r.done({ args, leaderConn, followerConn });
}

function mergedArgs(r: EnvReader, leaderCluster: string, template: string | undefined, field: string | undefined): NonNullable<Args['merged']> {
  if (!CLUSTER_NAME.test(leaderCluster))
    r.problem(`--merged-from: expected a cluster name (lower-case letters, digits, _ and -), received ${JSON.stringify(leaderCluster)}`);
  const idTemplate = template ?? DEFAULT_ID_TEMPLATE;
  const originField = field ?? DEFAULT_ORIGIN_FIELD;
  const problem = idTemplateProblem(idTemplate) ?? originFieldProblem(originField);
  if (problem) r.problem(`--id-template / --origin-field: ${problem}`);
  return { leaderCluster, idTemplate, originField };
}

/** Prints (text) or keeps (JSON) the first --max-print differences; the rest are only counted by verifyIndex. */
function differencePrinter(args: Args, out: CliOutput) {
  const printed: Difference[] = [];
  const add = (d: Difference) => {
    if (printed.length >= args.maxPrint) return;
    printed.push(d);
    if (!args.json) out.log(`${d.kind.padEnd(9)} shard=${d.shard} id=${token(d.id)} routing=${d.routing === null ? '(none)' : token(d.routing)}  ${d.detail}`);
  };
  return { printed, add };
}

function printSummary(result: VerifyResult, printed: number, maxPrint: number, out: CliOutput): void {
  if (result.differences > printed) out.log(`... and ${result.differences - printed} more differences not printed (--max-print ${maxPrint})`);
  const header = ['shard', 'leader docs', 'follower docs', 'missing', 'extra', 'different'];
  const rows = result.shards.map((s) => [s.shard, s.leaderCount, s.followerCount, s.missing, s.extra, s.different].map(String));
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  for (const row of [header, ...rows])
    out.log(
      row
        .map((c, i) => c.padEnd(widths[i]!))
        .join('  ')
        .trimEnd(),
    );
  const uneven = result.shards.filter((s) => s.leaderCount !== s.followerCount).map((s) => s.shard);
  if (result.identical && uneven.length > 0) {
    out.log(
      `note: document counts differ on shard ${uneven.join(', ')} although every document matched: the leader has changes not yet refreshed, or writes go on`,
    );
  }
  out.log(`verdict: ${verdict(result)}`);
}

function verdict(result: VerifyResult): string {
  return result.identical ? 'identical' : `${result.differences} difference${result.differences === 1 ? '' : 's'}`;
}

/** An id or routing as one shell-like word: quoted when it holds anything that could blur the line. */
function token(s: string): string {
  return /^[\w.:/@+-]+$/.test(s) ? s : JSON.stringify(s);
}

/** What to do next, for the failures whose remedy is in the user's hands. */
function hint(e: unknown, leaderUrl: string, followerUrl: string): string {
  if (!(e instanceof KccrError)) return '';
  const prefix = e.details.url === followerUrl ? 'KCCR_FOLLOWER_' : e.details.url === leaderUrl ? 'KCCR_LEADER_' : undefined;
  if (e.code === 'ES_NOT_FOUND' && e.details.role)
    return `. Check --${String(e.details.role)}-index, and ${String(e.details.role) === 'leader' ? 'KCCR_LEADER_URL' : 'KCCR_FOLLOWER_URL'} if it points at the wrong cluster.`;
  if (e.code === 'ES_UNAVAILABLE' && prefix) return `. Check that the cluster is up and that ${prefix}URL points at it.`;
  if ((e.code === 'ES_UNAUTHENTICATED' || e.code === 'ES_FORBIDDEN') && prefix) return ` (${prefix}USERNAME / ${prefix}PASSWORD / ${prefix}API_KEY)`;
  return '';
}

if (isEntryPoint(import.meta.url)) process.exitCode = await runVerify(process.argv.slice(2), process.env, console);
