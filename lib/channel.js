'use strict';
// The parent's side of an IPC channel (what Node exposes as `child.channel`): writes the first
// frame of a tick at once (Node writes in send()) and batches the rest of the tick into one
// engine call, tracks `send()` callbacks, and decodes what the engine delivers. The socket
// itself, framing and flushing live in the engine.
const { EventEmitter } = require('node:events');
const os = require('node:os');
const native = require('./native');
const { codes, errnoException } = require('./errors');
const { encodeFrame, decodeFrames } = require('./serialization');

// Node's rule for what is an internal message rather than a user's.
function isInternal(message) {
  return message !== null && typeof message === 'object' && typeof message.cmd === 'string' &&
    message.cmd.length > 5 && message.cmd.startsWith('NODE_');
}

// Node's send() returns false once this much is waiting ("> 2 read() calls behind").
const BACKPRESSURE_BYTES = 65536 * 2;
// A tick's frames are handed over early once they are this large, to bound the joined data.
const EARLY_FLUSH_SIZE = 1 << 20;
// Node up to 22 emits 'unref' on the channel when its counted references return to 0
// (measured: 20.20, 22.23 do; 24.22 does not).
const EMITS_UNREF = Number(process.versions.node.split('.')[0]) < 24;
// Write failures that mean the child has gone.
const PEER_GONE = new Set([-os.constants.errno.EPIPE, -os.constants.errno.ECONNRESET]);

// Channels with frames batched for the next tick. A process that exits before that tick
// still writes them, as Node has by then.
const batching = new Set();
process.on('exit', () => {
  for (const channel of batching) channel.flush();
});

class IpcChannel extends EventEmitter {
  #id;
  #advanced;
  #onDeliver;
  #refd = true;
  // Node's refCounted()/unrefCounted() counter, and whether ref()/unref() overrode it.
  #refs = 0;
  #refExplicitlySet = false;
  #open = true;
  #frames = [];
  #frameSize = 0;
  #callbacks = []; // callbacks (or null) of the frames in #frames, in order
  #flushQueued = false;
  // The tick's first frame, written at once, was taken: the child was there when the batch's
  // frames were sent, so Node would have written them too.
  #batchTaken = false;
  // The engine reported that queued frames could not be written: the child has gone, and
  // Node would queue what follows behind the failed write.
  #writeFailed = false;
  // The engine has had frames it could not write at once, not seen written since: Node
  // would queue a send behind them (and report nothing if the child has gone).
  #backlog = false;
  #ackSeq = 0;
  #awaiting = []; // [ackId, callbacks, held] handed to the engine, not yet written
  #engineQueued = 0;
  // A handle has been sent: send()'s return value then depends on the engine's handle state.
  #sentHandles = false;

  constructor(id, advanced, onDeliver) {
    super();
    this.#id = id;
    this.#advanced = advanced;
    this.#onDeliver = onDeliver;
    native.ref();
  }

  // The engine's id of this channel.
  get id() {
    return this.#id;
  }

  ref() {
    this.#refExplicitlySet = true;
    this.#setRef(true);
  }

  unref() {
    this.#refExplicitlySet = true;
    this.#setRef(false);
  }

  // Node's counted references (execa holds one while it waits for a message): the channel is
  // ref'd when the count goes 0 -> 1 and unref'd (with an 'unref' event before Node 24) when
  // it returns to 0, unless ref() or unref() has been called.
  refCounted() {
    if (++this.#refs === 1 && !this.#refExplicitlySet) this.#setRef(true);
  }

  unrefCounted() {
    if (--this.#refs === 0 && !this.#refExplicitlySet) {
      this.#setRef(false);
      if (EMITS_UNREF) this.emit('unref');
    }
  }

  #setRef(on) {
    if (!this.#open || this.#refd === on) return;
    this.#refd = on;
    if (on) native.ref();
    else native.unref();
  }

  #encode(message) {
    return this.#advanced ? encodeFrame(message) : `${JSON.stringify(message)}\n`;
  }

  // Serialises and queues a message; returns Node's send() return value.
  send(message, callback) {
    return this.#write(this.#encode(message), callback);
  }

  #write(frame, callback) {
    if (!this.#flushQueued) {
      this.#flushQueued = true;
      process.nextTick(flushTick, this);
      batching.add(this);
      this.#batchTaken = this.#writeFrames(frame, [typeof callback === 'function' ? callback : null]);
      return this.#sendResult();
    }
    this.#frames.push(frame);
    this.#callbacks.push(typeof callback === 'function' ? callback : null);
    this.#frameSize += frame.length;
    if (this.#frameSize >= EARLY_FLUSH_SIZE) this.#flushBatch();
    return this.#sendResult();
  }

  // Node: while a handle awaits its ACK, true for the first send queued behind it only. Every
  // frame this channel batches was sent after the last handle (sendHandle flushes first), so
  // all of them are held if a handle is in flight.
  #sendResult(unflushed = this.#frames.length) {
    if (this.#sentHandles) {
      const held = native.binding.channelHeld(this.#id);
      if (held >= 0) return held + unflushed === 1;
    }
    // What the engine had queued may have left since: ask it (only while it had some).
    if (this.#engineQueued > 0) this.#engineQueued = native.binding.channelPending(this.#id);
    return this.#frameSize + this.#engineQueued < BACKPRESSURE_BYTES;
  }

  // Sends a NODE_HANDLE envelope with the descriptor `fd` (which the engine duplicates now, so
  // the caller may close its own afterwards). Throws ERR_INVALID_HANDLE_TYPE, sending nothing,
  // if the descriptor is not something a Node peer can take as `type`.
  sendHandle(envelope, fd, type, retransmit, callback) {
    this.flush();
    const cb = typeof callback === 'function' ? callback : null;
    const ack = cb ? ++this.#ackSeq : 0;
    const result = this.#sendResult(1);
    const held = this.#handleInFlight();
    let r;
    try {
      r = native.binding.channelWriteHandle(this.#id, this.#encode(envelope), fd, type, retransmit, ack);
    } catch (engineErr) {
      const err = native.nodeError(engineErr);
      // A descriptor that cannot be sent is the caller's error; a failed write is settled.
      if (typeof err.errno !== 'number') throw err;
      r = err.errno;
    }
    this.#sentHandles = true;
    native.debug('channel %d: %s handle sent (%s)', this.#id, type, r === 0 ? 'written' : r > 0 ? 'queued' : 'failed');
    this.#settle(r, [cb], ack, held, false);
    return result;
  }

  // Hands over what this tick batched; the next send() is written at once again.
  flush() {
    this.#flushQueued = false;
    batching.delete(this);
    this.#flushBatch();
  }

  #flushBatch() {
    if (this.#frames.length === 0) return;
    const frames = this.#frames;
    const callbacks = this.#callbacks;
    this.#frames = [];
    this.#callbacks = [];
    this.#frameSize = 0;
    const data = frames.length === 1 ? frames[0] : this.#advanced ? Buffer.concat(frames) : frames.join('');
    this.#writeFrames(data, callbacks, this.#batchTaken);
  }

  // Writes frames to the engine; returns whether it took them.
  #writeFrames(data, callbacks, taken = false) {
    const wantsAck = callbacks.some((cb) => cb !== null);
    const ack = wantsAck ? ++this.#ackSeq : 0;
    const held = this.#handleInFlight();
    // One callback slot per frame: the engine counts the frames.
    let r;
    try {
      r = this.#advanced
        ? native.binding.channelWriteBytes(this.#id, data, callbacks.length, ack)
        : native.binding.channelWrite(this.#id, data, callbacks.length, ack);
    } catch (engineErr) {
      const err = native.nodeError(engineErr);
      if (typeof err.errno !== 'number') throw err;
      // Node's (negative) errno, as #settle reads it.
      r = err.errno;
    }
    this.#settle(r, callbacks, ack, held, taken);
    return r >= 0;
  }

  // Callbacks and errors come after send() has returned, as Node's do. A child that has gone
  // fails a write the way Node's user sees it: an error only for what Node would have tried
  // to write after the child went (not for frames sent while it was there, nor for frames
  // Node would queue behind writes still waiting or failed).
  #settle(r, callbacks, ack, held, taken) {
    const wantsAck = callbacks.some((cb) => cb !== null);
    if (r < 0) {
      if (PEER_GONE.has(r) && (taken || this.#writeFailed || this.#backlog)) {
        if (wantsAck) process.nextTick(complete, callbacks, null);
      } else {
        process.nextTick(() => this.#fail(callbacks, -r));
      }
    } else if (r === 0) {
      this.#backlog = false;
      if (wantsAck) process.nextTick(complete, callbacks, null);
    } else {
      this.#backlog = true;
      this.#engineQueued = r;
      if (wantsAck) this.#awaiting.push([ack, callbacks, held]);
    }
  }

  // Whether the engine holds what is written now behind a handle awaiting its ACK.
  #handleInFlight() {
    return this.#sentHandles && native.binding.channelHeld(this.#id) >= 0;
  }

  // Disconnect: hand over what is queued, then let the engine close once it is written.
  close() {
    native.debug('channel %d: closing once flushed', this.#id);
    this.flush();
    native.binding.channelClose(this.#id);
  }

  // As Node: each send() that failed calls its callback or emits 'error', in order.
  #fail(callbacks, errno) {
    for (const cb of callbacks) {
      const err = errnoException(-errno, 'write');
      if (cb === null) this.#onDeliver('error', err);
      else native.guarded(cb, undefined, err);
    }
  }

  // Engine events for this channel.
  onWritten(ack) {
    while (this.#awaiting.length > 0 && this.#awaiting[0][0] <= ack) complete(this.#awaiting.shift()[1], null);
    if (this.#awaiting.length === 0) {
      this.#engineQueued = 0;
      this.#backlog = false;
    }
  }

  // Node reports nothing for a write that had to wait and then failed (the callback gets
  // null). Sends held behind a handle awaiting its ACK fail with the error instead (Node
  // never calls those callbacks).
  // `errno` is Node's (negative).
  onWriteFailed(errno) {
    this.#writeFailed = true;
    const err = native.nodeError({ errno, syscall: 'write' });
    for (const [, callbacks, held] of this.#awaiting.splice(0)) complete(callbacks, held ? err : null);
    this.#engineQueued = 0;
  }

  onHandleLost() {
    native.debug('channel %d: handle lost after retransmissions', this.#id);
    process.emitWarning('Handle did not reach the receiving process correctly', 'SentHandleNotReceivedWarning');
  }

  // A handle frame the engine accepted (and ACKed): its envelope, for the owner to build the
  // handle from `fd`. The owner closes `fd` if it cannot.
  onHandle(ev) {
    let envelope;
    if (this.#advanced) decodeFrames(ev.data, (message) => { envelope = message; }, () => {});
    else {
      try {
        envelope = JSON.parse(ev.text);
      } catch {
        // Not JSON: reported below.
      }
    }
    if (envelope === undefined) {
      ev.fd.close();
      this.#onDeliver('error', codes.ERR_IPC_INVALID_MESSAGE(this.#advanced ? 'v8' : 'json'));
      return;
    }
    this.#onDeliver('handle', envelope, ev);
  }

  onClosed() {
    native.debug('channel %d: closed', this.#id);
    this.#setRef(false);
    this.#open = false;
    batching.delete(this);
  }

  onMessages(text) {
    let messages;
    try {
      messages = JSON.parse(text);
    } catch {
      deliverEach(text, this.#onDeliver);
      return;
    }
    for (let i = 0; i < messages.length; i++) this.#onDeliver('message', messages[i]);
  }

  onInternal(text) {
    let message;
    try {
      message = JSON.parse(text);
    } catch {
      this.#onDeliver('error', codes.ERR_IPC_INVALID_MESSAGE('json'));
      return;
    }
    this.#onDeliver('internalMessage', message);
  }

  // Advanced mode: the engine recognises handle frames and replies by the envelope's first
  // bytes; the rest is told apart here, after deserialising.
  onFrames(batch) {
    decodeFrames(batch, (message) => {
      this.#onDeliver(isInternal(message) ? 'internalMessage' : 'message', message);
    }, () => this.#onDeliver('error', codes.ERR_IPC_INVALID_MESSAGE('v8')));
  }
}

function flushTick(channel) {
  channel.flush();
}

function complete(callbacks, err) {
  for (const cb of callbacks) if (cb !== null) native.guarded(cb, undefined, err);
}

// The batch failed to parse as one array: deliver frame by frame, in order, reporting the bad
// ones. Frames are separated by ",\n" and contain no newline themselves.
function deliverEach(text, deliver) {
  for (const frame of text.slice(1, -1).split(',\n')) {
    let message;
    try {
      message = JSON.parse(frame);
    } catch {
      deliver('error', codes.ERR_IPC_INVALID_MESSAGE('json'));
      continue;
    }
    deliver('message', message);
  }
}

module.exports = { IpcChannel, isInternal };
