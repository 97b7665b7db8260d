//! Backend-neutral SQL values: what the store binds as parameters and reads
//! back from rows, the same on SQLite and PostgreSQL.

use super::super::error::{Result, StoreError};

/// One SQL value. The schema uses only BIGINT, DOUBLE PRECISION and TEXT.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value {
    Null,
    Int(i64),
    Real(f64),
    Text(String),
}

impl Value {
    fn kind(&self) -> &'static str {
        match self {
            Value::Null => "NULL",
            Value::Int(_) => "an integer",
            Value::Real(_) => "a real number",
            Value::Text(_) => "text",
        }
    }
}

/// Anything that can be bound as a parameter (see [`crate::store::db::params`]).
pub(crate) trait ToValue {
    fn to_value(&self) -> Value;
}

impl ToValue for Value {
    fn to_value(&self) -> Value {
        self.clone()
    }
}

impl ToValue for i64 {
    fn to_value(&self) -> Value {
        Value::Int(*self)
    }
}

impl ToValue for f64 {
    fn to_value(&self) -> Value {
        Value::Real(*self)
    }
}

impl ToValue for str {
    fn to_value(&self) -> Value {
        Value::Text(self.to_owned())
    }
}

impl ToValue for String {
    fn to_value(&self) -> Value {
        Value::Text(self.clone())
    }
}

impl<T: ToValue + ?Sized> ToValue for &T {
    fn to_value(&self) -> Value {
        (**self).to_value()
    }
}

impl<T: ToValue> ToValue for Option<T> {
    fn to_value(&self) -> Value {
        self.as_ref().map_or(Value::Null, ToValue::to_value)
    }
}

/// Anything a column can be read as (see [`Row::get`]).
pub(crate) trait FromValue: Sized {
    fn from_value(v: &Value) -> std::result::Result<Self, String>;
}

fn mismatch(want: &str, got: &Value) -> String {
    format!("expected {want}, found {}", got.kind())
}

impl FromValue for i64 {
    fn from_value(v: &Value) -> std::result::Result<Self, String> {
        match v {
            Value::Int(i) => Ok(*i),
            other => Err(mismatch("an integer", other)),
        }
    }
}

impl FromValue for f64 {
    fn from_value(v: &Value) -> std::result::Result<Self, String> {
        match v {
            Value::Real(r) => Ok(*r),
            // SQLite may hand back a whole REAL as an integer.
            Value::Int(i) => Ok(*i as f64),
            other => Err(mismatch("a real number", other)),
        }
    }
}

impl FromValue for String {
    fn from_value(v: &Value) -> std::result::Result<Self, String> {
        match v {
            Value::Text(s) => Ok(s.clone()),
            other => Err(mismatch("text", other)),
        }
    }
}

impl<T: FromValue> FromValue for Option<T> {
    fn from_value(v: &Value) -> std::result::Result<Self, String> {
        match v {
            Value::Null => Ok(None),
            other => T::from_value(other).map(Some),
        }
    }
}

/// One result row, its columns in SELECT order.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Row(pub(crate) Vec<Value>);

impl Row {
    /// Column `i` as `T`; a missing column or another type is `Corrupt`.
    pub(crate) fn get<T: FromValue>(&self, i: usize) -> Result<T> {
        let v = self.0.get(i).ok_or_else(|| StoreError::Corrupt(format!("row has no column {i}")))?;
        T::from_value(v).map_err(|e| StoreError::Corrupt(format!("column {i}: {e}")))
    }
}

/// Builds a parameter list: `params![a, b]` is `[a.to_value(), b.to_value()]`.
macro_rules! params {
    ($($x:expr),* $(,)?) => {
        [$($crate::store::db::ToValue::to_value(&$x)),*]
    };
}
pub(crate) use params;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_round_trip_and_mismatches_are_named() {
        let row = Row(params![5i64, "x", None::<i64>, 1.5f64, Some("y")].to_vec());
        assert_eq!(row.get::<i64>(0).ok(), Some(5));
        assert_eq!(row.get::<String>(1).ok().as_deref(), Some("x"));
        assert_eq!(row.get::<Option<i64>>(2).ok(), Some(None));
        assert_eq!(row.get::<f64>(3).ok(), Some(1.5));
        assert_eq!(row.get::<Option<String>>(4).ok(), Some(Some("y".into())));
        match row.get::<i64>(1) {
            Err(StoreError::Corrupt(m)) => {
                assert_eq!(m, "column 1: expected an integer, found text")
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(row.get::<i64>(9), Err(StoreError::Corrupt(_))));
    }
}
