/**
 * Spawns real member processes (test/fixtures/member.ts) and talks to them over IPC.
 * Everything is awaited on messages or process events; nothing sleeps.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { once } from 'node:events';
import net from 'node:net';
import { after } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { ClientStats, ClusterOptions } from '../../src/index.js';
import type { FixtureOptions } from '../fixtures/data-client.js';
import { fromIpc, toIpc } from '../fixtures/ipc-values.js';
import type {
  CallOutcome, CallWithOptions, Command, Impl, LoopServed, LoopStats, MemberConfig, MemberState, Resources, RoleEventType, TraceOptions, TraceRecord, ValueSummary,
  WireError,
} from '../fixtures/member.js';

export type {
  CallOutcome, CallWithOptions, Impl, MemberConfig, MemberState, Resources, RoleEventType, TraceOptions, TraceRecord, ValueSummary,
} from '../fixtures/member.js';

/** How a member process is started besides its config: its environment, and whether its stderr is captured. */
export interface MemberIo {
  /** The member's environment (default: this process's). */
  env?: NodeJS.ProcessEnv;
  /** Capture stderr into `member.stderr` instead of passing it through. */
  captureStderr?: boolean;
  /** Run the member as this user id (the test must be root to set it). Default: this process's. */
  uid?: number;
  /** Run the member with this group id (and no supplementary groups). Default: this process's. */
  gid?: number;
}

/** An event a member with `reportEvents` reported: its type, payload, and when it came (Date.now() in the member). */
export interface ClientEvent {
  type: string;
  data: Record<string, unknown>;
  at: number;
}

/** A role event a member with `reportRoleEvents` reported, with its payload as the member got it. */
export interface RoleEvent {
  type: RoleEventType;
  data: Record<string, unknown>;
}

const MEMBER = fileURLToPath(new URL('../fixtures/member.js', import.meta.url));

/** A free loopback port (listen on 0, read it, release it). */
export async function freePort(): Promise<number> {
  const server = net.createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as net.AddressInfo;
  server.close();
  await once(server, 'close');
  return port;
}

/** A command without its id (the id is added when it is sent). */
export type CommandBody = Command extends infer C ? (C extends Command ? Omit<C, 'id'> : never) : never;

/** A message from a child process: an event, or the reply to a command. */
export type IpcMessage = { event?: string; reply?: number; ok?: boolean; value?: unknown; error?: WireError; rawCode?: unknown; [k: string]: unknown };

/** A failed remote call, carrying the remote error's name, message and code. */
export class RemoteError extends Error {
  readonly code: string | undefined;
  readonly remoteName: string;
  readonly remoteStack: string | undefined;
  /** The remote error's `code` with its type kept (`code` is always a string or undefined). */
  readonly rawCode: unknown;
  constructor(error: WireError, rawCode?: unknown) {
    super(error.message ?? '');
    this.remoteName = error.name ?? 'Error';
    this.code = error.code === undefined ? undefined : String(error.code);
    this.remoteStack = error.stack;
    this.rawCode = rawCode;
  }
}

let nextCommandId = 1;

/**
 * A forked child process that talks over IPC: every message it sent is kept in order and can be
 * awaited, and a command `{ ...body, id }` is answered `{ reply: id, ok, value | error }`. Member
 * (test/fixtures/member.ts) is one, and so is test/compat.test.ts's Proc (test/fixtures/compat-member.ts).
 */
export class IpcChild {
  readonly child: ChildProcess;
  readonly messages: IpcMessage[] = [];
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  #waiters: Array<{ match: (m: IpcMessage) => boolean; resolve: (m: IpcMessage) => void }> = [];

  constructor(child: ChildProcess) {
    this.child = child;
    this.exited = once(this.child, 'exit').then(([code, signal]) => ({ code: code as number | null, signal: signal as NodeJS.Signals | null }));
    this.child.on('message', (message: IpcMessage) => {
      this.messages.push(message);
      this.#waiters = this.#waiters.filter(w => {
        if (!w.match(message)) return true;
        w.resolve(message);
        return false;
      });
    });
  }

  get pid(): number {
    return this.child.pid!;
  }

  /** The first message from index `from` on (already received or future) matching `match`. Rejects if the process exits first. */
  waitFor(match: (m: IpcMessage) => boolean, from = 0): Promise<IpcMessage> {
    const found = this.messages.slice(from).find(match);
    if (found) return Promise.resolve(found);
    return new Promise((resolve, reject) => {
      this.#waiters.push({ match, resolve });
      this.exited.then(({ code, signal }) => reject(new Error(`member ${this.pid} exited (code ${code}, signal ${signal}) before the awaited message`)));
    });
  }

  /**
   * Sends `body` with a new command id and resolves with the reply message; rejects with a
   * RemoteError (its `rawCode` from the reply's tagged `rawCode`, if any) when the reply is not ok.
   */
  async request(body: object): Promise<IpcMessage> {
    const id = nextCommandId++;
    this.child.send({ ...body, id });
    const m = await this.waitFor(x => x.reply === id);
    if (!m.ok) throw new RemoteError(m.error!, fromIpc(m.rawCode));
    return m;
  }

  /** Sends `close` (the process closes its clients, answers and exits on its own) and waits for the exit. */
  async close(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    await this.request({ cmd: 'close' });
    await this.exited;
  }
}

export class Member extends IpcChild {
  /** Whose client the member runs: cluster-share or cluster-client 3.x. */
  readonly impl: Impl;
  /** What the member wrote to stderr so far (with `captureStderr`). */
  stderr = '';
  /** Resolves once the process exited and its stdio streams are closed (all of stderr is in). */
  readonly closed: Promise<void>;

  /** `execArgv`: node flags for the member process (default: this process's). */
  constructor(config: MemberConfig, execArgv?: string[], io: MemberIo = {}) {
    super(fork(MEMBER, [JSON.stringify(config)], {
      stdio: ['ignore', 'inherit', io.captureStderr ? 'pipe' : 'inherit', 'ipc'],
      ...(execArgv ? { execArgv } : {}),
      ...(io.env ? { env: io.env } : {}),
      ...(io.uid !== undefined ? { uid: io.uid } : {}),
      ...(io.gid !== undefined ? { gid: io.gid } : {}),
    }));
    this.impl = config.impl ?? 'cluster-share';
    this.child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
      this.stderr += chunk;
    });
    this.closed = once(this.child, 'close').then(() => undefined);
  }

  /** Resolves with `isLeader` once the client is ready; rejects with the ready error. */
  async ready(): Promise<boolean> {
    const m = await this.waitFor(x => x.event === 'ready' || x.event === 'ready-error');
    if (m.event === 'ready-error') throw new RemoteError(m.error!);
    return m.isLeader as boolean;
  }

  /**
   * Sends a command; resolves with its value or rejects with a RemoteError. Invoke arguments,
   * a publish reg and the value travel in the tagged form of fixtures/ipc-values.ts (Buffer,
   * Date, undefined and Error survive IPC).
   */
  async command(cmd: CommandBody): Promise<unknown> {
    const body = 'args' in cmd ? { ...cmd, args: cmd.args.map(toIpc) } : 'reg' in cmd ? { ...cmd, reg: toIpc(cmd.reg) } : cmd;
    return fromIpc((await this.request(body)).value);
  }

  invoke(method: string, ...args: unknown[]): Promise<unknown> {
    return this.command({ cmd: 'invoke', method, args });
  }

  invokeCallback(method: string, ...args: unknown[]): Promise<unknown> {
    return this.command({ cmd: 'invoke', method, args, style: 'callback' });
  }

  /** Invokes any method name through the client's internal invoke (no delegate needed). */
  rawInvoke(method: string, ...args: unknown[]): Promise<unknown> {
    return this.command({ cmd: 'rawInvoke', method, args });
  }

  /** The member's role as it reports it. */
  state(): Promise<MemberState> {
    return this.command({ cmd: 'state' }) as Promise<MemberState>;
  }

  /** Values received for `key`, in order. */
  values(key: string): unknown[] {
    return this.messages.filter(m => m.event === 'value' && m.key === key).map(m => fromIpc(m.value));
  }

  /**
   * The member's active handles by type and its memory (public Node APIs, see the `resources`
   * command). `gc`: collect garbage first (the member must run with --expose-gc).
   */
  resources(gc = false): Promise<Resources> {
    return this.command({ cmd: 'resources', gc }) as Promise<Resources>;
  }

  /** Value summaries received for `key` after a `subscribeSummary`, in order. */
  summaries(key: string): ValueSummary[] {
    return this.messages
      .filter(m => m.event === 'valueSummary' && m.key === key)
      .map(m => ({ key, seq: m.seq, size: m.size as number }));
  }

  /** Lines the member's library logged (warnings and errors; info too with `logInfo`), in order. */
  logs(level?: 'info' | 'warn' | 'error'): string[] {
    return this.messages.filter(m => m.event === 'log' && (level === undefined || m.level === level)).map(m => String(m.message));
  }

  /** Errors the member's client emitted as 'error' events, in order. */
  clientErrors(): WireError[] {
    return this.messages.filter(m => m.event === 'client-error').map(m => m.error!);
  }

  /** Waits until `count` values for `key` have arrived; returns them. */
  async waitValues(key: string, count: number): Promise<unknown[]> {
    let seen = 0;
    await this.waitFor(m => m.event === 'value' && m.key === key && ++seen >= count);
    return this.values(key);
  }

  /** `cluster.stats(client)` in the member. */
  clusterStats(): Promise<ClientStats> {
    return this.command({ cmd: 'clusterStats' }) as Promise<ClientStats>;
  }

  /** The role events reported so far (member started with `reportRoleEvents`), in order. */
  roleEvents(): RoleEvent[] {
    return this.messages.filter(m => m.event === 'role').map(m => ({ type: m.type as RoleEventType, data: fromIpc(m.data) as Record<string, unknown> }));
  }

  /** The client events reported so far (member started with `reportEvents`), of `type` if given, in order. */
  clientEvents(type?: string): ClientEvent[] {
    return this.messages
      .filter(m => m.event === 'clientEvent' && (type === undefined || m.type === type))
      .map(m => ({ type: String(m.type), data: fromIpc(m.data) as Record<string, unknown>, at: m.at as number }));
  }

  /** The first client event of `type` (reported from message index `from` on) whose payload matches `match`. */
  async waitClientEvent(type: string, match: (data: Record<string, unknown>) => boolean = () => true, from = 0): Promise<ClientEvent> {
    const m = await this.waitFor(x => x.event === 'clientEvent' && x.type === type && match(fromIpc(x.data) as Record<string, unknown>), from);
    return { type, data: fromIpc(m.data) as Record<string, unknown>, at: m.at as number };
  }

  /** Waits until the member reported at least `count` role events; returns them all. */
  async waitRoleEvents(count: number): Promise<RoleEvent[]> {
    let seen = 0;
    await this.waitFor(m => m.event === 'role' && ++seen >= count);
    return this.roleEvents();
  }

  /** `client.withCallOptions(options)[method](...args)` in the member (see the `callWith` command). */
  callWith(callId: string, method: string, args: unknown[], options: CallWithOptions, style: 'promise' | 'callback' = 'promise'): Promise<CallOutcome> {
    return this.command({ cmd: 'callWith', callId, method, args, options, style }) as Promise<CallOutcome>;
  }

  /** Aborts the controller of `callWith` call `callId`. */
  abort(callId: string, reason: string): Promise<unknown> {
    return this.command({ cmd: 'abort', callId, reason });
  }

  /** How many times `callWith` call `callId` settled so far. */
  settledCount(callId: string): number {
    return this.messages.filter(m => m.event === 'settled' && m.callId === callId).length;
  }

  /** Resolves once stderr (with `captureStderr`) matches `pattern`; rejects if the process closes first. */
  waitStderr(pattern: RegExp): Promise<string> {
    return new Promise((resolve, reject) => {
      const check = (): boolean => {
        if (!pattern.test(this.stderr)) return false;
        this.child.stderr?.off('data', onData);
        resolve(this.stderr);
        return true;
      };
      const onData = (): void => {
        check();
      };
      if (check()) return;
      this.child.stderr?.on('data', onData);
      this.closed.then(() => {
        if (!check()) reject(new Error(`member ${this.pid} closed before its stderr matched ${pattern}; stderr:\n${this.stderr}`));
      });
    });
  }

  kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<unknown> {
    this.child.kill(signal);
    return this.exited;
  }
}

/** Spawns a member; `impl` (default cluster-share) says whose client it runs. */
export function spawnMember(options: ClusterOptions, fixture?: FixtureOptions, impl: Impl = 'cluster-share'): Member {
  return new Member({ options, fixture, impl });
}

/** Spawns `n` members with the same options and waits until all are ready. */
export async function spawnGroup(n: number, options: ClusterOptions, fixture?: FixtureOptions, impl: Impl = 'cluster-share'): Promise<Member[]> {
  const members = Array.from({ length: n }, () => spawnMember(options, fixture, impl));
  await Promise.all(members.map(m => m.ready()));
  return members;
}

/** Kills every member still running (for `after` hooks). */
export async function killAll(members: Iterable<Member>): Promise<void> {
  await Promise.all([...members].map(m => (m.child.exitCode === null && m.child.signalCode === null ? m.kill() : undefined)));
}

/**
 * The members a test file runs: `spawn` is spawnMember that also adds the member to `live`, and
 * every member of `live` still running is killed after the file's tests (an `after` hook, so call
 * this at the top level of the file). A test that closes a member itself deletes it from `live`.
 */
export function trackMembers(): { live: Set<Member>; spawn: typeof spawnMember } {
  const live = new Set<Member>();
  after(() => killAll(live));
  const spawn: typeof spawnMember = (...args) => {
    const m = spawnMember(...args);
    live.add(m);
    return m;
  };
  return { live, spawn };
}

// The fixture's call loop (test/fixtures/member.ts): `echo` called one at a time, for as long as it runs.
export const startLoop = (m: Member): Promise<unknown> => m.command({ cmd: 'loop', action: 'start' });
export const stopLoop = (m: Member): Promise<LoopStats> => m.command({ cmd: 'loop', action: 'stop' }) as Promise<LoopStats>;
export const loopStats = (m: Member): Promise<LoopStats> => m.command({ cmd: 'loopStats' }) as Promise<LoopStats>;
/** Resolves once a loop call started after now (after the command arrives) has succeeded. */
export const served = (m: Member): Promise<LoopServed> => m.command({ cmd: 'loopServed' }) as Promise<LoopServed>;
/** The loop's failed calls, all error codes together. */
export const failureCount = (s: LoopStats): number => Object.values(s.failures).reduce((a, b) => a + b, 0);

// The fixture's traced call loop (test/fixtures/member.ts): unique ids, paced, every call recorded.
export const startTrace = (m: Member, options: TraceOptions): Promise<unknown> => m.command({ cmd: 'trace', action: 'start', options });
/** Stops the trace and waits until every traced call has settled; resolves with the number of records. */
export const stopTrace = (m: Member): Promise<number> => m.command({ cmd: 'trace', action: 'stop' }) as Promise<number>;
export const traceRecords = (m: Member, from = 0): Promise<TraceRecord[]> => m.command({ cmd: 'traceRecords', from }) as Promise<TraceRecord[]>;
/** Resolves with the first traced call that started at or after `since` (Date.now() ms) and succeeded. */
export const traceServed = (m: Member, since: number): Promise<TraceRecord> => m.command({ cmd: 'traceServed', since }) as Promise<TraceRecord>;

/** Which member leads (asks each one). */
export async function leaderOf(members: Member[]): Promise<Member[]> {
  const states = await Promise.all(members.map(m => m.state()));
  return members.filter((_, i) => states[i]!.isLeader);
}
