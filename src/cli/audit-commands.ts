import fs from 'node:fs';
import { once } from 'node:events';
import { parseArgs } from 'node:util';
import type { Context } from '../context.ts';
import { csvExport, purgeAudit, resolveFilters, startExport, type AuditFilterInput } from '../flows/audit-log.ts';
import { CLI_ORIGIN } from '../store/audit.ts';
import type { Output } from './commands.ts';

export const AUDIT_USAGE = {
  export: 'Usage : sesame audit export [--from AAAA-MM-JJ] [--to AAAA-MM-JJ] [--user IDENTIFIANT] [--type TYPE] [--output FICHIER]\n'
    + 'Exporte le journal d’audit en CSV (UTF-8 avec BOM, séparateur « ; »), sur la sortie standard ou dans FICHIER.\n'
    + 'Les dates sont des jours de Paris, bornes incluses. L’export est lui-même enregistré dans le journal.',
  purge: 'Usage : sesame audit purge [--dry-run]\n'
    + 'Supprime les événements plus anciens que SESAME_AUDIT_RETENTION (365 jours par défaut) et enregistre la purge.\n'
    + 'Avec --dry-run, compte seulement les événements qui seraient supprimés.',
} as const;

const EXIT = { ok: 0, refused: 1, usage: 2 } as const;
const OPTION_OF: Record<string, string> = { utilisateur: '--user', type: '--type', du: '--from', au: '--to' };
const CODE_TEXT: Record<string, string> = {
  'audit-unknown-user': 'ne désigne aucun compte',
  'audit-bad-type': "n'est pas un type d'événement connu",
  'audit-bad-date': "n'est pas une date valide (AAAA-MM-JJ)",
  'audit-bad-period': 'est antérieure à --from',
};

export function auditHelp(action: string | undefined): string {
  return action === 'export' || action === 'purge' ? AUDIT_USAGE[action] : `${AUDIT_USAGE.export}\n\n${AUDIT_USAGE.purge}`;
}

export async function runAuditCommand(ctx: Context, action: string | undefined, rest: string[], io: Output): Promise<number> {
  if (action !== 'export' && action !== 'purge') {
    io.err(`Sous-commande inconnue : audit ${action ?? ''}\n${auditHelp(undefined)}`);
    return EXIT.usage;
  }
  let values: Record<string, string | boolean | (string | boolean)[] | undefined>;
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({
      args: rest, allowPositionals: true, strict: true,
      options: action === 'export'
        ? { from: { type: 'string' }, to: { type: 'string' }, user: { type: 'string' }, type: { type: 'string' }, output: { type: 'string' }, help: { type: 'boolean', short: 'h' } }
        : { 'dry-run': { type: 'boolean' }, help: { type: 'boolean', short: 'h' } },
    }));
  } catch (err) {
    io.err(`${(err as Error).message}\n${AUDIT_USAGE[action]}`);
    return EXIT.usage;
  }
  if (values.help) {
    io.out(AUDIT_USAGE[action]);
    return EXIT.ok;
  }
  if (positionals.length > 0) {
    io.err(`Argument inattendu : ${positionals.join(' ')}\n${AUDIT_USAGE[action]}`);
    return EXIT.usage;
  }
  if (action === 'purge') {
    const dryRun = Boolean(values['dry-run']);
    const { count, before } = await purgeAudit(ctx, CLI_ORIGIN, dryRun);
    const day = before.toISOString().slice(0, 10);
    io.out(dryRun ? `${count} événement(s) antérieur(s) au ${day} seraient supprimés (rien n'a été supprimé).` : `${count} événement(s) antérieur(s) au ${day} supprimé(s). La purge est enregistrée dans le journal.`);
    return EXIT.ok;
  }
  const str = (k: string) => (typeof values[k] === 'string' ? (values[k] as string) : undefined);
  const input: AuditFilterInput = { utilisateur: str('user'), type: str('type'), du: str('from'), au: str('to') };
  const resolved = await resolveFilters(ctx.db, input);
  if (!resolved.ok) {
    const shown: Record<string, string | undefined> = { utilisateur: input.utilisateur, type: input.type, du: input.du, au: input.au };
    for (const e of resolved.errors) io.err(`${OPTION_OF[e.field] ?? e.field} « ${shown[e.field] ?? ''} » ${CODE_TEXT[e.code] ?? e.code}.`);
    return EXIT.refused;
  }
  const output = str('output');
  let file: fs.WriteStream | undefined;
  if (output) {
    file = fs.createWriteStream(output, { flags: 'w', mode: 0o600 });
    try {
      await once(file, 'open');
    } catch (err) {
      io.err(`--output « ${output} » : impossible d'écrire ce fichier (${(err as NodeJS.ErrnoException).code ?? 'erreur'}).`);
      return EXIT.refused;
    }
  }
  const upTo = await startExport(ctx, input, null, CLI_ORIGIN, 'cli');
  let rows = -1;
  try {
    for await (const chunk of csvExport(ctx.db, resolved.filters, upTo)) {
      rows += chunk.split('\r\n').length - 1;
      if (file) {
        if (!file.write(chunk)) await once(file, 'drain');
      } else {
        // io.out adds the final "\n": the chunk's lines keep their "\r\n".
        io.out(chunk.endsWith('\n') ? chunk.slice(0, -1) : chunk);
      }
    }
  } finally {
    if (file) {
      file.end();
      await once(file, 'finish');
    }
  }
  if (file) io.err(`${rows} événement(s) exporté(s) dans ${output}.`);
  return EXIT.ok;
}
