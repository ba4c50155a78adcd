//! Chat commands: parsing (pure) and execution. Every sentence users see
//! lives in the catalogs of [`i18n`], not in code.

pub mod command;
pub mod i18n;
