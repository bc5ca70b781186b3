/**
 * NAT behaviour discovery (RFC 5780 §4.3–§4.5): the procedure as a pure function of the
 * Binding transactions it needs, and what the outcome means for WebRTC.
 *
 * The driver (`run.ts`) performs the transactions over real sockets; this file decides which
 * ones to ask for and what the answers mean, so it is tested without a network.
 */

/** An address as text plus port. */
export interface Endpoint {
  address: string;
  port: number;
}

/** RFC 5780 §4.3 / §4.4 behaviours. */
export type Behaviour = 'endpoint-independent' | 'address-dependent' | 'address-and-port-dependent';

export interface NatReport {
  /** UDP reached the STUN server at all. */
  udp: boolean;
  /** TCP reached the STUN/TURN server (tested when UDP did not). */
  tcp?: boolean;
  /**
   * TURN over TLS on the TLS port (443 by default; tested when UDP and TCP did not): `stun` = a
   * STUN Binding over TLS was answered there; `tls-only` = a TLS server is there but does not
   * answer STUN (HTTPS alone); false = nothing got through.
   */
  tls?: 'stun' | 'tls-only' | false;
  /** The port {@link tls} was tested on. */
  tlsPort?: number;
  /** The client's own address equals its mapped address: no NAT on the path. */
  publicAddress?: boolean;
  localAddress?: Endpoint;
  mappedAddress?: Endpoint;
  /** Null when the server has no second address (no OTHER-ADDRESS): not measurable. */
  mapping?: Behaviour | null;
  filtering?: Behaviour | null;
  hairpinning?: boolean;
  /** What this means for a call, in one sentence. */
  verdict: string;
  /** Short machine form of the verdict. */
  outlook: 'direct-likely' | 'direct-possible' | 'turn-needed' | 'turn-tcp-needed' | 'turn-tls-needed' | 'unreachable';
}

/** The Binding transaction results the procedure collects. Undefined = not run; null = timed out. */
export interface Observations {
  local: Endpoint;
  /** Test I: Binding to the primary address. */
  test1: { mapped: Endpoint; other: Endpoint | null } | null;
  /** Mapping test II: Binding to (other IP, primary port). */
  mapping2?: { mapped: Endpoint } | null;
  /** Mapping test III: Binding to (other IP, other port). */
  mapping3?: { mapped: Endpoint } | null;
  /** Filtering test II: CHANGE-REQUEST change IP and port; true = answered. */
  filtering2?: boolean;
  /** Filtering test III: CHANGE-REQUEST change port; true = answered. */
  filtering3?: boolean;
  /** Hairpinning: a request sent to our own mapped address came back. */
  hairpin?: boolean;
  /** UDP failed: could a TCP connection reach the server? */
  tcp?: boolean;
  /** UDP and TCP failed: what answered over TLS on the TLS port (see {@link NatReport.tls}). */
  tls?: 'stun' | 'tls-only' | false;
  /** The TLS port tested. */
  tlsPort?: number;
}

const same = (a: Endpoint, b: Endpoint): boolean => a.address === b.address && a.port === b.port;

/** Which transaction to run next, given what is known; null when done. */
export type NextStep = 'test1' | 'mapping2' | 'mapping3' | 'filtering2' | 'filtering3' | 'hairpin' | 'tcp' | 'tls' | null;

/**
 * RFC 5780's order: test I, mapping II–III, filtering II–III, hairpinning; TCP only when UDP
 * failed, and STUN over TLS on the TLS port (443) only when TCP failed too.
 */
export function nextStep(o: Partial<Observations>): NextStep {
  if (o.test1 === undefined) return 'test1';
  if (o.test1 === null) return o.tcp === undefined ? 'tcp' : o.tcp === false && o.tls === undefined ? 'tls' : null;
  const hasOther = o.test1.other !== null;
  const behindNat = !same(o.test1.mapped, o.local!);
  if (hasOther && behindNat && o.mapping2 === undefined) return 'mapping2';
  if (hasOther && behindNat && o.mapping2 && !same(o.mapping2.mapped, o.test1.mapped) && o.mapping3 === undefined) return 'mapping3';
  if (hasOther && o.filtering2 === undefined) return 'filtering2';
  if (hasOther && o.filtering2 === false && o.filtering3 === undefined) return 'filtering3';
  if (behindNat && o.hairpin === undefined) return 'hairpin';
  return null;
}

/** Classifies the observations (RFC 5780 §4.3, §4.4) and explains them for WebRTC. */
export function classify(o: Observations): NatReport {
  if (o.test1 === null) {
    if (o.tcp) {
      return { udp: false, tcp: true, localAddress: o.local, verdict: 'UDP blocked: TURN over TCP/TLS required.', outlook: 'turn-tcp-needed' };
    }
    const tls = { tls: o.tls ?? false, ...(o.tlsPort !== undefined ? { tlsPort: o.tlsPort } : {}) };
    if (o.tls === 'stun') {
      return { udp: false, tcp: false, ...tls, localAddress: o.local, verdict: `Only TCP to port ${o.tlsPort} gets out (a firewall that allows HTTPS alone): calls need TURN over TLS on port ${o.tlsPort}, which this server offers.`, outlook: 'turn-tls-needed' };
    }
    if (o.tls === 'tls-only') {
      return { udp: false, tcp: false, ...tls, localAddress: o.local, verdict: `Only TCP to port ${o.tlsPort} gets out, and the server answers HTTPS there but not TURN: set turn.tlsPort to ${o.tlsPort} (it shares the HTTPS port) so calls can be set up from here.`, outlook: 'unreachable' };
    }
    return { udp: false, tcp: false, ...tls, localAddress: o.local, verdict: 'The STUN/TURN server is unreachable over UDP, TCP and TLS: no call can be set up from here.', outlook: 'unreachable' };
  }
  const mapped = o.test1.mapped;
  const publicAddress = same(mapped, o.local);
  let mapping: Behaviour | null = null;
  if (publicAddress) mapping = 'endpoint-independent';
  else if (o.mapping2) mapping = same(o.mapping2.mapped, mapped) ? 'endpoint-independent' : o.mapping3 ? (same(o.mapping3.mapped, o.mapping2.mapped) ? 'address-dependent' : 'address-and-port-dependent') : null;
  let filtering: Behaviour | null = null;
  if (o.filtering2 === true) filtering = 'endpoint-independent';
  else if (o.filtering2 === false && o.filtering3 !== undefined) filtering = o.filtering3 ? 'address-dependent' : 'address-and-port-dependent';
  const report: NatReport = { udp: true, publicAddress, localAddress: o.local, mappedAddress: mapped, mapping, filtering, verdict: '', outlook: 'direct-possible' };
  if (o.hairpin !== undefined) report.hairpinning = o.hairpin;
  if (publicAddress) {
    report.verdict = filtering === 'address-and-port-dependent' || filtering === 'address-dependent'
      ? 'No NAT, but a stateful firewall: direct calls likely (ICE punches through it).'
      : 'No NAT: direct calls likely.';
    report.outlook = 'direct-likely';
  } else if (mapping === 'endpoint-independent') {
    report.verdict = filtering === 'endpoint-independent'
      ? 'Full-cone NAT: direct calls likely.'
      : 'Cone NAT (endpoint-independent mapping): direct calls likely with STUN, except with peers behind symmetric NATs, which need TURN.';
    report.outlook = 'direct-likely';
  } else if (mapping === 'address-dependent' || mapping === 'address-and-port-dependent') {
    report.verdict = 'Symmetric NAT (the mapping changes per destination): will need TURN for most peers outside your network.';
    report.outlook = 'turn-needed';
  } else {
    report.verdict = 'Behind a NAT; the server has no second address (RFC 5780), so its type could not be measured: keep TURN available.';
    report.outlook = 'direct-possible';
  }
  return report;
}

/** Human-readable report, one fact a line. */
export function formatReport(r: NatReport, server: string): string {
  const ep = (e?: Endpoint) => (e ? `${e.address.includes(':') ? `[${e.address}]` : e.address}:${e.port}` : '?');
  const lines = [`NAT check against ${server}`];
  lines.push(`  UDP:          ${r.udp ? 'works' : 'blocked or unreachable'}`);
  if (!r.udp) lines.push(`  TCP:          ${r.tcp ? 'works' : 'blocked or unreachable'}`);
  if (r.tls !== undefined) lines.push(`  TLS ${String(r.tlsPort).padEnd(9)} ${r.tls === 'stun' ? 'TURN over TLS answers' : r.tls === 'tls-only' ? 'open, but no STUN answer (HTTPS only)' : 'blocked or unreachable'}`);
  if (r.udp) {
    lines.push(`  local:        ${ep(r.localAddress)}`);
    lines.push(`  mapped:       ${ep(r.mappedAddress)}${r.publicAddress ? ' (same: no NAT)' : ''}`);
    lines.push(`  mapping:      ${r.mapping ?? 'unknown (server has no OTHER-ADDRESS)'}`);
    lines.push(`  filtering:    ${r.filtering ?? 'unknown (server has no OTHER-ADDRESS)'}`);
    if (r.hairpinning !== undefined) lines.push(`  hairpinning:  ${r.hairpinning ? 'yes' : 'no'}`);
  }
  lines.push(`  => ${r.verdict}`);
  return lines.join('\n') + '\n';
}
