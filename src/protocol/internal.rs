//! Recognising Node's internal messages in a JSON frame (pure).
//!
//! Node's rule (`isInternal`): a non-null object whose `cmd` is a string longer than five
//! characters that starts with `NODE_`. Everything else is a user message.

/// What a frame is, as far as routing goes.
#[derive(Debug, PartialEq, Eq)]
pub enum Kind {
    User,
    /// `NODE_HANDLE_ACK` or `NODE_HANDLE_NACK`: handled by the engine's handle protocol.
    HandleAck {
        ack: bool,
    },
    /// `NODE_HANDLE`: a message that should come with a file descriptor.
    Handle,
    /// Any other internal message (`NODE_CLUSTER`, `NODE_SOCKET_*`, unknown `NODE_*`).
    Internal,
}

/// Classifies one JSON line. A line serde cannot read (Node writes lone surrogates as `\ud800`
/// escapes, which JSON.parse accepts and serde does not) is classified by the leading `cmd`
/// Node's envelopes start with; otherwise it is a user message, and JS reports what is invalid.
pub fn classify_json(line: &[u8]) -> Kind {
    // Fast path: no internal message can lack this substring.
    if line.first() != Some(&b'{') || !contains(line, b"\"NODE_") {
        return Kind::User;
    }
    match serde_json::from_slice::<serde_json::Value>(line) {
        Ok(serde_json::Value::Object(map)) => map.get("cmd").and_then(|c| c.as_str()).map_or(Kind::User, classify_cmd),
        Ok(_) => Kind::User,
        Err(_) => leading_string(line, b"{\"cmd\":").map_or(Kind::User, classify_cmd),
    }
}

/// The string value right after `prefix` at the start of `line`, if it has no escapes.
pub fn leading_string<'a>(line: &'a [u8], prefix: &[u8]) -> Option<&'a str> {
    let rest = line.strip_prefix(prefix)?.strip_prefix(b"\"")?;
    let end = rest.iter().position(|&b| b == b'"' || b == b'\\')?;
    if rest[end] != b'"' {
        return None;
    }
    std::str::from_utf8(&rest[..end]).ok()
}

/// Routing by the `cmd` string alone.
pub fn classify_cmd(cmd: &str) -> Kind {
    if cmd.len() <= 5 || !cmd.starts_with("NODE_") {
        return Kind::User;
    }
    match cmd {
        "NODE_HANDLE_ACK" => Kind::HandleAck { ack: true },
        "NODE_HANDLE_NACK" => Kind::HandleAck { ack: false },
        "NODE_HANDLE" => Kind::Handle,
        _ => Kind::Internal,
    }
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    // glibc's memmem is vectorised: a 100 MiB frame is checked in milliseconds.
    // SAFETY: memmem reads within the two slices, by their lengths.
    !unsafe { libc::memmem(hay.as_ptr().cast(), hay.len(), needle.as_ptr().cast(), needle.len()) }.is_null()
}

/// The exact bytes Node writes for the handle replies (26 and 27 bytes).
pub const ACK_LINE: &[u8] = b"{\"cmd\":\"NODE_HANDLE_ACK\"}\n";
pub const NACK_LINE: &[u8] = b"{\"cmd\":\"NODE_HANDLE_NACK\"}\n";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_rule() {
        assert_eq!(classify_json(br#"{"cmd":"NODE_CLUSTER","act":"online","seq":0}"#), Kind::Internal);
        assert_eq!(classify_json(br#"{"cmd":"NODE_"}"#), Kind::User);
        assert_eq!(classify_json(br#"{"cmd":"fooNODE_X"}"#), Kind::User);
        assert_eq!(classify_json(br#"{"x":{"cmd":"NODE_CLUSTER"}}"#), Kind::User);
        assert_eq!(classify_json(br#"{"cmd":1,"y":"NODE_X"}"#), Kind::User);
        assert_eq!(classify_json(br#""NODE_HANDLE""#), Kind::User);
        assert_eq!(classify_json(br#"{"cmd":"NODE_HANDLE_ACK"}"#), Kind::HandleAck { ack: true });
        assert_eq!(classify_json(br#"{"cmd":"NODE_HANDLE_NACK"}"#), Kind::HandleAck { ack: false });
        assert_eq!(classify_json(br#"{"cmd":"NODE_HANDLE","type":"net.Server","msg":1}"#), Kind::Handle);
        // Lone surrogates (serde refuses them): classified by the leading cmd.
        assert_eq!(classify_json(br#"{"cmd":"NODE_X","s":"\ud800"}"#), Kind::Internal);
        assert_eq!(classify_json(br#"{"cmd":"NODE_HANDLE","type":"net.Server","msg":{"s":"\ud800"}}"#), Kind::Handle);
        assert_eq!(classify_json(br#"{"s":"\ud800","cmd":"NODE_X"}"#), Kind::User);
    }

    #[test]
    fn reply_bytes_match_node() {
        assert_eq!(ACK_LINE.len(), 26);
        assert_eq!(NACK_LINE.len(), 27);
    }
}
