//! Chat commands as typed: the first word names a command in the user's
//! language or in English, case-insensitively; a unique prefix is enough.
//! Pure functions, no I/O.

use crate::i18n::Catalogs;
use crate::wallet::withdrawals::Verdict;

/// What the first word of a message turned out to be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Match<'a> {
    /// A command id and the rest of the message, trimmed.
    Command(&'static str, &'a str),
    /// Several commands start that way: their names in the user's language.
    Ambiguous(Vec<String>),
    Unknown(&'a str),
    Empty,
}

/// Matches `body` against the commands `ids` for a user speaking `lang`.
pub fn match_command<'a>(
    catalogs: &Catalogs,
    lang: &str,
    ids: &[&'static str],
    body: &'a str,
) -> Match<'a> {
    let body = body.trim();
    let (word, rest) = match body.split_once(char::is_whitespace) {
        Some((w, r)) => (w, r.trim()),
        None => (body, ""),
    };
    if word.is_empty() {
        return Match::Empty;
    }
    let typed = word.to_lowercase();
    let names_of = |id: &str| {
        let mut names = catalogs.names(lang, id);
        if lang != "en" {
            names.extend(catalogs.names("en", id));
        }
        names
    };
    if let Some(id) = ids
        .iter()
        .find(|id| names_of(id).iter().any(|n| *n == typed))
    {
        return Match::Command(id, rest);
    }
    let matching: Vec<&'static str> = ids
        .iter()
        .copied()
        .filter(|id| names_of(id).iter().any(|n| n.starts_with(&typed)))
        .collect();
    match matching.as_slice() {
        [] => Match::Unknown(word),
        [id] => Match::Command(id, rest),
        several => Match::Ambiguous(
            several
                .iter()
                .map(|id| {
                    catalogs
                        .names(lang, id)
                        .first()
                        .map_or_else(|| (*id).to_owned(), |n| (*n).to_owned())
                })
                .collect(),
        ),
    }
}

/// `<order> sent <txid>` or `<order> notsent`: an admin's verdict on a
/// withdrawal in doubt.
pub fn verdict(args: &str) -> Option<(i64, Verdict)> {
    let words: Vec<&str> = args.split_whitespace().collect();
    let order = words.first()?.parse().ok()?;
    let verdict = match words.get(1).map(|w| w.to_lowercase()).as_deref() {
        Some("sent") if words.len() == 3 => Verdict::Sent(words[2].to_lowercase()),
        Some("notsent") if words.len() == 2 => Verdict::NotSent,
        _ => return None,
    };
    Some((order, verdict))
}

#[cfg(test)]
mod tests {
    use super::*;

    const IDS: &[&str] = &["help", "register", "unregister"];

    #[test]
    fn exact_prefix_ambiguous_unknown() {
        let c = Catalogs::new();
        assert_eq!(
            match_command(&c, "en", IDS, "  Register  alice "),
            Match::Command("register", "alice")
        );
        assert_eq!(
            match_command(&c, "en", IDS, "h"),
            Match::Command("help", "")
        );
        assert_eq!(
            match_command(&c, "en", IDS, "un"),
            Match::Command("unregister", "")
        );
        assert_eq!(
            match_command(&c, "en", IDS, "fly away"),
            Match::Unknown("fly")
        );
        assert_eq!(match_command(&c, "en", IDS, " "), Match::Empty);
    }

    #[test]
    fn french_and_english_names_both_work_for_french_users() {
        let c = Catalogs::new();
        assert_eq!(
            match_command(&c, "fr", IDS, "inscrire bob"),
            Match::Command("register", "bob")
        );
        assert_eq!(
            match_command(&c, "fr", IDS, "register bob"),
            Match::Command("register", "bob")
        );
        assert_eq!(
            match_command(&c, "fr", IDS, "Désinscrire"),
            Match::Command("unregister", "")
        );
        assert_eq!(
            match_command(&c, "fr", IDS, "aide"),
            Match::Command("help", "")
        );
        // "re" is register in English only; "d" could be two French words
        // of the same command, which is not ambiguous.
        assert_eq!(
            match_command(&c, "fr", IDS, "d"),
            Match::Command("unregister", "")
        );
    }

    #[test]
    fn an_admin_verdict_reads_as_order_and_verdict() {
        assert_eq!(verdict("7 notsent"), Some((7, Verdict::NotSent)));
        assert_eq!(
            verdict(" 12  SENT  ABCD "),
            Some((12, Verdict::Sent("abcd".into())))
        );
        for bad in [
            "",
            "7",
            "x notsent",
            "7 sent",
            "7 notsent now",
            "7 maybe",
            "7 sent a b",
        ] {
            assert_eq!(verdict(bad), None, "{bad:?}");
        }
    }
}
