//! Node's `NODE_HANDLE` envelope, as far as the engine must read it (pure).
//!
//! The engine decides per handle frame whether the fd that came with it is acceptable and
//! answers ACK or NACK itself, so it needs the envelope's `type` in both framings. JS does the
//! rest (unwrapping, building Node objects) from the full message.

use super::internal::leading_string;
use super::v8::V8Reader;

/// The `type` of a `NODE_HANDLE` envelope: Node's `handleConversion` keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HandleType {
    NetServer,
    NetSocket,
    NetNative,
    DgramSocket,
    DgramNative,
}

impl HandleType {
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "net.Server" => HandleType::NetServer,
            "net.Socket" => HandleType::NetSocket,
            "net.Native" => HandleType::NetNative,
            "dgram.Socket" => HandleType::DgramSocket,
            "dgram.Native" => HandleType::DgramNative,
            _ => return None,
        })
    }

    /// Whether a descriptor of this kind can become this type of handle in a Node process.
    pub fn accepts(self, kind: FdKind) -> bool {
        match self {
            HandleType::DgramSocket | HandleType::DgramNative => kind == FdKind::Udp,
            _ => kind == FdKind::Tcp || kind == FdKind::Pipe,
        }
    }
}

/// The libuv handle a descriptor becomes (`uv_guess_handle`), for the kinds Node can use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FdKind {
    /// Stream socket, AF_INET/AF_INET6.
    Tcp,
    /// Stream socket, AF_UNIX.
    Pipe,
    /// Datagram socket, AF_INET/AF_INET6.
    Udp,
}

impl FdKind {
    pub fn name(self) -> &'static str {
        match self {
            FdKind::Tcp => "tcp",
            FdKind::Pipe => "pipe",
            FdKind::Udp => "udp",
        }
    }
}

/// The `type` of a JSON `NODE_HANDLE` frame (`None`: missing or not a string). Read from
/// the envelope's fixed start when serde cannot parse the line (lone surrogates).
pub fn json_handle_type(line: &[u8]) -> Option<String> {
    match serde_json::from_slice(line) {
        Ok(serde_json::Value::Object(map)) => map.get("type")?.as_str().map(str::to_owned),
        Ok(_) => None,
        Err(_) => leading_string(line, b"{\"cmd\":\"NODE_HANDLE\",\"type\":").map(str::to_owned),
    }
}

/// What an advanced-mode frame is to the handle protocol.
#[derive(Debug, PartialEq, Eq)]
pub enum V8Kind<'a> {
    /// `NODE_HANDLE` with the envelope's `type` (`None` if it could not be read).
    Handle(Option<&'a str>),
    HandleAck {
        ack: bool,
    },
    /// Anything else: JS deserialises it.
    Other,
}

/// Reads the start of a V8-serialised payload the way Node writes its envelopes:
/// `{cmd: ..., type: ...}` with `cmd` the first key, all one-byte strings. Node builds every
/// envelope this way; a frame written otherwise is left to JS.
pub fn classify_v8(payload: &[u8]) -> V8Kind<'_> {
    let mut r = V8Reader::new(payload);
    if !r.object_with_cmd() {
        return V8Kind::Other;
    }
    match r.string() {
        Some(b"NODE_HANDLE_ACK") => V8Kind::HandleAck { ack: true },
        Some(b"NODE_HANDLE_NACK") => V8Kind::HandleAck { ack: false },
        Some(b"NODE_HANDLE") => {
            let ty = match r.string() {
                Some(b"type") => r.string().and_then(|t| std::str::from_utf8(t).ok()),
                _ => None,
            };
            V8Kind::Handle(ty)
        }
        _ => V8Kind::Other,
    }
}

/// Node's advanced-mode handle replies, length header included (what
/// `v8.serialize({cmd: 'NODE_HANDLE_ACK'})` gives, framed).
pub const ACK_V8: &[u8] = b"\x00\x00\x00\x1b\xff\x0fo\"\x03cmd\"\x0fNODE_HANDLE_ACK{\x01";
pub const NACK_V8: &[u8] = b"\x00\x00\x00\x1c\xff\x0fo\"\x03cmd\"\x10NODE_HANDLE_NACK{\x01";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_node_envelopes() {
        // v8.serialize({cmd:'NODE_HANDLE', type:'net.Socket', msg:'x', key:'4:1'}) in Node 20.
        let env =
            b"\xff\x0fo\"\x03cmd\"\x0bNODE_HANDLE\"\x04type\"\x0anet.Socket\"\x03msg\"\x01x\"\x03key\"\x034:1{\x04";
        assert_eq!(classify_v8(env), V8Kind::Handle(Some("net.Socket")));
        assert_eq!(classify_v8(&ACK_V8[4..]), V8Kind::HandleAck { ack: true });
        assert_eq!(classify_v8(&NACK_V8[4..]), V8Kind::HandleAck { ack: false });
        assert_eq!(classify_v8(b"\xff\x0fo\"\x03cmd\"\x0bNODE_HANDLE{\x01"), V8Kind::Handle(None));
        // Truncated, another command, or a two-byte string: left to JS.
        assert_eq!(classify_v8(b"\xff\x0fo\"\x03cmd\"\x0bNODE_HAN"), V8Kind::Other);
        assert_eq!(classify_v8(b"\xff\x0fo\"\x03cmd\"\x0cNODE_CLUSTER{\x01"), V8Kind::Other);
        assert_eq!(classify_v8(b"\xff\x0f\"\x0bNODE_HANDLE"), V8Kind::Other);
        assert_eq!(classify_v8(b""), V8Kind::Other);
        assert_eq!(classify_v8(b"\xff\x0fo\"\xff\xff\xff\xff\x0f"), V8Kind::Other);
    }

    #[test]
    fn reply_lengths_match_their_headers() {
        for reply in [ACK_V8, NACK_V8] {
            assert_eq!(u32::from_be_bytes(reply[..4].try_into().unwrap()) as usize, reply.len() - 4);
        }
    }

    #[test]
    fn types_and_kinds() {
        assert_eq!(
            json_handle_type(br#"{"cmd":"NODE_HANDLE","type":"net.Server","msg":1}"#).as_deref(),
            Some("net.Server")
        );
        assert_eq!(json_handle_type(br#"{"cmd":"NODE_HANDLE","type":3}"#), None);
        assert_eq!(
            json_handle_type(br#"{"cmd":"NODE_HANDLE","type":"net.Server","msg":"\ud800"}"#).as_deref(),
            Some("net.Server")
        );
        assert!(HandleType::parse("net.Socket").unwrap().accepts(FdKind::Pipe));
        assert!(!HandleType::parse("net.Server").unwrap().accepts(FdKind::Udp));
        assert!(HandleType::parse("dgram.Native").unwrap().accepts(FdKind::Udp));
        assert!(!HandleType::parse("dgram.Socket").unwrap().accepts(FdKind::Tcp));
        assert_eq!(HandleType::parse("fs.File"), None);
    }
}
