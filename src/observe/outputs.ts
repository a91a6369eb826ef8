/**
 * The optional outputs of a run, built once from the config and shared by `run` and `replay`:
 * the rotating flow log (JSON Lines of ended flows), the per-application pcap export and IPFIX
 * flow export (src/observe/ipfix/). Returns pipeline hooks, a periodic flush and a close, so both
 * modes wire them the same way.
 */
import type { Logger } from 'pino';
import type { EffectiveConfig } from '../config/load.js';
import type { Flow } from '../flow/flow.js';
import type { Counters } from '../core/counters.js';
import type { FlowEndReason } from '../flow/table.js';
import { P2pgwError } from '../core/errors.js';
import { HOST_PORT_EXAMPLES, parseHostPort } from '../config/hostport.js';
import { IpfixOutput, type ExportedApp } from './ipfix/output.js';
import type { IpfixEvent } from './ipfix/exporter.js';
import { flowRecord } from './flowrecord.js';
import { FlowLog } from './flowlog.js';
import { PcapExporter } from './pcapexport.js';

export interface Outputs {
  onPacket(flow: Flow, ip: Uint8Array, ts: number): void;
  onClassified(flow: Flow): void;
  /** A flow ended (`why` as the flow table says; default `flush`). */
  onFlowEnd(flow: Flow, capture: string, why?: FlowEndReason): void;
  /** Periodic work of live mode (about once a second): writes buffered export data, reports idle flows over IPFIX. */
  flush(): void;
  /**
   * Closes every output; resolves when the IPFIX exporter has sent what it holds (or gave up
   * within its deadline). Never rejects.
   */
  close(): Promise<void>;
}

/**
 * @param opts.flowLogDir overrides `flow_log.dir` (null/undefined: the config's)
 * @param opts.exportPcap directory of `--export-pcap` (undefined: no export)
 * @param opts.ipfix collector of `--ipfix HOST:PORT`, overriding `flow_export.collector`
 * @param opts.mode `offline` (replay: IPFIX export never drops, sends all at close) or `live` (default)
 * @param opts.apps the configured applications, announced in the IPFIX application table
 * @param opts.domainOffset added to `flow_export.observation_domain` (queue worker index)
 * @throws P2pgwError(P2PGW_ERR_CONFIG) for bad sizes or an unusable directory; P2pgwError
 *   (P2PGW_ERR_USAGE) for an `--ipfix` that is not HOST:PORT; P2pgwError(P2PGW_ERR_IPFIX) when
 *   the export socket cannot be opened
 */
export function buildOutputs(
  cfg: EffectiveConfig,
  opts: { flowLogDir?: string; exportPcap?: string; ipfix?: string; mode?: 'offline' | 'live'; apps?: readonly ExportedApp[]; domainOffset?: number },
  counters: Counters,
  logger?: Logger,
): Outputs {
  const dir = opts.flowLogDir ?? cfg.flowLog.dir;
  const flowLog = dir
    ? new FlowLog(
        {
          dir, maxFileBytes: cfg.flowLog.maxFileBytes, maxTotalBytes: cfg.flowLog.maxTotalBytes, minFreeBytes: cfg.flowLog.minFreeBytes,
          onEvent: (ev) => {
            if (ev.type === 'low_disk') logger?.warn(ev, 'flow log: free space below the floor, records are dropped');
            else if (ev.type === 'error') logger?.error(ev, 'flow log error');
            else if (ev.type === 'removed') logger?.info(ev, 'flow log: oldest file removed');
          },
        },
        counters,
      )
    : null;
  const exporter = opts.exportPcap
    ? new PcapExporter(
        {
          dir: opts.exportPcap, maxFileBytes: cfg.exportPcap.maxFileBytes, maxTotalBytes: cfg.exportPcap.maxTotalBytes,
          maxBufferedPacketsPerFlow: cfg.exportPcap.bufferPacketsPerFlow, maxBufferedBytes: cfg.exportPcap.bufferBytes,
        },
        counters,
      )
    : null;
  const ipfix = buildIpfix(cfg, opts, counters, logger);
  return {
    onPacket: (flow, ip, ts) => {
      exporter?.packet(flow.key, ip, ts);
      ipfix?.packet(flow, ts);
    },
    onClassified: (flow) => exporter?.classified(flow.key, flow.app),
    onFlowEnd: (flow, capture, why = 'flush') => {
      flowLog?.write(flowRecord(flow, capture));
      exporter?.flowEnded(flow.key);
      ipfix?.ended(flow, why);
    },
    flush: () => {
      exporter?.flush();
      ipfix?.tick();
    },
    close: async () => {
      flowLog?.close();
      exporter?.close();
      // Replay waits up to 5 s for the collector; a stopping daemon up to 2 s.
      await ipfix?.close(opts.mode === 'offline' ? 5000 : 2000);
    },
  };
}

/**
 * The IPFIX output of `flow_export` (collector from `opts.ipfix` or the config), or null when no
 * collector is set. Exporter events become log lines: `ipfix connected`, `ipfix disconnected`,
 * `ipfix transport error`, `ipfix dropping records`, `ipfix recovered`.
 * @throws P2pgwError(P2PGW_ERR_USAGE) for an `--ipfix` that is not HOST:PORT
 */
function buildIpfix(
  cfg: EffectiveConfig,
  opts: { ipfix?: string; mode?: 'offline' | 'live'; apps?: readonly ExportedApp[]; domainOffset?: number },
  counters: Counters,
  logger?: Logger,
): IpfixOutput | null {
  const text = opts.ipfix ?? cfg.flowExport.collector;
  if (!text) return null;
  const collector = parseHostPort(text);
  if (!collector) throw new P2pgwError('P2PGW_ERR_USAGE', `--ipfix: '${text}' is not HOST:PORT (e.g. ${HOST_PORT_EXAMPLES})`);
  const fe = cfg.flowExport;
  const onEvent = (ev: IpfixEvent): void => {
    const { type, ...rest } = ev;
    if (type === 'connected' || type === 'recovered') logger?.info(rest, `ipfix ${type}`);
    else if (type === 'dropping') logger?.warn(rest, 'ipfix dropping records');
    else logger?.warn(rest, `ipfix ${type.replace('_', ' ')}`);
  };
  return new IpfixOutput(collector, { ...fe, observationDomain: (fe.observationDomain + (opts.domainOffset ?? 0)) >>> 0 }, opts.mode ?? 'live', opts.apps ?? [], counters, onEvent);
}
