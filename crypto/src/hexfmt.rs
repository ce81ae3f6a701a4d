//! Shared hex parsing for 32-byte identifiers (public keys, group ids).

use crate::keys::KeyError;

/// Parses exactly 64 hex characters (either case) into 32 bytes.
///
/// `what` names the thing being parsed so the error says what was wrong.
pub(crate) fn parse_hex32(s: &str, what: &'static str) -> Result<[u8; 32], KeyError> {
    let got = s.chars().count();
    if got != 64 || s.len() != 64 {
        return Err(KeyError::HexLength { what, got });
    }
    let mut out = [0u8; 32];
    hex::decode_to_slice(s, &mut out).map_err(|e| match e {
        hex::FromHexError::InvalidHexCharacter { c, index } => KeyError::HexCharacter {
            what,
            character: c,
            position: index,
        },
        // Length was checked above; keep a precise fallback anyway instead of panicking.
        hex::FromHexError::OddLength | hex::FromHexError::InvalidStringLength => {
            KeyError::HexLength { what, got }
        }
    })?;
    Ok(out)
}
