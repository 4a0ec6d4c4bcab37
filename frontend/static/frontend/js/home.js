// Home: my groups with their next session in my time, a "Join room" button when the room is
// open and a countdown when it is not, waitlist places, and my calendar feed.
import {
  api,
  clear,
  describeRecurrence,
  duration,
  flash,
  fmtDateTime,
  h,
  isStaff,
  items,
  me,
  zoneName,
} from "./common.js";

const list = document.getElementById("my-groups");
let countdowns = [];
let states = {};

function statusLine(group) {
  const mine = group.my_enrollment;
  if (!mine) return null;
  if (mine.status === "waitlisted") {
    return h(
      "p",
      { class: "status waitlist" },
      `You are number ${mine.waitlist_position ?? "?"} on the waitlist. We'll seat you as soon as a place opens.`,
    );
  }
  if (mine.status === "pending") {
    return h("p", { class: "status pending" }, "Your request is waiting for a facilitator to approve it.");
  }
  return h("p", { class: "status" }, `You are “${mine.alias}” in this group.`);
}

function roomControls(group) {
  const state = states[group.id] || {};
  const mine = group.my_enrollment;
  const wrap = h("div", { class: "room-line" });
  const canEnter = isStaff || (mine && mine.status === "active");
  if (mine && mine.status === "active" && !mine.agreement_accepted) {
    wrap.appendChild(
      h(
        "p",
        { class: "notice warn" },
        "The group agreement has changed. ",
        h("a", { href: `/groups/${group.id}/#agreement` }, "Read and accept it"),
        " to enter the room.",
      ),
    );
    return wrap;
  }
  if (!canEnter) return wrap;
  if (state.open || isStaff) {
    wrap.appendChild(
      h(
        "a",
        { class: "button primary", href: `/rooms/${group.id}/` },
        state.open ? "Join room" : "Enter room (closed to members)",
        h("span", { class: "visually-hidden" }, `: ${group.name}`),
      ),
    );
    if (state.open) wrap.appendChild(h("span", { class: "pill live" }, "Open now"));
  }
  const opensAt = state.opens_at;
  if (!state.open && opensAt) {
    const out = h("span", { class: "countdown", "data-until": opensAt });
    countdowns.push(out);
    wrap.appendChild(h("p", { class: "countdown-line" }, "The room opens in ", out, "."));
  }
  return wrap;
}

function card(group) {
  const next = group.next_session;
  const isCheckin = states[group.id]?.kind === "checkin";
  return h(
    "article",
    { class: "card group-card", "aria-labelledby": `g-${group.id}` },
    h(
      "h3",
      { id: `g-${group.id}` },
      h("a", { href: `/groups/${group.id}/` }, group.name),
      isCheckin ? h("span", { class: "pill" }, "Private check-in") : null,
    ),
    h("p", { class: "muted" }, describeRecurrence(group)),
    next && !group.drop_in
      ? h(
          "p",
          { class: "next" },
          h("span", { class: "label" }, "Next session: "),
          h("time", { datetime: next.starts_at }, fmtDateTime(next.starts_at)),
          h("span", { class: "muted" }, ` (your time, ${zoneName()})`),
        )
      : null,
    statusLine(group),
    roomControls(group),
  );
}

function tick() {
  const now = Date.now();
  let reload = false;
  for (const el of countdowns) {
    const left = new Date(el.dataset.until).getTime() - now;
    if (left <= 0) reload = true;
    el.textContent = duration(left);
  }
  if (reload) load();
}

async function load() {
  try {
    const [groupsData, roomData] = await Promise.all([
      api(me.role === "admin" ? "/api/groups/?limit=200" : "/api/groups/?mine=true&limit=200"),
      api("/app/room-states/"),
    ]);
    states = roomData.rooms || {};
    const groups = items(groupsData);
    countdowns = [];
    clear(list);
    list.removeAttribute("aria-busy");
    if (!groups.length) {
      list.appendChild(
        h(
          "div",
          { class: "card empty" },
          h("p", {}, isStaff ? "You don't facilitate any group yet." : "You haven't joined a group yet."),
          me.role === "member"
            ? h("p", {}, h("a", { class: "button primary", href: "/groups/" }, "Find a group"))
            : null,
        ),
      );
      return;
    }
    // Open rooms first, then by the next session.
    groups.sort((a, b) => {
      const open = Number(!!states[b.id]?.open) - Number(!!states[a.id]?.open);
      if (open) return open;
      const sa = a.next_session?.starts_at ?? "9999";
      const sb = b.next_session?.starts_at ?? "9999";
      return sa.localeCompare(sb);
    });
    for (const group of groups) list.appendChild(card(group));
    tick();
  } catch (err) {
    clear(list);
    list.appendChild(h("p", { class: "notice error", role: "alert" }, err.message));
  }
}

async function loadCalendar() {
  const input = document.getElementById("calendar-url");
  if (!input) return;
  const status = document.getElementById("calendar-status");
  try {
    const data = await api("/api/me/");
    input.value = data.calendar_feed_url;
  } catch (err) {
    flash(status, err.message, "error");
  }
  document.getElementById("calendar-copy").addEventListener("click", async () => {
    try {
      await navigator.clipboard.writeText(input.value);
      flash(status, "Copied. Paste it into your calendar app as a subscription.");
    } catch {
      input.select();
      flash(status, "Select the link and copy it (Ctrl+C or long-press).");
    }
  });
  document.getElementById("calendar-reset").addEventListener("click", async () => {
    if (!window.confirm("Reset your calendar link? Calendars using the old link stop updating.")) {
      return;
    }
    try {
      const data = await api("/api/me/calendar/reset/", { method: "POST" });
      input.value = data.calendar_feed_url;
      flash(status, "Done: here is your new link. The old one no longer works.");
    } catch (err) {
      flash(status, err.message, "error");
    }
  });
}

load();
loadCalendar();
setInterval(tick, 1000);
setInterval(load, 60000);
