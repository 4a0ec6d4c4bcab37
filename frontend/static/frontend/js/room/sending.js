// Sending: the outbox that keeps a member's order, the pending, held and failed states of their
// own messages, refusals and mutes, and the composer with its counter and shortcut.
import { add, announce, clear, fmtTime, h, isStaff, uuid } from "../common.js";
import { $, ACK_TIMEOUT_MS, HISTORY_PAGE, MAX_CHARS, input, logEl, sendButton, state } from "./core.js";
import { requestHistory, send } from "./socket.js";
import { addOptions, catchUp, insertById, messageEl, scrollToBottom, updateEmpty } from "./messages.js";
import { onRefusal, showBanner } from "./view.js";
import { dialog, toolStatus } from "./dialogs.js";
import * as ownMessages from "../ownmessages.js";

// ------------------------------------------------------------------ sending

const PENDING_TEXT = {
  sending: "Sending…",
  waiting: "Waiting for the connection…",
  failed: "Not sent.",
  held: "Held for review: a facilitator will look at it before the group sees it.",
  rejected: "Not shared by a moderator.",
};

export function setPending(p, st, extra) {
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
export function pump() {
  const head = state.outbox[0];
  if (!head || head.inFlight || head.timer) return;
  const frame = { type: "message.send", client_id: head.cid, body: head.body };
  if (head.replyTo) frame.reply_to = head.replyTo.id;
  if (!send(frame)) {
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
  const replyTo = ownMessages.takeReply();
  const el = messageEl({ author, text: body, created_at: null, reply_to: replyTo }, { own: true });
  el.dataset.clientId = cid;
  logEl.appendChild(el);
  const p = { cid, body, el, state: "sending", timer: null, replyTo };
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

export function confirmPending(cid, p, id, msg) {
  state.pending.delete(cid);
  settle(cid, { delivered: true });
  const full = msg ?? {
    id,
    author: state.you,
    text: p.body,
    created_at: new Date().toISOString(),
    reply_to: p.replyTo ?? null,
  };
  const li = messageEl(full, { own: true });
  li.dataset.id = id;
  li.id = `msg-${id}`;
  p.el.remove();
  insertById(li, id);
  addOptions(li, full);
  return li;
}

export function onAck(frame) {
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

export const HELD_REASON = {
  contact_details: "it looks like it shares contact details",
  harassment: "it may be hurtful to another member",
};

export function onHeld(frame) {
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

export function onRejected(frame) {
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

export function onError(frame) {
  const refusalCodes = ["unauthenticated", "not_member", "removed", "agreement_required", "not_found", "room_closed", "forbidden"];
  if (!frame.client_id && !frame.action && refusalCodes.includes(frame.code)) {
    return onRefusal(frame);
  }
  if (frame.action === "history") {
    // A history request refused before it was read (rate_limited, queue_full): keep the queue
    // of answers in step, and ask again once the wait is over.
    const kind = state.historyQueue.shift();
    const again = kind === "newest" ? () => requestHistory("newest", { limit: HISTORY_PAGE }) : () => catchUp();
    if (kind === "older") state.loadingOlder = false;
    else setTimeout(again, (frame.retry_after ?? 1) * 1000 + 100);
    return undefined;
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
    // A wait only for a message still in the outbox: one that timed out meanwhile is already
    // marked "not sent", and only the outbox's first message is ever sent.
    const queued = state.outbox.includes(p);
    if (queued && (frame.code === "rate_limited" || frame.code === "slow_mode") && frame.retry_after) {
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

export function showSendError(text, code = "other") {
  const el = $("send-error");
  el.textContent = text;
  el.hidden = false;
  state.sendNotice = code;
}

function hideSendError() {
  $("send-error").hidden = true;
  state.sendNotice = null;
}

export function onMuted(frame) {
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

export function updateComposer() {
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
  if (level !== "over" && state.sendNotice === "too_long") hideSendError();
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
