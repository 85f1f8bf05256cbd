import { ERROR_SCHEMA, ROUTES, type RouteSpec } from './schemas.ts';

export const API_PREFIX = '/api/v1';

/** An OpenAPI 3.1 document built from the routes' own validation schemas. */
export function openApiDocument(serverUrl: string, title: string): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const route of Object.values(ROUTES) as RouteSpec[]) {
    const path = API_PREFIX + route.url.replace(/:([A-Za-z]+)/g, '{$1}');
    const parameters = [
      ...objectParameters(route.schema.params, 'path'),
      ...objectParameters(route.schema.querystring, 'query'),
    ];
    paths[path] ??= {};
    paths[path]![route.method.toLowerCase()] = {
      summary: route.summary,
      ...(route.public ? { security: [] } : {}),
      ...(parameters.length ? { parameters } : {}),
      ...(route.schema.body ? { requestBody: { required: true, content: { 'application/json': { schema: route.schema.body } } } } : {}),
      responses: {
        ...Object.fromEntries(Object.entries(route.responses).map(([status, r]) => [status, {
          description: r.description,
          ...(r.schema ? { content: { 'application/json': { schema: r.schema } } } : {}),
        }])),
        ...(route.public ? {} : { 401: { description: 'Jeton absent, inconnu ou révoqué', content: { 'application/json': { schema: ERROR_SCHEMA } } } }),
      },
    };
  }
  return {
    openapi: '3.1.0',
    info: { title: `${title} — API`, version: '1' },
    servers: [{ url: serverUrl.replace(/\/$/, '') }],
    security: [{ bearer: [] }],
    components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'Jeton créé par « sesame api-token create »' } } },
    paths,
  };
}

function objectParameters(schema: object | undefined, where: 'path' | 'query') {
  if (!schema) return [];
  const s = schema as { properties?: Record<string, Record<string, unknown>>; required?: string[] };
  return Object.entries(s.properties ?? {}).map(([name, prop]) => {
    const { default: _default, ...rest } = prop;
    return { name, in: where, required: where === 'path' || (s.required ?? []).includes(name), schema: _default === undefined ? rest : prop };
  });
}
