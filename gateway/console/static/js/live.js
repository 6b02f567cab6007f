// One WebSocket per signed-in session (docs/websocket.md): the token travels as the `bearer, <JWT>`
// subprotocols because browsers cannot set headers. Pages add listeners and say which devices they watch;
// after a drop the connection comes back and subscribes again.
export class Live {
  constructor(onState) {
    this.onState = onState;
    this.listeners = new Set();
    this.watched = new Map(); // deviceId -> watcher count
    this.socket = null;
    this.token = null;
    this.retry = 0;
    this.timer = null;
  }

  start(token) {
    this.token = token;
    this.open();
  }

  stop() {
    this.token = null;
    clearTimeout(this.timer);
    this.watched.clear();
    if (this.socket) this.socket.close(1000, "signed out");
    this.socket = null;
    this.onState("offline");
  }

  open() {
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const socket = new WebSocket(`${scheme}//${location.host}/ws`, ["bearer", this.token]);
    this.socket = socket;
    this.onState("connecting");
    socket.addEventListener("open", () => {
      this.retry = 0;
      this.onState("live");
      const ids = [...this.watched.keys()];
      if (ids.length) this.send({ action: "subscribe", deviceIds: ids });
    });
    socket.addEventListener("message", (event) => {
      let message;
      try {
        message = JSON.parse(event.data);
      } catch {
        return;
      }
      for (const listener of this.listeners) listener(message);
    });
    socket.addEventListener("close", (event) => {
      if (this.socket !== socket) return;
      this.socket = null;
      if (!this.token || event.code === 4401 || event.code === 4403) {
        this.onState("offline");
        return;
      }
      this.onState("reconnecting");
      const delay = Math.min(30000, 1000 * 2 ** this.retry++);
      this.timer = setTimeout(() => this.token && this.open(), delay);
    });
  }

  // True while the socket is open: pages that also poll poll only when it is not.
  get isOpen() {
    return Boolean(this.socket && this.socket.readyState === WebSocket.OPEN);
  }

  send(message) {
    if (this.socket && this.socket.readyState === WebSocket.OPEN) this.socket.send(JSON.stringify(message));
  }

  listen(listener) {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  // Returns the function that stops watching.
  watch(deviceIds) {
    const fresh = deviceIds.filter((id) => !this.watched.has(id));
    for (const id of deviceIds) this.watched.set(id, (this.watched.get(id) || 0) + 1);
    if (fresh.length) this.send({ action: "subscribe", deviceIds: fresh });
    return () => {
      const gone = [];
      for (const id of deviceIds) {
        const count = (this.watched.get(id) || 1) - 1;
        if (count <= 0) {
          this.watched.delete(id);
          gone.push(id);
        } else {
          this.watched.set(id, count);
        }
      }
      if (gone.length) this.send({ action: "unsubscribe", deviceIds: gone });
    };
  }
}
