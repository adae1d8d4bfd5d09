/**
 * `kccr users ...`: entries for the control service's users file (KCCR_CONTROL_USERS_FILE), which holds hashes
 * only (salted scrypt for passwords, SHA-256 for random tokens). Works offline: no control service is needed.
 */
import { hashPassword, newToken, sha256Hex } from '../control/http/principals.js';
import { CliError, EXIT } from './client.js';
import type { SecretIo } from './secret-input.js';
import { readNewSecret } from './secret-input.js';

export const USERS_USAGE = `usage:
  kccr users hash-password [--name <user>] [--role admin|read] [--json]
      reads a password (asked twice on a terminal, or the whole of standard input) and prints its salted
      scrypt hash, or with --name a users-file entry: {"name", "role", "password_scrypt"}
  kccr users new-token [--name <user>] [--role admin|read] [--json]
      makes a random API token, prints it once, and its users-file entry {"name", "role", "token_sha256"}

The users file is a JSON array of such entries; the control service reads it at start (KCCR_CONTROL_USERS_FILE).`;

export interface UsersArgs {
  readonly sub: string | undefined;
  readonly name?: string;
  readonly role?: string;
  readonly json: boolean;
}

export async function runUsers(args: UsersArgs, io: SecretIo, log: (line: string) => void): Promise<number> {
  const role = args.role ?? 'admin';
  if (role !== 'admin' && role !== 'read') throw new CliError(`--role must be admin or read, received ${JSON.stringify(role)}`, EXIT.usage);
  if (args.name !== undefined && !/^[A-Za-z0-9][A-Za-z0-9._@-]{0,127}$/.test(args.name)) {
    throw new CliError(`--name ${JSON.stringify(args.name)}: expected letters, digits, . _ @ - (at most 128)`, EXIT.usage);
  }
  if (args.sub === 'hash-password') {
    let password: string;
    try {
      password = await readNewSecret(io, 'password');
    } catch (e) {
      throw new CliError(`no password read: ${(e as Error).message}`, EXIT.usage);
    }
    if (password.length < 8) throw new CliError('the password is shorter than 8 characters; choose a longer one', EXIT.usage);
    const hash = hashPassword(password);
    if (args.name === undefined && !args.json) log(hash);
    else log(JSON.stringify(args.name !== undefined ? { name: args.name, role, password_scrypt: hash } : { password_scrypt: hash }));
    return EXIT.ok;
  }
  if (args.sub === 'new-token') {
    const token = newToken();
    const entry = { ...(args.name !== undefined ? { name: args.name, role } : {}), token_sha256: sha256Hex(token) };
    if (args.json) log(JSON.stringify({ token, entry }));
    else {
      log(`token (shown once; give it with --token or KCCR_CONTROL_TOKEN): ${token}`);
      log(`users-file entry: ${JSON.stringify(entry)}`);
    }
    return EXIT.ok;
  }
  throw new CliError(`unknown users command ${JSON.stringify(args.sub ?? '')}\n${USERS_USAGE}`, EXIT.usage);
}
