/** "Firefox sur Windows": enough for a person to recognise their own device in « Mon compte ». */
export function describeDevice(userAgent: string, lang: 'fr' | 'en' = 'fr'): string {
  const ua = userAgent || '';
  const browser = /Edg\//.test(ua) ? 'Edge'
    : /OPR\//.test(ua) ? 'Opera'
      : /Firefox\//.test(ua) ? 'Firefox'
        : /Chrome\/|Chromium\//.test(ua) ? 'Chrome'
          : /Safari\//.test(ua) ? 'Safari'
            : ua === 'sesame-cli' ? 'CLI' : (lang === 'fr' ? 'Navigateur inconnu' : 'Unknown browser');
  const system = /Windows/.test(ua) ? 'Windows'
    : /Android/.test(ua) ? 'Android'
      : /iPhone|iPad/.test(ua) ? 'iOS'
        : /Mac OS X|Macintosh/.test(ua) ? 'macOS'
          : /Linux/.test(ua) ? 'Linux' : '';
  return system ? `${browser} ${lang === 'fr' ? 'sur' : 'on'} ${system}` : browser;
}

export function formatDate(date: Date, lang: 'fr' | 'en'): string {
  return new Intl.DateTimeFormat(lang === 'fr' ? 'fr-FR' : 'en-GB', {
    dateStyle: 'short', timeStyle: 'short', timeZone: 'Europe/Paris',
  }).format(date);
}
