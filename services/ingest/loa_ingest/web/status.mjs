// What the page shows of a footage's status view (contracts.FootageView, relayed by ingest from metrics).
// Pure, so it is tested with node against the view metrics really serves (tests/integration/test_metrics_report_cli.py).

// The view as the page's progress item: its state, its post links, the reasons of the failures that still stand,
// and those a later success resolved (a post `loa retry` published), shown apart so a published footage does
// not read as failing.
export function progressOf(view) {
  const errors = view.errors ?? [];
  const reasons = (resolved) => errors.filter((e) => Boolean(e.resolved) === resolved).map((e) => e.reason).join("; ");
  return {
    state: view.status === "unknown" ? "waiting" : view.status,
    posts: view.stages?.published?.posts ?? [],
    reason: reasons(false),
    resolved: reasons(true),
  };
}
