import { sqliteDatabase } from './helpers/databases.js';
import { accountsSuite } from './suites/accounts.suite.js';

accountsSuite(sqliteDatabase);
