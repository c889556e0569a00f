import { sqliteDatabase } from './helpers/databases.js';
import { integritySuite } from './suites/integrity.suite.js';

integritySuite(sqliteDatabase);
