"""The live page: the media team marks highlights while the live is on (`GET /live`, one static page).

The page itself holds nothing secret and needs no token; every call it makes goes to the token-protected API
with the token the user types in (kept in sessionStorage, so it is gone when the tab closes). All text from the
API is inserted with textContent, never as HTML.
"""

LIVE_PAGE = """<!doctype html>
<html lang="vi">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Loa — Đánh dấu đoạn hay / Mark highlights</title>
<style>
  body { font-family: system-ui, sans-serif; margin: 1rem; max-width: 40rem; }
  .live { border: 1px solid #ccc; border-radius: .5rem; padding: .75rem; margin: .75rem 0; }
  button { font-size: 1rem; padding: .5rem .75rem; margin: .25rem .25rem 0 0; }
  #status { color: #555; min-height: 1.2em; }
</style>
</head>
<body>
<h1>Đánh dấu đoạn hay / Mark highlights</h1>
<p><label>Mã truy cập / API token: <input id="token" type="password" autocomplete="off"></label>
<button id="save">Lưu / Save</button></p>
<p id="status"></p>
<div id="lives"></div>
<script>
"use strict";
const tokenInput = document.getElementById("token");
const statusLine = document.getElementById("status");
tokenInput.value = sessionStorage.getItem("loaToken") || "";
document.getElementById("save").onclick = () => { sessionStorage.setItem("loaToken", tokenInput.value); refresh(); };

async function api(path, options = {}) {
  const response = await fetch(path, {
    ...options,
    headers: { "Authorization": "Bearer " + tokenInput.value, "Content-Type": "application/json" },
  });
  if (!response.ok) { throw new Error(response.status + " " + (await response.text())); }
  return response.json();
}

async function mark(archiveId, lastS, title) {
  try {
    const body = { last_s: lastS };
    if (title) { body.title = title; }
    const mark = await api("/archives/" + archiveId + "/marks", { method: "POST", body: JSON.stringify(body) });
    statusLine.textContent = "Đã đánh dấu / Marked: " + mark.start_s.toFixed(0) + "–" + mark.end_s.toFixed(0) + " s";
  } catch (error) { statusLine.textContent = String(error); }
}

async function refresh() {
  const lives = document.getElementById("lives");
  try {
    const archives = (await api("/archives")).filter(a => a.state === "recording");
    lives.replaceChildren();
    if (!archives.length) { lives.textContent = "Không có buổi phát trực tiếp / No live right now."; }
    for (const archive of archives) {
      const box = document.createElement("div");
      box.className = "live";
      const heading = document.createElement("strong");
      heading.textContent = archive.title + " — " + Math.round(archive.recorded_s) + " s";
      const title = document.createElement("input");
      title.placeholder = "Tên đoạn / Highlight title";
      box.append(heading, document.createElement("br"), title, document.createElement("br"));
      for (const seconds of [30, 60, 120]) {
        const button = document.createElement("button");
        button.textContent = seconds + " s vừa qua / last " + seconds + " s";
        button.onclick = () => mark(archive.archive_id, seconds, title.value.trim());
        box.append(button);
      }
      lives.append(box);
    }
  } catch (error) { statusLine.textContent = String(error); }
}
refresh();
setInterval(refresh, 5000);
</script>
</body>
</html>
"""
