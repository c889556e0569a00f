import pg from 'pg';
import { accountsSuite } from '../suites/accounts.suite.js';

/** The accounts suite against the local PostgreSQL, in a database made for this run and dropped after it. */
const ADMIN_URL = process.env.TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

accountsSuite('PostgreSQL', async () => {
  const name = `vicer_test_${process.pid}_${Date.now()}`;
  const client = new pg.Client({ connectionString: ADMIN_URL });
  try {
    await client.connect();
  } catch (err) {
    throw new Error(`PostgreSQL is not reachable at ${ADMIN_URL} (set TEST_PG_URL): ${(err as Error).message}`);
  }
  await client.query(`CREATE DATABASE ${name}`);
  const url = new URL(ADMIN_URL);
  url.pathname = `/${name}`;
  return {
    env: { DATABASE_URL: url.toString() },
    async cleanup() {
      await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await client.end();
    },
  };
});
