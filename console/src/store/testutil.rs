//! Temp-file databases for the store's tests.

use tempfile::TempDir;

use super::Store;

/// A store in a fresh temporary directory (kept alive by the `TempDir`).
pub(crate) fn temp_store() -> (TempDir, Store) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path().join("console.db"), 1).expect("open");
    (dir, store)
}
