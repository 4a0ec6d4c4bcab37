// The alert queue across my groups: live from /ws/alerts/ (through the site-wide bell, which
// rings), most severe first, then oldest; held messages and reports to review. An e-mail's
// link (/alerts/#alert-12) scrolls to that alert and focuses it.
import { feed } from "./alertbell.js";
import { alertCard, replaceCards, sortAlerts, tickDeadlines } from "./alertcard.js";
import { add, api, clear, h, items, me } from "./common.js";
import { chime, onSoundChange, setSound, soundState } from "./sound.js";

const $ = (id) => document.getElementById(id);
// Resolved alerts (the socket only carries open and acknowledged ones), and alerts fetched for a
// link while the socket was not yet live.
const extra = new Map();
let linked = false;

function allAlerts() {
  const all = new Map(extra);
  for (const [id, a] of feed.alerts) all.set(id, a);
  return [...all.values()];
}

function render() {
  // The lists are built anew, keeping what was begun on each card and focus (replaceCards); a
  // card that moved to the other list gets the focus it had.
  const active = document.activeElement;
  const activeCard = active?.closest?.(".alert-card[data-alert-id]");
  const everything = allAlerts();
  const open = sortAlerts(everything.filter((a) => a.status !== "resolved"));
  const resolved = everything
    .filter((a) => a.status === "resolved")
    .sort((a, b) => (b.resolved_at || "").localeCompare(a.resolved_at || ""))
    .slice(0, 20);
  replaceCards(
    $("alert-queue"),
    open.map((alert) => alertCard(alert, { showGroup: true, anchor: true, onChange: update })),
  );
  replaceCards(
    $("alert-resolved"),
    resolved.map((alert) => alertCard(alert, { showGroup: true, anchor: true })),
  );
  $("alert-empty").hidden = open.length > 0;
  $("alert-count").textContent = open.length ? `(${open.length})` : "";
  const waiting = open.filter((a) => a.status === "open" && a.level !== "watch");
  const banner = $("urgent-banner");
  if (waiting.length) {
    const top = waiting[0];
    add(clear(banner), 
      h("strong", {}, `${top.level === "emergency" ? "Emergency" : "Urgent"}: `),
      `${top.member?.alias ?? "A member"} in ${top.group_name} may need help now.`,
      waiting.length > 1 ? ` (${waiting.length} waiting for acknowledgement)` : "",
    );
    banner.dataset.level = top.level;
    banner.hidden = false;
  } else {
    banner.hidden = true;
  }
  if (activeCard && !activeCard.isConnected && !document.activeElement?.closest?.(".alert-card")) {
    const again = document.getElementById(activeCard.id);
    if (again) again.focus({ preventScroll: true });
  }
  showLinked();
}

/** The alert named in the address (from an e-mail), once: scrolled to and focused. */
async function showLinked() {
  const match = /^#alert-(\d+)$/.exec(location.hash);
  if (linked || !match) return;
  const card = document.getElementById(`alert-${match[1]}`);
  if (card) {
    linked = true;
    if (card.closest("details")) card.closest("details").open = true;
    card.scrollIntoView({ block: "center" });
    card.focus();
    return;
  }
  if (extra.has(Number(match[1]))) return;
  linked = true; // fetch it once; render() will show it
  try {
    const alert = await api(`/api/alerts/${match[1]}/`);
    extra.set(alert.id, alert);
    linked = false;
    render();
  } catch {
    $("queue-status").textContent = "That alert is not in your queue: it may be in a group you no longer facilitate.";
  }
}

function update(alert) {
  if (alert.status === "resolved") {
    feed.alerts.delete(alert.id);
    extra.set(alert.id, alert);
  } else if (feed.alerts.has(alert.id) || !extra.has(alert.id)) {
    feed.alerts.set(alert.id, alert);
  } else {
    extra.set(alert.id, alert);
  }
  render();
}

feed.onStatus(({ state, text }) => {
  $("conn").dataset.state = state;
  $("conn-text").textContent = text;
});
feed.onChange((frame) => {
  if (frame?.type === "held.new" || frame?.type === "report.new") loadQueues();
  else if (frame?.alert?.status === "resolved") {
    extra.set(frame.alert.id, frame.alert);
    render();
  } else {
    if (frame?.alert) extra.delete(frame.alert.id);
    render();
  }
});

function status(text, kind = "ok") {
  const el = $("queue-status");
  el.textContent = text;
  el.dataset.kind = kind;
}

async function groupsIModerate() {
  const path = me.role === "admin" ? "/api/groups/?limit=200" : "/api/groups/?mine=true&limit=200";
  return items(await api(path));
}

async function loadQueues() {
  try {
    const groups = await groupsIModerate();
    const names = Object.fromEntries(groups.map((g) => [g.id, g.name]));
    const held = (await Promise.all(groups.map((g) => api(`/api/groups/${g.id}/held/`).catch(() => [])))).flat();
    const heldList = clear($("held"));
    for (const m of held) {
      const act = (verb, label) =>
        h(
          "button",
          {
            type: "button",
            class: verb === "approve" ? "secondary" : "quiet",
            onclick: async () => {
              try {
                await api(`/api/messages/${m.id}/${verb}/`, { method: "POST", body: {} });
                status(verb === "approve" ? "Approved: the room can see it now." : "Rejected: the author was told.");
                loadQueues();
              } catch (err) {
                status(err.message, "error");
              }
            },
          },
          label,
          h("span", { class: "visually-hidden" }, ` message from ${m.author?.alias ?? "member"}`),
        );
      heldList.appendChild(
        h(
          "li",
          { class: "held-item" },
          h("p", { class: "small muted" }, h("a", { href: `/rooms/${m.group_id}/` }, names[m.group_id] ?? "Room"), ` · held for ${m.reason.replace("_", " ")}`),
          h("p", {}, h("strong", {}, `${m.author?.alias ?? "Member"}: `), m.text),
          h("div", { class: "tool-row" }, act("approve", "Approve"), act("reject", "Reject")),
        ),
      );
    }
    $("held-empty").hidden = held.length > 0;
    $("held-count").textContent = held.length ? `(${held.length})` : "";

    const reports = items(await api("/api/reports/?status=open&limit=100"));
    const reportList = clear($("reports"));
    for (const r of reports) {
      const resolve = h("button", { type: "button", class: "secondary" }, "Mark as handled");
      resolve.addEventListener("click", async () => {
        try {
          await api(`/api/reports/${r.id}/resolve/`, { method: "POST", body: {} });
          status("Report marked as handled; the member was told.");
          loadQueues();
        } catch (err) {
          status(err.message, "error");
        }
      });
      reportList.appendChild(
        h(
          "li",
          { class: "report-item" },
          h("p", { class: "small muted" }, h("a", { href: `/rooms/${r.group_id}/#msg-${r.message_id}` }, names[r.group_id] ?? "Room"), ` · message #${r.message_id}`),
          h("p", {}, h("strong", {}, r.reason), r.note ? ` — ${r.note}` : ""),
          r.reporter ? h("p", { class: "small muted" }, `Reported by ${r.reporter}`) : null,
          h("div", { class: "tool-row" }, resolve),
        ),
      );
    }
    $("reports-empty").hidden = reports.length > 0;
    $("reports-count").textContent = reports.length ? `(${reports.length})` : "";
  } catch (err) {
    status(err.message, "error");
  }
}

async function loadResolved() {
  try {
    for (const a of items(await api("/api/alerts/?status=resolved&limit=20"))) extra.set(a.id, a);
    render();
  } catch {
    // The live queue matters more than the history; it still works without it.
  }
}

/** Watch-level alerts go live only to facilitators in the room; the queue fetches them too. */
async function refreshOpen() {
  try {
    const fresh = new Map();
    for (const status of ["open", "acknowledged"]) {
      for (const a of items(await api(`/api/alerts/?status=${status}&limit=200`))) fresh.set(a.id, a);
    }
    for (const [id, a] of extra) if (a.status !== "resolved" && !fresh.has(id)) extra.delete(id);
    for (const [id, a] of fresh) if (!feed.alerts.has(id)) extra.set(id, a);
    render();
  } catch {
    // The socket still delivers urgent and emergency alerts.
  }
}

// The box is ticked only while sound can play: a browser that waits for a click says so.
const toggle = $("sound-toggle");
function renderSound(state = soundState()) {
  toggle.checked = state === "on";
  $("sound-blocked").hidden = state !== "blocked";
}
toggle.addEventListener("change", () => {
  setSound(toggle.checked);
  renderSound();
});
$("sound-on").addEventListener("click", () => {
  setSound(true);
  renderSound();
});
$("sound-test").addEventListener("click", () => {
  if (soundState() === "off") setSound(true);
  chime("urgent");
  renderSound();
});
onSoundChange(renderSound);
renderSound();

loadResolved();
loadQueues();
setInterval(loadQueues, 30000);
setInterval(refreshOpen, 15000);
setInterval(() => tickDeadlines(document), 1000);
