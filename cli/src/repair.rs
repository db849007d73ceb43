//! `rucket repair`: recovers what it can from a stopped node's damaged data dir.
//!
//! It checks, in order, the journal (a damaged batch), the event archive (records that
//! cannot be read) and then folds the projections again from the archive, so damaged
//! views are always replaced. Cutting away damage that loses events happens only with
//! `--truncate`: the journal is cut at its damaged batch (a copy is kept), the archive
//! after its last good position. Every change is appended to `repair.log` in the data
//! dir. Without `--truncate` a damage that would lose events is reported and nothing
//! changes (exit 2).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use rucket_log::damage;

#[derive(Args, Debug)]
pub struct RepairArgs {
    #[arg(long, env = "RUCKET_DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,
    /// Cut away damage that loses events: the journal at its damaged batch (a copy is
    /// kept in the data dir) and the archive after its last good position. In a cluster,
    /// prefer removing the node's data dir and adding the node again: its peers hold
    /// every acknowledged write.
    #[arg(long)]
    pub truncate: bool,
}

pub fn run(args: RepairArgs) -> ExitCode {
    match repair(&args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("repair: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn repair(args: &RepairArgs) -> anyhow::Result<ExitCode> {
    let log_dir = args.data_dir.join("log");
    anyhow::ensure!(log_dir.is_dir(), "no Rucket log at {}", log_dir.display());
    let note = |line: &str| -> anyhow::Result<()> {
        println!("repair: {line}");
        damage::record_repair(&log_dir, line).context("writing repair.log")
    };

    let lock = damage::lock_stopped(&log_dir)?;
    if let Some(found) = damage::scan_journal(&log_dir).context("reading the journal")? {
        println!("repair: {found}");
        if !args.truncate {
            println!(
                "repair: nothing changed. With --truncate the journal is cut at byte {} of {}, losing the \
                 damaged batch and the {} intact batches after it (a copy of the journal is kept)",
                found.offset,
                found.file.display(),
                found.batches_after
            );
            return Ok(ExitCode::from(2));
        }
        let backup = backup_dir(&args.data_dir);
        damage::cut_journal(&found, &backup).context("cutting the journal")?;
        note(&format!(
            "cut journal {} at byte {} ({}; {} intact batches after it dropped); the journal as it was is in {}",
            found.file.display(),
            found.offset,
            found.reason,
            found.batches_after,
            backup.display()
        ))?;
    }

    drop(lock);
    let db = damage::open_for_repair(&log_dir, |b| b)
        .context("the log database still cannot be opened: restore the data dir from a backup")?;
    let mut archive = match damage::finish_cut(&db, &log_dir)? {
        Some(archive) => {
            note("finished an archive cut that an earlier repair began")?;
            archive
        }
        None => rucket_log::EventArchive::open(&db)?,
    };
    if let Some(found) = damage::scan_archive(&archive) {
        println!("repair: {found}");
        if !args.truncate {
            println!(
                "repair: nothing changed. With --truncate the archive is cut after position {}, losing {}",
                found.last_good,
                lost(&found)
            );
            return Ok(ExitCode::from(2));
        }
        archive = damage::cut_archive(&db, &log_dir, found.last_good).context("cutting the archive")?;
        note(&format!(
            "cut the event archive after position {} ({}); {} dropped",
            found.last_good,
            found.reason,
            lost(&found)
        ))?;
    }

    let live = rucket_projections::Projections::open(&db)?;
    let promoted =
        rucket_log::replay::refold(&archive, live, |_, _| {}).context("folding the projections")?;
    note(&format!(
        "projections folded again from the archive's {} events into generation {}",
        archive.head(),
        promoted.generation()
    ))?;
    println!("repair: ok: the node can start");
    Ok(ExitCode::SUCCESS)
}

/// The events an archive cut loses, as far as they can be counted.
fn lost(found: &damage::ArchiveDamage) -> String {
    match found.head {
        Some(head) => format!("{} events", head.0.saturating_sub(found.last_good.0)),
        None => "every event after it (the newest records cannot be read, so how many is unknown)".into(),
    }
}

/// A fresh folder in the data dir for what a repair replaces.
fn backup_dir(data_dir: &Path) -> PathBuf {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    data_dir.join(format!("repair-{}.{:09}", now.as_secs(), now.subsec_nanos()))
}
