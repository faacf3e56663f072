// A scripted stand-in for WebSocket, for the policy tests that need exact control of what the "server" does.
export function fakeSocketClass() {
  const sockets = [];
  class FakeWebSocket {
    constructor(url, protocols) {
      this.url = url;
      this.protocols = protocols;
      this.readyState = 0;
      this.sent = [];
      this.closedByClient = undefined;
      this.onopen = this.onmessage = this.onclose = this.onerror = null;
      sockets.push(this);
    }
    send(data) {
      if (this.readyState !== 1) throw new Error("send on a socket that is not open");
      this.sent.push(JSON.parse(data));
    }
    close(code, reason) {
      this.closedByClient = { code, reason };
      this.readyState = 3;
    }
    // --- the test's side ---
    accept(connectionId = "1-1") {
      this.readyState = 1;
      this.onopen?.({});
      this.push({ type: "connected", connectionId, protocol: "fastws.v1" });
    }
    push(msg) {
      this.onmessage?.({ data: JSON.stringify(msg) });
    }
    serverClose(code, reason = "") {
      this.readyState = 3;
      this.onclose?.({ code, reason, wasClean: true });
    }
    lastSent(type) {
      return [...this.sent].reverse().find((m) => m.type === type);
    }
  }
  return { FakeWebSocket, sockets };
}

export const tick = () => new Promise((r) => setTimeout(r, 0));
