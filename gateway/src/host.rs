//! Virtual-hosted-style addressing: `<bucket>.<domain>[:port]` names the bucket; the
//! bare domain, an IP address or any other host is path-style.

use std::borrow::Cow;

use s3s::host::{S3Host, VirtualHost};
use s3s::S3Result;

pub struct VirtualHosts {
    domain: String,
}

impl VirtualHosts {
    pub fn new(domain: &str) -> Self {
        let domain = domain.split(':').next().unwrap_or(domain).to_ascii_lowercase();
        Self { domain }
    }

    /// The bucket a host names, if it is `<bucket>.<domain>`.
    pub fn bucket_of<'a>(&self, host: &'a str) -> Option<&'a str> {
        let name = host.rsplit_once(':').map_or(host, |(h, port)| {
            if port.bytes().all(|b| b.is_ascii_digit()) {
                h
            } else {
                host
            }
        });
        let bucket = name.strip_suffix(self.domain.as_str())?.strip_suffix('.')?;
        (!bucket.is_empty()).then_some(bucket)
    }
}

impl S3Host for VirtualHosts {
    fn parse_host_header<'a>(&'a self, host: &'a str) -> S3Result<VirtualHost<'a>> {
        let vh = VirtualHost::new(Cow::Borrowed(self.domain.as_str()));
        Ok(match self.bucket_of(host) {
            Some(bucket) => vh.with_bucket(bucket),
            None => vh,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_come_from_subdomains_only() {
        let hosts = VirtualHosts::new("s3.test:9000");
        assert_eq!(hosts.bucket_of("photos.s3.test:9000"), Some("photos"));
        assert_eq!(hosts.bucket_of("photos.s3.test"), Some("photos"));
        assert_eq!(hosts.bucket_of("my.dotted.bucket.s3.test"), Some("my.dotted.bucket"));
        assert_eq!(hosts.bucket_of("s3.test:9000"), None);
        assert_eq!(hosts.bucket_of("other.example:9000"), None);
        assert_eq!(hosts.bucket_of("xs3.test"), None);
    }
}
