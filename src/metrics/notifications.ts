/**
 * What the notifications part (issue 11, built in parallel) gives the metrics: per endpoint, two
 * numbers read when /metrics is scraped, so delivery adds nothing per event for metrics' sake.
 * Nothing here imports notifications; the composition root hands a source to
 * RegistryMetrics.watchNotifications once both exist.
 */
export interface NotificationStats {
  /** Events written to the queue and not yet delivered to this endpoint. */
  pending(): number;
  /** Delivery attempts that failed (HTTP error status, timeout, refused connection) since start. */
  failures(): number;
}

/** The configured endpoints by name (notifications.endpoints[].name), read at every scrape. */
export type NotificationSource = () => ReadonlyMap<string, NotificationStats>;

/**
 * Series names, distribution's (notifications/metrics.go, docker/go-metrics naming):
 * `pending` is a gauge that go-metrics names with its unit, `_total`, and a failure is counted in
 * `events_total` with type="Failures", as distribution's endpoint metrics do.
 */
export const NOTIFICATION_METRICS = {
  pending: 'registry_notifications_pending_total',
  events: 'registry_notifications_events_total',
} as const;
