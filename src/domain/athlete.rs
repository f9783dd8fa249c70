//! Athlete sign-up values.

use serde::{Deserialize, Serialize};

use super::DomainError;

pub const MIN_PASSWORD_LEN: usize = 8;
pub const MAX_PASSWORD_LEN: usize = 256;
const MAX_TEXT_LEN: usize = 100;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Sex {
    M,
    F,
    X,
}

/// Sign-up request as sent by clients.
#[derive(Debug, Deserialize)]
pub struct RawNewAthlete {
    pub username: Option<String>,
    pub password: Option<String>,
    pub firstname: Option<String>,
    pub lastname: Option<String>,
    pub sex: Option<String>,
    pub birth_year: Option<i32>,
    pub weight_kg: Option<f64>,
    pub country: Option<String>,
    pub state: Option<String>,
    pub city: Option<String>,
}

/// Validated profile; the password is kept apart so it is never stored raw.
#[derive(Debug, Clone, PartialEq)]
pub struct NewAthlete {
    pub username: Username,
    pub firstname: String,
    pub lastname: String,
    pub sex: Option<Sex>,
    pub birth_year: Option<i32>,
    pub weight_kg: Option<f64>,
    pub country: Option<String>,
    pub state: Option<String>,
    pub city: Option<String>,
}

/// Lower-case, 3 to 30 characters of `a-z 0-9 _ . -`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Username(String);

impl Username {
    pub fn parse(raw: &str) -> Result<Username, DomainError> {
        let name = raw.trim().to_ascii_lowercase();
        let valid_chars = name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
        if !(3..=30).contains(&name.len()) || !valid_chars {
            return Err(DomainError::invalid("username"));
        }
        Ok(Username(name))
    }

    /// A name typed at sign-in, normalised as at sign-up. Control characters
    /// (NUL…) are refused; a name of a form sign-up never accepts is `None`
    /// (no such account, answered like any unknown name).
    pub fn parse_sign_in(raw: &str) -> Result<(String, Option<Username>), DomainError> {
        let name = super::text::optional(Some(raw), "username", MAX_PASSWORD_LEN)?
            .unwrap_or_default()
            .to_ascii_lowercase();
        let username = Username::parse(&name).ok();
        Ok((name, username))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

pub fn validate_password(password: &str) -> Result<(), DomainError> {
    let len = password.chars().count();
    if len < MIN_PASSWORD_LEN {
        return Err(DomainError::new("password", "too_short"));
    }
    if password.len() > MAX_PASSWORD_LEN {
        return Err(DomainError::new("password", "too_long"));
    }
    if is_common_password(password) {
        return Err(DomainError::new("password", "too_common"));
    }
    Ok(())
}

/// A small embedded list of the passwords people pick most (see the file's
/// header for its source); those are the first an attacker tries.
const COMMON_PASSWORDS: &str = include_str!("common_passwords.txt");

fn is_common_password(password: &str) -> bool {
    let lower = password.to_lowercase();
    COMMON_PASSWORDS
        .lines()
        .filter(|l| !l.starts_with('#'))
        .any(|l| l == lower)
}

fn optional_text(
    value: Option<String>,
    field: &'static str,
) -> Result<Option<String>, DomainError> {
    super::text::optional(value.as_deref(), field, MAX_TEXT_LEN)
}

impl NewAthlete {
    /// Validates every field, collecting all errors so a form can show them at once.
    pub fn parse(
        raw: RawNewAthlete,
        current_year: i32,
    ) -> Result<(NewAthlete, String), Vec<DomainError>> {
        let mut errors = Vec::new();
        let username = match raw.username.as_deref().map(Username::parse) {
            Some(Ok(u)) => Some(u),
            Some(Err(e)) => {
                errors.push(e);
                None
            }
            None => {
                errors.push(DomainError::missing("username"));
                None
            }
        };
        let password = raw.password.unwrap_or_default();
        if let Err(e) = validate_password(&password) {
            errors.push(e);
        }
        let sex = match raw.sex.as_deref() {
            None | Some("") => None,
            Some("M") => Some(Sex::M),
            Some("F") => Some(Sex::F),
            Some("X") => Some(Sex::X),
            Some(_) => {
                errors.push(DomainError::invalid("sex"));
                None
            }
        };
        if let Some(year) = raw.birth_year {
            if !(1900..=current_year).contains(&year) {
                errors.push(DomainError::invalid("birth_year"));
            }
        }
        if let Some(w) = raw.weight_kg {
            if !w.is_finite() || !(20.0..=400.0).contains(&w) {
                errors.push(DomainError::invalid("weight_kg"));
            }
        }
        let mut text = |value: Option<String>, field| match optional_text(value, field) {
            Ok(v) => v,
            Err(e) => {
                errors.push(e);
                None
            }
        };
        let firstname = text(raw.firstname, "firstname").unwrap_or_default();
        let lastname = text(raw.lastname, "lastname").unwrap_or_default();
        let country = text(raw.country, "country");
        let state = text(raw.state, "state");
        let city = text(raw.city, "city");
        match username {
            Some(username) if errors.is_empty() => Ok((
                NewAthlete {
                    username,
                    firstname,
                    lastname,
                    sex,
                    birth_year: raw.birth_year,
                    weight_kg: raw.weight_kg,
                    country,
                    state,
                    city,
                },
                password,
            )),
            _ => Err(errors),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(json: &str) -> RawNewAthlete {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn normalises_username_and_accepts_profile() {
        let (a, pw) = NewAthlete::parse(
            raw(r#"{"username":" Ann_B ","password":"correct horse","sex":"F","birth_year":1990,"weight_kg":61.5,"city":"Oslo"}"#),
            2026,
        )
        .unwrap();
        assert_eq!(a.username.as_str(), "ann_b");
        assert_eq!(pw, "correct horse");
        assert_eq!(a.sex, Some(Sex::F));
        assert_eq!(a.city.as_deref(), Some("Oslo"));
    }

    #[test]
    fn sign_in_names() {
        let (name, user) = Username::parse_sign_in(" Ann ").unwrap();
        assert_eq!((name.as_str(), user.unwrap().as_str()), ("ann", "ann"));
        // Cannot exist, but is answered like any unknown name.
        assert_eq!(
            Username::parse_sign_in("x").unwrap(),
            ("x".to_string(), None)
        );
        assert_eq!(
            Username::parse_sign_in("ann\0"),
            Err(DomainError::new("username", "invalid_character"))
        );
    }

    #[test]
    fn refuses_common_passwords() {
        for common in [
            "password",
            "PASSWORD1",
            "12345678",
            "iloveyou",
            "qwertyuiop",
        ] {
            assert_eq!(
                validate_password(common),
                Err(DomainError::new("password", "too_common")),
                "{common}"
            );
        }
        assert_eq!(validate_password("correct horse"), Ok(()));
        let listed = COMMON_PASSWORDS
            .lines()
            .filter(|l| !l.starts_with('#'))
            .count();
        assert!(listed >= 900, "{listed}");
    }

    #[test]
    fn refuses_control_characters_in_text() {
        let errs = NewAthlete::parse(
            raw(r#"{"username":"nul\u0000x","password":"correct horse","firstname":"A\u0000","lastname":"B","city":"x\u001b"}"#),
            2026,
        )
        .unwrap_err();
        let got: Vec<_> = errs.iter().map(|e| (e.field, e.code)).collect();
        assert_eq!(
            got,
            [
                ("username", "invalid"),
                ("firstname", "invalid_character"),
                ("city", "invalid_character")
            ]
        );
    }

    #[test]
    fn collects_every_error() {
        let errs = NewAthlete::parse(
            raw(
                r#"{"username":"a!","password":"short","sex":"Q","birth_year":1800,"weight_kg":5}"#,
            ),
            2026,
        )
        .unwrap_err();
        let fields: Vec<_> = errs.iter().map(|e| e.field).collect();
        assert_eq!(
            fields,
            ["username", "password", "sex", "birth_year", "weight_kg"]
        );
    }
}
