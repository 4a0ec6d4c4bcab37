// The live room. One socket to /ws/rooms/<id>/ that reconnects by itself and catches up by id,
// so nothing is lost or shown twice (docs/protocol.md, "Delivery guarantee"). Messages are put
// into the page as text only.
import { alertCard, sortAlerts, tickDeadlines } from "./alertcard.js";
import {
  add,
  announce,
  api,
  clear,
  fmtDateTime,
  fmtTime,
  h,
  isStaff,
  linkify,
  nextId,
  uuid,
} from "./common.js";
import { openHelp, resourceItem } from "./help.js";
import { chime } from "./sound.js";

const root = document.getElementById("room");
const groupId = Number(root.dataset.groupId);
const $ = (id) => document.getElementById(id);
const logEl = $("log");
const scroller = $("log-scroll");
const input = $("composer-input");
const sendButton = $("send");

const HISTORY_PAGE = 50;
const CATCH_UP_PAGE = 200;
const ACK_TIMEOUT_MS = 12000;
const MAX_CHARS = 4000;
const LAST_READ_KEY = `haven.lastRead.${groupId}`;

const state = {
  ws: null,
  status: "connecting",
  everLive: false,
  attempt: 0,
  retryTimer: null,
  lastFrameAt: 0,
  you: null,
  room: null,
  present: [],
  presentOthers: 0, // people present beyond those listed (a very full room)
  maxId: 0,
  minId: null,
  hasOlder: false,
  loadingOlder: false,
  historyQueue: [], // kinds of the history requests in flight, in order: replies come in order
  markerBefore: null, // after a reconnect: put the "new since you were away" marker before this id
  awayCount: 0,
  messages: new Map(), // id -> {el, msg}
  pending: new Map(), // client_id -> {body, el, state, timer}
  // Messages not yet answered, in the order they were written. Only the first is on the wire:
  // the server numbers messages in the order they arrive, so one at a time keeps the member's
  // order for everyone, also when the rate limit sends one of them back to wait.
  outbox: [],
  sendNotice: null, // the code of the notice under the composer (rate_limited, muted, ...)
  hidden: new Set(),
  mutedUntil: null,
  muteReason: "",
  refs: new Map(), // ref -> description of a moderation command in flight
  alerts: new Map(),
  held: new Map(),
  reports: new Map(),
  refused: false,
};

// ------------------------------------------------------------------ connection

const STATUS_TEXT = {
  connecting: "Connecting…",
  live: "Live",
  reconnecting: "Reconnecting…",
  offline: "Offline — waiting for the network",
  closed: "Not connected",
};

function setStatus(status, text) {
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

function connect() {
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
  state.historyQueue = [];
  ws.addEventListener("message", (event) => {
    if (ws !== state.ws) return;
    state.lastFrameAt = Date.now();
    let frame;
    try {
      frame = JSON.parse(event.data);
    } catch {
      return;
    }
    handle(frame);
  });
  ws.addEventListener("close", (event) => {
    if (ws !== state.ws) return;
    state.ws = null;
    onClosed(event.code);
  });
}

function onClosed(code) {
  for (const p of state.outbox) {
    clearTimeout(p.timer);
    p.timer = null;
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

function send(frame) {
  if (!state.ws || state.ws.readyState !== WebSocket.OPEN) return false;
  state.ws.send(JSON.stringify(frame));
  return true;
}

function requestHistory(kind, params) {
  if (send({ type: "history", ...params })) state.historyQueue.push(kind);
}

function refuse(text, href, linkText) {
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
setInterval(() => {
  if (state.ws && state.ws.readyState === WebSocket.OPEN) {
    if (Date.now() - state.lastFrameAt > 45000) {
      state.ws.close();
      return;
    }
    send({ type: "ping" });
  }
}, 20000);

// ------------------------------------------------------------------ frames

function handle(frame) {
  switch (frame.type) {
    case "hello":
      return onHello(frame);
    case "presence":
      state.present = frame.present;
      state.presentOthers = frame.others ?? 0;
      return renderPresence();
    case "message.new":
      return addMessage(frame.message, { live: true });
    case "message.ack":
      return onAck(frame);
    case "history":
      return onHistory(frame);
    case "message.deleted":
      return onDeleted(frame.id);
    case "message.held":
      return onHeld(frame);
    case "message.rejected":
      return onRejected(frame);
    case "error":
      return onError(frame);
    case "room.state":
      state.room = frame.room;
      renderRoom(frame.room.notice);
      return;
    case "member.muted":
      return onMuted(frame);
    case "support.resources":
      return showSupport(frame);
    case "checkin.invite":
      return showCheckin(frame);
    case "resync":
      // The server's channel layer restarted: anything announced meanwhile never arrived.
      state.markerBefore = state.maxId;
      catchUp(frame.after_id);
      break;
    case "hidden":
      return onHidden(frame.authors);
    case "typing":
      return onTyping(frame);
    case "report.resolved":
      return showBanner("A facilitator has looked at your report. Thank you for telling us.", "info");
    case "alert.new":
    case "alert.updated":
      return onAlert(frame);
    case "held.new":
      return onHeldNew(frame.message);
    case "report.new":
      return onReport(frame.report);
    case "action.done":
      return onActionDone(frame);
    default:
      return undefined;
  }
}

function onHello(frame) {
  const reconnect = state.everLive;
  state.you = frame.you;
  state.room = frame.room;
  state.present = frame.present;
  state.presentOthers = frame.others ?? 0;
  state.attempt = 0;
  state.mutedUntil = frame.you.muted_until || null;
  setStatus("live");
  renderRoom();
  renderPresence();
  if (!reconnect) {
    requestHistory("newest", { limit: HISTORY_PAGE });
  } else {
    catchUp();
  }
  state.everLive = true;
  if (reconnect) announce("Reconnected to the room.");
  // Anything not acknowledged is sent again with the same client_id: the server stores it once.
  pump();
  if (isStaff) loadStaffQueues();
}

// Two messages committed at the same moment on two web processes can be announced out of id
// order, so catching up starts a little before the highest id seen; duplicates are dropped by id.
const CATCH_UP_OVERLAP = 20;

function catchUp(sinceId) {
  const from = typeof sinceId === "number" ? Math.min(state.maxId, sinceId) : state.maxId;
  requestHistory("after", {
    after_id: Math.max(0, from - CATCH_UP_OVERLAP),
    limit: CATCH_UP_PAGE,
  });
}

function onHistory(frame) {
  const kind = state.historyQueue.shift() ?? "after";
  if (kind === "older") {
    const before = scroller.scrollHeight - scroller.scrollTop;
    for (const m of frame.messages) addMessage(m, { live: false });
    state.hasOlder = frame.has_more;
    state.loadingOlder = false;
    $("older").hidden = !state.hasOlder;
    scroller.scrollTop = scroller.scrollHeight - before;
    announce(frame.messages.length ? `${frame.messages.length} earlier messages loaded.` : "No earlier messages.");
    return;
  }
  if (kind === "newest") {
    const lastRead = Number(localStorage.getItem(LAST_READ_KEY) || 0);
    const firstUnread = frame.messages.find((m) => m.id > lastRead && m.author.id !== state.you?.id);
    for (const m of frame.messages) addMessage(m, { live: false });
    state.hasOlder = frame.has_more;
    $("older").hidden = !state.hasOlder;
    if (lastRead && firstUnread && firstUnread.id > (state.minId ?? 0)) {
      placeMarker(firstUnread.id, "New since your last visit");
    }
    scrollToBottom();
    updateEmpty();
    return;
  }
  // "after": catching up after a reconnect.
  let added = 0;
  for (const m of frame.messages) if (addMessage(m, { live: false, catchUp: true })) added += 1;
  state.awayCount += added;
  if (frame.has_more && frame.messages.length) {
    requestHistory("after", { after_id: state.maxId, limit: CATCH_UP_PAGE });
    return;
  }
  if (state.awayCount > 0) {
    const firstNew = Math.min(...[...state.messages.keys()].filter((id) => id > state.markerBefore));
    placeMarker(firstNew, "New since you were away", "away");
    announce(`${state.awayCount} new message${state.awayCount === 1 ? "" : "s"} while you were away.`);
  }
  state.markerBefore = null;
  state.awayCount = 0;
  if (nearBottom()) scrollToBottom();
}

// ------------------------------------------------------------------ messages

function roleBadge(author) {
  if (author.role === "facilitator") return h("span", { class: "badge facilitator" }, "Facilitator");
  if (author.role === "admin") return h("span", { class: "badge facilitator" }, "Staff");
  return null;
}

function messageEl(msg, { own = false } = {}) {
  const li = h("li", {
    class: `msg${own ? " own" : ""}${msg.author.role !== "member" ? " staff" : ""}`,
    dataset: { author: msg.author.id },
  });
  const time = msg.created_at ? fmtTime(msg.created_at) : "";
  add(li, 
    h(
      "p",
      { class: "msg-meta" },
      h("span", { class: "alias" }, own ? `${msg.author.alias} (you)` : msg.author.alias),
      roleBadge(msg.author),
      msg.created_at
        ? h("time", { datetime: msg.created_at, title: fmtDateTime(msg.created_at) }, time)
        : null,
      h("span", { class: "msg-state", "aria-live": "polite" }),
    ),
    h("p", { class: "msg-text" }),
  );
  setText(li, msg);
  return li;
}

function setText(li, msg) {
  const textEl = li.querySelector(".msg-text");
  clear(textEl);
  if (msg.deleted) {
    li.classList.add("deleted");
    textEl.textContent = "This message was removed by a moderator.";
  } else {
    // `text` is what the person typed; links are built as nodes, never parsed from HTML.
    textEl.appendChild(linkify(msg.text ?? ""));
  }
}

function addOptions(li, msg) {
  if (msg.deleted || !msg.id) return;
  const own = state.you && msg.author.id === state.you.id;
  if (own && !isStaff) return;
  li.querySelector(".msg-options")?.remove();
  const label = `Message options: ${msg.author.alias}, ${msg.created_at ? fmtTime(msg.created_at) : ""}`;
  li.appendChild(
    h(
      "button",
      {
        type: "button",
        class: "msg-options",
        "aria-label": label,
        title: "Report, hide or moderate",
        onclick: () => openMessageDialog(msg),
      },
      "⋯",
    ),
  );
}

/** Puts an element in id order; unsent messages (no id) stay at the end. */
function insertById(li, id) {
  let after = logEl.lastElementChild;
  while (after && (!after.dataset.id || Number(after.dataset.id) > id)) {
    after = after.previousElementSibling;
  }
  if (after) after.after(li);
  else logEl.prepend(li);
}

/** Returns true when the message was new to this page. */
function addMessage(msg, { live, catchUp = false }) {
  if (state.hidden.has(msg.author.id)) return false;
  if (msg.status === "held" || msg.status === "rejected") return addOwnHeld(msg);
  const known = state.messages.get(msg.id);
  if (known) {
    if (msg.deleted && !known.msg.deleted) onDeleted(msg.id);
    return false;
  }
  const atBottom = nearBottom();
  const pending = msg.client_id ? state.pending.get(msg.client_id) : null;
  let li;
  if (pending && state.you && msg.author.id === state.you.id) {
    li = confirmPending(msg.client_id, pending, msg.id, msg);
  } else {
    li = messageEl(msg, { own: state.you && msg.author.id === state.you.id });
    li.dataset.id = msg.id;
    li.id = `msg-${msg.id}`;
    insertById(li, msg.id);
    addOptions(li, msg);
  }
  state.messages.set(msg.id, { el: li, msg });
  state.maxId = Math.max(state.maxId, msg.id);
  state.minId = state.minId === null ? msg.id : Math.min(state.minId, msg.id);
  if (live && !msg.deleted && !(state.you && msg.author.id === state.you.id)) {
    const room = $("room-live");
    room.appendChild(h("p", {}, `${msg.author.alias}: ${msg.text}`));
    while (room.childElementCount > 5) room.firstElementChild.remove();
  }
  if (live || catchUp) {
    if (atBottom) scrollToBottom();
    else if (!msg.deleted) $("jump").hidden = false;
  }
  if (document.visibilityState === "visible" && nearBottom()) {
    localStorage.setItem(LAST_READ_KEY, String(state.maxId));
  }
  updateEmpty();
  return true;
}

/** One of the reader's own messages that a facilitator holds (or did not share), from history:
 * shown where it was written, marked, and replaced by the message itself once approved. */
function addOwnHeld(msg) {
  if (state.pending.has(msg.client_id)) return false;
  const el = messageEl(msg, { own: true });
  el.dataset.id = msg.id;
  el.dataset.clientId = msg.client_id;
  insertById(el, msg.id);
  const p = { cid: msg.client_id, body: msg.text, el, state: msg.status, timer: null };
  state.pending.set(msg.client_id, p);
  const why = HELD_REASON[msg.reason] ? `(${HELD_REASON[msg.reason]})` : "";
  setPending(p, msg.status, msg.status === "held" ? why : "");
  state.maxId = Math.max(state.maxId, msg.id);
  state.minId = state.minId === null ? msg.id : Math.min(state.minId, msg.id);
  updateEmpty();
  return true;
}

function placeMarker(beforeId, text, kind = "visit") {
  logEl.querySelector(`.marker.${kind}`)?.remove();
  const target = state.messages.get(beforeId)?.el;
  if (!target) return;
  target.before(h("li", { class: `marker ${kind}`, role: "separator", "aria-label": text }, h("span", {}, text)));
}

function onDeleted(id) {
  const entry = state.messages.get(id);
  if (!entry) return;
  entry.msg = { ...entry.msg, deleted: true, text: "" };
  setText(entry.el, entry.msg);
  entry.el.querySelector(".msg-options")?.remove();
}

// ------------------------------------------------------------------ sending

const PENDING_TEXT = {
  sending: "Sending…",
  waiting: "Waiting for the connection…",
  failed: "Not sent.",
  held: "Held for review: a facilitator will look at it before the group sees it.",
  rejected: "Not shared by a moderator.",
};

function setPending(p, st, extra) {
  p.state = st;
  p.el.classList.toggle("failed", st === "failed");
  p.el.classList.toggle("pending", st === "sending" || st === "waiting");
  p.el.classList.toggle("held", st === "held" || st === "rejected");
  const stateEl = p.el.querySelector(".msg-state");
  const connected = state.ws && state.ws.readyState === WebSocket.OPEN;
  const text = st === "waiting" && connected ? "Waiting to send…" : PENDING_TEXT[st];
  add(clear(stateEl), extra ? `${text} ${extra}` : text);
  if (st === "failed") {
    add(stateEl, 
      " ",
      h("button", { type: "button", class: "link", onclick: () => retry(p.cid) }, "Retry"),
      " ",
      h(
        "button",
        {
          type: "button",
          class: "link",
          onclick: () => {
            p.el.remove();
            state.pending.delete(p.cid);
            settle(p.cid);
          },
        },
        "Discard",
      ),
    );
  }
}

/** Sends the first message of the outbox, unless it is on the wire or waiting out a limit. */
function pump() {
  const head = state.outbox[0];
  if (!head || head.inFlight || head.timer) return;
  if (!send({ type: "message.send", client_id: head.cid, body: head.body })) {
    setPending(head, "waiting");
    return;
  }
  head.inFlight = true;
  setPending(head, "sending");
  head.timer = setTimeout(() => {
    // No answer: most likely a dead socket. Give up on this one so the rest are not stuck.
    if (head.inFlight) {
      settle(head.cid);
      setPending(head, "failed", "No reply from the server.");
    }
  }, ACK_TIMEOUT_MS);
}

/** The server answered for this message (stored, held or refused): the next one may go. */
function settle(cid, { delivered = false } = {}) {
  const at = state.outbox.findIndex((p) => p.cid === cid);
  if (at >= 0) {
    const [p] = state.outbox.splice(at, 1);
    clearTimeout(p.timer);
    p.timer = null;
    p.inFlight = false;
  }
  if (delivered && (state.sendNotice === "rate_limited" || state.sendNotice === "slow_mode") && !state.outbox.length) {
    hideSendError();
  }
  pump();
}

function enqueue(p) {
  p.inFlight = false;
  p.timer = null;
  state.outbox.push(p);
  setPending(p, state.outbox.length > 1 || !state.ws ? "waiting" : "sending");
  pump();
}

function submit() {
  const body = input.value;
  if (!body.trim()) return;
  if (body.length > MAX_CHARS) {
    showSendError(`Messages can be up to 4,000 characters; this one has ${body.length}. Split it into two.`, "too_long");
    return;
  }
  if (state.sendNotice !== "rate_limited" && state.sendNotice !== "slow_mode") hideSendError();
  const cid = uuid();
  const author = state.you ?? { id: "me", alias: "You", role: "member" };
  const el = messageEl({ author, text: body, created_at: null }, { own: true });
  el.dataset.clientId = cid;
  logEl.appendChild(el);
  const p = { cid, body, el, state: "sending", timer: null };
  state.pending.set(cid, p);
  enqueue(p);
  input.value = "";
  updateCounter();
  scrollToBottom();
  updateEmpty();
}

function retry(cid) {
  const p = state.pending.get(cid);
  if (p && !state.outbox.includes(p)) enqueue(p);
}

function confirmPending(cid, p, id, msg) {
  state.pending.delete(cid);
  settle(cid, { delivered: true });
  const full = msg ?? { id, author: state.you, text: p.body, created_at: new Date().toISOString() };
  const li = messageEl(full, { own: true });
  li.dataset.id = id;
  li.id = `msg-${id}`;
  p.el.remove();
  insertById(li, id);
  addOptions(li, full);
  return li;
}

function onAck(frame) {
  const p = state.pending.get(frame.client_id);
  if (!p) return;
  if (state.messages.has(frame.id)) {
    // message.new came first: that element is the record.
    state.pending.delete(frame.client_id);
    settle(frame.client_id, { delivered: true });
    p.el.remove();
    return;
  }
  const li = confirmPending(frame.client_id, p, frame.id, null);
  state.messages.set(frame.id, {
    el: li,
    msg: { id: frame.id, author: state.you, text: p.body, created_at: new Date().toISOString() },
  });
  state.maxId = Math.max(state.maxId, frame.id);
}

const HELD_REASON = {
  contact_details: "it looks like it shares contact details",
  harassment: "it may be hurtful to another member",
};

function onHeld(frame) {
  const p = state.pending.get(frame.client_id);
  const why = HELD_REASON[frame.reason] ? `(${HELD_REASON[frame.reason]})` : "";
  if (p) {
    settle(frame.client_id, { delivered: true });
    setPending(p, "held", why);
  }
  showBanner(
    `Your message is waiting for a facilitator to review it ${why}. It will appear once approved.`.replace("  ", " "),
    "info",
  );
}

function onRejected(frame) {
  const p = state.pending.get(frame.client_id);
  if (p) setPending(p, "rejected", frame.reason || "");
  showBanner(`A moderator decided not to share your message. ${frame.reason || ""}`, "info");
}

function plainError(frame) {
  const secs = Math.max(1, Math.ceil(frame.retry_after || 1));
  switch (frame.code) {
    case "rate_limited":
      return `You're sending quickly — wait ${secs} second${secs === 1 ? "" : "s"}.`;
    case "slow_mode":
      return `Slow mode is on to give everyone room — wait ${secs} second${secs === 1 ? "" : "s"}.`;
    case "muted": {
      const until = frame.muted_until || state.mutedUntil;
      return `Muted by a moderator${until ? ` until ${fmtTime(until)}` : ""}${state.muteReason ? `: ${state.muteReason}` : "."}`;
    }
    case "locked":
      return "The room is read-only for now.";
    case "closed":
      return "The room is closed now.";
    default:
      return frame.detail || "Something went wrong.";
  }
}

function onError(frame) {
  const refusalCodes = ["unauthenticated", "not_member", "removed", "agreement_required", "not_found", "room_closed", "forbidden"];
  if (!frame.client_id && !frame.action && refusalCodes.includes(frame.code)) {
    return onRefusal(frame);
  }
  if (frame.action) {
    // A moderation command that did not go through.
    const ref = frame.ref && state.refs.get(frame.ref);
    toolStatus(`${ref ? `${ref}: ` : ""}${frame.detail}`, "error");
    if (frame.ref) state.refs.delete(frame.ref);
    return undefined;
  }
  const text = plainError(frame);
  if (frame.code === "muted" && frame.muted_until) state.mutedUntil = frame.muted_until;
  const p = frame.client_id ? state.pending.get(frame.client_id) : null;
  if (p) {
    clearTimeout(p.timer);
    p.timer = null;
    p.inFlight = false;
    if ((frame.code === "rate_limited" || frame.code === "slow_mode") && frame.retry_after) {
      // Stays first in the outbox: the messages after it wait with it, in order.
      setPending(p, "waiting", `Will send in ${Math.ceil(frame.retry_after)} s.`);
      p.timer = setTimeout(() => {
        p.timer = null;
        pump();
      }, frame.retry_after * 1000 + 100);
    } else {
      settle(p.cid);
      setPending(p, "failed");
    }
  }
  showSendError(text, frame.code);
  updateComposer();
  return undefined;
}

function onRefusal(frame) {
  if (frame.code === "room_closed") {
    setStatus("closed", "Room closed");
    const banner = $("room-banner");
    add(clear(banner), 
      h("strong", {}, "The room is closed right now. "),
      opensText(frame.opens_at),
      " ",
      h("a", { href: `/groups/${groupId}/` }, "See the schedule"),
    );
    banner.dataset.kind = "info";
    banner.hidden = false;
    // Try again later: the room opens by itself at session time.
    state.refused = true;
    setTimeout(() => {
      state.refused = false;
      state.attempt = 0;
      connect();
    }, 30000);
    return;
  }
  if (frame.code === "agreement_required") {
    refuse(frame.detail, `/groups/${groupId}/#agreement`, "Read the agreement");
    return;
  }
  if (frame.code === "unauthenticated") return; // the 4401 close follows
  refuse(frame.detail, `/groups/${groupId}/`, "Go to the group page");
}

/** When a closed room opens, in the reader's own time zone. */
function opensText(opensAt) {
  if (!opensAt) return "Check the group page for the next session.";
  return `It next opens ${fmtDateTime(opensAt)} (your time).`;
}

function showSendError(text, code = "other") {
  const el = $("send-error");
  el.textContent = text;
  el.hidden = false;
  state.sendNotice = code;
}

function hideSendError() {
  $("send-error").hidden = true;
  state.sendNotice = null;
}

function showBanner(text, kind = "info") {
  const banner = $("room-banner");
  add(clear(banner), text, " ", h("button", { type: "button", class: "link", onclick: () => (banner.hidden = true) }, "Dismiss"));
  banner.dataset.kind = kind;
  banner.hidden = false;
}

function onMuted(frame) {
  state.mutedUntil = frame.muted_until;
  state.muteReason = frame.reason || "";
  if (frame.muted_until) {
    showSendError(`Muted by a moderator until ${fmtTime(frame.muted_until)}${frame.reason ? `: ${frame.reason}` : "."} You can still read the room.`);
    const left = new Date(frame.muted_until).getTime() - Date.now();
    setTimeout(() => {
      if (state.mutedUntil === frame.muted_until) {
        state.mutedUntil = null;
        hideSendError();
        updateComposer();
      }
    }, Math.max(0, left) + 500);
  } else {
    hideSendError();
    showBanner("A moderator lifted your mute. You can write again.", "info");
  }
  updateComposer();
}

function updateComposer() {
  const room = state.room;
  const muted = state.mutedUntil && new Date(state.mutedUntil).getTime() > Date.now();
  let reason = "";
  if (state.refused) reason = "You can't write here right now.";
  else if (!isStaff && room && room.locked) reason = "The room is read-only for now.";
  else if (!isStaff && room && !room.open) reason = "The room is closed now.";
  else if (!isStaff && muted) reason = `Muted by a moderator until ${fmtTime(state.mutedUntil)}.`;
  const blocked = Boolean(reason);
  input.disabled = blocked;
  sendButton.disabled = blocked;
  input.placeholder = blocked ? reason : "Write to the group…";
}

// ------------------------------------------------------------------ the room and its people

function renderRoom(notice) {
  const room = state.room;
  if (!room) return;
  const parts = [];
  if (room.session) {
    parts.push(`Session ${fmtTime(room.session.starts_at)}–${fmtTime(room.session.ends_at)} (your time)`);
  } else if (room.drop_in) {
    parts.push("Drop-in room");
  }
  if (room.slow_mode_seconds) parts.push(`Slow mode: one message every ${room.slow_mode_seconds} s`);
  if (room.locked) parts.push("Read-only");
  if (!room.open) parts.push("Closed to members");
  $("room-info").textContent = parts.join(" · ");
  const banner = $("room-banner");
  const closed = !room.open && !isStaff;
  if (state.status === "live") {
    // Connected, but a closed room is not live for a member: say so where "Live" was.
    $("conn").dataset.state = closed ? "closed" : "live";
    $("conn-text").textContent = closed ? "Room closed" : STATUS_TEXT.live;
  }
  if (closed && !state.refused) {
    add(
      clear(banner),
      notice ? h("strong", {}, `${notice} `) : null,
      "The room is closed now: you can still read it, and use Get help now at any time. ",
      opensText(room.opens_at),
      " ",
      h("a", { href: `/groups/${groupId}/` }, "See the schedule"),
    );
    banner.dataset.kind = "warn";
    banner.hidden = false;
  } else if (notice) {
    showBanner(notice, "info");
  } else if (room.locked && !state.refused) {
    add(clear(banner), "The room is read-only for now. You can still read, and use Get help now at any time.");
    banner.dataset.kind = "warn";
    banner.hidden = false;
  } else if (!state.refused && banner.dataset.kind === "warn") {
    banner.hidden = true;
  }
  if (isStaff) {
    $("lock-toggle").textContent = room.locked ? "Unlock the room" : "Lock the room (read-only)";
    $("lock-toggle").setAttribute("aria-pressed", room.locked ? "true" : "false");
    $("slow-mode").value = String(room.slow_mode_seconds || 0);
    if (![...$("slow-mode").options].some((o) => o.value === String(room.slow_mode_seconds))) {
      add($("slow-mode"), h("option", { value: room.slow_mode_seconds }, `${room.slow_mode_seconds} seconds`));
      $("slow-mode").value = String(room.slow_mode_seconds);
    }
    $("room-status").textContent = `${room.open ? "Open to members" : "Closed to members"}${room.locked ? ", read-only" : ""}.`;
  }
  updateComposer();
}

function renderPresence() {
  const ul = clear($("present"));
  $("present-count").textContent = `(${state.present.length + state.presentOthers})`;
  for (const person of state.present) {
    const you = state.you && person.id === state.you.id;
    const li = h(
      "li",
      { class: person.role === "member" ? "" : "staff" },
      h("span", { class: "alias" }, person.alias, you ? " (you)" : ""),
      roleBadge(person),
    );
    if (isStaff && person.role === "member") {
      li.appendChild(
        h(
          "button",
          {
            type: "button",
            class: "link small",
            onclick: () => openMemberDialog(person),
          },
          "Actions",
          h("span", { class: "visually-hidden" }, ` for ${person.alias}`),
        ),
      );
    }
    ul.appendChild(li);
  }
  if (state.presentOthers > 0) {
    ul.appendChild(h("li", { class: "muted" }, `and ${state.presentOthers} more`));
  }
}

let typingTimer = null;
function onTyping(frame) {
  const info = $("room-info");
  info.dataset.typing = `${frame.author.alias} is typing…`;
  clearTimeout(typingTimer);
  typingTimer = setTimeout(() => delete info.dataset.typing, 4000);
}

function onHidden(authors) {
  state.hidden = new Set(authors);
  for (const [id, entry] of state.messages) {
    if (state.hidden.has(entry.msg.author.id)) {
      entry.el.remove();
      state.messages.delete(id);
    }
  }
  const line = $("hidden-line");
  clear(line);
  line.hidden = !state.hidden.size;
  if (state.hidden.size) {
    add(line, 
      `You've hidden ${state.hidden.size} ${state.hidden.size === 1 ? "person" : "people"}. `,
      h(
        "button",
        {
          type: "button",
          class: "link",
          onclick: () => {
            for (const a of state.hidden) send({ type: "unhide", author: a });
            // Their messages come back with a fresh page of history.
            setTimeout(reloadHistory, 300);
          },
        },
        "Show them again",
      ),
    );
  }
}

function reloadHistory() {
  for (const entry of state.messages.values()) entry.el.remove();
  logEl.querySelectorAll(".marker").forEach((m) => m.remove());
  state.messages.clear();
  state.maxId = 0;
  state.minId = null;
  requestHistory("newest", { limit: HISTORY_PAGE });
}

// ------------------------------------------------------------------ support and check-in

function showSupport(frame) {
  const card = $("support-card");
  add(clear(card), 
    h("h2", { id: "support-title" }, "You're not alone"),
    h("p", { class: "support-message" }, frame.message),
    h("p", {}, "This note is only for you. Nobody else in the room can see it."),
    h("ul", { class: "resources" }, frame.resources.map(resourceItem)),
    h(
      "div",
      { class: "support-actions" },
      h("button", { type: "button", class: "secondary", onclick: openHelp }, "See all help options"),
      h(
        "button",
        {
          type: "button",
          class: "quiet",
          onclick: () => {
            card.hidden = true;
            input.focus();
          },
        },
        "Close this note",
      ),
    ),
  );
  card.hidden = false;
  card.focus();
  card.scrollIntoView({ block: "nearest" });
}

function showCheckin(frame) {
  const card = $("checkin-card");
  add(clear(card), 
    h("strong", {}, frame.detail || "A facilitator would like to check in with you privately."),
    " ",
    h("a", { class: "button primary", href: `/rooms/${frame.group_id}/`, target: "_blank", rel: "noopener" }, "Open the private check-in"),
  );
  card.hidden = false;
  announce("A facilitator would like to check in with you privately.", { urgent: true });
}

// ------------------------------------------------------------------ dialogs: report, hide, moderate

const dialog = $("action-dialog");
const dialogBody = $("action-body");

function openDialog(title, ...content) {
  add(clear(dialogBody), 
    h("h2", { id: "action-title" }, title),
    ...content,
    h("form", { method: "dialog", class: "dialog-actions" }, h("button", { type: "submit", class: "quiet" }, "Cancel")),
  );
  dialog.showModal();
  dialogBody.querySelector("input, select, textarea, button")?.focus();
}

function command(frame, description) {
  const ref = nextId("ref");
  state.refs.set(ref, description);
  if (!send({ ...frame, ref })) {
    toolStatus("Not connected: try again when the room is live.", "error");
    state.refs.delete(ref);
    return false;
  }
  return true;
}

function onActionDone(frame) {
  const description = frame.ref ? state.refs.get(frame.ref) : null;
  if (frame.ref) state.refs.delete(frame.ref);
  if (frame.action === "report") {
    showBanner("Thank you. Your report went to the facilitators; you'll see here when it's been looked at.", "info");
    return;
  }
  if (frame.action === "checkin.open" && frame.group_id) {
    toolStatus(`${description || "Check-in opened"}.`, "ok", { href: `/rooms/${frame.group_id}/`, text: "Open it (new tab)" });
    return;
  }
  toolStatus(`Done: ${description || frame.action}.`, "ok");
}

function toolStatus(text, kind, link) {
  const target = isStaff ? $("tool-status") : null;
  if (!target) {
    if (kind === "error") showSendError(text);
    return;
  }
  add(clear(target), text);
  if (link) add(target, " ", h("a", { href: link.href, target: "_blank", rel: "noopener" }, link.text));
  target.dataset.kind = kind;
  announce(text);
}

function fieldset(label, control, hint) {
  const id = nextId("f");
  control.id = id;
  return h("div", { class: "field" }, h("label", { for: id }, label), hint ? h("p", { class: "hint" }, hint) : null, control);
}

function reportForm(msg) {
  const reason = h(
    "select",
    { required: true },
    h("option", { value: "harassment" }, "It's hurtful or harassing"),
    h("option", { value: "unsafe" }, "It could put someone at risk"),
    h("option", { value: "contact_details" }, "It shares contact details"),
    h("option", { value: "spam" }, "It's spam or off-topic"),
    h("option", { value: "other" }, "Something else"),
  );
  const note = h("textarea", { rows: "2", maxlength: "2000" });
  const form = h(
    "form",
    { class: "stack tight" },
    fieldset("Why are you reporting it?", reason),
    fieldset("Anything the facilitators should know (optional)", note),
    h("button", { type: "submit", class: "primary" }, "Send report"),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    if (command({ type: "report", message_id: msg.id, reason: reason.value, note: note.value }, "Report sent")) {
      dialog.close();
    }
  });
  return form;
}

function memberForms(author) {
  const minutes = h(
    "select",
    {},
    [5, 10, 15, 30, 60, 120].map((m) => h("option", { value: m, selected: m === 10 || null }, `${m} minutes`)),
  );
  const reason = h("input", { required: true, maxlength: "200", placeholder: "Let's take a breath together." });
  const mute = h(
    "form",
    { class: "stack tight tool-form" },
    h("h3", {}, `Mute ${author.alias}`),
    fieldset("For how long", minutes),
    fieldset("Reason (they will see it)", reason),
    h("button", { type: "submit", class: "secondary" }, `Mute ${author.alias}`),
  );
  mute.addEventListener("submit", (event) => {
    event.preventDefault();
    if (!reason.value.trim()) {
      reason.setAttribute("aria-invalid", "true");
      reason.focus();
      return;
    }
    const n = Number(minutes.value);
    if (command({ type: "mute", member: author.id, minutes: n, reason: reason.value }, `${author.alias} muted for ${n} minutes`)) {
      dialog.close();
    }
  });
  const simple = (type, label, question, done) => {
    const why = h("input", { maxlength: "200" });
    const form = h(
      "form",
      { class: "stack tight tool-form" },
      h("h3", {}, label),
      fieldset("Reason (for the audit log)", why),
      h("button", { type: "submit", class: type === "ban" ? "danger" : "secondary" }, label),
    );
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      if (question && !window.confirm(question)) return;
      if (command({ type, member: author.id, reason: why.value }, done)) dialog.close();
    });
    return form;
  };
  return [
    mute,
    h(
      "div",
      { class: "tool-row" },
      h(
        "button",
        {
          type: "button",
          class: "secondary",
          onclick: () => {
            if (command({ type: "unmute", member: author.id }, `${author.alias} unmuted`)) dialog.close();
          },
        },
        `Lift ${author.alias}'s mute`,
      ),
      h(
        "button",
        {
          type: "button",
          class: "secondary",
          onclick: () => {
            if (command({ type: "checkin.open", member: author.id }, `Private check-in with ${author.alias} opened`)) {
              dialog.close();
            }
          },
        },
        "Open private check-in",
      ),
    ),
    simple("remove", `Remove ${author.alias} from this session`, null, `${author.alias} removed from the session`),
    simple(
      "ban",
      `Ban ${author.alias} from the group`,
      `Ban ${author.alias} from the group? They lose their place and cannot rejoin.`,
      `${author.alias} banned`,
    ),
  ];
}

function openMessageDialog(msg) {
  const own = state.you && msg.author.id === state.you.id;
  const content = [
    h("blockquote", { class: "quoted" }, h("span", { class: "alias" }, `${msg.author.alias}: `), msg.text),
  ];
  if (isStaff) {
    const reason = h("input", { maxlength: "200" });
    const del = h(
      "form",
      { class: "stack tight tool-form" },
      h("h3", {}, "Delete this message"),
      fieldset("Reason (for the audit log)", reason),
      h("button", { type: "submit", class: "danger" }, "Delete message"),
    );
    del.addEventListener("submit", (event) => {
      event.preventDefault();
      if (command({ type: "delete", message_id: msg.id, reason: reason.value }, "Message deleted")) dialog.close();
    });
    content.push(del);
    if (msg.author.role === "member" && !own) content.push(...memberForms(msg.author));
  } else {
    content.push(
      h(
        "div",
        { class: "tool-row" },
        h(
          "button",
          {
            type: "button",
            class: "secondary",
            onclick: () => {
              send({ type: "hide", author: msg.author.id });
              dialog.close();
              showBanner(`You won't see ${msg.author.alias}'s messages any more. You can show them again from the side panel.`, "info");
            },
          },
          `Hide ${msg.author.alias}'s messages`,
        ),
      ),
      h("h3", {}, "Report to the facilitators"),
      reportForm(msg),
    );
  }
  openDialog(`Message from ${msg.author.alias}`, ...content);
}

function openMemberDialog(person) {
  openDialog(`${person.alias}`, ...memberForms(person));
}

// ------------------------------------------------------------------ staff: alerts, held, reports

function contextFor(alert) {
  const ids = [...state.messages.keys()].sort((a, b) => a - b);
  const at = ids.indexOf(alert.message_id);
  if (at < 0) return null;
  return ids.slice(Math.max(0, at - 2), at + 3).map((id) => {
    const m = state.messages.get(id).msg;
    return { id, alias: m.author.alias, text: m.deleted ? "(removed)" : m.text };
  });
}

function renderAlerts() {
  const list = $("room-alerts");
  if (!list) return;
  clear(list);
  const open = sortAlerts([...state.alerts.values()].filter((a) => a.status !== "resolved"));
  for (const alert of open) {
    list.appendChild(
      alertCard(alert, {
        context: contextFor(alert),
        onChange: (updated) => {
          state.alerts.set(updated.id, updated);
          renderAlerts();
        },
      }),
    );
  }
  $("room-alerts-empty").hidden = open.length > 0;
  $("room-alert-count").textContent = open.length ? `(${open.length})` : "";
  const urgent = open.filter((a) => a.status === "open" && (a.level === "urgent" || a.level === "emergency"));
  const banner = $("urgent-banner");
  if (urgent.length) {
    const top = urgent[0];
    add(clear(banner), 
      h("strong", {}, `${top.level === "emergency" ? "Emergency" : "Urgent"} alert: `),
      `${top.member?.alias ?? "A member"} may need help now. `,
      h("a", { href: "#alerts-title" }, "See the alert"),
    );
    banner.dataset.level = top.level;
    banner.hidden = false;
  } else {
    banner.hidden = true;
  }
}

function onAlert(frame) {
  const alert = frame.alert;
  if (alert.group_id !== groupId) return;
  const isNew = !state.alerts.has(alert.id);
  state.alerts.set(alert.id, alert);
  renderAlerts();
  if (frame.type === "alert.new" || (isNew && alert.status === "open")) {
    chime(alert.level);
    if (alert.level !== "watch") {
      announce(`${alert.level} alert: ${alert.member?.alias ?? "a member"} may need help.`, { urgent: true });
    }
  }
}

function heldItem(m) {
  const li = h(
    "li",
    { class: "held-item" },
    h("p", {}, h("span", { class: "alias" }, `${m.author?.alias ?? "Member"}: `), m.text ?? ""),
    h("p", { class: "small muted" }, HELD_REASON[m.reason] ? `Held because ${HELD_REASON[m.reason]}.` : `Held: ${m.reason}`),
  );
  const act = (type, label, done) =>
    h(
      "button",
      {
        type: "button",
        class: type === "held.approve" ? "secondary" : "quiet",
        onclick: () => {
          if (command({ type, message_id: m.id }, done)) {
            state.held.delete(m.id);
            renderHeld();
          }
        },
      },
      label,
      h("span", { class: "visually-hidden" }, ` message from ${m.author?.alias ?? "member"}`),
    );
  add(li, h("div", { class: "tool-row" }, act("held.approve", "Approve", "Held message approved"), act("held.reject", "Reject", "Held message rejected")));
  return li;
}

function renderHeld() {
  const list = $("held");
  if (!list) return;
  clear(list);
  for (const m of state.held.values()) list.appendChild(heldItem(m));
  $("held-empty").hidden = state.held.size > 0;
  $("held-count").textContent = state.held.size ? `(${state.held.size})` : "";
}

function onHeldNew(message) {
  state.held.set(message.id, message);
  renderHeld();
  announce(`A message from ${message.author?.alias ?? "a member"} is waiting for review.`);
}

function renderReports() {
  const list = $("reports");
  if (!list) return;
  clear(list);
  const open = [...state.reports.values()].filter((r) => r.status !== "resolved");
  for (const r of open) {
    const m = state.messages.get(r.message_id)?.msg;
    const li = h(
      "li",
      { class: "report-item" },
      h("p", {}, h("strong", {}, `Reported: ${r.reason}`), r.note ? ` — ${r.note}` : ""),
      m ? h("blockquote", { class: "quoted" }, h("span", { class: "alias" }, `${m.author.alias}: `), m.deleted ? "(removed)" : m.text) : h("p", { class: "small muted" }, `Message #${r.message_id}`),
    );
    const resolve = h("button", { type: "button", class: "secondary" }, "Mark as handled");
    resolve.addEventListener("click", async () => {
      try {
        await api(`/api/reports/${r.id}/resolve/`, { method: "POST", body: {} });
        state.reports.set(r.id, { ...r, status: "resolved" });
        renderReports();
        toolStatus("Report marked as handled; the member was told.", "ok");
      } catch (err) {
        toolStatus(err.message, "error");
      }
    });
    const row = h("div", { class: "tool-row" }, resolve);
    if (m && !m.deleted) row.appendChild(h("button", { type: "button", class: "quiet", onclick: () => openMessageDialog(m) }, "Moderate…"));
    li.appendChild(row);
    list.appendChild(li);
  }
  $("reports-empty").hidden = open.length > 0;
}

function onReport(report) {
  if (report.group_id !== groupId) return;
  state.reports.set(report.id, report);
  renderReports();
  announce("A member reported a message.");
}

async function loadStaffQueues() {
  try {
    const [alerts, held, reports] = await Promise.all([
      api(`/api/alerts/?group=${groupId}&limit=100`),
      api(`/api/groups/${groupId}/held/`),
      api(`/api/reports/?status=open&limit=100`),
    ]);
    for (const a of alerts.results ?? alerts) if (a.status !== "resolved") state.alerts.set(a.id, a);
    for (const m of held) state.held.set(m.id, m);
    for (const r of reports.results ?? reports) if (r.group_id === groupId) state.reports.set(r.id, r);
    renderAlerts();
    renderHeld();
    renderReports();
  } catch (err) {
    toolStatus(err.message, "error");
  }
}

function setupStaffControls() {
  if (!isStaff) return;
  $("lock-toggle").addEventListener("click", () => {
    const locked = !state.room?.locked;
    command({ type: "room.update", locked }, locked ? "Room locked (read-only)" : "Room unlocked");
  });
  $("slow-mode").addEventListener("change", (event) => {
    const seconds = Number(event.target.value);
    command({ type: "room.update", slow_mode_seconds: seconds }, seconds ? `Slow mode set to ${seconds} seconds` : "Slow mode off");
  });
  $("open-apply").addEventListener("click", () => {
    const mode = $("open-mode").value;
    const words = { auto: "Room follows the schedule", open: "Room opened", closed: "Room closed" };
    command({ type: "room.update", open: mode }, words[mode]);
  });
  setInterval(() => tickDeadlines(root), 1000);
}

// ------------------------------------------------------------------ scrolling

function nearBottom() {
  return scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < 80;
}

function scrollToBottom() {
  scroller.scrollTop = scroller.scrollHeight;
  $("jump").hidden = true;
}

function updateEmpty() {
  $("log-empty").hidden = logEl.querySelector(".msg") !== null;
}

function loadOlder() {
  if (!state.hasOlder || state.loadingOlder || state.minId === null) return;
  state.loadingOlder = true;
  requestHistory("older", { before_id: state.minId, limit: HISTORY_PAGE });
}

scroller.addEventListener("scroll", () => {
  if (scroller.scrollTop < 40) loadOlder();
  if (nearBottom()) {
    $("jump").hidden = true;
    localStorage.setItem(LAST_READ_KEY, String(state.maxId));
  }
});
$("older").addEventListener("click", loadOlder);
$("jump").addEventListener("click", () => {
  scrollToBottom();
  input.focus();
});

// ------------------------------------------------------------------ keyboard: the message list
// The list is one Tab stop (a roving tabindex): the active message, the newest unless the
// reader has moved, takes focus; once it has focus, its own links and buttons follow it in the
// Tab order, and no other message's do.
// Arrow keys, Home and End move between messages; Enter opens the message's options.

let activeMsg = null;
const msgItems = () => [...logEl.querySelectorAll("li.msg")];

function syncRoving() {
  const items = msgItems();
  const focusInside = logEl.contains(document.activeElement);
  if (!(focusInside && activeMsg?.isConnected)) activeMsg = items.at(-1) ?? null;
  for (const li of items) {
    const on = li === activeMsg;
    li.tabIndex = on ? 0 : -1;
    for (const control of li.querySelectorAll("a, button")) control.tabIndex = on && focusInside ? 0 : -1;
  }
}

function activate(li) {
  activeMsg = li;
  syncRoving();
  li.focus();
}

new MutationObserver(syncRoving).observe(logEl, { childList: true, subtree: true });
logEl.addEventListener("focusin", (event) => {
  const li = event.target.closest("li.msg");
  if (li) activeMsg = li;
  syncRoving();
});
logEl.addEventListener("focusout", (event) => {
  if (!logEl.contains(event.relatedTarget)) queueMicrotask(syncRoving);
});
logEl.addEventListener("keydown", (event) => {
  if (event.key === "Escape") {
    event.preventDefault();
    input.focus();
    return;
  }
  const li = event.target;
  if (!(li instanceof HTMLElement) || !li.matches("li.msg")) return;
  const items = msgItems();
  const at = items.indexOf(li);
  let next = null;
  if (event.key === "ArrowUp") {
    next = items[at - 1];
    if (!next) loadOlder();
  } else if (event.key === "ArrowDown") next = items[at + 1];
  else if (event.key === "Home") next = items[0];
  else if (event.key === "End") next = items.at(-1);
  else if (event.key === "Enter" || event.key === "ContextMenu") {
    const options = li.querySelector(".msg-options");
    if (options) {
      event.preventDefault();
      options.click();
    }
    return;
  } else return;
  event.preventDefault();
  if (next) activate(next);
});

// Alt+Shift+M: back to the box to write in, from anywhere on the page.
document.addEventListener("keydown", (event) => {
  if (event.altKey && event.shiftKey && !event.ctrlKey && !event.metaKey && event.code === "KeyM") {
    event.preventDefault();
    if (dialog.open) dialog.close();
    input.focus();
  }
});

// ------------------------------------------------------------------ composer

$("composer").addEventListener("submit", (event) => {
  event.preventDefault();
  submit();
});
input.addEventListener("keydown", (event) => {
  if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
    event.preventDefault();
    submit();
  }
});
// Near the limit the composer counts down; past it, it says how much to cut. The count is
// read out only when it crosses a threshold, not at every keystroke.
const COUNT_FROM = MAX_CHARS - 500;
let countLevel = "";
function updateCounter() {
  const el = $("composer-count");
  const length = input.value.length;
  const level = length > MAX_CHARS ? "over" : length >= COUNT_FROM ? "near" : "";
  el.hidden = !level;
  el.dataset.level = level;
  if (level === "over") {
    el.textContent = `${(length - MAX_CHARS).toLocaleString()} characters over the 4,000 limit: shorten it or split it into two.`;
  } else if (level === "near") {
    el.textContent = `${(MAX_CHARS - length).toLocaleString()} characters left.`;
  }
  input.setAttribute("aria-invalid", level === "over" ? "true" : "false");
  if (level !== countLevel && level) announce(el.textContent);
  countLevel = level;
}

let lastTyping = 0;
input.addEventListener("input", () => {
  updateCounter();
  if (state.room?.typing_indicators && Date.now() - lastTyping > 4000) {
    lastTyping = Date.now();
    send({ type: "typing" });
  }
});
window.addEventListener("beforeunload", (event) => {
  if (state.outbox.length) {
    event.preventDefault();
  }
});

// The conversation fills the screen below what is above it (the header, the room's name, any
// notice), so the box to write in is on screen when the room opens, on a phone too.
const conversation = root.querySelector(".conversation");
function fitConversation() {
  const top = conversation.getBoundingClientRect().top + window.scrollY;
  const height = Math.max(224, window.innerHeight - top - 8);
  root.style.setProperty("--conversation-height", `${Math.floor(height)}px`);
}
const fitter = new ResizeObserver(fitConversation);
for (const el of [document.querySelector(".site-header"), root.querySelector(".room-head"), $("room-banner"), $("urgent-banner"), $("support-card"), $("checkin-card")]) {
  if (el) fitter.observe(el);
}
window.addEventListener("resize", fitConversation);
fitConversation();

setupStaffControls();
connect();
