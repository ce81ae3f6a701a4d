//! The wire format of Cove's sync request-response protocol ([`SYNC_PROTOCOL`]).
//!
//! One request and one response per stream, each a single frame:
//!
//! ```text
//! frame = length: unsigned varint (LEB128, minimal, as everywhere in libp2p) || length bytes
//! ```
//!
//! The bytes are opaque here: the caller (the node's history sync) gives them meaning. This
//! module only enforces the frame limits, and it enforces them *before* allocating: the
//! length prefix is read and checked against [`MAX_REQUEST_BYTES`] / [`MAX_RESPONSE_BYTES`]
//! first, then at most that many bytes are read (through `take`, so a peer that lies about
//! the length cannot make us read or buffer more). Bytes after the frame are not read.
//!
//! A frame that breaks the rules is reported as an [`io::Error`] of kind
//! [`InvalidData`](io::ErrorKind::InvalidData) wrapping a [`FrameError`], which
//! [`is_protocol_violation`] recognises. A stream that ends early is *not* a violation (it
//! looks exactly like a dropped connection): that is a plain `UnexpectedEof`.
//!
//! One wrinkle of libp2p-request-response 0.30: when `read_request` fails, the behaviour
//! drops the stream and reports nothing (not even the peer). So an invalid inbound request
//! is not an error here but a value, [`SyncRequest::Invalid`], which the actor turns into
//! [`Event::ProtocolViolation`](crate::Event::ProtocolViolation). Invalid *responses* do
//! come back with the peer (as `OutboundFailure::Io`), so they stay errors.

use std::io;

use futures::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use libp2p::{request_response, StreamProtocol};

/// Protocol id of Cove's sync request-response protocol. Version 2: the responder proves
/// membership first (PROTOCOL.md §13.1). A peer speaking only `/cove/sync/1.0.0` fails stream
/// negotiation (`Error::Request`, "the remote supports none of the requested protocols")
/// instead of exchanging frames neither side would understand.
pub const SYNC_PROTOCOL: &str = "/cove/sync/2.0.0";

/// Largest request frame accepted or sent, in bytes (length prefix not included).
pub const MAX_REQUEST_BYTES: usize = 256 * 1024;

/// Largest response frame accepted or sent, in bytes (length prefix not included).
pub const MAX_RESPONSE_BYTES: usize = 4 * 1024 * 1024;

/// [`SYNC_PROTOCOL`] as libp2p wants it.
pub(crate) const SYNC_STREAM_PROTOCOL: StreamProtocol = StreamProtocol::new(SYNC_PROTOCOL);

/// Longest unsigned varint we read: enough for any `u64`, which is also what libp2p's
/// `unsigned-varint` accepts. Our limits need far fewer bytes (4 MiB fits in 4), but a
/// longer prefix is only ever zeros (rejected as non-minimal) or above the limit.
const MAX_VARINT_BYTES: usize = 10;

/// Why a frame was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum FrameError {
    /// The length prefix announces more than the limit (the body was not read).
    #[error("sync frame announces at least {len} bytes (max {max})")]
    TooLarge {
        /// The announced length, or the part of it read before it exceeded `max`.
        len: u64,
        /// The limit for this kind of frame.
        max: usize,
    },
    /// The length prefix has redundant trailing zero groups.
    #[error("sync frame length prefix is not minimally encoded")]
    NotMinimal,
    /// The length prefix is longer than any `u64` varint.
    #[error("sync frame length prefix is longer than {MAX_VARINT_BYTES} bytes")]
    PrefixTooLong,
}

impl From<FrameError> for io::Error {
    fn from(e: FrameError) -> Self {
        io::Error::new(io::ErrorKind::InvalidData, e)
    }
}

/// Whether `error` is our codec refusing a frame (as opposed to a timeout, a reset, an early
/// end of stream, ...). Only the former says anything about the peer's honesty.
pub(crate) fn is_protocol_violation(error: &io::Error) -> bool {
    error.kind() == io::ErrorKind::InvalidData
        && error
            .get_ref()
            .is_some_and(|inner| inner.is::<FrameError>())
}

/// A request as the codec hands it over (and takes it back for sending).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum SyncRequest {
    /// A well-formed frame.
    Data(Vec<u8>),
    /// A frame we refused while reading; its body was not read. Never written.
    Invalid(FrameError),
}

/// The request-response codec: one length-prefixed frame each way.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct SyncCodec;

impl request_response::Codec for SyncCodec {
    type Protocol = StreamProtocol;
    type Request = SyncRequest;
    type Response = Vec<u8>;

    async fn read_request<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<SyncRequest>
    where
        T: AsyncRead + Unpin + Send,
    {
        match read_frame(io, MAX_REQUEST_BYTES).await {
            Ok(data) => Ok(SyncRequest::Data(data)),
            Err(e) => match into_frame_error(e) {
                Ok(invalid) => Ok(SyncRequest::Invalid(invalid)),
                Err(e) => Err(e),
            },
        }
    }

    async fn read_response<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<Vec<u8>>
    where
        T: AsyncRead + Unpin + Send,
    {
        read_frame(io, MAX_RESPONSE_BYTES).await
    }

    async fn write_request<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        request: SyncRequest,
    ) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        match request {
            SyncRequest::Data(data) => write_frame(io, &data, MAX_REQUEST_BYTES).await,
            SyncRequest::Invalid(e) => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("refusing to send an invalid request: {e}"),
            )),
        }
    }

    async fn write_response<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        response: Vec<u8>,
    ) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        write_frame(io, &response, MAX_RESPONSE_BYTES).await
    }
}

/// The [`FrameError`] inside `e`, or `e` itself if it is some other I/O error.
fn into_frame_error(e: io::Error) -> Result<FrameError, io::Error> {
    if !is_protocol_violation(&e) {
        return Err(e);
    }
    match e.into_inner().map(|inner| inner.downcast::<FrameError>()) {
        Some(Ok(frame)) => Ok(*frame),
        // Unreachable after `is_protocol_violation`, but no reason to panic over it.
        _ => Err(io::Error::from(io::ErrorKind::InvalidData)),
    }
}

/// Reads one frame of at most `max` bytes. See the module docs for what is an error.
pub(crate) async fn read_frame<T>(io: &mut T, max: usize) -> io::Result<Vec<u8>>
where
    T: AsyncRead + Unpin,
{
    let len = read_length(io, max).await?;
    // No `with_capacity(len)`: memory grows with the bytes that actually arrive, not with
    // what the peer announced.
    let mut data = Vec::new();
    io.take(len as u64).read_to_end(&mut data).await?;
    if data.len() != len {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            format!("sync frame ended after {} of {len} bytes", data.len()),
        ));
    }
    Ok(data)
}

/// Reads an unsigned varint, refusing it as soon as it exceeds `max`.
async fn read_length<T>(io: &mut T, max: usize) -> io::Result<usize>
where
    T: AsyncRead + Unpin,
{
    let mut value: u64 = 0;
    for i in 0..MAX_VARINT_BYTES {
        let mut byte = [0u8; 1];
        io.read_exact(&mut byte).await?;
        let group = u64::from(byte[0] & 0x7f);
        if i > 0 && byte[0] == 0 {
            return Err(FrameError::NotMinimal.into());
        }
        // A group shifted beyond 64 bits would be lost: that is certainly above `max`.
        let shifted = group
            .checked_shl(7 * i as u32)
            .filter(|s| s >> (7 * i as u32) == group);
        value = match shifted {
            Some(s) => value | s,
            None => u64::MAX,
        };
        if value > max as u64 {
            return Err(FrameError::TooLarge { len: value, max }.into());
        }
        if byte[0] & 0x80 == 0 {
            // `value <= max`, which is a `usize`.
            return Ok(value as usize);
        }
    }
    Err(FrameError::PrefixTooLong.into())
}

/// Writes one frame; refuses (without writing anything) data longer than `max`, which is a
/// bug of ours, not of the peer.
pub(crate) async fn write_frame<T>(io: &mut T, data: &[u8], max: usize) -> io::Result<()>
where
    T: AsyncWrite + Unpin,
{
    if data.len() > max {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("sync frame of {} bytes exceeds {max}", data.len()),
        ));
    }
    io.write_all(&encode_length(data.len())).await?;
    io.write_all(data).await?;
    io.flush().await
}

/// The unsigned-varint encoding of `len`.
fn encode_length(len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(MAX_VARINT_BYTES);
    let mut rest = len as u64;
    loop {
        let group = (rest & 0x7f) as u8;
        rest >>= 7;
        if rest == 0 {
            out.push(group);
            return out;
        }
        out.push(group | 0x80);
    }
}

#[cfg(test)]
mod tests {
    use futures::{executor::block_on, io::Cursor};
    use request_response::Codec;

    use super::*;

    /// A frame with the given raw prefix and body, and a reader over it.
    fn cursor(prefix: &[u8], body: &[u8]) -> Cursor<Vec<u8>> {
        Cursor::new([prefix, body].concat())
    }

    #[test]
    fn length_prefix_is_unsigned_varint() {
        // The unsigned-varint spec examples (multiformats/unsigned-varint).
        assert_eq!(encode_length(0), [0x00]);
        assert_eq!(encode_length(1), [0x01]);
        assert_eq!(encode_length(127), [0x7f]);
        assert_eq!(encode_length(128), [0x80, 0x01]);
        assert_eq!(encode_length(255), [0xff, 0x01]);
        assert_eq!(encode_length(300), [0xac, 0x02]);
        assert_eq!(encode_length(16384), [0x80, 0x80, 0x01]);
    }

    #[test]
    fn frames_round_trip_up_to_the_limit() {
        for len in [0, 1, 127, 128, 300, MAX_REQUEST_BYTES] {
            let data: Vec<u8> = (0..len).map(|i| i as u8).collect();
            let mut wire = Cursor::new(Vec::new());
            block_on(write_frame(&mut wire, &data, MAX_REQUEST_BYTES)).unwrap();
            wire.set_position(0);
            let read = block_on(read_frame(&mut wire, MAX_REQUEST_BYTES)).unwrap();
            assert_eq!(read, data, "length {len}");
        }
    }

    #[test]
    fn oversized_prefix_is_refused_before_the_body_is_read() {
        let prefix = encode_length(MAX_REQUEST_BYTES + 1);
        let mut wire = cursor(&prefix, &[7; 64]);
        let err = block_on(read_frame(&mut wire, MAX_REQUEST_BYTES)).unwrap_err();
        assert!(is_protocol_violation(&err), "{err}");
        assert_eq!(wire.position(), prefix.len() as u64, "the body was read");
    }

    #[test]
    fn huge_prefix_is_refused_as_soon_as_it_exceeds_the_limit() {
        // u64::MAX as a varint: nine 0xff then 0x01. The limit (4 MiB = 2^22) is exceeded
        // by the fourth group, so the rest is never read.
        let prefix = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01];
        let mut wire = cursor(&prefix, b"body");
        let err = block_on(read_frame(&mut wire, MAX_RESPONSE_BYTES)).unwrap_err();
        assert!(is_protocol_violation(&err), "{err}");
        assert_eq!(wire.position(), 4);
    }

    #[test]
    fn non_minimal_and_endless_prefixes_are_refused() {
        let mut wire = cursor(&[0x81, 0x00], b"x");
        let err = block_on(read_frame(&mut wire, MAX_REQUEST_BYTES)).unwrap_err();
        assert!(is_protocol_violation(&err), "{err}");

        let mut wire = cursor(&[0x80; 32], b"");
        let err = block_on(read_frame(&mut wire, MAX_REQUEST_BYTES)).unwrap_err();
        assert!(is_protocol_violation(&err), "{err}");
    }

    #[test]
    fn truncated_frame_is_not_a_violation() {
        // Looks exactly like a connection that dropped mid-frame.
        let mut wire = cursor(&encode_length(10), b"short");
        let err = block_on(read_frame(&mut wire, MAX_REQUEST_BYTES)).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
        assert!(!is_protocol_violation(&err));

        let mut wire = cursor(&[0x80], b"");
        let err = block_on(read_frame(&mut wire, MAX_REQUEST_BYTES)).unwrap_err();
        assert!(!is_protocol_violation(&err));
    }

    #[test]
    fn codec_turns_an_invalid_request_into_a_value() {
        let protocol = SYNC_STREAM_PROTOCOL;
        let mut wire = cursor(&encode_length(MAX_REQUEST_BYTES + 1), &[0; 16]);
        let request = block_on(SyncCodec.read_request(&protocol, &mut wire)).unwrap();
        assert_eq!(
            request,
            SyncRequest::Invalid(FrameError::TooLarge {
                len: MAX_REQUEST_BYTES as u64 + 1,
                max: MAX_REQUEST_BYTES
            })
        );

        let mut wire = cursor(&encode_length(3), b"abc");
        let request = block_on(SyncCodec.read_request(&protocol, &mut wire)).unwrap();
        assert_eq!(request, SyncRequest::Data(b"abc".to_vec()));
    }

    #[test]
    fn codec_refuses_an_oversized_response_as_a_violation() {
        let protocol = SYNC_STREAM_PROTOCOL;
        let mut wire = cursor(&encode_length(MAX_RESPONSE_BYTES + 1), &[]);
        let err = block_on(SyncCodec.read_response(&protocol, &mut wire)).unwrap_err();
        assert!(is_protocol_violation(&err), "{err}");
    }

    #[test]
    fn codec_never_writes_oversized_frames() {
        let protocol = SYNC_STREAM_PROTOCOL;
        let mut wire = Cursor::new(Vec::new());
        let err = block_on(SyncCodec.write_response(
            &protocol,
            &mut wire,
            vec![0; MAX_RESPONSE_BYTES + 1],
        ))
        .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
        assert!(wire.get_ref().is_empty());
    }
}
