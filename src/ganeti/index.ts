/**
 * plugboard's side of Ganeti: find the cluster from the node, talk to its RAPI, follow jobs, see an
 * instance as Ganeti does, compare that with the node, and plan the request for an action.
 *
 * This folder imports only src/errors.ts, src/runtime/ (types, ids, names, zod issue messages, the
 * lazy zod loader) and Node; nothing from live/, actions/, tui/, cli/ or components/. Callers that
 * have a live probe turn it into `QemuSide` (compare.ts) themselves.
 */
export * from './errors.js';
export { GANETI_DATA_DIR, isHostName, localNodeName, readSsconf, type Ssconf } from './ssconf.js';
export {
  RAPI_CERT_FILE,
  RAPI_CONFIG_FILE,
  RAPI_ENV,
  RAPI_PORT,
  RapiCredentials,
  parseRapiUrl,
  readPinnedCertificate,
  resolveRapiSettings,
  type RapiSettings,
  type RapiSettingsInput,
  type RapiTls,
} from './settings.js';
export {
  DEFAULT_JOB_TIMEOUT_MS,
  DEFAULT_REQUEST_TIMEOUT_MS,
  RAPI_WAIT_SECONDS,
  RapiClient,
  instancePathName,
  type HttpMethod,
  type RapiClientOptions,
  type RapiLogRecord,
  type RequestOptionsBase,
  type WaitForJobOptions,
} from './rapi.js';
export {
  FINAL_JOB_STATUSES,
  describeJobResult,
  opErrorOf,
  readJobResult,
  type DeviceChange,
  type HotplugOutcome,
  type JobChange,
  type JobLogEntry,
  type JobResult,
} from './job.js';
export { rapiSchemas, type RapiInfo, type RapiInstance, type RapiInstanceInfo, type RapiJob } from './schemas.js';
export { ganetiInstanceOf, ganetiLabel, isRunning, withStaticInfo, type GanetiDisk, type GanetiInstance, type GanetiNic } from './view.js';
export {
  compareWithGaneti,
  type AttributeDifference,
  type GanetiComparison,
  type GanetiDeviceMatch,
  type GanetiMark,
  type GanetiMarkCode,
  type GanetiRepair,
  type NodeSide,
  type QemuSide,
} from './compare.js';
export {
  checkMac,
  formatRequest,
  parseSizeMiB,
  planGanetiRequest,
  type DiskChange,
  type DeviceRef,
  type DiskAddSpec,
  type GanetiAction,
  type GanetiPlan,
  type GanetiRequest,
  type NicAddSpec,
  type NicChange,
  type PlanOptions,
} from './plan.js';
export { oneLine } from './text.js';
