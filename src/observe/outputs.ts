/**
 * The optional outputs of a run, built once from the config and shared by `run` and `replay`:
 * the rotating flow log (JSON Lines of ended flows) and the per-application pcap export. Returns
 * pipeline hooks, a periodic flush and a close, so both modes wire them the same way.
 */
import type { Logger } from 'pino';
import type { EffectiveConfig } from '../config/load.js';
import type { Flow } from '../flow/flow.js';
import type { Counters } from '../core/counters.js';
import { flowRecord } from './flowrecord.js';
import { FlowLog } from './flowlog.js';
import { PcapExporter } from './pcapexport.js';

export interface Outputs {
  onPacket(flow: Flow, ip: Uint8Array, ts: number): void;
  onClassified(flow: Flow): void;
  onFlowEnd(flow: Flow, capture: string): void;
  /** Periodic work (about once a second): writes buffered export data. */
  flush(): void;
  close(): void;
}

/**
 * @param opts.flowLogDir overrides `flow_log.dir` (null/undefined: the config's)
 * @param opts.exportPcap directory of `--export-pcap` (undefined: no export)
 * @throws P2pgwError(P2PGW_ERR_CONFIG) for bad sizes or an unusable directory
 */
export function buildOutputs(
  cfg: EffectiveConfig,
  opts: { flowLogDir?: string; exportPcap?: string },
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
  return {
    onPacket: (flow, ip, ts) => exporter?.packet(flow.key, ip, ts),
    onClassified: (flow) => exporter?.classified(flow.key, flow.app),
    onFlowEnd: (flow, capture) => {
      flowLog?.write(flowRecord(flow, capture));
      exporter?.flowEnded(flow.key);
    },
    flush: () => exporter?.flush(),
    close: () => {
      flowLog?.close();
      exporter?.close();
    },
  };
}
