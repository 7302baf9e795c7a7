//! SecretConnection regressions found by the fuzz targets (`fuzz/`).

use mconn::identity::NodeKey;
use mconn::secret::{SecretConnection, SecretError};
use mconn::wire::auth::{decode_ephemeral, EPH_MSG_LEN};
use mconn::wire::DecodeError;

/// An ephemeral-key message whose inner field claims more bytes than the
/// 34-byte body holds. Once all 35 bytes are in, that is invalid: reporting
/// `Truncated` made the handshake wait for bytes it would never take, and
/// `handle_input` spun forever (found by the `session` target).
#[test]
fn inner_field_past_the_end_of_the_ephemeral_message() {
    let mut msg = [0x11u8; EPH_MSG_LEN];
    msg[..3].copy_from_slice(&[0x22, 0x0a, 0x21]); // 33 bytes claimed, 32 present
    assert_eq!(decode_ephemeral(&msg), Err(DecodeError::Invalid));
    assert_eq!(decode_ephemeral(&msg[..20]), Err(DecodeError::Truncated));

    let mut conn = SecretConnection::new(&NodeKey::from_seed([1; 32]), [2; 32]);
    let err = SecretError::EphemeralKeyInvalid(DecodeError::Invalid);
    assert_eq!(conn.handle_input(&msg), Err(err));
    assert_eq!(conn.error(), Some(err));
    // Byte by byte ends the same way.
    let mut conn = SecretConnection::new(&NodeKey::from_seed([1; 32]), [2; 32]);
    let mut result = Ok(0);
    for b in msg.chunks(1) {
        result = conn.handle_input(b);
        if result.is_err() {
            break;
        }
    }
    assert_eq!(result, Err(err));
}
