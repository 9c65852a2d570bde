/**
 * Per-connection timers from the channel arguments: keepalive pings (dropping a peer that stops answering),
 * max_connection_idle (GOAWAY after a time without calls) and max_connection_age (GOAWAY at an age, then a grace
 * period for the calls in flight before the connection is cut). None is armed unless its argument is set, so a
 * connection costs nothing for them by default.
 */
import type { ServerHttp2Session, ServerHttp2Stream } from 'node:http2';
import type { TransportSettings } from '../../../config/grpc-channel-arguments.js';

type Timer = ReturnType<typeof setTimeout> | undefined;

function unrefTimer(callback: () => void, ms: number): Timer {
  const timer = setTimeout(callback, ms);
  timer.unref();
  return timer;
}

/** Arms what `settings` asks for on `session`; returns the per-call hook when a timer counts calls, else null. */
export function watchSession(
  session: ServerHttp2Session,
  settings: TransportSettings,
): ((stream: ServerHttp2Stream) => void) | null {
  const { maxConnectionIdleMs, maxConnectionAgeMs, keepaliveTimeMs } = settings;
  const live = () => !session.closed && !session.destroyed;
  let active = 0;
  let idle: Timer;
  let age: Timer;
  let grace: Timer;
  let nextPing: Timer;
  let pingTimeout: Timer;
  session.once('close', () => [idle, age, grace, nextPing, pingTimeout].forEach((t) => clearTimeout(t)));

  const armIdle = () => {
    if (maxConnectionIdleMs === undefined) return;
    clearTimeout(idle);
    idle = unrefTimer(() => live() && session.close(), maxConnectionIdleMs);
  };
  armIdle();

  if (maxConnectionAgeMs !== undefined) {
    age = unrefTimer(() => {
      if (!live()) return;
      session.close();
      const graceMs = settings.maxConnectionAgeGraceMs;
      if (graceMs !== undefined) grace = unrefTimer(() => session.destroy(), graceMs);
    }, maxConnectionAgeMs);
  }

  if (keepaliveTimeMs !== undefined) {
    const ping = () => {
      if (!live()) return;
      if (active === 0 && !settings.keepalivePermitWithoutCalls) {
        nextPing = unrefTimer(ping, keepaliveTimeMs);
        return;
      }
      pingTimeout = unrefTimer(() => session.destroy(), settings.keepaliveTimeoutMs);
      try {
        session.ping((err) => {
          clearTimeout(pingTimeout);
          if (err) session.destroy();
          else nextPing = unrefTimer(ping, keepaliveTimeMs);
        });
      } catch {
        session.destroy();
      }
    };
    nextPing = unrefTimer(ping, keepaliveTimeMs);
  }

  if (maxConnectionIdleMs === undefined && keepaliveTimeMs === undefined) return null;
  return (stream) => {
    active++;
    clearTimeout(idle);
    stream.once('close', () => {
      if (--active === 0) armIdle();
    });
  };
}
