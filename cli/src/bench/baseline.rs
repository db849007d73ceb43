//! What this machine itself allows, measured in the same run as a benchmark so results
//! can be stated as ratios: 4 KiB append + fdatasync, and one-core MD5 and SHA-256.

use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use clap::Args;
use sha2::Digest as _;

#[derive(Args, Debug)]
pub struct BaselineArgs {
    /// A directory on the disk to measure (a temporary file is written there).
    #[arg(long, default_value = ".")]
    pub dir: PathBuf,
    /// How long to measure the fsync rate.
    #[arg(long, default_value_t = 3)]
    pub seconds: u64,
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: BaselineArgs) -> anyhow::Result<()> {
    let mut file = tempfile::NamedTempFile::new_in(&args.dir)?;
    let block = vec![0xa5u8; 4096];
    let started = Instant::now();
    let mut syncs = 0u64;
    while started.elapsed() < Duration::from_secs(args.seconds) {
        file.write_all(&block)?;
        file.as_file().sync_data()?;
        syncs += 1;
    }
    let fsync_rate = syncs as f64 / started.elapsed().as_secs_f64();

    // The MD5 a PUT computes for its ETag (the server's own hasher).
    let md5_gbps = hash_speed(|buffer, rounds| {
        let mut h = rucket_blobs::Checksums::new(&[]);
        for _ in 0..rounds {
            h.update(buffer);
        }
        h.finish().0.to_vec()
    });
    let sha256_gbps = hash_speed(|buffer, rounds| {
        let mut h = sha2::Sha256::new();
        for _ in 0..rounds {
            h.update(buffer);
        }
        h.finalize().to_vec()
    });
    if args.json {
        println!(
            "{}",
            serde_json::json!({
                "append_fdatasync_4k_per_second": fsync_rate,
                "md5_gb_per_second": md5_gbps,
                "sha256_gb_per_second": sha256_gbps,
                "dir": args.dir,
            })
        );
    } else {
        println!("4 KiB append + fdatasync: {fsync_rate:.0}/s ({})", args.dir.display());
        println!("MD5, one core:            {md5_gbps:.2} GB/s");
        println!("SHA-256, one core:        {sha256_gbps:.2} GB/s");
    }
    Ok(())
}

/// GB/s of one core hashing 512 MiB in 1 MiB updates: `hash(buffer, rounds)` updates one
/// digest with `buffer` `rounds` times and gives the digest.
fn hash_speed(hash: impl Fn(&[u8], usize) -> Vec<u8>) -> f64 {
    let buffer = vec![0x5au8; 1 << 20];
    let rounds = 512;
    let t = Instant::now();
    std::hint::black_box(hash(&buffer, rounds));
    (rounds * buffer.len()) as f64 / t.elapsed().as_secs_f64() / 1e9
}
