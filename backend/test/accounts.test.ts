import { accountsSuite } from './suites/accounts.suite.js';

accountsSuite('SQLite', async () => ({ env: {}, cleanup: async () => undefined }));
