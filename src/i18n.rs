//! Message catalogs: every sentence users see, one file per language in
//! `src/locales/`, embedded in the binary.
//!
//! A catalog is `key = text` lines; `\n` in a text is a new line and
//! `{name}` a placeholder. The language of a reply is the one the user
//! chose with the `language` command, else the stanza's `xml:lang` when a
//! catalog exists for it, else the first configured language that has
//! one, else English: an explicit choice beats a client's default.

use std::collections::HashMap;

/// The embedded catalogs: (language, file text), English first (it is the
/// fallback for every key). build.rs lists every file of `locales/`, so
/// adding a language is adding one file.
const SOURCES: &[(&str, &str)] = include!(concat!(env!("OUT_DIR"), "/locales.rs"));

pub struct Catalogs {
    /// Same order as `SOURCES`.
    langs: Vec<(&'static str, HashMap<&'static str, String>)>,
}

fn parse(text: &'static str) -> HashMap<&'static str, String> {
    let mut map = HashMap::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some((key, value)) = line.split_once('=') {
            map.insert(key.trim(), value.trim().replace("\\n", "\n"));
        }
    }
    map
}

impl Default for Catalogs {
    fn default() -> Catalogs {
        Catalogs::new()
    }
}

impl Catalogs {
    pub fn new() -> Catalogs {
        Catalogs {
            langs: SOURCES.iter().map(|(l, t)| (*l, parse(t))).collect(),
        }
    }

    pub fn has(&self, lang: &str) -> bool {
        self.langs.iter().any(|(l, _)| *l == lang)
    }

    pub fn languages(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.langs.iter().map(|(l, _)| *l)
    }

    /// The language to answer in (see the module comment).
    pub fn pick(
        &self,
        stanza_lang: Option<&str>,
        user_lang: Option<&str>,
        configured: &[String],
    ) -> &'static str {
        let primary = |tag: &str| {
            tag.split(['-', '_'])
                .next()
                .unwrap_or_default()
                .to_ascii_lowercase()
        };
        let candidates = user_lang
            .map(primary)
            .into_iter()
            .chain(stanza_lang.map(primary))
            .chain(configured.iter().map(|l| primary(l)));
        for candidate in candidates {
            if let Some((l, _)) = self.langs.iter().find(|(l, _)| *l == candidate) {
                return l;
            }
        }
        "en"
    }

    /// The raw text of `key` in `lang`, falling back to English, then to
    /// the key itself (a missing key shows up instead of crashing).
    pub fn raw<'a>(&'a self, lang: &str, key: &'a str) -> &'a str {
        self.lookup(lang, key).unwrap_or(key)
    }

    fn lookup(&self, lang: &str, key: &str) -> Option<&str> {
        let in_lang = |wanted: &str| {
            self.langs
                .iter()
                .find(|(l, _)| *l == wanted)
                .and_then(|(_, map)| map.get(key))
        };
        in_lang(lang).or_else(|| in_lang("en")).map(String::as_str)
    }

    /// The text of `key` with its placeholders filled.
    pub fn text(&self, lang: &str, key: &str, args: &[(&str, &str)]) -> String {
        fill(self.raw(lang, key), args)
    }

    /// The names of a command in `lang` (`cmd-<id>`), comma-separated in
    /// the catalog.
    pub fn names(&self, lang: &str, id: &str) -> Vec<&str> {
        self.lookup(lang, &format!("cmd-{id}"))
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .collect()
    }
}

/// Fills the `{name}` placeholders of `template` in one pass. Values are
/// never read again: a comment or a username that looks like a
/// placeholder ("{balance}") stays as the user typed it. A placeholder
/// without a value stays as it is.
pub fn fill(template: &str, args: &[(&str, &str)]) -> String {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let value = after.find('}').and_then(|close| {
            let name = &after[..close];
            args.iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| (*v, close))
        });
        match value {
            Some((value, close)) => {
                out.push_str(value);
                rest = &after[close + 1..];
            }
            None => {
                out.push('{');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// `2026-11-25 09:20` (UTC) from Unix seconds, without a date library:
/// the days-to-civil conversion of Howard Hinnant's date algorithms.
pub fn utc(ts: i64) -> String {
    let days = ts.div_euclid(86_400);
    let secs = ts.rem_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}",
        secs / 3600,
        secs % 3600 / 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn placeholders(text: &str) -> Vec<String> {
        let mut out: Vec<String> = text
            .split('{')
            .skip(1)
            .filter_map(|s| s.split_once('}').map(|(n, _)| n.to_owned()))
            .collect();
        out.sort();
        out
    }

    // Issue 9, item 5: a payer's comment "{balance}" reached the payee as
    // the payee's balance, because placeholders were replaced one after
    // another over the text already filled.
    #[test]
    fn user_text_is_never_a_template() {
        let filled = fill(
            "{sender} paid you {amount}{comment}. Your balance is {balance}.",
            &[
                ("sender", "{balance}"),
                ("amount", "1 BTC"),
                ("comment", ": «{balance} {amount} {nope}»"),
                ("balance", "7 BTC"),
            ],
        );
        assert_eq!(
            filled,
            "{balance} paid you 1 BTC: «{balance} {amount} {nope}». Your balance is 7 BTC."
        );
        assert_eq!(fill("{a} {unknown} {", &[("a", "x")]), "x {unknown} {");
        assert_eq!(fill("{{a}}", &[("a", "x")]), "{x}");
    }

    #[test]
    fn every_catalog_has_every_key_with_the_same_placeholders() {
        let c = Catalogs::new();
        let (_, english) = &c.langs[0];
        for (lang, map) in &c.langs[1..] {
            for (key, text) in english {
                let other = map
                    .get(key)
                    .unwrap_or_else(|| panic!("{lang} lacks the key {key}"));
                assert_eq!(
                    placeholders(text),
                    placeholders(other),
                    "{lang}: placeholders of {key}"
                );
            }
            for key in map.keys() {
                assert!(english.contains_key(key), "{lang} has an extra key {key}");
            }
        }
    }

    #[test]
    fn picks_user_then_stanza_then_config_then_english() {
        let c = Catalogs::new();
        let conf = vec!["de".to_owned(), "fr".to_owned()];
        assert_eq!(c.pick(Some("en"), Some("fr"), &conf), "fr");
        assert_eq!(c.pick(Some("fr-CA"), None, &conf), "fr");
        assert_eq!(c.pick(Some("de"), Some("xx"), &conf), "fr");
        assert_eq!(c.pick(None, None, &conf), "fr");
        assert_eq!(c.pick(Some("xx"), None, &[]), "en");
    }

    #[test]
    fn fills_placeholders_and_new_lines() {
        let c = Catalogs::new();
        let t = c.text("fr", "renamed", &[("username", "bob"), ("old", "bobby")]);
        assert_eq!(t, "Vous vous appelez maintenant bob (auparavant bobby).");
        assert!(c.text("en", "welcome", &[("gateway", "g")]).contains('\n'));
        assert_eq!(c.raw("fr", "no-such-key"), "no-such-key");
        assert_eq!(
            c.names("fr", "unregister"),
            vec!["désinscrire", "desinscrire"]
        );
    }
}
