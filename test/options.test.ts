/**
 * resolveOptions: defaults, environment variables, explicit-over-env, validation.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { InvalidOptionError } from '../src/errors.js';
import {
  type ClusterOptions, defaultFormatKey, defaultLogger, type Logger, resolveOptions, type Transcode,
} from '../src/options.js';
import { serializeJsonCodec } from '../src/protocol/codec.js';

const ENV_VARS = ['NODE_CLUSTER_CLIENT_PORT', 'NODE_CLUSTER_CLIENT_CONNECT_TIMEOUT', 'NODE_CLUSTER_CLIENT_SINGLE_MODE'] as const;
type EnvVar = (typeof ENV_VARS)[number];

/** Runs `fn` with exactly these cluster env vars set (the others unset), then restores process.env. */
function withEnv<T>(vars: Partial<Record<EnvVar, string>>, fn: () => T): T {
  const saved = new Map<EnvVar, string | undefined>();
  for (const name of ENV_VARS) saved.set(name, process.env[name]);
  try {
    for (const name of ENV_VARS) {
      const value = vars[name];
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
    return fn();
  } finally {
    for (const [name, value] of saved) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
  }
}

function invalidOption(option: string, extra?: (err: InvalidOptionError) => void): (err: unknown) => boolean {
  return (err: unknown) => {
    assert.ok(err instanceof InvalidOptionError, `expected InvalidOptionError, got ${String(err)}`);
    assert.equal(err.code, 'ERR_CLUSTER_INVALID_OPTION');
    assert.equal(err.name, 'InvalidOptionError');
    assert.equal(err.option, option);
    assert.ok(err.message.startsWith('[cluster-share]'));
    extra?.(err);
    return true;
  };
}

describe('resolveOptions defaults', () => {
  test('every default', () => {
    withEnv({}, () => {
      const o = resolveOptions('MyClient', undefined);
      assert.equal(o.name, 'MyClient');
      assert.equal(o.port, 7777);
      assert.equal(o.maxWaitTime, 30000);
      assert.equal(o.connectTimeout, 10000);
      assert.equal(o.responseTimeout, 3000);
      assert.equal(o.heartbeatInterval, 20000);
      assert.equal(o.isCheckHeartbeat, true);
      assert.equal(o.autoGenerate, true);
      assert.equal(o.isBroadcast, true);
      assert.equal(o.singleMode, false);
      assert.equal(o.isLeader, undefined);
      assert.equal(o.subscribeTimeout, undefined);
      assert.equal(o.transcode, serializeJsonCodec);
      assert.equal(o.logger, defaultLogger);
      assert.equal(o.formatKey, defaultFormatKey);
      assert.equal(o.maxListeners, 20);
    });
  });

  test('an empty options object gives the same defaults', () => {
    withEnv({}, () => {
      assert.deepEqual(resolveOptions('X', {}), resolveOptions('X', undefined));
    });
  });

  test('name defaults to the name passed in; an explicit name wins', () => {
    withEnv({}, () => {
      assert.equal(resolveOptions('RegistryClient', {}).name, 'RegistryClient');
      assert.equal(resolveOptions('RegistryClient', { name: 'custom' }).name, 'custom');
    });
  });

  test('explicit values are kept', () => {
    withEnv({}, () => {
      const logger: Logger = { info() {}, warn() {}, error() {} };
      const transcode: Transcode = { encode: v => Buffer.from(JSON.stringify(v)), decode: b => JSON.parse(b.toString()) as unknown };
      const formatKey = (reg: unknown): string => String(reg);
      const o = resolveOptions('X', {
        port: 7001, maxWaitTime: 0, connectTimeout: 1, responseTimeout: 50, heartbeatInterval: 100,
        isCheckHeartbeat: false, autoGenerate: false, isBroadcast: false, singleMode: true, isLeader: false,
        subscribeTimeout: 10, logger, transcode, formatKey, maxListeners: 0,
      });
      assert.equal(o.port, 7001);
      assert.equal(o.maxWaitTime, 0);
      assert.equal(o.connectTimeout, 1);
      assert.equal(o.responseTimeout, 50);
      assert.equal(o.heartbeatInterval, 100);
      assert.equal(o.isCheckHeartbeat, false);
      assert.equal(o.autoGenerate, false);
      assert.equal(o.isBroadcast, false);
      assert.equal(o.singleMode, true);
      assert.equal(o.isLeader, false);
      assert.equal(o.subscribeTimeout, 10);
      assert.equal(o.logger, logger);
      assert.equal(o.transcode, transcode);
      assert.equal(o.formatKey, formatKey);
      assert.equal(o.maxListeners, 0);
    });
  });

  test('isLeader null means "compete" (undefined)', () => {
    withEnv({}, () => {
      assert.equal(resolveOptions('X', { isLeader: null }).isLeader, undefined);
      assert.equal(resolveOptions('X', { isLeader: true }).isLeader, true);
    });
  });

  test('defaultFormatKey is json-stringify-safe (handles cycles)', () => {
    const cyclic: { a: number; self?: unknown } = { a: 1 };
    cyclic.self = cyclic;
    assert.equal(defaultFormatKey({ dataId: 'x' }), '{"dataId":"x"}');
    assert.doesNotThrow(() => defaultFormatKey(cyclic));
  });

  test('resolveOptions does not modify the input', () => {
    withEnv({}, () => {
      const input: ClusterOptions = { port: 7001 };
      resolveOptions('X', input);
      assert.deepEqual(input, { port: 7001 });
    });
  });
});

describe('resolveOptions environment variables', () => {
  test('NODE_CLUSTER_CLIENT_PORT sets the port', () => {
    withEnv({ NODE_CLUSTER_CLIENT_PORT: '7001' }, () => {
      assert.equal(resolveOptions('X', {}).port, 7001);
    });
  });

  test('NODE_CLUSTER_CLIENT_CONNECT_TIMEOUT sets connectTimeout', () => {
    withEnv({ NODE_CLUSTER_CLIENT_CONNECT_TIMEOUT: '1234' }, () => {
      assert.equal(resolveOptions('X', {}).connectTimeout, 1234);
    });
  });

  test('NODE_CLUSTER_CLIENT_SINGLE_MODE=1 turns single mode on; other values do not', () => {
    withEnv({ NODE_CLUSTER_CLIENT_SINGLE_MODE: '1' }, () => {
      assert.equal(resolveOptions('X', {}).singleMode, true);
    });
    withEnv({ NODE_CLUSTER_CLIENT_SINGLE_MODE: '0' }, () => {
      assert.equal(resolveOptions('X', {}).singleMode, false);
    });
  });

  test('an empty environment variable is ignored', () => {
    withEnv({ NODE_CLUSTER_CLIENT_PORT: '', NODE_CLUSTER_CLIENT_CONNECT_TIMEOUT: '' }, () => {
      const o = resolveOptions('X', {});
      assert.equal(o.port, 7777);
      assert.equal(o.connectTimeout, 10000);
    });
  });

  test('explicit options win over the environment', () => {
    withEnv({ NODE_CLUSTER_CLIENT_PORT: '7001', NODE_CLUSTER_CLIENT_CONNECT_TIMEOUT: '1234', NODE_CLUSTER_CLIENT_SINGLE_MODE: '1' }, () => {
      const o = resolveOptions('X', { port: 8001, connectTimeout: 50, singleMode: false });
      assert.equal(o.port, 8001);
      assert.equal(o.connectTimeout, 50);
      assert.equal(o.singleMode, false);
    });
  });

  test('withEnv restores process.env (self-check of the helper)', () => {
    const before = process.env.NODE_CLUSTER_CLIENT_PORT;
    withEnv({ NODE_CLUSTER_CLIENT_PORT: '1' }, () => {
      assert.equal(process.env.NODE_CLUSTER_CLIENT_PORT, '1');
    });
    assert.equal(process.env.NODE_CLUSTER_CLIENT_PORT, before);
    assert.throws(() => withEnv({ NODE_CLUSTER_CLIENT_PORT: '2' }, () => { throw new Error('inner'); }), /inner/);
    assert.equal(process.env.NODE_CLUSTER_CLIENT_PORT, before);
  });
});

describe('resolveOptions validation', () => {
  const cases: Array<{ name: string; input: unknown; option: string; env?: Partial<Record<EnvVar, string>>; message?: RegExp }> = [
    { name: "port 'abc'", input: { port: 'abc' }, option: 'port' },
    { name: 'port 0', input: { port: 0 }, option: 'port' },
    { name: 'port 70000', input: { port: 70000 }, option: 'port' },
    { name: 'port 1.5', input: { port: 1.5 }, option: 'port' },
    { name: 'port NaN', input: { port: Number.NaN }, option: 'port' },
    { name: "NODE_CLUSTER_CLIENT_PORT='nope'", input: {}, option: 'port', env: { NODE_CLUSTER_CLIENT_PORT: 'nope' }, message: /NODE_CLUSTER_CLIENT_PORT/ },
    { name: "NODE_CLUSTER_CLIENT_PORT='70000'", input: {}, option: 'port', env: { NODE_CLUSTER_CLIENT_PORT: '70000' } },
    { name: "NODE_CLUSTER_CLIENT_CONNECT_TIMEOUT='soon'", input: {}, option: 'connectTimeout', env: { NODE_CLUSTER_CLIENT_CONNECT_TIMEOUT: 'soon' } },
    { name: 'responseTimeout -1', input: { responseTimeout: -1 }, option: 'responseTimeout' },
    { name: "responseTimeout '3000'", input: { responseTimeout: '3000' }, option: 'responseTimeout' },
    { name: 'connectTimeout 0', input: { connectTimeout: 0 }, option: 'connectTimeout' },
    { name: 'maxWaitTime -1', input: { maxWaitTime: -1 }, option: 'maxWaitTime' },
    { name: 'heartbeatInterval 0', input: { heartbeatInterval: 0 }, option: 'heartbeatInterval' },
    { name: 'subscribeTimeout 0', input: { subscribeTimeout: 0 }, option: 'subscribeTimeout' },
    { name: 'maxListeners -1', input: { maxListeners: -1 }, option: 'maxListeners' },
    { name: "isBroadcast 'yes'", input: { isBroadcast: 'yes' }, option: 'isBroadcast' },
    { name: 'isCheckHeartbeat 1', input: { isCheckHeartbeat: 1 }, option: 'isCheckHeartbeat' },
    { name: "autoGenerate 'false'", input: { autoGenerate: 'false' }, option: 'autoGenerate' },
    { name: 'singleMode 1', input: { singleMode: 1 }, option: 'singleMode' },
    { name: "isLeader 'true'", input: { isLeader: 'true' }, option: 'isLeader' },
    { name: "name ''", input: { name: '' }, option: 'name' },
    { name: 'name 5', input: { name: 5 }, option: 'name' },
    { name: 'logger without warn', input: { logger: { info() {}, error() {} } }, option: 'logger', message: /warn/ },
    { name: 'logger a string', input: { logger: 'console' }, option: 'logger' },
    { name: 'transcode without decode', input: { transcode: { encode: () => Buffer.alloc(0) } }, option: 'transcode' },
    { name: "formatKey 'x'", input: { formatKey: 'x' }, option: 'formatKey' },
    { name: 'unknown option prot', input: { prot: 1 }, option: 'prot', message: /prot/ },
    { name: 'unknown option next to valid ones', input: { port: 7001, responseTimeOut: 10 }, option: 'responseTimeOut', message: /responseTimeOut/ },
    { name: 'options a string', input: 'port=7001', option: 'options' },
    { name: 'options a number', input: 7001, option: 'options' },
  ];

  for (const c of cases) {
    test(`${c.name} → InvalidOptionError(${c.option})`, () => {
      withEnv(c.env ?? {}, () => {
        assert.throws(
          () => resolveOptions('X', c.input as ClusterOptions),
          invalidOption(c.option, err => {
            if (c.message) assert.match(err.message, c.message);
          }),
        );
      });
    });
  }
});
