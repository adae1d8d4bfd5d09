/**
 * Process metrics (CPU, memory, event-loop lag, garbage collection, open files) from prom-client, under their
 * standard names (`process_cpu_seconds_total`, `nodejs_eventloop_lag_seconds`, …) so that stock dashboards read
 * them, each with a `service` label.
 */
import { collectDefaultMetrics, Registry } from 'prom-client';

export class ProcessMetrics {
  private readonly registry = new Registry();

  constructor(service: string) {
    this.registry.setDefaultLabels({ service });
    collectDefaultMetrics({ register: this.registry });
  }

  text(): Promise<string> {
    return this.registry.metrics();
  }
}
