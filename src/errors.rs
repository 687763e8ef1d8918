//! Codes of the errors the engine reports for what a peer sends. JS turns them into `Error`s
//! with these `code`s; the README documents them.

/// A frame that is not a valid message (`reason`: `empty`, `utf8`, or `json` found by JS).
pub const INVALID_MESSAGE: &str = "ERR_IPC_INVALID_MESSAGE";
/// A frame longer than the channel's `maxFrameSize`; skipped up to the next newline.
pub const FRAME_TOO_LARGE: &str = "ERR_IPC_FRAME_TOO_LARGE";
/// `NODE_HANDLE_ACK`/`NACK` with no handle in flight; ignored.
pub const UNEXPECTED_ACK: &str = "ERR_IPC_UNEXPECTED_ACK";
/// A `NODE_HANDLE` frame that came without a descriptor; NACKed, as Node does.
pub const MISSING_HANDLE: &str = "ERR_IPC_MISSING_HANDLE";
/// A `NODE_HANDLE` frame of an unknown `type` (`reason`: `type`) or whose descriptor cannot be
/// that type (`fd`); NACKed and the descriptor closed.
pub const INVALID_HANDLE_TYPE: &str = "ERR_INVALID_HANDLE_TYPE";
/// Descriptors that came with no handle frame (`reason`: `fd`) or were cut off by the kernel
/// (`truncated`); closed.
pub const UNEXPECTED_HANDLE: &str = "ERR_IPC_UNEXPECTED_HANDLE";
