/** Durations written as operators write them: "30s", "5m", "24h", "7d" (or a bare number of seconds). */
const UNIT_MS = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

export function parseDuration(text: string): number | undefined {
  const match = /^\s*(\d{1,9})\s*([smhd]?)\s*$/.exec(text);
  if (!match) return undefined;
  const amount = Number(match[1]);
  const unit = (match[2] || 's') as keyof typeof UNIT_MS;
  return amount * UNIT_MS[unit];
}

/** "15 minutes", "24 heures", "7 jours": how a duration reads in a French sentence. */
export function describeDuration(ms: number, lang: 'fr' | 'en' = 'fr'): string {
  const words = lang === 'fr'
    ? { d: ['jour', 'jours'], h: ['heure', 'heures'], m: ['minute', 'minutes'], s: ['seconde', 'secondes'] }
    : { d: ['day', 'days'], h: ['hour', 'hours'], m: ['minute', 'minutes'], s: ['second', 'seconds'] };
  for (const unit of ['d', 'h', 'm', 's'] as const) {
    const size = UNIT_MS[unit];
    // One day reads « 24 heures » (« valable que 24 heures »), not « 1 jour ».
    if (ms >= size && ms % size === 0 && !(unit === 'd' && ms === size)) {
      const n = ms / size;
      return `${n} ${words[unit][n > 1 ? 1 : 0]}`;
    }
  }
  const minutes = Math.max(1, Math.ceil(ms / 60_000));
  return `${minutes} ${words.m[minutes > 1 ? 1 : 0]}`;
}
