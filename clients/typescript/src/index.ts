export { FastWsClient, FastWsError } from "./client.js";
export type {
  ClientEventName,
  ClientEvents,
  CloseEvent,
  FastWsClientOptions,
  GapEvent,
  OpenEvent,
  ResetEvent,
  Subscription,
  TokenRefreshReason,
  WebSocketConstructor,
  WebSocketLike,
} from "./client.js";
export { backoffDelay, seededRandom, DEFAULT_BACKOFF, DEFAULT_POLICY_BACKOFF } from "./backoff.js";
export type { BackoffOptions } from "./backoff.js";
export type * from "./types.js";
