//! Codes of the errors the engine reports for what a peer sends. JS turns them into `Error`s
//! with these `code`s; the README documents them.

/// A frame that is not a valid message (`reason`: `empty`, `utf8`, or `json` found by JS).
pub const INVALID_MESSAGE: &str = "ERR_IPC_INVALID_MESSAGE";
/// A frame longer than the channel's `maxFrameSize`; skipped up to the next newline.
pub const FRAME_TOO_LARGE: &str = "ERR_IPC_FRAME_TOO_LARGE";
/// `NODE_HANDLE_ACK`/`NACK` with no handle in flight; ignored.
pub const UNEXPECTED_ACK: &str = "ERR_IPC_UNEXPECTED_ACK";
/// A `NODE_HANDLE` frame; receiving handles is not supported yet, so it is NACKed.
pub const HANDLE_REFUSED: &str = "ERR_IPC_HANDLE_REFUSED";
