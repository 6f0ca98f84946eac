// The reply composer on an alert's page: templates, a character count, send or submit for
// approval, "copy and open the post" where the source has no API, and the thread of replies.
// Text from the server is only ever set as textContent; the CSP allows no inline script.
(function () {
  "use strict";

  const root = document.getElementById("composer");
  if (!root) return;
  const form = root.querySelector("form.composer-form");
  if (!form) return;
  const api = "/api/alerts/" + encodeURIComponent(root.dataset.alert) + "/replies";
  const text = form.elements.namedItem("text");
  const picker = form.elements.namedItem("template");
  const count = root.querySelector("[data-count]");
  const limit = root.querySelector("[data-limit]");
  const status = root.querySelector(".composer-status");
  const thread = root.querySelector(".reply-thread");
  const sendButton = form.querySelector("[data-action='send']");
  const copyButton = form.querySelector("[data-action='copy']");
  let offer = null;
  let templates = {};

  function say(message, isError) {
    status.textContent = message;
    status.className = "composer-status " + (isError ? "error" : "muted");
  }

  // X weighs most non-Latin characters 2 and every link 23; the server has the final word.
  function length(value) {
    if (!offer || offer.source_kind !== "twitter") return Array.from(value).length;
    let total = 0;
    value.split(/(https?:\/\/\S+)/).forEach((part) => {
      if (/^https?:\/\//.test(part)) { total += 23; return; }
      Array.from(part).forEach((c) => {
        const code = c.codePointAt(0);
        const light = code <= 4351 || (code >= 8192 && code <= 8205) || (code >= 8208 && code <= 8223) || (code >= 8242 && code <= 8247);
        total += light ? 1 : 2;
      });
    });
    return total;
  }

  function refreshCount() {
    const n = length(text.value);
    count.textContent = String(n);
    const over = offer && offer.max_chars && n > offer.max_chars;
    text.setAttribute("aria-invalid", over ? "true" : "false");
    count.parentElement.className = "small " + (over ? "error" : "muted");
    const postable = offer && offer.mode === "post" && offer.can_act && !offer.unavailable;
    sendButton.disabled = !postable || over || !text.value.trim();
    copyButton.disabled = !text.value.trim();
  }

  async function call(method, url, body) {
    const response = await fetch(url, {
      method: method,
      credentials: "same-origin",
      headers: { "Accept": "application/json", "Content-Type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    let data = null;
    try { data = await response.json(); } catch (error) { data = null; }
    return { ok: response.ok, status: response.status, data: data };
  }

  function problem(result) {
    const detail = result.data && result.data.detail;
    if (typeof detail === "string") return detail;
    if (Array.isArray(detail)) return detail.map((d) => d.msg).join("; ");
    return "the server answered HTTP " + result.status;
  }

  function element(tag, className, content) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (content !== undefined) node.textContent = content;
    return node;
  }

  function button(label, reply, action, secondary) {
    const node = element("button", secondary ? "secondary" : "", label);
    node.type = "button";
    node.dataset.reply = String(reply.id);
    node.dataset.do = action;
    return node;
  }

  function item(reply) {
    const li = element("li", "reply reply-" + reply.state);
    const head = element("p", "small muted");
    head.append(element("strong", "", reply.state.replace("_", " ")), " · drafted by " + reply.drafted_by);
    if (reply.approved_by) head.append(" · approved by " + reply.approved_by);
    if (reply.posted_by && reply.state === "posted") head.append(" · posted by " + reply.posted_by);
    li.append(head, element("p", "reply-text", reply.text));
    if (reply.remote_url && /^https?:\/\//.test(reply.remote_url)) {
      const link = element("a", "", "View on " + reply.source);
      link.href = reply.remote_url;
      link.rel = "noopener noreferrer";
      link.target = "_blank";
      li.append(link);
    }
    if (reply.error && reply.state !== "posted") li.append(element("p", "error", reply.error));
    const actions = element("div", "composer-actions");
    if (reply.state === "pending_approval" && offer.is_admin) actions.append(button("Approve", reply, "approve"));
    const sendable = reply.state === "draft" || reply.state === "approved" || (reply.state === "failed" && (!offer.require_approval || reply.approved_by));
    if (sendable && offer.can_act && offer.mode === "post") actions.append(button(reply.state === "failed" ? "Send again" : "Send", reply, "send"));
    if (reply.state === "unknown" && offer.can_act) {
      actions.append(button("It was posted", reply, "posted", true), button("It was not posted", reply, "not-posted", true));
    }
    if (actions.childElementCount) li.append(actions);
    return li;
  }

  // keepStatus: after an action, keep its outcome ("Posted on x.", an error) on screen.
  async function load(keepStatus) {
    const result = await call("GET", api);
    if (!result.ok) { say(problem(result), true); return; }
    offer = result.data.composer;
    thread.replaceChildren(...result.data.replies.map(item));
    templates = {};
    picker.replaceChildren(element("option", "", "Your own words"));
    picker.firstChild.value = "";
    offer.templates.forEach((t) => {
      templates[t.name] = t.text;
      const option = element("option", "", t.name);
      option.value = t.name;
      picker.append(option);
    });
    limit.textContent = offer.max_chars ? String(offer.max_chars) : "no limit";
    const approval = offer.require_approval && !offer.is_admin;
    sendButton.textContent = approval ? "Submit for approval" : "Send reply";
    sendButton.hidden = offer.mode !== "post";
    copyButton.hidden = offer.mode !== "copy";
    form.hidden = offer.mode === "none" || (!offer.can_act && offer.mode === "post");
    if (offer.unavailable) say(offer.unavailable, offer.mode === "post");
    else if (!offer.can_act) say("You can read this thread; replying is for this team's responders.", false);
    else if (!keepStatus) say(offer.mode === "copy" ? "This source has no reply API: copy your reply and post it yourself." : "", false);
    refreshCount();
  }

  async function send(replyId) {
    const sent = await call("POST", "/api/replies/" + replyId + "/send");
    if (sent.ok) { say("Posted on " + sent.data.source + ".", false); return true; }
    say(problem(sent) + " (the draft is kept below)", true);
    return false;
  }

  picker.addEventListener("change", () => {
    if (picker.value && templates[picker.value] !== undefined) text.value = templates[picker.value];
    refreshCount();
    text.focus();
  });
  text.addEventListener("input", refreshCount);

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (sendButton.disabled) return;
    sendButton.disabled = true;
    const unchanged = picker.value && text.value === templates[picker.value];
    const drafted = await call("POST", api, unchanged ? { template: picker.value } : { text: text.value });
    if (!drafted.ok) { say(problem(drafted), true); refreshCount(); return; }
    text.value = "";
    picker.value = "";
    if (drafted.data.state === "pending_approval") say("Submitted for an administrator's approval.", false);
    else await send(drafted.data.id);
    await load(true);
  });

  copyButton.addEventListener("click", async () => {
    const url = offer && offer.post_url;
    try {
      await navigator.clipboard.writeText(text.value);
      say("Copied. Paste it as a reply on the post.", false);
    } catch (error) {
      text.select();
      say("Press Ctrl+C (or Cmd+C) to copy, then paste it as a reply on the post.", false);
    }
    if (url && /^https?:\/\//.test(url)) window.open(url, "_blank", "noopener");
  });

  thread.addEventListener("click", async (event) => {
    const target = event.target instanceof HTMLElement ? event.target.closest("button[data-do]") : null;
    if (!target) return;
    target.disabled = true;
    const id = target.dataset.reply;
    const action = target.dataset.do;
    if (action === "send") await send(id);
    else if (action === "approve") {
      const approved = await call("POST", "/api/replies/" + id + "/approve");
      say(approved.ok ? "Approved; it can be sent now." : problem(approved), !approved.ok);
    } else {
      const checked = await call("POST", "/api/replies/" + id + "/check", { posted: action === "posted" });
      say(checked.ok ? "Thanks; noted." : problem(checked), !checked.ok);
    }
    await load(true);
  });

  load().catch((error) => say("The composer could not load: " + error, true));
})();
