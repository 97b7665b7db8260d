//! Console users. The password hash is an opaque string: hashing and
//! verifying are the caller's business.

use serde::{Deserialize, Serialize};

use super::convert::to_db;
use super::db::{params, Row};
use super::error::{on_conflict, Result, StoreError};
use super::Store;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Admin,
    Operator,
    Auditor,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Operator => "operator",
            Role::Auditor => "auditor",
        }
    }

    fn parse(s: &str) -> Result<Self> {
        match s {
            "admin" => Ok(Role::Admin),
            "operator" => Ok(Role::Operator),
            "auditor" => Ok(Role::Auditor),
            _ => Err(StoreError::Corrupt(format!("role {s:?}"))),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub name: String,
    pub role: Role,
    pub password_hash: String,
}

fn user_from_row(r: &Row) -> Result<User> {
    let role: String = r.get(1)?;
    Ok(User { name: r.get(0)?, role: Role::parse(&role)?, password_hash: r.get(2)? })
}

fn not_found(name: &str) -> StoreError {
    StoreError::NotFound { what: "user", key: name.to_string() }
}

impl Store {
    pub fn add_user(&self, user: &User) -> Result<()> {
        self.db
            .execute("INSERT INTO users (name, role, password_hash) VALUES (?1, ?2, ?3)", &params![user.name, user.role.as_str(), user.password_hash])
            .map_err(|e| on_conflict(e, "user", &user.name))?;
        Ok(())
    }

    pub fn user(&self, name: &str) -> Result<Option<User>> {
        self.db.query_opt("SELECT name, role, password_hash FROM users WHERE name = ?1", &params![name])?.map(|r| user_from_row(&r)).transpose()
    }

    /// All users, by name.
    pub fn users(&self) -> Result<Vec<User>> {
        self.db.query("SELECT name, role, password_hash FROM users ORDER BY name", &[])?.iter().map(user_from_row).collect()
    }

    pub fn set_user_role(&self, name: &str, role: Role) -> Result<()> {
        let n = self.db.execute("UPDATE users SET role = ?1 WHERE name = ?2", &params![role.as_str(), name])?;
        if n == 0 {
            return Err(not_found(name));
        }
        Ok(())
    }

    pub fn set_user_password_hash(&self, name: &str, password_hash: &str) -> Result<()> {
        let n = self.db.execute("UPDATE users SET password_hash = ?1 WHERE name = ?2", &params![password_hash, name])?;
        if n == 0 {
            return Err(not_found(name));
        }
        Ok(())
    }

    /// The user's sealed TOTP secret, if a second factor is set.
    pub fn user_totp(&self, name: &str) -> Result<Option<String>> {
        Ok(self
            .db
            .query_opt("SELECT totp_sealed FROM users WHERE name = ?1", &params![name])?
            .map(|r| r.get::<Option<String>>(0))
            .transpose()?
            .flatten())
    }

    /// The names of the users with a second factor, in one query.
    pub fn users_with_totp(&self) -> Result<std::collections::BTreeSet<String>> {
        self.db.query("SELECT name FROM users WHERE totp_sealed IS NOT NULL", &[])?.iter().map(|r| r.get(0)).collect()
    }

    /// Users by (role, has a second factor): what `teehsm_console_users` exports.
    pub fn user_counts(&self) -> Result<Vec<(Role, bool, u64)>> {
        let rows = self.db.query("SELECT role, CASE WHEN totp_sealed IS NULL THEN 0 ELSE 1 END AS f, COUNT(*) FROM users GROUP BY role, f", &[])?;
        let mut out = Vec::with_capacity(rows.len());
        for r in &rows {
            let role: String = r.get(0)?;
            let factor: i64 = r.get(1)?;
            let n: i64 = r.get(2)?;
            out.push((Role::parse(&role)?, factor == 1, u64::try_from(n).unwrap_or(0)));
        }
        Ok(out)
    }

    /// Sets (`Some`) or removes the user's sealed TOTP secret.
    pub fn set_user_totp(&self, name: &str, sealed: Option<&str>) -> Result<()> {
        let n = self.db.execute("UPDATE users SET totp_sealed = ?1, totp_last_step = NULL WHERE name = ?2", &params![sealed, name])?;
        if n == 0 {
            return Err(not_found(name));
        }
        Ok(())
    }

    /// Records that a code of time step `step` was accepted; false if a
    /// code of this or a later step was accepted before (a replay).
    pub fn use_totp_step(&self, name: &str, step: u64) -> Result<bool> {
        let step = to_db(step)?;
        let n = self.db.execute(
            "UPDATE users SET totp_last_step = ?1 WHERE name = ?2 AND (totp_last_step IS NULL OR totp_last_step < ?1)",
            &params![step, name],
        )?;
        Ok(n == 1)
    }

    pub fn delete_user(&self, name: &str) -> Result<()> {
        let n = self.db.execute("DELETE FROM users WHERE name = ?1", &params![name])?;
        if n == 0 {
            return Err(not_found(name));
        }
        Ok(())
    }
}
