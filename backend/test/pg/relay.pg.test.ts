import { pgDatabase } from '../helpers/databases.js';
import { relaySuite } from '../suites/relay.suite.js';

relaySuite(pgDatabase);
