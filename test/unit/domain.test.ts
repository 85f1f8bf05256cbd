import { describe, expect, it } from 'vitest';
import { describeDuration, parseDuration } from '../../src/domain/durations.ts';
import { isValidEmail, isValidLogin, normaliseEmail, normaliseLogin } from '../../src/domain/identifiers.ts';
import { maskEmail, maskPhone } from '../../src/domain/masking.ts';
import {
  checkPassword,
  displayedRules,
  MAX_PASSWORD_LENGTH,
  normalisePassword,
  passwordLength,
  personalFragments,
  type CommonPasswordList,
} from '../../src/domain/password-policy.ts';
import { hashToken, isTokenShaped, newTemporaryPassword, newToken, sameSecret } from '../../src/domain/tokens.ts';
import { loadCommonPasswords } from '../../src/security/common-passwords.ts';

const settings = { minLength: 12, requireClasses: true };
const none: CommonPasswordList = { has: () => false };
const GOOD = 'Vq8#trombone-Lilas42';

describe('password policy (pure)', () => {
  it('accepts a password that follows every rule', () => {
    expect(checkPassword(GOOD, settings, {}, none)).toEqual([]);
  });

  it.each([
    ['Vq8#trombon', 'min-length'], // 11 characters
    ['Vq#trombone-Lilas', 'digit'],
    ['vq8#trombone-lilas42', 'upper'],
    ['VQ8#TROMBONE-LILAS42', 'lower'],
    ['Vq8trombone0Lilas42', 'special'],
  ])('%s breaks exactly « %s »', (password, rule) => {
    expect(checkPassword(password, settings, {}, none)).toEqual([rule]);
  });

  it('reports every broken rule at once', () => {
    expect(checkPassword('abc', settings, {}, none)).toEqual(['min-length', 'digit', 'upper', 'special']);
  });

  it('counts characters, not UTF-16 units, and accepts exactly the minimum', () => {
    expect(checkPassword('Vq8#trombone', settings, {}, none)).toEqual([]); // 12
    // 11 code points, 12 UTF-16 units: still too short.
    expect(passwordLength('Vq8#trombo😀')).toBe(11);
    expect(checkPassword('Vq8#trombo😀', settings, {}, none)).toEqual(['min-length']);
  });

  it('honours a higher minimum and the maximum length', () => {
    expect(checkPassword(GOOD, { minLength: 24, requireClasses: true }, {}, none)).toEqual(['min-length']);
    const max = 'Aa1#' + 'x'.repeat(MAX_PASSWORD_LENGTH - 4);
    expect(checkPassword(max, settings, {}, none)).toEqual([]);
    expect(checkPassword(max + 'y', settings, {}, none)).toEqual(['max-length']);
  });

  it('skips the class rules when they are off', () => {
    expect(checkPassword('correcthorsebattery', { minLength: 12, requireClasses: false }, {}, none)).toEqual([]);
    expect(displayedRules({ minLength: 12, requireClasses: false })).toEqual(['min-length']);
    expect(displayedRules(settings)).toEqual(['min-length', 'digit', 'upper', 'lower', 'special']);
  });

  it('refuses common passwords from the shipped list, whatever their case', () => {
    const common = loadCommonPasswords();
    expect(checkPassword('Motdepasse123!', settings, {}, common)).toEqual(['common']);
    expect(checkPassword('MOTDEPASSE123!', settings, {}, common)).toEqual(['lower', 'common']);
    expect(checkPassword(GOOD, settings, {}, common)).toEqual([]);
  });

  it('refuses passwords containing the identifier, the e-mail, its local part or a word of the name', () => {
    const personal = { login: 'jdupont', email: 'jean.dupont@hopital.example', name: "Jean-Marie D'Artagnan" };
    expect(personalFragments(personal)).toEqual(
      expect.arrayContaining(['jdupont', 'jean.dupont@hopital.example', 'jean.dupont', 'jean', 'marie', 'artagnan']),
    );
    expect(personalFragments(personal)).not.toContain('d'); // words under 3 letters are ignored
    expect(checkPassword('Xy7#JDUPONT-plume', settings, personal, none)).toEqual(['personal']);
    expect(checkPassword('Xy7#jean.dupont!Q', settings, personal, none)).toEqual(['personal']);
    expect(checkPassword('Xy7#plume-Artagnan', settings, personal, none)).toEqual(['personal']);
    expect(checkPassword(GOOD, settings, personal, none)).toEqual([]);
  });

  it('normalises to NFKC before every check', () => {
    const fullWidth = 'Ｖｑ８＃ｔｒｏｍｂｏｎｅ'; // full-width « Vq8#trombone »
    expect(normalisePassword(fullWidth)).toBe('Vq8#trombone');
    expect(checkPassword(fullWidth, settings, {}, none)).toEqual([]);
    expect(normalisePassword('Cre\u0300me-bru\u0302le\u0301e')).toBe('Crème-brûlée');
    // The list and the personal data are compared after normalisation too.
    expect(checkPassword('Ｍｏｔｄｅｐａｓｓｅ１２３！', settings, {}, loadCommonPasswords())).toEqual(['common']);
    expect(checkPassword('Xy7#ｊｄｕｐｏｎｔ-plume', settings, { login: 'jdupont' }, none)).toEqual(['personal']);
  });
});

describe('durations', () => {
  it.each([
    ['30s', 30_000],
    ['5m', 300_000],
    ['24h', 86_400_000],
    ['7d', 604_800_000],
    ['90', 90_000],
    [' 15m ', 900_000],
  ])('parses %j', (text, ms) => {
    expect(parseDuration(text)).toBe(ms);
  });

  it.each(['', 'abc', '5x', '-5m', '1.5h', '5 minutes', '1h30m', '10000000000s'])('refuses %j', (text) => {
    expect(parseDuration(text)).toBeUndefined();
  });

  it('reads in French (and English)', () => {
    expect(describeDuration(15 * 60_000)).toBe('15 minutes');
    expect(describeDuration(60_000)).toBe('1 minute');
    expect(describeDuration(3 * 3_600_000)).toBe('3 heures');
    expect(describeDuration(7 * 86_400_000)).toBe('7 jours');
    expect(describeDuration(86_400_000)).toBe('24 heures');
    expect(describeDuration(2 * 86_400_000)).toBe('2 jours');
    expect(describeDuration(86_400_000, 'en')).toBe('24 hours');
    expect(describeDuration(30_000)).toBe('30 secondes');
    expect(describeDuration(90 * 60_000)).toBe('90 minutes');
    expect(describeDuration(7 * 86_400_000, 'en')).toBe('7 days');
    expect(describeDuration(1_500)).toBe('1 minute');
  });
});

describe('masking', () => {
  it('masks an e-mail address leaving its first letters and top-level domain', () => {
    expect(maskEmail('exemple@orange.fr')).toBe('exxxxxx@oxxxxx.fr');
    expect(maskEmail('a@b.fr')).toBe('axx@bxx.fr');
    expect(maskEmail('jean@localhost')).toBe('jxxx@lxxxxxxxx');
    expect(maskEmail('not-an-address')).toBe('*'.repeat(14));
    expect(maskEmail('@x.fr')).toBe('*****');
  });

  it('masks a phone number leaving the country code, first and last digits', () => {
    expect(maskPhone('+33612345678')).toBe('+33 6 •• •• •• 78');
    expect(maskPhone('12')).toBe('••••');
  });
});

describe('tokens', () => {
  it('newToken: 256 bits as 43 base64url characters, never twice the same', () => {
    const tokens = Array.from({ length: 200 }, () => newToken());
    for (const t of tokens) {
      expect(t).toMatch(/^[A-Za-z0-9_-]{43}$/);
      expect(Buffer.from(t, 'base64url')).toHaveLength(32);
      expect(isTokenShaped(t)).toBe(true);
    }
    expect(new Set(tokens).size).toBe(tokens.length);
    // Every base64url character shows up across 200 tokens: the alphabet is the whole of it.
    expect(new Set(tokens.join('')).size).toBe(64);
  });

  it('hashToken is the hex SHA-256 of the token', () => {
    expect(hashToken('abc')).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
    const t = newToken();
    expect(hashToken(t)).toMatch(/^[0-9a-f]{64}$/);
    expect(hashToken(t)).not.toContain(t);
  });

  it('isTokenShaped refuses anything else', () => {
    for (const v of ['', 'x'.repeat(42), 'x'.repeat(44), `${'x'.repeat(42)}=`, `${'x'.repeat(42)}/`, 42, null, undefined]) {
      expect(isTokenShaped(v)).toBe(false);
    }
  });

  it('sameSecret compares in full', () => {
    expect(sameSecret('Bearer abc', 'Bearer abc')).toBe(true);
    expect(sameSecret('Bearer abc', 'Bearer abd')).toBe(false);
    expect(sameSecret('Bearer ab', 'Bearer abc')).toBe(false);
    expect(sameSecret('', '')).toBe(true);
  });

  it('temporary passwords satisfy the policy, avoid ambiguous characters and differ', () => {
    const common = loadCommonPasswords();
    const seen = new Set<string>();
    for (let i = 0; i < 300; i++) {
      const p = newTemporaryPassword();
      expect(p).toHaveLength(16);
      expect(checkPassword(p, settings, {}, common), p).toEqual([]);
      expect(p).not.toMatch(/[0O1lI]/);
      seen.add(p);
    }
    expect(seen.size).toBe(300);
    expect(newTemporaryPassword(24)).toHaveLength(24);
  });
});

describe('identifiers', () => {
  it('normalises logins and e-mail addresses as people type them', () => {
    expect(normaliseLogin('  JDupont ')).toBe('jdupont');
    expect(normaliseLogin('ｊｄｕｐｏｎｔ')).toBe('jdupont');
    expect(normaliseEmail(' Jean.Dupont@Hopital.Example ')).toBe('jean.dupont@hopital.example');
  });

  it.each(['jdupont', 'j.dupont', 'jean_dupont-2', 'ab', '0abc', 'a'.repeat(63)])('accepts the login %j', (login) => {
    expect(isValidLogin(login)).toBe(true);
  });

  it.each(['a', 'JDupont', '.dupont', '-dupont', 'jean dupont', 'jean@dupont', 'jéan', 'a'.repeat(64), ''])('refuses the login %j', (login) => {
    expect(isValidLogin(login)).toBe(false);
  });

  it.each(['jean.dupont@hopital.fr', 'a+b@sub.example.org', 'x@y.co'])('accepts the address %j', (email) => {
    expect(isValidEmail(email)).toBe(true);
  });

  it.each(['jean', 'jean@', '@hopital.fr', 'jean@hopital', 'jean dupont@hopital.fr', 'a@@b.fr', 'jean@hopital.f', `${'a'.repeat(65)}@b.fr`, `a@${'b'.repeat(250)}.fr`])(
    'refuses the address %j',
    (email) => {
      expect(isValidEmail(email)).toBe(false);
    },
  );
});
