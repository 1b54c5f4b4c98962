//! The spool: the service's private directory where an upload is written as it
//! arrives and then waits for its job, with the limits that keep uploads from filling
//! the disk (size of one upload, size of all spool files, uploads at once).
//!
//! Every spool file in use is a `SpoolFile`: it counts toward the spool's size and is
//! removed when dropped, so a file lives exactly as long as its upload or job. While
//! in use the file is also locked (`flock`), which tells a start-up sweep, in this or
//! another process sharing the directory, that the file is not left over.

use std::collections::HashSet;
use std::ffi::OsString;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::domain::ids::new_id;
use crate::domain::{Error, ErrorCode, Result};

/// Spool files are named `upload_<ulid>.upload`; the sweep touches no other file.
const PREFIX: &str = "upload_";
const SUFFIX: &str = ".upload";

#[derive(Debug, Clone, Copy)]
pub struct SpoolLimits {
    /// Largest upload.
    pub max_upload_bytes: u64,
    /// Uploads received at once.
    pub max_concurrent_uploads: usize,
    /// All spool files in use together (uploads arriving, jobs not yet ended).
    pub max_spool_bytes: u64,
    /// Time for an upload's whole body to arrive.
    pub upload_timeout: Duration,
}

pub struct Spool {
    dir: PathBuf,
    limits: SpoolLimits,
    used: Arc<AtomicU64>,
    slots: Arc<Semaphore>,
}

impl Spool {
    /// Opens the spool in `dir`, made with mode 0700 when missing. An existing
    /// directory must belong to this process's user and must not be writable by group
    /// or others (anyone who can write there could swap an upload before its job
    /// reads it); one that is ours and merely readable by others is tightened to 0700.
    pub fn open(dir: &Path, limits: SpoolLimits) -> std::result::Result<Arc<Spool>, String> {
        prepare_dir(dir)?;
        // Jobs record their file's path: absolute, so a restart from elsewhere finds it.
        let dir = std::fs::canonicalize(dir)
            .map_err(|e| format!("cannot use the spool directory {}: {e}", dir.display()))?;
        Ok(Arc::new(Spool {
            dir,
            limits,
            used: Arc::new(AtomicU64::new(0)),
            slots: Arc::new(Semaphore::new(limits.max_concurrent_uploads)),
        }))
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn limits(&self) -> &SpoolLimits {
        &self.limits
    }

    /// Bytes of the spool files in use.
    pub fn used_bytes(&self) -> u64 {
        self.used.load(Ordering::SeqCst)
    }

    /// One of the upload slots, or `rate_limited` when all are taken.
    pub fn upload_slot(&self) -> Result<OwnedSemaphorePermit> {
        self.slots.clone().try_acquire_owned().map_err(|_| {
            Error::new(
                ErrorCode::RateLimited,
                format!(
                    "{} uploads are already being received; try again later",
                    self.limits.max_concurrent_uploads
                ),
            )
        })
    }

    /// Refuses up front an upload that says it is larger than the limits allow.
    pub fn check_declared(&self, bytes: u64) -> Result<()> {
        if bytes > self.limits.max_upload_bytes {
            return Err(self.too_large());
        }
        if self.used_bytes().saturating_add(bytes) > self.limits.max_spool_bytes {
            return Err(self.full());
        }
        Ok(())
    }

    pub fn too_large(&self) -> Error {
        Error::new(
            ErrorCode::PayloadTooLarge,
            format!(
                "uploads are limited to {}; split the file",
                show_bytes(self.limits.max_upload_bytes)
            ),
        )
    }

    fn full(&self) -> Error {
        Error::new(
            ErrorCode::StoreBusy,
            "the upload spool is full with uploads and jobs in progress; try again later",
        )
    }

    /// A new, empty spool file (mode 0600, never an existing path), and a handle to
    /// write it.
    pub fn create(&self) -> Result<(SpoolFile, File)> {
        use std::fs::OpenOptions;
        #[cfg(unix)]
        use std::os::unix::fs::OpenOptionsExt;

        let path = self.dir.join(format!("{}{SUFFIX}", new_id("upload")));
        let mut options = OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        options.mode(0o600);
        let io = |e: std::io::Error| Error::internal(format!("spool upload: {e}"));
        let file = options.open(&path).map_err(io)?;
        file.try_lock().map_err(|e| io(std::io::Error::other(e)))?;
        let writer = file.try_clone().map_err(io)?;
        let spooled = SpoolFile {
            path,
            bytes: 0,
            used: self.used.clone(),
            limit: self.limits.max_spool_bytes,
            lock: Some(file),
            keep: false,
        };
        Ok((spooled, writer))
    }

    /// Takes over a file a job left in the spool (resumed after a restart): counted
    /// in the spool's size and removed when the job ends. None when another process
    /// holds it (its job runs there).
    pub fn adopt(&self, path: &Path) -> std::io::Result<Option<SpoolFile>> {
        let file = File::open(path)?;
        if file.try_lock().is_err() {
            return Ok(None);
        }
        let bytes = file.metadata()?.len();
        self.used.fetch_add(bytes, Ordering::SeqCst);
        Ok(Some(SpoolFile {
            path: path.to_path_buf(),
            bytes,
            used: self.used.clone(),
            limit: self.limits.max_spool_bytes,
            lock: Some(file),
            keep: false,
        }))
    }

    /// Removes the spool files that nothing uses: not named in `keep` (the files of
    /// jobs still to run) and not locked by a process. Returns the files and bytes
    /// removed.
    pub fn sweep(&self, keep: &HashSet<OsString>) -> (u64, u64) {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return (0, 0);
        };
        let (mut files, mut bytes) = (0, 0);
        for entry in entries.flatten() {
            let file_name = entry.file_name();
            let name = file_name.to_string_lossy();
            if !(name.starts_with(PREFIX) && name.ends_with(SUFFIX)) || keep.contains(&file_name) {
                continue;
            }
            let path = entry.path();
            let Ok(file) = File::open(&path) else {
                continue;
            };
            if file.try_lock().is_err() {
                continue;
            }
            let size = file.metadata().map(|m| m.len()).unwrap_or(0);
            if std::fs::remove_file(&path).is_ok() {
                files += 1;
                bytes += size;
            }
        }
        (files, bytes)
    }
}

/// A spool file in use: counted in the spool's size, locked, and removed on drop
/// (unless `keep` says a later start must find it).
pub struct SpoolFile {
    path: PathBuf,
    bytes: u64,
    used: Arc<AtomicU64>,
    limit: u64,
    lock: Option<File>,
    keep: bool,
}

impl SpoolFile {
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Counts `more` bytes into the spool before they are written; refuses
    /// (`store_busy`) when the spool would pass its limit.
    pub fn grow(&mut self, more: u64) -> Result<()> {
        let limit = self.limit;
        self.used
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |used| {
                used.checked_add(more).filter(|total| *total <= limit)
            })
            .map_err(|_| {
                Error::new(
                    ErrorCode::StoreBusy,
                    "the upload spool is full with uploads and jobs in progress; try again later",
                )
            })?;
        self.bytes += more;
        Ok(())
    }

    /// Leaves the file on disk for the next start (its job could not be recorded as
    /// ended, so a restart resumes it); it stays counted until then.
    pub fn keep(mut self) {
        self.keep = true;
    }
}

impl Drop for SpoolFile {
    fn drop(&mut self) {
        if self.keep {
            return;
        }
        if let Err(err) = std::fs::remove_file(&self.path)
            && err.kind() != std::io::ErrorKind::NotFound
        {
            tracing::warn!(error = %err, file = %self.path.display(), "cannot remove spool file");
        }
        self.used.fetch_sub(self.bytes, Ordering::SeqCst);
        // Unlocked only once removed: a sweep never sees it unlocked yet present.
        drop(self.lock.take());
    }
}

/// `1 GiB`, `64 KiB`, `1000 bytes`: a limit as people read it.
fn show_bytes(bytes: u64) -> String {
    for (unit, size) in [("GiB", 1u64 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)] {
        if bytes >= size && bytes.is_multiple_of(size) {
            return format!("{} {unit}", bytes / size);
        }
    }
    format!("{bytes} bytes")
}

#[cfg(unix)]
fn prepare_dir(dir: &Path) -> std::result::Result<(), String> {
    use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};

    let shown = dir.display();
    if !dir.exists() {
        if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)
                .map_err(|e| format!("cannot create the spool directory {shown}: {e}"))?;
        }
        match std::fs::DirBuilder::new().mode(0o700).create(dir) {
            Ok(()) => return Ok(()),
            // Made by someone else meanwhile: checked below like any existing one.
            Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(err) => return Err(format!("cannot create the spool directory {shown}: {err}")),
        }
    }
    let meta = std::fs::metadata(dir)
        .map_err(|e| format!("cannot use the spool directory {shown}: {e}"))?;
    if !meta.is_dir() {
        return Err(format!(
            "the spool directory {shown} is not a directory; set COUPON_BOOK_SPOOL_DIR to a directory"
        ));
    }
    // SAFETY: geteuid has no preconditions and cannot fail.
    let me = unsafe { libc::geteuid() };
    if meta.uid() != me {
        return Err(format!(
            "refusing the spool directory {shown}: it belongs to uid {}, not to this process's \
             user (uid {me}); uploads there could be read or replaced. Choose another \
             COUPON_BOOK_SPOOL_DIR or give it to this user (chown, chmod 700)",
            meta.uid()
        ));
    }
    let mode = meta.mode() & 0o777;
    if mode & 0o022 != 0 {
        return Err(format!(
            "refusing the spool directory {shown}: its mode {mode:03o} lets other users write \
             there and replace uploads before their job reads them. Run `chmod 700 {shown}` or \
             choose another COUPON_BOOK_SPOOL_DIR"
        ));
    }
    if mode & 0o077 != 0 {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).map_err(|e| {
            format!("cannot make the spool directory {shown} private (chmod 700): {e}")
        })?;
        tracing::info!(dir = %shown, was = format!("{mode:03o}"), "spool directory made private (0700)");
    }
    Ok(())
}

#[cfg(not(unix))]
fn prepare_dir(dir: &Path) -> std::result::Result<(), String> {
    std::fs::create_dir_all(dir)
        .map_err(|e| format!("cannot create the spool directory {}: {e}", dir.display()))
}

#[cfg(all(test, unix))]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    fn limits(max_spool_bytes: u64) -> SpoolLimits {
        SpoolLimits {
            max_upload_bytes: 1 << 20,
            max_concurrent_uploads: 2,
            max_spool_bytes,
            upload_timeout: Duration::from_secs(5),
        }
    }

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).expect("stat").permissions().mode() & 0o777
    }

    #[test]
    fn the_directory_and_its_files_are_private() {
        let parent = tempfile::tempdir().expect("dir");
        let dir = parent.path().join("a/b/spool");
        let spool = Spool::open(&dir, limits(100)).expect("open");
        assert_eq!(mode(&dir), 0o700);
        let (file, _) = spool.create().expect("create");
        assert_eq!(mode(file.path()), 0o600);

        let loose = parent.path().join("loose");
        std::fs::create_dir(&loose).expect("mkdir");
        std::fs::set_permissions(&loose, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        Spool::open(&loose, limits(100)).expect("ours, readable by others: tightened");
        assert_eq!(mode(&loose), 0o700);

        for open in [0o777, 0o770, 0o1777] {
            std::fs::set_permissions(&loose, std::fs::Permissions::from_mode(open)).expect("chmod");
            let err = Spool::open(&loose, limits(100)).err().expect("refused");
            assert!(err.contains("lets other users write"), "{err}");
        }
        // Someone else's directory (can be made only with the rights to chown).
        let foreign = parent.path().join("foreign");
        std::fs::create_dir(&foreign).expect("mkdir");
        std::fs::set_permissions(&foreign, std::fs::Permissions::from_mode(0o700)).expect("chmod");
        if std::os::unix::fs::chown(&foreign, Some(65534), Some(65534)).is_ok() {
            let err = Spool::open(&foreign, limits(100)).err().expect("refused");
            assert!(err.contains("belongs to uid 65534"), "{err}");
        }
        let not_a_dir = parent.path().join("file");
        std::fs::write(&not_a_dir, b"x").expect("write");
        assert!(Spool::open(&not_a_dir, limits(100)).is_err());
    }

    #[test]
    fn files_count_toward_the_limit_until_dropped() {
        let parent = tempfile::tempdir().expect("dir");
        let spool = Spool::open(parent.path(), limits(100)).expect("open");
        let (mut a, _) = spool.create().expect("create");
        let (mut b, _) = spool.create().expect("create");
        a.grow(60).expect("room");
        assert_eq!(b.grow(41).expect_err("full").code, ErrorCode::StoreBusy);
        b.grow(40).expect("room");
        assert_eq!(spool.used_bytes(), 100);
        assert_eq!(
            spool.check_declared(1).expect_err("full").code,
            ErrorCode::StoreBusy
        );
        let path = a.path().to_path_buf();
        drop(a);
        assert!(!path.exists());
        assert_eq!(spool.used_bytes(), 40);
        spool.check_declared(60).expect("room again");
        assert_eq!(
            spool.check_declared(2 << 20).expect_err("too big").code,
            ErrorCode::PayloadTooLarge
        );
        let kept = b.path().to_path_buf();
        b.keep();
        assert!(kept.exists());
    }

    #[test]
    fn the_sweep_takes_only_unused_spool_files() {
        let parent = tempfile::tempdir().expect("dir");
        let spool = Spool::open(parent.path(), limits(1000)).expect("open");
        let (in_use, _) = spool.create().expect("create");
        let orphan = parent.path().join("upload_01ORPHAN.upload");
        let job_file = parent.path().join("upload_01JOB.upload");
        let other = parent.path().join("notes.txt");
        for path in [&orphan, &job_file, &other] {
            std::fs::write(path, b"AAA-1\n").expect("write");
        }
        let keep = HashSet::from([OsString::from("upload_01JOB.upload")]);
        assert_eq!(spool.sweep(&keep), (1, 6));
        assert!(!orphan.exists());
        assert!(job_file.exists() && other.exists() && in_use.path().exists());
        let adopted = spool.adopt(&job_file).expect("open").expect("adopt");
        assert_eq!(spool.used_bytes(), 6);
        assert!(
            spool.adopt(&job_file).expect("open").is_none(),
            "held by its job"
        );
        drop(adopted);
        assert!(!job_file.exists());
        assert_eq!(spool.used_bytes(), 0);
    }

    #[tokio::test]
    async fn upload_slots_are_limited() {
        let parent = tempfile::tempdir().expect("dir");
        let spool = Spool::open(parent.path(), limits(1000)).expect("open");
        let first = spool.upload_slot().expect("slot");
        let _second = spool.upload_slot().expect("slot");
        assert_eq!(
            spool.upload_slot().expect_err("none left").code,
            ErrorCode::RateLimited
        );
        drop(first);
        let _again = spool.upload_slot().expect("slot again");
    }
}
