// The connection: one socket that reconnects by itself with backoff, pings to notice a dead
// link, and hands every frame to the one handler the room registers.
import { add, clear, h } from "../common.js";
import { $, groupId, state } from "./core.js";
import { setPending, updateComposer } from "./sending.js";

let frameHandler = () => {};
export function onFrame(handler) {
  frameHandler = handler;
}

// ------------------------------------------------------------------ connection

export const STATUS_TEXT = {
  connecting: "Connecting…",
  live: "Live",
  reconnecting: "Reconnecting…",
  offline: "Offline — waiting for the network",
  closed: "Not connected",
};

export function setStatus(status, text) {
  state.status = status;
  $("conn").dataset.state = status;
  $("conn-text").textContent = text || STATUS_TEXT[status];
  // Who is here is only known while connected.
  $("present").classList.toggle("stale", status !== "live");
  updateComposer();
}

function socketUrl() {
  const proto = location.protocol === "https:" ? "wss:" : "ws:";
  return `${proto}//${location.host}/ws/rooms/${groupId}/`;
}

export function connect() {
  clearTimeout(state.retryTimer);
  if (state.ws && state.ws.readyState <= 1) return;
  setStatus(state.everLive ? "reconnecting" : "connecting");
  let ws;
  try {
    ws = new WebSocket(socketUrl());
  } catch {
    scheduleReconnect();
    return;
  }
  state.ws = ws;
  // Answers to the last socket's history requests never come on this one.
  state.historyQueue = [];
  state.loadingOlder = false;
  ws.addEventListener("message", (event) => {
    if (ws !== state.ws) return;
    state.lastFrameAt = Date.now();
    let frame;
    try {
      frame = JSON.parse(event.data);
    } catch {
      return;
    }
    frameHandler(frame);
  });
  ws.addEventListener("close", (event) => {
    if (ws !== state.ws) return;
    state.ws = null;
    onClosed(event.code);
  });
}

function onClosed(code) {
  // Whatever was on the wire may never have reached the server: it goes again, with the same
  // client_id, once the room says hello (the server stores it once).
  for (const p of state.outbox) {
    clearTimeout(p.timer);
    p.timer = null;
    p.inFlight = false;
    setPending(p, "waiting");
  }
  if (state.refused) return;
  if (code === 4401) {
    refuse("Your sign-in has ended. Sign in again to come back to the room.", "/login/?next=" + encodeURIComponent(location.pathname), "Sign in");
    return;
  }
  if (code === 4404) {
    refuse("This group no longer exists.", "/", "Go to your home page");
    return;
  }
  if (state.everLive) markAway();
  scheduleReconnect();
}

function scheduleReconnect(delayMs) {
  clearTimeout(state.retryTimer);
  if (!navigator.onLine) {
    setStatus("offline");
    return;
  }
  const base = Math.min(10000, 500 * 2 ** state.attempt);
  const delay = delayMs ?? base / 2 + Math.random() * (base / 2);
  state.attempt += 1;
  setStatus(state.everLive ? "reconnecting" : "connecting", `${state.everLive ? "Reconnecting" : "Connecting"} in ${Math.ceil(delay / 1000)} s…`);
  state.retryTimer = setTimeout(connect, delay);
}

function markAway() {
  if (state.markerBefore === null) {
    state.markerBefore = state.maxId;
    state.awayCount = 0;
  }
}

export function send(frame) {
  if (!state.ws || state.ws.readyState !== WebSocket.OPEN) return false;
  state.ws.send(JSON.stringify(frame));
  return true;
}

export function requestHistory(kind, params) {
  if (send({ type: "history", ...params })) state.historyQueue.push(kind);
}

export function refuse(text, href, linkText) {
  state.refused = true;
  clearTimeout(state.retryTimer);
  setStatus("closed");
  const banner = $("room-banner");
  add(clear(banner), h("strong", {}, text), " ", href ? h("a", { href }, linkText) : null);
  banner.hidden = false;
  banner.dataset.kind = "error";
  updateComposer();
}

window.addEventListener("online", () => {
  if (!state.refused && !state.ws) {
    state.attempt = 0;
    connect();
  }
});
window.addEventListener("offline", () => {
  if (state.ws) state.ws.close();
});

// A socket can die without a close event (a sleeping laptop, a proxy); ping and watch replies.
// It is given up only when its last ping went unanswered and nothing came for 45 s: a
// background tab's timers may fire once a minute, and a quiet room must not cost it its socket.
let pingAt = 0;
setInterval(() => {
  if (state.ws && state.ws.readyState === WebSocket.OPEN) {
    if (state.lastFrameAt < pingAt && Date.now() - state.lastFrameAt > 45000) {
      // The close event of a dead link can take a minute to come: do not wait for it.
      const dead = state.ws;
      state.ws = null;
      dead.close();
      onClosed(1006);
      return;
    }
    pingAt = Date.now();
    send({ type: "ping" });
  }
}, 20000);
