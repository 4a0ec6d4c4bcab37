// The message list: putting messages in id order, history and catch-up after a reconnect,
// markers, scrolling, and the keyboard (the list is one roving Tab stop).
import { add, announce, clear, fmtDateTime, fmtTime, h, linkify } from "../common.js";
import { $, CATCH_UP_PAGE, HISTORY_PAGE, LAST_READ_KEY, input, logEl, scroller, state } from "./core.js";
import { requestHistory, send } from "./socket.js";
import { HELD_REASON, confirmPending, setPending } from "./sending.js";
import { openMessageDialog } from "./dialogs.js";
import * as ownMessages from "../ownmessages.js";

// Two messages committed at the same moment on two web processes can be announced out of id
// order, so catching up starts a little before the highest id seen; duplicates are dropped by id.
const CATCH_UP_OVERLAP = 20;

export function catchUp(sinceId) {
  const from = typeof sinceId === "number" ? Math.min(state.maxId, sinceId) : state.maxId;
  requestHistory("after", {
    after_id: Math.max(0, from - CATCH_UP_OVERLAP),
    limit: CATCH_UP_PAGE,
  });
}

export function onHistory(frame) {
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
    state.loadedNewest = true;
    state.markerBefore = null;
    state.awayCount = 0;
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
    // From this page's far end, not the highest id seen: messages that arrived live meanwhile
    // are above the ones still to fetch.
    requestHistory("after", { after_id: frame.messages.at(-1).id, limit: CATCH_UP_PAGE });
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

export function roleBadge(author) {
  if (author.role === "facilitator") return h("span", { class: "badge facilitator" }, "Facilitator");
  if (author.role === "admin") return h("span", { class: "badge facilitator" }, "Staff");
  return null;
}

export function messageEl(msg, { own = false } = {}) {
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
  ownMessages.decorate(li, msg);
  return li;
}

function setText(li, msg) {
  const textEl = li.querySelector(".msg-text");
  clear(textEl);
  if (msg.deleted) {
    li.classList.add("deleted");
    textEl.textContent =
      msg.deleted_by === "author" ? "This message was deleted by its author." : "This message was removed by a moderator.";
  } else {
    // `text` is what the person typed; links are built as nodes, never parsed from HTML.
    textEl.appendChild(linkify(msg.text ?? ""));
  }
}

export function addOptions(li, msg) {
  if (msg.deleted || !msg.id) return;
  // Every message has its options: react and reply; one's own also edit and delete.
  li.querySelector(".msg-options")?.remove();
  const label = `Message options: ${msg.author.alias}, ${msg.created_at ? fmtTime(msg.created_at) : ""}`;
  li.appendChild(
    h(
      "button",
      {
        type: "button",
        class: "msg-options",
        "aria-label": label,
        title: "React, reply, report or moderate",
        onclick: () => openMessageDialog(msg),
      },
      "⋯",
    ),
  );
}

/** Puts an element in id order; unsent messages (no id) stay at the end. */
export function insertById(li, id) {
  let after = logEl.lastElementChild;
  while (after && (!after.dataset.id || Number(after.dataset.id) > id)) {
    after = after.previousElementSibling;
  }
  if (after) after.after(li);
  else logEl.prepend(li);
}

/** Returns true when the message was new to this page. */
export function addMessage(msg, { live, catchUp = false }) {
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

export function onDeleted(id, by) {
  const entry = state.messages.get(id);
  if (!entry) return;
  entry.msg = { ...entry.msg, deleted: true, text: "", deleted_by: by === "author" ? "author" : "" };
  setText(entry.el, entry.msg);
  ownMessages.decorate(entry.el, entry.msg);
  entry.el.querySelector(".msg-options")?.remove();
}

export function onHidden(authors) {
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

// ------------------------------------------------------------------ scrolling

function nearBottom() {
  return scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < 80;
}

export function scrollToBottom() {
  scroller.scrollTop = scroller.scrollHeight;
  $("jump").hidden = true;
}

export function updateEmpty() {
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
