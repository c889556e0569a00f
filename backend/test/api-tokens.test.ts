import { sqliteDatabase } from './helpers/databases.js';
import { apiTokensSuite } from './suites/api-tokens.suite.js';

apiTokensSuite(sqliteDatabase);
