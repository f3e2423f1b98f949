/**
 * What the client wrapper needs from a role (leader, follower or local): the wrapper keeps
 * the listeners, publications and call queue; a role only moves calls and values.
 */
import type { FollowerStats } from '../stats.js';
import type { Traffic } from '../stats.js';
import type { InvokeCallback } from '../delegates.js';

/** The wrapper side of a role: where values go and where a lost leader is reported. */
export interface RoleSink {
  /** A decoded subscription value for `key`. */
  deliver(key: string, value: unknown): void;
  /** The role stopped working on its own (a follower lost its leader). */
  lost(role: Role, err: Error | undefined): void;
  /**
   * The leader is closing gracefully (it already released the port): stop sending new calls to
   * this role and elect a successor. The role itself stays open until the calls it already
   * sent are answered, then closes by itself.
   */
  leaderClosing(role: Role): void;
  /**
   * The follower's leader answered nothing for `leaderTimeout`: the role gave it up (calls in
   * flight failed); elect an interim leader on the takeover rendezvous.
   */
  leaderUnresponsive(role: Role, err: Error): void;
  /** This leader was taken over by an interim leader (pid `byPid`): step down and follow it. */
  takenOver(role: Role, byPid: number | undefined): void;
}

export type RoleKind = 'leader' | 'follower' | 'local';

export interface Role {
  readonly kind: RoleKind;
  readonly isLeader: boolean;
  /** Pid of the process that holds the DataClient. */
  readonly leaderPid: number | undefined;
  /**
   * Calls `method`; `callback` gets the answer, or an error after `timeout` ms (default
   * responseTimeout). Returns an id for `forget()` (0 if the call failed before it was sent).
   * `carrier` is a tracing subscriber's context (src/tracing.ts), sent along to a leader.
   */
  invoke(method: string, args: unknown[], callback: InvokeCallback, timeout?: number, carrier?: Record<string, string>): number;
  /** Stops waiting for call `id`: its callback is not called and a late answer is dropped. */
  forget(id: number): void;
  invokeOneway(method: string, args: unknown[], carrier?: Record<string, string>): void;
  subscribe(key: string, reg: unknown): void;
  unSubscribe(key: string, reg: unknown): void;
  publish(reg: unknown): void;
  /** Calls of this process sent through this role and not answered yet. */
  readonly inFlightCalls: number;
  /** What this role exchanged with other processes so far. */
  readonly traffic: Traffic;
  /** The followers served (a leader's; empty for the others). */
  followers(): FollowerStats[];
  /** Graceful: answers the calls already received, then releases everything. */
  close(): Promise<void>;
}
