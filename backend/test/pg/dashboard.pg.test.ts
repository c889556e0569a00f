import { pgDatabase } from '../helpers/databases.js';
import { dashboardSuite } from '../suites/dashboard.suite.js';

dashboardSuite(pgDatabase);
