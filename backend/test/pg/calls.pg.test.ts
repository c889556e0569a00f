import { pgDatabase } from '../helpers/databases.js';
import { callsSuite } from '../suites/calls.suite.js';

callsSuite(pgDatabase);
