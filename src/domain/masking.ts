/**
 * Shows enough of an address for its owner to recognise it and little to anyone else, as the seeds do:
 * "exxxxxx@oxxx.fr". Keeps the first letter of the local part and of the domain, and the top-level domain.
 */
export function maskEmail(email: string): string {
  const at = email.lastIndexOf('@');
  if (at <= 0) return '*'.repeat(Math.max(3, email.length));
  const local = email.slice(0, at);
  const domain = email.slice(at + 1);
  const dot = domain.lastIndexOf('.');
  const host = dot > 0 ? domain.slice(0, dot) : domain;
  const tld = dot > 0 ? domain.slice(dot) : '';
  return `${maskWord(local)}@${maskWord(host)}${tld}`;
}

function maskWord(word: string): string {
  const chars = Array.from(word);
  if (chars.length === 0) return '';
  return chars[0] + 'x'.repeat(Math.max(2, chars.length - 1));
}

/** "+33612345678" → "+33 6 •• •• •• 78". */
export function maskPhone(e164: string): string {
  const digits = e164.replace(/[^\d]/g, '');
  if (digits.length < 4) return '••••';
  return `+${digits.slice(0, 2)} ${digits.slice(2, 3)} •• •• •• ${digits.slice(-2)}`;
}
