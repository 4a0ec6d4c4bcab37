// The alert queue across my groups: live from /ws/alerts/, most severe first, then oldest; a tone
// and a visual cue for urgent and emergency; held messages and reports to review.
import { alertCard, sortAlerts, tickDeadlines } from "./alertcard.js";
import { add, announce, api, clear, h, items, me } from "./common.js";
import { chime, setSound, soundEnabled } from "./sound.js";

const $ = (id) => document.getElementById(id);
const alerts = new Map();
let ws = null;
let attempt = 0;
let everLive = false;
const baseTitle = document.title;

function setStatus(state, text) {
  $("conn").dataset.state = state;
  $("conn-text").textContent = text;
}

function render() {
  const open = sortAlerts([...alerts.values()].filter((a) => a.status !== "resolved"));
  const resolved = [...alerts.values()]
    .filter((a) => a.status === "resolved")
    .sort((a, b) => (b.resolved_at || "").localeCompare(a.resolved_at || ""))
    .slice(0, 20);
  const list = clear($("alert-queue"));
  for (const alert of open) list.appendChild(alertCard(alert, { showGroup: true, onChange: update }));
  const done = clear($("alert-resolved"));
  for (const alert of resolved) done.appendChild(alertCard(alert, { showGroup: true }));
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
    document.title = `(${waiting.length}) ${baseTitle}`;
  } else {
    banner.hidden = true;
    document.title = baseTitle;
  }
  const nav = $("nav-alert-count");
  if (nav) {
    nav.hidden = !waiting.length;
    nav.textContent = String(waiting.length);
  }
}

function update(alert) {
  alerts.set(alert.id, alert);
  render();
}

function connect() {
  const proto = location.protocol === "https:" ? "wss:" : "ws:";
  setStatus(everLive ? "reconnecting" : "connecting", everLive ? "Reconnecting…" : "Connecting…");
  ws = new WebSocket(`${proto}//${location.host}/ws/alerts/`);
  ws.addEventListener("message", (event) => {
    let frame;
    try {
      frame = JSON.parse(event.data);
    } catch {
      return;
    }
    if (frame.type === "hello") {
      attempt = 0;
      everLive = true;
      setStatus("live", "Live");
      // The hello starts the list of open and acknowledged alerts: it replaces what we had.
      // A long queue comes in pages (each fits in one frame): ask for the next while there is one.
      for (const [id, a] of alerts) if (a.status !== "resolved") alerts.delete(id);
      for (const a of frame.alerts) alerts.set(a.id, a);
      render();
      if (frame.has_more) ws.send(JSON.stringify({ type: "alerts.page", cursor: frame.next }));
    } else if (frame.type === "alerts.page") {
      for (const a of frame.alerts) if (!alerts.has(a.id)) alerts.set(a.id, a);
      render();
      if (frame.has_more) ws.send(JSON.stringify({ type: "alerts.page", cursor: frame.next }));
    } else if (frame.type === "alert.new" || frame.type === "alert.updated") {
      const known = alerts.has(frame.alert.id);
      alerts.set(frame.alert.id, frame.alert);
      render();
      if (frame.type === "alert.new" || !known) {
        chime(frame.alert.level);
        announce(
          `${frame.alert.level} alert in ${frame.alert.group_name}: ${frame.alert.member?.alias ?? "a member"} may need help.`,
          { urgent: frame.alert.level !== "watch" },
        );
      }
    } else if (frame.type === "held.new" || frame.type === "report.new") {
      loadQueues();
    }
  });
  ws.addEventListener("close", (event) => {
    ws = null;
    if (event.code === 4401 || event.code === 4403) {
      setStatus("closed", "Not connected: sign in again");
      return;
    }
    const delay = Math.min(10000, 500 * 2 ** attempt) * (0.5 + Math.random() / 2);
    attempt += 1;
    setStatus("reconnecting", "Reconnecting…");
    setTimeout(connect, delay);
  });
}

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
    for (const a of items(await api("/api/alerts/?status=resolved&limit=20"))) alerts.set(a.id, a);
    render();
  } catch {
    // The live queue matters more than the history; it still works without it.
  }
}

/** Watch-level alerts go live only to facilitators in the room; the queue fetches them too. */
async function refreshOpen() {
  try {
    for (const status of ["open", "acknowledged"]) {
      for (const a of items(await api(`/api/alerts/?status=${status}&limit=200`))) {
        alerts.set(a.id, a);
      }
    }
    render();
  } catch {
    // The socket still delivers urgent and emergency alerts.
  }
}

const toggle = $("sound-toggle");
toggle.checked = soundEnabled();
toggle.addEventListener("change", () => setSound(toggle.checked));
$("sound-test").addEventListener("click", () => chime("urgent"));

connect();
loadResolved();
loadQueues();
setInterval(loadQueues, 30000);
setInterval(refreshOpen, 15000);
setInterval(() => tickDeadlines(document), 1000);
