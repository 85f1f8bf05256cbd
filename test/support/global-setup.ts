// vitest globalSetup: one PostgreSQL server for the whole run (or
// TEST_DATABASE_URL). Test files get its superuser URL with
// `inject('pgAdminUrl')` and create their own database on it with
// createTestDatabase() from ./postgres.ts.

import type { TestProject } from 'vitest/node';
import { startPostgres } from './postgres.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    pgAdminUrl: string;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const pg = await startPostgres();
  project.provide('pgAdminUrl', pg.url);
  return async () => {
    await pg.stop();
  };
}
