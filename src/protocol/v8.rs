//! The corner of V8's serialization format Node's envelopes use (pure): objects whose keys
//! are one-byte strings, with string, small-integer, number and boolean values.

/// Reads a payload from the front.
pub struct V8Reader<'a> {
    data: &'a [u8],
}

impl<'a> V8Reader<'a> {
    pub fn new(data: &'a [u8]) -> Self {
        V8Reader { data }
    }

    /// The header (0xFF and the format version), an object, and its first key being `cmd`,
    /// as Node writes every internal message.
    pub fn object_with_cmd(&mut self) -> bool {
        self.byte() == Some(0xFF)
            && self.varint().is_some()
            && self.byte() == Some(b'o')
            && self.string() == Some(b"cmd")
    }

    fn byte(&mut self) -> Option<u8> {
        let (&b, rest) = self.data.split_first()?;
        self.data = rest;
        Some(b)
    }

    fn varint(&mut self) -> Option<u64> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.byte()?;
            v |= u64::from(b & 0x7F) << shift;
            if b & 0x80 == 0 {
                return Some(v);
            }
        }
        None
    }

    /// A one-byte string (`"`, length, Latin-1 bytes).
    pub fn string(&mut self) -> Option<&'a [u8]> {
        if self.byte()? != b'"' {
            return None;
        }
        let len = usize::try_from(self.varint()?).ok()?;
        if len > self.data.len() {
            return None;
        }
        let (s, rest) = self.data.split_at(len);
        self.data = rest;
        Some(s)
    }

    /// A number: a small integer (`I`, zigzag varint) or a double (`N`).
    pub fn number(&mut self) -> Option<f64> {
        match self.byte()? {
            b'I' => {
                let z = self.varint()?;
                Some(((z >> 1) as i64 ^ -((z & 1) as i64)) as f64)
            }
            b'N' => {
                let (bytes, rest) = self.data.split_first_chunk::<8>()?;
                self.data = rest;
                Some(f64::from_le_bytes(*bytes))
            }
            _ => None,
        }
    }

    pub fn boolean(&mut self) -> Option<bool> {
        match self.byte()? {
            b'T' => Some(true),
            b'F' => Some(false),
            _ => None,
        }
    }
}

/// Writes a payload as V8's `ValueSerializer` would.
pub struct V8Writer {
    out: Vec<u8>,
    /// Properties of each open object.
    counts: Vec<u32>,
}

/// The format version Node 20's V8 writes.
const VERSION: u8 = 15;

impl Default for V8Writer {
    fn default() -> Self {
        V8Writer { out: vec![0xFF, VERSION], counts: Vec::new() }
    }
}

impl V8Writer {
    pub fn begin_object(&mut self) -> &mut Self {
        self.out.push(b'o');
        self.counts.push(0);
        self
    }

    pub fn end_object(&mut self) -> &mut Self {
        let n = self.counts.pop().unwrap_or(0);
        self.out.push(b'{');
        self.varint(u64::from(n));
        self
    }

    /// A key (a string) of the innermost object; its value is written next.
    pub fn key(&mut self, key: &str) -> &mut Self {
        if let Some(n) = self.counts.last_mut() {
            *n += 1;
        }
        self.string(key)
    }

    pub fn string(&mut self, s: &str) -> &mut Self {
        if s.chars().all(|c| (c as u32) < 0x100) {
            self.out.push(b'"');
            self.varint(s.chars().count() as u64);
            self.out.extend(s.chars().map(|c| c as u8));
        } else {
            let units: Vec<u16> = s.encode_utf16().collect();
            let len = (units.len() * 2) as u64;
            // Two-byte strings start at an even offset; V8 pads with a zero tag.
            if (self.out.len() + 1 + varint_len(len)) % 2 == 1 {
                self.out.push(0);
            }
            self.out.push(b'c');
            self.varint(len);
            self.out.extend(units.iter().flat_map(|u| u.to_le_bytes()));
        }
        self
    }

    /// An integer number: a small integer where V8 has one (31 bits), else a double.
    /// A non-negative integer as V8 writes a JS number: a small integer (Smi) below 2^30,
    /// a double above (exact up to 2^53).
    pub fn integer(&mut self, v: u64) -> &mut Self {
        if v < 1 << 30 {
            self.out.push(b'I');
            self.varint(v << 1);
        } else {
            self.out.push(b'N');
            self.out.extend_from_slice(&(v as f64).to_le_bytes());
        }
        self
    }

    pub fn finish(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.out)
    }

    fn varint(&mut self, mut v: u64) {
        loop {
            let b = (v & 0x7F) as u8;
            v >>= 7;
            if v == 0 {
                self.out.push(b);
                return;
            }
            self.out.push(b | 0x80);
        }
    }
}

fn varint_len(v: u64) -> usize {
    (64 - v.max(1).leading_zeros() as usize).div_ceil(7)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Bytes from a hex dump (what `Buffer#toString('hex')` prints).
    pub(crate) fn hex(s: &str) -> Vec<u8> {
        (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
    }

    #[test]
    fn writes_what_node_writes() {
        // v8.serialize({k: 'é€'}) and ({a: 300}) in Node 20.
        let mut w = V8Writer::default();
        w.begin_object().key("k").string("é€").end_object();
        assert_eq!(w.finish(), hex("ff0f6f22016b6304e900ac207b01"));
        let mut w = V8Writer::default();
        w.begin_object().key("a").integer(300).end_object();
        assert_eq!(w.finish(), hex("ff0f6f22016149d8047b01"));
    }

    #[test]
    fn reads_numbers_and_booleans() {
        // ({cmd:'NODE_CLUSTER', ack:3000000000, accepted:false}) in Node 20, up to `accepted`.
        let payload =
            hex("ff0f6f2203636d64220c4e4f44455f434c5553544552220361636b4e000000c00b5ae6412208616363657074656446");
        let mut r = V8Reader::new(&payload);
        assert!(r.object_with_cmd());
        assert_eq!(r.string(), Some(&b"NODE_CLUSTER"[..]));
        assert_eq!(r.string(), Some(&b"ack"[..]));
        assert_eq!(r.number(), Some(3e9));
        assert_eq!(r.string(), Some(&b"accepted"[..]));
        assert_eq!(r.boolean(), Some(false));
        assert_eq!(r.boolean(), None);
    }
}
