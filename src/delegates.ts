/**
 * Delegate descriptors: what each property of a created client does. Shared by the generator
 * (cluster.ts) and the roles, which need the DataClient's method names for subscribe,
 * unSubscribe, publish and close.
 */
import { InvalidDelegateError } from './errors.js';

/** Where a delegated method goes. */
export const DELEGATE_TARGETS = ['subscribe', 'unSubscribe', 'publish', 'invoke', 'invokeOneway', 'close'] as const;
export type DelegateTarget = (typeof DELEGATE_TARGETS)[number];

export type Descriptor =
  | { type: 'delegate'; to: DelegateTarget }
  | { type: 'override'; value: unknown };

/** The DataClient's method names for the special targets (the `from` of each delegate). */
export interface DelegateNames {
  subscribe: string | undefined;
  unSubscribe: string | undefined;
  publish: string | undefined;
  close: string | undefined;
}

export function isDelegateTarget(value: unknown): value is DelegateTarget {
  return typeof value === 'string' && (DELEGATE_TARGETS as readonly string[]).includes(value);
}

export function checkDelegateTarget(from: string, to: unknown): DelegateTarget {
  if (!isDelegateTarget(to)) {
    throw new InvalidDelegateError(`delegate("${from}", ${JSON.stringify(to)}): unknown target; use one of ${DELEGATE_TARGETS.join(', ')}`);
  }
  return to;
}

/** The first method delegated to each special target (what 3.x's findMethodName returns). */
export function delegateNames(descriptors: ReadonlyMap<string, Descriptor>): DelegateNames {
  const find = (target: DelegateTarget): string | undefined => {
    for (const [name, d] of descriptors) if (d.type === 'delegate' && d.to === target) return name;
    return undefined;
  };
  return { subscribe: find('subscribe'), unSubscribe: find('unSubscribe'), publish: find('publish'), close: find('close') };
}
