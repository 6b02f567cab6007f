// Firmware: the catalog (§3.4.2) and the two-step upload (§3.4.1): POST /firmware/upload for a presigned
// POST, then the file posted with every returned field to uploadUrl, then the status followed until the
// processor validates or rejects the image.
import { get, post, postForm } from "../api.js";
import { clear, h } from "../dom.js";
import { badge, busy, bytes, errorBox, field, fill, heading, pager, select, showFieldErrors, table, time } from "../ui.js";

const FOLLOW_MS = 1000;
const FOLLOW_LIMIT = 60;

export async function render(root, { query, navigate, isCurrent, session }) {
  const types = await get("/device-types").then((a) => a.items.map((t) => t.name)).catch(() => []);
  const results = h("div", { class: "results" });
  const filterStatus = select(["", "pending_upload", "processing", "validated", "rejected"], query.status || "");
  const filterType = select(["", ...types], query.deviceType || "");
  const filters = h(
    "form",
    { class: "filters", role: "search", "aria-label": "Filter firmware" },
    field("Status", filterStatus, "status"),
    field("Device type", filterType, "deviceType"),
    h("div", { class: "filter-actions" }, h("button", { type: "submit" }, "Apply")),
  );
  filters.addEventListener("submit", (event) => {
    event.preventDefault();
    navigate("/firmware", { status: filterStatus.value, deviceType: filterType.value });
  });

  async function load() {
    try {
      const page = await get("/firmware", { status: query.status, deviceType: query.deviceType, page: query.page || 1 });
      if (!isCurrent()) return;
      fill(results,
        table(
          "Firmware",
          [
            { label: "Version", cell: (f) => h("strong", {}, f.version) },
            { label: "Device types", cell: (f) => (f.deviceTypes || []).join(", ") },
            { label: "Status", cell: (f) => [badge(f.status), f.rejectionReason ? h("div", { class: "hint" }, f.rejectionReason) : null] },
            { label: "Size", class: "num", cell: (f) => bytes(f.size) },
            { label: "SHA-256", cell: (f) => (f.checksum ? h("code", { title: f.checksum }, `${f.checksum.slice(0, 12)}…`) : "—") },
            { label: "Uploaded", cell: (f) => time(f.createdAt) },
            { label: "", cell: (f) => (f.status === "validated" ? h("a", { href: `#/deployments?firmwareId=${encodeURIComponent(f.firmwareId)}` }, "Deploy…") : null) },
          ],
          page.items,
          "No firmware uploaded yet.",
        ),
        pager(page.pagination, (target) => navigate("/firmware", { status: query.status, deviceType: query.deviceType, page: target })),
      );
    } catch (error) {
      if (isCurrent()) fill(results, errorBox(error));
    }
  }

  const version = h("input", { type: "text", placeholder: "v2.1.0", id: "fw-version" });
  const deviceTypes = h("input", { type: "text", list: "fw-types", value: types[0] || "", id: "fw-device-types" });
  const notes = h("textarea", { rows: 2, id: "fw-notes" });
  const file = h("input", { type: "file", id: "fw-file" });
  const fileSlot = h("p", { class: "field-error", "data-error-for": "file" });
  const progress = h("div", { class: "upload-progress", role: "status", "aria-live": "polite" });
  const submit = h("button", { type: "submit" }, "Upload");
  const upload = h(
    "form",
    { class: "card", novalidate: true, "aria-label": "Upload firmware" },
    h("h2", {}, "Upload firmware"),
    h("datalist", { id: "fw-types" }, types.map((t) => h("option", { value: t }))),
    h("div", { class: "inline-fields" }, field("Version", version, "version"), field("Device types", deviceTypes, "deviceTypes", "Comma-separated.")),
    field("Release notes", notes, "releaseNotes"),
    h("div", { class: "field" }, h("label", { for: "fw-file" }, "Image file (an IOTF image, see docs/firmware.md)"), file, fileSlot),
    progress,
    submit,
  );
  upload.addEventListener("submit", async (event) => {
    event.preventDefault();
    clear(progress);
    fileSlot.textContent = "";
    if (!file.files.length) {
      fileSlot.textContent = "Choose the image file.";
      file.focus();
      return;
    }
    const chosen = file.files[0];
    await busy(
      submit,
      (async () => {
        try {
          const target = await post("/firmware/upload", {
            version: version.value.trim(),
            deviceTypes: deviceTypes.value.split(",").map((s) => s.trim()).filter(Boolean),
            releaseNotes: notes.value,
            fileName: chosen.name,
          });
          showFieldErrors(upload, null);
          fill(progress, `Uploading ${chosen.name} (${bytes(chosen.size)}) as ${target.firmwareId}…`);
          await postForm(target.uploadUrl, target.fields, chosen);
          fill(progress, `Uploaded; waiting for the firmware service to check ${target.firmwareId}…`);
          await load();
          for (let i = 0; i < FOLLOW_LIMIT && isCurrent(); i++) {
            const record = await get(`/firmware/${encodeURIComponent(target.firmwareId)}`);
            if (record.status === "validated" || record.status === "rejected") {
              fill(progress,
                h("span", { id: "upload-result", "data-status": record.status }, `${record.version}: `, badge(record.status), record.rejectionReason ? ` — ${record.rejectionReason}` : ""),
              );
              break;
            }
            await new Promise((resolve) => setTimeout(resolve, FOLLOW_MS));
          }
          await load();
        } catch (error) {
          showFieldErrors(upload, error);
          fill(progress, errorBox(error));
        }
      })(),
    );
  });

  root.append(heading("Firmware"), session.role === "admin" ? upload : h("p", { class: "hint" }, "Only admins upload firmware."), filters, results);
  await load();
  return null;
}
