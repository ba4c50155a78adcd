//! The arguments of a room's `tip`: `<amount> <nick> [comment]`, where the
//! amount may be two words (`1000 sat`) and a nick may hold spaces, so the
//! nick is the longest occupant's nick the rest starts with. Pure: no I/O.

/// `tip`'s arguments split: the amount as typed, the nick (an occupant's,
/// as the room spells it, or, when none fits, the first word typed), the
/// comment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TipWords<'a> {
    pub amount: String,
    pub nick: &'a str,
    /// True when `nick` is an occupant's.
    pub known: bool,
    pub comment: Option<&'a str>,
}

/// Splits `args` with the room's current `nicks`; `None` when the amount
/// or the nick is missing.
pub fn tip<'a>(args: &'a str, nicks: impl Iterator<Item = &'a str>) -> Option<TipWords<'a>> {
    let args = args.trim();
    let (first, rest) = split_word(args)?;
    let mut amount = first.to_owned();
    let mut rest = rest;
    if let Some((unit, after)) = split_word(rest) {
        if unit.eq_ignore_ascii_case("sat") || unit.eq_ignore_ascii_case("sats") {
            amount.push(' ');
            amount.push_str(unit);
            rest = after;
        }
    }
    if rest.is_empty() {
        return None;
    }
    let fits = |nick: &str| {
        rest.get(..nick.len())
            .is_some_and(|head| head.eq_ignore_ascii_case(nick))
            && rest[nick.len()..]
                .chars()
                .next()
                .is_none_or(char::is_whitespace)
    };
    // The longest fits first; an exact case wins over another case. Two
    // nicks that differ only by case, neither as typed, name nobody: a
    // guess could pay the wrong person.
    let mut best: Option<&'a str> = None;
    let mut tied = false;
    for nick in nicks.filter(|n| !n.is_empty() && fits(n)) {
        match best {
            Some(b) if nick.len() < b.len() => {}
            Some(b) if nick.len() == b.len() => {
                if rest.starts_with(nick) {
                    best = Some(nick);
                    tied = false;
                } else if !rest.starts_with(b) {
                    tied = true;
                }
            }
            _ => {
                best = Some(nick);
                tied = false;
            }
        }
    }
    if tied && best.is_some_and(|b| !rest.starts_with(b)) {
        best = None;
    }
    let (nick, known, after) = match best {
        Some(nick) => (nick, true, &rest[nick.len()..]),
        None => {
            let (word, after) = split_word(rest)?;
            (word, false, after)
        }
    };
    let comment = Some(after.trim()).filter(|c| !c.is_empty());
    Some(TipWords {
        amount,
        nick,
        known,
        comment,
    })
}

/// The first word and the rest, trimmed.
fn split_word(text: &str) -> Option<(&str, &str)> {
    let text = text.trim_start();
    if text.is_empty() {
        return None;
    }
    Some(match text.split_once(char::is_whitespace) {
        Some((word, rest)) => (word, rest.trim()),
        None => (text, ""),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const NICKS: &[&str] = &["bob", "Bob Smith", "Bob Smith Jr", "carol"];

    fn split(args: &str) -> Option<TipWords<'_>> {
        tip(args, NICKS.iter().copied())
    }

    #[test]
    fn the_longest_nick_with_spaces_wins() {
        let w = split("1000 sat Bob Smith Jr thanks a lot").unwrap();
        assert_eq!(w.amount, "1000 sat");
        assert_eq!((w.nick, w.known), ("Bob Smith Jr", true));
        assert_eq!(w.comment, Some("thanks a lot"));
        let w = split("0.001 bob smith").unwrap();
        assert_eq!((w.nick, w.comment), ("Bob Smith", None));
        assert!(w.known, "case does not matter");
        let w = split("5 Bob Smithers").unwrap();
        assert_eq!((w.nick, w.comment), ("bob", Some("Smithers")));
    }

    #[test]
    fn nicks_differing_only_by_case_need_the_exact_case() {
        let nicks = ["bob", "Bob"];
        let split = |args| tip(args, nicks.iter().copied()).unwrap();
        assert_eq!(
            (split("1 Bob hi").nick, split("1 Bob hi").known),
            ("Bob", true)
        );
        assert_eq!(
            (split("1 bob hi").nick, split("1 bob hi").known),
            ("bob", true)
        );
        let guess = split("1 BOB hi");
        assert!(!guess.known, "{guess:?}");
        // One nick in another case is still that nick.
        let one = tip("1 ALICE", ["alice"].into_iter()).unwrap();
        assert_eq!((one.nick, one.known), ("alice", true));
    }

    #[test]
    fn a_nick_not_in_the_room_is_the_first_word() {
        let w = split("100 sat dave for lunch").unwrap();
        assert_eq!((w.nick, w.known), ("dave", false));
        assert_eq!(w.comment, Some("for lunch"));
    }

    #[test]
    fn the_amount_and_the_nick_are_both_needed() {
        assert_eq!(split(""), None);
        assert_eq!(split("100"), None);
        assert_eq!(split("100 sat"), None);
        assert_eq!(split("  100   sat  "), None);
    }
}
