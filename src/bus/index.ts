/**
 * The bus model: what is on `pci.0` and `scsi.0` of an instance, what is wrong with it, and where
 * a hot-added disk or NIC goes.
 */
export type * from './types.js';
export * from './controllers.js';
export * from './kvmcmd.js';
export * from './model.js';
export * from './allocate.js';
