/**
 * What a client and a leader report about themselves: `client.stats()`, the client's role
 * events, and the answer a leader gives an observer (`cluster-share status`). Plain data only,
 * so every shape here is also what `cluster-share status --json` prints.
 */

/**
 * Why an election started: the client started, its leader died, its leader handed over, its
 * leader stopped answering (takeover), or this leader was taken over and stepped down.
 */
export type ElectionReason = 'start' | 'leaderLost' | 'leaderClosing' | 'leaderUnresponsive' | 'takenOver';

/** Payload of the `electionStart` event. */
export interface ElectionStartEvent {
  /** The client's name (its channel). */
  name: string;
  /** Why it started. */
  reason: ElectionReason;
  /** When the election started (Date.now() ms). */
  startedAt: number;
}

/** Payload of the `electionEnd`, `becomeLeader` and `becomeFollower` events. */
export interface ElectionEndEvent extends ElectionStartEvent {
  /** What this process became. */
  role: 'leader' | 'follower';
  /** Pid of the process that now holds the DataClient (undefined behind a cluster-client 3.x leader, which does not say). */
  leaderPid: number | undefined;
  /** How long the election took, in ms (for a leader: until its DataClient was ready). */
  durationMs: number;
}

/** Payload of the `leaderUnresponsive` event: this follower gave up on a leader that answers nothing. */
export interface LeaderUnresponsiveEvent {
  /** The client's name (its channel). */
  name: string;
  /** The silent leader's pid. */
  leaderPid: number | undefined;
  /** How long it had answered nothing, in ms (at least `leaderTimeout`). */
  silentMs: number;
}

/**
 * Payload of the `takeover` event, emitted by the client that leads while the port's holder hangs:
 * `interim` when it starts leading on the rendezvous, `port` when it moved to the port (the hung
 * leader woke and stepped down, or died), `ended` when it gave the role up because the port's
 * holder answered and kept leading (a cluster-client 3.x leader): it follows that one.
 */
export interface TakeoverEvent {
  /** The client's name (its channel). */
  name: string;
  /** What happened. */
  phase: 'interim' | 'port' | 'ended';
  /** The rendezvous socket the interim leader serves on. */
  rendezvous: string;
  /** How long this process had been the interim leader, in ms (0 for `interim`). */
  interimMs: number;
}

/** Payload of the `takenOver` event: this leader was unresponsive, an interim leader took over, and it steps down. */
export interface TakenOverEvent {
  /** The client's name (its channel). */
  name: string;
  /** The interim leader's pid. */
  byPid: number | undefined;
}

/** The events a client emits besides the DataClient's own, with their arguments. */
export interface ClusterClientEvents {
  /** An election started; calls made meanwhile queue for the next leader. */
  electionStart: [event: ElectionStartEvent];
  /** An election ended: this process leads or follows. */
  electionEnd: [event: ElectionEndEvent];
  /** This process became the leader (after `electionEnd`). */
  becomeLeader: [event: ElectionEndEvent];
  /** This process became a follower (after `electionEnd`). */
  becomeFollower: [event: ElectionEndEvent];
  /** This follower's leader answered nothing for `leaderTimeout`: it leaves it for an interim leader. */
  leaderUnresponsive: [event: LeaderUnresponsiveEvent];
  /** This client leads while the port's holder hangs, moved to the port, or gave the interim role up. */
  takeover: [event: TakeoverEvent];
  /** This leader hung long enough for its followers to take over: it steps down and follows. */
  takenOver: [event: TakenOverEvent];
  /** An error not tied to one call: a failed re-election round, a subscribe timeout, a throwing listener. */
  error: [err: Error];
  /** The client is closed. */
  close: [];
}

/** A follower as its leader sees it. */
export interface FollowerStats {
  /** The leader's id of the connection (unique within the leader's process). */
  connection: number;
  /** The follower's pid, if it said (cluster-share followers do; cluster-client 3.x followers do not). */
  pid: number | undefined;
  /** The channel (client name) it registered. */
  channel: string;
  /** Its calls the leader is running now. */
  inFlightCalls: number;
  /** Subscription keys it holds. */
  subscriptions: number;
  /** The codec negotiated with it (`serialize-json` for cluster-client 3.x followers). */
  codec: string;
  /** When it registered (Date.now() ms). */
  connectedAt: number;
  /** What crossed its connection. */
  traffic: Traffic;
}

/** The last election a client took part in. */
export interface ElectionStats {
  /** Why it started. */
  reason: ElectionReason;
  /** When it started (Date.now() ms). */
  startedAt: number;
  /** How long it took in ms; undefined while it is still running. */
  durationMs: number | undefined;
  /** What this process became; undefined while it is still running. */
  role: 'leader' | 'follower' | undefined;
}

/** `client.stats()`: a snapshot of one client. */
export interface ClientStats {
  /** The client's name (its channel). */
  name: string;
  /** Where it is in its life. */
  state: 'electing' | 'leading' | 'following' | 'local' | 'closed';
  /** Its role now: undefined while electing and once closed. */
  role: 'leader' | 'follower' | 'local' | undefined;
  /** This process. */
  pid: number;
  /** The process that holds the DataClient (undefined while electing, or behind a cluster-client 3.x leader). */
  leaderPid: number | undefined;
  /** Where the processes meet: `port 7777` or `socket /path/to.sock`. */
  endpoint: string;
  /** Calls waiting for a leader (made while electing). */
  queuedCalls: number;
  /** This client's calls sent and not answered yet. */
  inFlightCalls: number;
  /** Subscription keys this client holds. */
  subscriptions: number;
  /** Publications this client keeps (published again to every new leader). */
  publications: number;
  /** The followers of this leader (empty unless it leads). */
  followers: FollowerStats[];
  /** Bytes and packets this client exchanged with other processes over its whole life. */
  traffic: Traffic;
  /** Elections completed by this client. */
  elections: number;
  /** The last election (or the current one), undefined in single mode. */
  lastElection: ElectionStats | undefined;
  /** True while this client is the interim leader: it leads on the takeover rendezvous because the port's holder hangs. */
  interim: boolean;
  /** Times this client left a leader that answered nothing for `leaderTimeout` (README "A hung leader"). */
  takeovers: number;
  /** Times this client, as leader, was taken over and stepped down. */
  takenOver: number;
}

/** One channel of a leader, as an observer sees it. */
export interface ChannelStatus {
  /** The channel (client name). */
  name: string;
  /** Calls of the leader's own process running now. */
  leaderInFlightCalls: number;
  /** Calls of all the followers running now. */
  followerInFlightCalls: number;
  /** Subscription keys the DataClient holds upstream. */
  subscriptions: number;
  /** The followers registered on this channel. */
  followers: FollowerStats[];
}

/** A leader's answer to an observer (`cluster-share status`). */
export interface LeaderStatus {
  /** The leading process. */
  leader: {
    /** Its pid. */
    pid: number;
    /** When this process won the endpoint (Date.now() ms). */
    since: number;
    /** How long it has led, in ms. */
    uptimeMs: number;
    /** The leader's Node.js version. */
    node: string;
    /** Where it listens: `port 7777` or `socket /path/to.sock`. */
    endpoint: string;
    /**
     * Set when this is an interim leader, serving on the takeover rendezvous because the holder
     * of this endpoint (`port 7777`) hangs.
     */
    interimFor?: string;
  };
  /** Each client name this process leads on the endpoint. */
  channels: ChannelStatus[];
  /** Connections that have not registered a channel yet (held, proving the secret, or just opened). */
  pendingConnections: number;
}

/** Bytes and packets that crossed a connection (or a role's connections), each way. */
export interface Traffic {
  /** Bytes received. */
  bytesIn: number;
  /** Bytes sent. */
  bytesOut: number;
  /** Packets received. */
  packetsIn: number;
  /** Packets sent. */
  packetsOut: number;
}

/** A new all-zero Traffic. */
export function noTraffic(): Traffic {
  return { bytesIn: 0, bytesOut: 0, packetsIn: 0, packetsOut: 0 };
}

/** Adds `from` into `into` (returns `into`). */
export function addTraffic(into: Traffic, from: Readonly<Traffic>): Traffic {
  into.bytesIn += from.bytesIn;
  into.bytesOut += from.bytesOut;
  into.packetsIn += from.packetsIn;
  into.packetsOut += from.packetsOut;
  return into;
}
