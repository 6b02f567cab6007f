// One alert (§3.2.2) with acknowledge (comment) and resolve (resolution, prevention notes).
import { get, post } from "../api.js";
import { clear, h } from "../dom.js";
import { badge, busy, errorBox, field, fill, heading, number, showFieldErrors, time } from "../ui.js";

function who(ref) {
  return ref ? ref.name || ref.userId : "—";
}

export async function render(root, { params, live, isCurrent }) {
  const [alertId] = params;
  const path = `/alerts/${encodeURIComponent(alertId)}`;
  const body = h("div");
  root.append(heading("Alert"), body);

  function actionForm(title, fields, label, send) {
    const problem = h("div");
    const submit = h("button", { type: "submit" }, label);
    const form = h("form", { class: "card", "aria-label": title, novalidate: true }, h("h2", {}, title), fields, problem, submit);
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      clear(problem);
      try {
        await busy(submit, send(form));
        await show();
      } catch (error) {
        const unplaced = showFieldErrors(form, error);
        if (!error.fields || !error.fields.length || unplaced.length) problem.append(errorBox(error));
      }
    });
    return form;
  }

  async function show() {
    let alert;
    try {
      alert = await get(path);
    } catch (error) {
      fill(body, errorBox(error));
      return;
    }
    if (!isCurrent()) return;
    root.querySelector("h1").textContent = `${alert.ruleName || alert.ruleId} on ${alert.deviceName || alert.deviceId}`;
    const forms = [];
    if (alert.status === "triggered") {
      const comment = h("textarea", { rows: 2, id: "ack-comment" });
      forms.push(actionForm("Acknowledge", field("Comment", comment, "comment"), "Acknowledge", () => post(`${path}/acknowledge`, { comment: comment.value })));
    }
    if (alert.status !== "resolved") {
      const resolution = h("textarea", { rows: 2, id: "resolution" });
      const notes = h("textarea", { rows: 2, id: "prevention-notes" });
      forms.push(
        actionForm(
          "Resolve",
          [field("Resolution", resolution, "resolution"), field("Prevention notes", notes, "preventionNotes")],
          "Resolve",
          () => post(`${path}/resolve`, { resolution: resolution.value, preventionNotes: notes.value }),
        ),
      );
    }
    fill(body,
      h(
        "section",
        { class: "card" },
        h(
          "dl",
          { class: "facts" },
          h("div", {}, h("dt", {}, "Status"), h("dd", { id: "alert-status" }, badge(alert.status))),
          h("div", {}, h("dt", {}, "Severity"), h("dd", {}, badge(alert.severity))),
          h("div", {}, h("dt", {}, "Device"), h("dd", {}, h("a", { href: `#/devices/${encodeURIComponent(alert.deviceId)}` }, alert.deviceName || alert.deviceId))),
          h("div", {}, h("dt", {}, "Condition"), h("dd", {}, alert.condition)),
          h("div", {}, h("dt", {}, "Value"), h("dd", {}, `${number(alert.actualValue)} (threshold ${number(alert.threshold)})`)),
          h("div", {}, h("dt", {}, "Triggered"), h("dd", {}, time(alert.triggeredAt))),
          h("div", {}, h("dt", {}, "Acknowledged"), h("dd", {}, alert.acknowledgedAt ? [time(alert.acknowledgedAt), ` by ${who(alert.acknowledgedBy)}`] : "—")),
          h("div", {}, h("dt", {}, "Resolved"), h("dd", {}, alert.resolvedAt ? [time(alert.resolvedAt), ` by ${who(alert.resolvedBy)}`] : "—")),
          h("div", {}, h("dt", {}, "Resolution"), h("dd", { id: "alert-resolution" }, alert.resolution || "—")),
          h("div", {}, h("dt", {}, "Prevention notes"), h("dd", {}, alert.preventionNotes || "—")),
          h("div", {}, h("dt", {}, "Notifications sent"), h("dd", {}, (alert.notificationsSent || []).join(", ") || "—")),
        ),
        h("h2", {}, "Comments"),
        alert.comments && alert.comments.length
          ? h("ul", { class: "plain", id: "alert-comments" }, alert.comments.map((c) => h("li", {}, h("q", {}, c.comment), " — ", c.userId, ", ", time(c.timestamp))))
          : h("p", { class: "muted" }, "No comments."),
        alert.relatedAlerts && alert.relatedAlerts.length
          ? [h("h2", {}, "Related alerts"), h("ul", { class: "plain" }, alert.relatedAlerts.map((r) => h("li", {}, h("a", { href: `#/alerts/${encodeURIComponent(r.alertId)}` }, r.deviceName || r.alertId), " · ", time(r.triggeredAt))))]
          : null,
      ),
      h("div", { class: "grid-2" }, forms),
    );
  }
  await show();
  return live.listen((message) => {
    if (message.type === "alert" && message.alertId === alertId) show();
  });
}
