/** Reads one text field of a parsed form, whatever was posted: arrays, objects, NUL bytes, huge values. */
export function field(body: unknown, name: string, maxLength = 4096): string {
  if (!body || typeof body !== 'object') return '';
  const value = (body as Record<string, unknown>)[name];
  if (typeof value !== 'string') return '';
  // PostgreSQL text cannot hold NUL; nothing legitimate contains it.
  const clean = value.includes('\u0000') ? value.replace(/\u0000/g, '') : value;
  return clean.length > maxLength ? clean.slice(0, maxLength + 1) : clean;
}

export function checked(body: unknown, name: string): boolean {
  return field(body, name, 16) !== '';
}

/** Only a path on this site may be a redirection target. */
export function safeLocalPath(value: unknown, fallback = '/'): string {
  if (typeof value !== 'string' || !value.startsWith('/') || value.startsWith('//') || value.includes('\\') || value.length > 512) {
    return fallback;
  }
  return value;
}

/** Tokens never reach a log line: any 43-character base64url run in a path is masked, the query dropped. */
export function loggablePath(url: string): string {
  return url.split('?')[0]!.replace(/[A-Za-z0-9_-]{43}/g, '[jeton]').slice(0, 200);
}
