/** Identifiers and e-mail addresses are compared without case, as people type them. */
export function normaliseLogin(login: string): string {
  return login.normalize('NFKC').trim().toLowerCase();
}

export function normaliseEmail(email: string): string {
  return email.normalize('NFKC').trim().toLowerCase();
}

export const LOGIN_PATTERN = /^[a-z0-9][a-z0-9._-]{1,62}$/;
// Deliberately simple: one @, no spaces, a dot in the domain. The mail that follows proves the rest.
export const EMAIL_PATTERN = /^[^\s@]{1,64}@[^\s@]{1,190}\.[^\s@.]{2,63}$/;

export function isValidLogin(login: string): boolean {
  return LOGIN_PATTERN.test(login);
}

export function isValidEmail(email: string): boolean {
  return email.length <= 254 && EMAIL_PATTERN.test(email);
}
