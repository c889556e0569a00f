import { pgDatabase } from '../helpers/databases.js';
import { vehicleAgentSuite } from '../suites/vehicle-agent.suite.js';

vehicleAgentSuite(pgDatabase);
