/**
 * SIGSTOP and SIGCONT with times a test can compare call stamps against.
 *
 * `process.kill` returns once the signal is queued; a process running on the other core may
 * still answer a call in that moment. `sigstop` therefore waits until the kernel reports the
 * process stopped, and both functions return whole-millisecond times (`Date.now()`, as the
 * members stamp their calls) chosen so that a comparison with them is never off by the
 * millisecond in which the signal landed.
 */
import fs from 'node:fs';

/** True while `/proc/<pid>/stat` shows the process stopped (`T`) or traced (`t`). */
export function isStopped(pid: number): boolean {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
  return state === 'T' || state === 't';
}

/**
 * Sends SIGSTOP to `pid` and resolves once the kernel shows it stopped (polled on the event
 * loop: a wait for a state, not a sleep). Resolves to the first whole millisecond after that:
 * a call stamped at or after it was started while the process was already stopped.
 */
export async function sigstop(pid: number, timeoutMs = 10_000): Promise<number> {
  process.kill(pid, 'SIGSTOP');
  const deadline = Date.now() + timeoutMs;
  while (!isStopped(pid)) {
    if (Date.now() > deadline) throw new Error(`process ${pid} was sent SIGSTOP and did not stop within ${timeoutMs}ms`);
    await new Promise(resolve => setImmediate(resolve));
  }
  return Date.now() + 1;
}

/**
 * Sends SIGCONT to `pid`. Returns `Date.now()` from just before the signal: a call that ended
 * before it ended while the process was still stopped.
 */
export function sigcont(pid: number): number {
  const at = Date.now();
  process.kill(pid, 'SIGCONT');
  return at;
}
