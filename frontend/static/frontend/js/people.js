// Admin: facilitators and admins, and who is on call (PATCH /api/users/{id}/).
import { api, clear, h, items } from "./common.js";

const rows = document.getElementById("people-rows");
const status = document.getElementById("people-status");
let people = [];

function summary() {
  const on = people.filter((u) => u.on_call).map((u) => u.username);
  const el = document.getElementById("oncall-summary");
  el.textContent = on.length
    ? `On call now: ${on.join(", ")}.`
    : "Nobody is on call. Escalated alerts will reach only the groups' own facilitators.";
  el.className = on.length ? "notice info" : "notice warn";
}

function render() {
  clear(rows);
  for (const u of people) {
    const box = h("input", { type: "checkbox", id: `oncall-${u.id}`, checked: u.on_call || null });
    box.addEventListener("change", async () => {
      try {
        const updated = await api(`/api/users/${u.id}/`, { method: "PATCH", body: { on_call: box.checked } });
        Object.assign(u, updated);
        status.textContent = `${u.username} is ${u.on_call ? "now on call" : "no longer on call"}.`;
        status.dataset.kind = "ok";
        summary();
      } catch (err) {
        box.checked = !box.checked;
        status.textContent = err.message;
        status.dataset.kind = "error";
      }
    });
    rows.appendChild(
      h(
        "tr",
        {},
        h("th", { scope: "row" }, u.username, u.email ? h("div", { class: "small muted" }, u.email) : null),
        h("td", {}, u.role === "admin" ? "Admin" : "Facilitator"),
        h("td", {}, h("div", { class: "check" }, box, h("label", { for: `oncall-${u.id}` }, `${u.username} is on call`))),
      ),
    );
  }
  summary();
}

async function load() {
  try {
    const [facilitators, admins] = await Promise.all([
      api("/api/users/?role=facilitator&limit=200"),
      api("/api/users/?role=admin&limit=200"),
    ]);
    people = [...items(facilitators), ...items(admins)];
    render();
  } catch (err) {
    clear(rows).appendChild(h("tr", {}, h("td", { colspan: "3", class: "notice error", role: "alert" }, err.message)));
  }
}

load();
