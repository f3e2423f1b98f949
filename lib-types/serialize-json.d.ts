// Ambient types for serialize-json@1 (the default codec of cluster-client 3.x); it ships none.
declare module 'serialize-json' {
  export function encode(value: unknown): Buffer;
  export function decode(data: Buffer): unknown;
}
