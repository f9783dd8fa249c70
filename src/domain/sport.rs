use serde::{Deserialize, Serialize};

use super::DomainError;

/// The sports Pacer tracks live. Strava's `sport_type` names are canonical;
/// the design's upper-case `RUN`/`RIDE` are accepted on input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Sport {
    Run,
    Ride,
}

impl Sport {
    pub fn parse(s: &str) -> Result<Sport, DomainError> {
        match s {
            "Run" | "RUN" | "run" => Ok(Sport::Run),
            "Ride" | "RIDE" | "ride" => Ok(Sport::Ride),
            _ => Err(DomainError::invalid("sport_type")),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Sport::Run => "Run",
            Sport::Ride => "Ride",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_strava_and_design_names() {
        assert_eq!(Sport::parse("Run"), Ok(Sport::Run));
        assert_eq!(Sport::parse("RIDE"), Ok(Sport::Ride));
        assert!(Sport::parse("Swim").is_err());
    }
}
