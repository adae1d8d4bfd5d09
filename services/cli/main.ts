/**
 * `kccr`: the command line over the control service's HTTP API (and `kccr verify`, which talks to the clusters).
 * Exit codes scripts can trust: 0 ok, 1 the operation failed (or verify found differences), 2 usage error,
 * 3 the control service (or a cluster, for verify) cannot be reached, 4 authentication or authorization refused.
 */
import { isEntryPoint } from '../shared/entry.js';
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { runVerify } from '../verifier/main.js';
import { CliError, ControlClient, EXIT } from './client.js';
import type { ClientOptions } from './client.js';
import { clustersText, replicationsText, statusText, table } from './format.js';
import type { ClusterItem, ReplicationItem, Status } from './format.js';
import type { SecretIo } from './secret-input.js';
import { runUsers, USERS_USAGE } from './users.js';

export const USAGE = `usage: kccr [global options] <command> [arguments]

replication (the control service's API):
  kccr start <follower_index> --leader-cluster <name> --leader-index <index>
             [--follower-cluster <name>] [--bootstrap scan|snapshot|none] [--settings '<json>']
             [--accept-partial-source]   replicate a leader index whose _source has includes/excludes
             [--merged [--id-template <t>] [--origin-field <f>]]   make the leader index one source of the
             merged index <follower_index> (fan-in); the source is named <follower_index>@<cluster>@<index>
  kccr stop <follower_index>      stop: the follower index becomes an ordinary writable index
  kccr pause <follower_index>     pause (changes wait in Kafka)
  kccr resume <follower_index>    resume a paused replication
  kccr update <follower_index> --settings '<json>'   change follower index settings
  kccr status <follower_index>    status with lag per shard (operations and seconds)
  kccr replications [--state active|paused|stopped] [--follower-cluster <name>] [--leader-cluster <name>]
  kccr offsets <follower_index> --to earliest|latest|<ISO-8601 time>|<epoch ms>
                                  replay the topic from the start or a time, or skip to its end
  kccr rebuild <follower_index> [--alias <alias>] [--new-index <index>]
                                  build a new follower index from the topic; the alias moves to it once caught up
  (stop, pause, resume, update, status, offsets and rebuild take --follower-cluster <name> too; by default the service's own)

clusters:
  kccr clusters list
  kccr clusters show <name>
  kccr clusters add <name> <url> [--username <user> (--password-env KCCR_SECRET_<VAR> | --password-file <path under the secrets dir>)]
                                 [--api-key-env KCCR_SECRET_<VAR> | --api-key-file <path>] [--cluster-ca-file <path>]
      credentials are references resolved by the control service: variables of its environment or files on its host
  kccr clusters remove <name>

auto-follow (leader indices matching a pattern are replicated as they appear):
  kccr autofollow list [--follower-cluster <name>] [--leader-cluster <name>]   rules with what each started and failed
  kccr autofollow add <name> --leader-cluster <name>[,<name>...|*] --pattern '<pattern>[,<pattern>...]'
                      [--exclude <pattern>,<pattern>] [--follower-pattern '{{leader_index}}-copy']
                      [--follower-alias <alias>] [--follower-cluster <name>] [--settings '<json>'] [--accept-partial-source]
      a rule of the same name is replaced; several leader clusters (or * for every registered one): fan-in, each
      source into its own follower indices ('{{leader_cluster}}-{{leader_index}}' by default), --follower-alias over them;
      --merged [--id-template <t>] [--origin-field <f>]: every match into the one merged index --follower-pattern names
  kccr autofollow remove <name> --leader-cluster <name>[,<name>...|*] [--follower-cluster <name>]
      (replications a removed rule started go on)

other:
  kccr verify --leader-index <index> --follower-index <index> [...]   compare leader and follower (kccr verify --help)
  kccr users hash-password | new-token [--name <user>] [--role admin|read]  entries for KCCR_CONTROL_USERS_FILE

global options:
  --url <url>          the control service (KCCR_CONTROL_URL, default http://127.0.0.1:8090)
  --token <token>      a bearer API token (KCCR_CONTROL_TOKEN)
  --user <name>        HTTP basic user (KCCR_CONTROL_USER), with --password (KCCR_CONTROL_PASSWORD)
  --ca-file <path>     the CA certificate of an HTTPS control service (KCCR_CONTROL_CA_FILE)
  --json               print the service's JSON answer instead of text
  --help               this text

exit codes:
  0  done
  1  the operation failed (the service refused it or failed; verify: differences found)
  2  usage error: a missing or bad argument or option (also when the service finds the request malformed)
  3  the control service cannot be reached (connection refused, timeout, TLS not trusted)
  4  authentication or authorization refused (401, 403)
`;

const OPTIONS = {
  url: { type: 'string' },
  token: { type: 'string' },
  user: { type: 'string' },
  password: { type: 'string' },
  'ca-file': { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
  'leader-cluster': { type: 'string' },
  'leader-index': { type: 'string' },
  'follower-cluster': { type: 'string' },
  bootstrap: { type: 'string' },
  settings: { type: 'string' },
  'accept-partial-source': { type: 'boolean' },
  state: { type: 'string' },
  username: { type: 'string' },
  'password-env': { type: 'string' },
  'password-file': { type: 'string' },
  'api-key-env': { type: 'string' },
  'api-key-file': { type: 'string' },
  'cluster-ca-file': { type: 'string' },
  name: { type: 'string' },
  role: { type: 'string' },
  to: { type: 'string' },
  alias: { type: 'string' },
  'new-index': { type: 'string' },
  pattern: { type: 'string' },
  exclude: { type: 'string' },
  'follower-pattern': { type: 'string' },
  'follower-alias': { type: 'string' },
  merged: { type: 'boolean' },
  'id-template': { type: 'string' },
  'origin-field': { type: 'string' },
} as const;

type Values = { [K in keyof typeof OPTIONS]?: (typeof OPTIONS)[K]['type'] extends 'boolean' ? boolean : string };

const GLOBAL = ['url', 'token', 'user', 'password', 'ca-file', 'json', 'help'];
/** Options each command takes besides the global ones, and how many positional arguments. */
const COMMANDS: Record<string, { options: string[]; positionals: readonly [number, number] }> = {
  start: {
    options: ['leader-cluster', 'leader-index', 'follower-cluster', 'bootstrap', 'settings', 'accept-partial-source', 'merged', 'id-template', 'origin-field'],
    positionals: [1, 1],
  },
  stop: { options: ['follower-cluster'], positionals: [1, 1] },
  pause: { options: ['follower-cluster'], positionals: [1, 1] },
  resume: { options: ['follower-cluster'], positionals: [1, 1] },
  update: { options: ['follower-cluster', 'settings'], positionals: [1, 1] },
  status: { options: ['follower-cluster'], positionals: [1, 1] },
  replications: { options: ['state', 'follower-cluster', 'leader-cluster'], positionals: [0, 0] },
  offsets: { options: ['follower-cluster', 'to'], positionals: [1, 1] },
  rebuild: { options: ['follower-cluster', 'alias', 'new-index'], positionals: [1, 1] },
  'clusters list': { options: [], positionals: [0, 0] },
  'clusters show': { options: [], positionals: [1, 1] },
  'clusters add': { options: ['username', 'password-env', 'password-file', 'api-key-env', 'api-key-file', 'cluster-ca-file'], positionals: [2, 2] },
  'clusters remove': { options: [], positionals: [1, 1] },
  'users hash-password': { options: ['name', 'role'], positionals: [0, 0] },
  'users new-token': { options: ['name', 'role'], positionals: [0, 0] },
  'autofollow list': { options: ['follower-cluster', 'leader-cluster'], positionals: [0, 0] },
  'autofollow add': {
    options: [
      'leader-cluster',
      'pattern',
      'exclude',
      'follower-pattern',
      'follower-alias',
      'follower-cluster',
      'settings',
      'accept-partial-source',
      'merged',
      'id-template',
      'origin-field',
    ],
    positionals: [1, 1],
  },
  'autofollow remove': { options: ['leader-cluster', 'follower-cluster'], positionals: [1, 1] },
};

export interface CliIo extends SecretIo {
  out(line: string): void;
  err(line: string): void;
}

function usage(message: string): CliError {
  return new CliError(`${message}\nrun \`kccr --help\` for the commands and options.`, EXIT.usage);
}

interface Parsed {
  readonly command: string;
  readonly args: readonly string[];
  readonly values: Values;
}

function parse(argv: readonly string[]): Parsed | 'help' {
  let values: Values;
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({ args: [...argv], options: OPTIONS, strict: true, allowPositionals: true }) as {
      values: Values;
      positionals: string[];
    });
  } catch (e) {
    throw usage((e as Error).message);
  }
  if (positionals.length === 0 || positionals[0] === 'help') return 'help';
  const [first, second] = positionals;
  const command = first === 'clusters' || first === 'users' || first === 'autofollow' ? `${first} ${second ?? ''}`.trim() : first!;
  const spec = COMMANDS[command];
  if (!spec) {
    if (first === 'clusters') throw usage(`kccr clusters needs one of list, show, add, remove${second ? `; received ${JSON.stringify(second)}` : ''}`);
    if (first === 'autofollow') throw usage(`kccr autofollow needs one of list, add, remove${second ? `; received ${JSON.stringify(second)}` : ''}`);
    if (first === 'users') throw usage(`kccr users needs hash-password or new-token${second ? `; received ${JSON.stringify(second)}` : ''}`);
    throw usage(`unknown command ${JSON.stringify(first)}`);
  }
  if (values.help) return 'help';
  const args = positionals.slice(command.split(' ').length);
  const [min, max] = spec.positionals;
  if (args.length < min || args.length > max) {
    const expected =
      command === 'clusters add'
        ? '<name> and <url>'
        : command.startsWith('autofollow ') && min === 1
          ? 'the rule name'
          : min === 1
            ? 'one argument'
            : 'no arguments';
    throw usage(`kccr ${command} takes ${expected}; received ${args.length === 0 ? 'none' : args.map((a) => JSON.stringify(a)).join(' ')}`);
  }
  const misplaced = Object.keys(values).filter((k) => !GLOBAL.includes(k) && !spec.options.includes(k));
  if (misplaced.length) throw usage(`kccr ${command} does not take ${misplaced.map((k) => `--${k}`).join(', ')}`);
  return { command, args, values };
}

function clientOptions(values: Values, env: NodeJS.ProcessEnv): ClientOptions {
  const token = values.token ?? (env.KCCR_CONTROL_TOKEN || undefined);
  const user = values.user ?? (env.KCCR_CONTROL_USER || undefined);
  const password = values.password ?? (env.KCCR_CONTROL_PASSWORD || undefined);
  if (values.token !== undefined && values.user !== undefined) throw usage('give --token or --user, not both');
  if (user !== undefined && password === undefined) throw usage('--user needs a password: --password or KCCR_CONTROL_PASSWORD');
  const caFile = values['ca-file'] ?? (env.KCCR_CONTROL_CA_FILE || undefined);
  let ca: string | undefined;
  if (caFile !== undefined) {
    try {
      ca = readFileSync(caFile, 'utf8');
    } catch (e) {
      throw usage(`--ca-file: cannot read ${caFile}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
  }
  return {
    url: values.url ?? (env.KCCR_CONTROL_URL || 'http://127.0.0.1:8090'),
    ...(token !== undefined ? { token } : user !== undefined ? { user, password: password ?? '' } : {}),
    ...(ca !== undefined ? { ca } : {}),
  };
}

function jsonOption(name: string, text: string | undefined): Record<string, unknown> | undefined {
  if (text === undefined) return undefined;
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    throw usage(`--${name} must be a JSON object, for example '{"index.number_of_replicas": 0}'; received ${JSON.stringify(text)}`);
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw usage(`--${name} must be a JSON object`);
  return v as Record<string, unknown>;
}

/** --accept-partial-source as the body field; absent when not given (the service's default refuses). */
function acceptPartialSource(values: Values): { accept_partial_source?: true } {
  return values['accept-partial-source'] ? { accept_partial_source: true } : {};
}

function indexPath(index: string, action: string, followerCluster: string | undefined): string {
  return `/_plugins/_replication/${encodeURIComponent(index)}/${action}${followerCluster !== undefined ? `?follower_cluster=${encodeURIComponent(followerCluster)}` : ''}`;
}

async function run(p: Parsed, client: ControlClient, io: CliIo): Promise<number> {
  const { values, args } = p;
  const json = values.json ?? false;
  const print = (answer: unknown, text: () => string[]) => {
    if (json) io.out(JSON.stringify(answer));
    else for (const line of text()) io.out(line);
  };
  const fc = values['follower-cluster'];
  switch (p.command) {
    case 'start': {
      const leaderCluster = values['leader-cluster'];
      const leaderIndex = values['leader-index'];
      const missing = [leaderCluster === undefined && '--leader-cluster', leaderIndex === undefined && '--leader-index'].filter(Boolean);
      if (missing.length) throw usage(`kccr start needs ${missing.join(' and ')}`);
      if (values.bootstrap !== undefined && !['scan', 'snapshot', 'none'].includes(values.bootstrap))
        throw usage(`--bootstrap must be scan, snapshot or none; received ${JSON.stringify(values.bootstrap)}`);
      const settings = jsonOption('settings', values.settings);
      const { mode: _mode, ...merge } = mergeOption(values);
      const body = {
        ...merge,
        leader_alias: leaderCluster,
        leader_index: leaderIndex,
        ...(values.bootstrap ? { bootstrap: values.bootstrap } : {}),
        ...(settings ? { settings } : {}),
        ...acceptPartialSource(values),
        ...(fc !== undefined ? { follower_cluster: fc } : {}),
      };
      const answer = await client.call<{ notes?: string[]; source?: string }>('PUT', `/_plugins/_replication/${encodeURIComponent(args[0]!)}/_start`, body);
      print(answer, () => [
        answer.source
          ? `started: ${leaderCluster}:${leaderIndex} merged into ${args[0]}${fc ? ` on ${fc}` : ''}, as the source ${answer.source}`
          : `started: ${args[0]} follows ${leaderCluster}:${leaderIndex}${fc ? ` on ${fc}` : ''}`,
        ...(answer.notes ?? []).map((n) => `note: ${n}`),
        `watch it with: kccr status ${answer.source ?? args[0]}`,
      ]);
      return EXIT.ok;
    }
    case 'stop':
    case 'pause':
    case 'resume': {
      const answer = await client.call('POST', indexPath(args[0]!, `_${p.command}`, fc), {});
      const done = {
        stop: 'stopped: the follower index is an ordinary writable index now',
        pause: 'paused: changes wait in Kafka until resume',
        resume: 'resumed',
      }[p.command];
      print(answer, () => [`${args[0]}: ${done}`]);
      return EXIT.ok;
    }
    case 'update': {
      const settings = jsonOption('settings', values.settings);
      if (!settings) throw usage('kccr update needs --settings');
      const answer = await client.call('PUT', indexPath(args[0]!, '_update', fc), { settings });
      print(answer, () => [`${args[0]}: settings updated`]);
      return EXIT.ok;
    }
    case 'status': {
      const answer = await client.call<Status>('GET', indexPath(args[0]!, '_status', fc));
      print(answer, () => statusText(answer));
      return answer.status === 'FAILED' ? EXIT.failed : EXIT.ok;
    }
    case 'replications': {
      if (values.state !== undefined && !['active', 'paused', 'stopped'].includes(values.state))
        throw usage(`--state must be active, paused or stopped; received ${JSON.stringify(values.state)}`);
      const q = new URLSearchParams();
      if (values.state) q.set('state', values.state);
      if (fc) q.set('follower_cluster', fc);
      if (values['leader-cluster']) q.set('leader_cluster', values['leader-cluster']);
      const answer = await client.call<{ replications: ReplicationItem[] }>('GET', `/_kccr/replications${q.size ? `?${q}` : ''}`);
      print(answer, () => replicationsText(answer.replications));
      return EXIT.ok;
    }
    case 'offsets': {
      if (values.to === undefined) throw usage('kccr offsets needs --to earliest, latest, an ISO-8601 time (2025-01-31T12:00:00Z) or epoch milliseconds');
      const to = /^\d+$/.test(values.to) ? Number(values.to) : values.to;
      const answer = await client.call('POST', indexPath(args[0]!, '_offsets', fc), { to });
      print(answer, () => [`${args[0]}: the applier moves to ${values.to} in the topic shortly (watch it with: kccr status ${args[0]})`]);
      return EXIT.ok;
    }
    case 'rebuild': {
      const body = {
        ...(values.alias !== undefined ? { alias: values.alias } : {}),
        ...(values['new-index'] !== undefined ? { new_index: values['new-index'] } : {}),
      };
      const answer = await client.call<{ new_index: string; alias: string; old_index: string }>('POST', indexPath(args[0]!, '_rebuild', fc), body);
      print(answer, () => [
        `rebuilding ${answer.old_index} into ${answer.new_index} from the start of the topic; ${answer.old_index} is no longer followed and is kept as it is`,
        `the alias ${answer.alias} moves to ${answer.new_index} once it has caught up; watch it with: kccr status ${answer.new_index}`,
      ]);
      return EXIT.ok;
    }
    case 'clusters list': {
      const answer = await client.call<{ clusters: ClusterItem[] }>('GET', '/_kccr/clusters');
      print(answer, () => clustersText(answer.clusters));
      return EXIT.ok;
    }
    case 'clusters show': {
      const answer = await client.call<ClusterItem>('GET', `/_kccr/clusters/${encodeURIComponent(args[0]!)}`);
      print(answer, () => Object.entries(answer).map(([k, v]) => `${k}: ${String(v)}`));
      return EXIT.ok;
    }
    case 'clusters add': {
      const body = {
        url: args[1],
        ...(values.username !== undefined ? { username: values.username } : {}),
        ...(values['password-env'] !== undefined ? { password_env: values['password-env'] } : {}),
        ...(values['password-file'] !== undefined ? { password_file: values['password-file'] } : {}),
        ...(values['api-key-env'] !== undefined ? { api_key_env: values['api-key-env'] } : {}),
        ...(values['api-key-file'] !== undefined ? { api_key_file: values['api-key-file'] } : {}),
        ...(values['cluster-ca-file'] !== undefined ? { ca_file: values['cluster-ca-file'] } : {}),
      };
      const answer = await client.call<{ created: boolean }>('PUT', `/_kccr/clusters/${encodeURIComponent(args[0]!)}`, body);
      print(answer, () => [`${answer.created ? 'registered' : 'replaced'}: ${args[0]} at ${args[1]}`]);
      return EXIT.ok;
    }
    case 'clusters remove': {
      const answer = await client.call('DELETE', `/_kccr/clusters/${encodeURIComponent(args[0]!)}`);
      print(answer, () => [`removed: ${args[0]}`]);
      return EXIT.ok;
    }
    case 'autofollow list': {
      const q = new URLSearchParams();
      if (fc) q.set('follower_cluster', fc);
      if (values['leader-cluster']) q.set('leader_alias', values['leader-cluster']);
      const answer = await client.call<{ rules: AutofollowItem[] }>('GET', `/_plugins/_replication/_autofollow${q.size ? `?${q}` : ''}`);
      const stats = json ? undefined : await client.call<{ autofollow_stats: AutofollowStatsItem[] }>('GET', '/_plugins/_replication/autofollow_stats');
      print(answer, () => autofollowText(answer.rules, stats?.autofollow_stats ?? []));
      return EXIT.ok;
    }
    case 'autofollow add': {
      const missing = [values['leader-cluster'] === undefined && '--leader-cluster', values.pattern === undefined && '--pattern'].filter(Boolean);
      if (missing.length) throw usage(`kccr autofollow add needs ${missing.join(' and ')}`);
      const settings = jsonOption('settings', values.settings);
      const exclude = values.exclude
        ?.split(',')
        .map((x) => x.trim())
        .filter(Boolean);
      const body = {
        ...leaderClustersOption(values['leader-cluster']!),
        name: args[0],
        pattern: values.pattern,
        ...(exclude?.length ? { exclude_patterns: exclude } : {}),
        ...(values['follower-pattern'] !== undefined ? { follower_index_pattern: values['follower-pattern'] } : {}),
        ...(values['follower-alias'] !== undefined ? { follower_alias: values['follower-alias'] } : {}),
        ...(settings ? { settings } : {}),
        ...acceptPartialSource(values),
        ...mergeOption(values),
        ...(fc !== undefined ? { follower_cluster: fc } : {}),
      };
      const answer = await client.call('POST', '/_plugins/_replication/_autofollow', body);
      print(answer, () => [
        `auto-follow rule ${args[0]}: ${values['leader-cluster'] === '*' ? 'every registered leader cluster' : values['leader-cluster']} indices matching ${values.pattern}${exclude?.length ? ` except ${exclude.join(',')}` : ''} are followed${fc ? ` on ${fc}` : ''}${values['follower-alias'] ? `, under the alias ${values['follower-alias']}` : ''}`,
        'watch it with: kccr autofollow list',
      ]);
      return EXIT.ok;
    }
    case 'autofollow remove': {
      if (values['leader-cluster'] === undefined) throw usage('kccr autofollow remove needs --leader-cluster');
      const answer = await client.call('DELETE', '/_plugins/_replication/_autofollow', {
        ...leaderClustersOption(values['leader-cluster']),
        name: args[0],
        ...(fc !== undefined ? { follower_cluster: fc } : {}),
      });
      print(answer, () => [`removed auto-follow rule ${args[0]} (replications it started go on)`]);
      return EXIT.ok;
    }
    default:
      throw usage(`unknown command ${JSON.stringify(p.command)}`);
  }
}

/** --leader-cluster: one name (leader_alias, the plugin's field), several comma-separated or * (leader_clusters). */
function leaderClustersOption(value: string): { leader_alias: string } | { leader_clusters: string[] | '*' } {
  if (value.trim() === '*') return { leader_clusters: '*' };
  const names = value
    .split(',')
    .map((x) => x.trim())
    .filter(Boolean);
  return names.length === 1 ? { leader_alias: names[0]! } : { leader_clusters: names };
}

interface AutofollowItem {
  readonly name: string;
  readonly leader_alias: string;
  readonly follower_cluster: string;
  readonly pattern: string;
  readonly exclude_patterns: readonly string[];
  readonly follower_index_pattern: string;
  readonly leader_clusters?: readonly string[] | '*';
  readonly follower_alias?: string;
}

interface AutofollowStatsItem {
  readonly name: string;
  readonly leader_alias: string;
  readonly follower_cluster: string;
  readonly num_success_start_replication: number;
  readonly num_failed_start_replication: number;
  readonly failed_indices: readonly string[];
  readonly failures?: readonly { readonly leader_cluster?: string; readonly leader_index: string; readonly code: string; readonly reason: string }[];
}

function autofollowText(rules: readonly AutofollowItem[], stats: readonly AutofollowStatsItem[]): string[] {
  if (rules.length === 0) return ['no auto-follow rules'];
  const statsOf = (r: AutofollowItem) => stats.find((s) => s.name === r.name && s.leader_alias === r.leader_alias && s.follower_cluster === r.follower_cluster);
  const lines = table(
    ['name', 'leader', 'follower cluster', 'pattern', 'exclude', 'follower index', 'started', 'failed'],
    rules.map((r) => {
      const s = statsOf(r);
      return [
        r.name,
        r.leader_clusters === undefined ? r.leader_alias : r.leader_clusters === '*' ? '* (every registered)' : r.leader_clusters.join(','),
        r.follower_cluster,
        r.pattern,
        r.exclude_patterns.join(',') || '-',
        `${r.follower_index_pattern}${r.follower_alias ? ` (alias ${r.follower_alias})` : ''}`,
        String(s?.num_success_start_replication ?? 0),
        s?.failed_indices.length ? s.failed_indices.join(',') : '-',
      ];
    }),
  );
  // Why an index was not started (a refused index feature, say) is what the operator has to act on.
  const reasons = rules.flatMap((r) =>
    (statsOf(r)?.failures ?? []).map(
      // A rule over several leader clusters names the cluster of each index; a rule of one says it once, in its row.
      (f) =>
        `${r.name}: ${r.leader_clusters !== undefined && f.leader_cluster ? `${f.leader_cluster}:` : ''}${f.leader_index} not started (${f.code}): ${f.reason}`,
    ),
  );
  return reasons.length ? [...lines, '', ...reasons] : lines;
}

export async function runCli(argv: readonly string[], env: NodeJS.ProcessEnv, io: CliIo): Promise<number> {
  // verify reads its own options and the cluster connections from the environment.
  if (argv[0] === 'verify') return runVerify(argv.slice(1), env, { log: io.out, error: io.err });
  const json = argv.includes('--json');
  try {
    const parsed = parse(argv);
    if (parsed === 'help') {
      io.out(argv[0] === 'users' ? USERS_USAGE : USAGE);
      return EXIT.ok;
    }
    if (parsed.command.startsWith('users ')) {
      return await runUsers(
        {
          sub: parsed.command.split(' ')[1],
          ...(parsed.values.name !== undefined ? { name: parsed.values.name } : {}),
          ...(parsed.values.role !== undefined ? { role: parsed.values.role } : {}),
          json,
        },
        io,
        io.out,
      );
    }
    const client = new ControlClient(clientOptions(parsed.values, env));
    return await run(parsed, client, io);
  } catch (e) {
    const err = e instanceof CliError ? e : new CliError(e instanceof Error ? e.message : String(e), EXIT.failed);
    if (json) io.out(JSON.stringify({ error: { ...(err.code ? { code: err.code } : {}), message: err.message }, exit_code: err.exitCode }));
    io.err(`kccr: ${err.message}`);
    return err.exitCode;
  }
}

export function processIo(): CliIo {
  return {
    out: (line) => process.stdout.write(`${line}\n`),
    err: (line) => process.stderr.write(`${line}\n`),
    stdin: process.stdin,
    stderr: process.stderr,
  };
}

if (isEntryPoint(import.meta.url)) process.exitCode = await runCli(process.argv.slice(2), process.env, processIo());

/** --merged with its template and field: the body's `mode` and `merge` (a start takes only `merge`). */
function mergeOption(values: Values): { mode?: 'merged'; merge?: { id_template?: string; origin_field?: string } } {
  if (!values.merged && (values['id-template'] !== undefined || values['origin-field'] !== undefined))
    throw usage('--id-template and --origin-field go with --merged');
  if (!values.merged) return {};
  return {
    mode: 'merged',
    merge: {
      ...(values['id-template'] !== undefined ? { id_template: values['id-template'] } : {}),
      ...(values['origin-field'] !== undefined ? { origin_field: values['origin-field'] } : {}),
    },
  };
}
