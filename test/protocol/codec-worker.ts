/**
 * Worker thread for test/protocol/codec.test.ts: runs codec work that might never finish (a
 * fuzz loop over taggedCodec.decode, an encode of a value suspected to hang) so the test can
 * give it a time limit and terminate it. A synchronous loop on the test's own thread could not
 * be interrupted by node:test's timeout.
 *
 * Not a test file itself (scripts/test.mjs only runs *.test.js).
 */
import { parentPort, workerData } from 'node:worker_threads';
import fc from 'fast-check';
import { taggedCodec } from '../../src/protocol/codec.js';

export type CodecWorkerJob =
  /** Decode random bytes (some behind a valid tag byte); count returns and throws. */
  | { kind: 'fuzz-decode'; numRuns: number; seed: number }
  /** Encode a tree whose `children` each point back at the root through `parent`. */
  | { kind: 'encode-parent-pointer-tree'; children: number };

export type CodecWorkerResult =
  | { ok: true; kind: 'fuzz-decode'; returned: number; threw: number; errorNames: string[] }
  | { ok: true; kind: 'encode-parent-pointer-tree'; tag: number; length: number; decodedChildren: number }
  | { ok: false; message: string };

/** The tag bytes tagged-v1 knows ('s', 'b', 'j', 'v', 'S', 'u', 'd'). */
const KNOWN_TAGS = [0x73, 0x62, 0x6a, 0x76, 0x53, 0x75, 0x64];

function fuzzDecode(numRuns: number, seed: number): CodecWorkerResult {
  let returned = 0;
  let threw = 0;
  const errorNames = new Set<string>();
  const anyBytes = fc.uint8Array({ maxLength: 64 });
  const taggedBytes = fc
    .tuple(fc.constantFrom(...KNOWN_TAGS), fc.uint8Array({ maxLength: 64 }))
    .map(([tag, rest]) => Uint8Array.of(tag, ...rest));
  // 'v' + the v8 serializer header (0xff 0x0f), so the fuzz gets past the version check.
  const v8Bytes = fc.uint8Array({ maxLength: 64 }).map(rest => Uint8Array.of(0x76, 0xff, 0x0f, ...rest));
  fc.assert(
    fc.property(fc.oneof(anyBytes, taggedBytes, v8Bytes), bytes => {
      try {
        taggedCodec.decode(Buffer.from(bytes));
        returned++;
      } catch (err) {
        if (!(err instanceof Error)) throw new Error(`decode threw a non-Error: ${String(err)}`);
        threw++;
        errorNames.add(err.name);
      }
    }),
    { numRuns, seed },
  );
  return { ok: true, kind: 'fuzz-decode', returned, threw, errorNames: [...errorNames].sort() };
}

interface TreeNode {
  id: number;
  parent?: TreeNode;
  children: TreeNode[];
}

function encodeParentPointerTree(children: number): CodecWorkerResult {
  const root: TreeNode = { id: -1, children: [] };
  for (let i = 0; i < children; i++) root.children.push({ id: i, parent: root, children: [] });
  const encoded = taggedCodec.encode(root);
  const decoded = taggedCodec.decode(encoded) as TreeNode;
  return { ok: true, kind: 'encode-parent-pointer-tree', tag: encoded[0] ?? -1, length: encoded.length, decodedChildren: decoded.children.length };
}

function run(job: CodecWorkerJob): CodecWorkerResult {
  try {
    switch (job.kind) {
      case 'fuzz-decode':
        return fuzzDecode(job.numRuns, job.seed);
      case 'encode-parent-pointer-tree':
        return encodeParentPointerTree(job.children);
    }
  } catch (err) {
    return { ok: false, message: err instanceof Error ? `${err.name}: ${err.message}` : String(err) };
  }
}

if (parentPort) parentPort.postMessage(run(workerData as CodecWorkerJob));
