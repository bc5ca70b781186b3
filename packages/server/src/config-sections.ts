/**
 * Sections of the `dari serve` config schema (config.ts): the composite fallback in SFU rooms
 * (`sfu.compositeFallback`), the MCU's composites (`mcu`), egress files (`recording`), scale-out
 * (`redis`, `cluster`) and RTSP cameras (`ingress`, `ingressRetry`). Every key is documented in
 * docs/configuration.md; `ConfigSchema` in config.ts puts them together.
 */
import { z } from 'zod';

/**
 * The composite as a fallback in SFU rooms (docs/architecture.md, "The composite fallback";
 * the SFU core's core/composite-fallback.ts): a browser whose REMB estimate cannot carry its
 * videos even at their lowest simulcast layers receives the room's composite video instead
 * (needs GStreamer and a free media worker), and its videos back when it recovers.
 */
export const CompositeFallbackConfigSchema = z
  .strictObject({
    /** On by default; `false` turns it off. */
    enabled: z.boolean().default(true),
    /** No decision this long after the first REMB, after more videos start and after a return to the videos, ms. Default 5000. */
    rampUpMs: z.number().int().min(0).max(600_000).default(5000),
    /** The estimate must stay below the need (or above recoverRatio x the need) this long, ms. Default 2000. */
    holdMs: z.number().int().min(0).max(600_000).default(2000),
    /** Back to the videos when the estimate reaches this multiple of the need. Default 1.5. */
    recoverRatio: z.number().min(1).max(100).default(1.5),
    /** Videos back for a probe after this long in the composite, ms; doubled by a failed probe. Default 20000. */
    probeIntervalMs: z.number().int().min(1000).max(3_600_000).default(20_000),
    /** Ceiling of the probe interval, ms. Default 160000. */
    maxProbeIntervalMs: z.number().int().min(1000).max(3_600_000).default(160_000),
    /** A fallback within this long of a return to the videos is a failed probe, ms. Default 10000. */
    probeMs: z.number().int().min(0).max(3_600_000).default(10_000),
    /** An unmeasured lowest layer counts for this much, bps. Default 150000. */
    unmeasuredVideoBps: z.number().int().min(0).max(100_000_000).default(150_000),
    /** Each audio track received counts for this much, bps. Default 40000. */
    audioBps: z.number().int().min(0).max(10_000_000).default(40_000),
    /** The composite stops this long after the last subscriber in the fallback recovers or leaves, ms. Default 10000. */
    stopAfterMs: z.number().int().min(0).max(3_600_000).default(10_000),
  })
  .prefault({});

/** `mcu`: the MCU's composites (size, frame rate, encoder ceiling) and the media workers that make them. */
export const McuConfigSchema = z
  .strictObject({
    /** Composite size, px (even). Default 640×360. */
    width: z.number().int().min(64).max(3840).multipleOf(2).default(640),
    height: z.number().int().min(64).max(2160).multipleOf(2).default(360),
    /** Composite frame rate, frames/s. Default 15. */
    fps: z.number().int().min(1).max(60).default(15),
    /** Ceiling of the composite's VP8 encoder, bps. Default 1500000. */
    maxBitrateBps: z.number().int().min(50_000).max(20_000_000).default(1_500_000),
    /** Media worker processes (composites and recorders) at most; past it, requests get 503 TOO_MANY_WORKERS. Default 8. */
    maxWorkers: z.number().int().min(1).max(1000).default(8),
    /** Python with Debian's python3-gst-1.0 that runs the GStreamer workers. Default /usr/bin/python3. */
    python: z.string().min(1).default('/usr/bin/python3'),
  })
  .prefault({});

/** `recording`: where egress files go and how long ended egresses stay listed. */
export const RecordingConfigSchema = z
  .strictObject({
    /** Directory of egress files (Dari names them `<egress id>.<format>`). Default `$XDG_DATA_HOME/dari/recordings` (~/.local/share). */
    dir: z.string().min(1).optional(),
    /** Ended egresses (`complete`, `failed`) `GET /api/egress` keeps listing, at most; older ones are dropped first. Default 100. */
    keepEnded: z.number().int().min(0).max(100_000).default(100),
    /** How long an ended egress stays listed, s. Default 3600. */
    keepEndedS: z.number().int().min(0).max(30 * 86_400).default(3600),
  })
  .prefault({});

/** `redis`: scale-out's Redis (docs/scaling.md). */
export const RedisConfigSchema = z
  .strictObject({
    /**
     * Scale-out: the Redis that holds the node registry and the room → node map
     * (`redis://[user:password@]host:port[/db]`, or `rediss://` for TLS). Unset: one node, no Redis.
     */
    url: z
      .string()
      .refine((u) => /^rediss?:\/\/[^/]/.test(u), 'expected redis://host:port[/db] or rediss://…')
      .optional(),
  })
  .prefault({});

/** `cluster`: this node in a scale-out cluster and where new rooms go (docs/scaling.md). */
export const ClusterConfigSchema = z
  .strictObject({
    /** This node's id in the registry; default `ND_` and 12 random hex digits per process. */
    nodeId: z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/, 'letters, digits, _ . - (at most 64)').optional(),
    /** URL other nodes reach this node's HTTP port at (node links, REST); default http(s)://host:port (required when host is a wildcard). */
    nodeUrl: z.url({ protocol: /^https?$/ }).optional(),
    /** Where new rooms go: `least-loaded` (default), `local` (the node the join reached) or `random` (docs/scaling.md). */
    selector: z.enum(['least-loaded', 'local', 'random']).default('least-loaded'),
    /**
     * Whether `least-loaded` compares the nodes' CPU (after participants and rooms). Default true.
     * Turn it off when per-process CPU misleads, e.g. several nodes sharing one host's cores.
     */
    placementCpu: z.boolean().default(true),
    /** Heartbeat period, ms. Default 1000. */
    heartbeatIntervalMs: z.number().int().min(100).max(60_000).default(1000),
    /** A node whose heartbeat is this old is dead and its rooms move, ms. Default 3000. */
    nodeTtlMs: z.number().int().min(300).max(300_000).default(3000),
    /** On SIGTERM, how long a draining node lets its rooms go on before moving them, s. Default 300. */
    drainTimeoutS: z.number().min(0).max(86_400).default(300),
    /** Prefix of every Redis key. Default `dari:`. */
    keyPrefix: z.string().max(64).default('dari:'),
  })
  .prefault({});

/** RTSP cameras started with the server (docs/ingest.md); `POST /api/ingress` adds more at run time. */
export const IngressConfigSchema = z
  .array(
    z.strictObject({
      room: z.string().min(1).max(256),
      url: z.string().refine((u) => /^rtsps?:\/\/[^\s]+$/i.test(u), 'expected an rtsp:// or rtsps:// URL'),
      identity: z.string().min(1).max(256),
      name: z.string().max(256).optional(),
    }),
  )
  .default([]);

/** How cameras that fail are tried again. */
export const IngressRetryConfigSchema = z
  .strictObject({
    /** First delay, ms. Default 500; it doubles each time. */
    initialDelayMs: z.number().int().min(10).max(60_000).default(500),
    /** Longest delay, ms. Default 10,000. */
    maxDelayMs: z.number().int().min(10).max(600_000).default(10_000),
    /** Failures in a row without media before the ingress ends `failed`. Default 5. */
    maxAttempts: z.number().int().min(1).max(1000).default(5),
  })
  .prefault({});
