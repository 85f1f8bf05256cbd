/**
 * The "same browser on the same device" of seed 004, as far as a server can tell: the browser's family
 * and the operating system, without versions (an update must not cancel the trust).
 */
export function browserFamily(userAgent: string): string {
  const ua = userAgent || '';
  const browser = /Edg\//.test(ua) ? 'edge'
    : /OPR\//.test(ua) ? 'opera'
      : /Firefox\//.test(ua) ? 'firefox'
        : /Chrome\/|Chromium\//.test(ua) ? 'chrome'
          : /Safari\//.test(ua) ? 'safari'
            : 'other';
  const system = /Windows/.test(ua) ? 'windows'
    : /Android/.test(ua) ? 'android'
      : /iPhone|iPad/.test(ua) ? 'ios'
        : /Mac OS X|Macintosh/.test(ua) ? 'macos'
          : /CrOS/.test(ua) ? 'chromeos'
            : /Linux/.test(ua) ? 'linux' : 'other';
  return `${browser}/${system}`;
}
