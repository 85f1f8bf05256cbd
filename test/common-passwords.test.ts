import { readFileSync } from 'node:fs';
import { describe, it, expect } from 'vitest';
import { checkPassword } from '../src/domain/password-policy.ts';
import { loadCommonPasswords } from '../src/security/common-passwords.ts';

const settings = { minLength: 12, requireClasses: true };
const emptyList = { has: () => false };
const shipped = readFileSync(new URL('../src/security/common-passwords.txt', import.meta.url), 'utf8')
  .split('\n')
  .filter((line) => line !== '');

describe('shipped common-password list', () => {
  it('holds at least 10 000 distinct entries', () => {
    expect(shipped.length).toBeGreaterThanOrEqual(10_000);
    expect(new Set(shipped.map((p) => p.normalize('NFKC').toLocaleLowerCase('fr'))).size).toBe(shipped.length);
  });

  it('only holds passwords that the rest of the policy accepts', () => {
    const rejected = shipped.filter((p) => checkPassword(p, settings, {}, emptyList).length > 0);
    expect(rejected).toEqual([]);
  });

  it('holds the obvious ones, whatever their case', () => {
    const list = loadCommonPasswords();
    for (const p of ['Motdepasse123!', 'Azerty123456!', 'Password123!', 'Bonjour2024!', 'P@ssw0rd2025', 'Marseille13!']) {
      expect(list.has(p.toLocaleLowerCase('fr')), p).toBe(true);
    }
  });

  it('does not hold a random strong password', () => {
    expect(loadCommonPasswords().has('kq7#vlp2!xwz9r')).toBe(false);
    expect(checkPassword('Kq7#vLp2!xWz9R', settings, {}, loadCommonPasswords())).toEqual([]);
  });

  it('makes checkPassword refuse a common password, and only for that', () => {
    expect(checkPassword('Azerty123456!', settings, {}, loadCommonPasswords())).toEqual(['common']);
    // Case does not matter: the list is compared in lower case.
    expect(checkPassword('MotDePasse123!', settings, {}, loadCommonPasswords())).toEqual(['common']);
  });

  it('is loaded once', () => {
    expect(loadCommonPasswords()).toBe(loadCommonPasswords());
  });
});
