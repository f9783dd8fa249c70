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

impl Sex {
    /// `M`, `F` or `X`; blank or absent is none.
    pub fn parse_optional(raw: Option<&str>) -> Result<Option<Sex>, DomainError> {
        match raw {
            None | Some("") => Ok(None),
            Some("M") => Ok(Some(Sex::M)),
            Some("F") => Ok(Some(Sex::F)),
            Some("X") => Ok(Some(Sex::X)),
            Some(_) => Err(DomainError::invalid("sex")),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Sex::M => "M",
            Sex::F => "F",
            Sex::X => "X",
        }
    }
}

fn check_birth_year(year: Option<i32>, current_year: i32) -> Result<(), DomainError> {
    match year {
        Some(y) if !(1900..=current_year).contains(&y) => Err(DomainError::invalid("birth_year")),
        _ => Ok(()),
    }
}

fn check_weight(weight_kg: Option<f64>) -> Result<(), DomainError> {
    match weight_kg {
        Some(w) if !w.is_finite() || !(20.0..=400.0).contains(&w) => {
            Err(DomainError::invalid("weight_kg"))
        }
        _ => Ok(()),
    }
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
        let sex = Sex::parse_optional(raw.sex.as_deref())
            .map_err(|e| errors.push(e))
            .ok()
            .flatten();
        if let Err(e) = check_birth_year(raw.birth_year, current_year) {
            errors.push(e);
        }
        if let Err(e) = check_weight(raw.weight_kg) {
            errors.push(e);
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

/// `PUT /api/v1/athlete` as sent: an absent field stays as it is; `null`
/// (or blank text) clears an optional one.
#[derive(Debug, Default, Deserialize)]
pub struct RawProfileUpdate {
    #[serde(default, deserialize_with = "present")]
    pub firstname: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    pub lastname: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    pub sex: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    pub birth_year: Option<Option<i32>>,
    #[serde(default, deserialize_with = "present")]
    pub weight_kg: Option<Option<f64>>,
    #[serde(default, deserialize_with = "present")]
    pub country: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    pub state: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    pub city: Option<Option<String>>,
}

/// A field that is present (perhaps `null`) is `Some`.
fn present<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

/// A validated profile edit: `None` leaves a field as it is; `Some(None)`
/// clears it. The names are never `None` inside (cleared is empty).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProfileUpdate {
    pub firstname: Option<String>,
    pub lastname: Option<String>,
    pub sex: Option<Option<Sex>>,
    pub birth_year: Option<Option<i32>>,
    pub weight_kg: Option<Option<f64>>,
    pub country: Option<Option<String>>,
    pub state: Option<Option<String>>,
    pub city: Option<Option<String>>,
}

impl ProfileUpdate {
    /// The same rules as sign-up, every error collected.
    pub fn parse(raw: RawProfileUpdate, current_year: i32) -> Result<Self, Vec<DomainError>> {
        let mut errors = Vec::new();
        let sex = raw.sex.map(|s| {
            Sex::parse_optional(s.as_deref())
                .map_err(|e| errors.push(e))
                .ok()
                .flatten()
        });
        if let Some(year) = raw.birth_year {
            if let Err(e) = check_birth_year(year, current_year) {
                errors.push(e);
            }
        }
        if let Some(w) = raw.weight_kg {
            if let Err(e) = check_weight(w) {
                errors.push(e);
            }
        }
        let mut text = |value: Option<Option<String>>, field| {
            value.map(|v| match optional_text(v, field) {
                Ok(v) => v,
                Err(e) => {
                    errors.push(e);
                    None
                }
            })
        };
        let firstname = text(raw.firstname, "firstname").map(Option::unwrap_or_default);
        let lastname = text(raw.lastname, "lastname").map(Option::unwrap_or_default);
        let country = text(raw.country, "country");
        let state = text(raw.state, "state");
        let city = text(raw.city, "city");
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(ProfileUpdate {
            firstname,
            lastname,
            sex,
            birth_year: raw.birth_year,
            weight_kg: raw.weight_kg,
            country,
            state,
            city,
        })
    }

    pub fn is_empty(&self) -> bool {
        *self == ProfileUpdate::default()
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

    fn update(json: &str) -> Result<ProfileUpdate, Vec<DomainError>> {
        ProfileUpdate::parse(serde_json::from_str(json).unwrap(), 2026)
    }

    #[test]
    fn profile_updates_leave_absent_fields_and_clear_nulls() {
        let u = update(r#"{"city":" Bergen ","sex":"F","birth_year":null,"state":""}"#).unwrap();
        assert_eq!(u.city, Some(Some("Bergen".to_string())));
        assert_eq!(u.sex, Some(Some(Sex::F)));
        assert_eq!(u.birth_year, Some(None));
        assert_eq!(u.state, Some(None));
        assert_eq!((u.firstname, u.country, u.weight_kg), (None, None, None));
        let u = update(r#"{"firstname":null}"#).unwrap();
        assert_eq!(u.firstname, Some(String::new()));
        assert!(update("{}").unwrap().is_empty());
    }

    #[test]
    fn profile_updates_follow_the_sign_up_rules() {
        let errs = update(
            r#"{"sex":"Q","birth_year":1800,"weight_kg":5,"city":"x\u0000","lastname":"ok"}"#,
        )
        .unwrap_err();
        let got: Vec<_> = errs.iter().map(|e| (e.field, e.code)).collect();
        assert_eq!(
            got,
            [
                ("sex", "invalid"),
                ("birth_year", "invalid"),
                ("weight_kg", "invalid"),
                ("city", "invalid_character")
            ]
        );
        assert!(update(r#"{"birth_year":2027}"#).is_err());
        assert!(update(&format!(r#"{{"country":"{}"}}"#, "a".repeat(101))).is_err());
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
