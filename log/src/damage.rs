//! Finding damage in a node's log database and cutting it away on request.
//!
//! fjall refuses to open a journal whose batch fails its checksum, naming neither file nor
//! position, and it silently drops everything after an entry it cannot parse (it takes it
//! for a write a crash cut short). So a node reads the journal itself before fjall does:
//! a batch that fails its checks and is followed by intact batches is damage that would
//! lose acknowledged writes, and the node refuses to start with a [`JournalDamage`] that
//! names the file, the byte offset, the keyspaces the batch wrote and the archive's last
//! good position. `rucket repair` cuts the journal there only when asked to.
//!
//! The journal layout read here is fjall 3's (entries `Start{count, seqno}`, `count` items
//! or clears, `End{xxh3 of the items, trailer}`), pinned by Cargo.lock; a fjall upgrade
//! that changes it fails the tests beside this file.

use std::fs::File;
use std::io::{BufReader, ErrorKind, Read, Write};
use std::path::{Path, PathBuf};

use rucket_schemas::LogPosition;

use crate::{EventArchive, LogError};

const TAG_START: u8 = 1;
const TAG_ITEM: u8 = 2;
const TAG_END: u8 = 3;
const TAG_CLEAR: u8 = 4;
/// What fjall writes after each batch's checksum.
const TRAILER: &[u8; 4] = b"FJL\x03";
/// The file, in the log directory, that maps fjall's keyspace ids to their names.
const NAMES_FILE: &str = "rucket-keyspaces.txt";
/// The keyspace whose keys are archive positions.
const ARCHIVE: &str = "archive.events";

/// A journal batch that failed its checks with intact batches after it (or that fjall
/// would refuse to recover).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JournalDamage {
    pub file: PathBuf,
    /// Where the damaged batch starts: cutting the journal here keeps every batch before.
    pub offset: u64,
    pub reason: String,
    /// The keyspaces the damaged batch writes to, as far as it could be read.
    pub keyspaces: Vec<String>,
    /// The newest archive position written by an intact batch before the damage, if the
    /// journal holds one (older positions are in the archive's tables).
    pub archive_last_good: Option<LogPosition>,
    /// Intact batches after the damage, in this file and in later journal files: what a
    /// cut loses.
    pub batches_after: u64,
    /// Later journal files, removed by a cut.
    pub later_files: Vec<PathBuf>,
}

impl std::fmt::Display for JournalDamage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "journal file {} is damaged at byte {}: {}",
            self.file.display(),
            self.offset,
            self.reason
        )?;
        if !self.keyspaces.is_empty() {
            write!(f, "; the damaged batch writes keyspaces {}", self.keyspaces.join(", "))?;
        }
        match self.archive_last_good {
            Some(p) => write!(f, "; the event archive's last good position is {p}")?,
            None => write!(f, "; the event archive is intact up to what its tables hold")?,
        }
        if self.batches_after == 0 {
            write!(f, "; it is the journal's last batch (a write a crash cut short, or damage)")
        } else {
            write!(f, "; {} intact batches follow it", self.batches_after)
        }
    }
}

/// What damage the journal holds, if any. Read before fjall opens the database.
pub fn scan_journal(log_dir: &Path) -> Result<Option<JournalDamage>, std::io::Error> {
    let names = KeyspaceNames::read(log_dir);
    let archive_id = names.archive_id();
    let files = journal_files(log_dir)?;
    let mut seen = Seen::default();
    for (i, file) in files.iter().enumerate() {
        let outcome = scan_file(file, archive_id, &mut seen)?;
        let Some(bad) = outcome.bad else { continue };
        let mut batches_after = intact_batches_after(file, bad.failed_at, seen.seqno)?;
        for later in &files[i + 1..] {
            batches_after += scan_file(later, archive_id, &mut Seen::default())?.batches;
        }
        // fjall itself drops a torn tail that does not parse; only a batch that parses
        // but fails its checks, damage with intact batches after it, or damage in a
        // journal file that is not the newest (fjall fsyncs a file before it starts the
        // next, so only the newest can end in a write a crash cut short) is reported.
        let newest = i + 1 == files.len();
        if batches_after == 0 && !bad.refused_by_fjall && newest {
            return Ok(None);
        }
        return Ok(Some(JournalDamage {
            file: file.clone(),
            offset: bad.offset,
            reason: bad.reason,
            keyspaces: bad.keyspaces.iter().map(|id| names.name(*id)).collect(),
            archive_last_good: seen.archived,
            batches_after,
            later_files: files[i + 1..].to_vec(),
        }));
    }
    Ok(None)
}

/// Cuts the journal at the damaged batch: the damaged file and every later one are first
/// copied into `backup`, then the file is truncated at the batch and the later files are
/// removed. What the cut loses is what `damage` says follows the batch.
pub fn cut_journal(damage: &JournalDamage, backup: &Path) -> Result<(), std::io::Error> {
    std::fs::create_dir(backup)?;
    for file in std::iter::once(&damage.file).chain(&damage.later_files) {
        let name = file.file_name().ok_or_else(|| std::io::Error::other("journal path without a name"))?;
        std::fs::copy(file, backup.join(name))?;
        File::open(backup.join(name))?.sync_all()?;
    }
    sync_dir(backup)?;
    // Later files go first, newest first: a stop midway must never leave a shortened
    // file followed by intact later ones (fjall would replay them over the gap).
    let dir = damage.file.parent().unwrap_or(Path::new("."));
    for later in damage.later_files.iter().rev() {
        std::fs::remove_file(later)?;
        sync_dir(dir)?;
    }
    let journal = std::fs::OpenOptions::new().write(true).open(&damage.file)?;
    journal.set_len(damage.offset)?;
    journal.sync_all()?;
    Ok(())
}

/// Damage found in the event archive: positions from `first_bad` on could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchiveDamage {
    /// The keyspace's folder (its tables are the files).
    pub folder: PathBuf,
    pub last_good: LogPosition,
    /// The newest archived position, unless the newest records are unreadable too.
    pub head: Option<LogPosition>,
    pub reason: String,
}

impl std::fmt::Display for ArchiveDamage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the event archive (keyspace {ARCHIVE}, tables in {}) is damaged after position {}: {}",
            self.folder.display(),
            self.last_good,
            self.reason,
        )?;
        match self.head {
            Some(head) => write!(
                f,
                "; its head is {head}, so {} events are unreadable or behind the damage",
                head.0.saturating_sub(self.last_good.0)
            ),
            None => write!(f, "; its newest records cannot be read either"),
        }
    }
}

/// Reads the whole archive in position order; the first record that cannot be read (a
/// table block failing its checksum, a record failing its CRC, a gap) ends the good
/// prefix.
pub fn scan_archive(archive: &EventArchive) -> Option<ArchiveDamage> {
    let head = archive.head();
    let damage = |last_good: u64, reason: String| ArchiveDamage {
        folder: archive.events.path().to_path_buf(),
        last_good: LogPosition(last_good),
        head: archive.unreadable_tail.is_none().then_some(head),
        reason,
    };
    let mut last_good = 0u64;
    loop {
        let (events, error) = archive.read_events_after(LogPosition(last_good), 4096);
        for (position, _, _) in &events {
            if position.0 != last_good + 1 {
                return Some(damage(last_good, format!("position {} is missing", last_good + 1)));
            }
            last_good = position.0;
        }
        if let Some(e) = error {
            return Some(damage(last_good, e.to_string()));
        }
        if events.is_empty() {
            return (last_good < head.0).then(|| damage(last_good, "the archive ends early".into()));
        }
    }
}

/// fjall's keyspace ids and names, as the node saw them at its last start: a damaged
/// journal names keyspaces only by id.
#[derive(Debug, Default)]
pub struct KeyspaceNames(Vec<(u64, String)>);

impl KeyspaceNames {
    /// Records the open database's keyspaces (written only when they changed).
    pub fn record(db: &fjall::Database, log_dir: &Path) -> Result<(), LogError> {
        let mut ids = Vec::new();
        for name in db.list_keyspace_names() {
            let keyspace = db.keyspace(&name, fjall::KeyspaceCreateOptions::default)?;
            ids.push((keyspace.id(), name.to_string()));
        }
        ids.sort();
        let lines: String = ids.iter().map(|(id, name)| format!("{id} {name}\n")).collect();
        let path = log_dir.join(NAMES_FILE);
        if std::fs::read_to_string(&path).ok().as_deref() == Some(lines.as_str()) {
            return Ok(());
        }
        let io = |e: std::io::Error| LogError::Storage(e.into());
        let temp = log_dir.join(format!("{NAMES_FILE}.new"));
        std::fs::write(&temp, lines).map_err(io)?;
        std::fs::rename(&temp, &path).map_err(io)
    }

    fn read(log_dir: &Path) -> Self {
        let text = std::fs::read_to_string(log_dir.join(NAMES_FILE)).unwrap_or_default();
        Self(
            text.lines()
                .filter_map(|l| l.split_once(' '))
                .filter_map(|(id, name)| Some((id.parse().ok()?, name.to_owned())))
                .collect(),
        )
    }

    fn name(&self, id: u64) -> String {
        match self.0.iter().find(|(i, _)| *i == id) {
            Some((_, name)) => name.clone(),
            None => format!("#{id}"),
        }
    }

    fn archive_id(&self) -> Option<u64> {
        self.0.iter().find(|(_, name)| name == ARCHIVE).map(|(id, _)| *id)
    }
}

/// The journal files of `log_dir`, oldest first.
fn journal_files(log_dir: &Path) -> Result<Vec<PathBuf>, std::io::Error> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(log_dir)? {
        let path = entry?.path();
        let id = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_suffix(".jnl"))
            .and_then(|n| n.parse::<u64>().ok());
        if let Some(id) = id {
            files.push((id, path));
        }
    }
    files.sort();
    Ok(files.into_iter().map(|(_, p)| p).collect())
}

/// A batch that failed its checks.
struct BadBatch {
    offset: u64,
    /// Where reading failed: intact batches are looked for after it.
    failed_at: u64,
    reason: String,
    keyspaces: Vec<u64>,
    /// Whether fjall refuses to open on it (rather than dropping it as a torn tail).
    refused_by_fjall: bool,
}

struct FileScan {
    /// Intact batches read before the end or the damage.
    batches: u64,
    bad: Option<BadBatch>,
}

/// What the intact batches read so far wrote last.
#[derive(Default)]
struct Seen {
    /// The newest archive position.
    archived: Option<LogPosition>,
    /// The newest batch sequence number.
    seqno: u64,
}

/// Reads one journal file batch by batch until its end or the first bad batch.
fn scan_file(file: &Path, archive_id: Option<u64>, seen: &mut Seen) -> Result<FileScan, std::io::Error> {
    let journal = File::open(file)?;
    let len = journal.metadata()?.len();
    let mut reader = Entries::new(BufReader::with_capacity(1 << 20, journal), len);
    let mut batches = 0;
    loop {
        let offset = reader.offset;
        let bad = match read_batch(&mut reader, archive_id)? {
            Batch::End => return Ok(FileScan { batches, bad: None }),
            Batch::Intact { archived, seqno } => {
                batches += 1;
                seen.archived = archived.or(seen.archived);
                seen.seqno = seen.seqno.max(seqno);
                continue;
            }
            // Zeros or the file's end after a cut-short batch: fjall drops it.
            Batch::Torn => BadBatch {
                offset,
                failed_at: reader.offset,
                reason: "a batch that was cut short".into(),
                keyspaces: Vec::new(),
                refused_by_fjall: false,
            },
            Batch::Bad { reason, keyspaces, refused_by_fjall } => {
                BadBatch { offset, failed_at: reader.offset, reason, keyspaces, refused_by_fjall }
            }
        };
        return Ok(FileScan { batches, bad: Some(bad) });
    }
}

/// Intact batches in `file` after the byte `from`, newer than sequence number `seqno`:
/// found by trying each later byte that could start a batch, then reading on from the
/// first intact one. Only newer batches count, so bytes inside an object's body that
/// happen to look like a batch are not taken for one.
fn intact_batches_after(file: &Path, from: u64, seqno: u64) -> Result<u64, std::io::Error> {
    let bytes = std::fs::read(file)?;
    let from = usize::try_from(from).unwrap_or(usize::MAX);
    for start in (from..bytes.len()).filter(|&i| bytes[i] == TAG_START) {
        let mut reader = Entries::new(&bytes[start..], (bytes.len() - start) as u64);
        if !matches!(read_batch(&mut reader, None)?, Batch::Intact { seqno: found, .. } if found > seqno) {
            continue;
        }
        let mut count = 1;
        while let Batch::Intact { .. } = read_batch(&mut reader, None)? {
            count += 1;
        }
        return Ok(count);
    }
    Ok(0)
}

enum Batch {
    /// The file ends here (its end, or the zeros of a preallocated file).
    End,
    Intact {
        archived: Option<LogPosition>,
        seqno: u64,
    },
    /// The file ends inside this batch.
    Torn,
    Bad {
        reason: String,
        keyspaces: Vec<u64>,
        refused_by_fjall: bool,
    },
}

/// A reader that counts its offset and keeps what it read of the current item for the
/// batch checksum.
struct Entries<R> {
    inner: R,
    offset: u64,
    /// The length of what is read: a damaged length never makes a larger buffer.
    len: u64,
}

impl<R: Read> Entries<R> {
    fn new(inner: R, len: u64) -> Self {
        Self { inner, offset: 0, len }
    }

    /// Reads exactly `n` bytes into `out` (appending); `false` at the file's end.
    fn take(&mut self, n: usize, out: &mut Vec<u8>) -> Result<bool, std::io::Error> {
        if self.offset.saturating_add(n as u64) > self.len {
            return Ok(false);
        }
        let start = out.len();
        out.resize(start + n, 0);
        match self.inner.read_exact(&mut out[start..]) {
            Ok(()) => {
                self.offset += n as u64;
                Ok(true)
            }
            Err(e) if e.kind() == ErrorKind::UnexpectedEof => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Whether everything from here to the end is zero bytes.
    fn rest_is_zero(&mut self) -> Result<bool, std::io::Error> {
        let mut buf = vec![0u8; 1 << 16];
        loop {
            match self.inner.read(&mut buf)? {
                0 => return Ok(true),
                n if buf[..n].iter().any(|b| *b != 0) => return Ok(false),
                _ => {}
            }
        }
    }
}

fn le_u16(b: &[u8]) -> u16 {
    u16::from_le_bytes([b[0], b[1]])
}

fn le_u32(b: &[u8]) -> u32 {
    u32::from_le_bytes([b[0], b[1], b[2], b[3]])
}

fn le_u64(b: &[u8]) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[..8]);
    u64::from_le_bytes(a)
}

/// Reads one batch: `Start`, its items and clears, `End`.
/// `archive_id` is the archive keyspace's id, if known.
fn read_batch<R: Read>(r: &mut Entries<R>, archive_id: Option<u64>) -> Result<Batch, std::io::Error> {
    let mut buf = Vec::with_capacity(64);
    if !r.take(1, &mut buf)? {
        return Ok(Batch::End);
    }
    match buf[0] {
        0 if r.rest_is_zero()? => return Ok(Batch::End),
        TAG_START => {}
        tag => {
            return Ok(Batch::Bad {
                reason: format!("an entry of unknown kind {tag} where a batch should start"),
                keyspaces: Vec::new(),
                refused_by_fjall: false,
            })
        }
    }
    if !r.take(12, &mut buf)? {
        return Ok(Batch::Torn);
    }
    let mut remaining = le_u32(&buf[1..5]);
    let seqno = le_u64(&buf[5..13]);
    let mut hasher = xxhash_rust::xxh3::Xxh3::new();
    let mut keyspaces: Vec<u64> = Vec::new();
    let mut archived = None;
    let bad = |reason: String, keyspaces: Vec<u64>, refused_by_fjall| {
        Ok(Batch::Bad { reason, keyspaces, refused_by_fjall })
    };
    loop {
        buf.clear();
        if !r.take(1, &mut buf)? {
            return Ok(Batch::Torn);
        }
        match buf[0] {
            TAG_ITEM => {
                // value type, compression, keyspace id, key length, value length, stored length
                if !r.take(1 + 1 + 8 + 2 + 4 + 4, &mut buf)? {
                    return Ok(Batch::Torn);
                }
                let keyspace = le_u64(&buf[3..11]);
                let key_len = usize::from(le_u16(&buf[11..13]));
                let stored_len = le_u32(&buf[17..21]) as usize;
                if !keyspaces.contains(&keyspace) {
                    keyspaces.push(keyspace);
                }
                if !matches!(buf[1], 0 | 1 | 2 | 4) || buf[2] > 1 {
                    return bad(
                        format!("an item with unknown type or compression in keyspace #{keyspace}"),
                        keyspaces,
                        false,
                    );
                }
                let key_at = buf.len();
                if !r.take(key_len + stored_len, &mut buf)? {
                    return Ok(Batch::Torn);
                }
                // Only a value (type 0) is an archived event.
                if archive_id == Some(keyspace) && key_len == 8 && buf[1] == 0 {
                    archived = LogPosition::from_key(&buf[key_at..key_at + 8]);
                }
                hasher.update(&buf);
                if remaining == 0 {
                    return bad("more entries than the batch declares".into(), keyspaces, true);
                }
                remaining -= 1;
            }
            TAG_CLEAR => {
                if !r.take(8, &mut buf)? {
                    return Ok(Batch::Torn);
                }
                hasher.update(&buf);
                if remaining == 0 {
                    return bad("more entries than the batch declares".into(), keyspaces, true);
                }
                remaining -= 1;
            }
            TAG_END => {
                if !r.take(8 + TRAILER.len(), &mut buf)? {
                    return Ok(Batch::Torn);
                }
                if &buf[9..] != TRAILER {
                    // fjall takes this for a torn write and drops it.
                    return bad("a batch end without its trailer".into(), keyspaces, false);
                }
                if remaining != 0 {
                    return bad(
                        format!("{remaining} fewer entries than the batch declares"),
                        keyspaces,
                        true,
                    );
                }
                if hasher.digest() != le_u64(&buf[1..9]) {
                    return bad("the batch fails its checksum".into(), keyspaces, true);
                }
                return Ok(Batch::Intact { archived, seqno });
            }
            TAG_START => return bad("a batch starts inside another".into(), keyspaces, false),
            tag => return bad(format!("an entry of unknown kind {tag} inside a batch"), keyspaces, false),
        }
    }
}

fn sync_dir(dir: &Path) -> Result<(), std::io::Error> {
    File::open(dir)?.sync_all()
}

/// Appends a line to the data dir's repair log (`repair.log` beside `log/`), fsynced:
/// every change `rucket repair` makes is recorded there.
pub fn record_repair(log_dir: &Path, line: &str) -> Result<(), std::io::Error> {
    let path = log_dir.parent().unwrap_or(log_dir).join("repair.log");
    let mut file = std::fs::OpenOptions::new().create(true).append(true).open(path)?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default();
    writeln!(file, "{now} {line}")?;
    file.sync_all()
}

/// The marker of a begun archive cut, in the log directory: the good prefix is complete
/// in [`CUT_KEYSPACE`], so a repair that stopped finishes from there.
const CUT_MARKER: &str = "rucket-archive-cut";
const CUT_KEYSPACE: &str = "archive.cut";
const CUT_PAGE: usize = 4096;

/// Cuts the archive after `last_good`: the records up to it are copied into a keyspace
/// of their own, the archive keyspace (with its damaged tables) is dropped and refilled
/// from the copy, and the state machine forgets command ids and marks past the cut. The
/// views are not touched: fold them again afterwards. A stop at any point is finished by
/// calling this again (or [`finish_cut`]). Returns the archive as it now is.
pub fn cut_archive(
    db: &fjall::Database,
    log_dir: &Path,
    last_good: LogPosition,
) -> Result<EventArchive, LogError> {
    let io = |e: std::io::Error| LogError::Storage(e.into());
    if !log_dir.join(CUT_MARKER).exists() {
        let stale = db.keyspace(CUT_KEYSPACE, fjall::KeyspaceCreateOptions::default)?;
        db.delete_keyspace(stale)?;
        let copy = db.keyspace(CUT_KEYSPACE, fjall::KeyspaceCreateOptions::default)?;
        let archive = EventArchive::open(db)?;
        copy_records(db, &archive.events, &copy, last_good)?;
        db.persist(fjall::PersistMode::SyncAll)?;
        let temp = log_dir.join(format!("{CUT_MARKER}.new"));
        std::fs::write(&temp, last_good.0.to_string()).map_err(io)?;
        File::open(&temp).and_then(|f| f.sync_all()).map_err(io)?;
        std::fs::rename(&temp, log_dir.join(CUT_MARKER)).map_err(io)?;
        sync_dir(log_dir).map_err(io)?;
    }
    finish_cut(db, log_dir)?.map_or_else(|| EventArchive::open(db), Ok)
}

/// Finishes a cut that [`cut_archive`] began, if its marker is there.
pub fn finish_cut(db: &fjall::Database, log_dir: &Path) -> Result<Option<EventArchive>, LogError> {
    let io = |e: std::io::Error| LogError::Storage(e.into());
    let marker = log_dir.join(CUT_MARKER);
    let Ok(text) = std::fs::read_to_string(&marker) else { return Ok(None) };
    let last_good = LogPosition(text.trim().parse().map_err(|_| {
        LogError::Storage(
            std::io::Error::other(format!("{} does not hold a position", marker.display())).into(),
        )
    })?);
    let copy = db.keyspace(CUT_KEYSPACE, fjall::KeyspaceCreateOptions::default)?;
    // The copy must hold the whole good prefix before the archive is dropped.
    let copied = copy.last_key_value().map(|g| g.key()).transpose()?.and_then(|k| LogPosition::from_key(&k));
    if copied.unwrap_or_default() != last_good {
        return Err(LogError::CorruptEvent {
            position: last_good,
            reason: format!(
                "an unfinished archive cut's copy ({CUT_KEYSPACE}) ends at {} instead of {last_good}; \
                 restore the data dir from a backup",
                copied.unwrap_or_default()
            ),
        });
    }
    let damaged = EventArchive::open(db)?;
    db.delete_keyspace(damaged.events)?;
    let archive = EventArchive::open(db)?;
    copy_records(db, &copy, &archive.events, last_good)?;
    crate::state_machine::forget_after(db, last_good)?;
    db.persist(fjall::PersistMode::SyncAll)?;
    // The marker goes before the copy: a marker with no copy would drop the archive.
    std::fs::remove_file(&marker).map_err(io)?;
    sync_dir(log_dir).map_err(io)?;
    db.delete_keyspace(copy)?;
    Ok(Some(EventArchive::open(db)?))
}

/// Copies the records at positions 1..=`last` from one keyspace into another.
fn copy_records(
    db: &fjall::Database,
    from: &fjall::Keyspace,
    to: &fjall::Keyspace,
    last: LogPosition,
) -> Result<(), LogError> {
    let mut batch = db.batch();
    let mut in_batch = 0;
    for g in from.range(..=last.to_key()) {
        let (key, value) = g.into_inner()?;
        batch.insert(to, key, value);
        in_batch += 1;
        if in_batch == CUT_PAGE {
            batch.commit()?;
            batch = db.batch();
            in_batch = 0;
        }
    }
    batch.commit()?;
    Ok(())
}

/// Holds the log directory's lock (the one fjall takes) while a repair reads and cuts
/// files before fjall opens them: a running node holds it, and a repair must not cut a
/// journal under it.
pub fn lock_stopped(log_dir: &Path) -> Result<Option<File>, LogError> {
    let io = |e: std::io::Error| LogError::Storage(e.into());
    let Ok(lock) = std::fs::OpenOptions::new().read(true).write(true).open(log_dir.join("lock")) else {
        return Ok(None);
    };
    match lock.try_lock() {
        Ok(()) => Ok(Some(lock)),
        Err(std::fs::TryLockError::WouldBlock) => Err(LogError::Running(log_dir.to_path_buf())),
        Err(std::fs::TryLockError::Error(e)) => Err(io(e)),
    }
}

/// Opens the log database after checking its journal: a damaged journal is a
/// [`LogError::DamagedJournal`] naming the batch, and any other failure to open is a
/// [`LogError::Unopenable`] naming the directory. `configure` adjusts the builder.
pub fn open_checked(
    log_dir: &Path,
    configure: impl FnOnce(fjall::DatabaseBuilder<fjall::Database>) -> fjall::DatabaseBuilder<fjall::Database>,
) -> Result<fjall::Database, LogError> {
    if log_dir.join(CUT_MARKER).exists() {
        return Err(LogError::UnfinishedRepair(log_dir.to_path_buf()));
    }
    open_for_repair(log_dir, configure)
}

/// As [`open_checked`], but opens a database whose archive cut is unfinished, for
/// `rucket repair` to finish it ([`finish_cut`]).
pub fn open_for_repair(
    log_dir: &Path,
    configure: impl FnOnce(fjall::DatabaseBuilder<fjall::Database>) -> fjall::DatabaseBuilder<fjall::Database>,
) -> Result<fjall::Database, LogError> {
    let started = std::time::Instant::now();
    if let Some(damage) = scan_journal(log_dir).map_err(|e| LogError::Storage(e.into()))? {
        return Err(LogError::DamagedJournal(Box::new(damage)));
    }
    let journal_bytes: u64 = journal_files(log_dir)
        .unwrap_or_default()
        .iter()
        .filter_map(|f| std::fs::metadata(f).ok())
        .map(|m| m.len())
        .sum();
    tracing::info!(bytes = journal_bytes, seconds = started.elapsed().as_secs_f64(), "journal checked");
    let db = configure(fjall::Database::builder(log_dir))
        .open()
        .map_err(|source| LogError::Unopenable { dir: log_dir.to_path_buf(), source })?;
    Ok(db)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::archive::tests::envelope;

    fn open(dir: &Path) -> fjall::Database {
        open_checked(dir, |b| b.journal_compression(fjall::CompressionType::None)).unwrap()
    }

    /// A database whose archive holds `n` events, one batch each, closed after an fsync.
    fn archive_of(dir: &Path, n: u64) {
        let db = open(dir);
        let archive = EventArchive::open(&db).unwrap();
        KeyspaceNames::record(&db, dir).unwrap();
        for i in 1..=n {
            archive.append_offline(&db, &[envelope(i)]).unwrap();
        }
        db.persist(fjall::PersistMode::SyncAll).unwrap();
    }

    /// A database whose archive holds `n` events written into one table (not only the
    /// journal); returns the table's file.
    fn archive_in_a_table(dir: &Path, n: u64) -> PathBuf {
        let db = open(dir);
        let archive = EventArchive::open(&db).unwrap();
        let envelopes: Vec<_> = (1..=n).map(envelope).collect();
        for chunk in envelopes.chunks(500) {
            archive.append_offline(&db, chunk).unwrap();
        }
        archive.events_keyspace().rotate_memtable_and_wait().unwrap();
        db.persist(fjall::PersistMode::SyncAll).unwrap();
        let tables = archive.events.path().join("tables");
        std::fs::read_dir(&tables).unwrap().next().unwrap().unwrap().path()
    }

    fn flip(file: &Path, at: usize) {
        let mut bytes = std::fs::read(file).unwrap();
        bytes[at] ^= 0x5a;
        std::fs::write(file, bytes).unwrap();
    }

    fn find(file: &Path, needle: &[u8]) -> usize {
        let bytes = std::fs::read(file).unwrap();
        bytes.windows(needle.len()).position(|w| w == needle).expect("the bytes are in the file")
    }

    #[test]
    fn an_intact_journal_has_no_damage() {
        let dir = tempfile::tempdir().unwrap();
        archive_of(dir.path(), 20);
        assert_eq!(scan_journal(dir.path()).unwrap(), None);
    }

    #[test]
    fn a_flipped_byte_is_named_and_a_cut_keeps_what_came_before() {
        let dir = tempfile::tempdir().unwrap();
        archive_of(dir.path(), 50);
        let journal = dir.path().join("0.jnl");
        flip(&journal, find(&journal, b"bucket-000031") + 3);

        let damage = scan_journal(dir.path()).unwrap().expect("damage found");
        assert_eq!(damage.file, journal);
        assert_eq!(damage.reason, "the batch fails its checksum");
        assert_eq!(damage.keyspaces, vec!["archive.events".to_owned()]);
        assert_eq!(damage.archive_last_good, Some(LogPosition(30)));
        assert_eq!(damage.batches_after, 19);
        let opened = open_checked(dir.path(), |b| b);
        assert!(matches!(opened, Err(LogError::DamagedJournal(d)) if d.offset == damage.offset));

        cut_journal(&damage, &dir.path().join("backup")).unwrap();
        assert_eq!(std::fs::metadata(&journal).unwrap().len(), damage.offset);
        assert!(dir.path().join("backup/0.jnl").is_file());
        let db = open(dir.path());
        let archive = EventArchive::open(&db).unwrap();
        assert_eq!(archive.head(), LogPosition(30));
        assert_eq!(archive.verify().unwrap(), 30);
    }

    #[test]
    fn damage_fjall_would_drop_silently_is_found() {
        // A flipped entry kind makes fjall take the rest of the journal for a torn tail.
        let dir = tempfile::tempdir().unwrap();
        archive_of(dir.path(), 10);
        let journal = dir.path().join("0.jnl");
        let body = find(&journal, b"bucket-000006");
        let bytes = std::fs::read(&journal).unwrap();
        // Batch 6 starts right after batch 5's trailer.
        let start = bytes[..body].windows(TRAILER.len()).rposition(|w| w == TRAILER).unwrap() + TRAILER.len();
        assert_eq!(bytes[start], TAG_START);
        let mut damaged = bytes.clone();
        damaged[start] = 9;
        std::fs::write(&journal, damaged).unwrap();
        let damage = scan_journal(dir.path()).unwrap().expect("damage found");
        assert!(damage.reason.contains("unknown kind 9"), "{}", damage.reason);
        assert_eq!(damage.batches_after, 4, "{damage}");
        // Without the check, fjall opens and the events after the damage are gone.
        let db = fjall::Database::builder(dir.path()).open().unwrap();
        assert_eq!(EventArchive::open(&db).unwrap().head(), LogPosition(5));
    }

    #[test]
    fn a_torn_last_batch_is_not_damage() {
        let dir = tempfile::tempdir().unwrap();
        archive_of(dir.path(), 10);
        let journal = dir.path().join("0.jnl");
        let cut = find(&journal, b"bucket-000010");
        let file = std::fs::OpenOptions::new().write(true).open(&journal).unwrap();
        file.set_len(cut as u64).unwrap();
        assert_eq!(scan_journal(dir.path()).unwrap(), None);
        let db = open(dir.path());
        assert_eq!(EventArchive::open(&db).unwrap().head(), LogPosition(9));
    }

    #[test]
    fn every_kind_of_entry_fjall_writes_reads_as_intact() {
        // fjall's default journal compresses large values (LZ4); clears, tombstones and
        // weak tombstones are entries of their own.
        let dir = tempfile::tempdir().unwrap();
        {
            let db = fjall::Database::builder(dir.path()).open().unwrap();
            let ks = db.keyspace("things", fjall::KeyspaceCreateOptions::default).unwrap();
            for i in 0..20u32 {
                ks.insert(i.to_be_bytes(), format!("value {i} ").repeat(2000)).unwrap();
            }
            ks.remove(1u32.to_be_bytes()).unwrap();
            ks.remove_weak(2u32.to_be_bytes()).unwrap();
            let mut batch = db.batch();
            for i in 100..110u32 {
                batch.insert(&ks, i.to_be_bytes(), b"small");
            }
            batch.commit().unwrap();
            ks.clear().unwrap();
            ks.insert(b"after", b"the clear").unwrap();
            db.persist(fjall::PersistMode::SyncAll).unwrap();
        }
        assert_eq!(scan_journal(dir.path()).unwrap(), None);
        // A flipped byte inside a compressed value is found.
        let journal = dir.path().join("0.jnl");
        let len = std::fs::metadata(&journal).unwrap().len() as usize;
        let bytes = std::fs::read(&journal).unwrap();
        let used = bytes.iter().rposition(|b| *b != 0).unwrap();
        assert!(used < len);
        flip(&journal, used / 3);
        let damage = scan_journal(dir.path()).unwrap().expect("damage found");
        assert!(damage.batches_after > 0, "{damage}");
    }

    #[test]
    fn a_torn_end_in_a_zero_filled_journal_is_not_damage() {
        // Power lost while the last batch's end was written: its tag and part of its
        // checksum reached the disk, the rest of the preallocated file is zeros.
        let dir = tempfile::tempdir().unwrap();
        archive_of(dir.path(), 10);
        let journal = dir.path().join("0.jnl");
        let mut bytes = std::fs::read(&journal).unwrap();
        let last_end = bytes.windows(TRAILER.len()).rposition(|w| w == TRAILER).unwrap() - 8;
        for b in &mut bytes[last_end + 4..] {
            *b = 0;
        }
        bytes.resize(bytes.len() + 4096, 0);
        std::fs::write(&journal, bytes).unwrap();
        assert_eq!(scan_journal(dir.path()).unwrap(), None);
        let db = open(dir.path());
        assert_eq!(EventArchive::open(&db).unwrap().head(), LogPosition(9));
    }

    #[test]
    fn an_unfinished_cut_blocks_opening_and_is_finished_by_the_next_repair() {
        let dir = tempfile::tempdir().unwrap();
        archive_of(dir.path(), 100);
        {
            let db = open(dir.path());
            let ids = db.keyspace("raft.event_ids", fjall::KeyspaceCreateOptions::default).unwrap();
            for i in 1..=100u64 {
                ids.insert(i.to_be_bytes(), LogPosition(i).to_key()).unwrap();
            }
            // A cut that stopped right after its marker was written.
            let archive = EventArchive::open(&db).unwrap();
            let copy = db.keyspace(CUT_KEYSPACE, fjall::KeyspaceCreateOptions::default).unwrap();
            copy_records(&db, &archive.events, &copy, LogPosition(60)).unwrap();
            db.persist(fjall::PersistMode::SyncAll).unwrap();
            std::fs::write(dir.path().join(CUT_MARKER), "60").unwrap();
        }
        assert!(matches!(open_checked(dir.path(), |b| b), Err(LogError::UnfinishedRepair(_))));
        let db = open_for_repair(dir.path(), |b| b).unwrap();
        let archive = finish_cut(&db, dir.path()).unwrap().expect("the cut was finished");
        assert_eq!(archive.head(), LogPosition(60));
        assert_eq!(archive.verify().unwrap(), 60);
        let ids = db.keyspace("raft.event_ids", fjall::KeyspaceCreateOptions::default).unwrap();
        assert_eq!(ids.len().unwrap(), 60, "ids of events past the cut are forgotten");
        assert!(
            ids.get(60u64.to_be_bytes()).unwrap().is_some()
                && ids.get(61u64.to_be_bytes()).unwrap().is_none()
        );
        assert!(!dir.path().join(CUT_MARKER).exists());
        assert!(finish_cut(&db, dir.path()).unwrap().is_none());
    }

    #[test]
    fn a_cut_whose_copy_is_short_drops_nothing() {
        let dir = tempfile::tempdir().unwrap();
        archive_of(dir.path(), 10);
        std::fs::write(dir.path().join(CUT_MARKER), "8").unwrap();
        let db = open_for_repair(dir.path(), |b| b).unwrap();
        assert!(finish_cut(&db, dir.path()).is_err(), "no copy: the archive must stay");
        assert_eq!(EventArchive::open(&db).unwrap().verify().unwrap(), 10);
    }

    #[test]
    fn a_repair_does_not_cut_under_a_running_node() {
        let dir = tempfile::tempdir().unwrap();
        archive_of(dir.path(), 3);
        let db = open(dir.path());
        assert!(matches!(lock_stopped(dir.path()), Err(LogError::Running(_))));
        drop(db);
        assert!(lock_stopped(dir.path()).unwrap().is_some());
    }

    #[test]
    fn a_damaged_archive_table_is_found_and_cut() {
        let dir = tempfile::tempdir().unwrap();
        let table = archive_in_a_table(dir.path(), 3000);
        flip(&table, find(&table, b"bucket-002000"));

        let db = open(dir.path());
        let archive = EventArchive::open(&db).unwrap();
        let damage = scan_archive(&archive).expect("damage found");
        assert!(damage.last_good.0 < 2000 && damage.last_good.0 > 1000, "{damage}");
        assert_eq!(damage.head, Some(LogPosition(3000)));
        assert!(archive.verify().is_err());

        let archive = cut_archive(&db, dir.path(), damage.last_good).unwrap();
        assert_eq!(archive.head(), damage.last_good);
        assert_eq!(archive.verify().unwrap(), damage.last_good.0);
        assert_eq!(scan_archive(&archive), None);
        assert!(!dir.path().join(CUT_MARKER).exists());
        archive.append_offline(&db, &[envelope(9999)]).unwrap();
        assert_eq!(archive.head(), LogPosition(damage.last_good.0 + 1));
    }

    #[tokio::test]
    async fn a_node_on_a_damaged_archive_names_its_last_good_position() {
        let dir = tempfile::tempdir().unwrap();
        let table = archive_in_a_table(dir.path(), 3000);
        flip(&table, find(&table, b"bucket-002900"));

        let opened = crate::Node::open(crate::NodeConfig::single(dir.path()), crate::NoPeers).await;
        let damage = match opened {
            Err(LogError::DamagedArchive(damage)) => damage,
            Err(e) => panic!("another error: {e}"),
            Ok(_) => panic!("the node opened on a damaged archive"),
        };
        assert!(damage.last_good.0 < 2900 && damage.last_good.0 > 2000, "{damage}");
        let message = LogError::DamagedArchive(damage.clone()).to_string();
        assert!(
            message.contains("archive.events")
                && message.contains(&format!("after position {}", damage.last_good))
        );
        assert!(message.contains("rucket repair"), "{message}");

        // What `rucket repair --truncate` does; then the node starts on the good prefix.
        {
            let db = open(dir.path());
            cut_archive(&db, dir.path(), damage.last_good).unwrap();
        }
        let node = crate::Node::open(crate::NodeConfig::single(dir.path()), crate::NoPeers).await.unwrap();
        assert_eq!(node.archive().head(), damage.last_good);
        node.shutdown().await.unwrap();
    }
}
