/**
 * One job of the load thread (load-thread.ts): read, decode, parse, validate, check and normalize a declarative
 * file or a POST /config body, off the event loop that proxies bytes. The answer is made for the main thread to use
 * as it is: a small header (status, hash, problems, counts), and the entities in chunks on a port of their own,
 * each entity with the fingerprint of its content (what lets the snapshot builder reuse the parts that did not
 * change), so that the main thread takes them a few at a time between other work. An entity the main thread already
 * holds (same fingerprint in the `base` it sent: the live config's) is sent as its index in that config's list:
 * the main thread reuses its object, so a reload that changes a few entities allocates a few on the data path's heap.
 */
import { createHash } from 'node:crypto';
import { renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { MessagePort } from 'node:worker_threads';
import { declarativeErrorBody } from './declarative-errors.js';
import { loadConfigText } from './load.js';
import { postedText } from './posted.js';
import { decodeUtf8, readConfigFileSync } from './read.js';
import { ENTITY_TYPES, type DeclarativeConfig, type EntityType, type LoadOptions, type Problem } from './types.js';

/**
 * A chunk holds at most this many entities and about CHUNK_BYTES of their JSON: the main thread receives (copies) a
 * chunk at once, so a chunk of small routes or of a few certificates is well under a millisecond to take in.
 */
export const CHUNK = 128;
const CHUNK_BYTES = 16 * 1024;
/** A chunk holds at most this many references to entities the main thread already has (a number each). */
export const CHUNK_REFS = 4096;
/** Bytes of one fingerprint (md5) in `LoadReply.fps` and `LoadJob.base`. */
export const FP_BYTES = 16;

/** Per entity type, the raw fingerprints of a config's entities in list order (FP_BYTES each). */
export type FingerprintBytes = Partial<Record<EntityType, Uint8Array>>;

export type LoadSource =
  /** the declarative file at this path */
  | { kind: 'file'; path: string }
  /** content already in hand (POST /config, the watcher's settled read); `contentType` set: a POST body to unwrap */
  | { kind: 'bytes'; bytes: Uint8Array; contentType?: string }
  /** a config the cluster primary already checked (cluster workers): normalized JSON, not checked again */
  | { kind: 'checked'; path: string };

export interface LoadJob {
  id: number;
  source: LoadSource;
  /** the name problems are reported under */
  file: string;
  maxBytes: number;
  options: LoadOptions;
  /** answer `unchanged` without parsing when the content's hash is this */
  skipHash?: string;
  /** write the normalized config into this folder when it is good (the cluster primary, for its workers) */
  checkedDir?: string;
  /** build the admin API's 400 body of an invalid config here; `true`: with Kong's flattened_errors */
  errorBody?: { flatten: boolean };
  /** the fingerprints of the config the main thread holds: its unchanged entities are sent as references */
  base?: FingerprintBytes;
}

export type LoadReply =
  | { id: number; status: 'unreadable'; message: string; tooLarge?: boolean }
  | { id: number; status: 'unchanged'; hash: string }
  | { id: number; status: 'invalid'; hash: string; problems: Problem[]; errorBody?: Record<string, unknown> }
  | {
      id: number;
      status: 'ok';
      hash: string;
      problems: Problem[];
      formatVersion: string;
      counts: Record<EntityType, number>;
      /** the content as UTF-8 (transferred, not copied); absent for a checked config */
      text?: Uint8Array;
      checked?: string;
      ms: number;
      /** entities sent: a large load's thread is ended after it (its heap goes back to the system at once) */
      entities: number;
      /** of them, sent as references to the base's */
      reused: number;
      /** this config's fingerprints, the `base` of the next load (transferred) */
      fps: FingerprintBytes;
    };

/**
 * A chunk on the job's port: entities of one type with their fingerprints (a number: the index of the same entity in
 * the base config's list, its fingerprint then ''), or entity origins.
 */
export type Chunk =
  | { type: EntityType; items: (object | number)[]; fps: string[] }
  | { origins: [string, DeclarativeConfig['origins'][string]][] };

/** The test hook of a load thread that runs out of memory (KONG_TS_TEST_LOAD_EXHAUST=1 and this line in the text). */
const EXHAUST_MARK = '# kong-ts-test: exhaust-heap';

function exhaust(): never {
  const hog: number[][] = [];
  for (;;) hog.push(new Array<number>(1 << 20).fill(1));
}

function invalid(job: LoadJob, hash: string, problems: Problem[], text: string): LoadReply {
  const errorBody = job.errorBody ? declarativeErrorBody(problems, text, job.errorBody.flatten) : undefined;
  return { id: job.id, status: 'invalid', hash, problems, errorBody };
}

export function runJob(job: LoadJob, port: MessagePort): LoadReply {
  const started = performance.now();
  const { id, file } = job;
  let text: string;
  let checked: { hash: string; formatVersion: string; config: DeclarativeConfig; problems: Problem[] } | undefined;
  if (job.source.kind === 'checked') {
    const read = readConfigFileSync(job.source.path, Number.MAX_SAFE_INTEGER);
    if (!read.ok) return { id, status: 'unreadable', message: read.message };
    checked = JSON.parse(read.bytes.toString('utf8')) as typeof checked;
    text = '';
  } else {
    let bytes: Uint8Array;
    if (job.source.kind === 'file') {
      const read = readConfigFileSync(job.source.path, job.maxBytes);
      if (!read.ok) return { id, status: 'unreadable', message: read.message, tooLarge: read.tooLarge };
      bytes = read.bytes;
    } else {
      bytes = job.source.bytes;
      if (bytes.length > job.maxBytes) {
        return {
          id,
          status: 'unreadable',
          tooLarge: true,
          message: `the configuration is ${bytes.length} bytes, over declarative_config_max_size (${job.maxBytes} bytes)`,
        };
      }
    }
    const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    if (job.source.kind === 'bytes' && job.source.contentType !== undefined) {
      const posted = postedText(job.source.contentType, buf);
      if ('message' in posted) return { id, status: 'unreadable', message: posted.message };
      text = posted.text;
    } else {
      const decoded = decodeUtf8(buf);
      if (!('text' in decoded)) {
        const problems: Problem[] = [
          { severity: 'error', file, line: decoded.line, column: decoded.column, path: '', message: decoded.message },
        ];
        return invalid(job, createHash('md5').update(buf).digest('hex'), problems, '');
      }
      text = decoded.text;
    }
    if (process.env.KONG_TS_TEST_LOAD_EXHAUST === '1' && text.includes(EXHAUST_MARK)) exhaust();
  }
  const hash = checked?.hash ?? createHash('md5').update(text).digest('hex');
  if (job.skipHash !== undefined && hash === job.skipHash) return { id, status: 'unchanged', hash };
  if (!checked) {
    const result = loadConfigText(text, file, job.options);
    if (!result.ok) {
      return invalid(job, hash, result.problems, text);
    }
    checked = { hash, formatVersion: result.config.format_version, config: result.config, problems: result.problems };
  }
  const config = checked.config;
  let checkedPath: string | undefined;
  if (job.checkedDir) {
    checkedPath = join(job.checkedDir, `checked-${hash}.json`);
    writeFileSync(`${checkedPath}.tmp`, JSON.stringify(checked));
    renameSync(`${checkedPath}.tmp`, checkedPath);
  }
  const counts = {} as Record<EntityType, number>;
  const fpBytes: FingerprintBytes = {};
  let entities = 0;
  let reused = 0;
  for (const type of ENTITY_TYPES) {
    const list = config[type] as object[];
    counts[type] = list.length;
    entities += list.length;
    const known = baseIndex(job.base?.[type]);
    const raw = new Uint8Array(list.length * FP_BYTES);
    fpBytes[type] = raw;
    let items: (object | number)[] = [];
    let fps: string[] = [];
    let bytes = 0;
    let objects = 0;
    for (let i = 0; i < list.length; i++) {
      const e = list[i]!;
      const json = JSON.stringify(e);
      const digest = createHash('md5').update(json).digest();
      raw.set(digest, i * FP_BYTES);
      const at = known?.get(digest.toString('latin1'));
      if (at !== undefined) {
        items.push(at);
        fps.push('');
        reused++;
      } else {
        items.push(e);
        fps.push(digest.toString('base64'));
        bytes += json.length;
        objects++;
      }
      if (objects >= CHUNK || bytes >= CHUNK_BYTES || items.length >= CHUNK_REFS) {
        port.postMessage({ type, items, fps } satisfies Chunk);
        items = [];
        fps = [];
        bytes = 0;
        objects = 0;
      }
    }
    if (items.length > 0) port.postMessage({ type, items, fps } satisfies Chunk);
  }
  // origins reach the main thread only for what it reports with a position: routes without destinations (the TLS
  // detection warning); every other use of them (lint, explain) runs where the config was loaded
  const origins: [string, DeclarativeConfig['origins'][string]][] = [];
  for (const r of config.routes) {
    const o = r.destinations?.length ? undefined : config.origins[r.id];
    if (o) origins.push([r.id, o]);
  }
  for (let i = 0; i < origins.length; i += CHUNK * 2)
    port.postMessage({ origins: origins.slice(i, i + CHUNK * 2) } satisfies Chunk);
  const utf8 = text === '' ? undefined : new TextEncoder().encode(text);
  return {
    id,
    status: 'ok',
    hash,
    problems: checked.problems,
    formatVersion: checked.formatVersion,
    counts,
    text: utf8,
    checked: checkedPath,
    ms: performance.now() - started,
    entities,
    reused,
    fps: fpBytes,
  };
}

/** fingerprint (as a latin1 string) → index in the base's list */
function baseIndex(raw: Uint8Array | undefined): Map<string, number> | undefined {
  if (!raw || raw.length === 0) return undefined;
  const buf = Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength);
  const out = new Map<string, number>();
  for (let i = 0; i * FP_BYTES < buf.length; i++) out.set(buf.toString('latin1', i * FP_BYTES, (i + 1) * FP_BYTES), i);
  return out;
}
