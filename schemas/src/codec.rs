//! The project's one door to bincode. Payloads are encoded with bincode 2's standard
//! configuration; keeping the call here means the codec can be swapped in one place.

use crate::CodecError;

/// Decoding refuses to allocate more than this for one record, so a corrupt length
/// prefix cannot ask for gigabytes.
const MAX_RECORD_BYTES: usize = 256 << 20;

type Config = bincode::config::Configuration<
    bincode::config::LittleEndian,
    bincode::config::Varint,
    bincode::config::Limit<MAX_RECORD_BYTES>,
>;

fn config() -> Config {
    bincode::config::standard().with_limit::<MAX_RECORD_BYTES>()
}

/// Encodes a payload with the frozen configuration.
pub fn encode_payload<T: bincode::Encode>(value: &T) -> Result<Vec<u8>, CodecError> {
    bincode::encode_to_vec(value, config()).map_err(|e| CodecError::Encode(e.to_string()))
}

/// The length of a payload's encoding, found without writing it.
pub fn encoded_len<T: bincode::Encode>(value: &T) -> Result<usize, CodecError> {
    let mut sizer = bincode::enc::EncoderImpl::new(bincode::enc::write::SizeWriter::default(), config());
    value.encode(&mut sizer).map_err(|e| CodecError::Encode(e.to_string()))?;
    Ok(sizer.into_writer().bytes_written)
}

/// Encodes a payload into `out`, which must be exactly [`encoded_len`] bytes long.
pub fn encode_payload_into<T: bincode::Encode>(value: &T, out: &mut [u8]) -> Result<(), CodecError> {
    let written =
        bincode::encode_into_slice(value, out, config()).map_err(|e| CodecError::Encode(e.to_string()))?;
    if written != out.len() {
        return Err(CodecError::Encode(format!("encoded {written} bytes into room for {}", out.len())));
    }
    Ok(())
}

/// Decodes a payload and insists that every byte was consumed.
pub fn decode_payload<T: bincode::Decode<()>>(bytes: &[u8]) -> Result<T, CodecError> {
    let (value, used) =
        bincode::decode_from_slice(bytes, config()).map_err(|e| CodecError::Payload(e.to_string()))?;
    if used != bytes.len() {
        return Err(CodecError::TrailingBytes(bytes.len() - used));
    }
    Ok(value)
}
