/**
 * One WebSocket to /v1/stream that follows several jobs ({"type":"subscribe","id":...}).
 *
 * Text frames are JSON events: state, step, final, subscribed, unsubscribed, error. Binary frames are previews:
 * a 4-byte big-endian header length n, n bytes of UTF-8 JSON header ({type:"preview", job, step, total, format,
 * width, height, ...}), then the payload (JPEG bytes, or a raw float16 latent when format is "latent").
 *
 * If the socket drops (network, server restart, or close 1013 because this tab fell behind), it reconnects with
 * back-off and re-subscribes every followed job; the server answers each subscription with the job's current
 * state (and its final event if it already ended), so nothing is missed.
 */
import { authUrl } from './auth.js';

export class JobStream {
  /**
   * @param {object} handlers onEvent(msg), onPreview(header, payloadBytes), onConnection(isOpen)
   */
  constructor(handlers) {
    this.handlers = handlers;
    this.followed = new Set();
    this.socket = null;
    this.retryMs = 500;
    this.connect();
  }

  connect() {
    const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
    const ws = new WebSocket(authUrl(`${scheme}//${location.host}/v1/stream`));
    ws.binaryType = 'arraybuffer';
    this.socket = ws;
    ws.onopen = () => {
      this.retryMs = 500;
      this.handlers.onConnection?.(true);
      for (const id of this.followed) this.send({ type: 'subscribe', id });
    };
    ws.onmessage = (ev) => this.dispatch(ev.data);
    ws.onclose = () => {
      if (this.socket !== ws) return;
      this.socket = null;
      this.handlers.onConnection?.(false);
      setTimeout(() => this.connect(), this.retryMs);
      this.retryMs = Math.min(this.retryMs * 2, 8000);
    };
  }

  dispatch(data) {
    if (typeof data === 'string') {
      let msg;
      try {
        msg = JSON.parse(data);
      } catch {
        return;
      }
      this.handlers.onEvent?.(msg);
      return;
    }
    const view = new DataView(data);
    if (data.byteLength < 4) return;
    const n = view.getUint32(0, false);
    if (4 + n > data.byteLength) return;
    let header;
    try {
      header = JSON.parse(new TextDecoder().decode(new Uint8Array(data, 4, n)));
    } catch {
      return;
    }
    this.handlers.onPreview?.(header, new Uint8Array(data, 4 + n));
  }

  send(msg) {
    if (this.socket && this.socket.readyState === WebSocket.OPEN) {
      this.socket.send(JSON.stringify(msg));
    }
  }

  follow(id) {
    this.followed.add(id);
    this.send({ type: 'subscribe', id });
  }

  unfollow(id) {
    if (this.followed.delete(id)) this.send({ type: 'unsubscribe', id });
  }

  get open() {
    return !!this.socket && this.socket.readyState === WebSocket.OPEN;
  }
}
