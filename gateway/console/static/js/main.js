// The console's shell: sign-in, the hash router, the header and the shared WebSocket.
import { ApiError, currentSession, onSignOut, signIn, signOut } from "./api.js";
import { clear, h } from "./dom.js";
import { Live } from "./live.js";
import { errorBox, field, fill } from "./ui.js";
import * as overview from "./pages/overview.js";
import * as devices from "./pages/devices.js";
import * as device from "./pages/device.js";
import * as alerts from "./pages/alerts.js";
import * as alert from "./pages/alert.js";
import * as rules from "./pages/rules.js";
import * as rule from "./pages/rule.js";
import * as firmware from "./pages/firmware.js";
import * as deployments from "./pages/deployments.js";
import * as deployment from "./pages/deployment.js";

const ROUTES = [
  [/^\/overview$/, overview, "overview"],
  [/^\/devices$/, devices, "devices"],
  [/^\/devices\/([^/]+)$/, device, "devices"],
  [/^\/alerts$/, alerts, "alerts"],
  [/^\/alerts\/([^/]+)$/, alert, "alerts"],
  [/^\/rules$/, rules, "rules"],
  [/^\/rules\/([^/]+)$/, rule, "rules"],
  [/^\/firmware$/, firmware, "firmware"],
  [/^\/deployments$/, deployments, "deployments"],
  [/^\/deployments\/([^/]+)$/, deployment, "deployments"],
];

const main = document.getElementById("main");
const topbar = document.querySelector(".topbar");
const liveState = document.getElementById("live-state");
const live = new Live((state) => {
  liveState.textContent = state;
  liveState.dataset.state = state;
});
let leave = null;
let renderSerial = 0;

function parseHash() {
  const [path, search = ""] = location.hash.replace(/^#/, "").split("?");
  return { path: path || "/overview", query: Object.fromEntries(new URLSearchParams(search)) };
}

export function navigate(path, query = {}) {
  const search = new URLSearchParams(Object.entries(query).filter(([, v]) => v !== "" && v !== undefined && v !== null));
  const text = search.toString();
  location.hash = `#${path}${text ? `?${text}` : ""}`;
}

async function render() {
  if (leave) {
    try {
      leave();
    } catch (error) {
      console.warn("leaving the page failed", error);
    }
    leave = null;
  }
  const serial = ++renderSerial;
  if (!currentSession()) {
    renderSignIn();
    return;
  }
  const { path, query } = parseHash();
  const found = ROUTES.find(([pattern]) => pattern.test(path));
  for (const link of document.querySelectorAll(".nav a")) {
    const current = found && link.getAttribute("href") === `#/${found[2]}`;
    if (current) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  clear(main);
  if (!found) {
    main.append(h("h1", { tabindex: "-1" }, "Not found"), h("p", {}, h("a", { href: "#/overview" }, "Back to the overview")));
    return;
  }
  const [pattern, page] = found;
  const params = path.match(pattern).slice(1).map(decodeURIComponent);
  const context = { params, query, live, navigate, session: currentSession(), isCurrent: () => serial === renderSerial };
  try {
    const cleanup = await page.render(main, context);
    if (serial === renderSerial) leave = cleanup || null;
    else if (cleanup) cleanup();
  } catch (error) {
    if (serial === renderSerial) main.append(errorBox(error));
  }
  const title = main.querySelector("h1");
  if (serial === renderSerial && title) {
    document.title = `${title.textContent} · iotmon console`;
    title.focus({ preventScroll: true });
  }
}

function renderSignIn(notice = null) {
  topbar.hidden = true;
  document.title = "Sign in · iotmon console";
  const email = h("input", { type: "email", autocomplete: "username", required: true });
  const password = h("input", { type: "password", autocomplete: "current-password", required: true });
  const submit = h("button", { type: "submit" }, "Sign in");
  const problem = h("div", { class: "form-problem" });
  const form = h(
    "form",
    { class: "card sign-in", "aria-labelledby": "sign-in-title", novalidate: true },
    h("h1", { id: "sign-in-title", tabindex: "-1" }, "Sign in to iotmon"),
    notice ? errorBox(notice) : null,
    field("Email", email, "email"),
    field("Password", password, "password"),
    problem,
    submit,
    h("p", { class: "hint" }, "`iotmon up` prints the demo admin's email and password."),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    submit.disabled = true;
    clear(problem);
    try {
      const session = await signIn(email.value.trim(), password.value);
      startSession(session);
    } catch (error) {
      problem.append(errorBox(error));
      password.focus();
    } finally {
      submit.disabled = false;
    }
  });
  fill(main, form);
  email.focus();
}

function startSession(session) {
  topbar.hidden = false;
  document.getElementById("who").textContent = `${session.email} (${session.role})`;
  live.start(session.token);
  if (!location.hash || location.hash === "#" || location.hash === "#/") navigate("/overview");
  else render();
}

onSignOut((reason) => {
  live.stop();
  if (leave) leave();
  leave = null;
  const notice =
    reason instanceof ApiError ? reason : null;
  renderSignIn(notice && notice.status === 401 ? notice : null);
});

document.getElementById("sign-out").addEventListener("click", () => signOut());
window.addEventListener("hashchange", render);
render();
