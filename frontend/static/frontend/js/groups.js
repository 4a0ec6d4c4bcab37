// The group catalogue: schedule, capacity and policy of every group I may join.
import { api, clear, describeRecurrence, fmtDateTime, h, items, STATUS_LABEL } from "./common.js";

const list = document.getElementById("catalogue");

function seats(group) {
  const free = Math.max(group.capacity - group.seats_taken, 0);
  if (free > 0) return `${free} of ${group.capacity} places free`;
  return group.waitlist_length
    ? `Full: ${group.waitlist_length} waiting`
    : `Full (${group.capacity} places): you can join the waitlist`;
}

function policy(group) {
  return group.join_policy === "approval"
    ? "A facilitator reviews each request to join."
    : "Open: join straight away.";
}

function card(group) {
  const mine = group.my_enrollment;
  const full = group.seats_taken >= group.capacity;
  let action = "Read more and join";
  if (mine) action = "View";
  else if (group.join_policy === "approval") action = "Read more and request to join";
  else if (full) action = "Read more and join the waitlist";
  return h(
    "article",
    { class: "card group-card", "aria-labelledby": `g-${group.id}` },
    h("h2", { id: `g-${group.id}`, class: "h3" }, group.name),
    group.description ? h("p", {}, group.description) : null,
    h(
      "dl",
      { class: "facts" },
      h("dt", {}, "When"),
      h("dd", {}, describeRecurrence(group)),
      group.next_session && !group.drop_in
        ? [
            h("dt", {}, "Next"),
            h(
              "dd",
              {},
              h("time", { datetime: group.next_session.starts_at }, fmtDateTime(group.next_session.starts_at)),
              " (your time)",
            ),
          ]
        : null,
      h("dt", {}, "Places"),
      h("dd", {}, seats(group)),
      h("dt", {}, "Joining"),
      h("dd", {}, policy(group)),
    ),
    mine ? h("p", { class: "status" }, `Your status: ${STATUS_LABEL[mine.status] ?? mine.status}`) : null,
    h(
      "p",
      {},
      h(
        "a",
        { class: "button secondary", href: `/groups/${group.id}/` },
        action,
        h("span", { class: "visually-hidden" }, `: ${group.name}`),
      ),
    ),
  );
}

async function load() {
  try {
    const groups = items(await api("/api/groups/?limit=200"));
    clear(list);
    list.removeAttribute("aria-busy");
    if (!groups.length) list.appendChild(h("p", { class: "muted" }, "No groups are open yet."));
    for (const group of groups) list.appendChild(card(group));
  } catch (err) {
    clear(list);
    list.appendChild(h("p", { class: "notice error", role: "alert" }, err.message));
  }
}

load();
