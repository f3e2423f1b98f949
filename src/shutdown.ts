/**
 * Graceful shutdown on a signal: close every client of this process (a leader hands over to a
 * successor with zero failed calls), then exit.
 */
import { closeAll } from './client/cluster-client.js';
import { InvalidArgumentError } from './errors.js';

/** Options of closeOnSignal(). */
export interface CloseOnSignalOptions {
  /** Signals that start the shutdown. @default ['SIGTERM', 'SIGINT'] */
  signals?: readonly NodeJS.Signals[];
  /** Exit the process once every client is closed (or `timeout` passed). @default true */
  exit?: boolean;
  /** Exit code. @default 0 */
  exitCode?: number;
  /** Longest wait for the clients to close before exiting anyway, in ms. @default 10000 */
  timeout?: number;
}

/** Default `timeout` of closeOnSignal(). */
export const DEFAULT_SHUTDOWN_TIMEOUT = 10_000;

function check(condition: boolean, what: string): void {
  if (!condition) throw new InvalidArgumentError(`closeOnSignal(options): ${what}`);
}

/**
 * On the first of `signals`: closes every cluster-share client of this process (followers
 * first, then leaders, which release the port, let the followers elect a successor and answer
 * every call they already received), then exits with `exitCode`. Replaces Node's default
 * "exit at once" for those signals. Returns a function that removes the handlers.
 */
export function closeOnSignal(options: CloseOnSignalOptions = {}): () => void {
  check(options !== null && typeof options === 'object', 'must be an object');
  const signals = options.signals ?? ['SIGTERM', 'SIGINT'];
  check(Array.isArray(signals) && signals.length > 0 && signals.every(s => typeof s === 'string' && /^SIG[A-Z0-9]+$/.test(s)), `signals must be a non-empty array of signal names like 'SIGTERM', got ${JSON.stringify(signals)}`);
  const exit = options.exit ?? true;
  check(typeof exit === 'boolean', `exit must be a boolean, got ${JSON.stringify(exit)}`);
  const exitCode = options.exitCode ?? 0;
  check(Number.isInteger(exitCode) && exitCode >= 0 && exitCode <= 255, `exitCode must be an integer from 0 to 255, got ${JSON.stringify(exitCode)}`);
  const timeout = options.timeout ?? DEFAULT_SHUTDOWN_TIMEOUT;
  check(Number.isInteger(timeout) && timeout > 0, `timeout must be a positive integer (ms), got ${JSON.stringify(timeout)}`);

  let started = false;
  const onSignal = (): void => {
    if (started) return;
    started = true;
    remove();
    let timer: NodeJS.Timeout | undefined;
    const bounded = new Promise<void>(resolve => {
      timer = setTimeout(resolve, timeout);
      timer.unref();
    });
    void Promise.race([closeAll(), bounded]).then(() => {
      clearTimeout(timer);
      if (exit) process.exit(exitCode);
    });
  };
  const remove = (): void => {
    for (const signal of signals) process.removeListener(signal, onSignal);
  };
  for (const signal of signals) process.on(signal, onSignal);
  return remove;
}
