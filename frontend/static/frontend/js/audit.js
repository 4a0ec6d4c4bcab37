// The audit log with filters by group, action and actor; read-only, newest first.
import { api, clear, fmtShortDateTime, h, items, me, nextPage } from "./common.js";

const $ = (id) => document.getElementById(id);
const rows = $("audit-rows");
const KNOWN_ACTIONS = [
  "alert.raised",
  "alert.acknowledged",
  "alert.resolved",
  "alert.escalated",
  "alert.reopened",
  "member.muted",
  "member.unmuted",
  "member.removed",
  "member.banned",
  "message.deleted",
  "held.approved",
  "held.rejected",
  "room.updated",
  "checkin.opened",
  "report.created",
  "report.resolved",
  "unattended.started",
  "unattended.locked",
  "unattended.ended",
  "group.created",
  "group.updated",
  "group.deleted",
  "group.facilitators_changed",
  "session.cancelled",
  "session.moved",
  "enrollment.approved",
  "enrollment.declined",
  "enrollment.seated",
  "account.role_changed",
  "account.on_call_changed",
  // Without a dot: every action of that kind.
  "alert",
  "member",
  "group",
  "session",
  "enrollment",
  "account",
];
let groupNames = {};
let next = null;

function details(entry) {
  const parts = [];
  if (entry.reason) parts.push(h("div", {}, entry.reason));
  const data = entry.data || {};
  const keys = Object.keys(data);
  if (keys.length) {
    parts.push(
      h("div", { class: "small muted" }, keys.map((k) => `${k.replace(/_/g, " ")}: ${JSON.stringify(data[k])}`).join("; ")),
    );
  }
  if (entry.message_id_ref) parts.push(h("div", { class: "small muted" }, `message #${entry.message_id_ref}`));
  if (entry.alert) parts.push(h("div", { class: "small muted" }, `alert #${entry.alert}`));
  return parts.length ? parts : "—";
}

function query() {
  const params = new URLSearchParams({ limit: "50" });
  if ($("f-group").value) params.set("group", $("f-group").value);
  if ($("f-action").value.trim()) params.set("action", $("f-action").value.trim());
  if ($("f-actor")?.value) params.set("actor", $("f-actor").value);
  return `/api/audit/?${params}`;
}

async function load(url, append = false) {
  try {
    const data = await api(url);
    if (!append) clear(rows);
    for (const e of items(data)) {
      rows.appendChild(
        h(
          "tr",
          {},
          h("td", {}, h("time", { datetime: e.created_at }, fmtShortDateTime(e.created_at))),
          h("td", {}, e.actor ?? "System"),
          h("td", {}, h("code", {}, e.action)),
          h("td", {}, e.group ? (groupNames[e.group] ?? `#${e.group}`) : "—"),
          h("td", {}, details(e)),
        ),
      );
    }
    if (!rows.children.length) rows.appendChild(h("tr", {}, h("td", { colspan: "5", class: "muted" }, "Nothing matches these filters.")));
    next = nextPage(data);
    $("audit-more").hidden = !next;
    const count = data.count ?? rows.children.length;
    $("audit-status").textContent = `${count} ${count === 1 ? "entry" : "entries"}.`;
  } catch (err) {
    clear(rows).appendChild(h("tr", {}, h("td", { colspan: "5", class: "notice error", role: "alert" }, err.message)));
  }
}

async function init() {
  for (const a of KNOWN_ACTIONS) $("action-list").appendChild(h("option", { value: a }));
  try {
    const groups = items(await api(me.role === "admin" ? "/api/groups/?limit=200" : "/api/groups/?mine=true&limit=200"));
    groupNames = Object.fromEntries(groups.map((g) => [g.id, g.name]));
    for (const g of groups) $("f-group").appendChild(h("option", { value: g.id }, g.name));
    if ($("f-actor")) {
      const users = items(await api("/api/users/?limit=200")).filter((u) => u.role !== "member");
      for (const u of users) $("f-actor").appendChild(h("option", { value: u.id }, u.username));
    }
  } catch {
    // Filters are a convenience; the log itself still loads.
  }
  load(query());
}

$("audit-filters").addEventListener("submit", (event) => {
  event.preventDefault();
  load(query());
});
$("audit-filters").addEventListener("reset", () => setTimeout(() => load(query()), 0));
$("audit-more").addEventListener("click", () => next && load(next, true));

init();
