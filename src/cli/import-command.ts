import { parseArgs } from 'node:util';
import type { Context } from '../context.ts';
import { importUsers } from '../flows/import-users.ts';
import { CLI_ORIGIN } from '../store/audit.ts';
import type { Output } from './commands.ts';

export const IMPORT_USAGE = `Usage : sesame user import FICHIER.csv --establishment ID
Importe des comptes dans un établissement. En-tête : nom,email,droits (séparateur « , » ou « ; »),
droits séparés par « | » (admin, patient-data, member), UTF-8 avec ou sans BOM.
Toutes les lignes sont vérifiées d'abord : à la moindre erreur, rien n'est importé et toutes les erreurs
sont listées avec leur numéro de ligne. Un compte nouveau reçoit deux mails (identifiant, puis mot de
passe provisoire) ; l'identifiant vient de la partie locale de l'e-mail. Une adresse déjà connue reçoit
les droits manquants. Relancer le même fichier ne crée rien de plus.`;

const EXIT = { ok: 0, refused: 1, usage: 2 } as const;
const MAX_ERRORS_SHOWN = 1000;

export interface ImportIo extends Output {
  /** Where the progress bar goes (stderr, when it is a terminal). */
  progress?: ((text: string) => void) | undefined;
}

export async function runImportCommand(ctx: Context, rest: string[], io: ImportIo): Promise<number> {
  let values: { establishment?: string | undefined; help?: boolean | undefined };
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({
      args: rest, allowPositionals: true, strict: true,
      options: { establishment: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
    }));
  } catch (err) {
    io.err(`${(err as Error).message}\n${IMPORT_USAGE}`);
    return EXIT.usage;
  }
  if (values.help) {
    io.out(IMPORT_USAGE);
    return EXIT.ok;
  }
  if (positionals.length !== 1 || !values.establishment) {
    io.err(`${!values.establishment ? 'Option manquante : --establishment' : 'Un seul fichier attendu'}\n${IMPORT_USAGE}`);
    return EXIT.usage;
  }
  const progress = io.progress ?? (process.stderr.isTTY ? (text: string) => process.stderr.write(text) : undefined);
  const started = Date.now();
  const result = await importUsers(ctx, positionals[0]!, values.establishment, CLI_ORIGIN, {
    onProgress: progress ? (done, total) => progress(bar(done, total) + (done >= total ? '\n' : '')) : undefined,
  });
  if (!result.ok) {
    if (result.reason !== 'invalid-rows') {
      io.err(result.message);
      return EXIT.refused;
    }
    for (const e of result.errors.slice(0, MAX_ERRORS_SHOWN)) io.err(`ligne ${e.line} : ${e.message}`);
    if (result.errors.length > MAX_ERRORS_SHOWN) io.err(`… et ${result.errors.length - MAX_ERRORS_SHOWN} autre(s) erreur(s).`);
    io.err(`${result.errors.length} erreur(s) : rien n'a été importé. Corrigez le fichier puis relancez.`);
    return EXIT.refused;
  }
  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  const parts = [`${result.created} compte(s) créé(s)`, `${result.updated} compte(s) existant(s) complété(s)`, `${result.unchanged} déjà à jour`];
  io.out(`${result.rows} ligne(s) : ${parts.join(', ')} (${seconds} s).${result.created + result.updated === 0 ? ' Rien à faire : déjà à jour.' : ''}`);
  return EXIT.ok;
}

function bar(done: number, total: number): string {
  const width = 30;
  const ratio = total === 0 ? 1 : done / total;
  const full = Math.round(ratio * width);
  return `\r[${'#'.repeat(full)}${'.'.repeat(width - full)}] ${done}/${total}`;
}
