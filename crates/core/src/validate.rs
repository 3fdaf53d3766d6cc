//! Validation of what people type. Each function returns a message meant for the person, so
//! the API can answer a 400 that says exactly what to fix.

use time::{Date, Month};

/// Every ISO 3166-1 alpha-2 code currently assigned.
const COUNTRY_CODES: &str = "AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW PY QA RE RO RS RU RW SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI VN VU WF WS YE YT ZA ZM ZW";

/// The youngest age at which a person may hold an account.
pub const MIN_AGE_YEARS: i32 = 13;

pub fn is_country_code(code: &str) -> bool {
    code.len() == 2 && COUNTRY_CODES.split(' ').any(|c| c == code)
}

/// Normalizes and checks a country code (`de` → `DE`).
pub fn country(code: &str) -> Result<String, String> {
    let up = code.trim().to_ascii_uppercase();
    if is_country_code(&up) {
        Ok(up)
    } else {
        Err(format!(
            "{code:?} is not an ISO 3166-1 alpha-2 country code (like \"DE\" or \"US\")"
        ))
    }
}

/// Handles are public and appear in URLs (`/@ana`): 3–24 of `a-z 0-9 _ .`, starting with a
/// letter or digit. Stored lower-case so that `Ana` and `ana` cannot both exist.
pub fn handle(raw: &str) -> Result<String, String> {
    let h = raw.trim().trim_start_matches('@').to_ascii_lowercase();
    if h.len() < 3 || h.len() > 24 {
        return Err("a handle has 3 to 24 characters".into());
    }
    if !h
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'.')
    {
        return Err("a handle may use only letters a-z, digits, '_' and '.'".into());
    }
    if !h.as_bytes()[0].is_ascii_alphanumeric() {
        return Err("a handle starts with a letter or a digit".into());
    }
    Ok(h)
}

/// A pragmatic email check (one `@`, a dotted domain, no spaces); the address is normalized to
/// lower case so uniqueness does not depend on case.
pub fn email(raw: &str) -> Result<String, String> {
    let e = raw.trim().to_lowercase();
    let bad = || Err(format!("{raw:?} is not an email address"));
    if e.len() > 254 || e.chars().any(char::is_whitespace) {
        return bad();
    }
    let Some((local, domain)) = e.split_once('@') else {
        return bad();
    };
    if local.is_empty()
        || domain.contains('@')
        || !domain.contains('.')
        || domain.starts_with('.')
        || domain.ends_with('.')
    {
        return bad();
    }
    Ok(e)
}

pub fn password(raw: &str) -> Result<(), String> {
    let n = raw.chars().count();
    if n < 8 {
        return Err("a password has at least 8 characters".into());
    }
    if n > 128 {
        return Err("a password has at most 128 characters".into());
    }
    Ok(())
}

/// Parses `YYYY-MM-DD`.
pub fn date(raw: &str) -> Result<Date, String> {
    let fmt = time::macros::format_description!("[year]-[month]-[day]");
    Date::parse(raw.trim(), fmt)
        .map_err(|_| format!("{raw:?} is not a date in the form YYYY-MM-DD"))
}

/// Whole years between `birth` and `today`.
pub fn age_on(birth: Date, today: Date) -> i32 {
    let mut age = today.year() - birth.year();
    if (today.month() as u8, today.day()) < (birth.month() as u8, birth.day()) {
        age -= 1;
    }
    age
}

/// Checks a birth date for sign-up: a real past date, and old enough to hold an account.
pub fn birth_date(raw: &str, today: Date) -> Result<Date, String> {
    let d = date(raw)?;
    if d > today {
        return Err("the birth date is in the future".into());
    }
    if d < Date::from_calendar_date(1900, Month::January, 1).unwrap_or(Date::MIN) {
        return Err("the birth date is before 1900".into());
    }
    if age_on(d, today) < MIN_AGE_YEARS {
        return Err(format!(
            "you must be at least {MIN_AGE_YEARS} years old to sign up"
        ));
    }
    Ok(d)
}

pub fn display_name(raw: &str) -> Result<String, String> {
    let n = raw.trim();
    if n.chars().count() > 50 {
        return Err("a display name has at most 50 characters".into());
    }
    if n.chars().any(char::is_control) {
        return Err("a display name cannot contain control characters".into());
    }
    Ok(n.to_owned())
}

pub fn caption(raw: &str) -> Result<String, String> {
    let c = raw.trim();
    if c.chars().count() > 300 {
        return Err("a caption has at most 300 characters".into());
    }
    Ok(c.to_owned())
}

pub fn comment(raw: &str) -> Result<String, String> {
    let c = raw.trim();
    let n = c.chars().count();
    if n == 0 {
        return Err("a comment cannot be empty".into());
    }
    if n > 500 {
        return Err("a comment has at most 500 characters".into());
    }
    Ok(c.to_owned())
}

/// Splits `"#travel, food  #Music"` into `["travel","food","music"]`: lower-case, unique, at
/// most 10 tags of 1–30 letters, digits or `_`.
pub fn hashtags(raw: &str) -> Result<Vec<String>, String> {
    let mut tags: Vec<String> = Vec::new();
    for part in raw.split(|c: char| c == ',' || c.is_whitespace()) {
        let t = part.trim().trim_start_matches('#').to_lowercase();
        if t.is_empty() {
            continue;
        }
        if t.chars().count() > 30 || !t.chars().all(|c| c.is_alphanumeric() || c == '_') {
            return Err(format!(
                "#{t} is not a hashtag: use up to 30 letters, digits or '_'"
            ));
        }
        if !tags.contains(&t) {
            tags.push(t);
        }
    }
    if tags.len() > 10 {
        return Err("at most 10 hashtags".into());
    }
    Ok(tags)
}

/// ISO 639-1 language code, lower case (`"en"`), or empty for unknown.
pub fn language(raw: &str) -> Result<String, String> {
    let l = raw.trim().to_ascii_lowercase();
    if l.is_empty() || (l.len() == 2 && l.bytes().all(|b| b.is_ascii_lowercase())) {
        Ok(l)
    } else {
        Err(format!(
            "{raw:?} is not a two-letter ISO 639-1 language code"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use time::macros::date;

    #[test]
    fn handles() {
        assert_eq!(handle("@Ana_1").unwrap(), "ana_1");
        assert!(handle("ab").is_err());
        assert!(handle("_ana").is_err());
        assert!(handle("an a").is_err());
        assert!(handle("ana/../x").is_err());
    }

    #[test]
    fn emails() {
        assert_eq!(email(" Ana@Example.org ").unwrap(), "ana@example.org");
        for bad in [
            "",
            "ana",
            "ana@",
            "@x.org",
            "a@b",
            "a b@c.org",
            "a@@b.org",
            "a@.org",
        ] {
            assert!(email(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn birth_dates() {
        let today = date!(2026 - 11 - 22);
        assert!(birth_date("2000-01-31", today).is_ok());
        assert!(birth_date("2013-11-22", today).is_ok());
        assert!(birth_date("2013-11-23", today).unwrap_err().contains("13"));
        assert!(birth_date("2030-01-01", today).is_err());
        assert!(birth_date("2000-02-30", today).is_err());
        assert!(birth_date("01/02/2000", today).is_err());
        assert_eq!(age_on(date!(2008 - 11 - 23), today), 17);
    }

    #[test]
    fn tags() {
        assert_eq!(
            hashtags("#Travel, food  #travel #Music").unwrap(),
            vec!["travel", "food", "music"]
        );
        assert!(hashtags("a-b").is_err());
        assert_eq!(hashtags("").unwrap(), Vec::<String>::new());
    }

    #[test]
    fn countries() {
        assert_eq!(country("de").unwrap(), "DE");
        assert!(country("XX").is_err());
        assert!(country("DEU").is_err());
    }

    proptest! {
        #[test]
        fn validators_never_panic(s in "\\PC{0,64}") {
            let _ = handle(&s);
            let _ = email(&s);
            let _ = hashtags(&s);
            let _ = date(&s);
            let _ = language(&s);
        }
    }
}
