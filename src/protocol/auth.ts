/**
 * The optional shared secret (our extension of register_channel). Both sides prove they know
 * it without sending it: HMAC-SHA256 over the channel name and both sides' random nonces.
 *
 *   F → L  register_channel { channelName, auth: { nonce: F } }
 *   L → F  register_channel_res { challenge: L, proof: HMAC(secret, "leader", channel, F, L) }
 *          data: { success: false, error: { code: "ERR_CLUSTER_AUTH_CHALLENGE" } }
 *   F → L  register_channel { channelName, auth: { nonce: F, proof: HMAC(secret, "follower", channel, L, F) } }
 *   L → F  register_channel_res as usual (once the DataClient is ready)
 *
 * The follower checks the leader's proof too, so a program squatting the port cannot pose as
 * the leader to a follower that has the secret.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { STATUS } from './packet.js';

/** Code of the first answer of a leader that has a secret: "prove it". Not an error. */
export const AUTH_CHALLENGE = 'ERR_CLUSTER_AUTH_CHALLENGE';

/** A fresh random nonce (hex). */
export function newNonce(): string {
  return randomBytes(16).toString('hex');
}

/** The proof `role` sends: HMAC-SHA256 of the channel and the two nonces, theirs first. */
export function proof(secret: string, role: 'leader' | 'follower' | 'observer', channel: string, theirNonce: string, ownNonce: string): string {
  return createHmac('sha256', secret).update(`cluster-share ${role}\n${channel}\n${theirNonce}\n${ownNonce}`).digest('hex');
}

/**
 * What an observer asking for the status sends (`auth.proof` of a `status` request): its own
 * nonce twice, the channel being the packet type `status`. No leader nonce, so a replay is possible; it reveals nothing new.
 */
export function observerProof(secret: string, nonce: string): string {
  return proof(secret, 'observer', STATUS, nonce, nonce);
}

/** Constant-time comparison of a received proof with the expected one. */
export function proofMatches(received: unknown, expected: string): boolean {
  if (typeof received !== 'string' || received.length !== expected.length) return false;
  return timingSafeEqual(Buffer.from(received), Buffer.from(expected));
}

/** A nonce as received: a hex string of sane length, or undefined. */
export function readNonce(value: unknown): string | undefined {
  return typeof value === 'string' && /^[0-9a-f]{16,128}$/.test(value) ? value : undefined;
}
