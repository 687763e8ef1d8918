'use strict';
// Node's 'advanced' serialization: each frame is a big-endian uint32 payload length and V8's
// serialization of the message, with every ArrayBufferView written as a host object (tag 0,
// then Node's own typed-array encoding) and any other host object as a plain copy (tag 1).
// The engine splits frames by their length; values are (de)serialised here, on the JS thread.
const v8 = require('node:v8');
const { codes } = require('./errors');

const VIEW_TAG = 0;
const OTHER_TAG = 1;
const HEADER = 4;
// Node 20 reads the length as a signed 32-bit number, so a child cannot take 2 GiB or more
// (it dies with "Unable to deserialize cloned data"); such a send throws instead. Frames
// that large from a child are read correctly.
const MAX_PAYLOAD = 0x7fffffff;

class MessageSerializer extends v8.DefaultSerializer {
  _writeHostObject(object) {
    if (ArrayBuffer.isView(object)) {
      this.writeUint32(VIEW_TAG);
      super._writeHostObject(object);
    } else {
      this.writeUint32(OTHER_TAG);
      this.writeValue({ ...object });
    }
  }
}

class MessageDeserializer extends v8.DefaultDeserializer {
  _readHostObject() {
    const tag = this.readUint32();
    if (tag === VIEW_TAG) return super._readHostObject();
    if (tag === OTHER_TAG) return this.readValue();
    throw new Error(`unknown host object tag ${tag}`);
  }
}

// One frame, header included. Throws what V8 throws for a value it cannot clone.
function encodeFrame(message) {
  const ser = new MessageSerializer();
  ser.writeRawBytes(Buffer.alloc(HEADER)); // the length, patched in below
  ser.writeHeader();
  ser.writeValue(message);
  const frame = ser.releaseBuffer();
  const payload = frame.length - HEADER;
  if (payload > MAX_PAYLOAD) throw codes.ERR_OUT_OF_RANGE('message size', `<= ${MAX_PAYLOAD} bytes`, payload);
  frame.writeUInt32BE(payload, 0);
  return frame;
}

// Calls onValue(value) for each frame of a batch, or onError() for one that does not
// deserialise; the frames after it are unaffected.
function decodeFrames(batch, onValue, onError) {
  for (let at = 0; at < batch.length;) {
    const end = at + HEADER + batch.readUInt32BE(at);
    let value;
    try {
      const des = new MessageDeserializer(batch.subarray(at + HEADER, end));
      des.readHeader();
      value = des.readValue();
    } catch {
      at = end;
      onError();
      continue;
    }
    at = end;
    onValue(value);
  }
}

module.exports = { encodeFrame, decodeFrames };
