//! Shared benchmark helpers live in the binaries; see src/bin.
