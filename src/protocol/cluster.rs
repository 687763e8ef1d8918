//! The `NODE_CLUSTER` messages the engine speaks itself (pure): the primary's `newconn` (a
//! connection handed to a worker) and the worker's reply.

use crate::protocol::v8::{V8Reader, V8Writer};

/// The largest integer a JS number holds exactly: sequence numbers stay below it.
const MAX_SAFE_INTEGER: u64 = (1 << 53) - 1;

/// An advanced-mode frame's length header.
const HEADER: usize = 4;

/// The frame that hands a connection to a worker, as Node's primary writes it: a `net.Native`
/// handle envelope around `{cmd: 'NODE_CLUSTER', act: 'newconn', key, seq}`.
pub fn newconn(key: &str, seq: u64, advanced: bool) -> Vec<u8> {
    if !advanced {
        let key = serde_json::to_string(key).unwrap_or_default();
        return format!(
            "{{\"cmd\":\"NODE_HANDLE\",\"type\":\"net.Native\",\"msg\":{{\"cmd\":\"NODE_CLUSTER\",\"act\":\"newconn\",\"key\":{key},\"seq\":{seq}}}}}\n"
        )
        .into_bytes();
    }
    let mut w = V8Writer::default();
    w.begin_object().key("cmd").string("NODE_HANDLE").key("type").string("net.Native").key("msg");
    w.begin_object().key("cmd").string("NODE_CLUSTER").key("act").string("newconn").key("key").string(key);
    w.key("seq").integer(seq).end_object().end_object();
    let payload = w.finish();
    let mut out = Vec::with_capacity(HEADER + payload.len());
    out.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    out.extend_from_slice(&payload);
    out
}

/// A worker's answer to a `newconn`: `{cmd: 'NODE_CLUSTER', ack, accepted, seq}`.
#[derive(Debug, PartialEq, Eq)]
pub struct Reply {
    pub ack: u64,
    pub accepted: bool,
}

pub fn reply_json(line: &[u8]) -> Option<Reply> {
    let serde_json::Value::Object(map) = serde_json::from_slice(line).ok()? else { return None };
    if map.get("cmd")?.as_str()? != "NODE_CLUSTER" {
        return None;
    }
    let ack = map.get("ack")?.as_u64().filter(|&a| a <= MAX_SAFE_INTEGER)?;
    Some(Reply { ack, accepted: map.get("accepted")?.as_bool()? })
}

/// Node's worker writes the keys in this order (`{cmd, ack, accepted, seq}`).
pub fn reply_v8(payload: &[u8]) -> Option<Reply> {
    let mut r = V8Reader::new(payload);
    if !r.object_with_cmd() || r.string()? != b"NODE_CLUSTER" || r.string()? != b"ack" {
        return None;
    }
    let ack = r.number()?;
    if r.string()? != b"accepted" || !(0.0..=MAX_SAFE_INTEGER as f64).contains(&ack) || ack.fract() != 0.0 {
        return None;
    }
    Some(Reply { ack: ack as u64, accepted: r.boolean()? })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::v8::tests::hex;

    #[test]
    fn frames_match_node() {
        assert_eq!(
            newconn("null:0:4:undefined:0", 1, false),
            b"{\"cmd\":\"NODE_HANDLE\",\"type\":\"net.Native\",\"msg\":{\"cmd\":\"NODE_CLUSTER\",\"act\":\"newconn\",\"key\":\"null:0:4:undefined:0\",\"seq\":1}}\n"
        );
        // v8.serialize of the same envelope in Node 20, behind its length.
        let v8 = hex("ff0f6f2203636d64220b4e4f44455f48414e444c45220474797065220a6e65742e4e617469766522036d73676f2203636d64220c4e4f44455f434c5553544552220361637422076e6577636f6e6e22036b657922146e756c6c3a303a343a756e646566696e65643a30220373657149027b047b03");
        let framed = newconn("null:0:4:undefined:0", 1, true);
        assert_eq!(&framed[HEADER..], &v8[..]);
        assert_eq!(u32::from_be_bytes(framed[..4].try_into().unwrap()) as usize, v8.len());
    }

    #[test]
    fn replies() {
        assert_eq!(
            reply_json(br#"{"cmd":"NODE_CLUSTER","ack":1,"accepted":true,"seq":3}"#),
            Some(Reply { ack: 1, accepted: true })
        );
        assert_eq!(reply_json(br#"{"cmd":"NODE_CLUSTER","act":"listening","seq":3}"#), None);
        assert_eq!(reply_json(br#"{"cmd":"NODE_CLUSTER","ack":1,"seq":3}"#), None);
        // ({cmd:'NODE_CLUSTER', ack:300, accepted:true, seq:3}) in Node 20.
        let v8 =
            hex("ff0f6f2203636d64220c4e4f44455f434c5553544552220361636b49d8042208616363657074656454220373657149067b04");
        assert_eq!(reply_v8(&v8), Some(Reply { ack: 300, accepted: true }));
        assert_eq!(reply_v8(&v8[..20]), None);
    }

    #[test]
    fn sequence_numbers_past_32_bits() {
        let big = (1u64 << 32) + 5;
        assert!(String::from_utf8(newconn("k", big, false)).unwrap().contains(r#""seq":4294967301}"#));
        // A number past V8's small integers is a double: 'N' and its 8 bytes, as v8.serialize.
        let double: Vec<u8> = std::iter::once(b'N').chain((big as f64).to_le_bytes()).collect();
        assert!(newconn("k", big, true).windows(9).any(|w| w == double));
        let reply = br#"{"cmd":"NODE_CLUSTER","ack":4294967301,"accepted":false,"seq":9}"#;
        assert_eq!(reply_json(reply), Some(Reply { ack: big, accepted: false }));
    }
}
