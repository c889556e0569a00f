export * from './permissions.js';
export * from './errors.js';
export * from './validation.js';
export * from './accounts.js';
export * from './relay.js';
export * from './connections.js';
export * from './calls.js';
