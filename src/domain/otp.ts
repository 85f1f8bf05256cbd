import { createHmac, randomInt, timingSafeEqual } from 'node:crypto';

/**
 * One-time codes: 6 digits from the CSPRNG. A 6-digit code has too little entropy for a plain hash to
 * protect it, so it is stored as an HMAC keyed with a server secret (a "pepper") and bound to the login
 * attempt that asked for it: the same digits in another attempt do not match.
 */
export const OTP_DIGITS = 6;

export function newOtpCode(): string {
  return randomInt(0, 10 ** OTP_DIGITS).toString().padStart(OTP_DIGITS, '0');
}

export function hashOtp(pepper: Buffer, bindTo: string, code: string): string {
  return createHmac('sha256', pepper).update(`${bindTo}\u0000${code}`).digest('hex');
}

export function otpMatches(pepper: Buffer, bindTo: string, code: string, storedHash: string): boolean {
  const candidate = Buffer.from(hashOtp(pepper, bindTo, code), 'hex');
  const stored = Buffer.from(storedHash, 'hex');
  return candidate.length === stored.length && timingSafeEqual(candidate, stored);
}

/** What people paste: spaces, dashes and dots between digits are dropped; anything else is not a code. */
export function cleanOtpInput(input: string): string | undefined {
  const digits = input.replace(/[\s.\-\u00a0]/g, '');
  return /^\d{6}$/.test(digits) ? digits : undefined;
}

/** Recovery codes: 10 groups of the unambiguous alphabet, e.g. "7KQ4-M2XD-9HPT" (60 bits each). */
const RECOVERY_ALPHABET = '23456789ABCDEFGHJKMNPQRSTUVWXYZ';

export function newRecoveryCode(): string {
  const chars = Array.from({ length: 12 }, () => RECOVERY_ALPHABET[randomInt(RECOVERY_ALPHABET.length)]);
  return `${chars.slice(0, 4).join('')}-${chars.slice(4, 8).join('')}-${chars.slice(8).join('')}`;
}

export function cleanRecoveryInput(input: string): string | undefined {
  const compact = input.toUpperCase().replace(/[\s\-]/g, '');
  if (!/^[2-9A-HJKMNP-Z]{12}$/.test(compact)) return undefined;
  return `${compact.slice(0, 4)}-${compact.slice(4, 8)}-${compact.slice(8)}`;
}
