export {
  QmpClient,
  withQmp,
  hmpSucceeded,
  DEFAULT_COMMAND_TIMEOUT_MS,
  DEFAULT_EVENT_TIMEOUT_MS,
  DEFAULT_GREETING_TIMEOUT_MS,
  DEFAULT_MAX_BUFFERED_EVENTS,
  DEFAULT_MAX_LINE_BYTES,
} from './client.js';
export type {
  EventMark,
  EventPredicate,
  HmpOptions,
  QmpCallOptions,
  QmpConnectOptions,
  QmpEvent,
  QmpGreeting,
  QmpVersion,
  WaitForEventOptions,
} from './client.js';
export {
  HmpCommandError,
  QmpAbortedError,
  QmpBusyError,
  QmpCommandError,
  QmpConnectError,
  QmpProtocolError,
  QmpTimeoutError,
} from './errors.js';
export type { QmpConnectFailure, QmpProtocolFailure } from './errors.js';
export { Transcript } from './transcript.js';
export type { TranscriptDirection, TranscriptEntry, TranscriptListener, TranscriptOptions } from './transcript.js';
