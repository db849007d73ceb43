//! The S3 checksum algorithms, computed incrementally in the ingest pass.

use base64::Engine as _;
use md5::Digest as _;

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
    md5: md5::Md5,
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
        Self { md5: md5::Md5::new(), others }
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
        let md5: [u8; 16] = self.md5.finalize().into();
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

#[cfg(test)]
mod tests {
    use super::*;

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
