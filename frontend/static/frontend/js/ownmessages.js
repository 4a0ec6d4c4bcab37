// Members' own messages in the room: reactions, replies that quote, editing (for a few
// minutes) and deleting, and asking a facilitator for a private check-in. room.js calls in
// here at a few named points (init, decorate, frames, the message dialog); everything is put
// into the page as text. Protocol: docs/protocol.md, "Members' own messages".
import { add, announce, clear, h } from "./common.js";

export const REACTIONS = [
  { kind: "heart", emoji: "❤️", name: "Heart" },
  { kind: "hug", emoji: "🤗", name: "Hug" },
  { kind: "pray", emoji: "🙏", name: "Thank you" },
  { kind: "metoo", emoji: "", name: "Me too" },
];
const BY_KIND = Object.fromEntries(REACTIONS.map((r) => [r.kind, r]));
const EDIT_SECONDS = Number(document.getElementById("room")?.dataset.editSeconds || 300);

let ctx = null; // {send, state, input}
let replying = null; // the message being answered: {id, alias, snippet}
const mine = new Map(); // message id -> Set of my reaction kinds

export function init(context) {
  ctx = context;
  const form = document.getElementById("composer");
  if (form && !document.getElementById("reply-bar")) {
    form.before(h("div", { id: "reply-bar", class: "reply-bar", hidden: true }));
  }
  const ask = document.getElementById("checkin-request");
  ask?.addEventListener("click", () => {
    if (!ctx.send({ type: "checkin.request", ref: "checkin-request" })) {
      status("Not connected: try again when the room is live.");
      return;
    }
    ask.disabled = true;
    status("Asking the facilitators…");
  });
}

function status(text, link) {
  const target = document.getElementById("checkin-request-status");
  if (!target) return;
  add(clear(target), text);
  if (link) add(target, " ", h("a", { href: link, target: "_blank", rel: "noopener" }, "Open the private check-in (new tab)"));
}

function snippet(text) {
  const flat = (text || "").replace(/\s+/g, " ").trim();
  return flat.length <= 140 ? flat : `${flat.slice(0, 139).trimEnd()}…`;
}

function own(msg) {
  return Boolean(ctx?.state.you && msg.author?.id === ctx.state.you.id);
}

function editable(msg) {
  if (!own(msg) || msg.deleted || !msg.id || !msg.created_at) return false;
  return Date.now() - new Date(msg.created_at).getTime() < EDIT_SECONDS * 1000 - 5000;
}

// ------------------------------------------------------------------ what a message shows

/** Adds the quoted message, the "edited" mark and the reactions to a message's element. */
export function decorate(li, msg) {
  li.querySelector(".reply-quote")?.remove();
  if (msg.reply_to && !msg.deleted) {
    const q = msg.reply_to;
    const quote = h(
      "p",
      { class: "reply-quote" },
      h("span", { class: "visually-hidden" }, "In reply to "),
      h("span", { class: "alias" }, q.alias),
      ": ",
      q.deleted ? h("em", {}, "a deleted message") : q.snippet,
    );
    li.querySelector(".msg-meta")?.after(quote);
  }
  const meta = li.querySelector(".msg-meta");
  meta?.querySelector(".edited")?.remove();
  if (msg.edited_at && !msg.deleted && meta) {
    meta.querySelector("time")?.after(h("span", { class: "edited" }, "(edited)"));
  }
  if (msg.id && msg.my_reactions) mine.set(msg.id, new Set(msg.my_reactions));
  renderReactions(li, msg);
}

function renderReactions(li, msg) {
  li.querySelector(".reactions")?.remove();
  const counts = msg.reactions || {};
  const shown = REACTIONS.filter((r) => counts[r.kind] > 0);
  if (!shown.length || msg.deleted) return;
  const list = h(
    "p",
    { class: "reactions" },
    shown.map((r) => {
      const pressed = mine.get(msg.id)?.has(r.kind) ?? false;
      return h(
        "button",
        {
          type: "button",
          class: "reaction",
          "aria-pressed": pressed ? "true" : "false",
          onclick: () => react(msg, r.kind, !pressed),
        },
        r.emoji ? h("span", { "aria-hidden": "true" }, `${r.emoji} `) : null,
        h("span", { class: r.emoji ? "visually-hidden" : "" }, `${r.name} `),
        String(counts[r.kind]),
      );
    }),
  );
  li.querySelector(".msg-text")?.after(list);
}

function react(msg, kind, on) {
  if (!ctx.send({ type: "reaction", message_id: msg.id, reaction: kind, on })) return;
  const set = mine.get(msg.id) ?? new Set();
  if (on) set.add(kind);
  else set.delete(kind);
  mine.set(msg.id, set);
}

// ------------------------------------------------------------------ frames

export function onEdited(message) {
  const entry = ctx.state.messages.get(message.id);
  if (!entry) return;
  entry.msg = { ...entry.msg, ...message, my_reactions: undefined };
  const textEl = entry.el.querySelector(".msg-text");
  if (textEl) textEl.textContent = message.text ?? "";
  decorate(entry.el, entry.msg);
  announce(`${message.author.alias} edited a message.`);
}

export function onReactions(frame) {
  const entry = ctx.state.messages.get(frame.message_id);
  if (!entry) return;
  if (ctx.state.you && frame.by === ctx.state.you.id) {
    const set = mine.get(frame.message_id) ?? new Set();
    if (frame.on) set.add(frame.reaction);
    else set.delete(frame.reaction);
    mine.set(frame.message_id, set);
  }
  entry.msg = { ...entry.msg, reactions: frame.reactions };
  renderReactions(entry.el, entry.msg);
}

/** True when this action.done was one of ours. */
export function onActionDone(frame) {
  if (frame.action === "checkin.request") {
    status(
      "A facilitator has been asked to join you in a private room. They will be with you soon.",
      frame.group_id ? `/rooms/${frame.group_id}/` : null,
    );
    announce("A facilitator has been asked to talk with you privately.");
    return true;
  }
  if (frame.action === "message.delete") {
    announce("Your message was deleted.");
    return true;
  }
  if (frame.action === "message.edit") {
    announce("Your message was edited.");
    return true;
  }
  return frame.action === "reaction";
}

// ------------------------------------------------------------------ replying

/** The reply to attach to the next message, and forgets it. */
export function takeReply() {
  const r = replying;
  cancelReply();
  return r;
}

function startReply(msg) {
  replying = { id: msg.id, alias: msg.author.alias, snippet: snippet(msg.text) };
  const bar = document.getElementById("reply-bar");
  if (bar) {
    add(
      clear(bar),
      h("span", {}, "Replying to ", h("strong", {}, replying.alias), ": ", replying.snippet),
      " ",
      h("button", { type: "button", class: "link", onclick: cancelReply }, "Cancel reply"),
    );
    bar.hidden = false;
  }
  ctx.input.focus();
}

function cancelReply() {
  replying = null;
  const bar = document.getElementById("reply-bar");
  if (bar) {
    clear(bar);
    bar.hidden = true;
  }
}

// ------------------------------------------------------------------ the message dialog

/** What the message dialog offers every member: react and reply; and for one's own message,
 * edit (for a few minutes) and delete. `close` closes the dialog. */
export function dialogActions(msg, close) {
  if (!msg.id || msg.deleted) return [];
  const set = mine.get(msg.id) ?? new Set();
  const out = [
    h(
      "div",
      { class: "react-row", role: "group", "aria-label": "React" },
      REACTIONS.map((r) =>
        h(
          "button",
          {
            type: "button",
            class: "secondary reaction-choice",
            "aria-pressed": set.has(r.kind) ? "true" : "false",
            onclick: () => {
              react(msg, r.kind, !set.has(r.kind));
              close();
            },
          },
          r.emoji ? h("span", { "aria-hidden": "true" }, `${r.emoji} `) : null,
          r.name,
        ),
      ),
    ),
    h(
      "div",
      { class: "tool-row" },
      h(
        "button",
        {
          type: "button",
          class: "secondary",
          onclick: () => {
            close();
            startReply(msg);
          },
        },
        "Reply",
      ),
    ),
  ];
  if (!own(msg)) return out;
  if (editable(msg)) {
    const area = h("textarea", { rows: "3", maxlength: "4000", id: "edit-body" });
    area.value = msg.text ?? "";
    const form = h(
      "form",
      { class: "stack tight tool-form" },
      h("label", { for: "edit-body" }, "Edit your message"),
      area,
      h("button", { type: "submit", class: "primary" }, "Save edit"),
    );
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const body = area.value;
      if (!body.trim()) {
        area.setAttribute("aria-invalid", "true");
        return;
      }
      if (ctx.send({ type: "message.edit", message_id: msg.id, body })) close();
    });
    out.push(form);
  }
  out.push(
    h(
      "div",
      { class: "tool-row" },
      h(
        "button",
        {
          type: "button",
          class: "danger",
          onclick: () => {
            if (!window.confirm("Delete this message for everyone? This cannot be undone.")) return;
            if (ctx.send({ type: "message.delete", message_id: msg.id })) close();
          },
        },
        "Delete my message",
      ),
    ),
  );
  return out;
}
