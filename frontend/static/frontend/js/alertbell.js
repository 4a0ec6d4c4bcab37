// Alerts for facilitators and admins on every page: one /ws/alerts/ socket per page, the count
// of alerts waiting for acknowledgement in the nav and the tab title, and for every urgent or
// emergency alert that reaches me (new, or escalated to my tier) the chime, an assertive
// announcement and a browser notification (once allowed). The alert queue page shows the same
// alerts through `feed`, so a page never opens two sockets.
import { add, announce, clear, h, isStaff } from "./common.js";
import { chime, onSoundChange, setSound, soundState } from "./sound.js";
import { levelRaised } from "./alertcard.js";

const alerts = new Map();
const changeListeners = new Set();
const statusListeners = new Set();
let ws = null;
let attempt = 0;
let everLive = false;
let lastFrameAt = 0;
let pingAt = 0;
let status = { state: "connecting", text: "Connecting…" };
// The alerts that an alert frame changed since the last hello: newer than a page's copy, which
// the server may have read before the change (a resolved one is gone from `alerts`).
const changedSinceHello = new Set();
// After a reconnect's hello, the alerts listed before it: an open alert that is not among them,
// on the hello or on a later page, was raised while none could reach us, and rings.
let listedBefore = null;
// On a room page the room rings for that room's new alerts: live, and those its own catch-up
// finds after a reconnect (room/staff.js).
const roomGroupId = Number(document.getElementById("room")?.dataset.groupId) || null;

/** The open and acknowledged alerts I may handle, live. */
export const feed = {
  alerts,
  /** fn(frame) after each frame from /ws/alerts/ is applied (frame is null for a page). */
  onChange(fn) {
    changeListeners.add(fn);
  },
  /** fn({state, text}) now and whenever the connection changes. */
  onStatus(fn) {
    statusListeners.add(fn);
    fn(status);
  },
  send(frame) {
    if (ws && ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(frame));
  },
};

function setStatus(state, text) {
  status = { state, text };
  for (const fn of statusListeners) fn(status);
}

function changed(frame) {
  renderCount();
  for (const fn of changeListeners) fn(frame);
}

// ------------------------------------------------------------------ count and tab title

const TITLE_PREFIX = /^\(\d+\) /;
let waitingCount = 0;

function applyTitle() {
  const base = document.title.replace(TITLE_PREFIX, "");
  const wanted = waitingCount ? `(${waitingCount}) ${base}` : base;
  if (document.title !== wanted) document.title = wanted;
}

function renderCount() {
  waitingCount = [...alerts.values()].filter((a) => a.status === "open" && a.level !== "watch").length;
  const badge = document.getElementById("nav-alert-count");
  if (badge) {
    badge.hidden = !waitingCount;
    add(clear(badge), String(waitingCount), h("span", { class: "visually-hidden" }, " waiting"));
  }
  applyTitle();
}

// ------------------------------------------------------------------ ringing

function describe(alert, how) {
  const level = alert.level === "emergency" ? "Emergency" : alert.level === "urgent" ? "Urgent" : "Watch";
  const who = alert.kind === "unattended" ? "The room has no facilitator" : `${alert.member?.alias ?? "A member"} may need help now`;
  if (how === "reopened") {
    return `${level} alert open again in ${alert.group_name}: whoever acknowledged it has left. ${who}.`;
  }
  if (how === "again") {
    return `${level} alert open again in ${alert.group_name}, not acknowledged: ${who}.`;
  }
  return how === "escalated"
    ? `${level} alert escalated to you, not yet acknowledged, in ${alert.group_name}: ${who}.`
    : `${level} alert in ${alert.group_name}: ${who}.`;
}

function notifyBrowser(alert, text) {
  if (!("Notification" in window) || Notification.permission !== "granted") return;
  try {
    // The member's words never go into a notification: it may show on a locked screen.
    const note = new Notification(`Haven: ${alert.level} alert`, {
      body: text,
      tag: `haven-alert-${alert.id}`,
      renotify: true,
      requireInteraction: alert.level === "emergency",
    });
    note.addEventListener("click", () => {
      window.focus();
      location.assign(`/alerts/#alert-${alert.id}`);
      note.close();
    });
  } catch {
    // Some browsers only allow notifications from a service worker; the page still rings.
  }
}

/** `how`: "escalated", "reopened" (acknowledged, and whoever did it left), "again" (found open
 * again after a reconnect), or nothing (new). */
function ring(alert, how) {
  const text = describe(alert, how);
  if (alert.level === "watch") {
    announce(text);
    return;
  }
  // One chime per event: the room's page and this bell may both hear a new alert; an alert open
  // again is a new event of its own.
  const key = `${alert.id}:${alert.tier}:${alert.level}`;
  chime(alert.level, how === "reopened" || how === "again" ? `${key}:again` : key);
  announce(text, { urgent: true });
  notifyBrowser(alert, text);
}

/** After a reconnect: ring for what the list now holds open that it did not before, new (the
 * room page rings for its own) or acknowledged before and open again (nothing else will). */
function ringMissed(listed) {
  if (!listedBefore) return;
  for (const a of listed) {
    if (a.status !== "open") continue;
    const before = listedBefore.get(a.id);
    if (before === "acknowledged") ring(a, "again");
    else if (before === undefined && a.group_id !== roomGroupId) ring(a);
  }
}

function onAlert(frame) {
  const alert = frame.alert;
  const before = alerts.get(alert.id);
  changedSinceHello.add(alert.id);
  if (alert.status === "resolved") alerts.delete(alert.id);
  else alerts.set(alert.id, alert);
  changed(frame);
  if (alert.status !== "open") return;
  const fresh = frame.type === "alert.new" || !before || levelRaised(before, alert);
  if (frame.reopened) ring(alert, "reopened");
  else if (frame.escalated) ring(alert, "escalated");
  else if (fresh && alert.group_id !== roomGroupId) ring(alert);
}

// ------------------------------------------------------------------ the socket

function connect() {
  const proto = location.protocol === "https:" ? "wss:" : "ws:";
  setStatus(everLive ? "reconnecting" : "connecting", everLive ? "Reconnecting…" : "Connecting…");
  const socket = new WebSocket(`${proto}//${location.host}/ws/alerts/`);
  ws = socket;
  lastFrameAt = pingAt = Date.now();
  socket.addEventListener("message", (event) => {
    if (socket !== ws) return;
    lastFrameAt = Date.now();
    let frame;
    try {
      frame = JSON.parse(event.data);
    } catch {
      return;
    }
    if (frame.type === "hello") {
      // A hello after the first (a reconnect, or the fresh queue the server sends after its
      // channel layer restarted) and its pages may list alerts raised while none could reach us:
      // ring for them.
      listedBefore = everLive ? new Map([...alerts.values()].map((a) => [a.id, a.status])) : null;
      changedSinceHello.clear();
      attempt = 0;
      everLive = true;
      setStatus("live", "Live");
      // The hello starts the list of open and acknowledged alerts: it replaces what we had.
      // A long queue comes in pages (each fits in one frame): ask for the next while there is one.
      alerts.clear();
      for (const a of frame.alerts) alerts.set(a.id, a);
      changed(frame);
      ringMissed(frame.alerts);
      if (frame.has_more) feed.send({ type: "alerts.page", cursor: frame.next });
    } else if (frame.type === "alerts.page") {
      const added = frame.alerts.filter((a) => !alerts.has(a.id) && !changedSinceHello.has(a.id));
      for (const a of added) alerts.set(a.id, a);
      changed(frame);
      ringMissed(added);
      if (frame.has_more) feed.send({ type: "alerts.page", cursor: frame.next });
    } else if (frame.type === "alert.new" || frame.type === "alert.updated") {
      onAlert(frame);
    } else {
      changed(frame);
    }
  });
  socket.addEventListener("close", (event) => {
    if (socket !== ws) return; // the watchdog gave up on it and reconnected already
    ws = null;
    if (event.code === 4401 || event.code === 4403) {
      setStatus("closed", "Not connected: sign in again");
      return;
    }
    reconnectSoon();
  });
}

function reconnectSoon() {
  const delay = Math.min(10000, 500 * 2 ** attempt) * (0.5 + Math.random() / 2);
  attempt += 1;
  setStatus("reconnecting", "Reconnecting…");
  setTimeout(connect, delay);
}

// A socket can die without a close event (a laptop that slept, a network that changed): the
// page would say "Live" while every alert went past it. Ping every 20 s (the server answers
// `pong`) and give up on a socket that has not answered its last ping (or never opened) and
// brought nothing for 45 s. Asking for the answer, not only the silence, keeps a background
// tab whose timers the browser slows to once a minute from dropping a good socket. The close
// event of a dead link can take a minute to come, so the watchdog does not wait for it.
function watchdog() {
  if (!ws) return;
  if (lastFrameAt < pingAt && Date.now() - lastFrameAt > 45000) {
    const dead = ws;
    ws = null;
    dead.close();
    reconnectSoon();
    return;
  }
  pingAt = Date.now();
  feed.send({ type: "ping" });
}

// ------------------------------------------------------------------ "Turn on alerts"

const PROMPT_DISMISSED = "haven.alertsPrompt";

function notificationState() {
  if (!("Notification" in window)) return "unsupported";
  return Notification.permission; // "default", "granted" or "denied"
}

function renderPrompt() {
  const box = document.getElementById("alert-bell");
  if (!box) return;
  const sound = soundState();
  const notes = notificationState();
  const askNotes = notes === "default" && localStorage.getItem(PROMPT_DISMISSED) !== "1";
  const text = document.getElementById("alert-bell-text");
  const on = document.getElementById("alert-bell-on");
  const later = document.getElementById("alert-bell-later");
  if (sound === "blocked") {
    text.textContent = "Alert sound is blocked by the browser until you click on the page.";
    on.textContent = askNotes ? "Turn on alerts" : "Turn on alert sound";
  } else if (askNotes) {
    text.textContent = "Get a browser notification when an alert reaches you.";
    on.textContent = "Turn on alerts";
  }
  later.hidden = !(askNotes && sound !== "blocked");
  // The alert queue says so itself, next to its sound switch.
  const pageSaysSo = Boolean(document.getElementById("sound-blocked"));
  box.hidden = !((sound === "blocked" && !pageSaysSo) || askNotes);
}

function setUpPrompt() {
  const on = document.getElementById("alert-bell-on");
  if (!on) return;
  on.addEventListener("click", async () => {
    if (soundState() === "blocked") setSound(true);
    if (notificationState() === "default") {
      try {
        await Notification.requestPermission();
      } catch {
        // An old browser with the callback form only: nothing more to do.
      }
    }
    renderPrompt();
    const sound = soundState();
    const notes = notificationState();
    announce(
      `Alerts are on${sound === "on" ? " with sound" : ""}${notes === "granted" ? " and browser notifications" : ""}.`,
    );
  });
  document.getElementById("alert-bell-later").addEventListener("click", () => {
    localStorage.setItem(PROMPT_DISMISSED, "1");
    renderPrompt();
  });
  onSoundChange(renderPrompt);
  renderPrompt();
}

if (isStaff && document.getElementById("alert-bell")) {
  const title = document.querySelector("title");
  if (title) new MutationObserver(applyTitle).observe(title, { childList: true });
  setUpPrompt();
  connect();
  setInterval(watchdog, 20000);
}
