/** The core side of the interactive view (no terminal code): see service.ts. */
export {
  InstanceService,
  type InstanceServiceOptions,
  type InstanceSummary,
  type InstanceState,
  type ListState,
  type ActionResult,
  type ServiceListener,
} from './service.js';
export { buildInstanceView, marksOf, driftSummary, type InstanceView, type LiveStatus, type DeviceMark, type DriftSummary, type ViewInputs, type NextPlaces } from './view.js';
export { deviceDetail, deviceAt, runtimeEntryOf, placeText, hexSlot, type DeviceDetail, type MapPlace, type RuntimeEntry } from './detail.js';
export { whatIf, currentParams, kvmCmdFor, checkParams, type WhatIfParams, type WhatIfResult } from './whatif.js';
export { checkDiskPath, checkMac, checkLink, completePath, commonPrefix, diskPathSyntaxProblem, type FieldCheck } from './validate.js';
