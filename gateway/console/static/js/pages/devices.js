// Devices: the §3.1.3 filters, sorting and paging, kept in the address so back/forward and links work.
import { get } from "../api.js";
import { h } from "../dom.js";
import { badge, errorBox, field, heading, number, pager, select, table, time } from "../ui.js";

const FILTERS = ["status", "deviceType", "location", "tags", "sortBy", "sortOrder", "pageSize"];

export async function render(root, { query, navigate, live }) {
  const types = await get("/device-types").then((answer) => answer.items.map((t) => t.name)).catch(() => []);
  const controls = {
    status: select(["", "online", "offline", "maintenance"], query.status || ""),
    deviceType: select(["", ...types], query.deviceType || ""),
    location: h("input", { type: "search", value: query.location || "", placeholder: "building 1" }),
    tags: h("input", { type: "text", value: query.tags || "", placeholder: "tag-a,tag-b" }),
    sortBy: select([["", "default"], ["name", "name"], ["lastSeen", "last seen"], ["status", "status"]], query.sortBy || ""),
    sortOrder: select([["asc", "ascending"], ["desc", "descending"]], query.sortOrder || "asc"),
    pageSize: select(["10", "25", "50", "100"], query.pageSize || "25"),
  };
  const form = h(
    "form",
    { class: "filters", role: "search", "aria-label": "Filter devices" },
    field("Status", controls.status, "status"),
    field("Device type", controls.deviceType, "deviceType"),
    field("Location", controls.location, "location"),
    field("Tags (all of)", controls.tags, "tags"),
    field("Sort by", controls.sortBy, "sortBy"),
    field("Order", controls.sortOrder, "sortOrder"),
    field("Per page", controls.pageSize, "pageSize"),
    h("div", { class: "filter-actions" }, h("button", { type: "submit" }, "Apply"), h("a", { href: "#/devices", class: "button secondary" }, "Reset")),
  );
  const current = () => Object.fromEntries(FILTERS.map((name) => [name, controls[name].value.trim()]));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    navigate("/devices", { ...current(), page: 1 });
  });
  const results = h("div", { class: "results" });
  root.append(heading("Devices"), form, results);

  let page;
  try {
    page = await get("/devices", { ...Object.fromEntries(FILTERS.map((n) => [n, query[n]])), page: query.page || 1 });
  } catch (error) {
    results.append(errorBox(error));
    return null;
  }
  const cells = new Map();
  const rows = page.items.map((device) => ({ device }));
  results.append(
    table(
      "Devices",
      [
        { label: "Name", cell: ({ device }) => h("a", { href: `#/devices/${encodeURIComponent(device.deviceId)}` }, device.name || device.deviceId) },
        { label: "Type", cell: ({ device }) => device.type },
        {
          label: "Status",
          cell: ({ device }) => {
            const cell = h("span", {}, badge(device.status));
            cells.set(device.deviceId, cell);
            return cell;
          },
        },
        { label: "Location", cell: ({ device }) => (device.location && device.location.address) || "—" },
        { label: "Last seen", cell: ({ device }) => time(device.lastSeen) },
        { label: "Temperature", class: "num", cell: ({ device }) => number(device.lastReading && device.lastReading.temperature) },
      ],
      rows,
      "No device matches these filters.",
    ),
    pager(page.pagination, (target) => navigate("/devices", { ...current(), page: target })),
  );
  // Status changes of the devices on screen arrive over the WebSocket.
  const ids = page.items.map((d) => d.deviceId);
  const unwatch = ids.length ? live.watch(ids) : () => {};
  const stop = live.listen((message) => {
    if (message.type === "deviceStatus" && cells.has(message.deviceId)) {
      cells.get(message.deviceId).replaceChildren(badge(message.status));
    }
  });
  return () => {
    stop();
    unwatch();
  };
}
