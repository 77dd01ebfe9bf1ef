// The ward's schedule (Vietnam time, Asia/Ho_Chi_Minh: UTC+7 all year): FullCalendar (month and week) over GET /schedule/posts, one colour per state, a channel filter.
(() => {
  const box = document.getElementById("calendar");
  const error = document.getElementById("calendar-error");
  const filter = document.getElementById("channel-filter");
  const dialog = document.getElementById("change-dialog");
  const csrf = document.querySelector('meta[name="csrf-token"]')?.content || "";
  let chosen = null; // the post whose time is being changed
  const CHANGEABLE = new Set(["scheduled", "due", "cancelled"]);
  if (!window.FullCalendar) { error.textContent = box.dataset.missing; return; }
  const phone = window.matchMedia("(max-width: 600px)").matches;
  const calendar = new FullCalendar.Calendar(box, {
    locale: box.dataset.lang === "vi" ? "vi" : "en",
    // Times are the ward's wall clock (local_at) on a UTC calendar: a phone set to another zone shows Vietnam time.
    timeZone: "UTC",
    now: () => new Date(Date.now() + 7 * 3600e3).toISOString().slice(0, 19),
    initialView: phone ? "timeGridWeek" : "dayGridMonth",
    height: "auto",
    headerToolbar: phone
      ? { left: "prev,next", center: "title", right: "dayGridMonth,timeGridWeek" }
      : { left: "prev,next today", center: "title", right: "dayGridMonth,timeGridWeek" },
    buttonText: { month: box.dataset.month, week: box.dataset.week, today: box.dataset.today },
    eventTimeFormat: { hour: "2-digit", minute: "2-digit", hour12: false },
    events: async (info) => {
      const day = (d) => d.toISOString().slice(0, 10); // the ward's days (the calendar's UTC midnights)
      const params = new URLSearchParams({ start: day(info.start), end: day(info.end) });
      const response = await fetch(`/schedule/posts?${params}`);
      const body = await response.json().catch(() => null);
      if (response.status !== 200) {
        error.textContent = `${box.dataset.loadFailed} ${body && typeof body.detail === "string" ? body.detail : response.status}`;
        return [];
      }
      error.textContent = "";
      return body.filter((post) => !filter.value || post.channel === filter.value).map((post) => ({
        id: `${post.footage_id}/${post.channel}`,
        title: `${post.channel}: ${post.title}`,
        start: post.local_at,
        url: post.url || `/ui/footage/${post.footage_id}`,
        classNames: [`state-${post.state}`],
        extendedProps: post,
      }));
    },
    eventClick: (info) => {
      const post = info.event.extendedProps;
      if (!CHANGEABLE.has(post.state)) return; // a published post opens its link
      info.jsEvent.preventDefault();
      chosen = post;
      document.getElementById("change-what").textContent = `${post.channel}: ${post.title}`;
      document.getElementById("change-time").value = post.local_at.slice(0, 16);
      document.getElementById("change-error").textContent = "";
      document.getElementById("change-footage").href = `/ui/footage/${post.footage_id}`;
      dialog.showModal();
    },
    eventDidMount: (info) => {
      const post = info.event.extendedProps;
      info.el.title = `${post.channel} (${post.platform || ""}) — ${box.dataset[`state${post.state[0].toUpperCase()}${post.state.slice(1)}`]}: ${post.title}`;
      info.el.dataset.state = post.state;
      info.el.dataset.channel = post.channel;
    },
  });
  calendar.render();

  // Reschedule or cancel: ingest records it in the audit log and the publisher holds the post accordingly.
  async function change(what, body) {
    const response = await fetch(`/posts/${chosen.footage_id}/${chosen.channel}/${what}`, {
      method: "POST",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
      body: JSON.stringify(body),
    });
    const answer = await response.json().catch(() => null);
    if (response.status !== 202) {
      document.getElementById("change-error").textContent = answer && typeof answer.detail === "string" ? answer.detail : String(response.status);
      return;
    }
    dialog.close();
    document.getElementById("change-done").textContent = box.dataset.changed;
    calendar.refetchEvents();
  }
  document.getElementById("change-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const local = document.getElementById("change-time").value;
    change("reschedule", { publish_at: `${local.length === 16 ? `${local}:00` : local}+07:00` });
  });
  document.getElementById("cancel-post").addEventListener("click", () => change("cancel", {}));
  document.getElementById("close-dialog").addEventListener("click", () => dialog.close());
  filter.addEventListener("change", () => calendar.refetchEvents());
})();
