//! The large runs of values a run holds (a table's columns, the input matrix, and every vector
//! of one value a row), in memory or in a memory-mapped file. A mapped one lives in the page
//! cache, which the kernel fills as it is read and empties under memory pressure (writing a
//! changed page back first), so a table read from the parsed-data cache, an input matrix larger
//! than the memory available, or a vector past [`SPILL_ABOVE`] does not need memory of its
//! own: what bounds the run is the disk.

use std::ops::{Deref, DerefMut};
use std::sync::Arc;

/// A column's values (a numeric column's f32, a categorical one's u32 codes, the labels): its
/// own, or a stretch of a mapped parsed-data cache entry (read only; an entry is never written
/// in place, `data::cache`), or a mapped file of the run's own.
pub(crate) enum Values<T: bytemuck::Pod = f32> {
    /// In memory.
    Owned(Vec<T>),
    /// `len` values from byte `start` of `map` (aligned: checked where it is made).
    Mapped {
        map: Arc<memmap2::Mmap>,
        start: usize,
        len: usize,
    },
    /// The first `len` values of a mapped file of the run's own ([`Pile`]: a column parsed
    /// past [`SPILL_ABOVE`]).
    Spilled {
        map: Arc<memmap2::MmapMut>,
        len: usize,
    },
}

impl<T: bytemuck::Pod> Values<T> {
    /// `len` values from byte `start` of `map`; `None` when they are not aligned in memory or
    /// not inside the map.
    pub(crate) fn mapped(map: &Arc<memmap2::Mmap>, start: usize, len: usize) -> Option<Self> {
        let size = std::mem::size_of::<T>();
        let end = start.checked_add(len.checked_mul(size)?)?;
        let aligned = (map.as_ptr() as usize + start).is_multiple_of(std::mem::align_of::<T>());
        (end <= map.len() && aligned).then(|| Values::Mapped {
            map: Arc::clone(map),
            start,
            len,
        })
    }

    /// Gives the kernel `advice` on reading rows `rows` of a mapped column (nothing for one in
    /// memory): how a pass that reads many columns a block of rows at a time keeps the page
    /// cache from thrashing, below.
    pub(crate) fn advise(&self, advice: memmap2::Advice, rows: std::ops::Range<usize>) {
        // Advice only: a refusal changes no value read.
        let _ = match self {
            Values::Owned(_) => Ok(()),
            Values::Mapped { map, start, len } => {
                let (at, bytes) = byte_span::<T>(*start, *len, rows);
                map.advise_range(advice, at, bytes)
            }
            Values::Spilled { map, len } => {
                let (at, bytes) = byte_span::<T>(0, *len, rows);
                map.advise_range(advice, at, bytes)
            }
        };
    }
}

/// Where values `values` (cut to the first `len`) of a run of `T` from byte `start` lie in
/// their map: the offset and the length in bytes, for `madvise`.
fn byte_span<T>(start: usize, len: usize, values: std::ops::Range<usize>) -> (usize, usize) {
    let size = std::mem::size_of::<T>();
    let (lo, hi) = (values.start.min(len), values.end.min(len));
    (start + size * lo, size * hi.saturating_sub(lo))
}

impl<T: bytemuck::Pod> Clone for Values<T> {
    fn clone(&self) -> Self {
        match self {
            Values::Owned(v) => Values::Owned(v.clone()),
            Values::Mapped { map, start, len } => Values::Mapped {
                map: Arc::clone(map),
                start: *start,
                len: *len,
            },
            Values::Spilled { map, len } => Values::Spilled {
                map: Arc::clone(map),
                len: *len,
            },
        }
    }
}

impl<T: bytemuck::Pod> Deref for Values<T> {
    type Target = [T];

    fn deref(&self) -> &[T] {
        let size = std::mem::size_of::<T>();
        match self {
            Values::Owned(v) => v,
            Values::Mapped { map, start, len } => {
                bytemuck::cast_slice(&map[*start..*start + size * *len])
            }
            Values::Spilled { map, len } => bytemuck::cast_slice(&map[..size * *len]),
        }
    }
}

impl<T: bytemuck::Pod> From<Vec<T>> for Values<T> {
    fn from(v: Vec<T>) -> Self {
        Values::Owned(v)
    }
}

impl<T: bytemuck::Pod> FromIterator<T> for Values<T> {
    fn from_iter<I: IntoIterator<Item = T>>(iter: I) -> Self {
        Values::Owned(iter.into_iter().collect())
    }
}

impl<'a, T: bytemuck::Pod> IntoIterator for &'a Values<T> {
    type Item = &'a T;
    type IntoIter = std::slice::Iter<'a, T>;

    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

impl<T: bytemuck::Pod + PartialEq> PartialEq for Values<T> {
    fn eq(&self, other: &Self) -> bool {
        **self == **other
    }
}

impl<T: bytemuck::Pod + std::fmt::Debug> std::fmt::Debug for Values<T> {
    /// The values, as a vector's: where they are kept is not what they are.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        (**self).fmt(f)
    }
}

/// A numeric column growing while its file is parsed: in memory, or (a table larger than the
/// memory available) appended to an unnamed file of its own in a private folder, written back
/// as it goes ([`crate::files::WriteBack`]) and mapped once the parse ends, so a table of any
/// size is parsed in the memory of its row numbers, labels and text columns.
pub(crate) enum Growing {
    /// In memory.
    Memory(Vec<f32>),
    /// In a file.
    File(Appended),
}

/// An unnamed file in a private folder that values of one type are appended to, written back
/// as it grows ([`crate::files::WriteBack`]), so a memory cgroup never fills with dirty pages
/// it cannot drop: a numeric column parsed into a file ([`Growing`]) and a [`Pile`] that moved
/// to one.
pub(crate) struct Appended {
    out: std::io::BufWriter<crate::files::WriteBack<std::fs::File>>,
    /// Values written.
    len: usize,
}

impl Appended {
    /// A new file in `dir`, with a write buffer of `buffer` bytes.
    fn new(dir: &std::path::Path, buffer: usize) -> std::io::Result<Self> {
        let file = tempfile::tempfile_in(dir)?;
        let handle = file.try_clone()?;
        let back = crate::files::WriteBack::new(file, handle);
        Ok(Appended {
            out: std::io::BufWriter::with_capacity(buffer, back),
            len: 0,
        })
    }

    /// Appends `values`.
    fn write<T: bytemuck::Pod>(&mut self, values: &[T]) -> std::io::Result<()> {
        std::io::Write::write_all(&mut self.out, bytemuck::cast_slice(values))?;
        self.len += values.len();
        Ok(())
    }

    /// The file, everything written to it, and how many values it holds; the write-back's
    /// handle is gone, so the caller's is the only one.
    fn finish(self) -> std::io::Result<(std::fs::File, usize)> {
        let file = self.out.into_inner().map_err(|e| e.into_error())?.inner;
        Ok((file, self.len))
    }
}

impl Growing {
    /// An empty column in an unnamed file made in `dir` (a private folder), one of `columns`
    /// being parsed at once: their write buffers share 32 MB.
    pub(crate) fn in_file(dir: &std::path::Path, columns: usize) -> std::io::Result<Self> {
        let capacity = ((32 << 20) / columns.max(1)).clamp(4 << 10, 1 << 20);
        Ok(Growing::File(Appended::new(dir, capacity)?))
    }

    /// Appends `values`.
    pub(crate) fn extend(&mut self, values: &[f32]) -> std::io::Result<()> {
        match self {
            Growing::Memory(v) => {
                v.extend_from_slice(values);
                Ok(())
            }
            Growing::File(file) => file.write(values),
        }
    }

    /// The column's values: the vector, or the file mapped.
    pub(crate) fn finish(self) -> std::io::Result<Values> {
        match self {
            // Room reserved for rows the file did not have (its first lines promised more)
            // is given back: a column lives as long as the run.
            Growing::Memory(mut v) => {
                if v.capacity() - v.len() > v.len() / 8 {
                    v.shrink_to_fit();
                }
                Ok(v.into())
            }
            Growing::File(appended) => {
                let (file, len) = appended.finish()?;
                if len == 0 {
                    // An empty file cannot be mapped.
                    return Ok(Vec::new().into());
                }
                // SAFETY: the file was made here, unnamed, and the only other handle to it
                // (the write-back's) is gone: nothing else can change or truncate it while it
                // is mapped.
                #[allow(unsafe_code)]
                let map = unsafe { memmap2::Mmap::map(&file)? };
                Values::mapped(&Arc::new(map), 0, len)
                    .ok_or_else(|| std::io::Error::other("a spilled column's map is too short"))
            }
        }
    }
}

/// Per-row vectors (row indices, labels, an epoch's order, a split's outputs) larger than this
/// live in a mapped file ([`Buffer::for_rows`], [`Pile`]): each is bounded in memory, so a
/// run's memory stops growing with its rows. 16 MiB is 2M row indices or 4M labels; below it,
/// a vector costs nothing of the disk. At 20M rows the vectors a run holds at once took about
/// 300 MB before (docs/PERFORMANCE.md).
pub(crate) const SPILL_ABOVE: usize = 16 << 20;

/// A large run of plain values a run holds (the input matrix, and the per-row vectors past
/// [`SPILL_ABOVE`]): a vector, or a mapped file of its own, unnamed in a private folder and
/// gone with the process.
pub(crate) enum Buffer<T: bytemuck::Pod = f32> {
    /// In memory.
    Owned(Vec<T>),
    /// A mapped file of `len` values (it may hold more: [`truncate`](Self::truncate)).
    Mapped { map: memmap2::MmapMut, len: usize },
}

impl<T: bytemuck::Pod> Buffer<T> {
    /// `len` zeros in an unnamed file made in `dir` (a private folder: the parsed-data cache's),
    /// mapped. The file is unlinked at once: nothing is left behind, whatever ends the process.
    pub(crate) fn spilled(dir: &std::path::Path, len: usize) -> std::io::Result<Self> {
        let file = tempfile::tempfile_in(dir)?;
        let bytes = len
            .checked_mul(std::mem::size_of::<T>())
            .ok_or_else(|| std::io::Error::other("too many values"))?;
        if bytes == 0 {
            // An empty file cannot be mapped.
            return Ok(Buffer::Owned(Vec::new()));
        }
        file.set_len(bytes as u64)?;
        // The blocks taken now: a sparse file on a disk that fills up meanwhile (another
        // process writing) would end the run with SIGBUS at the first page that finds no room.
        reserve(&file, bytes as u64)?;
        // SAFETY: the file was made here, unnamed, and no other handle to it exists: nothing
        // else can change or truncate it while it is mapped.
        #[allow(unsafe_code)]
        let map = unsafe { memmap2::MmapMut::map_mut(&file)? };
        Ok(Buffer::Mapped { map, len })
    }

    /// `len` zeros for a per-row vector: in memory up to [`SPILL_ABOVE`] bytes, past it in a
    /// mapped file in the private folder. In memory where there is no usable folder, or the
    /// file cannot be made there (a full or read-only disk, said once on stderr): a vector is
    /// small beside the table and the matrix, whose estimates refuse what memory cannot hold.
    /// `what` names the vector in the notes.
    pub(crate) fn for_rows(what: &str, len: usize) -> Self {
        let bytes = len.saturating_mul(std::mem::size_of::<T>());
        let Some(dir) = spill_dir(bytes) else {
            return Buffer::Owned(vec![T::zeroed(); len]);
        };
        let hint = "free some disk there, or set data.cache_dir to a folder on a larger disk";
        let made = crate::resources::check_disk(&dir, bytes as u64, hint)
            .map_err(std::io::Error::other)
            .and_then(|()| Buffer::spilled(&dir, len));
        match made {
            Ok(b) => {
                say_spilling(what, &dir);
                b
            }
            Err(e) => {
                say_kept_in_memory(what, &dir, &e);
                Buffer::Owned(vec![T::zeroed(); len])
            }
        }
    }

    /// `values` in a [`for_rows`](Self::for_rows) buffer: a column of a split's outputs or
    /// labels that a metric reads as one slice.
    pub(crate) fn collect_rows(what: &str, values: impl ExactSizeIterator<Item = T>) -> Self {
        let mut b = Self::for_rows(what, values.len());
        for (place, v) in b.iter_mut().zip(values) {
            *place = v;
        }
        b
    }

    /// `values`, copied into a [`for_rows`](Self::for_rows) buffer.
    pub(crate) fn rows_from(what: &str, values: &[T]) -> Self {
        let mut b = Self::for_rows(what, values.len());
        b.copy_from_slice(values);
        b
    }

    /// Keeps the first `len` values (a mapped file keeps its size: it goes with the process).
    pub(crate) fn truncate(&mut self, len: usize) {
        match self {
            Buffer::Owned(v) => v.truncate(len),
            Buffer::Mapped { len: n, .. } => *n = len.min(*n),
        }
    }

    /// How many rows of `width` values to fill before [`write_back`](Self::write_back): all
    /// of them in memory; in a mapped file, 64 MB at a time.
    pub(crate) fn rows_per_part(&self, width: usize) -> usize {
        match self {
            Buffer::Owned(_) => usize::MAX,
            Buffer::Mapped { .. } => {
                ((64 << 20) / (std::mem::size_of::<T>() * width.max(1))).max(1)
            }
        }
    }

    /// Writes values `start..start + len` back to the mapped file and waits for it, so their
    /// pages are clean again (the kernel may then drop them under pressure); nothing in memory.
    pub(crate) fn write_back(&self, start: usize, len: usize) -> std::io::Result<()> {
        let size = std::mem::size_of::<T>();
        match self {
            Buffer::Owned(_) => Ok(()),
            Buffer::Mapped { map, .. } => map.flush_range(size * start, size * len),
        }
    }

    /// Gives the kernel `advice` on reading values `values` of a mapped buffer (nothing for one
    /// in memory).
    pub(crate) fn advise(&self, advice: memmap2::Advice, values: std::ops::Range<usize>) {
        if let Buffer::Mapped { map, len } = self {
            let (at, bytes) = byte_span::<T>(0, *len, values);
            // Advice only: a refusal changes no value read.
            let _ = map.advise_range(advice, at, bytes);
        }
    }

    /// Whether it lives in a mapped file.
    pub(crate) fn is_spilled(&self) -> bool {
        matches!(self, Buffer::Mapped { .. })
    }
}

/// A per-row vector growing to a length not known ahead (a label or text column while its
/// file is parsed, the rows of a report's `outputs.csv`): in memory up to [`SPILL_ABOVE`]
/// bytes, then moved to an unnamed file in the private folder and appended to there, written
/// back as it goes ([`crate::files::WriteBack`]); a [`Buffer`] once done. Where the file
/// cannot be made it stays in memory, as [`Buffer::for_rows`] does.
pub(crate) struct Pile<T: bytemuck::Pod> {
    /// The vector while in memory (empty once in a file).
    memory: Vec<T>,
    /// The file, once moved there: what was written, how many values, and its folder.
    file: Option<Spilled>,
    /// How many values it holds in memory at most before it moves.
    most: usize,
    /// The vector, in words, for the notes and errors.
    what: &'static str,
}

/// A [`Pile`]'s file, and its folder (for an error).
struct Spilled {
    out: Appended,
    dir: std::path::PathBuf,
}

impl<T: bytemuck::Pod> Pile<T> {
    /// An empty pile; `what` names it in the notes and errors.
    pub(crate) fn new(what: &'static str) -> Self {
        Pile {
            memory: Vec::new(),
            file: None,
            most: spill_above_values(std::mem::size_of::<T>()),
            what,
        }
    }

    /// Appends `v`. Fails only when its file, once made, cannot take it (a disk that filled).
    pub(crate) fn push(&mut self, v: T) -> Result<(), super::DataError> {
        if let Some(f) = &mut self.file {
            return f
                .out
                .write(std::slice::from_ref(&v))
                .map_err(|source| failed(self.what, &f.dir, source));
        }
        self.memory.push(v);
        if self.memory.len() > self.most {
            self.move_to_file();
        }
        Ok(())
    }

    /// How many values.
    pub(crate) fn len(&self) -> usize {
        self.file.as_ref().map_or(self.memory.len(), |f| f.out.len)
    }

    /// The values pushed.
    pub(crate) fn finish(self) -> Result<Buffer<T>, super::DataError> {
        let Some(Spilled { out, dir }) = self.file else {
            return Ok(Buffer::Owned(self.memory));
        };
        let what = self.what;
        let (file, len) = out.finish().map_err(|e| failed(what, &dir, e))?;
        // SAFETY: the file was made here, unnamed, and the only other handle to it (the
        // write-back's) is gone: nothing else can change or truncate it while it is mapped.
        #[allow(unsafe_code)]
        let map = unsafe { memmap2::MmapMut::map_mut(&file) }.map_err(|e| failed(what, &dir, e))?;
        Ok(Buffer::Mapped { map, len })
    }

    /// Moves the values so far to a new unnamed file, which takes the rest; where none can be
    /// made, keeps them in memory from now on (said once).
    fn move_to_file(&mut self) {
        let bytes = std::mem::size_of_val(&self.memory[..]);
        self.most = usize::MAX;
        let Some(dir) = spill_dir(bytes) else {
            return;
        };
        let hint = "free some disk there, or set data.cache_dir to a folder on a larger disk";
        let room =
            crate::resources::check_disk(&dir, bytes as u64, hint).map_err(std::io::Error::other);
        let made = room.and_then(|()| {
            let mut out = Appended::new(&dir, 64 << 10)?;
            out.write(&self.memory)?;
            Ok(out)
        });
        match made {
            Ok(out) => {
                say_spilling(self.what, &dir);
                self.file = Some(Spilled { out, dir });
                self.memory = Vec::new();
            }
            Err(e) => say_kept_in_memory(self.what, &dir, &e),
        }
    }
}

/// The error of a vector's file that took part of it and then failed.
fn failed(what: &str, dir: &std::path::Path, source: std::io::Error) -> super::DataError {
    super::DataError::Scratch {
        what: what.to_string(),
        dir: dir.to_path_buf(),
        source,
    }
}

/// Says, once a process, that per-row vectors go to files in `dir`.
fn say_spilling(what: &str, dir: &std::path::Path) {
    static SAID: std::sync::Once = std::sync::Once::new();
    SAID.call_once(|| {
        say!(
            "note: per-row vectors larger than {} ({what}, …) are kept in mapped files in {}",
            crate::resources::human_binary(spill_above() as u64),
            dir.display()
        );
    });
}

/// Says, once a process, that a vector could not go to its file and stays in memory.
fn say_kept_in_memory(what: &str, dir: &std::path::Path, e: &std::io::Error) {
    static SAID: std::sync::Once = std::sync::Once::new();
    SAID.call_once(|| {
        say!(
            "note: {what} cannot be kept in a file in {} ({e}); it is held in memory (so is any other vector that meets the same)",
            dir.display()
        );
    });
}

/// Takes the blocks of a new file's first `bytes`: `fallocate`, or where the file system has
/// none (ext2, NFS v3, some FUSE ones), zeros written.
fn reserve(file: &std::fs::File, bytes: u64) -> std::io::Result<()> {
    #[cfg(target_os = "linux")]
    match rustix::fs::fallocate(file, rustix::fs::FallocateFlags::empty(), 0, bytes) {
        Ok(()) => return Ok(()),
        Err(rustix::io::Errno::OPNOTSUPP | rustix::io::Errno::NOSYS) => {}
        Err(e) => return Err(e.into()),
    }
    let zeros = vec![0u8; 1 << 20];
    let mut left = bytes;
    let mut out = file;
    while left > 0 {
        let n = left.min(zeros.len() as u64) as usize;
        std::io::Write::write_all(&mut out, &zeros[..n])?;
        left -= n as u64;
    }
    Ok(())
}

impl<T: bytemuck::Pod> From<Buffer<T>> for Values<T> {
    /// A buffer's values as a column's, where they are.
    fn from(b: Buffer<T>) -> Self {
        match b {
            Buffer::Owned(v) => Values::Owned(v),
            Buffer::Mapped { map, len } => Values::Spilled {
                map: Arc::new(map),
                len,
            },
        }
    }
}

/// Where a per-row vector of `bytes` goes: past the limit, the private folder, if there is a
/// usable one (looked for only then: a run whose vectors are all small never touches it).
fn spill_dir(bytes: usize) -> Option<std::path::PathBuf> {
    #[cfg(test)]
    if let Some(dir) = SPILL_TO.with(|d| d.borrow().clone()) {
        return (bytes > 0).then_some(dir);
    }
    if bytes <= spill_above() {
        return None;
    }
    crate::data::cache::private_folder()
}

/// How many values of `size` bytes a [`Pile`] holds before it looks for a file.
fn spill_above_values(size: usize) -> usize {
    #[cfg(test)]
    if SPILL_TO.with(|d| d.borrow().is_some()) {
        return 0;
    }
    spill_above() / size.max(1)
}

#[cfg(test)]
thread_local! {
    /// [`spilling_into`]'s folder, for this thread.
    static SPILL_TO: std::cell::RefCell<Option<std::path::PathBuf>> =
        const { std::cell::RefCell::new(None) };
}

/// Runs `f` with every per-row vector this thread makes kept in a mapped file in `dir`,
/// whatever its size: how a unit test holds the spilled path to the in-memory one.
#[cfg(test)]
pub(crate) fn spilling_into<R>(dir: &std::path::Path, f: impl FnOnce() -> R) -> R {
    SPILL_TO.with(|d| *d.borrow_mut() = Some(dir.to_path_buf()));
    let out = f();
    SPILL_TO.with(|d| *d.borrow_mut() = None);
    out
}

/// [`SPILL_ABOVE`], or `BURNFIT_SPILL_ABOVE` bytes where set (how the tests make small runs
/// keep their per-row vectors in files; docs/DESIGN.md).
fn spill_above() -> usize {
    static ABOVE: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *ABOVE.get_or_init(|| {
        let Some(raw) = std::env::var_os("BURNFIT_SPILL_ABOVE") else {
            return SPILL_ABOVE;
        };
        match raw.to_str().and_then(|v| v.parse().ok()) {
            Some(bytes) => bytes,
            None => {
                say!(
                    "note: BURNFIT_SPILL_ABOVE={} is not a number of bytes; it is ignored ({} is used)",
                    raw.to_string_lossy(),
                    crate::resources::human(SPILL_ABOVE as u64)
                );
                SPILL_ABOVE
            }
        }
    })
}

impl<T: bytemuck::Pod> Deref for Buffer<T> {
    type Target = [T];

    fn deref(&self) -> &[T] {
        match self {
            Buffer::Owned(v) => v,
            Buffer::Mapped { map, len } => {
                bytemuck::cast_slice(&map[..std::mem::size_of::<T>() * *len])
            }
        }
    }
}

impl<T: bytemuck::Pod> DerefMut for Buffer<T> {
    fn deref_mut(&mut self) -> &mut [T] {
        match self {
            Buffer::Owned(v) => v,
            Buffer::Mapped { map, len } => {
                bytemuck::cast_slice_mut(&mut map[..std::mem::size_of::<T>() * *len])
            }
        }
    }
}

impl<T: bytemuck::Pod> Default for Buffer<T> {
    fn default() -> Self {
        Buffer::Owned(Vec::new())
    }
}

impl<'a, T: bytemuck::Pod> IntoIterator for &'a Buffer<T> {
    type Item = &'a T;
    type IntoIter = std::slice::Iter<'a, T>;

    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

impl<T: bytemuck::Pod> From<Vec<T>> for Buffer<T> {
    fn from(v: Vec<T>) -> Self {
        Buffer::Owned(v)
    }
}

impl<T: bytemuck::Pod> FromIterator<T> for Buffer<T> {
    fn from_iter<I: IntoIterator<Item = T>>(iter: I) -> Self {
        Buffer::Owned(iter.into_iter().collect())
    }
}

impl<T: bytemuck::Pod> Clone for Buffer<T> {
    /// A copy in memory (explain's shuffled copy of the rows it explains).
    fn clone(&self) -> Self {
        Buffer::Owned(self.to_vec())
    }
}

impl<T: bytemuck::Pod + PartialEq> PartialEq for Buffer<T> {
    fn eq(&self, other: &Self) -> bool {
        **self == **other
    }
}

impl<T: bytemuck::Pod + Eq> Eq for Buffer<T> {}

impl<T: bytemuck::Pod + std::fmt::Debug> std::fmt::Debug for Buffer<T> {
    /// The values, as a vector's: where they are kept is not what they are.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        (**self).fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_spilled_buffer_reads_back_what_was_written_and_leaves_no_file() {
        let dir = tempfile::TempDir::new().unwrap();
        let mut b = Buffer::spilled(dir.path(), 1000).unwrap();
        assert!(b.is_spilled() && b.iter().all(|&v| v == 0.0));
        for (i, v) in b.iter_mut().enumerate() {
            *v = i as f32 * 0.5;
        }
        assert_eq!(b[999], 499.5);
        assert_eq!(
            b.clone(),
            Buffer::from((0..1000).map(|i| i as f32 * 0.5).collect::<Vec<_>>())
        );
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0, "unnamed");
    }

    #[test]
    fn a_pile_moved_to_a_file_reads_back_what_was_pushed_and_leaves_no_file() {
        let dir = tempfile::TempDir::new().unwrap();
        // Past the 1 MB write buffer several times.
        let want: Vec<f64> = (0..300_000).map(|i| f64::from(i) * 0.25 - 7.0).collect();
        let pile = |values: &[f64]| {
            let mut p = Pile::new("a test column");
            for &v in values {
                p.push(v).unwrap();
            }
            assert_eq!(p.len(), values.len());
            p.finish().unwrap()
        };
        let memory = pile(&want);
        let mapped = spilling_into(dir.path(), || pile(&want));
        assert!(!memory.is_spilled() && mapped.is_spilled());
        assert_eq!(*mapped, want[..]);
        assert_eq!(mapped, memory);
        let empty = spilling_into(dir.path(), || pile(&[]));
        assert!(empty.is_empty() && !empty.is_spilled());
        // As a column's values: where they are, the same values.
        let labels: Vec<f32> = (0..5000).map(|i| i as f32).collect();
        let mut column = spilling_into(dir.path(), || Buffer::rows_from("labels", &labels));
        column[3] = -1.0;
        let values = Values::from(column);
        assert!(matches!(values, Values::Spilled { .. }));
        assert_eq!(values[..4], [0.0, 1.0, 2.0, -1.0]);
        assert_eq!(values.len(), 5000);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0, "unnamed");
    }

    #[test]
    fn a_vector_whose_file_cannot_be_made_stays_in_memory_with_its_values() {
        let gone = std::path::Path::new("/nonexistent/burnfit-test-folder");
        let b: Buffer<u32> = spilling_into(gone, || Buffer::rows_from("indices", &[3, 1, 4]));
        assert!(!b.is_spilled());
        assert_eq!(*b, [3, 1, 4]);
        let p = spilling_into(gone, || {
            let mut p = Pile::new("a test column");
            for v in 0..1000u32 {
                p.push(v).unwrap();
            }
            p
        });
        let p = p.finish().unwrap();
        assert!(!p.is_spilled() && p.iter().copied().eq(0..1000));
    }

    #[test]
    fn a_column_grown_in_a_file_reads_back_whole_past_its_write_buffer() {
        let dir = tempfile::TempDir::new().unwrap();
        // 10,000 columns: the smallest write buffer, 4 KB, filled many times over.
        let mut g = Growing::in_file(dir.path(), 10_000).unwrap();
        let want: Vec<f32> = (0..100_000).map(|i| i as f32 - 0.25).collect();
        for part in want.chunks(777) {
            g.extend(part).unwrap();
        }
        let got = g.finish().unwrap();
        assert!(matches!(got, Values::Mapped { .. }));
        assert_eq!(&*got, &want[..]);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0, "unnamed");
        let empty = Growing::in_file(dir.path(), 1).unwrap().finish().unwrap();
        assert!(empty.is_empty());
    }
}
