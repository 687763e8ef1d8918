'use strict';
// The parent's side of an IPC channel (what Node exposes as `child.channel`): batches outgoing
// frames into one engine call per tick, tracks `send()` callbacks, and decodes what the engine
// delivers. The socket itself, framing and flushing live in the engine.
const { EventEmitter } = require('node:events');
const native = require('./native');
const { codes } = require('./errors');
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

class IpcChannel extends EventEmitter {
  #id;
  #advanced;
  #onDeliver;
  #refd = true;
  #open = true;
  #frames = [];
  #frameSize = 0;
  #callbacks = []; // callbacks (or null) of the frames in #frames, in order
  #flushQueued = false;
  #ackSeq = 0;
  #awaiting = []; // [ackId, callbacks] handed to the engine, not yet written
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
    this.#setRef(true);
  }

  unref() {
    this.#setRef(false);
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
    this.#frames.push(frame);
    this.#callbacks.push(typeof callback === 'function' ? callback : null);
    this.#frameSize += frame.length;
    if (this.#frameSize >= EARLY_FLUSH_SIZE) this.flush();
    else if (!this.#flushQueued) {
      this.#flushQueued = true;
      process.nextTick(flushTick, this);
    }
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
    let r;
    try {
      r = native.binding.channelWriteHandle(this.#id, this.#encode(envelope), fd, type, retransmit, ack);
    } catch (engineErr) {
      const err = native.nodeError(engineErr);
      // A descriptor that cannot be sent is the caller's error; a failed write is reported.
      if (err.errno === undefined) throw err;
      this.#sentHandles = true;
      process.nextTick(() => this.#fail([cb], err));
      return result;
    }
    this.#sentHandles = true;
    native.debug('channel %d: %s handle sent (%s)', this.#id, type, r === 0 ? 'written' : 'queued');
    if (r === 0) {
      if (cb) process.nextTick(complete, [cb], null);
    } else {
      this.#engineQueued = r;
      if (cb) this.#awaiting.push([ack, [cb]]);
    }
    return result;
  }

  flush() {
    this.#flushQueued = false;
    if (this.#frames.length === 0) return;
    const frames = this.#frames;
    const callbacks = this.#callbacks;
    const wantsAck = callbacks.some((cb) => cb !== null);
    this.#frames = [];
    this.#callbacks = [];
    this.#frameSize = 0;
    const ack = wantsAck ? ++this.#ackSeq : 0;
    let r;
    try {
      r = this.#advanced
        ? native.binding.channelWriteBytes(this.#id, frames.length === 1 ? frames[0] : Buffer.concat(frames), frames.length, ack)
        : native.binding.channelWrite(this.#id, frames.length === 1 ? frames[0] : frames.join(''), frames.length, ack);
    } catch (err) {
      r = native.nodeError(err);
    }
    // Callbacks and errors come after send() has returned, as Node's do, even when this
    // flush runs inside a send().
    if (typeof r !== 'number') {
      const err = r;
      process.nextTick(() => this.#fail(callbacks, err));
    } else if (r === 0) {
      if (wantsAck) process.nextTick(complete, callbacks, null);
    } else {
      this.#engineQueued = r;
      if (wantsAck) this.#awaiting.push([ack, callbacks]);
    }
  }

  // Disconnect: hand over what is queued, then let the engine close once it is written.
  close() {
    native.debug('channel %d: closing once flushed', this.#id);
    this.flush();
    native.binding.channelClose(this.#id);
  }

  #fail(callbacks, err) {
    if (callbacks.some((cb) => cb === null)) this.#onDeliver('error', err);
    complete(callbacks, err);
  }

  // Engine events for this channel.
  onWritten(ack) {
    while (this.#awaiting.length > 0 && this.#awaiting[0][0] <= ack) complete(this.#awaiting.shift()[1], null);
    if (this.#awaiting.length === 0) this.#engineQueued = 0;
  }

  // `errno` is Node's (negative).
  onWriteFailed(errno) {
    const err = native.nodeError({ errno, syscall: 'write' });
    for (const [, callbacks] of this.#awaiting.splice(0)) complete(callbacks, err);
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
      } catch {}
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
