'use strict';
// The engine's guard over one worker (src/guard): on the engine's thread, so it goes on while
// this thread is busy, it pings the worker every tick over its channel (the preload answers
// from the worker's event loop) and samples the RSS of the worker and its descendants. A
// worker that misses a ping gets no more round-robin connections from that moment (until it
// answers); one silent for the hang timeout is reported hung. JS decides what follows.
const { binding, owners, EV } = require('../native');
const { ipcChannelOf } = require('../subprocess');

// Starts guarding `child` (a worker's ChildProcess). `on(report, value, event)` hears
// 'missed', 'answered' (value: round trip, ms), 'hung' (value: ms silent; event.handed:
// connections handed to it after its first missed ping) and 'rss' (value: bytes). Returns
// { stop() }, or null when its channel is already closed.
function guard(child, { tick, hangTimeout, sampleMemory }, on) {
  const channel = ipcChannelOf(child);
  if (!channel || typeof child.pid !== 'number') return null;
  const id = binding.guardStart(channel.id, child.pid, tick, hangTimeout, sampleMemory);
  if (id === null) return null;
  let stopped = false;
  owners.set(id, {
    onEngineEvent(ev) {
      if (ev.kind === EV.GUARD) {
        if (!stopped) on(ev.report, ev.value, ev);
      } else if (ev.kind === EV.CLOSED || ev.kind === EV.FAILED) {
        owners.delete(id);
      }
    },
  });
  return {
    stop() {
      if (stopped) return;
      stopped = true;
      binding.guardStop(id);
    },
  };
}

module.exports = { guard };
