// The footage page (templates/footage.html): each post's text checked against its platform's limits as it is typed
// (the same numbers loa_core.posttext cuts to), an editor's Save text (POST /posts/{footage}/{channel}/text) and an
// approver's Approve / Reject (POST /posts/{footage}/{channel}/approve|reject), and on a post that went out Edit title
// (POST .../edit) and Take down after a confirmation (POST .../unpublish), sent with the session's CSRF token.
const words = document.getElementById("words").content.firstElementChild.dataset;
const csrf = document.querySelector('meta[name="csrf-token"]')?.content ?? "";

const utf8Bytes = (s) => new TextEncoder().encode(s).length;
const codePoints = (s) => [...s].length;

function check(form, name, limit, unit, measure) {
  const field = form.elements[name];
  const out = form.querySelector(`output[data-for="${name}"]`);
  if (!field || !out) return;
  const limits = JSON.parse(form.dataset.limits);
  const update = () => {
    const text = field.value.normalize("NFC");
    const parts = [];
    let over = false;
    if (limit(limits) != null) {
      const n = measure(text, limits);
      over = n > limit(limits);
      parts.push(`${n} / ${limit(limits)} ${unit}`);
    }
    const bad = [...(limits.forbidden || "")].filter((c) => text.includes(c));
    if (bad.length) parts.push(`${words.forbidden}: ${bad.join(" ")}`);
    if (over) parts.push(words.over);
    out.textContent = parts.join(" · ");
    out.classList.toggle("over", over || bad.length > 0);
  };
  field.addEventListener("input", update);
  update();
}

// POST `body` as JSON with the session's CSRF token; on a refusal, its words (bilingual from the API) in `result`.
async function send(url, body, result, done = result.dataset.done) {
  const response = await fetch(url, {
    method: "POST",
    credentials: "same-origin",
    headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
    body: JSON.stringify(body),
  });
  if (response.ok) {
    result.textContent = done;
    result.classList.remove("error");
    return true;
  }
  let detail = `HTTP ${response.status}`;
  try {
    const answer = await response.json();
    detail = typeof answer.detail === "string" ? answer.detail : JSON.stringify(answer.detail);
  } catch {}
  result.textContent = detail;
  result.classList.add("error");
  return false;
}

for (const button of document.querySelectorAll("button.retry")) {
  const result = button.parentElement.querySelector(".result");
  button.addEventListener("click", () => send(`/posts/${encodeURIComponent(button.dataset.footage)}/retry`, {}, result));
}

async function decide(form, verb, body) {
  const result = form.querySelector(".result");
  const url = `/posts/${encodeURIComponent(form.dataset.footage)}/${encodeURIComponent(form.dataset.channel)}/${verb}`;
  if (await send(url, body, result)) {
    const state = verb === "approve" ? "approved" : "rejected";
    const post = form.closest(".post");
    post.dataset.state = state;
    const badge = post.querySelector('[data-role="state"]');
    badge.className = `badge post-${state}`;
    badge.textContent = result.dataset[state];
  }
}

for (const form of document.querySelectorAll("form.post-text")) {
  const titleUnits = (text, limits) => (limits.title_utf16 ? text.length : codePoints(text));
  check(form, "title", (l) => l.title_chars, words.chars, titleUnits);
  if (JSON.parse(form.dataset.limits).description_bytes != null) {
    check(form, "description", (l) => l.description_bytes, words.bytes, (t) => utf8Bytes(t));
  } else {
    check(form, "description", (l) => l.description_chars, words.chars, (t) => codePoints(t));
  }
  const original = { title: form.elements.title?.value, description: form.elements.description?.value ?? "" };
  const changed = () =>
    form.elements.title.value !== original.title || (form.elements.description?.value ?? "") !== original.description;
  const text = () => ({
    title: form.elements.title.value.normalize("NFC"),
    description: (form.elements.description?.value ?? "").normalize("NFC"),
    hashtags: JSON.parse(form.dataset.hashtags),
  });
  // The candidate frame picked for the post's still (null: the default pick).
  const frame = () => {
    const picked = form.querySelector('input[name="frame"]:checked');
    return picked && picked.value ? Number(picked.value) : null;
  };
  const save = form.querySelector("button.save-text");
  save?.addEventListener("click", async () => {
    const result = form.querySelector(".result");
    const url = `/posts/${encodeURIComponent(form.dataset.footage)}/${encodeURIComponent(form.dataset.channel)}/text`;
    if (await send(url, { text: text(), frame: frame() }, result, result.dataset.saved)) {
      // The saved words are now the post's own: an approval names them (a channel with approval waits again).
      form.dataset.drafted = "true";
      Object.assign(original, { title: form.elements.title.value, description: form.elements.description?.value ?? "" });
      const post = form.closest(".post");
      if (post.dataset.state === "approved" || post.dataset.state === "rejected") {
        post.dataset.state = "awaiting";
        const badge = post.querySelector('[data-role="state"]');
        badge.className = "badge post-awaiting";
        badge.textContent = result.dataset.awaiting;
      }
    }
  });
  const approve = form.querySelector("button.approve");
  if (!approve) continue;
  form.addEventListener("input", () => {
    approve.textContent = changed() ? approve.dataset.labelChanged : approve.dataset.label;
  });
  const cuts = JSON.parse(form.dataset.cuts);
  approve.addEventListener("click", () => {
    const body = { cuts, frame: frame() };
    // A person's draft (an editor's saved text) is approved as itself, like the approver's own change.
    if (changed() || form.dataset.drafted === "true") {
      body.text = text();
    } else {
      body.text_sha256 = form.dataset.textSha256;
    }
    decide(form, "approve", body);
  });
  form.querySelector("button.reject").addEventListener("click", () => {
    decide(form, "reject", { cuts, text_sha256: form.dataset.textSha256, reason: form.elements.reason.value });
  });
}

const postUrl = (el, verb) =>
  `/posts/${encodeURIComponent(el.dataset.footage)}/${encodeURIComponent(el.dataset.channel)}/${verb}`;

for (const form of document.querySelectorAll("form.edit-published")) {
  check(form, "title", (l) => l.title_chars, words.chars, (t, l) => (l.title_utf16 ? t.length : codePoints(t)));
  if (JSON.parse(form.dataset.limits).description_bytes != null) {
    check(form, "description", (l) => l.description_bytes, words.bytes, (t) => utf8Bytes(t));
  } else {
    check(form, "description", (l) => l.description_chars, words.chars, (t) => codePoints(t));
  }
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const body = {
      title: form.elements.title.value.normalize("NFC"),
      description: (form.elements.description?.value ?? "").normalize("NFC"),
    };
    send(postUrl(form, "edit"), body, form.querySelector(".result"));
  });
}

for (const box of document.querySelectorAll(".take-down")) {
  const button = box.querySelector("button.unpublish");
  button.addEventListener("click", async () => {
    if (!window.confirm(button.dataset.confirm)) return;
    button.disabled = true;
    const sent = await send(postUrl(box, "unpublish"), { how: box.querySelector('[name="how"]').value }, box.querySelector(".result"));
    button.disabled = sent;
  });
}
