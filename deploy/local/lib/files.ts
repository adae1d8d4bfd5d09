/**
 * Files and folders the stack launcher (often root) makes where an unprivileged user runs a part of the stack. That
 * user could plant a symbolic link where root will write next (`config/elasticsearch.yml -> /etc/shadow`), so root
 * never writes through a name that user controls: folders root needs to trust are root's (that user may only read
 * them), a folder found otherwise is made again, and files are created afresh and renamed into place (a rename
 * replaces a link, it never follows it). Ownership is changed without following links, one entry at a time.
 */
import { randomBytes } from 'node:crypto';
import { chmodSync, lchownSync, lstatSync, mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

export interface Owner {
  readonly uid: number;
  readonly gid: number;
}

function lstat(path: string): ReturnType<typeof lstatSync> | undefined {
  try {
    return lstatSync(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
}

/**
 * A folder owned by `owner` with `mode`, made when missing. A link or a file at its name is removed (`rm` removes a
 * link itself, never what it points to). A real folder of another owner is taken over in place (`adopt`: its
 * contents are the caller's to check), or removed with its contents and made again (`remake`: nothing in it can be
 * trusted, such as a configuration folder someone else could write). Without an owner (the launcher is not root),
 * only made when missing.
 */
export function ownedDir(path: string, mode: number, owner: Owner | undefined, otherOwner: 'adopt' | 'remake'): void {
  const found = lstat(path);
  if (found && !owner) return;
  if (found?.isDirectory() && !found.isSymbolicLink()) {
    const same = found.uid === owner!.uid && found.gid === owner!.gid;
    if (same || otherOwner === 'adopt') {
      if (!same) lchownSync(path, owner!.uid, owner!.gid);
      chmodSync(path, mode);
      return;
    }
  }
  if (found) rmSync(path, { recursive: true, force: true });
  mkdirSync(path, { mode });
  if (owner) {
    lchownSync(path, owner.uid, owner.gid);
    chmodSync(path, mode);
  }
}

/**
 * Writes a file without following a link at its name: a new file with a random name is created exclusively beside
 * it (`wx` fails on anything already there, a link included), given its owner and mode, then renamed over the name.
 */
export function writeFileNoFollow(path: string, data: string | Buffer, mode: number, owner?: Owner): void {
  const tmp = join(dirname(path), `.kccr-${randomBytes(6).toString('hex')}.tmp`);
  writeFileSync(tmp, data, { flag: 'wx', mode });
  try {
    if (owner) lchownSync(tmp, owner.uid, owner.gid);
    chmodSync(tmp, mode);
    renameSync(tmp, path);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw e;
  }
}
