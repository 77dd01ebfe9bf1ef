// Loa's page for the media team: signed in with an account (the session cookie from /signin, with its CSRF token on
// every request) or with a pasted API token; fill the metadata, drop files (Uppy over tus), then follow each file
// through upload and every pipeline stage (polling ingest's /footage/{id}).
import { progressOf } from "/ui/status.mjs";

const STRINGS = {
  vi: {
    tagline: "Tải video sự kiện lên một lần, đăng lên mọi kênh của phường.",
    signin: "Đăng nhập", token: "Mã truy cập (token)", signin_button: "Đăng nhập",
    account_signin: "Đăng nhập bằng tài khoản", or_token: "Hoặc dùng mã truy cập (token) của tập lệnh:",
    signin_failed: "Mã truy cập không hợp lệ.", signed_in_as: "Đang dùng mã:", signout: "Thoát",
    new_upload: "Tải video mới", title: "Tiêu đề", description: "Mô tả", tags: "Thẻ (cách nhau bằng dấu phẩy)",
    series: "Chuỗi sự kiện", event_date: "Ngày sự kiện", channels: "Kênh đăng", channel: "Kênh",
    trim_start: "Cắt từ giây", trim_end: "Đến giây", publish_at: "Giờ đăng",
    publish_hint: "Giờ đăng của từng kênh, theo giờ Việt Nam (Asia/Ho_Chi_Minh); để trống để đăng ngay.", start: "Tải lên",
    framing: "Khung dọc (9:16)", framing_blur: "Giữ cả khung, nền mờ", framing_subject: "Bám theo người nói",
    subtitles: "Phụ đề (tệp SRT, UTF-8)", subtitles_hint: "Tùy chọn; phụ đề được in vào video.",
    subtitles_ok: "Phụ đề hợp lệ", cues: "đoạn", trims: "Cắt video", mark_start: "Đặt điểm đầu tại đây",
    mark_end: "Đặt điểm cuối tại đây", play_trim: "Xem đoạn đã cắt", schedule_link: "Lịch đăng", footage_link: "Danh sách video",
    trim_past_end: "Điểm cắt vượt quá thời lượng video", trim_order: "Điểm cắt cuối phải sau điểm cắt đầu.",
    need_title: "Cần có tiêu đề.", need_files: "Hãy chọn ít nhất một tệp video.",
    uppy_missing: "Chưa cài Uppy (chạy scripts/setup.sh).",
    this_session: "Tiến độ", all_footage: "Tất cả video", status: "Trạng thái", any: "Tất cả",
    from: "Từ ngày", to: "Đến ngày", refresh: "Làm mới", posts: "Bài đăng",
    st_uploading: "Đang tải lên", st_waiting: "Đã nhận, chờ xử lý", st_unknown: "Chưa rõ",
    st_uploaded: "Đã tải lên", st_transcoded: "Đã dựng xong", st_publishing: "Đang đăng",
    st_published: "Đã đăng", st_failed: "Lỗi", st_refused: "Bị từ chối", duplicate: "(tệp đã tải trước đó)",
    status_unavailable: "Chưa lấy được trạng thái, đang thử lại…", resolved: "lỗi đã khắc phục",
  },
  en: {
    tagline: "Upload event footage once, publish it to every ward channel.",
    signin: "Sign in", token: "API token", signin_button: "Sign in",
    account_signin: "Sign in with your account", or_token: "Or use a script's API token:",
    signin_failed: "That token is not valid.", signed_in_as: "Signed in with token:", signout: "Sign out",
    new_upload: "New upload", title: "Title", description: "Description", tags: "Tags (comma-separated)",
    series: "Series", event_date: "Event date", channels: "Channels", channel: "Channel",
    trim_start: "Trim from second", trim_end: "Until second", publish_at: "Publish at",
    publish_hint: "Each channel's publish time, Vietnam time (Asia/Ho_Chi_Minh); leave empty to publish at once.", start: "Upload",
    framing: "Vertical framing (9:16)", framing_blur: "Whole frame on a blurred background", framing_subject: "Follow the speaker",
    subtitles: "Subtitles (SRT file, UTF-8)", subtitles_hint: "Optional; burnt into the video.",
    subtitles_ok: "Subtitles are valid", cues: "cues", trims: "Trim", mark_start: "Start here",
    mark_end: "End here", play_trim: "Play the trimmed part", schedule_link: "Schedule", footage_link: "Footage",
    trim_past_end: "The trim is past the end of the video", trim_order: "The end must be after the start.",
    need_title: "A title is required.", need_files: "Add at least one video file.",
    uppy_missing: "Uppy is not installed (run scripts/setup.sh).",
    this_session: "Progress", all_footage: "All footage", status: "Status", any: "Any",
    from: "From", to: "To", refresh: "Refresh", posts: "Posts",
    st_uploading: "Uploading", st_waiting: "Received, waiting for the pipeline", st_unknown: "Unknown",
    st_uploaded: "Uploaded", st_transcoded: "Cuts ready", st_publishing: "Publishing",
    st_published: "Published", st_failed: "Failed", st_refused: "Refused", duplicate: "(uploaded before)",
    status_unavailable: "Status not available yet, retrying…", resolved: "resolved errors",
  },
};
// How far along each pipeline status is, for the bar (upload itself fills the first 40 %).
const STAGE_PERCENT = { uploading: 0, waiting: 40, unknown: 40, uploaded: 50, transcoded: 70, publishing: 80, published: 100, failed: 100, refused: 100 };
const FINAL = new Set(["published", "failed", "refused"]);
const META_FIELDS = ["title", "description", "tags", "series", "event_date", "channels", "trim_start_s", "trim_end_s", "vertical_framing", "subtitles_key"];
// The wards' time zone (Asia/Ho_Chi_Minh: no daylight saving), what a datetime-local value means.
const WARD_OFFSET = "+07:00";
let channelNames = []; // the ward's channels, each with its own publish time field `publish_at.<name>`
const publishFields = () => channelNames.map((name) => `publish_at.${name}`);

// The language the server-rendered pages use too (loa_ingest/pages.py: the loa_lang cookie).
const cookieLang = /(?:^|; )loa_lang=(vi|en)(?:;|$)/.exec(document.cookie)?.[1];
let lang = cookieLang || localStorage.getItem("loa.lang") || "vi";
let token = sessionStorage.getItem("loa.token") || "";
let csrf = ""; // the session's CSRF token, when signed in with an account (the cookie itself is HttpOnly)
let uppy = null;
const items = new Map(); // Uppy file id or footage id -> {li, state}

const $ = (sel) => document.querySelector(sel);
const t = (key) => STRINGS[lang][key] ?? key;

function applyLanguage() {
  document.documentElement.lang = lang;
  document.querySelectorAll("[data-i18n]").forEach((el) => { el.textContent = t(el.dataset.i18n); });
  document.querySelectorAll("[data-lang]").forEach((b) => b.setAttribute("aria-pressed", String(b.dataset.lang === lang)));
  items.forEach((item) => render(item));
  if (uppy) loadUppyLocale().then((locale) => uppy.setOptions({ locale }));
}

// How this page proves who it is: the pasted token, or the session cookie (sent by the browser) and its CSRF token.
function authHeaders() {
  return token ? { Authorization: `Bearer ${token}` } : { "X-CSRF-Token": csrf };
}

async function api(path, options = {}) {
  const response = await fetch(path, { ...options, headers: { ...(options.headers || {}), ...authHeaders() } });
  let body = null;
  try { body = await response.json(); } catch { body = null; }
  return { status: response.status, body };
}

function detailOf(body) {
  if (!body) return "";
  if (typeof body.detail === "string") return body.detail;
  return JSON.stringify(body.detail ?? body);
}

// -- sign in -----------------------------------------------------------------------------------------------
async function signIn(candidate) {
  token = candidate;
  const who = await api("/whoami");
  if (who.status !== 200) {
    token = "";
    sessionStorage.removeItem("loa.token");
    $("#signin-error").textContent = `${t("signin_failed")} ${detailOf(who.body)}`;
    return;
  }
  sessionStorage.setItem("loa.token", token);
  await enter(`${who.body.token_id} (${who.body.role})`);
}

// Signed in with an account: the session (cookie) is already there; /session gives its CSRF token.
async function resumeSession() {
  const response = await fetch("/session");
  if (response.status !== 200) return false;
  const session = await response.json();
  csrf = session.csrf_token;
  await enter(`${session.display_name} (${session.role}, ${session.ward})`);
  return true;
}

async function enter(who) {
  $("#who").textContent = who;
  $("#signin").hidden = true;
  $("#app").hidden = false;
  await loadChannels();
  await setUpUppy();
  await refreshList();
}

async function loadChannels() {
  const { status, body } = await api("/channels");
  if (status !== 200) return;
  const box = $("#channels");
  const filter = $("#channel-filter");
  box.replaceChildren();
  channelNames = body.map(({ channel }) => channel.name);
  body.forEach(({ channel }, index) => {
    const row = document.createElement("div");
    row.className = "channel-row";
    const label = document.createElement("label");
    label.className = "inline";
    const input = document.createElement("input");
    Object.assign(input, { type: "checkbox", name: "channels", value: channel.name, checked: index === 0 });
    label.append(input, ` ${channel.name} (${channel.platform})`);
    const when = document.createElement("input");
    Object.assign(when, { type: "datetime-local", name: `publish_at.${channel.name}`, disabled: index !== 0 });
    when.setAttribute("aria-label", `${channel.name}: publish time`);
    input.addEventListener("change", () => { when.disabled = !input.checked; });
    row.append(label, when);
    box.append(row);
    const option = document.createElement("option");
    option.value = option.textContent = channel.name;
    filter.append(option);
  });
}

// -- Uppy --------------------------------------------------------------------------------------------------
async function loadUppyLocale() {
  const name = lang === "vi" ? "vi_VN" : "en_US";
  return (await import(`/ui/vendor/@uppy/locales/lib/${name}.js`)).default;
}

async function setUpUppy() {
  if (uppy) return;
  let Uppy, Dashboard, Tus;
  try {
    ({ Uppy, Dashboard, Tus } = await import("/ui/vendor/uppy/dist/uppy.min.mjs"));
  } catch (err) {
    $("#uppy-missing").hidden = false;
    return;
  }
  uppy = new Uppy({
    locale: await loadUppyLocale(),
    autoProceed: false,
    restrictions: { allowedFileTypes: ["video/*", ".mp4", ".mov", ".mkv", ".mts", ".m2ts", ".avi", ".webm"] },
  });
  uppy.use(Dashboard, { inline: true, target: "#uppy", height: 300, hideUploadButton: true, proudlyDisplayPoweredByUppy: false });
  uppy.use(Tus, {
    endpoint: "/files/",
    headers: authHeaders(),
    chunkSize: 8 * 1024 * 1024, // a drop loses at most one chunk
    retryDelays: [0, 1000, 3000, 5000, 10000],
    removeFingerprintOnSuccess: true,
    allowedMetaFields: ["name", "type", ...META_FIELDS, ...publishFields()],
  });
  uppy.on("file-added", (file) => showPreview(file));
  uppy.on("upload-progress", (file, progress) => {
    const item = itemFor(file.id, file.meta.title || file.name, file.name);
    item.state = "uploading";
    item.uploadFraction = progress.bytesTotal ? progress.bytesUploaded / progress.bytesTotal : 0;
    render(item);
  });
  uppy.on("upload-success", async (file, response) => {
    const item = itemFor(file.id, file.meta.title || file.name, file.name);
    const upload = await api(new URL(response.uploadURL, location.href).pathname);
    item.footageId = upload.body?.footage_id;
    item.duplicate = Boolean(upload.body?.duplicate);
    item.state = "waiting";
    render(item);
    poll(item);
  });
  uppy.on("upload-error", (file, error) => {
    const item = itemFor(file.id, file.meta.title || file.name, file.name);
    item.state = "refused";
    const match = /response text: (.*?)(, request id|$)/s.exec(error.message || "");
    let reason = error.message || String(error);
    if (match) { try { reason = detailOf(JSON.parse(match[1])); } catch { reason = match[1]; } }
    item.reason = reason;
    render(item);
  });
}

function formMeta() {
  const form = new FormData($("#meta-form"));
  const meta = {};
  for (const key of META_FIELDS) {
    if (key === "channels") continue;
    const value = (form.get(key) || "").toString().trim();
    if (value) meta[key] = value;
  }
  const chosen = form.getAll("channels");
  meta.channels = chosen.join(",");
  // datetime-local has no zone: the ward's time (Vietnam), sent with its offset.
  for (const name of chosen) {
    const local = (form.get(`publish_at.${name}`) || "").toString();
    if (local) meta[`publish_at.${name}`] = `${local.length === 16 ? `${local}:00` : local}${WARD_OFFSET}`;
  }
  return meta;
}

// -- subtitles: checked and stored by ingest first (POST /subtitles), then named by the upload ---------------------
async function storeSubtitles() {
  const file = $("#subtitles").files[0];
  if (!file) return { key: "" };
  const { status, body } = await api("/subtitles", { method: "POST", body: file, headers: { "Content-Type": "application/x-subrip" } });
  if (status !== 201) return { error: detailOf(body) };
  $("#subtitles-status").textContent = `${t("subtitles_ok")}: ${body.cues} ${t("cues")}`;
  return { key: body.subtitles_key };
}

// -- trim preview: the chosen local file in a <video>, seeking to the trim points ----------------------------------
let previewUrl = "";
function showPreview(file) {
  if (!file.data || !(file.type || "").startsWith("video/") || previewUrl) return;
  previewUrl = URL.createObjectURL(file.data);
  const video = $("#preview-video");
  video.src = previewUrl;
  $("#preview").hidden = false;
  video.addEventListener("loadedmetadata", checkTrims);
}

const trimInput = (name) => $(`#meta-form [name="${name}"]`);
function checkTrims() {
  const video = $("#preview-video");
  const start = parseFloat(trimInput("trim_start_s").value);
  const end = parseFloat(trimInput("trim_end_s").value);
  let problem = "";
  if (!Number.isNaN(start) && !Number.isNaN(end) && end <= start) problem = t("trim_order");
  else if (video.duration && [start, end].some((v) => v > video.duration + 0.05)) problem = `${t("trim_past_end")} (${video.duration.toFixed(1)} s)`;
  $("#trim-error").textContent = problem;
  return !problem;
}

function seekTo(name) {
  const value = parseFloat(trimInput(name).value);
  const video = $("#preview-video");
  if (!Number.isNaN(value) && video.src) video.currentTime = value;
  checkTrims();
}

async function startUpload() {
  $("#form-error").textContent = "";
  const meta = formMeta();
  if (!meta.title) { $("#form-error").textContent = t("need_title"); return; }
  if (!uppy || uppy.getFiles().length === 0) { $("#form-error").textContent = t("need_files"); return; }
  if (!checkTrims()) { $("#form-error").textContent = $("#trim-error").textContent; return; }
  const subtitles = await storeSubtitles();
  if (subtitles.error) { $("#form-error").textContent = subtitles.error; return; }
  meta.subtitles_key = subtitles.key;
  // Every metadata field is sent with each file; fields left empty are sent empty (ingest ignores those).
  const full = Object.fromEntries([...META_FIELDS, ...publishFields()].map((key) => [key, meta[key] ?? ""]));
  uppy.getFiles().forEach((file) => uppy.setFileMeta(file.id, full));
  await uppy.upload();
}

// -- progress through the pipeline -------------------------------------------------------------------------
function itemFor(key, title, fileName = "") {
  if (!items.has(key)) {
    const li = document.createElement("li");
    li.innerHTML = '<strong class="name"></strong> <span class="file"></span> <span class="dup"></span><div class="bar"><div></div></div><div class="stage"></div><div class="links"></div>';
    $("#progress").append(li);
    items.set(key, { li, title, fileName, state: "uploading", uploadFraction: 0, posts: [], reason: "" });
  }
  return items.get(key);
}

function render(item) {
  const { li } = item;
  li.className = item.state;
  li.dataset.state = item.state;
  if (item.footageId) li.dataset.footageId = item.footageId;
  li.querySelector(".name").textContent = item.title;
  li.querySelector(".file").textContent = item.fileName;
  li.querySelector(".dup").textContent = item.duplicate ? t("duplicate") : "";
  const percent = item.state === "uploading" ? Math.round(40 * item.uploadFraction) : STAGE_PERCENT[item.state] ?? 0;
  li.querySelector(".bar > div").style.width = `${percent}%`;
  let stage = t(`st_${item.state}`);
  if (item.reason) stage += `: ${item.reason}`;
  if (item.resolved) stage += ` (${t("resolved")}: ${item.resolved})`;
  if (item.note) stage += ` — ${item.note}`;
  li.querySelector(".stage").textContent = stage;
  const links = li.querySelector(".links");
  links.replaceChildren(...item.posts.map((post) => {
    const a = document.createElement("a");
    a.href = post.url;
    a.textContent = `${post.channel}/${post.profile}`;
    a.target = "_blank";
    a.rel = "noopener";
    return a;
  }));
  links.querySelectorAll("a").forEach((a, i) => { if (i) a.before(" · "); });
}

async function poll(item) {
  while (!FINAL.has(item.state) && (token || csrf)) {
    const { status, body } = await api(`/footage/${item.footageId}`);
    if (status === 200) {
      Object.assign(item, progressOf(body));
      item.note = "";
    } else if (status !== 404) {
      item.note = t("status_unavailable");
    }
    render(item);
    if (FINAL.has(item.state)) break;
    await new Promise((resolve) => setTimeout(resolve, 2000));
  }
}

// -- the list ----------------------------------------------------------------------------------------------
async function refreshList() {
  const form = new FormData($("#filters"));
  const params = new URLSearchParams();
  for (const [key, value] of form.entries()) if (value) params.set(key, value);
  const { status, body } = await api(`/footage?${params}`);
  const tbody = $("#footage-table tbody");
  tbody.replaceChildren();
  $("#list-error").textContent = status === 200 ? "" : detailOf(body);
  if (status !== 200) return;
  for (const row of body.items) {
    const tr = document.createElement("tr");
    const cells = [row.title, row.series ?? "", t(`st_${row.status}`)].map((text) => {
      const td = document.createElement("td");
      td.textContent = text;
      return td;
    });
    const page = document.createElement("a");  // the footage page: cuts, posts, approval, what to do
    page.href = `/ui/footage/${encodeURIComponent(row.footage_id)}`;
    page.textContent = row.title ?? row.footage_id;
    cells[0].replaceChildren(page);
    const posts = document.createElement("td");
    (row.stages?.published?.posts ?? []).forEach((post) => {
      const a = document.createElement("a");
      a.href = post.url;
      a.textContent = `${post.channel}/${post.profile} `;
      posts.append(a);
    });
    tr.append(...cells, posts);
    tbody.append(tr);
  }
}

// -- wiring ------------------------------------------------------------------------------------------------
document.querySelectorAll("[data-lang]").forEach((button) => button.addEventListener("click", () => {
  lang = button.dataset.lang;
  localStorage.setItem("loa.lang", lang);
  document.cookie = `loa_lang=${lang}; path=/; max-age=31536000; samesite=lax`;
  applyLanguage();
}));
$("#signin-form").addEventListener("submit", (event) => { event.preventDefault(); signIn($("#token").value.trim()); });
$("#signout").addEventListener("click", async () => {
  sessionStorage.removeItem("loa.token");
  if (csrf) await fetch("/signout", { method: "POST", headers: { "X-CSRF-Token": csrf } });
  location.reload();
});
$("#start").addEventListener("click", () => startUpload());
trimInput("trim_start_s").addEventListener("input", () => seekTo("trim_start_s"));
trimInput("trim_end_s").addEventListener("input", () => seekTo("trim_end_s"));
$("#mark-start").addEventListener("click", () => { trimInput("trim_start_s").value = $("#preview-video").currentTime.toFixed(1); checkTrims(); });
$("#mark-end").addEventListener("click", () => { trimInput("trim_end_s").value = $("#preview-video").currentTime.toFixed(1); checkTrims(); });
$("#play-trim").addEventListener("click", () => {
  const video = $("#preview-video");
  const end = parseFloat(trimInput("trim_end_s").value);
  seekTo("trim_start_s");
  video.play();
  if (!Number.isNaN(end)) video.ontimeupdate = () => { if (video.currentTime >= end) { video.pause(); video.ontimeupdate = null; } };
});
$("#filters").addEventListener("submit", (event) => { event.preventDefault(); refreshList(); });
applyLanguage();
if (token) signIn(token);
else resumeSession();
