//! Logging: the only module that names env_logger.
//!
//! Lines go to standard error. When standard error is the journal
//! (systemd says so in `JOURNAL_STREAM`, see sd-daemon(3) and
//! systemd.exec(5)), each line starts with its syslog priority, `<3>` for
//! errors to `<7>` for debug, and carries no timestamp (the journal keeps
//! its own): `journalctl -p err` then finds our errors. Otherwise the
//! format is env_logger's.
//!
//! Our own messages (targets under `bitcoim`) are filtered by a level that
//! SIGHUP can change ([`set_level`]); libraries only warn. `RUST_LOG`,
//! when set, decides every level instead, for the whole run.

use log::{Level, LevelFilter, Log, Metadata, Record};
use std::io::Write as _;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// The level of our own messages, as a `LevelFilter`'s number.
static OWN_LEVEL: AtomicUsize = AtomicUsize::new(LevelFilter::Info as usize);
/// `RUST_LOG` was set at start-up: it decides, [`set_level`] does not.
static FIXED: AtomicBool = AtomicBool::new(false);

/// Installs the logger; our messages at `level` unless `RUST_LOG` says
/// otherwise.
pub fn init(level: LevelFilter) {
    let rust_log = std::env::var("RUST_LOG").ok();
    let mut builder = env_logger::Builder::new();
    // Our messages all pass env_logger's filter: `Logger` filters them by
    // the level that can change.
    let own = if rust_log.is_some() {
        level
    } else {
        LevelFilter::Trace
    };
    builder
        .filter_level(LevelFilter::Warn)
        .filter_module("bitcoim", own);
    if let Some(spec) = &rust_log {
        builder.parse_filters(spec);
    }
    if stderr_is_journal() {
        builder
            .write_style(env_logger::WriteStyle::Never)
            .format(|buf, record| {
                writeln!(
                    buf,
                    "{}",
                    journal_line(record.level(), &record.args().to_string())
                )
            });
    }
    let inner = builder.build();
    OWN_LEVEL.store(level as usize, Ordering::Relaxed);
    FIXED.store(rust_log.is_some(), Ordering::Relaxed);
    let max = if rust_log.is_some() {
        inner.filter()
    } else {
        level.max(LevelFilter::Warn)
    };
    if log::set_boxed_logger(Box::new(Logger { inner })).is_ok() {
        log::set_max_level(max);
    }
}

/// Changes the level of our own messages (SIGHUP). Refused when
/// `RUST_LOG` was set: it decides for the whole run.
pub fn set_level(level: LevelFilter) -> Result<(), &'static str> {
    if FIXED.load(Ordering::Relaxed) {
        return Err("RUST_LOG is set and decides the levels until a restart");
    }
    OWN_LEVEL.store(level as usize, Ordering::Relaxed);
    log::set_max_level(level.max(LevelFilter::Warn));
    Ok(())
}

fn own_level() -> LevelFilter {
    match OWN_LEVEL.load(Ordering::Relaxed) {
        0 => LevelFilter::Off,
        1 => LevelFilter::Error,
        2 => LevelFilter::Warn,
        3 => LevelFilter::Info,
        4 => LevelFilter::Debug,
        _ => LevelFilter::Trace,
    }
}

/// env_logger's logger, with our own messages filtered by [`own_level`].
struct Logger {
    inner: env_logger::Logger,
}

fn is_own(target: &str) -> bool {
    target == "bitcoim" || target.starts_with("bitcoim::")
}

impl Log for Logger {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        if !FIXED.load(Ordering::Relaxed) && is_own(metadata.target()) {
            metadata.level() <= own_level()
        } else {
            self.inner.enabled(metadata)
        }
    }

    fn log(&self, record: &Record<'_>) {
        if self.enabled(record.metadata()) {
            self.inner.log(record);
        }
    }

    fn flush(&self) {
        self.inner.flush();
    }
}

/// Whether standard error is the journal's stream: `JOURNAL_STREAM` names
/// its device and inode. Compared, not just looked for, as systemd.exec(5)
/// asks: a shell started from a service inherits the variable while its
/// standard error is a terminal.
pub fn stderr_is_journal() -> bool {
    use std::os::fd::AsFd as _;
    use std::os::unix::fs::MetadataExt as _;
    let Some(value) = std::env::var_os("JOURNAL_STREAM") else {
        return false;
    };
    let Ok(fd) = std::io::stderr().as_fd().try_clone_to_owned() else {
        return false;
    };
    let Ok(meta) = std::fs::File::from(fd).metadata() else {
        return false;
    };
    value
        .to_str()
        .is_some_and(|v| names_stream(v, meta.dev(), meta.ino()))
}

/// Whether a `JOURNAL_STREAM` value (`<device>:<inode>`) names this file.
pub fn names_stream(value: &str, dev: u64, ino: u64) -> bool {
    let Some((d, i)) = value.split_once(':') else {
        return false;
    };
    d.parse() == Ok(dev) && i.parse() == Ok(ino)
}

/// The syslog priority of a level (sd-daemon(3)'s `SD_ERR` and others).
pub fn priority(level: Level) -> u8 {
    match level {
        Level::Error => 3,
        Level::Warn => 4,
        Level::Info => 6,
        Level::Debug | Level::Trace => 7,
    }
}

/// A message as the journal wants it: each line behind its priority, or
/// the journal would file the lines after the first at its default
/// priority (info).
pub fn journal_line(level: Level, message: &str) -> String {
    let prefix = format!("<{}>", priority(level));
    let message = message.strip_suffix('\n').unwrap_or(message);
    let mut line = String::with_capacity(message.len() + prefix.len());
    for (i, part) in message.split('\n').enumerate() {
        if i > 0 {
            line.push('\n');
        }
        line.push_str(&prefix);
        line.push_str(part);
    }
    line
}

/// A line written to standard error before the logger is up (a bad
/// configuration): with its priority when standard error is the journal.
pub fn stderr_line(level: Level, message: &str) -> String {
    if stderr_is_journal() {
        journal_line(level, message)
    } else {
        message.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_level_has_its_syslog_priority() {
        let lines: Vec<String> = [
            Level::Error,
            Level::Warn,
            Level::Info,
            Level::Debug,
            Level::Trace,
        ]
        .into_iter()
        .map(|level| journal_line(level, "m"))
        .collect();
        assert_eq!(lines, ["<3>m", "<4>m", "<6>m", "<7>m", "<7>m"]);
    }

    #[test]
    fn every_line_of_a_message_carries_the_priority() {
        assert_eq!(
            journal_line(Level::Error, "audit failed:\nwallet 1 BTC\n"),
            "<3>audit failed:\n<3>wallet 1 BTC"
        );
        assert_eq!(journal_line(Level::Warn, ""), "<4>");
    }

    #[test]
    fn journal_stream_is_matched_by_device_and_inode() {
        assert!(names_stream("8:1234", 8, 1234));
        assert!(!names_stream("8:1234", 8, 1235));
        assert!(!names_stream("9:1234", 8, 1234));
        assert!(!names_stream("", 8, 1234));
        assert!(!names_stream("8", 8, 1234));
        assert!(!names_stream("8:1234:5", 8, 1234));
    }
}
