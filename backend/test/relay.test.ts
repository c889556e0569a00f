import { sqliteDatabase } from './helpers/databases.js';
import { relaySuite } from './suites/relay.suite.js';

relaySuite(sqliteDatabase);
