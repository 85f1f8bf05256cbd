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

// Building an Intl.DateTimeFormat costs far more than using one (« Mon compte » formats ~20 dates a page).
const DATE_FORMATS = {
  fr: new Intl.DateTimeFormat('fr-FR', { dateStyle: 'short', timeStyle: 'short', timeZone: 'Europe/Paris' }),
  en: new Intl.DateTimeFormat('en-GB', { dateStyle: 'short', timeStyle: 'short', timeZone: 'Europe/Paris' }),
};

export function formatDate(date: Date, lang: 'fr' | 'en'): string {
  return (lang === 'fr' ? DATE_FORMATS.fr : DATE_FORMATS.en).format(date);
}
