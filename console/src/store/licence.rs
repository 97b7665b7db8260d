//! The licence file: one row, its bytes hex-encoded (portable TEXT).

use super::convert::to_db;
use super::db::params;
use super::error::{Result, StoreError};
use super::Store;

impl Store {
    /// Installs (or replaces) the licence file.
    pub fn set_licence(&self, bytes: &[u8], now_ms: u64) -> Result<()> {
        self.db.execute(
            "INSERT INTO licence (id, installed_at_ms, licence_hex) VALUES (1, ?1, ?2)
             ON CONFLICT (id) DO UPDATE
             SET installed_at_ms = excluded.installed_at_ms, licence_hex = excluded.licence_hex",
            &params![to_db(now_ms)?, hex::encode(bytes)],
        )?;
        Ok(())
    }

    /// The licence file's bytes, if one is installed.
    pub fn licence(&self) -> Result<Option<Vec<u8>>> {
        let hex_text: Option<String> = self.db.query_opt("SELECT licence_hex FROM licence WHERE id = 1", &[])?.map(|r| r.get(0)).transpose()?;
        hex_text.map(|h| hex::decode(h).map_err(|e| StoreError::Corrupt(format!("licence: {e}")))).transpose()
    }
}
