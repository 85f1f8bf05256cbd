/**
 * The /api/v1 routes' JSON Schemas: fastify validates requests with them, and the OpenAPI document is
 * built from the very same objects (see openapi.ts). Strings are bounded; bodies refuse unknown fields.
 */
import { RIGHTS } from '../../flows/establishments.ts';

const uuid = { type: 'string', format: 'uuid', maxLength: 36 } as const;
const right = { type: 'string', enum: RIGHTS } as const;
const rights = { type: 'array', items: right, minItems: 1, maxItems: RIGHTS.length, uniqueItems: true } as const;
const page = { type: 'integer', minimum: 1, maximum: 100_000, default: 1 } as const;

export const PER_PAGE = 50;

const error = {
  type: 'object',
  required: ['error'],
  properties: {
    error: {
      type: 'object',
      required: ['code', 'message'],
      properties: {
        code: { type: 'string' },
        message: { type: 'string' },
        fields: { type: 'array', items: { type: 'object', required: ['field', 'message'], properties: { field: { type: 'string' }, message: { type: 'string' } } } },
      },
    },
  },
} as const;

const establishment = {
  type: 'object',
  properties: { id: uuid, name: { type: 'string' }, finess: { type: ['string', 'null'] }, status: { type: 'string', enum: ['active', 'closed'] } },
} as const;

const user = {
  type: 'object',
  properties: {
    id: uuid, login: { type: 'string' }, name: { type: 'string' }, email: { type: 'string' },
    rights: { type: 'array', items: right },
    status: { type: 'string', enum: ['active', 'disabled', 'locked', 'temporary-password', 'temporary-password-expired'] },
  },
} as const;

const pagination = { page: { type: 'integer' }, perPage: { type: 'integer' }, total: { type: 'integer' } } as const;

export interface RouteSpec {
  method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  url: string;
  summary: string;
  /** Validated by fastify. */
  schema: { params?: object; querystring?: object; body?: object };
  /** Documented only: replies are built by hand, never filtered by a serializer. */
  responses: Record<string, { description: string; schema?: object }>;
  public?: boolean;
}

const estParams = { type: 'object', required: ['id'], additionalProperties: false, properties: { id: uuid } } as const;
const userParams = { type: 'object', required: ['id', 'userId'], additionalProperties: false, properties: { id: uuid, userId: uuid } } as const;
const notFound = { description: 'Inconnu, ou hors du périmètre du jeton', schema: error };
const badRequest = { description: 'Données invalides (détail par champ)', schema: error };

export const ROUTES = {
  establishments: {
    method: 'GET', url: '/establishments', summary: 'Établissements du périmètre du jeton', schema: {},
    responses: { 200: { description: 'Liste', schema: { type: 'object', properties: { establishments: { type: 'array', items: establishment } } } } },
  },
  users: {
    method: 'GET', url: '/establishments/:id/users', summary: 'Utilisateurs d’un établissement (paginé, recherche ?q)',
    schema: {
      params: estParams,
      querystring: { type: 'object', additionalProperties: false, properties: { page, q: { type: 'string', maxLength: 100 } } },
    },
    responses: {
      200: { description: 'Une page', schema: { type: 'object', properties: { ...pagination, users: { type: 'array', items: user } } } },
      400: badRequest, 404: notFound,
    },
  },
  createUser: {
    method: 'POST', url: '/establishments/:id/users', summary: 'Crée un compte avec des droits sur l’établissement (identifiant et mot de passe provisoire envoyés dans deux mails)',
    schema: {
      params: estParams,
      body: {
        type: 'object', additionalProperties: false, required: ['login', 'email', 'name', 'rights'],
        properties: {
          login: { type: 'string', minLength: 2, maxLength: 63 },
          email: { type: 'string', minLength: 3, maxLength: 254 },
          name: { type: 'string', minLength: 1, maxLength: 200 },
          rights,
        },
      },
    },
    responses: {
      201: { description: 'Créé', schema: { type: 'object', properties: { id: uuid } } },
      400: badRequest, 404: notFound, 409: { description: 'Identifiant ou e-mail déjà utilisé', schema: error },
    },
  },
  setRights: {
    method: 'PUT', url: '/establishments/:id/users/:userId/rights', summary: 'Remplace les droits de l’utilisateur sur l’établissement',
    schema: { params: userParams, body: { type: 'object', additionalProperties: false, required: ['rights'], properties: { rights } } },
    responses: {
      200: { description: 'Droits en place', schema: { type: 'object', properties: { id: uuid, rights: { type: 'array', items: right } } } },
      400: badRequest, 404: notFound,
    },
  },
  removeUser: {
    method: 'DELETE', url: '/establishments/:id/users/:userId', summary: 'Retire l’utilisateur de l’établissement (le compte est supprimé s’il n’appartient plus à aucun établissement et n’a pas de rôle de la plateforme)',
    schema: { params: userParams },
    responses: { 204: { description: 'Retiré' }, 404: notFound },
  },
  audit: {
    method: 'GET', url: '/establishments/:id/audit', summary: 'Journal d’audit de l’établissement (paginé)',
    schema: {
      params: estParams,
      querystring: {
        type: 'object', additionalProperties: false,
        properties: { page, from: { type: 'string', format: 'date-time', maxLength: 40 }, to: { type: 'string', format: 'date-time', maxLength: 40 }, type: { type: 'string', maxLength: 64 } },
      },
    },
    responses: {
      200: {
        description: 'Une page, du plus récent au plus ancien',
        schema: {
          type: 'object',
          properties: {
            ...pagination,
            events: { type: 'array', items: { type: 'object', properties: { id: { type: 'string' }, at: { type: 'string', format: 'date-time' }, type: { type: 'string' }, userId: { type: ['string', 'null'] }, actorId: { type: ['string', 'null'] }, details: { type: 'object' } } } },
          },
        },
      },
      400: badRequest, 404: notFound,
    },
  },
  invitations: {
    method: 'GET', url: '/establishments/:id/invitations', summary: 'Invitations en attente de l’établissement',
    schema: { params: estParams },
    responses: {
      200: {
        description: 'Liste',
        schema: { type: 'object', properties: { invitations: { type: 'array', items: { type: 'object', properties: { id: uuid, email: { type: 'string' }, name: { type: 'string' }, rights: { type: 'array', items: right }, existingUser: { type: 'boolean' }, createdAt: { type: 'string', format: 'date-time' }, expiresAt: { type: 'string', format: 'date-time' }, expired: { type: 'boolean' } } } } } },
      },
      404: notFound,
    },
  },
  invite: {
    method: 'POST', url: '/establishments/:id/invitations', summary: 'Invite une personne (nouvelle, ou titulaire d’un compte avec cette adresse) avec des droits sur l’établissement ; un lien à usage unique part par mail',
    schema: {
      params: estParams,
      body: {
        type: 'object', additionalProperties: false, required: ['email', 'name', 'rights'],
        properties: { email: { type: 'string', minLength: 3, maxLength: 254 }, name: { type: 'string', minLength: 1, maxLength: 200 }, rights },
      },
    },
    responses: {
      201: { description: 'Invitation envoyée', schema: { type: 'object', properties: { id: uuid, existingUser: { type: 'boolean' } } } },
      400: badRequest, 404: notFound, 409: { description: 'Déjà membre de l’établissement', schema: error },
    },
  },
  cancelInvitation: {
    method: 'DELETE', url: '/establishments/:id/invitations/:invitationId', summary: 'Annule une invitation en attente (le lien cesse de fonctionner)',
    schema: { params: { type: 'object', required: ['id', 'invitationId'], additionalProperties: false, properties: { id: uuid, invitationId: uuid } } },
    responses: { 204: { description: 'Annulée' }, 404: notFound },
  },
  openapi: {
    method: 'GET', url: '/openapi.json', summary: 'Ce document', schema: {}, public: true,
    responses: { 200: { description: 'Document OpenAPI 3.1' } },
  },
} satisfies Record<string, RouteSpec>;

export const ERROR_SCHEMA = error;
