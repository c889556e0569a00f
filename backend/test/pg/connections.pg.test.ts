import { pgDatabase } from '../helpers/databases.js';
import { connectionsSuite } from '../suites/connections.suite.js';

connectionsSuite(pgDatabase);
