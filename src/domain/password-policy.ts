/**
 * The password policy of the seeds (at least 12 characters, a digit, an upper-case, a lower-case and a
 * special character) plus what NIST 800-63B and ASVS add: long passwords allowed, Unicode normalised,
 * common and personal passwords refused. Pure: the common-password list is passed in.
 */
export const MAX_PASSWORD_LENGTH = 512;

export type PolicyRule =
  | 'min-length'
  | 'max-length'
  | 'digit'
  | 'upper'
  | 'lower'
  | 'special'
  | 'common'
  | 'personal';

export interface PolicySettings {
  minLength: number;
  /** Character classes demanded by the seeds; on by default. */
  requireClasses: boolean;
}

export interface PersonalData {
  login?: string;
  email?: string;
  name?: string;
}

export interface CommonPasswordList {
  has(normalisedLowerCase: string): boolean;
}

export function normalisePassword(password: string): string {
  return password.normalize('NFKC');
}

export function passwordLength(password: string): number {
  return Array.from(password).length;
}

/** The rules shown beside the form, in order; `common` and `personal` are checked but not ticked live. */
export function displayedRules(settings: PolicySettings): PolicyRule[] {
  const rules: PolicyRule[] = ['min-length'];
  if (settings.requireClasses) rules.push('digit', 'upper', 'lower', 'special');
  return rules;
}

/** Returns every rule the password breaks (empty when it is acceptable). */
export function checkPassword(
  rawPassword: string,
  settings: PolicySettings,
  personal: PersonalData,
  common: CommonPasswordList,
): PolicyRule[] {
  const password = normalisePassword(rawPassword);
  const broken: PolicyRule[] = [];
  const length = passwordLength(password);
  if (length < settings.minLength) broken.push('min-length');
  if (length > MAX_PASSWORD_LENGTH) broken.push('max-length');
  if (settings.requireClasses) {
    if (!/\p{Nd}/u.test(password)) broken.push('digit');
    if (!/\p{Lu}/u.test(password)) broken.push('upper');
    if (!/\p{Ll}/u.test(password)) broken.push('lower');
    if (!/[^\p{L}\p{N}]/u.test(password)) broken.push('special');
  }
  if (length <= MAX_PASSWORD_LENGTH) {
    const lower = password.toLocaleLowerCase('fr');
    if (common.has(lower)) broken.push('common');
    if (personalFragments(personal).some((fragment) => lower.includes(fragment))) broken.push('personal');
  }
  return broken;
}

/** Identifier, e-mail, its local part and each word of the name of at least 3 letters. */
export function personalFragments(personal: PersonalData): string[] {
  const fragments = new Set<string>();
  const add = (value: string | undefined) => {
    const v = value?.normalize('NFKC').toLocaleLowerCase('fr').trim();
    if (v && Array.from(v).length >= 3) fragments.add(v);
  };
  add(personal.login);
  add(personal.email);
  add(personal.email?.split('@')[0]);
  for (const word of (personal.name ?? '').split(/[\s'’\-.,]+/u)) add(word);
  return [...fragments];
}
