//! The supervisor's liveness ping (pure): the primary's `{cmd: 'NODE_NC_PING', seq}` and the
//! answer its worker preload sends from the event loop, `{cmd: 'NODE_NC_PONG', seq, ...}`.
//! Both are internal messages (a `NODE_` cmd): node:cluster and the app never see them.

use crate::protocol::v8::{V8Reader, V8Writer};

/// The largest integer a JS number holds exactly: sequence numbers stay below it.
const MAX_SAFE_INTEGER: u64 = (1 << 53) - 1;

/// An advanced-mode frame's length header.
const HEADER: usize = 4;

/// The ping frame in the channel's framing.
pub fn ping(seq: u64, advanced: bool) -> Vec<u8> {
    if !advanced {
        return format!("{{\"cmd\":\"NODE_NC_PING\",\"seq\":{seq}}}\n").into_bytes();
    }
    let mut w = V8Writer::default();
    w.begin_object().key("cmd").string("NODE_NC_PING").key("seq").integer(seq).end_object();
    let payload = w.finish();
    let mut out = Vec::with_capacity(HEADER + payload.len());
    out.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    out.extend_from_slice(&payload);
    out
}

/// The `seq` a JSON pong answers.
pub fn pong_json(line: &[u8]) -> Option<u64> {
    let serde_json::Value::Object(map) = serde_json::from_slice(line).ok()? else { return None };
    if map.get("cmd")?.as_str()? != "NODE_NC_PONG" {
        return None;
    }
    map.get("seq")?.as_u64().filter(|&s| s <= MAX_SAFE_INTEGER)
}

/// The `seq` an advanced-mode pong answers (the preload writes `cmd` then `seq`).
pub fn pong_v8(payload: &[u8]) -> Option<u64> {
    let mut r = V8Reader::new(payload);
    if !r.object_with_cmd() || r.string()? != b"NODE_NC_PONG" || r.string()? != b"seq" {
        return None;
    }
    let seq = r.number()?;
    ((0.0..=MAX_SAFE_INTEGER as f64).contains(&seq) && seq.fract() == 0.0).then_some(seq as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ping_and_pong() {
        assert_eq!(ping(7, false), b"{\"cmd\":\"NODE_NC_PING\",\"seq\":7}\n");
        assert_eq!(pong_json(br#"{"cmd":"NODE_NC_PONG","seq":7,"requests":3}"#), Some(7));
        assert_eq!(pong_json(br#"{"cmd":"NODE_CLUSTER","seq":7}"#), None);
        assert_eq!(pong_json(br#"{"cmd":"NODE_NC_PONG","seq":-1}"#), None);
        // A ping in advanced framing reads back as a pong would, but for its cmd.
        let frame = ping(300, true);
        assert_eq!(u32::from_be_bytes(frame[..HEADER].try_into().unwrap()) as usize, frame.len() - HEADER);
        assert_eq!(pong_v8(&frame[HEADER..]), None);
        let mut w = V8Writer::default();
        w.begin_object()
            .key("cmd")
            .string("NODE_NC_PONG")
            .key("seq")
            .integer(300)
            .key("requests")
            .integer(1)
            .end_object();
        assert_eq!(pong_v8(&w.finish()), Some(300));
    }
}
