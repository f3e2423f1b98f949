/**
 * Every error class: stable name and code, message prefix, cause; and the wire form of errors.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as errors from '../src/errors.js';
import {
  AuthError, ChannelNotFoundError, ClientClosedError, ClusterShareError, ConnectTimeoutError, DecodeError, HeartbeatTimeoutError, PortConflictError,
  InvalidArgumentError, InvalidDelegateError, InvalidOptionError, LeaderLostError, LeaderStartError,
  MethodNotFoundError, PortInUseError, ProtocolError, ResponseTimeoutError, reviveError, serializeError,
  SubscribeTimeoutError, WriteBufferFullError,
  CallAbortedError, ChannelMismatchError, FollowerCallError, FrameTooLargeError, LeaderUnresponsiveError, UserRefusedError,
} from '../src/errors.js';

type ErrorClass = abstract new (...args: never[]) => ClusterShareError;

interface Row {
  Cls: ErrorClass;
  code: string;
  /** Builds an instance; `cause` is passed where the constructor accepts one. */
  make(cause: unknown): ClusterShareError;
  /** How the constructor takes a cause: an options bag, a SerializedError (LeaderStartError), or not at all. */
  cause: 'options' | 'serialized' | 'none';
  /** Class-specific fields and message content. */
  check(err: ClusterShareError): void;
  /** The expected `name`, when it is not the class name. */
  name?: string;
  /** The expected start of the message, when it is not "[cluster-share]" (3.x's wording kept). */
  prefix?: string;
}

function row<E extends ClusterShareError>(
  Cls: abstract new (...args: never[]) => E,
  code: string,
  cause: Row['cause'],
  make: (cause: unknown) => E,
  check: (err: E) => void,
): Row {
  return { Cls, code, cause, make, check: err => check(err as E) };
}

const TABLE: Row[] = [
  row(InvalidOptionError, 'ERR_CLUSTER_INVALID_OPTION', 'none', () => new InvalidOptionError('port', 'must be an integer'), e => {
    assert.equal(e.option, 'port');
    assert.match(e.message, /port/);
    assert.match(e.message, /must be an integer/);
  }),
  row(InvalidArgumentError, 'ERR_CLUSTER_INVALID_ARGUMENT', 'none', () => new InvalidArgumentError('listener must be a function'), e => {
    assert.match(e.message, /listener must be a function/);
  }),
  row(InvalidDelegateError, 'ERR_CLUSTER_INVALID_DELEGATE', 'none', () => new InvalidDelegateError('no method "x"'), e => {
    assert.match(e.message, /no method "x"/);
  }),
  row(ResponseTimeoutError, 'ERR_CLUSTER_RESPONSE_TIMEOUT', 'none', () => new ResponseTimeoutError('getData', 3000, 'no leader'), e => {
    assert.equal(e.method, 'getData');
    assert.equal(e.timeout, 3000);
    assert.match(e.message, /getData/);
    assert.match(e.message, /3000ms/);
    // The leader's address given: the message starts as 3.x's, which users' tests match.
    const unanswered = new ResponseTimeoutError('getData', 3000, 'the leader did not answer', '127.0.0.1:7777');
    assert.ok(unanswered.message.startsWith('Server no response in 3000ms, address#127.0.0.1:7777 [cluster-share] getData'), unanswered.message);
  }),
  row(LeaderLostError, 'ERR_CLUSTER_LEADER_LOST', 'options', cause => new LeaderLostError('getData', { cause }), e => {
    assert.equal(e.method, 'getData');
    assert.match(e.message, /getData/);
  }),
  row(ClientClosedError, 'ERR_CLUSTER_CLIENT_CLOSED', 'none', () => new ClientClosedError('registry', 'subscribe after close'), e => {
    assert.match(e.message, /"registry"/);
    assert.match(e.message, /subscribe after close/);
  }),
  row(PortInUseError, 'ERR_CLUSTER_PORT_IN_USE', 'options', cause => new PortInUseError('registry', 7777, { cause }), e => {
    assert.equal(e.port, 7777);
    assert.match(e.message, /7777/);
  }),
  row(ConnectTimeoutError, 'ERR_CLUSTER_CONNECT_TIMEOUT', 'options', cause => new ConnectTimeoutError('registry', 7001, 10000, { cause }), e => {
    assert.equal(e.port, 7001);
    assert.equal(e.timeout, 10000);
    assert.match(e.message, /7001/);
    assert.match(e.message, /10000ms/);
    // A forced follower whose last attempt failed: 3.x's message, word for word.
    const refused = new ConnectTimeoutError('RegistryClient', 2228, 3000, { cause: new Error('connect ECONNREFUSED 127.0.0.1:2228'), forcedFollower: true });
    assert.equal(refused.message, '[ClusterClient:RegistryClient] follower try to connect leader failed, cause by connect ECONNREFUSED 127.0.0.1:2228');
    assert.equal(refused.code, 'ERR_CLUSTER_CONNECT_TIMEOUT');
    assert.equal(refused.port, 2228);
  }),
  row(ChannelNotFoundError, 'ERR_CLUSTER_CHANNEL_NOT_FOUND', 'none', () => new ChannelNotFoundError('registry', 30000, 42, ['a', 'b']), e => {
    assert.match(e.message, /the leader \(pid 42\) has no channel "registry" \(waited 30000ms for it to be created\); it serves "a", "b"/);
    assert.match(e.message, /give each its own port/);
    assert.equal(e.leaderPid, 42);
    assert.deepEqual(e.channels, ['a', 'b']);
    assert.match(new ChannelNotFoundError('r', 1).message, /^\[cluster-share\] the leader has no channel "r"/);
  }),
  // The DataClient's own message, word for word (3.x hands its followers that error).
  { ...row(LeaderStartError, 'ERR_CLUSTER_LEADER_START_FAILED', 'serialized',
    cause => new LeaderStartError('registry', cause as errors.SerializedError), e => {
      assert.equal(e.message, 'connect ECONNREFUSED');
      assert.equal(e.channel, 'registry');
      const cause = e.cause as Error & { code?: string };
      assert.equal(cause.code, 'ECONNREFUSED');
      assert.match(String(cause.stack), /at x/);
    }), prefix: '' },
  row(ChannelMismatchError, 'ERR_CLUSTER_CHANNEL_MISMATCH', 'none', () => new ChannelMismatchError('registry', 'Registry', 'Cache', 'another class', 42), e => {
    assert.equal(e.channel, 'registry');
    assert.equal(e.leaderClass, 'Registry');
    assert.equal(e.clientClass, 'Cache');
    assert.equal(e.leaderPid, 42);
    assert.match(e.message, /channel "registry" is served by the leader \(pid 42\) with DataClient class Registry, but this client's class is Cache \(another class\)/);
    assert.match(new ChannelMismatchError('r', 'A', 'B', 'x').message, /served by this process/);
  }),
  row(FrameTooLargeError, 'ERR_CLUSTER_FRAME_TOO_LARGE', 'none', () => new FrameTooLargeError('the call echo()', 70_000_000, 67_108_864), e => {
    assert.equal(e.size, 70_000_000);
    assert.equal(e.limit, 67_108_864);
    assert.match(e.message, /the call echo\(\) is 70000000 bytes on the wire, more than maxFrameSize 67108864; not sent/);
  }),
  row(MethodNotFoundError, 'ERR_CLUSTER_METHOD_NOT_FOUND', 'none', () => new MethodNotFoundError('nope'), e => {
    assert.match(e.message, /"nope"/);
  }),
  row(SubscribeTimeoutError, 'ERR_CLUSTER_SUBSCRIBE_TIMEOUT', 'none', () => new SubscribeTimeoutError('$$inner$$__"k"', 500, 503), e => {
    assert.match(e.message, /subscribe timeout for \$\$inner\$\$__"k", cost: 503ms, expect is 500ms/);
  }),
  row(ProtocolError, 'ERR_CLUSTER_PROTOCOL', 'options', cause => new ProtocolError('bad header', { cause }), e => {
    assert.match(e.message, /bad header/);
  }),
  row(PortConflictError, 'ERR_CLUSTER_PORT_CONFLICT', 'options', cause => new PortConflictError('Svc', 7777, 'it sent an HTTP response', { cause }), e => {
    assert.match(e.message, /port 7777/);
    assert.match(e.message, /HTTP response/);
    assert.equal(e.port, 7777);
  }),
  row(WriteBufferFullError, 'ERR_CLUSTER_WRITE_BUFFER_FULL', 'none', () => new WriteBufferFullError(70_000_000, 67_108_864), e => {
    assert.match(e.message, /70000000 unsent bytes exceed maxWriteBuffer 67108864/);
  }),
  row(AuthError, 'ERR_CLUSTER_AUTH_FAILED', 'none', () => new AuthError('the follower did not prove the shared secret'), e => {
    assert.match(e.message, /authentication failed: the follower did not prove/);
  }),
  row(DecodeError, 'ERR_CLUSTER_DECODE', 'options', cause => new DecodeError('unknown tag 0x7f', { cause }), e => {
    assert.match(e.message, /does not decode: unknown tag 0x7f/);
  }),
  // Named AbortError, as aborted web and Node APIs are; the cause is the signal's reason.
  { ...row(CallAbortedError, 'ERR_CLUSTER_ABORTED', 'options', cause => new CallAbortedError('getData', cause), e => {
    assert.equal(e.method, 'getData');
    assert.match(e.message, /getData was aborted: underlying/);
    assert.match(new CallAbortedError('m', undefined).message, /no reason given/);
    assert.match(new CallAbortedError('m', 'bye').message, /aborted: bye/);
  }), name: 'AbortError' },
  // 3.x's name and wording, which users' tests match.
  { ...row(HeartbeatTimeoutError, 'ERR_CLUSTER_HEARTBEAT_TIMEOUT', 'none', () => new HeartbeatTimeoutError(61000, 60000, 'follower #3 (pid 42)'), e => {
    assert.match(e.message, /client no response in 61000ms exceeding maxIdleTime 60000ms, maybe the connection is close on other side\. Dropped follower #3 \(pid 42\): it sent nothing/);
    assert.match(e.message, /follower #3 \(pid 42\)/);
  }), name: 'ClusterClientNoResponseError' },
  row(FollowerCallError, 'ERR_CLUSTER_FOLLOWER_CALL_FAILED', 'options', cause => new FollowerCallError('Registry', 'getData', 42, cause), e => {
    assert.equal(e.method, 'getData');
    assert.equal(e.followerPid, 42);
    assert.match(e.message, /"Registry": getData\(\) called by follower pid 42 failed: underlying/);
    assert.match(new FollowerCallError('R', 'm', undefined, 'text').message, /follower \(pid unknown\) failed: text/);
  }),
  row(UserRefusedError, 'ERR_CLUSTER_USER_REFUSED', 'none', () => new UserRefusedError('the leader on port 7777 (pid 1, uid 0) refused a connection of uid 65534', 65534), e => {
    assert.equal(e.uid, 65534);
    assert.match(e.message, /refused a connection of uid 65534/);
  }),
  row(LeaderUnresponsiveError, 'ERR_CLUSTER_LEADER_UNRESPONSIVE', 'none', () => new LeaderUnresponsiveError('Registry', 3120, 42), e => {
    assert.equal(e.silentMs, 3120);
    assert.equal(e.leaderPid, 42);
    assert.match(e.message, /"Registry": the leader \(pid 42\) answered nothing for 3120ms \(leaderTimeout\); leaving it for an interim leader/);
    assert.match(new LeaderUnresponsiveError('R', 5, undefined, 'joining it').message, /the leader answered nothing for 5ms \(leaderTimeout\); joining it/);
  }),
];

describe('error classes', () => {
  for (const r of TABLE) {
    test(`${r.Cls.name}: Error, ClusterShareError, name, code ${r.code}, message prefix, cause`, () => {
      const cause: unknown = r.cause === 'serialized'
        ? { name: 'Error', message: 'connect ECONNREFUSED', code: 'ECONNREFUSED', stack: 'Error: connect ECONNREFUSED\n    at x' }
        : new Error('underlying');
      const err = r.make(cause);
      assert.ok(err instanceof Error);
      assert.ok(err instanceof ClusterShareError);
      assert.ok(err instanceof r.Cls);
      assert.equal(err.constructor, r.Cls);
      const name = r.name ?? r.Cls.name;
      assert.equal(err.name, name);
      assert.equal(err.code, r.code);
      assert.ok(err.message.startsWith(r.prefix ?? '[cluster-share]'), `message: ${err.message}`);
      assert.ok(typeof err.stack === 'string' && err.stack.includes(name), 'stack names the class');
      assert.ok(Object.prototype.toString.call(err) === '[object Error]');
      if (r.cause === 'none') assert.equal(err.cause, undefined);
      else if (r.cause === 'options') assert.equal(err.cause, cause, 'cause kept');
      else {
        const revived = err.cause as Error & { code?: unknown };
        const sent = cause as errors.SerializedError;
        assert.deepEqual([revived.name, revived.message, revived.code, revived.stack], [sent.name, sent.message, sent.code, sent.stack], 'cause revived from what the leader sent');
      }
      r.check(err);
    });
  }

  test('codes are unique', () => {
    const codes = TABLE.map(r => r.code);
    assert.equal(new Set(codes).size, codes.length);
  });

  test('the table covers every exported ClusterShareError subclass', () => {
    const exported = Object.entries(errors as Record<string, unknown>)
      .filter(([, value]) => typeof value === 'function' && (value as { prototype: unknown }).prototype instanceof ClusterShareError)
      .map(([name]) => name)
      // A base class, never raised itself.
      .filter(name => name !== 'EndpointError')
      .sort();
    const covered = TABLE.map(r => r.Cls.name).sort();
    assert.deepEqual(covered, exported, 'add a TABLE row for every new error class');
    assert.ok(exported.length >= 14);
  });

  test('port errors carry the port or the socket path (EndpointError)', () => {
    for (const e of [new errors.PortInUseError('S', 7777), new errors.PortConflictError('S', 7777, 'why'), new errors.ConnectTimeoutError('S', 7777, 10)]) {
      assert.ok(e instanceof errors.EndpointError);
      assert.equal(e.port, 7777);
      assert.equal(e.path, undefined);
      assert.match(e.message, /7777/);
    }
    for (const e of [new errors.PortInUseError('S', '/run/a.sock'), new errors.PortConflictError('S', '/run/a.sock', 'why'), new errors.ConnectTimeoutError('S', '/run/a.sock', 10)]) {
      assert.equal(e.port, undefined);
      assert.equal(e.path, '/run/a.sock');
      assert.match(e.message, /socket \/run\/a\.sock/);
    }
  });

  test('without a cause, the options-taking constructors leave cause undefined', () => {
    assert.equal(new ProtocolError('x').cause, undefined);
    assert.equal(new LeaderLostError('m').cause, undefined);
    assert.equal(new PortInUseError('n', 1).cause, undefined);
    assert.equal(new ConnectTimeoutError('n', 1, 2).cause, undefined);
  });

  test('LeaderStartError without a message in its cause still has a clear message', () => {
    const err = new LeaderStartError('registry', {});
    assert.match(err.message, /the leader of "registry" failed to start its DataClient \(no reason given\)/);
  });

  test('ClusterShareError itself keeps its code, name and cause', () => {
    const cause = new Error('c');
    const err = new ClusterShareError('[cluster-share] base', 'ERR_X', { cause });
    assert.ok(err instanceof Error);
    assert.equal(err.name, 'ClusterShareError');
    assert.equal(err.code, 'ERR_X');
    assert.equal(err.cause, cause);
  });
});

describe('serializeError / reviveError', () => {
  test('round trip keeps name, message, code and stack (through JSON, as on the wire)', () => {
    const original = new ResponseTimeoutError('getData', 3000, 'detail');
    const wire = JSON.parse(JSON.stringify(serializeError(original))) as errors.SerializedError;
    const revived = reviveError(wire) as Error & { code?: string };
    assert.ok(revived instanceof Error);
    assert.equal(revived.name, 'ResponseTimeoutError');
    assert.equal(revived.message, original.message);
    assert.equal(revived.code, 'ERR_CLUSTER_RESPONSE_TIMEOUT');
    assert.equal(revived.stack, original.stack);
  });

  test('round trip of a plain Error with a custom code and name', () => {
    const original = Object.assign(new TypeError('bad thing'), { code: 'E_BAD' });
    const revived = reviveError(serializeError(original)) as Error & { code?: string };
    assert.equal(revived.name, 'TypeError');
    assert.equal(revived.message, 'bad thing');
    assert.equal(revived.code, 'E_BAD');
    assert.equal(revived.stack, original.stack);
  });

  test('serializeError keeps a string or number code as it is (as 3.x), stringifies any other, omits a missing one', () => {
    assert.equal(serializeError(Object.assign(new Error('x'), { code: 42 })).code, 42);
    assert.equal(serializeError(Object.assign(new Error('x'), { code: 'E_X' })).code, 'E_X');
    assert.equal(serializeError(Object.assign(new Error('x'), { code: true })).code, 'true');
    assert.equal(serializeError(new Error('x')).code, undefined);
  });

  test('serializeError of a non-Error value', () => {
    const s = serializeError('boom');
    assert.equal(s.name, 'Error');
    assert.equal(s.message, 'boom');
    assert.equal(s.code, undefined);
  });

  test('serializeError keeps only the wire fields', () => {
    const s = serializeError(new PortInUseError('n', 7777));
    assert.deepEqual(Object.keys(s).sort(), ['code', 'message', 'name', 'stack']);
  });

  test('reviveError of a non-object gives an Error with that value as message', () => {
    const fromString = reviveError('oops' as unknown as errors.SerializedError);
    assert.ok(fromString instanceof Error);
    assert.equal(fromString.message, 'oops');
    const fromNumber = reviveError(42 as unknown as errors.SerializedError);
    assert.ok(fromNumber instanceof Error);
    assert.equal(fromNumber.message, '42');
    for (const value of [null, undefined]) {
      const revived = reviveError(value);
      assert.ok(revived instanceof Error, `reviveError(${String(value)})`);
      assert.equal(typeof revived.message, 'string');
    }
  });

  test('reviveError copies extra fields the leader sent', () => {
    const revived = reviveError({ name: 'MyError', message: 'm', code: 'E_MY', extra: 1 } as errors.SerializedError) as Error & { extra?: number };
    assert.equal(revived.name, 'MyError');
    assert.equal(revived.extra, 1);
  });
});

describe('reviveError edge cases (regressions)', () => {
  test('a non-Error rejection keeps a local stack after a serialize-json round trip', async () => {
    const { serializeJsonCodec } = await import('../src/protocol/codec.js');
    const { reviveError: revive, serializeError: serialize } = await import('../src/errors.js');
    const err = revive(serializeJsonCodec.decode(serializeJsonCodec.encode(serialize('boom'))) as never);
    assert.equal(err.message, 'boom');
    assert.equal(typeof err.stack, 'string');
  });

  test('an own __proto__ field does not change the revived error\'s prototype', async () => {
    const { reviveError: revive } = await import('../src/errors.js');
    const err = revive(JSON.parse('{"__proto__":null,"message":"m","code":"E_X"}'));
    assert.ok(err instanceof Error);
    assert.equal(err.message, 'm');
    assert.equal((err as Error & { code?: string }).code, 'E_X');
  });
});
