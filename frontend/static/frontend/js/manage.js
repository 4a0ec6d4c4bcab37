// Admin: every group with its schedule, next session, places and facilitators.
import { api, clear, describeRecurrence, fmtDateTime, h, items, zoneName } from "./common.js";

const rows = document.getElementById("group-rows");

async function load() {
  try {
    const [groups, users] = await Promise.all([
      api("/api/groups/?limit=200"),
      api("/api/users/?limit=200"),
    ]);
    const names = Object.fromEntries(items(users).map((u) => [u.id, u.username]));
    clear(rows);
    for (const g of items(groups)) {
      const next = g.next_session;
      rows.appendChild(
        h(
          "tr",
          {},
          h("th", { scope: "row" }, h("a", { href: `/manage/groups/${g.id}/` }, g.name)),
          h("td", {}, describeRecurrence(g)),
          h(
            "td",
            {},
            next && !g.drop_in
              ? [
                  h("div", {}, fmtDateTime(next.starts_at, g.timezone), h("span", { class: "muted small" }, ` (${zoneName(g.timezone)})`)),
                  h("div", { class: "muted small" }, `${fmtDateTime(next.starts_at)} your time`),
                ]
              : "—",
          ),
          h(
            "td",
            {},
            `${g.seats_taken} of ${g.capacity}`,
            g.waitlist_length ? h("div", { class: "small" }, `${g.waitlist_length} waiting`) : null,
            g.join_policy === "approval" ? h("div", { class: "small muted" }, "By approval") : null,
          ),
          h(
            "td",
            {},
            g.facilitators
              .map((id) => `${names[id] ?? `#${id}`}${id === g.lead_facilitator ? " (lead)" : ""}`)
              .join(", ") || "None yet",
          ),
          h(
            "td",
            {},
            h(
              "div",
              { class: "cell-actions" },
              h("a", { class: "button secondary", href: `/manage/groups/${g.id}/` }, "Edit", h("span", { class: "visually-hidden" }, ` ${g.name}`)),
              h("a", { class: "button quiet", href: `/rooms/${g.id}/` }, "Room", h("span", { class: "visually-hidden" }, ` of ${g.name}`)),
            ),
          ),
        ),
      );
    }
    if (!rows.children.length) rows.appendChild(h("tr", {}, h("td", { colspan: "6" }, "No groups yet.")));
  } catch (err) {
    clear(rows).appendChild(h("tr", {}, h("td", { colspan: "6", class: "notice error", role: "alert" }, err.message)));
  }
}

load();
