/** Wire types of the FastWs protocol (docs/protocol.md). */

/** A channel position: message `seq` of the channel's `epoch` (seq 0: nothing numbered yet). */
export interface Position {
  epoch: string;
  seq: number;
}

/** Members FastWs adds to every data message, in either format. */
export interface DataFields {
  channel: string;
  seq: number;
  /** Present on a channel's latest message sent to a new subscriber (or after a reset). */
  snapshot?: true;
}

/** A message of a namespace with `Format` `Envelope`: the published JSON value under `data`. */
export interface EnvelopeMessage<T = unknown> extends DataFields {
  type: "message";
  data: T;
}

/** A message of a namespace with `Format` `Inline`: the published object with `channel` and `seq` appended. */
export type InlineMessage<T extends object = Record<string, unknown>> = T & DataFields;

/** Either format, for channels whose namespace the client does not know. */
export type DataMessage = EnvelopeMessage | InlineMessage;

/** `price:<slab>` (conflated, with snapshot). */
export interface PriceEvent {
  type: "price";
  slab: string;
  price: number;
  markPrice: number;
  indexPrice: number;
  timestamp: number;
}

/** `trades:<slab>`. */
export interface TradeEvent {
  type: "trade";
  slab: string;
  side: "buy" | "sell";
  size: number;
  price: number;
  timestamp: number;
}

/** `funding:<slab>` (with snapshot). */
export interface FundingEvent {
  type: "funding";
  slab: string;
  rate: number;
  timestamp: number;
}

/** `intent:<id>`. */
export interface IntentUpdateEvent {
  type: "intent_update";
  intentId: string;
  status: string;
  details?: unknown;
}

/** `market_data`. */
export interface MarketDataEvent {
  type: "market_data";
  data: Record<string, unknown>;
  timestamp: number;
}

/** `system_alerts`. */
export interface SystemAlertEvent {
  type: "system_alert";
  kind: string;
  message: string;
  severity: "info" | "warning" | "critical";
  timestamp: number;
}

/**
 * The message type a handler receives for a channel name, by the default namespaces (all `Inline`).
 * Channels of other namespaces get `DataMessage`; pass a type argument to `subscribe` to narrow them.
 */
export type ChannelMessage<C extends string> = C extends `price:${string}`
  ? InlineMessage<PriceEvent>
  : C extends `trades:${string}`
    ? InlineMessage<TradeEvent>
    : C extends `funding:${string}`
      ? InlineMessage<FundingEvent>
      : C extends `intent:${string}`
        ? InlineMessage<IntentUpdateEvent>
        : C extends "market_data"
          ? InlineMessage<MarketDataEvent>
          : C extends "system_alerts"
            ? InlineMessage<SystemAlertEvent>
            : C extends `user:${string}` | `solver:${string}`
              ? InlineMessage
              : DataMessage;

/** Server replies and notices (everything that is not a data message). */
export interface ConnectedMessage {
  type: "connected";
  connectionId: string;
  protocol: string;
  user?: string;
}

export interface SubscribedMessage {
  type: "subscribed";
  channels: string[];
  positions?: Record<string, Position>;
  recovered?: string[];
  notRecovered?: string[];
  id?: number | string;
}

export interface UnsubscribedMessage {
  type: "unsubscribed";
  channels: string[];
  reason?: string;
  id?: number | string;
}

export interface ErrorMessage {
  type: "error";
  code: string;
  message: string;
  channel?: string;
  id?: number | string;
}

export interface GapMessage {
  type: "gap";
  channel: string;
  from: number;
  /** null when the channel's stream restarted in a new epoch (several nodes: Redis lost its state). */
  to: number | null;
}

export interface AuthenticatedMessage {
  type: "authenticated";
  user: string;
  expiresIn?: number;
  id?: number | string;
}

export interface TokenExpiringMessage {
  type: "token_expiring";
  in: number;
}
