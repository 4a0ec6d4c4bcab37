// Admin: create or edit a group. The recurrence picker (weekdays, time, length, time zone)
// writes the RRULE; sessions are shown in the group's zone and the viewer's, and can be cancelled
// or moved one at a time; enrollments and the waitlist are approved or declined here.
import {
  add,
  api,
  clear,
  DAY_ORDER,
  describeRecurrence,
  fmtDateTime,
  fmtShortDateTime,
  h,
  items,
  localZone,
  parseRrule,
  STATUS_LABEL,
  zoneName,
} from "./common.js";

const $ = (id) => document.getElementById(id);
const form = $("group-form");
let groupId = Number(form.dataset.groupId) || null;
let group = null;

const DAY_LABEL = { MO: "Mon", TU: "Tue", WE: "Wed", TH: "Thu", FR: "Fri", SA: "Sat", SU: "Sun" };
const DAY_FULL = {
  MO: "Monday",
  TU: "Tuesday",
  WE: "Wednesday",
  TH: "Thursday",
  FR: "Friday",
  SA: "Saturday",
  SU: "Sunday",
};

for (const code of DAY_ORDER) {
  $("days").appendChild(
    h(
      "label",
      { for: `day-${code}` },
      h("input", { type: "checkbox", id: `day-${code}`, value: code, "aria-label": DAY_FULL[code] }),
      h("span", { "aria-hidden": "true" }, DAY_LABEL[code]),
    ),
  );
}

function checkedDays() {
  return DAY_ORDER.filter((code) => $(`day-${code}`).checked);
}

function buildRrule() {
  const repeat = $("repeat").value;
  if (repeat === "daily") return "FREQ=DAILY";
  if (repeat === "monthly") return "FREQ=MONTHLY";
  const days = checkedDays();
  const parts = ["FREQ=WEEKLY"];
  if (repeat === "biweekly") parts.push("INTERVAL=2");
  if (days.length) parts.push(`BYDAY=${days.join(",")}`);
  return parts.join(";");
}

function recurrence() {
  return {
    rrule: buildRrule(),
    dtstart: `${$("start_date").value}T${$("start_time").value || "19:00"}:00`,
    duration_minutes: Number($("duration").value),
  };
}

function refreshPreview() {
  const dropIn = $("drop_in").checked;
  $("schedule-fields").hidden = dropIn;
  const repeat = $("repeat").value;
  $("days-fieldset").hidden = repeat === "daily" || repeat === "monthly";
  const rec = recurrence();
  $("rrule-preview").textContent = rec.rrule;
  $("rrule-human").textContent = $("start_date").value
    ? describeRecurrence({ drop_in: false, recurrence: rec, timezone: $("timezone").value })
    : "Choose the first session's date.";
}

form.addEventListener("input", refreshPreview);
form.addEventListener("change", refreshPreview);

// When the first date is picked for a weekly group with no day ticked, tick that weekday.
$("start_date").addEventListener("change", () => {
  if (!checkedDays().length && $("start_date").value) {
    const day = new Date(`${$("start_date").value}T12:00:00`).getDay();
    $(`day-${DAY_ORDER[(day + 6) % 7]}`).checked = true;
    refreshPreview();
  }
});

// ------------------------------------------------------------------ facilitators

let staff = [];

function renderFacilitators() {
  const tbody = clear($("facilitator-rows"));
  const chosen = new Set(group?.facilitators ?? []);
  for (const u of staff) {
    const box = h("input", { type: "checkbox", id: `fac-${u.id}`, value: u.id, checked: chosen.has(u.id) || null });
    const lead = h("input", {
      type: "radio",
      name: "lead",
      id: `lead-${u.id}`,
      value: u.id,
      checked: group?.lead_facilitator === u.id || null,
      "aria-label": `${u.username} leads the group`,
    });
    lead.addEventListener("change", () => {
      box.checked = true;
    });
    box.addEventListener("change", () => {
      if (!box.checked) lead.checked = false;
    });
    tbody.appendChild(
      h(
        "tr",
        {},
        h("td", {}, h("div", { class: "check" }, box, h("label", { for: `fac-${u.id}` }, u.username))),
        h("td", {}, lead),
        h("td", {}, u.on_call ? "On call" : h("span", { class: "muted" }, "—")),
      ),
    );
  }
  if (!staff.length) tbody.appendChild(h("tr", {}, h("td", { colspan: "3" }, "No facilitator accounts yet.")));
}

// ------------------------------------------------------------------ the form

function fill(g) {
  $("name").value = g.name;
  $("description").value = g.description;
  $("capacity").value = g.capacity;
  $("join_policy").value = g.join_policy;
  $("timezone").value = g.timezone;
  $("drop_in").checked = g.drop_in;
  $("agreement_text").value = g.agreement_text;
  $("slow_mode_seconds").value = g.slow_mode_seconds;
  $("retention_days").value = g.retention_days;
  $("typing_indicators").checked = g.typing_indicators;
  for (const box of form.querySelectorAll('input[name="held_categories"]')) {
    box.checked = g.held_categories.includes(box.value);
  }
  if (g.recurrence) {
    const rule = parseRrule(g.recurrence.rrule);
    const interval = Number(rule.INTERVAL || 1);
    $("repeat").value =
      rule.FREQ === "DAILY"
        ? "daily"
        : rule.FREQ === "MONTHLY"
          ? "monthly"
          : interval === 2
            ? "biweekly"
            : "weekly";
    const days = (rule.BYDAY || "").split(",").map((d) => d.slice(-2));
    for (const code of DAY_ORDER) $(`day-${code}`).checked = days.includes(code);
    const [date, time] = g.recurrence.dtstart.split("T");
    $("start_date").value = date;
    $("start_time").value = time.slice(0, 5);
    $("duration").value = g.recurrence.duration_minutes;
  }
  document.title = `Edit ${g.name} · Haven`;
  $("editor-title").textContent = `Edit “${g.name}”`;
  refreshPreview();
}

function payload() {
  const facilitators = staff.filter((u) => $(`fac-${u.id}`)?.checked).map((u) => u.id);
  const lead = form.querySelector('input[name="lead"]:checked');
  const body = {
    name: $("name").value.trim(),
    description: $("description").value,
    capacity: Number($("capacity").value),
    join_policy: $("join_policy").value,
    timezone: $("timezone").value,
    drop_in: $("drop_in").checked,
    agreement_text: $("agreement_text").value,
    slow_mode_seconds: Number($("slow_mode_seconds").value || 0),
    retention_days: Number($("retention_days").value || 30),
    typing_indicators: $("typing_indicators").checked,
    held_categories: [...form.querySelectorAll('input[name="held_categories"]:checked')].map((b) => b.value),
    facilitators,
    lead_facilitator: lead ? Number(lead.value) : null,
  };
  body.recurrence = body.drop_in ? null : recurrence();
  return body;
}

function validate(body) {
  if (!body.name) return ["name", "Give the group a name."];
  if (!body.drop_in) {
    if (!$("start_date").value) return ["start_date", "Choose the date of the first session."];
    if ($("repeat").value.includes("weekly") && !checkedDays().length) {
      return ["day-MO", "Tick at least one day of the week."];
    }
  }
  return null;
}

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  const error = $("form-error");
  error.hidden = true;
  const body = payload();
  const problem = validate(body);
  if (problem) {
    error.textContent = problem[1];
    error.hidden = false;
    $(problem[0]).focus();
    return;
  }
  $("save").disabled = true;
  try {
    if (groupId) {
      const waitingBefore = group.waitlist_length ?? 0;
      group = await api(`/api/groups/${groupId}/`, { method: "PATCH", body });
      // More places seat the waitlist at once: say so, and show it below.
      const seated = waitingBefore - (group.waitlist_length ?? 0);
      $("form-status").textContent =
        seated > 0 ? `Saved. ${seated} ${seated === 1 ? "person was" : "people were"} seated from the waitlist.` : "Saved.";
      $("form-status").dataset.kind = "ok";
      fill(group);
      loadSessions();
      loadEnrollments();
    } else {
      group = await api("/api/groups/", { method: "POST", body });
      location.assign(`/manage/groups/${group.id}/?created=1`);
    }
  } catch (err) {
    error.textContent = err.message;
    error.hidden = false;
  } finally {
    $("save").disabled = false;
  }
});

// ------------------------------------------------------------------ sessions

async function loadSessions() {
  const tbody = $("session-rows");
  if (!tbody || !group) return;
  const zone = group.timezone;
  $("th-group-time").textContent = `Group's time (${zone.replace(/_/g, " ")})`;
  $("th-your-time").textContent = `Your time (${localZone.replace(/_/g, " ")})`;
  $("sessions-zones").textContent = group.drop_in
    ? "A drop-in group has no sessions: its room is always open."
    : `Showing the next sessions. The group meets in ${zoneName(zone)}; you are in ${zoneName()}.`;
  try {
    const sessions = items(await api(`/api/groups/${groupId}/sessions/?limit=12`));
    clear(tbody);
    for (const s of sessions) {
      const cancelled = s.status === "cancelled";
      const actions = h("div", { class: "cell-actions" });
      // A session that has started can still be cancelled (it ends for everyone in the room),
      // but no longer moved.
      const started = new Date(s.starts_at).getTime() <= Date.now();
      if (!cancelled) {
        const label = fmtShortDateTime(s.starts_at);
        if (!started) {
          add(actions, h("button", { type: "button", class: "secondary", onclick: () => openMove(s) }, "Move", h("span", { class: "visually-hidden" }, ` session of ${label}`)));
        }
        add(actions, h("button", { type: "button", class: "quiet", onclick: () => cancelSession(s) }, started ? "End and cancel" : "Cancel session", h("span", { class: "visually-hidden" }, ` the session of ${label}`)));
      }
      tbody.appendChild(
        h(
          "tr",
          { class: cancelled ? "cancelled" : "" },
          h("td", {}, fmtDateTime(s.starts_at, zone)),
          h("td", {}, fmtDateTime(s.starts_at)),
          h("td", {}, cancelled ? "Cancelled" : started ? "On now" : s.moved ? "Moved" : "Scheduled"),
          h("td", {}, actions),
        ),
      );
    }
    if (!sessions.length) tbody.appendChild(h("tr", {}, h("td", { colspan: "4", class: "muted" }, "No upcoming sessions.")));
  } catch (err) {
    clear(tbody).appendChild(h("tr", {}, h("td", { colspan: "4", class: "notice error" }, err.message)));
  }
}

async function cancelSession(s) {
  const started = new Date(s.starts_at).getTime() <= Date.now();
  const question = started
    ? `The session of ${fmtDateTime(s.starts_at)} is on now. End and cancel it? The room closes for members at once, and they are told.`
    : `Cancel the session of ${fmtDateTime(s.starts_at)}? Members see it as cancelled.`;
  if (!window.confirm(question)) return;
  try {
    await api(`/api/sessions/${s.id}/cancel/`, { method: "POST" });
    $("session-status").textContent = started ? "Session ended and cancelled; the room is closed to members." : "Session cancelled.";
    loadSessions();
  } catch (err) {
    $("session-status").textContent = err.message;
    $("session-status").dataset.kind = "error";
  }
}

let moving = null;

function localInputValue(iso) {
  const d = new Date(iso);
  const pad = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

function openMove(s) {
  moving = s;
  $("move-current").textContent = `Now: ${fmtDateTime(s.starts_at)} your time (${fmtDateTime(s.starts_at, group.timezone)} group's time).`;
  $("move-label").textContent = `New start (your time, ${localZone.replace(/_/g, " ")})`;
  $("move-start").value = localInputValue(s.starts_at);
  $("move-length").value = Math.round((new Date(s.ends_at) - new Date(s.starts_at)) / 60000);
  $("move-error").hidden = true;
  $("move-dialog").showModal();
  $("move-start").focus();
}

function setupMove() {
  if (!$("move-form")) return;
  $("move-cancel").addEventListener("click", () => $("move-dialog").close());
  $("move-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const start = new Date($("move-start").value);
    if (Number.isNaN(start.getTime())) {
      $("move-error").textContent = "Choose a date and time.";
      $("move-error").hidden = false;
      return;
    }
    const end = new Date(start.getTime() + Number($("move-length").value) * 60000);
    try {
      await api(`/api/sessions/${moving.id}/`, {
        method: "PATCH",
        body: { starts_at: start.toISOString(), ends_at: end.toISOString() },
      });
      $("move-dialog").close();
      $("session-status").textContent = `Session moved to ${fmtDateTime(start.toISOString())}.`;
      loadSessions();
    } catch (err) {
      $("move-error").textContent = err.message;
      $("move-error").hidden = false;
    }
  });
}

// ------------------------------------------------------------------ enrollments

async function loadEnrollments() {
  const tbody = $("enrollment-rows");
  if (!tbody) return;
  try {
    const list = items(await api(`/api/groups/${groupId}/enrollments/?limit=200`));
    if (group) group.waitlist_length = list.filter((e) => e.status === "waitlisted").length;
    clear(tbody);
    const order = { pending: 0, waitlisted: 1, active: 2 };
    list.sort((a, b) => (order[a.status] ?? 3) - (order[b.status] ?? 3) || (a.waitlist_position ?? 0) - (b.waitlist_position ?? 0));
    for (const e of list) {
      const actions = h("div", { class: "cell-actions" });
      const decide = (verb, label, body) =>
        h(
          "button",
          {
            type: "button",
            class: verb === "approve" || verb === "seat" ? "secondary" : "quiet",
            onclick: async () => {
              try {
                const out = await api(`/api/enrollments/${e.id}/${verb}/`, { method: "POST", body });
                $("enrollment-status").textContent =
                  verb === "move"
                    ? `${e.alias} is now number ${out.waitlist_position} on the waitlist.`
                    : `${e.alias}: ${STATUS_LABEL[out.status] ?? out.status}.`;
                loadEnrollments();
              } catch (err) {
                $("enrollment-status").textContent = err.message;
                $("enrollment-status").dataset.kind = "error";
              }
            },
          },
          label,
          h("span", { class: "visually-hidden" }, ` ${e.alias}`),
        );
      if (e.status === "pending") add(actions, decide("approve", "Approve"), decide("decline", "Decline"));
      if (e.status === "waitlisted") {
        const place = e.waitlist_position ?? 1;
        const waiting = list.filter((x) => x.status === "waitlisted").length;
        add(
          actions,
          decide("seat", "Seat now"),
          place > 1 ? decide("move", "Move up", { position: place - 1 }) : null,
          place < waiting ? decide("move", "Move down", { position: place + 1 }) : null,
          decide("decline", "Remove from waitlist"),
        );
      }
      tbody.appendChild(
        h(
          "tr",
          {},
          h("th", { scope: "row" }, e.alias),
          h("td", {}, e.username),
          h("td", {}, STATUS_LABEL[e.status] ?? e.status, e.waitlist_position ? ` (number ${e.waitlist_position})` : ""),
          h("td", {}, fmtShortDateTime(e.created_at)),
          h("td", {}, actions),
        ),
      );
    }
    if (!list.length) tbody.appendChild(h("tr", {}, h("td", { colspan: "5", class: "muted" }, "Nobody has joined yet.")));
  } catch (err) {
    clear(tbody).appendChild(h("tr", {}, h("td", { colspan: "5", class: "notice error" }, err.message)));
  }
}

async function init() {
  if (!groupId) {
    // A new group meets in the browser's time zone unless the admin picks another. Set before
    // the first fetch: set after it, it overwrote a zone the admin had picked while it ran.
    $("timezone").value = [...$("timezone").options].some((o) => o.value === localZone) ? localZone : "America/New_York";
  }
  try {
    staff = items(await api("/api/users/?role=facilitator&limit=200"));
  } catch {
    staff = [];
  }
  if (groupId) {
    group = await api(`/api/groups/${groupId}/`);
    fill(group);
    renderFacilitators();
    if (new URLSearchParams(location.search).get("created")) $("created").hidden = false;
    setupMove();
    loadSessions();
    loadEnrollments();
  } else {
    renderFacilitators();
    refreshPreview();
  }
}

init();
