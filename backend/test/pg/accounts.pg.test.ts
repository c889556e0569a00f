import { pgDatabase } from '../helpers/databases.js';
import { accountsSuite } from '../suites/accounts.suite.js';

accountsSuite(pgDatabase);
