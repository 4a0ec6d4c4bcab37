// The facilitators' and admins' tools in the room: alerts, held messages, reports, the room
// controls and the moderation forms. Loaded only for staff; it joins the room through the hooks
// that room/core.js names.
import { add, announce, api, clear, h, items, nextPage } from "../common.js";
import { alertCard, levelRaised, replaceCards, sortAlerts, tickDeadlines } from "../alertcard.js";
import { chime } from "../sound.js";
import { $, groupId, root, staffHooks, state } from "./core.js";
import { HELD_REASON } from "./sending.js";
import { command, dialog, fieldset, openDialog, openMessageDialog, toolStatus } from "./dialogs.js";

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
  const open = sortAlerts([...state.alerts.values()].filter((a) => a.status !== "resolved"));
  replaceCards(
    list,
    open.map((alert) =>
      alertCard(alert, {
        context: contextFor(alert),
        onChange: (updated) => {
          state.alerts.set(updated.id, updated);
          renderAlerts();
        },
      }),
    ),
  );
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

function ring(alert) {
  chime(alert.level, `${alert.id}:${alert.tier}:${alert.level}`);
  if (alert.level !== "watch") {
    announce(`${alert.level} alert: ${alert.member?.alias ?? "a member"} may need help.`, { urgent: true });
  }
}

// Which alerts a frame changed, and when (a count, not a clock): a copy fetched over REST before
// that is older than the frame's and must not replace it.
let frameCount = 0;
const changedAt = new Map(); // alert id -> frameCount

function onAlert(frame) {
  const alert = frame.alert;
  if (alert.group_id !== groupId) return;
  const before = state.alerts.get(alert.id);
  state.alerts.set(alert.id, alert);
  changedAt.set(alert.id, ++frameCount);
  renderAlerts();
  // Rung once, by whichever of this frame and the catch-up (loadStaffQueues) lists it first;
  // and again when its level rises (a watch entry the learned stage finds urgent).
  if ((!before || levelRaised(before, alert)) && alert.status === "open") ring(alert);
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

let queuesLoaded = false;

/** Every alert of this room in one status, page after page (the room's unresolved alerts are
 * few, but however many there are, each one counts). */
async function alertsIn(status) {
  const found = [];
  let path = `/api/alerts/?group=${groupId}&status=${status}&limit=200`;
  for (let pages = 0; path && pages < 50; pages += 1) {
    const page = await api(path);
    found.push(...items(page));
    path = nextPage(page);
  }
  return found;
}

/** On every hello: the queues as they are now. After a reconnect they hold what happened while
 * the room's socket was away, which no frame told: alerts resolved meanwhile go (however old),
 * and an alert raised meanwhile rings here (the site-wide bell leaves this room's alerts to the
 * room). */
async function loadStaffQueues() {
  const askedAt = frameCount;
  try {
    const [open, acknowledged, held, reports] = await Promise.all([
      alertsIn("open"),
      alertsIn("acknowledged"),
      api(`/api/groups/${groupId}/held/`),
      api(`/api/reports/?status=open&limit=100`),
    ]);
    const unresolved = new Set();
    for (const a of [...open, ...acknowledged]) {
      unresolved.add(a.id);
      if ((changedAt.get(a.id) ?? 0) > askedAt) continue; // a frame since brought a newer copy
      const isNew = !state.alerts.has(a.id);
      state.alerts.set(a.id, a);
      if (isNew && queuesLoaded && a.status === "open") ring(a);
    }
    // What the panel still lists that is neither open nor acknowledged now was resolved while
    // the socket was away, unless a frame since told otherwise.
    for (const id of [...state.alerts.keys()]) {
      if (!unresolved.has(id) && (changedAt.get(id) ?? 0) <= askedAt) state.alerts.delete(id);
    }
    queuesLoaded = true;
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

function renderControls(room) {
  $("lock-toggle").textContent = room.locked ? "Unlock the room" : "Lock the room (read-only)";
  $("lock-toggle").setAttribute("aria-pressed", room.locked ? "true" : "false");
  $("slow-mode").value = String(room.slow_mode_seconds || 0);
  if (![...$("slow-mode").options].some((o) => o.value === String(room.slow_mode_seconds))) {
    add($("slow-mode"), h("option", { value: room.slow_mode_seconds }, `${room.slow_mode_seconds} seconds`));
    $("slow-mode").value = String(room.slow_mode_seconds);
  }
  $("room-status").textContent = `${room.open ? "Open to members" : "Closed to members"}${room.locked ? ", read-only" : ""}.`;
}

function presenceAction(person) {
  return h(
    "button",
    { type: "button", class: "link small", onclick: () => openMemberDialog(person) },
    "Actions",
    h("span", { class: "visually-hidden" }, ` for ${person.alias}`),
  );
}

function messageTools(msg, { own }) {
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
  return msg.author.role === "member" && !own ? [del, ...memberForms(msg.author)] : [del];
}

Object.assign(staffHooks, {
  onHello: loadStaffQueues,
  renderRoom: renderControls,
  presenceAction,
  messageTools,
  frames: {
    "alert.new": onAlert,
    "alert.updated": onAlert,
    "held.new": (frame) => onHeldNew(frame.message),
    "report.new": (frame) => onReport(frame.report),
  },
});
setupStaffControls();
