/**
 * Reading a password for `kccr users hash-password`: from a terminal without echo (asked twice), or as the whole
 * of standard input when it is a pipe (one trailing newline dropped).
 */
import type { Readable, Writable } from 'node:stream';

export interface SecretIo {
  readonly stdin: Readable & { isTTY?: boolean; setRawMode?: (raw: boolean) => unknown };
  readonly stderr: Writable;
}

export async function readAll(stream: Readable): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(Buffer.isBuffer(c) ? c : Buffer.from(String(c)));
  return Buffer.concat(chunks)
    .toString('utf8')
    .replace(/\r?\n$/, '');
}

function promptHidden(io: SecretIo, prompt: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const { stdin } = io;
    io.stderr.write(prompt);
    let value = '';
    stdin.setRawMode?.(true);
    stdin.resume();
    const done = (err?: Error) => {
      stdin.setRawMode?.(false);
      stdin.pause();
      stdin.off('data', onData);
      io.stderr.write('\n');
      if (err) reject(err);
      else resolve(value);
    };
    const onData = (chunk: Buffer) => {
      for (const ch of chunk.toString('utf8')) {
        if (ch === '\r' || ch === '\n') return done();
        if (ch === '\u0003') return done(new Error('interrupted'));
        if (ch === '\u007f' || ch === '\b') value = value.slice(0, -1);
        else value += ch;
      }
    };
    stdin.on('data', onData);
  });
}

export async function readNewSecret(io: SecretIo, what: string): Promise<string> {
  if (!io.stdin.isTTY) return readAll(io.stdin);
  const first = await promptHidden(io, `${what}: `);
  const second = await promptHidden(io, `${what} again: `);
  if (first !== second) throw new Error(`the two ${what}s differ`);
  return first;
}
