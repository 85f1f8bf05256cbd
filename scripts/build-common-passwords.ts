/**
 * Builds src/security/common-passwords.txt, the list of common passwords the policy refuses.
 *
 * Why generated: real breach lists are made of short, all-lower-case passwords ("azerty", "soleil",
 * "password1"); almost none of them satisfies our policy (12+ characters, digit, upper, lower, special),
 * so a raw leaked list would block nothing. Users forced into such a policy do not invent new passwords,
 * they dress up the same ones: "Azerty123456!", "Motdepasse1!", "Bonjour@2024", "P@ssw0rd2025".
 * Password crackers (hashcat/John rules) exploit exactly that, so we do the same: take the most common
 * bases and apply the mutations people really use, rank the results, and keep those that pass the policy.
 *
 * Where the data comes from (nothing is downloaded, all of it is already a dependency):
 *  - @zxcvbn-ts/language-common `passwords-common`: ~49 000 real breach-derived passwords, most frequent
 *    first (the zxcvbn list). Its rank gives the base weight, 1 / (rank + 20), damped ×0.2 because the
 *    list is international and English-heavy ("baseball", "jennifer") while our users are French.
 *  - @zxcvbn-ts/language-fr: `lastnames-fr` — despite its key it holds ~2 500 French GIVEN names
 *    (the package swapped the two keys; `firstnames-fr` holds surnames), alphabetical, not ranked;
 *    `commonWords-fr` — French words by frequency in subtitles (OpenSubtitles/OPUS, ODC-BY);
 *    `months-fr`, `seasons-fr`, `daysOfWeek-fr`.
 *  - Hand-curated French/English bases below (keyboard walks, "motdepasse", pet names, cities with their
 *    département, health-care vocabulary, the product's own name, common French given names...), each given
 *    a pseudo-rank on the same scale as the breach list, because the audience is French health workers.
 *
 * Ranking: score = base weight × form weight (capitalised, leet, CamelCase, accented) × pattern weight
 * (word+digits+special, word+digits, word+separator+digits, ...) × digit-run weight (1, 123, 1234, years
 * peaking on recent ones, département numbers...) × special-character weight ("!" first). Scores of the
 * same password reached by several derivations are added; duplicates are merged case-insensitively
 * (keeping the most likely spelling). The top N that pass the policy are written, most likely first.
 *
 * Deterministic: no clock, no randomness (REFERENCE_YEAR is a constant — bump it and re-run once a year),
 * ties broken by code-unit order. Run: `npx tsx scripts/build-common-passwords.ts`.
 */
import { writeFileSync } from 'node:fs';
import { dictionary as commonDictionary } from '@zxcvbn-ts/language-common';
import { dictionary as frenchDictionary } from '@zxcvbn-ts/language-fr';
import { checkPassword } from '../src/domain/password-policy.ts';

const OUTPUT = new URL('../src/security/common-passwords.txt', import.meta.url);
/** How many passwords are shipped. */
const TARGET_COUNT = 20_000;
/** The "current" year for the year weights; a constant so the output does not depend on the clock. */
const REFERENCE_YEAR = 2026;
const POLICY = { minLength: 12, requireClasses: true };
const NO_COMMON = { has: () => false };

// ---------------------------------------------------------------------------------------------------------
// Bases
// ---------------------------------------------------------------------------------------------------------

interface Base {
  /** Lower-case, as typed (accent-free unless `accented` says otherwise). */
  word: string;
  weight: number;
  /** Accented spelling ("hôpital"), offered as a less likely variant. */
  accented?: string;
  /** CamelCase spelling ("MotDePasse") for multi-word bases. */
  camel?: string;
  /** Months and seasons: mostly followed by a year ("Janvier2025!"). */
  period?: boolean;
  /** Cities and regions: often followed by their département number ("Marseille13!"). */
  departement?: string;
}

const rankWeight = (rank: number) => 1 / (rank + 20);
/** Weight of a breach-list entry relative to a curated base of the same rank. */
const BREACH_LIST_DAMPING = 0.2;

function stripAccents(s: string): string {
  return s.replace(/œ/g, 'oe').replace(/æ/g, 'ae').normalize('NFD').replace(/\p{M}/gu, '').normalize('NFC');
}

/**
 * Hand-curated bases, in decreasing estimated popularity; "|" separates the words of a multi-word base.
 * Each group starts at a pseudo-rank and steps through it, on the scale of the breach list's ranks.
 */
const CURATED: Array<{ start: number; step: number; words: string[] }> = [
  {
    // The classics, French first.
    start: 1,
    step: 3,
    words: [
      'mot|de|passe', 'azerty', 'password', 'bonjour', 'soleil', 'bienvenue', 'azertyuiop', 'je|t|aime',
      'welcome', 'admin', 'marseille', 'doudou', 'chouchou', 'loulou', 'qwerty', 'nicolas', 'sésame',
      'coucou', 'amour', 'chocolat', 'princesse', 'paris', 'iloveyou', 'changeme', 'secret', 'football',
      'sesame|ouvre|toi', 'motdepasse|temporaire', 'mon|amour', 'liberté', 'famille', 'bisous',
    ],
  },
  {
    // Already-leeted classics, the first thing people reach for under a "special character" rule.
    start: 30,
    step: 15,
    words: ['p@ssw0rd', 'p@ssword', 'passw0rd', 'm0tdepasse', 'motdep@sse', 'azerty@', 'p@ss', 'adm1n'],
  },
  {
    // Health-care and workplace vocabulary of our users.
    start: 40,
    step: 4,
    words: [
      'hôpital', 'santé', 'infirmière', 'infirmier', 'médecin', 'docteur', 'pharmacie', 'clinique', 'chu',
      'urgences', 'patient', 'cabinet', 'sesam|vitale', 'carte|vitale', 'ameli', 'ehpad', 'aphp', 'kiné',
      'sage|femme', 'dentiste', 'pharmacien', 'pharmacienne', 'médical', 'médicale', 'soins', 'ordonnance',
      'doctolib', 'ms|santé', 'hospitalier', 'aide|soignante', 'aide|soignant', 'radiologie', 'laboratoire',
      'labo', 'bloc', 'réanimation', 'pédiatrie', 'psychiatrie', 'maternité', 'urgence', 'stéthoscope',
    ],
  },
  {
    // Rarer health-care words.
    start: 300,
    step: 25,
    words: [
      'médecine', 'généraliste', 'orthophoniste', 'ostéopathe', 'psychologue', 'consultation',
      'secrétariat', 'accueil', 'kinésithérapeute', 'infirmière|libérale', 'centre|hospitalier',
    ],
  },
  {
    // Account and IT words, defaults.
    start: 60,
    step: 6,
    words: [
      'administrateur', 'utilisateur', 'change|moi', 'provisoire', 'temporaire', 'nouveau', 'bienvenu',
      'test', 'demo', 'default', 'travail', 'bureau', 'service', 'compte', 'connexion', 'accès', 'portail',
      'intranet', 'login', 'user', 'root', 'master', 'letmein', 'superman', 'motdepasse|oublie', 'passe',
      'pass|word', 'secure', 'security', 'sécurité', 'internet', 'ordinateur', 'informatique', 'windows',
      'orange', 'free', 'wanadoo', 'google', 'facebook', 'azerty|qwerty', 'passpass', 'toto', 'tutu', 'titi',
    ],
  },
  {
    // Affection, family, pets.
    start: 70,
    step: 7,
    words: [
      'chéri', 'chérie', 'mamour', 'mon|coeur', 'bébé', 'maman', 'papa', 'mamie', 'papy', 'enfants',
      'minou', 'titou', 'chaton', 'nounours', 'choupette', 'doudoune', 'poupette', 'puce', 'ma|puce',
      'bisou', 'câlin', 'trésor', 'toutou', 'chipie', 'chouchoute', 'fifille', 'bonheur',
      'cocotte', 'mimi', 'nana', 'lolo', 'juju', 'nono', 'fanfan', 'didou', 'filou', 'caramel', 'nutella',
    ],
  },
  {
    // Frequent French words and themes.
    start: 110,
    step: 8,
    words: [
      'france', 'vacances', 'nature', 'musique', 'plage', 'montagne', 'océan', 'étoile', 'lune', 'fleur',
      'papillon', 'dauphin', 'cheval', 'chien', 'chat', 'lapin', 'tigre', 'lion', 'panthère', 'loup',
      'dragon', 'ange', 'diable', 'démon', 'prince', 'licorne', 'vanille', 'fraise', 'cerise', 'pomme',
      'banane', 'citron', 'pizza', 'bretagne', 'corse', 'alsace', 'provence', 'normandie', 'savoie',
      'olympique', 'allez|l|om', 'psg', 'bleus', 'allez|les|bleus', 'champion', 'victoire', 'merci', 'salut',
      'bonsoir', 'toujours', 'jamais', 'espoir', 'avenir', 'paradis', 'printemps', 'arc|en|ciel', 'nuage',
      'bisounours', 'pikachu', 'pokemon', 'naruto', 'harry|potter', 'star|wars', 'mickey', 'minnie', 'simba',
      'rouge', 'bleu', 'vert', 'noir', 'blanc', 'violet', 'rose', 'jaune', 'bordeaux', 'bonne|année',
      'joyeux|noël', 'noël', 'anniversaire', 'bon|anniversaire', 'fromage', 'baguette', 'croissant',
    ],
  },
  {
    // Keyboard walks (AZERTY first).
    start: 90,
    step: 10,
    words: [
      'azer', 'azert', 'azertyu', 'azertyui', 'qsdfghjklm', 'qsdfgh', 'qsdf', 'wxcvbn', 'aqwzsx', 'azqswx',
      'qwertyuiop', 'asdfgh', 'asdfghjkl', 'zxcvbn', 'zxcvbnm', 'qwertz', 'qazwsx', 'poiuyt', 'mlkjhg',
      'abcdef', 'abcd', 'abc', 'azertyqwerty',
    ],
  },
];

/** Common French given names of today's working adults (and of their children), most common first. */
const FIRST_NAMES_F = [
  'marie', 'nathalie', 'isabelle', 'sylvie', 'catherine', 'sandrine', 'christine', 'valérie', 'stéphanie',
  'céline', 'sophie', 'véronique', 'julie', 'aurélie', 'virginie', 'laurence', 'émilie', 'caroline',
  'camille', 'laura', 'patricia', 'martine', 'nicole', 'françoise', 'hélène', 'anne', 'christelle',
  'karine', 'delphine', 'élodie', 'audrey', 'mélanie', 'laetitia', 'marion', 'pauline', 'sarah', 'manon',
  'chloé', 'emma', 'léa', 'inès', 'jade', 'louise', 'alice', 'lucie', 'claire', 'cécile', 'corinne',
  'florence', 'brigitte', 'dominique', 'chantal', 'séverine', 'agnès', 'béatrice', 'charlotte', 'mathilde',
  'justine', 'amandine', 'jessica', 'vanessa', 'mélissa', 'marine', 'clara', 'anaïs', 'océane', 'margaux',
  'lola', 'lina', 'nina', 'zoé', 'sabrina', 'fatima', 'nadia', 'sonia', 'myriam', 'morgane', 'coralie',
];
const FIRST_NAMES_M = [
  'nicolas', 'julien', 'christophe', 'stéphane', 'sébastien', 'laurent', 'frédéric', 'david', 'thomas',
  'philippe', 'pierre', 'jean', 'michel', 'alain', 'patrick', 'éric', 'olivier', 'guillaume', 'alexandre',
  'vincent', 'jérôme', 'françois', 'mathieu', 'romain', 'maxime', 'antoine', 'kevin', 'anthony',
  'benjamin', 'jérémy', 'florian', 'adrien', 'damien', 'cédric', 'fabrice', 'franck', 'thierry', 'pascal',
  'didier', 'bruno', 'gilles', 'daniel', 'bernard', 'christian', 'jacques', 'gérard', 'serge', 'yves',
  'hugo', 'lucas', 'louis', 'gabriel', 'léo', 'raphaël', 'arthur', 'jules', 'nathan', 'enzo', 'théo',
  'tom', 'paul', 'ethan', 'noah', 'mathis', 'clément', 'quentin', 'baptiste', 'valentin', 'alexis',
  'victor', 'martin', 'simon', 'jonathan', 'dylan', 'loïc', 'yann', 'cyril', 'arnaud', 'fabien', 'xavier',
  'ludovic', 'grégory', 'sylvain', 'emmanuel', 'mickaël', 'matthieu', 'benoît', 'samuel', 'yannick',
  'thibault', 'mehdi', 'karim', 'mohamed', 'sofiane',
];

/** Cities and regions with the département number people attach to them. */
const PLACES: Array<[string, string, number]> = [
  ['marseille', '13', 20], ['paris', '75', 25], ['lyon', '69', 60], ['toulouse', '31', 80],
  ['nice', '06', 120], ['nantes', '44', 150], ['strasbourg', '67', 160], ['montpellier', '34', 160],
  ['bordeaux', '33', 130], ['lille', '59', 170], ['rennes', '35', 200], ['reims', '51', 300],
  ['toulon', '83', 300], ['grenoble', '38', 300], ['dijon', '21', 350], ['angers', '49', 350],
  ['nîmes', '30', 400], ['brest', '29', 400], ['limoges', '87', 400], ['tours', '37', 450],
  ['amiens', '80', 450], ['perpignan', '66', 450], ['metz', '57', 450], ['besançon', '25', 500],
  ['orléans', '45', 500], ['rouen', '76', 500], ['caen', '14', 500], ['nancy', '54', 500],
  ['ajaccio', '20', 600], ['bastia', '20', 600], ['corse', '20', 400], ['bretagne', '29', 400],
  ['guadeloupe', '971', 500], ['martinique', '972', 500], ['guyane', '973', 600], ['réunion', '974', 400],
  ['mayotte', '976', 800], ['lens', '62', 600], ['avignon', '84', 600], ['poitiers', '86', 600],
  ['clermont', '63', 600], ['lorient', '56', 700], ['vannes', '56', 700], ['bayonne', '64', 700],
  ['pau', '64', 700], ['biarritz', '64', 700], ['cannes', '06', 600], ['antibes', '06', 800],
  ['calais', '62', 800], ['dunkerque', '59', 800], ['valence', '26', 800], ['chambéry', '73', 800],
];

function buildBases(): Base[] {
  const bases = new Map<string, Base>();
  const add = (raw: string, weight: number, extra: Partial<Base> = {}) => {
    const parts = raw.toLocaleLowerCase('fr').split('|');
    const joined = parts.join('');
    const word = stripAccents(joined);
    if ((word.match(/[a-z]/g) ?? []).length < 3) return;
    const accented = joined !== word ? joined : undefined;
    const camel = parts.length > 1 ? parts.map((p) => capitalise(stripAccents(p))).join('') : undefined;
    const existing = bases.get(word);
    if (existing) {
      existing.weight = Math.max(existing.weight, weight);
      existing.accented ??= accented;
      existing.camel ??= camel;
      if (extra.period) existing.period = true;
      existing.departement ??= extra.departement;
    } else {
      bases.set(word, { word, weight, ...(accented ? { accented } : {}), ...(camel ? { camel } : {}), ...extra });
    }
  };

  // 1. Curated bases.
  for (const group of CURATED) group.words.forEach((w, i) => add(w, rankWeight(group.start + i * group.step)));
  const maxNames = Math.max(FIRST_NAMES_F.length, FIRST_NAMES_M.length);
  for (let i = 0; i < maxNames; i++) {
    for (const name of [FIRST_NAMES_F[i], FIRST_NAMES_M[i]]) if (name) add(name, rankWeight(80 + i * 12));
  }
  for (const [place, dept, rank] of PLACES) add(place, rankWeight(rank), { departement: dept });
  const periods = [
    ...frenchDictionary['months-fr'], ...frenchDictionary['seasons-fr'],
    'summer', 'winter', 'spring', 'autumn', 'january', 'february', 'march', 'april', 'june', 'july',
    'august', 'september', 'october', 'november', 'december',
  ];
  periods.forEach((p, i) => add(p, rankWeight(100 + i * 10), { period: true }));
  frenchDictionary['daysOfWeek-fr'].forEach((d, i) => add(d, rankWeight(800 + i * 50)));

  // 2. The breach list. It is international and mostly English-speaking ("baseball", "jennifer"), so it is
  //    damped against the curated French bases above (which already hold the classics French users share
  //    with it: "password", "qwerty", "azerty", "soleil"...). French entries cannot be told apart reliably
  //    (the French subtitle words and given names include "baseball", "michael"...), so the damping is flat.
  commonDictionary['passwords-common'].forEach((pw, rank) => {
    if (/^[a-z0-9!@#$%&*._?-]+$/.test(pw)) add(pw, rankWeight(rank) * BREACH_LIST_DAMPING);
  });

  // 3. French given names not in the breach list (the dictionary is alphabetical, so no ranking inside).
  for (const name of frenchDictionary['lastnames-fr']) if (!name.includes('-')) add(name, rankWeight(20_000));

  // 4. Frequent French words (subtitle frequency), far behind.
  frenchDictionary['commonWords-fr'].slice(0, 10_000).forEach((w, rank) => {
    if (/^\p{Ll}{5,}$/u.test(w)) add(w, rankWeight(30_000 + rank * 2));
  });

  return [...bases.values()];
}

// ---------------------------------------------------------------------------------------------------------
// Forms of the word: capitalised, leet, CamelCase, accented
// ---------------------------------------------------------------------------------------------------------

function capitalise(s: string): string {
  const i = s.search(/\p{L}/u);
  if (i < 0) return s;
  return s.slice(0, i) + s.charAt(i).toLocaleUpperCase('fr') + s.slice(i + 1);
}

/** Leet substitutions applied to the capitalised word (the capital itself is kept), with their weight. */
const LEET: Array<{ map: Record<string, string>; weight: number }> = [
  { map: { a: '@' }, weight: 0.12 },
  { map: { a: '@', o: '0' }, weight: 0.1 },
  { map: { o: '0' }, weight: 0.06 },
  { map: { e: '3' }, weight: 0.04 },
  { map: { i: '1' }, weight: 0.03 },
  { map: { s: '$' }, weight: 0.03 },
  { map: { a: '@', o: '0', e: '3', i: '1' }, weight: 0.03 },
  { map: { a: '@', o: '0', e: '3', i: '1', s: '$' }, weight: 0.02 },
];

function forms(base: Base): Array<{ text: string; weight: number }> {
  const out = new Map<string, number>();
  const put = (text: string, weight: number) => out.set(text, Math.max(out.get(text) ?? 0, weight));
  const startsWithLetter = /^\p{L}/u.test(base.word);
  const cap = capitalise(base.word);
  const w0 = startsWithLetter ? 1 : 0.5;
  put(cap, w0);
  if (base.camel) put(base.camel, 0.25 * w0);
  if (base.accented) put(capitalise(base.accented), 0.15 * w0);
  for (const { map, weight } of LEET) {
    const leet = cap.charAt(0) + [...cap.slice(1)].map((ch) => map[ch] ?? ch).join('');
    if (leet !== cap) put(leet, weight * w0);
  }
  return [...out].map(([text, weight]) => ({ text, weight }));
}

// ---------------------------------------------------------------------------------------------------------
// Suffixes and prefixes
// ---------------------------------------------------------------------------------------------------------

/** Digit runs and their relative likelihood; several reasons for the same run add up. */
function digitRuns(): Map<string, number> {
  const runs = new Map<string, number>();
  const add = (d: string, w: number) => runs.set(d, (runs.get(d) ?? 0) + w);
  const fixed: Array<[string, number]> = [
    ['1', 1], ['123', 0.9], ['1234', 0.55], ['12', 0.4], ['123456', 0.4], ['12345', 0.3], ['2', 0.15],
    ['01', 0.12], ['7', 0.1], ['12345678', 0.1], ['123456789', 0.1], ['0', 0.08], ['3', 0.08],
    ['00', 0.06], ['11', 0.06], ['1234567', 0.06], ['4', 0.05], ['5', 0.05], ['6', 0.05], ['8', 0.05],
    ['9', 0.05], ['13', 0.05], ['69', 0.05], ['22', 0.04], ['10', 0.04], ['21', 0.04], ['23', 0.04],
    ['99', 0.04], ['007', 0.04], ['321', 0.04], ['123123', 0.04], ['000', 0.03], ['111', 0.03],
    ['0000', 0.03], ['1111', 0.03], ['1234567890', 0.03], ['2222', 0.01], ['147258369', 0.01],
    ['1010', 0.01], ['1212', 0.01], ['159753', 0.01], ['789', 0.02], ['456', 0.02], ['666', 0.01],
  ];
  for (const [d, w] of fixed) add(d, w);
  for (let y = 1950; y <= 2030; y++) {
    let w: number;
    const age = REFERENCE_YEAR - y;
    if (age >= -1 && age <= 2) w = [0.2, 0.35, 0.35, 0.25][age + 1] ?? 0; // 2027, 2026, 2025, 2024
    else if (y >= 2000 && y < REFERENCE_YEAR) w = 0.04 + (0.06 * (y - 2000)) / (REFERENCE_YEAR - 2000);
    else if (y >= 1960 && y < 2000) w = y >= 1970 && y <= 1995 ? 0.05 : 0.03; // birth years
    else w = 0.015;
    add(String(y), w);
    add(String(y).slice(2), w * 0.3);
  }
  for (let d = 1; d <= 95; d++) add(String(d).padStart(2, '0'), 0.01); // départements
  for (let d = 971; d <= 976; d++) add(String(d), 0.01);
  return runs;
}

const POST_SPECIALS: Array<[string, number]> = [
  ['!', 1], ['@', 0.3], ['.', 0.25], ['*', 0.25], ['#', 0.15], ['$', 0.12], ['?', 0.12], ['_', 0.08],
  ['-', 0.08], ['&', 0.06], ['!!', 0.05], ['+', 0.03], ['%', 0.02], ['/', 0.02], [',', 0.02],
];
const SEPARATORS: Array<[string, number]> = [
  ['@', 1], ['.', 0.6], ['_', 0.5], ['-', 0.5], ['!', 0.3], ['*', 0.3], ['#', 0.25], ['$', 0.1],
  ['&', 0.1], ['+', 0.05], ['/', 0.05],
];
const PRE_SPECIALS: Array<[string, number]> = [
  ['!', 1], ['@', 0.6], ['#', 0.5], ['*', 0.4], ['$', 0.3], ['.', 0.2], ['_', 0.2], ['&', 0.1],
];

interface Mutation {
  pre: string;
  lead: string; // digits before the word
  sep: string;
  digits: string;
  post: string;
  weight: number;
  /** Whether `digits` holds a year from 2000 on (boosted for months and seasons). */
  recentYear: boolean;
}

/**
 * Every way of dressing up a word, with its likelihood:
 *   A  Word + digits + special     "Azerty123!"     1
 *   B  Word + digits               "P@ssword123"    0.5   (the special must come from leet)
 *   C  Word + separator + digits   "Bonjour@2024"   0.3
 *   D  Word + special              "Password1!"     0.5   (the digit must come from the base or leet)
 *   E  special + Word + digits     "!Azerty123"     0.04
 *   F  digits + Word + special     "2024Bonjour!"   0.03
 *   G  Word + sep + digits + "!"   "Bonjour@2024!"  0.04
 */
function mutations(): Mutation[] {
  const runs = [...digitRuns()];
  const out: Mutation[] = [];
  const push = (m: Omit<Mutation, 'recentYear'>) =>
    out.push({ ...m, recentYear: /^(20[0-3]\d|[0-2]\d|30)$/.test(m.digits) });
  const none = { pre: '', lead: '', sep: '', digits: '', post: '' };
  for (const [digits, dw] of runs) {
    for (const [s, sw] of POST_SPECIALS) push({ ...none, digits, post: s, weight: dw * sw });
    push({ ...none, digits, weight: 0.5 * dw });
    for (const [s, sw] of SEPARATORS) {
      push({ ...none, sep: s, digits, weight: 0.3 * dw * sw });
      push({ ...none, sep: s, digits, post: '!', weight: 0.04 * dw * sw });
    }
    for (const [s, sw] of PRE_SPECIALS) push({ ...none, pre: s, digits, weight: 0.04 * dw * sw });
    push({ ...none, lead: digits, post: '!', weight: 0.03 * dw });
  }
  for (const [s, sw] of POST_SPECIALS) push({ ...none, post: s, weight: 0.5 * sw });
  return out.sort((a, b) => b.weight - a.weight || compare(render('', a), render('', b)));
}

function render(word: string, m: Mutation): string {
  return m.pre + m.lead + word + m.sep + m.digits + m.post;
}

const compare = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/** Base-specific adjustment of a mutation; returns at most MAX_ADJUST. */
const MAX_ADJUST = 5;
function adjust(base: Base, m: Mutation): number {
  let f = 1;
  if (base.period && m.recentYear && !m.lead) f *= m.digits.length === 4 ? 5 : 2;
  if (base.departement && m.digits === base.departement) f *= 3;
  if (/\d$/.test(base.word) && m.digits) f *= 0.25; // "azerty1" is seldom followed by more digits
  return Math.min(f, MAX_ADJUST);
}

// ---------------------------------------------------------------------------------------------------------
// Generation
// ---------------------------------------------------------------------------------------------------------

interface Candidate {
  text: string;
  best: number;
  total: number;
}

function generate(bases: Base[], muts: Mutation[], threshold: number): Map<string, Candidate> {
  const found = new Map<string, Candidate>();
  const passes = new Map<string, boolean>();
  for (const base of bases) {
    for (const form of forms(base)) {
      const bf = base.weight * form.weight;
      for (const m of muts) {
        if (bf * m.weight * MAX_ADJUST < threshold) break;
        const score = bf * m.weight * adjust(base, m);
        if (score < threshold) continue;
        const text = render(form.text, m).normalize('NFKC');
        let ok = passes.get(text);
        if (ok === undefined) {
          ok = checkPassword(text, POLICY, {}, NO_COMMON).length === 0;
          passes.set(text, ok);
        }
        if (!ok) continue;
        const key = text.toLocaleLowerCase('fr');
        const c = found.get(key);
        if (!c) found.set(key, { text, best: score, total: score });
        else {
          c.total += score;
          if (score > c.best || (score === c.best && compare(text, c.text) < 0)) {
            c.best = score;
            c.text = text;
          }
        }
      }
    }
  }
  return found;
}

function main() {
  const bases = buildBases().sort((a, b) => b.weight - a.weight || compare(a.word, b.word));
  const muts = mutations();
  let threshold = 1e-4;
  let found = generate(bases, muts, threshold);
  // Lower the bar until enough candidates score above it, so the top N is exact (up to pruned extra
  // derivations of a password, which could only raise its score a little).
  while ([...found.values()].filter((c) => c.total >= threshold).length < TARGET_COUNT) {
    threshold /= 2;
    found = generate(bases, muts, threshold);
  }
  const ranked = [...found.values()]
    .sort((a, b) => b.total - a.total || compare(a.text, b.text))
    .slice(0, TARGET_COUNT)
    .map((c) => c.text);
  writeFileSync(OUTPUT, ranked.join('\n') + '\n', 'utf8');
  console.log(`${ranked.length} passwords written to ${OUTPUT.pathname} (threshold ${threshold})`);
}

main();
