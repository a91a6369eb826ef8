/**
 * Replay mode: runs the live pipeline over capture files (pcap/pcapng; Ethernet, Linux cooked
 * SLL/SLL2, raw IP) and produces one flow record per flow. Each file has its own flow table.
 *
 * Checksums are not verified by default: captures taken on the sending host hold frames whose
 * checksums the NIC filled in later (checksum offload), e.g. 70 frames of nDPI's bittorrent.pcap
 * carry IPv4 header checksum 0. Pass `verifyChecksums: true` to treat them as the live path does.
 */
import path from 'node:path';
import type { Logger } from 'pino';
import { readCaptureFile } from '../capture/pcap.js';
import { Counters } from '../core/counters.js';
import { flowRecord, type FlowRecord } from '../observe/flowrecord.js';
import { logClassification } from '../observe/log.js';
import { loadConfig, type EffectiveConfig } from '../config/load.js';
import { APPS } from '../apps/registry.js';
import { Pipeline } from './pipeline.js';
import { buildClassifier, pipelineOptions } from './setup.js';
import { buildContent } from '../content/setup.js';
import type { Verdict } from '../core/types.js';
import { buildOutputs } from '../observe/outputs.js';

export interface ReplayOptions {
  /** Effective config; default: the bundled default config. */
  config?: EffectiveConfig;
  /** Verify IP/TCP/UDP checksums (default false, see above). */
  verifyChecksums?: boolean;
  /** Receives verdict lines. */
  logger?: Logger;
  /** Called for every flow record as the flow ends (records are also returned). */
  onRecord?: (rec: FlowRecord) => void;
  counters?: Counters;
  /** Write one capture per application with the classified flows' packets into this directory. */
  exportPcap?: string;
  /** Receives every packet's verdict (immediate or released later), keyed by packet index in the run. */
  onPacketVerdict?: (index: number, v: Verdict) => void;
  /** IPFIX collector `HOST:PORT` (`--ipfix`), overriding the config's `flow_export.collector`. */
  ipfix?: string;
}

export interface ReplayResult {
  records: FlowRecord[];
  counters: Counters;
  /** Resolves when the outputs are closed: IPFIX export sent everything (or gave up; see counters). */
  closed: Promise<void>;
}

/**
 * Replays capture files through the pipeline.
 * @param paths capture files, processed in order
 * @returns every flow record (flows end by idle timeout or at the end of their file) and counters
 * @throws P2pgwError(P2PGW_ERR_CAPTURE_FORMAT) for a file that is not a capture; RulesError/ConfigError;
 *   P2pgwError(P2PGW_ERR_USAGE) for a bad `ipfix`. The outputs are closed in any case.
 */
export function replayFiles(paths: readonly string[], opts: ReplayOptions = {}): ReplayResult {
  const cfg = opts.config ?? loadConfig(undefined, APPS.map((a) => a.name));
  const { classifier } = buildClassifier(cfg);
  const counters = opts.counters ?? new Counters();
  const records: FlowRecord[] = [];
  const content = buildContent(cfg, counters, 'replay', opts.logger);
  for (const n of content.notices) opts.logger?.warn(n);
  const apps = classifier.apps.map((a) => ({ name: a.desc.name, title: a.desc.title, mark: a.mark }));
  const outputs = buildOutputs(cfg, { exportPcap: opts.exportPcap, ipfix: opts.ipfix, mode: 'offline', apps }, counters, opts.logger);
  let index = 0;
  let closed: Promise<void>;
  try {
    for (const file of paths) {
      const capture = path.basename(file);
      const pipeline = new Pipeline(classifier, pipelineOptions(cfg, opts.verifyChecksums ?? false, content), counters, {
        onVerdict: (id, v) => opts.onPacketVerdict?.(id, v),
        onClassified: (flow, c) => {
          if (opts.logger) logClassification(opts.logger.child({ capture }), flow, c);
          outputs.onClassified(flow);
        },
        onPacket: (flow, ip, ts) => outputs.onPacket(flow, ip, ts),
        onFlowEnd: (flow, why) => {
          outputs.onFlowEnd(flow, file, why);
          const rec = flowRecord(flow, file);
          records.push(rec);
          opts.onRecord?.(rec);
        },
      });
      let lastExpire = -Infinity;
      for (const rec of readCaptureFile(file, counters)) {
        if (!rec.ip) {
          counters.inc('frame_not_ip');
          continue;
        }
        const id = index++;
        const v = pipeline.handle(rec.ip, rec.ts, id);
        if (v) opts.onPacketVerdict?.(id, v);
        if (rec.ts - lastExpire >= 1) {
          pipeline.expire(rec.ts);
          pipeline.tick(rec.ts);
          lastExpire = rec.ts;
        } else if (pipeline.inspect && rec.ts * 1000 >= pipeline.inspect.dueAt) {
          pipeline.tick(rec.ts); // a hold or scan timeout is due: on time, not at the next whole second
        }
      }
      pipeline.flush();
    }
  } finally {
    closed = outputs.close();
    void content.close();
  }
  return { records, counters, closed };
}
