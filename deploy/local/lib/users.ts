/**
 * The unprivileged system users the stack's parts run as when the launcher is root: Elasticsearch refuses to run as
 * root, and Kafka and the registry should not either (a part that is broken into gets that user, not the machine).
 */
import { run } from './procs.js';
import type { Owner } from './files.js';

/** The user's ids, made as a system user without a home or a shell when missing; undefined when not root. */
export function ensureSystemUser(name: string, why: string): Owner | undefined {
  if (process.getuid?.() !== 0) return undefined; // not root: every part runs as the current user
  const id = (): Owner | undefined => {
    try {
      const uid = Number(run('id', ['-u', name], { what: 'id' }).stdout.trim());
      const gid = Number(run('id', ['-g', name], { what: 'id' }).stdout.trim());
      return { uid, gid };
    } catch {
      return undefined;
    }
  };
  const found = id();
  if (found) return found;
  run('useradd', ['--system', '--user-group', '--no-create-home', '--shell', '/usr/sbin/nologin', name], { what: `creating the user ${name} (${why})` });
  const made = id();
  if (!made) throw new Error(`user ${name} was created but cannot be looked up`);
  return made;
}

/** The command that runs `command` as `owner` (setpriv, which execs: the pid is the part's own), or as it is. */
export function asUser(owner: Owner | undefined, command: string, args: readonly string[]): { command: string; args: string[] } {
  return owner
    ? { command: 'setpriv', args: [`--reuid=${owner.uid}`, `--regid=${owner.gid}`, '--init-groups', command, ...args] }
    : { command, args: [...args] };
}
