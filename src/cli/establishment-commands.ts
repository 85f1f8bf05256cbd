import { parseArgs } from 'node:util';
import type { Context } from '../context.ts';
import { createEstablishment, grantStaffRole, listEstablishments, type StaffRole } from '../flows/establishments.ts';
import { CLI_ORIGIN } from '../store/audit.ts';
import type { Output } from './commands.ts';

export const ESTABLISHMENT_USAGE = {
  create: 'Usage : sesame establishment create --name NOM [--finess NUMÉRO]\nCrée un établissement et affiche son identifiant. Le numéro FINESS (9 caractères) est vérifié avec sa clé.',
  list: 'Usage : sesame establishment list',
} as const;

export const STAFF_USAGE: Record<StaffRole, string> = {
  'platform-admin': 'Usage : sesame platform-admin IDENTIFIANT\nDonne le rôle d’administrateur de la plateforme (création des établissements).',
  support: 'Usage : sesame support IDENTIFIANT\nDonne le rôle de support technique de la plateforme.',
};

const EXIT = { ok: 0, refused: 1, usage: 2 } as const;

export async function runEstablishmentCommand(ctx: Context, action: string | undefined, rest: string[], io: Output): Promise<number> {
  if (action !== 'create' && action !== 'list') {
    io.err(`Sous-commande inconnue : establishment ${action ?? ''}\n${ESTABLISHMENT_USAGE.create}\n${ESTABLISHMENT_USAGE.list}`);
    return EXIT.usage;
  }
  let values: { name?: string | undefined; finess?: string | undefined; help?: boolean | undefined };
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({
      args: rest, allowPositionals: true, strict: true,
      options: { name: { type: 'string' }, finess: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
    }));
  } catch (err) {
    io.err(`${(err as Error).message}\n${ESTABLISHMENT_USAGE[action]}`);
    return EXIT.usage;
  }
  if (values.help) {
    io.out(ESTABLISHMENT_USAGE[action]);
    return EXIT.ok;
  }
  if (positionals.length > 0) {
    io.err(`Argument inattendu : ${positionals.join(' ')}\n${ESTABLISHMENT_USAGE[action]}`);
    return EXIT.usage;
  }
  if (action === 'list') {
    const rows = await listEstablishments(ctx);
    if (rows.length === 0) {
      io.out('Aucun établissement. Créez le premier avec : sesame establishment create --name "…" [--finess …]');
      return EXIT.ok;
    }
    io.out(['IDENTIFIANT', 'NOM', 'FINESS', 'ÉTAT', 'UTILISATEURS'].join('\t'));
    for (const r of rows) io.out([r.id, r.name, r.finess ?? '-', r.status === 'active' ? 'actif' : 'fermé', String(r.users ?? 0)].join('\t'));
    return EXIT.ok;
  }
  if (!values.name) {
    io.err(`Option manquante : --name\n${ESTABLISHMENT_USAGE.create}`);
    return EXIT.usage;
  }
  const result = await createEstablishment(ctx, { name: values.name, finess: values.finess }, CLI_ORIGIN);
  if (!result.ok) {
    for (const e of result.errors) {
      io.err(e.field === 'finess'
        ? `--finess « ${values.finess} » ${e.code === 'finess-taken' ? 'est déjà celui d’un autre établissement' : 'n’est pas un numéro FINESS valide (9 caractères dont la clé de contrôle)'}.`
        : `--name « ${values.name} » doit contenir un nom (200 caractères au plus).`);
    }
    return EXIT.refused;
  }
  // The id alone on stdout, so that scripts can capture it: ID=$(sesame establishment create …)
  io.out(result.id);
  return EXIT.ok;
}

export async function runStaffCommand(ctx: Context, role: StaffRole, rest: string[], io: Output): Promise<number> {
  if (rest.includes('--help') || rest.includes('-h')) {
    io.out(STAFF_USAGE[role]);
    return EXIT.ok;
  }
  if (rest.length !== 1 || rest[0]!.startsWith('-')) {
    io.err(STAFF_USAGE[role]);
    return EXIT.usage;
  }
  const outcome = await grantStaffRole(ctx, rest[0]!, role, CLI_ORIGIN);
  if (outcome === 'unknown') {
    io.err(`Aucun compte « ${rest[0]} ».`);
    return EXIT.refused;
  }
  io.out(outcome === 'granted' ? `Rôle « ${role} » donné à « ${rest[0]} ».` : `« ${rest[0]} » a déjà le rôle « ${role} ».`);
  return EXIT.ok;
}
