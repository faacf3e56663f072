import { backoffDelay, DEFAULT_BACKOFF, DEFAULT_POLICY_BACKOFF, type BackoffOptions } from "./backoff.js";
import type {
  AuthenticatedMessage,
  ChannelMessage,
  ConnectedMessage,
  ErrorMessage,
  GapMessage,
  Position,
  SubscribedMessage,
  UnsubscribedMessage,
} from "./types.js";

/** The part of the WebSocket API the client uses: the browser's `WebSocket` and Node's `ws` both have it. */
export interface WebSocketLike {
  readonly readyState: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  onopen: ((event: any) => void) | null;
  onmessage: ((event: { data: any }) => void) | null;
  onclose: ((event: { code: number; reason: string; wasClean?: boolean }) => void) | null;
  onerror: ((event: any) => void) | null;
}

export type WebSocketConstructor = new (url: string, protocols?: string | string[]) => WebSocketLike;

/** Why the token refresh callback is called. */
export type TokenRefreshReason = "expiring" | "expired" | "rejected";

export interface FastWsClientOptions {
  /** The WebSocket class: the browser's by default; in Node 20 pass `WebSocket` from the `ws` package. */
  WebSocket?: WebSocketConstructor;
  /** A JWT. Sent as `tokenTransport` says. */
  token?: string;
  /**
   * How the token reaches the server on each connection: `"message"` (default: a first `{"type":"auth"}` message,
   * keeps it out of URLs and logs), `"url"` (`?token=`), or `"subprotocol"` (`bearer.<token>` next to `fastws.v1`).
   * A refresh on a live connection is always an `auth` message.
   */
  tokenTransport?: "message" | "url" | "subprotocol";
  /**
   * Called for a new token: on `token_expiring` ("expiring"), after close 4002 ("expired") and after close 4001
   * ("rejected"). Return the new token (or a promise of it).
   */
  refreshToken?: (reason: TokenRefreshReason) => string | Promise<string>;
  /** Reconnect delays after ordinary drops. */
  backoff?: Partial<BackoffOptions>;
  /** Reconnect delays after close 1008 (connection or rate limits). */
  policyBackoff?: Partial<BackoffOptions>;
  /** A connection that stays up this long (ms) resets the backoff to its first step. Default 10,000. */
  stableAfter?: number;
  /** Random source for the jitter, [0, 1). Default `Math.random`. */
  random?: () => number;
  /** Send `{"type":"ping"}` when no frame has arrived for this long (ms). Default 15,000. */
  idleTimeout?: number;
  /** Reconnect when nothing at all arrives this long (ms) after that ping. Default 10,000. */
  pongTimeout?: number;
  /** Give up a connection attempt whose `connected` message has not arrived after this long (ms). Default 10,000. */
  connectTimeout?: number;
  /** Reject a subscribe/unsubscribe promise whose answer has not come after this long (ms) on a live connection. Default 10,000. */
  requestTimeout?: number;
  /** Subprotocols to offer besides `fastws.v1` (always offered). */
  protocols?: string[];
}

export interface OpenEvent {
  connectionId: string;
  user?: string;
  /** True for every connection after the first. */
  reconnected: boolean;
}

export interface CloseEvent {
  code: number;
  reason: string;
  /** False when the client stops: `close()` was called, a token was refused (4001/4002 without a new token), or a per-key-group limit closed it. */
  willReconnect: boolean;
  /** Milliseconds until the next attempt (0 when not reconnecting). */
  delay: number;
}

/** The stream of a channel could not be continued (notRecovered): drop its state and start from `snapshot`. */
export interface ResetEvent<M = any> {
  channel: string;
  /** The channel's new position; the next message is `seq` + 1 (the snapshot, when there is one, is `seq`). */
  epoch: string;
  seq: number;
  /** The channel's latest message, `snapshot: true`, where its namespace keeps one (price, funding); else undefined. */
  snapshot: M | undefined;
  /** The position the client held before the reset. */
  previous: Position | undefined;
}

export interface GapEvent {
  channel: string;
  from: number;
  to: number | null; // null: the stream restarted in a new epoch (several nodes), how much was missed is unknown
}

/** An error the server sent, a refused request, or a client-side failure. */
export class FastWsError extends Error {
  /** The server's error code (`forbidden`, `invalid_channel`, `rate_limited`, ...) or a client code (`timeout`, `closed`, `auth_failed`, `socket`, `token_refresh_failed`, `stopped`). */
  readonly code: string;
  readonly channel: string | undefined;
  constructor(code: string, message: string, channel?: string) {
    super(message);
    this.name = "FastWsError";
    this.code = code;
    this.channel = channel;
  }
}

export interface ClientEvents {
  open: OpenEvent;
  close: CloseEvent;
  reset: ResetEvent;
  error: FastWsError;
  gap: GapEvent;
  authenticated: AuthenticatedMessage;
  /** `token_expiring` without a `refreshToken` callback: call `setToken` before it runs out. */
  token_expiring: { in: number };
  /** A message sent to this connection by id (`POST /api/connections/{id}/send`) or any other unrecognised frame. */
  message: unknown;
  /** The server removed subscriptions (a refreshed token lost the role they needed). */
  unsubscribed: { channels: string[]; reason: string };
}

export type ClientEventName = keyof ClientEvents;

export interface Subscription<M = unknown> {
  readonly channel: string;
  /** Resolves with the channel's position when the server acknowledges the subscribe; rejects with `FastWsError` when it refuses it. */
  readonly ready: Promise<Position | undefined>;
  /** Stop this handler; the channel is left on the server when its last handler goes. Resolves on the server's ack. */
  unsubscribe(): Promise<void>;
  /** Only for typing: the message type the handler receives. */
  readonly __message?: M;
}

type Handler = (message: any) => void;

type ChannelStatus =
  | "queued" // to be sent with the next subscribe request on the current socket
  | "subscribing" // subscribe sent, no ack yet
  | "active"
  | "waiting" // the server holds it until the connection's token arrives
  | "recovering" // gap notice: unsubscribe + subscribe with since sent, messages ignored until the ack
  | "regap"; // gap notice: recovery to be sent with the next flush

interface ChannelState {
  channel: string;
  handlers: Set<Handler>;
  status: ChannelStatus;
  epoch: string | undefined;
  seq: number | undefined;
  acked: boolean;
  ready: Promise<Position | undefined>;
  resolveReady: (p: Position | undefined) => void;
  rejectReady: (e: FastWsError) => void;
  /** A notRecovered result whose snapshot may still come. */
  resetPending: { epoch: string; seq: number; previous: Position | undefined } | undefined;
}

interface PendingRequest {
  kind: "subscribe" | "unsubscribe" | "auth";
  channels: string[];
  since: boolean;
  resolve: () => void;
  reject: (e: FastWsError) => void;
  timer: ReturnType<typeof setTimeout> | undefined;
}

const OPEN = 1;
const SUBPROTOCOL = "fastws.v1";
/** 1008 reasons after which reconnecting only repeats the refusal: the per-key-group limit with `KeyGroupLimitAction=Close`. */
const KEY_GROUP_LIMIT = /^At most \d+ subscribers for /;

function noop(): void {}

function isDataMessage(m: any): boolean {
  return m !== null && typeof m === "object" && typeof m.channel === "string" && typeof m.seq === "number";
}

/**
 * A FastWs connection that keeps itself up: it connects on construction, reconnects with capped exponential
 * backoff and full jitter, subscribes again with `since` positions after every reconnect, and hands each
 * channel's handlers a gapless stream, or a `reset` event when the server could not recover the channel.
 */
export class FastWsClient {
  private readonly url: string;
  private readonly WS: WebSocketConstructor;
  private readonly opts: FastWsClientOptions;
  private readonly backoff: BackoffOptions;
  private readonly policyBackoff: BackoffOptions;
  private readonly random: () => number;
  private readonly listeners = new Map<string, Set<(e: any) => void>>();
  private readonly channels = new Map<string, ChannelState>();
  private readonly pending = new Map<number, PendingRequest>();

  private token: string | undefined;
  /** The token the current socket used, to tell whether a new one came after a 4001. */
  private socketToken: string | undefined;
  private ws: WebSocketLike | undefined;
  private connectedOnce = false;
  private connected = false;
  private stopped = false;
  /** Waiting for a new token after 4001/4002: no reconnect until `setToken`. */
  private waitingForToken = false;
  private attempt = 0;
  private nextId = 1;
  private flushQueued = false;
  private barrierId: number | undefined;
  private reconnectTimer: ReturnType<typeof setTimeout> | undefined;
  private stableTimer: ReturnType<typeof setTimeout> | undefined;
  private idleTimer: ReturnType<typeof setTimeout> | undefined;
  private connectTimer: ReturnType<typeof setTimeout> | undefined;
  private retryTimer: ReturnType<typeof setTimeout> | undefined;
  private refreshing: Promise<void> | undefined;

  constructor(url: string, options: FastWsClientOptions = {}) {
    const WS = options.WebSocket ?? (globalThis as any).WebSocket;
    if (typeof WS !== "function") {
      throw new TypeError("FastWsClient: no WebSocket class; in Node 20 pass { WebSocket } from the 'ws' package");
    }
    this.url = url;
    this.WS = WS as WebSocketConstructor;
    this.opts = options;
    this.token = options.token;
    this.backoff = { ...DEFAULT_BACKOFF, ...options.backoff };
    this.policyBackoff = { ...DEFAULT_POLICY_BACKOFF, ...options.policyBackoff };
    this.random = options.random ?? Math.random;
    this.connect();
  }

  /** True while a connection is up (its `connected` message has arrived). */
  get isConnected(): boolean {
    return this.connected;
  }

  /** The last known position of a channel (epoch and the seq of the last message handed to its handlers). */
  position(channel: string): Position | undefined {
    const s = this.channels.get(channel);
    return s && s.epoch !== undefined && s.seq !== undefined ? { epoch: s.epoch, seq: s.seq } : undefined;
  }

  on<E extends ClientEventName>(event: E, handler: (e: ClientEvents[E]) => void): () => void {
    let set = this.listeners.get(event);
    if (!set) this.listeners.set(event, (set = new Set()));
    set.add(handler);
    return () => this.off(event, handler);
  }

  off<E extends ClientEventName>(event: E, handler: (e: ClientEvents[E]) => void): void {
    this.listeners.get(event)?.delete(handler);
  }

  /**
   * Subscribe `handler` to a channel. It receives every data message of the channel as the server sent it (inline
   * object or envelope), each `seq` once and in order. Several handlers may share a channel.
   */
  subscribe<C extends string, M = ChannelMessage<C>>(channel: C, handler: (message: M) => void): Subscription<M> {
    if (this.stopped) throw new FastWsError("stopped", "FastWsClient: subscribe after close()");
    let state = this.channels.get(channel);
    if (!state) {
      let resolveReady!: (p: Position | undefined) => void;
      let rejectReady!: (e: FastWsError) => void;
      const ready = new Promise<Position | undefined>((res, rej) => {
        resolveReady = res;
        rejectReady = rej;
      });
      ready.catch(noop); // a refusal is also reported as an "error" event; an unobserved ready must not crash Node
      state = {
        channel,
        handlers: new Set(),
        status: "queued",
        epoch: undefined,
        seq: undefined,
        acked: false,
        ready,
        resolveReady,
        rejectReady,
        resetPending: undefined,
      };
      this.channels.set(channel, state);
      this.queueFlush();
    }
    const h = handler as Handler;
    state.handlers.add(h);
    const owner = state;
    let done = false;
    return {
      channel,
      ready: state.ready,
      unsubscribe: () => {
        if (done) return Promise.resolve();
        done = true;
        owner.handlers.delete(h);
        if (owner.handlers.size > 0 || this.channels.get(channel) !== owner) return Promise.resolve();
        return this.leave(owner);
      },
    };
  }

  /** Set a new token. On a live connection it is sent at once (`auth`); after a 4001/4002 stop it starts reconnecting. */
  setToken(token: string): void {
    this.token = token;
    if (this.stopped) return;
    if (this.connected && this.ws) {
      this.sendAuth(token);
    } else if (this.waitingForToken) {
      this.waitingForToken = false;
      this.attempt = 0;
      this.scheduleReconnect(0);
    }
  }

  /** Close the connection for good: no reconnect; pending promises reject with `closed`. */
  close(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.clearTimers();
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    this.reconnectTimer = undefined;
    const ws = this.ws;
    this.ws = undefined;
    this.connected = false;
    this.failPending(new FastWsError("closed", "FastWsClient closed"));
    for (const s of this.channels.values()) if (!s.acked) s.rejectReady(new FastWsError("closed", "FastWsClient closed", s.channel));
    if (ws) {
      detach(ws);
      try {
        ws.close(1000, "client closed");
      } catch {
        /* already closing */
      }
    }
    this.emit("close", { code: 1000, reason: "client closed", willReconnect: false, delay: 0 });
  }

  // ---- connection ----

  private connect(): void {
    if (this.stopped) return;
    this.reconnectTimer = undefined;
    const protocols = [SUBPROTOCOL, ...(this.opts.protocols ?? [])];
    const mode = this.opts.tokenTransport ?? "message";
    let url = this.url;
    if (this.token && mode === "url") {
      url += (url.includes("?") ? "&" : "?") + "token=" + encodeURIComponent(this.token);
    } else if (this.token && mode === "subprotocol") {
      protocols.push("bearer." + this.token);
    }
    this.socketToken = this.token;
    let ws: WebSocketLike;
    try {
      ws = new this.WS(url, protocols);
    } catch (e) {
      this.emit("error", new FastWsError("socket", "could not create the WebSocket: " + String(e)));
      this.handleClose(undefined, 1006, "could not create the WebSocket");
      return;
    }
    this.ws = ws;
    this.connectTimer = setTimeout(() => {
      this.abort(ws, `no connected message within ${this.opts.connectTimeout ?? 10_000} ms`);
    }, this.opts.connectTimeout ?? 10_000);
    ws.onopen = () => {
      if (this.ws !== ws) return;
      if (this.token && mode === "message") this.sendAuth(this.token);
      this.queueFlush();
    };
    ws.onmessage = (event) => {
      if (this.ws !== ws) return;
      this.onFrame(ws, event.data);
    };
    ws.onerror = () => {
      // A close event always follows; the close handler reports and reconnects.
    };
    ws.onclose = (event) => {
      if (this.ws !== ws) return;
      this.handleClose(ws, event.code, event.reason ?? "");
    };
  }

  /** Give up a socket that is silent or stuck: drop it at once and handle it as closed with 1006. */
  private abort(ws: WebSocketLike, reason: string): void {
    if (this.ws !== ws) return;
    detach(ws);
    try {
      const t = (ws as any).terminate;
      if (typeof t === "function") t.call(ws);
      else ws.close(4000, "liveness");
    } catch {
      /* closing anyway */
    }
    this.handleClose(ws, 1006, reason);
  }

  private handleClose(ws: WebSocketLike | undefined, code: number, reason: string): void {
    if (ws && this.ws !== ws) return;
    if (ws) detach(ws);
    this.ws = undefined;
    this.connected = false;
    this.clearTimers();
    this.flushResets(); // a reset whose snapshot did not come before the drop is still a reset
    // Requests in flight: unsubscribes are done (nothing is subscribed without a connection); subscribes are sent
    // again on the next connection and resolve then.
    for (const [id, p] of this.pending) {
      if (p.timer) clearTimeout(p.timer);
      if (p.kind === "unsubscribe") p.resolve();
      this.pending.delete(id);
    }
    for (const s of this.channels.values()) s.status = "queued";
    if (this.stopped) return;

    if (code === 4001 || code === 4002) {
      this.onAuthClose(code, reason);
      return;
    }
    if (code === 1008 && KEY_GROUP_LIMIT.test(reason)) {
      this.stop(code, reason, new FastWsError("limit_exceeded", "closed by the server: " + reason));
      return;
    }
    const policy = code === 1008 ? this.policyBackoff : this.backoff;
    const delay = backoffDelay(this.attempt, policy, this.random);
    this.attempt++;
    this.emit("close", { code, reason, willReconnect: true, delay });
    this.scheduleReconnect(delay);
  }

  private onAuthClose(code: number, reason: string): void {
    const refused = this.socketToken;
    if (this.token !== refused && this.token !== undefined) {
      // setToken came while this socket was closing: try the new token.
      const delay = backoffDelay(this.attempt++, this.backoff, this.random);
      this.emit("close", { code, reason, willReconnect: true, delay });
      this.scheduleReconnect(delay);
      return;
    }
    const refresh = this.opts.refreshToken;
    if (!refresh) {
      this.waitForToken(code, reason);
      return;
    }
    this.emit("close", { code, reason, willReconnect: true, delay: 0 });
    this.waitingForToken = true; // until the callback answers
    Promise.resolve()
      .then(() => refresh(code === 4002 ? "expired" : "rejected"))
      .then(
        (token) => {
          if (this.stopped || !this.waitingForToken) return;
          if (typeof token !== "string" || token === "" || token === refused) {
            this.waitingForToken = false;
            this.waitForToken(code, reason, true);
            return;
          }
          this.waitingForToken = false;
          this.token = token;
          // 4002: the token only ran out, come back at once; 4001: a changed token, with the usual backoff.
          const delay = code === 4002 ? 0 : backoffDelay(this.attempt++, this.backoff, this.random);
          this.scheduleReconnect(delay);
        },
        (err) => {
          if (this.stopped || !this.waitingForToken) return;
          this.waitingForToken = false;
          this.emit("error", new FastWsError("token_refresh_failed", "refreshToken failed: " + String(err)));
          this.waitForToken(code, reason, true);
        },
      );
  }

  /** No reconnect until `setToken` gives a new token: reconnecting with the refused one would only loop. */
  private waitForToken(code: number, reason: string, closeAlreadyEmitted = false): void {
    this.waitingForToken = true;
    if (!closeAlreadyEmitted) this.emit("close", { code, reason, willReconnect: false, delay: 0 });
    this.emit(
      "error",
      new FastWsError("auth_failed", `closed with ${code} (${reason}); not reconnecting until setToken() gives a new token`),
    );
  }

  private stop(code: number, reason: string, error: FastWsError): void {
    this.emit("close", { code, reason, willReconnect: false, delay: 0 });
    this.emit("error", error);
    this.stopped = true;
    this.failPending(error);
  }

  private scheduleReconnect(delay: number): void {
    if (this.stopped) return;
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    this.reconnectTimer = setTimeout(() => this.connect(), delay);
  }

  private clearTimers(): void {
    for (const t of [this.stableTimer, this.idleTimer, this.connectTimer, this.retryTimer]) if (t) clearTimeout(t);
    this.stableTimer = this.idleTimer = this.connectTimer = this.retryTimer = undefined;
    this.barrierId = undefined;
    this.flushQueued = false;
  }

  private failPending(error: FastWsError): void {
    for (const p of this.pending.values()) {
      if (p.timer) clearTimeout(p.timer);
      p.reject(error);
    }
    this.pending.clear();
  }

  // ---- liveness ----

  private armIdle(ws: WebSocketLike): void {
    if (this.idleTimer) clearTimeout(this.idleTimer);
    const idle = this.opts.idleTimeout ?? 15_000;
    this.idleTimer = setTimeout(() => {
      if (this.ws !== ws) return;
      this.send({ type: "ping" });
      const pongTimeout = this.opts.pongTimeout ?? 10_000;
      this.idleTimer = setTimeout(() => this.abort(ws, `server silent for ${idle + pongTimeout} ms`), pongTimeout);
    }, idle);
  }

  // ---- frames ----

  private onFrame(ws: WebSocketLike, raw: unknown): void {
    this.armIdle(ws);
    let text: string;
    if (typeof raw === "string") text = raw;
    else if (raw instanceof ArrayBuffer) text = new TextDecoder().decode(raw);
    else if (ArrayBuffer.isView(raw)) text = new TextDecoder().decode(raw as Uint8Array);
    else text = String(raw);
    let msg: any;
    try {
      msg = JSON.parse(text);
    } catch {
      this.emit("error", new FastWsError("bad_frame", "a frame that is not JSON"));
      return;
    }
    if (isDataMessage(msg)) {
      this.onData(msg);
      return;
    }
    switch (msg?.type) {
      case "connected":
        return this.onConnected(ws, msg as ConnectedMessage);
      case "subscribed":
        return this.onSubscribed(msg as SubscribedMessage);
      case "unsubscribed":
        return this.onUnsubscribed(msg as UnsubscribedMessage);
      case "error":
        return this.onError(msg as ErrorMessage);
      case "gap":
        return this.onGap(msg as GapMessage);
      case "pong":
        if (msg.id !== undefined && msg.id === this.barrierId) {
          this.barrierId = undefined;
          this.flushResets();
        }
        return;
      case "authenticated":
        this.settle(msg.id);
        this.emit("authenticated", msg as AuthenticatedMessage);
        return;
      case "token_expiring":
        return this.onTokenExpiring(msg.in);
      default:
        this.emit("message", msg);
    }
  }

  private onConnected(ws: WebSocketLike, msg: ConnectedMessage): void {
    if (this.connectTimer) clearTimeout(this.connectTimer);
    this.connectTimer = undefined;
    this.connected = true;
    const reconnected = this.connectedOnce;
    this.connectedOnce = true;
    this.stableTimer = setTimeout(() => {
      if (this.ws === ws) this.attempt = 0;
    }, this.opts.stableAfter ?? 10_000);
    this.emit("open", { connectionId: msg.connectionId, user: msg.user, reconnected });
  }

  private onData(msg: any): void {
    const s = this.channels.get(msg.channel);
    if (!s || s.status === "recovering" || s.status === "regap" || s.status === "queued" || s.status === "subscribing") {
      return; // not ours, or a stream being recovered: the replay after the ack brings these messages again
    }
    if (msg.snapshot === true) {
      if (s.resetPending) this.emitReset(s, msg);
      s.seq = msg.seq;
      this.deliver(s, msg);
      return;
    }
    if (s.seq !== undefined && msg.seq <= s.seq) return; // already delivered (a replay overlapping a delivery)
    if (s.seq !== undefined && msg.seq > s.seq + 1) {
      // FastWs announces every skip with a gap notice; should a hole come without one, recover it the same way.
      this.onGap({ type: "gap", channel: s.channel, from: s.seq + 1, to: msg.seq - 1 });
      return;
    }
    if (s.resetPending) this.emitReset(s, undefined);
    s.seq = msg.seq;
    this.deliver(s, msg);
  }

  private deliver(s: ChannelState, msg: unknown): void {
    for (const h of [...s.handlers]) {
      try {
        h(msg);
      } catch (e) {
        this.emit("error", new FastWsError("handler", `a handler for ${s.channel} threw: ${String(e)}`, s.channel));
      }
    }
  }

  private onSubscribed(msg: SubscribedMessage): void {
    const req = typeof msg.id === "number" ? this.pending.get(msg.id) : undefined;
    if (req) {
      this.pending.delete(msg.id as number);
      if (req.timer) clearTimeout(req.timer);
    }
    const recovered = new Set(msg.recovered ?? []);
    const listed = new Set(msg.channels ?? []);
    let needBarrier = false;
    for (const name of listed) {
      const s = this.channels.get(name);
      if (!s || s.status === "queued") continue; // left meanwhile, or re-queued for a later request
      const pos = msg.positions?.[name];
      s.status = "active";
      if (pos) {
        const previous = s.epoch !== undefined && s.seq !== undefined ? { epoch: s.epoch, seq: s.seq } : undefined;
        if (recovered.has(name)) {
          s.epoch = pos.epoch; // messages previous.seq+1 .. pos.seq follow now
        } else if (previous && (previous.epoch !== pos.epoch || previous.seq !== pos.seq)) {
          // notRecovered (new epoch after a restart or expiry, or history too short): the stream starts over here.
          s.epoch = pos.epoch;
          s.seq = pos.seq;
          s.resetPending = { epoch: pos.epoch, seq: pos.seq, previous };
          if (pos.seq === 0) this.emitReset(s, undefined);
          else needBarrier = true; // the snapshot, if the namespace has one, comes before the pong
        } else {
          s.epoch = pos.epoch;
          s.seq = pos.seq;
        }
      }
      if (!s.acked) {
        s.acked = true;
        s.resolveReady(pos);
      }
    }
    if (req && req.kind === "subscribe") {
      for (const name of req.channels) {
        const s = this.channels.get(name);
        if (s && !listed.has(name) && s.status === "subscribing") s.status = "waiting"; // held until the token comes
      }
      req.resolve();
    }
    if (needBarrier && this.barrierId === undefined) {
      this.barrierId = this.nextId++;
      this.send({ type: "ping", id: this.barrierId });
    }
  }

  private emitReset(s: ChannelState, snapshot: unknown): void {
    const r = s.resetPending;
    if (!r) return;
    s.resetPending = undefined;
    this.emit("reset", { channel: s.channel, epoch: r.epoch, seq: r.seq, snapshot, previous: r.previous });
  }

  private flushResets(): void {
    for (const s of this.channels.values()) if (s.resetPending) this.emitReset(s, undefined);
  }

  private onUnsubscribed(msg: UnsubscribedMessage): void {
    if (typeof msg.id === "number") {
      this.settle(msg.id);
      return;
    }
    if (msg.reason !== undefined) {
      for (const name of msg.channels ?? []) {
        const s = this.channels.get(name);
        if (!s) continue;
        this.channels.delete(name);
        if (!s.acked) s.rejectReady(new FastWsError("forbidden", msg.reason, name));
      }
      this.emit("unsubscribed", { channels: msg.channels ?? [], reason: msg.reason });
    }
  }

  private onError(msg: ErrorMessage): void {
    const err = new FastWsError(msg.code, msg.message, msg.channel);
    const req = typeof msg.id === "number" ? this.pending.get(msg.id) : undefined;
    if (req?.kind === "subscribe") {
      const names = msg.channel ? [msg.channel] : req.channels;
      if (!msg.channel) {
        this.pending.delete(msg.id as number);
        if (req.timer) clearTimeout(req.timer);
        req.reject(err);
      }
      for (const name of names) this.refuse(name, err, msg.code === "rate_limited" || msg.code === "unavailable");
      return;
    }
    if (req) {
      this.pending.delete(msg.id as number);
      if (req.timer) clearTimeout(req.timer);
      req.reject(err);
      this.emit("error", err);
      return;
    }
    if (msg.channel && msg.code === "forbidden") {
      // A subscription that waited for a token which never came.
      this.refuse(msg.channel, err, false);
      return;
    }
    this.emit("error", err);
  }

  /** A subscribe refused for one channel: retry later when the refusal is temporary, otherwise drop the subscription. */
  private refuse(name: string, err: FastWsError, temporary: boolean): void {
    const s = this.channels.get(name);
    if (!s) return;
    if (temporary && s.acked) {
      // A resubscribe after reconnect or gap hit the rate limit: try again in 5 s (the limit is a sliding minute).
      s.status = "queued";
      if (!this.retryTimer) {
        this.retryTimer = setTimeout(() => {
          this.retryTimer = undefined;
          this.queueFlush();
        }, 5_000);
      }
      this.emit("error", err);
      return;
    }
    this.channels.delete(name);
    s.rejectReady(err);
    this.emit("error", err);
  }

  private onGap(msg: GapMessage): void {
    const s = this.channels.get(msg.channel);
    this.emit("gap", { channel: msg.channel, from: msg.from, to: msg.to });
    if (!s || s.status !== "active") return;
    s.status = "regap";
    this.queueFlush();
  }

  private onTokenExpiring(seconds: number): void {
    const refresh = this.opts.refreshToken;
    if (!refresh) {
      this.emit("token_expiring", { in: seconds });
      return;
    }
    if (this.refreshing) return;
    this.refreshing = Promise.resolve()
      .then(() => refresh("expiring"))
      .then(
        (token) => {
          if (typeof token === "string" && token !== "") this.setToken(token);
          else this.emit("error", new FastWsError("token_refresh_failed", "refreshToken returned no token"));
        },
        (err) => this.emit("error", new FastWsError("token_refresh_failed", "refreshToken failed: " + String(err))),
      )
      .finally(() => {
        this.refreshing = undefined;
      });
  }

  // ---- requests ----

  private sendAuth(token: string): void {
    const id = this.nextId++;
    this.track(id, "auth", [], false, noop, (e) => this.emit("error", e));
    this.send({ type: "auth", token, id });
  }

  private queueFlush(): void {
    if (this.flushQueued) return;
    this.flushQueued = true;
    queueMicrotask(() => {
      this.flushQueued = false;
      this.flush();
    });
  }

  /** Send one subscribe for every queued channel (with `since` where a position is known), and the gap recoveries. */
  private flush(): void {
    if (!this.ws || this.ws.readyState !== OPEN || this.stopped) return;
    const regap: ChannelState[] = [];
    const queued: ChannelState[] = [];
    for (const s of this.channels.values()) {
      if (s.status === "regap") regap.push(s);
      else if (s.status === "queued") queued.push(s);
    }
    if (regap.length > 0) {
      // The server does not re-join a channel it already has: leave first, then subscribe with since (back to back).
      this.send({ type: "unsubscribe", channels: regap.map((s) => s.channel), id: this.nextId++ });
      for (const s of regap) s.status = "queued";
      queued.push(...regap);
    }
    if (queued.length === 0) return;
    const since: Record<string, Position> = {};
    let withSince = false;
    for (const s of queued) {
      if (s.epoch !== undefined && s.seq !== undefined) {
        since[s.channel] = { epoch: s.epoch, seq: s.seq };
        withSince = true;
      }
    }
    for (const s of queued) s.status = "recovering"; // until the ack: ignore messages, the ack says what follows
    for (const s of queued) if (s.epoch === undefined) s.status = "subscribing";
    const id = this.nextId++;
    const channels = queued.map((s) => s.channel);
    this.track(id, "subscribe", channels, withSince, noop, noop);
    this.send(withSince ? { type: "subscribe", channels, since, id } : { type: "subscribe", channels, id });
  }

  private leave(s: ChannelState): Promise<void> {
    this.channels.delete(s.channel);
    if (!s.acked) s.rejectReady(new FastWsError("unsubscribed", "unsubscribed before the server acknowledged", s.channel));
    if (s.status === "queued" || !this.ws || !this.connected) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const id = this.nextId++;
      this.track(id, "unsubscribe", [s.channel], false, resolve, reject);
      this.send({ type: "unsubscribe", channels: [s.channel], id });
    });
  }

  private track(
    id: number,
    kind: PendingRequest["kind"],
    channels: string[],
    since: boolean,
    resolve: () => void,
    reject: (e: FastWsError) => void,
  ): void {
    const ms = this.opts.requestTimeout ?? 10_000;
    const timer = setTimeout(() => {
      if (!this.pending.delete(id)) return;
      reject(new FastWsError("timeout", `no answer to ${kind} within ${ms} ms`));
    }, ms);
    this.pending.set(id, { kind, channels, since, resolve, reject, timer });
  }

  private settle(id: unknown): void {
    if (typeof id !== "number") return;
    const p = this.pending.get(id);
    if (!p) return;
    this.pending.delete(id);
    if (p.timer) clearTimeout(p.timer);
    p.resolve();
  }

  private send(msg: object): void {
    const ws = this.ws;
    if (!ws || ws.readyState !== OPEN) return;
    try {
      ws.send(JSON.stringify(msg));
    } catch (e) {
      this.emit("error", new FastWsError("socket", "send failed: " + String(e)));
    }
  }

  private emit<E extends ClientEventName>(event: E, payload: ClientEvents[E]): void {
    const set = this.listeners.get(event);
    if (!set || set.size === 0) return;
    for (const h of [...set]) {
      try {
        h(payload);
      } catch (e) {
        if (event !== "error") this.emit("error", new FastWsError("handler", `an "${event}" listener threw: ${String(e)}`));
      }
    }
  }
}

function detach(ws: WebSocketLike): void {
  // No-op handlers rather than null: Node's ws throws on an "error" event with no listener.
  ws.onopen = noop;
  ws.onmessage = noop;
  ws.onclose = noop;
  ws.onerror = noop;
}
