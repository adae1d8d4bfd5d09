/**
 * Graceful stop on SIGTERM / SIGINT within a bounded time: `stop` finishes the batch in flight and commits;
 * if it has not returned by the deadline the process exits anyway (the next start resumes from committed state).
 */
export function installShutdown(service: string, stop: () => Promise<void>, deadlineMs: number): void {
  let stopping = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    process.stderr.write(`${service}: ${signal}, stopping (at most ${deadlineMs} ms)\n`);
    const timer = setTimeout(() => {
      process.stderr.write(`${service}: did not stop within ${deadlineMs} ms; exiting\n`);
      process.exit(1);
    }, deadlineMs);
    timer.unref();
    stop().then(
      () => process.exit(0),
      (e: unknown) => {
        process.stderr.write(`${service}: error while stopping: ${e instanceof Error ? e.message : String(e)}\n`);
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
}
