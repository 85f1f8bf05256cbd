/**
 * The shipped list of common passwords that satisfy the character-class policy (built by
 * scripts/build-common-passwords.ts), as a `CommonPasswordList` for `checkPassword`.
 * Read once, on first use, then kept in memory (~20 000 entries).
 */
import { readFileSync } from 'node:fs';
import type { CommonPasswordList } from '../domain/password-policy.ts';

let cached: CommonPasswordList | undefined;

export function loadCommonPasswords(): CommonPasswordList {
  if (cached) return cached;
  const text = readFileSync(new URL('./common-passwords.txt', import.meta.url), 'utf8');
  const entries = new Set<string>();
  for (const line of text.split(/\r?\n/)) {
    const entry = line.normalize('NFKC').toLocaleLowerCase('fr');
    if (entry !== '') entries.add(entry);
  }
  cached = { has: (normalisedLowerCase: string) => entries.has(normalisedLowerCase) };
  return cached;
}
