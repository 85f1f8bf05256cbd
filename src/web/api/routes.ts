import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { resolveApiToken, type ApiToken } from '../../flows/api-tokens.ts';
import { findEstablishment } from '../../flows/establishments.ts';
import { createMember, establishmentEvents, listMembers, removeMember, replaceRights, type Actor } from '../../flows/establishment-users.ts';
import { cancelEstablishmentInvitation, pendingInvitationsOf, sendInvitation } from '../../flows/invitations.ts';
import { HasherBusyError } from '../../security/hasher.ts';
import type { RightName } from '../../store/schema.ts';
import { API_PREFIX, openApiDocument } from './openapi.ts';
import { PER_PAGE, ROUTES, type RouteSpec } from './schemas.ts';

/**
 * /api/v1: JSON in and out, a bearer token instead of a session, no CSRF (no cookie is looked at), and
 * every request confined to the token's establishments — anything outside answers 404, as if it did
 * not exist. Registered as its own plugin so that its errors are JSON, never the HTML pages.
 */

interface FieldMessage { field: string; message: string }

class ApiError extends Error {
  constructor(readonly status: number, readonly code: string, message: string, readonly fields?: FieldMessage[]) {
    super(message);
  }
}

const NOT_FOUND = () => new ApiError(404, 'not-found', 'Ressource introuvable.');

const FIELD_LABELS: Record<string, string> = {
  login: 'L’identifiant', email: 'L’adresse e-mail', name: 'Le nom', rights: 'Les droits', page: 'Le numéro de page',
  q: 'La recherche', from: 'La date de début', to: 'La date de fin', type: 'Le type d’événement',
};

const CODE_MESSAGES: Record<string, string> = {
  'invalid-login': 'n’est pas un identifiant valide (2 à 63 caractères : lettres minuscules, chiffres, « . », « _ » ou « - »).',
  'invalid-email': 'n’est pas une adresse e-mail valide.',
  'invalid-name': 'doit contenir un nom (200 caractères au plus).',
  'invalid-rights': 'doivent être choisis parmi admin, patient-data et member (au moins un).',
  'login-taken': 'est déjà utilisé par un autre compte.',
  'email-taken': 'est déjà utilisée par un autre compte.',
};

function message(field: string, code: string): string {
  return `${FIELD_LABELS[field] ?? field} ${CODE_MESSAGES[code] ?? 'est invalide.'}`;
}

declare module 'fastify' {
  interface FastifyRequest {
    apiToken: ApiToken | null;
  }
}

function actor(req: FastifyRequest): Actor {
  return { origin: req.origin, actorId: null, details: { apiToken: req.apiToken!.id } };
}

function page(query: unknown): number {
  return (query as { page?: number }).page ?? 1;
}

export async function apiRoutes(app: FastifyInstance): Promise<void> {
  const { ctx } = app;
  app.decorateRequest('apiToken', null);

  app.setErrorHandler((error: FastifyError, req, reply) => sendError(error, req, reply));
  app.setNotFoundHandler((_req, reply) => sendError(NOT_FOUND(), _req, reply));

  const routeOf = (spec: RouteSpec) => ({ method: spec.method, url: spec.url, schema: spec.schema, config: { csrf: false } });

  // Who is calling, before anything else (validation included): a request without a live token learns nothing.
  app.addHook('onRequest', async (req) => {
    if ((req.routeOptions.url ?? '') === API_PREFIX + ROUTES.openapi.url) return;
    const header = req.headers.authorization;
    const match = typeof header === 'string' ? /^Bearer\s+(\S{1,200})\s*$/i.exec(header) : null;
    const token = match ? await resolveApiToken(ctx, match[1]!) : null;
    if (!token) throw new ApiError(401, 'unauthorized', 'Jeton d’accès absent, inconnu ou révoqué.');
    req.apiToken = token;
  });

  // An establishment outside the token's scope, or one that does not exist: the same 404.
  app.addHook('preValidation', async (req) => {
    const id = (req.params as { id?: string } | undefined)?.id;
    if (id !== undefined && (!req.apiToken!.establishmentIds.includes(id.toLowerCase()) || !(await findEstablishment(ctx.db, id)))) throw NOT_FOUND();
    // fastify's validator drops unknown fields silently (removeAdditional): here they are refused instead.
    const schema = req.routeOptions.schema?.body as { additionalProperties?: boolean; properties?: Record<string, unknown> } | undefined;
    if (schema?.additionalProperties === false && req.body && typeof req.body === 'object' && !Array.isArray(req.body)) {
      const unknown = Object.keys(req.body).filter((k) => !(k in (schema.properties ?? {})));
      if (unknown.length > 0) {
        throw new ApiError(400, 'invalid', 'Certaines données sont invalides.', unknown.map((field) => ({ field: field.slice(0, 64), message: `Le champ « ${field.slice(0, 64)} » n’est pas attendu.` })));
      }
    }
  });

  app.route({
    ...routeOf(ROUTES.openapi),
    handler: async () => openApiDocument(ctx.config.publicUrl.href.replace(/\/$/, '') + API_PREFIX, ctx.brand.portalName ?? 'Sésame'),
  });

  app.route({
    ...routeOf(ROUTES.establishments),
    handler: async (req) => {
      const ids = req.apiToken!.establishmentIds;
      const rows = await ctx.db.selectFrom('establishments').select(['id', 'name', 'finess', 'status'])
        .where('id', 'in', ids).orderBy('name').execute();
      return { establishments: rows };
    },
  });

  app.route({
    ...routeOf(ROUTES.users),
    handler: async (req) => {
      const { id } = req.params as { id: string };
      const q = (req.query as { q?: string }).q;
      const p = page(req.query);
      const result = await listMembers(ctx.db, id, { page: p, perPage: PER_PAGE, q }, ctx.clock.now());
      return { page: p, perPage: PER_PAGE, total: result.total, users: result.users };
    },
  });

  app.route({
    ...routeOf(ROUTES.createUser),
    handler: async (req, reply) => {
      const { id } = req.params as { id: string };
      const body = req.body as { login: string; email: string; name: string; rights: RightName[] };
      const result = await createMember(ctx, id, body, actor(req));
      if (!result.ok) {
        const taken = result.errors.some((e) => e.code.endsWith('-taken'));
        const fields = result.errors.map((e) => ({ field: e.field, message: message(e.field, e.code) }));
        throw taken
          ? new ApiError(409, 'conflict', 'Un compte utilise déjà cet identifiant ou cette adresse e-mail.', fields)
          : new ApiError(400, 'invalid', 'Certaines données sont invalides.', fields);
      }
      return reply.code(201).send({ id: result.userId });
    },
  });

  app.route({
    ...routeOf(ROUTES.setRights),
    handler: async (req) => {
      const { id, userId } = req.params as { id: string; userId: string };
      const { rights } = req.body as { rights: RightName[] };
      const outcome = await replaceRights(ctx, id, userId.toLowerCase(), rights, actor(req));
      if (outcome === 'unknown') throw NOT_FOUND();
      return { id: userId.toLowerCase(), rights: [...new Set(rights)].sort() };
    },
  });

  app.route({
    ...routeOf(ROUTES.removeUser),
    handler: async (req, reply) => {
      const { id, userId } = req.params as { id: string; userId: string };
      const outcome = await removeMember(ctx, id, userId.toLowerCase(), actor(req));
      if (outcome === 'unknown') throw NOT_FOUND();
      return reply.code(204).send();
    },
  });

  app.route({
    ...routeOf(ROUTES.invitations),
    handler: async (req) => {
      const { id } = req.params as { id: string };
      return { invitations: await pendingInvitationsOf(ctx.db, id, ctx.clock.now()) };
    },
  });

  app.route({
    ...routeOf(ROUTES.invite),
    handler: async (req, reply) => {
      const { id } = req.params as { id: string };
      const body = req.body as { email: string; name: string; rights: RightName[] };
      // The token's scope was checked in preValidation: no administrator to check here.
      const result = await sendInvitation(ctx, null, id, { kind: 'new', name: body.name, email: body.email, login: '', rights: body.rights }, req.origin, { apiToken: req.apiToken!.id });
      if (!result.ok) {
        const member = result.errors.some((e) => e.code === 'already-member');
        const apiField = (f: string) => ({ nom: 'name', droits: 'rights', identifiant: 'login' } as Record<string, string>)[f] ?? f;
        const fields = result.errors.map((e) => ({ field: apiField(e.field), message: member ? 'Cette personne est déjà membre de l’établissement.' : message(apiField(e.field), e.code) }));
        throw member ? new ApiError(409, 'conflict', 'Cette personne est déjà membre de l’établissement.', fields) : new ApiError(400, 'invalid', 'Certaines données sont invalides.', fields);
      }
      return reply.code(201).send({ id: result.invitationId, existingUser: result.existing });
    },
  });

  app.route({
    ...routeOf(ROUTES.cancelInvitation),
    handler: async (req, reply) => {
      const { id, invitationId } = req.params as { id: string; invitationId: string };
      if (!(await cancelEstablishmentInvitation(ctx, id, invitationId.toLowerCase(), req.origin, { apiToken: req.apiToken!.id }))) throw NOT_FOUND();
      return reply.code(204).send();
    },
  });

  app.route({
    ...routeOf(ROUTES.audit),
    handler: async (req) => {
      const { id } = req.params as { id: string };
      const query = req.query as { from?: string; to?: string; type?: string };
      const p = page(req.query);
      const result = await establishmentEvents(ctx.db, id, {
        page: p, perPage: PER_PAGE, type: query.type,
        from: query.from ? new Date(query.from) : undefined,
        to: query.to ? new Date(query.to) : undefined,
      });
      return { page: p, perPage: PER_PAGE, total: result.total, events: result.events };
    },
  });
}

/** fastify's validation errors, reworded in French field by field. */
function validationFields(error: FastifyError): FieldMessage[] {
  return (error.validation ?? []).map((v) => {
    const params = v.params as Record<string, unknown>;
    const path = v.instancePath.replace(/^\//, '').split('/')[0] ?? '';
    if (v.keyword === 'required') {
      const field = String(params.missingProperty);
      return { field, message: `${FIELD_LABELS[field] ?? `Le champ « ${field} »`} est obligatoire.` };
    }
    if (v.keyword === 'additionalProperties') {
      const field = String(params.additionalProperty);
      return { field, message: `Le champ « ${field} » n’est pas attendu.` };
    }
    const field = path || 'body';
    const label = FIELD_LABELS[field] ?? `Le champ « ${field} »`;
    const text: Record<string, string> = {
      maxLength: `${label} est trop long (${String(params.limit)} caractères au plus).`,
      minLength: `${label} est trop court (${String(params.limit)} caractère(s) au moins).`,
      enum: `${label} : valeur inconnue (attendu : ${((params.allowedValues as string[] | undefined) ?? []).join(', ')}).`,
      type: `${label} n’a pas le bon type (attendu : ${String(params.type)}).`,
      minItems: `${label} : au moins ${String(params.limit)} valeur(s).`,
      maxItems: `${label} : au plus ${String(params.limit)} valeurs.`,
      uniqueItems: `${label} : une valeur est répétée.`,
      format: `${label} n’est pas au format attendu (${String(params.format)}).`,
      minimum: `${label} doit valoir au moins ${String(params.limit)}.`,
      maximum: `${label} doit valoir au plus ${String(params.limit)}.`,
    };
    return { field, message: text[v.keyword] ?? `${label} est invalide.` };
  });
}

function sendError(error: FastifyError | ApiError, req: FastifyRequest, reply: FastifyReply) {
  const body = (status: number, code: string, msg: string, fields?: FieldMessage[]) =>
    reply.code(status).type('application/json; charset=utf-8').send({ error: { code, message: msg, ...(fields?.length ? { fields } : {}) } });
  if (error instanceof ApiError) {
    if (error.status === 401) reply.header('WWW-Authenticate', 'Bearer');
    return body(error.status, error.code, error.message, error.fields);
  }
  if (error instanceof HasherBusyError) {
    reply.header('Retry-After', '2');
    return body(503, 'busy', 'Le service est momentanément saturé ; réessayez dans quelques secondes.');
  }
  const fe = error as FastifyError;
  if (fe.validation) {
    // A malformed id in the path names nothing: the same 404 as an unknown one.
    if (fe.validationContext === 'params') return body(404, 'not-found', 'Ressource introuvable.');
    return body(400, 'invalid', 'Certaines données sont invalides.', validationFields(fe));
  }
  const status = fe.statusCode ?? 500;
  if (status === 413) return body(413, 'too-large', 'Le corps de la requête est trop volumineux.');
  if (status === 415) return body(415, 'unsupported-media-type', 'Le corps de la requête doit être du JSON (Content-Type: application/json).');
  if (status >= 400 && status < 500) return body(400, 'bad-request', 'Requête invalide (JSON mal formé ?).');
  req.log.error({ err: { message: fe.message, code: fe.code, stack: fe.stack }, path: req.url.split('?')[0] }, 'api request failed');
  return body(500, 'internal', 'Erreur interne ; réessayez plus tard.');
}
