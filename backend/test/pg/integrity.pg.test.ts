import { pgDatabase } from '../helpers/databases.js';
import { integritySuite } from '../suites/integrity.suite.js';

integritySuite(pgDatabase);
