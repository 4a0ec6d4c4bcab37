// The room around the messages: its state and banners, who is here, typing, the private support
// card and check-in invitation, and sizing the conversation to the screen.
import { add, announce, clear, fmtDateTime, fmtTime, h, isStaff } from "../common.js";
import { openHelp, resourceItem } from "../help.js";
import { $, groupId, input, root, staffHooks, state } from "./core.js";
import { STATUS_TEXT, connect, refuse, setStatus } from "./socket.js";
import { roleBadge } from "./messages.js";
import { updateComposer } from "./sending.js";

export function onRefusal(frame) {
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

export function showBanner(text, kind = "info") {
  const banner = $("room-banner");
  add(clear(banner), text, " ", h("button", { type: "button", class: "link", onclick: () => (banner.hidden = true) }, "Dismiss"));
  banner.dataset.kind = kind;
  banner.hidden = false;
}

// ------------------------------------------------------------------ the room and its people

export function renderRoom(notice) {
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
  staffHooks.renderRoom?.(room);
  updateComposer();
}

export function renderPresence() {
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
    const action = person.role === "member" ? staffHooks.presenceAction?.(person) : null;
    if (action) li.appendChild(action);
    ul.appendChild(li);
  }
  if (state.presentOthers > 0) {
    ul.appendChild(h("li", { class: "muted" }, `and ${state.presentOthers} more`));
  }
}

let typingTimer = null;
export function onTyping(frame) {
  const info = $("room-info");
  info.dataset.typing = `${frame.author.alias} is typing…`;
  clearTimeout(typingTimer);
  typingTimer = setTimeout(() => delete info.dataset.typing, 4000);
}

// ------------------------------------------------------------------ support and check-in

// The support cards shown in this tab, by the message they answer: `hello` carries the card of
// an alert still open, so that one sent while the socket was away is not lost, and each shows once.
function supportKey(frame) {
  return `haven.support.${groupId}.${frame.message_id ?? frame.level}`;
}

export function showSupport(frame, { unlessShown = false } = {}) {
  try {
    if (unlessShown && sessionStorage.getItem(supportKey(frame))) return;
    sessionStorage.setItem(supportKey(frame), "1");
  } catch {
    // Storage refused (a private window's quota): show it; twice is better than never.
  }
  const card = $("support-card");
  add(clear(card), 
    h("h2", { id: "support-title" }, "You're not alone"),
    h("p", { class: "support-message" }, frame.message),
    h("p", {}, "This note is only for you. Nobody else in the room can see it."),
    h("ul", { class: "resources" }, frame.resources.map(resourceItem)),
    frame.more > 0
      ? h("p", { class: "small" }, `${frame.more} more ${frame.more === 1 ? "line is" : "lines are"} under “See all help options”.`)
      : null,
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

export function showCheckin(frame) {
  const card = $("checkin-card");
  add(clear(card), 
    h("strong", {}, frame.detail || "A facilitator would like to check in with you privately."),
    " ",
    h("a", { class: "button primary", href: `/rooms/${frame.group_id}/`, target: "_blank", rel: "noopener" }, "Open the private check-in"),
  );
  card.hidden = false;
  announce("A facilitator would like to check in with you privately.", { urgent: true });
}

// The conversation fills the screen below what is above it (the header, the room's name, any
// notice), so the box to write in is on screen when the room opens, on a phone too.
const conversation = root.querySelector(".conversation");
const MIN_CONVERSATION = 224;
const stacked = window.matchMedia("(max-width: 52rem)");
export function fitConversation() {
  // On a phone the support card sits above the conversation: it gives up height (and scrolls
  // within itself) so that the conversation, and the box to write in, still fit on screen.
  const card = $("support-card");
  if (card && !card.hidden && stacked.matches) {
    const cardTop = card.getBoundingClientRect().top + window.scrollY;
    const room = window.innerHeight - cardTop - MIN_CONVERSATION - 40;
    root.style.setProperty("--support-max-height", `${Math.max(160, Math.floor(room))}px`);
  }
  const top = conversation.getBoundingClientRect().top + window.scrollY;
  const height = Math.max(MIN_CONVERSATION, window.innerHeight - top - 8);
  root.style.setProperty("--conversation-height", `${Math.floor(height)}px`);
}
const fitter = new ResizeObserver(fitConversation);
for (const el of [document.querySelector(".site-header"), root.querySelector(".room-head"), $("room-banner"), $("urgent-banner"), $("support-card"), $("checkin-card")]) {
  if (el) fitter.observe(el);
}
window.addEventListener("resize", fitConversation);
