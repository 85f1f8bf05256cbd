import { parsePhoneNumberFromString } from 'libphonenumber-js/max';

export type PhoneProblem = 'invalid-phone' | 'not-mobile';

/**
 * A backup phone is a mobile number, normalised to E.164. French national numbers ("06 12 34 56 78")
 * are read as French; other countries need their "+" prefix.
 */
export function normaliseMobile(input: string): { ok: true; e164: string } | { ok: false; problem: PhoneProblem } {
  const trimmed = input.trim();
  if (!trimmed || trimmed.length > 32 || !/^[+\d\s().\-]+$/.test(trimmed)) return { ok: false, problem: 'invalid-phone' };
  const parsed = parsePhoneNumberFromString(trimmed, 'FR');
  if (!parsed || !parsed.isValid()) return { ok: false, problem: 'invalid-phone' };
  const type = parsed.getType();
  if (type !== undefined && type !== 'MOBILE' && type !== 'FIXED_LINE_OR_MOBILE') return { ok: false, problem: 'not-mobile' };
  return { ok: true, e164: parsed.number };
}
