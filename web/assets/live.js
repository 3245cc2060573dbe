// A WebSocket that stays live: it reconnects after a drop with growing, jittered delays and
// resumes every followed topic with `since`, so the page sees each event once and in order.
//
//   const live = new LiveStream({ path, protocols, onEvent, onState, onEnd });
//   live.follow("order:12");      // (multiplexed sockets) subscribe by frame
//   live.start();
//
// `path(lastSeqs)` builds the socket's path for the next connection; `lastSeqs` maps each topic
// to the last seq seen. `onEvent(frame)` gets every event frame (those with a topic and a seq)
// once; `onSignal(frame)` every other frame: unnumbered events such as a driver's position
// (`order.location`, newest wins, never replayed), errors, pongs; `onState("live" |
// "reconnecting")` the connection's state; `onEnd(code)` a close that must not be retried
// (token expired, session revoked, link ended).

const FIRST_DELAY_MS = 500;
const MAX_DELAY_MS = 15000;
/// Close codes after which reconnecting cannot help.
export const FINAL_CLOSES = new Set([4001, 4002, 4003]);

export class LiveStream {
  constructor({
    path, protocols = ["order-tracker"], onEvent, onSignal = () => {}, onState = () => {}, onEnd = () => {},
  }) {
    this.path = path;
    this.protocols = protocols;
    this.onEvent = onEvent;
    this.onSignal = onSignal;
    this.onState = onState;
    this.onEnd = onEnd;
    /** topic -> last seq delivered (0 until the first event). */
    this.last = new Map();
    /** Topics subscribed by frame on open (multiplexed sockets). */
    this.framed = new Set();
    this.delay = FIRST_DELAY_MS;
    this.stopped = false;
    this.socket = null;
  }

  /** Follows `topic` by frame, now if connected and again after every reconnect. */
  follow(topic, since) {
    this.framed.add(topic);
    if (since !== undefined) this.last.set(topic, since);
    if (this.socket && this.socket.readyState === WebSocket.OPEN) this.subscribe(topic);
  }

  unfollow(topic) {
    this.framed.delete(topic);
    this.last.delete(topic);
    this.send({ type: "unsubscribe", topic });
  }

  /** Resume point of a topic, for paths that carry `since` themselves. */
  since(topic) {
    return this.last.get(topic);
  }

  start() {
    this.stopped = false;
    this.connect();
  }

  stop() {
    this.stopped = true;
    if (this.socket) this.socket.close(1000);
  }

  /** Sends `frame` if the socket is open; answers whether it went. */
  send(frame) {
    if (this.socket && this.socket.readyState === WebSocket.OPEN) {
      this.socket.send(JSON.stringify(frame));
      return true;
    }
    return false;
  }

  subscribe(topic) {
    const since = this.last.get(topic);
    this.send(since === undefined ? { type: "subscribe", topic } : { type: "subscribe", topic, since });
  }

  connect() {
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const socket = new WebSocket(`${scheme}//${location.host}${this.path(this.last)}`, this.protocols);
    this.socket = socket;
    socket.onopen = () => {
      this.delay = FIRST_DELAY_MS;
      this.onState("live");
      for (const topic of this.framed) this.subscribe(topic);
    };
    socket.onmessage = (message) => {
      let frame;
      try {
        frame = JSON.parse(message.data);
      } catch {
        return;
      }
      if (!frame || typeof frame !== "object") return;
      if (typeof frame.topic !== "string" || typeof frame.seq !== "number") {
        this.onSignal(frame);
        return;
      }
      const seen = this.last.get(frame.topic);
      // A snapshot restates where the topic is; an event at or before that was already shown.
      if (frame.type.endsWith(".snapshot") || frame.type === "notification.unread") {
        this.last.set(frame.topic, frame.seq);
      } else if (seen !== undefined && frame.seq <= seen) {
        return;
      } else {
        this.last.set(frame.topic, frame.seq);
      }
      this.onEvent(frame);
    };
    socket.onclose = (close) => {
      if (this.socket !== socket) return;
      this.socket = null;
      if (this.stopped) return;
      if (FINAL_CLOSES.has(close.code)) {
        this.stopped = true;
        this.onEnd(close.code);
        return;
      }
      this.onState("reconnecting");
      // Full jitter: many clients cut at once do not come back at once.
      const wait = Math.random() * this.delay;
      this.delay = Math.min(this.delay * 2, MAX_DELAY_MS);
      setTimeout(() => this.connect(), wait);
    };
  }
}
