/**
 * IPFIX flow export as one of the run's outputs (src/observe/outputs.ts): the meter (active and
 * idle timeouts, delta counts) feeding the exporter (queue, Messages, transport), with the
 * application table announced from the configured applications and completed from the flows
 * exported. Built from the effective `flow_export` options, or `--ipfix HOST:PORT`.
 */
import type { Counters } from '../../core/counters.js';
import type { Flow } from '../../flow/flow.js';
import type { FlowEndReason } from '../../flow/table.js';
import type { HostPort } from '../../config/hostport.js';
import { IpfixExporter, type IpfixEvent } from './exporter.js';
import { FlowMeter } from './meter.js';
import { selectorOf, type AppEntry, type ExportRecord } from './template.js';

/** The effective `flow_export` options (DEFAULTS.flowExport, seconds and records). */
export interface FlowExportOptions {
  transport: 'udp' | 'tcp';
  templateRefreshSec: number;
  observationDomain: number;
  activeTimeoutSec: number;
  idleTimeoutSec: number;
  queue: number;
}

/** An application as the classifier configures it: name, display title, connmark. */
export interface ExportedApp {
  name: string;
  title: string;
  mark: number;
}

/** The application table entry of flows that were not classified (mark 0). */
export const UNCLASSIFIED_APP: AppEntry = Object.freeze({ selector: selectorOf(0), name: 'unknown', description: 'not classified by p2pgw' });

/** The application table of the configured applications: selectorOf(mark), name, display title. */
export function appTable(apps: readonly ExportedApp[]): AppEntry[] {
  return [UNCLASSIFIED_APP, ...apps.filter((a) => a.mark > 0 && a.mark <= 0xffffff).map((a) => ({ selector: selectorOf(a.mark), name: a.name, description: a.title }))];
}

/** Meter and exporter together, driven by the outputs' hooks (packet, flow end, tick, close). */
export class IpfixOutput {
  readonly exporter: IpfixExporter;
  private readonly meter: FlowMeter;
  /** Packet time of the last idle sweep done from the packet path, seconds. */
  private lastSweep = -Infinity;

  /**
   * @param collector where Messages go
   * @param opts the effective `flow_export` options
   * @param mode `offline` (replay: nothing is dropped, everything is sent at close) or `live`
   * @param apps the configured applications (their names are announced before any flow)
   * @throws P2pgwError(P2PGW_ERR_IPFIX) when the socket cannot be created
   */
  constructor(
    collector: HostPort,
    opts: FlowExportOptions,
    mode: 'offline' | 'live',
    apps: readonly ExportedApp[],
    counters: Counters,
    onEvent?: (ev: IpfixEvent) => void,
  ) {
    this.exporter = new IpfixExporter(
      {
        host: collector.host,
        port: collector.port,
        transport: opts.transport,
        domain: opts.observationDomain,
        templateRefreshSec: opts.templateRefreshSec,
        maxQueue: opts.queue,
        offline: mode === 'offline',
        onEvent,
      },
      counters,
    );
    this.exporter.announce(appTable(apps));
    this.meter = new FlowMeter({ activeTimeoutSec: opts.activeTimeoutSec, idleTimeoutSec: opts.idleTimeoutSec }, (r) => this.emit(r));
  }

  /** A packet of `flow` at `ts` seconds (after accounting): active timeouts, and idle sweeps on packet time. */
  packet(flow: Flow, ts: number): void {
    this.meter.packet(flow, ts);
    if (Math.abs(ts - this.lastSweep) >= 1) {
      this.lastSweep = ts;
      this.meter.sweep(ts);
    }
  }

  /** The flow table ended `flow`. */
  ended(flow: Flow, why: FlowEndReason): void {
    this.meter.ended(flow, why);
  }

  /** Once a second in live mode: idle flows at wall-clock `now` (seconds), then the exporter's queue. */
  tick(now = Date.now() / 1000): void {
    this.meter.sweep(now);
    this.exporter.flush();
  }

  /** Reports the flows still unreported, sends everything, closes (see IpfixExporter.close). */
  close(deadlineMs?: number): Promise<void> {
    this.meter.flushAll();
    return this.exporter.close(deadlineMs);
  }

  /** Queues a record; an application the table lacks (e.g. a mark changed by a reload) is announced first. */
  private emit(r: ExportRecord): void {
    if (r.app !== null && this.exporter.nameOf(r.selector) !== r.app) this.exporter.announce([{ selector: r.selector, name: r.app, description: r.app }]);
    this.exporter.push(r);
  }
}
