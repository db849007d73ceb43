//! The S3 checksum algorithms, computed incrementally in the ingest pass.

use base64::Engine as _;
use sha2::Digest as _;

/// The additional checksums S3 defines (`x-amz-checksum-*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ChecksumAlgorithm {
    Crc32,
    Crc32c,
    Crc64Nvme,
    Sha1,
    Sha256,
}

impl ChecksumAlgorithm {
    pub const ALL: [Self; 5] = [Self::Crc32, Self::Crc32c, Self::Crc64Nvme, Self::Sha1, Self::Sha256];

    /// The name S3 uses in `x-amz-checksum-algorithm` and in stored records.
    pub fn s3_name(self) -> &'static str {
        match self {
            Self::Crc32 => "CRC32",
            Self::Crc32c => "CRC32C",
            Self::Crc64Nvme => "CRC64NVME",
            Self::Sha1 => "SHA1",
            Self::Sha256 => "SHA256",
        }
    }

    pub fn from_s3_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.s3_name().eq_ignore_ascii_case(name))
    }
}

/// Incremental state for one algorithm.
enum State {
    Crc(crc_fast::Digest, usize),
    Sha1(sha1::Sha1),
    Sha256(sha2::Sha256),
}

/// Running checksums over a body: MD5 always, plus the requested S3 algorithms.
pub struct Checksums {
    md5: md5_many::Md5State,
    others: Vec<(ChecksumAlgorithm, State)>,
}

impl Checksums {
    pub fn new(algorithms: &[ChecksumAlgorithm]) -> Self {
        let others = algorithms
            .iter()
            .map(|a| {
                let state = match a {
                    ChecksumAlgorithm::Crc32 => {
                        State::Crc(crc_fast::Digest::new(crc_fast::CrcAlgorithm::Crc32IsoHdlc), 4)
                    }
                    ChecksumAlgorithm::Crc32c => {
                        State::Crc(crc_fast::Digest::new(crc_fast::CrcAlgorithm::Crc32Iscsi), 4)
                    }
                    ChecksumAlgorithm::Crc64Nvme => {
                        State::Crc(crc_fast::Digest::new(crc_fast::CrcAlgorithm::Crc64Nvme), 8)
                    }
                    ChecksumAlgorithm::Sha1 => State::Sha1(sha1::Sha1::new()),
                    ChecksumAlgorithm::Sha256 => State::Sha256(sha2::Sha256::new()),
                };
                (*a, state)
            })
            .collect();
        Self { md5: md5_many::Md5State::new(), others }
    }

    pub fn update(&mut self, data: &[u8]) {
        self.md5.update(data);
        for (_, state) in &mut self.others {
            match state {
                State::Crc(d, _) => d.update(data),
                State::Sha1(h) => h.update(data),
                State::Sha256(h) => h.update(data),
            }
        }
    }

    /// The MD5 digest and each requested checksum, base64 encoded as S3 renders them.
    pub fn finish(self) -> ([u8; 16], Vec<(ChecksumAlgorithm, String)>) {
        let md5 = self.md5.finalize();
        let b64 = base64::engine::general_purpose::STANDARD;
        let others = self
            .others
            .into_iter()
            .map(|(a, state)| {
                let value = match state {
                    State::Crc(d, width) => {
                        let v = d.finalize().to_be_bytes();
                        b64.encode(&v[8 - width..])
                    }
                    State::Sha1(h) => b64.encode(h.finalize()),
                    State::Sha256(h) => b64.encode(h.finalize()),
                };
                (a, value)
            })
            .collect();
        (md5, others)
    }
}

impl ChecksumAlgorithm {
    /// Whether this is a CRC (whose part values combine into a FULL_OBJECT checksum).
    pub fn is_crc(self) -> bool {
        self.crc().is_some()
    }

    fn crc(self) -> Option<(crc_fast::CrcAlgorithm, usize)> {
        match self {
            Self::Crc32 => Some((crc_fast::CrcAlgorithm::Crc32IsoHdlc, 4)),
            Self::Crc32c => Some((crc_fast::CrcAlgorithm::Crc32Iscsi, 4)),
            Self::Crc64Nvme => Some((crc_fast::CrcAlgorithm::Crc64Nvme, 8)),
            Self::Sha1 | Self::Sha256 => None,
        }
    }
}

/// The COMPOSITE checksum of a multipart object: the algorithm over the concatenated raw
/// checksums of its parts (base64, as stored), then `-<part count>`. `None` when a
/// part's checksum does not decode.
pub fn composite_checksum(algorithm: ChecksumAlgorithm, parts: &[&str]) -> Option<String> {
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut raw = Vec::new();
    for part in parts {
        raw.extend(b64.decode(part).ok()?);
    }
    let mut c = Checksums::new(&[algorithm]);
    c.update(&raw);
    let (_, values) = c.finish();
    Some(format!("{}-{}", values.first()?.1, parts.len()))
}

/// The FULL_OBJECT checksum of a multipart object (CRC algorithms only): the parts'
/// CRCs combined into the CRC of the whole body. `parts` are (base64 checksum, size).
pub fn full_object_checksum(algorithm: ChecksumAlgorithm, parts: &[(&str, u64)]) -> Option<String> {
    let (crc, width) = algorithm.crc()?;
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut whole: Option<u64> = None;
    for (value, size) in parts {
        let bytes = b64.decode(value).ok()?;
        if bytes.len() != width {
            return None;
        }
        let mut be = [0u8; 8];
        be[8 - width..].copy_from_slice(&bytes);
        let part = u64::from_be_bytes(be);
        whole = Some(match whole {
            None => part,
            Some(w) => crc_fast::checksum_combine(crc, w, part, *size),
        });
    }
    let v = whole?.to_be_bytes();
    Some(b64.encode(&v[8 - width..]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// The ETag's MD5 (md5-many, an alpha release) equals the RustCrypto MD5 for any
        /// body fed in any pieces: lengths around the 64-byte block and its padding.
        #[test]
        fn md5_matches_the_reference_for_bodies_fed_in_any_pieces(
            body in prop::collection::vec(any::<u8>(), 0..9_000),
            cuts in prop::collection::vec(0usize..700, 0..12),
        ) {
            let mut c = Checksums::new(&[]);
            let mut rest = body.as_slice();
            for cut in cuts {
                let (piece, tail) = rest.split_at(cut.min(rest.len()));
                c.update(piece);
                rest = tail;
            }
            c.update(rest);
            let want: [u8; 16] = <md5::Md5 as md5::Digest>::digest(&body).into();
            prop_assert_eq!(c.finish().0, want);
        }
    }

    /// Every length up to 200 bytes (no block, one, the padding's 55/56/63/64 edges, a
    /// few blocks), split at every point.
    #[test]
    fn md5_matches_the_reference_for_short_bodies_split_anywhere() {
        let body: Vec<u8> = (0..200u32).map(|i| (i * 37 + 11) as u8).collect();
        for len in 0..=body.len() {
            let want: [u8; 16] = <md5::Md5 as md5::Digest>::digest(&body[..len]).into();
            for split in 0..=len {
                let mut c = Checksums::new(&[]);
                c.update(&body[..split]);
                c.update(&body[split..len]);
                assert_eq!(c.finish().0, want, "{len} bytes split at {split}");
            }
        }
    }

    #[test]
    fn multipart_checksums_compose_and_combine() {
        use base64::Engine as _;
        let sum = |alg: ChecksumAlgorithm, data: &[u8]| {
            let mut c = Checksums::new(&[alg]);
            c.update(data);
            c.finish().1.remove(0).1
        };
        let (a, b) = (b"first part ".as_slice(), b"and the second".as_slice());
        for alg in [ChecksumAlgorithm::Crc32, ChecksumAlgorithm::Crc32c, ChecksumAlgorithm::Crc64Nvme] {
            let whole = sum(alg, &[a, b].concat());
            let combined =
                full_object_checksum(alg, &[(&sum(alg, a), a.len() as u64), (&sum(alg, b), b.len() as u64)]);
            assert_eq!(combined.as_deref(), Some(whole.as_str()), "{alg:?}");
        }
        let (pa, pb) = (sum(ChecksumAlgorithm::Sha256, a), sum(ChecksumAlgorithm::Sha256, b));
        let b64 = base64::engine::general_purpose::STANDARD;
        let raw = [b64.decode(&pa).unwrap(), b64.decode(&pb).unwrap()].concat();
        let expected = format!("{}-2", sum(ChecksumAlgorithm::Sha256, &raw));
        assert_eq!(composite_checksum(ChecksumAlgorithm::Sha256, &[&pa, &pb]), Some(expected));
        assert_eq!(full_object_checksum(ChecksumAlgorithm::Sha256, &[(&pa, 1)]), None);
    }

    #[test]
    fn known_vectors() {
        // Values as the AWS SDKs compute them for "hello world".
        let mut c = Checksums::new(&ChecksumAlgorithm::ALL);
        c.update(b"hello ");
        c.update(b"world");
        let (md5, others) = c.finish();
        assert_eq!(hex::encode(md5), "5eb63bbbe01eeed093cb22bb8f5acdc3");
        let got: Vec<(&str, String)> = others.iter().map(|(a, v)| (a.s3_name(), v.clone())).collect();
        assert_eq!(
            got,
            vec![
                ("CRC32", "DUoRhQ==".to_owned()),
                ("CRC32C", "yZRlqg==".to_owned()),
                ("CRC64NVME", "jSnVw/bqjr4=".to_owned()),
                ("SHA1", "Kq5sNclPz7QV2+lfQIuc6R7oRu0=".to_owned()),
                ("SHA256", "uU0nuZNNPgilLlLX2n2r+sSE7+N6U4DukIj3rOLvzek=".to_owned()),
            ]
        );
    }

    #[test]
    fn names_parse_case_insensitively() {
        assert_eq!(ChecksumAlgorithm::from_s3_name("crc32c"), Some(ChecksumAlgorithm::Crc32c));
        assert_eq!(ChecksumAlgorithm::from_s3_name("md5"), None);
    }
}
